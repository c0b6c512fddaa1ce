"""The model: loading, shapes, the session (policy, reference, tokenizer), LoRA and
adapters, quantisation, memory handling, log-probs and generation."""
