"""Exports for other tools: ratings and pairs, merged models, GGUF and Ollama."""
