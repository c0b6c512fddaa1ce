"""The Model page's "Loaded model" rows: a loaded session's description (core.model.session.
describe) in words, counts with thousands separators and sizes in GiB (no Qt here)."""

from __future__ import annotations


def info_rows(info: dict) -> list[tuple[str, str, str]]:
    """(key, title, text) rows describing a loaded model (core.model.session.describe)."""
    total = int(info.get("params") or 0)
    trainable = int(info.get("trainable") or 0)
    share = f" ({100 * trainable / total:.2f}% of all)" if total else ""
    adapter = info.get("adapter_path") or (
        "fresh LoRA adapter" if info.get("has_adapter") else "none (bare model)"
    )
    rows = [
        ("name", "Name", str(info.get("name", ""))),
        ("source", "Source", str(info.get("source", ""))),
        ("architecture", "Architecture", str(info.get("architecture", ""))),
        ("params", "Parameters", f"{total:,}"),
        ("trainable", "LoRA trainable", f"{trainable:,}{share}"),
        ("adapter", "Adapter", str(adapter)),
        ("device", "Device", str(info.get("device", ""))),
        ("dtype", "Precision", precision_text(info)),
        ("hidden_size", "Hidden size", format_value("hidden_size", info.get("hidden_size"))),
        ("vocab_size", "Vocabulary", format_value("vocab_size", info.get("vocab_size"))),
        ("prompt_format", "Prompt format", prompt_format_text(info)),
        ("memory", "Memory", memory_text(info.get("memory") or {})),
    ]
    return rows


def precision_text(info: dict) -> str:
    """The dtype, and the quantised base when there is one ("float32, base 4bit")."""
    dtype = str(info.get("dtype", ""))
    quantize = str(info.get("quantize") or "none")
    return dtype if quantize == "none" else f"{dtype} compute, base {quantize} (bitsandbytes)"


def prompt_format_text(info: dict) -> str:
    """The session's prompt format, with a hint when a chat template goes unused."""
    prompt_format = str(info.get("prompt_format", "plain"))
    if prompt_format == "plain" and info.get("has_chat_template"):
        return "plain (the tokenizer has a chat template: choose chat for an instruct model)"
    return prompt_format


def memory_text(memory: dict) -> str:
    """Process RAM, plus device memory used/free where the device reports it."""
    parts = [f"process RAM {format_value('bytes', memory.get('process_rss_bytes'))}"]
    used, free = memory.get("device_used_bytes"), memory.get("device_free_bytes")
    if used is not None:
        text = f"{memory.get('device')}: {format_value('bytes', used)} used"
        if free is not None:
            text += f", {format_value('bytes', free)} free"
        parts.append(text)
    return " · ".join(parts)


def format_value(key: str, value) -> str:
    """Human-readable: thousands separators for counts, GiB for byte sizes."""
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')}: {format_value(k, v)}" for k, v in value.items())
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        if "bytes" in key:
            return f"{value / 2**30:.2f} GiB"
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
