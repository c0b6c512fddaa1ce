"""Load every kind of folder RLHF Studio writes with plain transformers/PEFT and print what
they compute, as JSON: run in another Python environment (an older transformers) by
tests/packaging/test_min_transformers.py, and in this one for the expected numbers.

    python tests/folder_probe.py FOLDERS.json   ->   {"transformers": "5.0.0", "outputs": {...}}

FOLDERS.json maps a name to {"kind": "causal_lm" | "adapter" | "classifier", "path": ...,
"base": ... (adapters)}. Imports nothing of RLHF Studio: that is the point.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TEXT = "The movie was"


def main(spec_path: str) -> None:
    import torch
    import transformers
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    transformers.logging.set_verbosity_error()
    folders = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    outputs = {}
    with torch.no_grad():
        for name, item in folders.items():
            if item["kind"] == "classifier":
                tokenizer = AutoTokenizer.from_pretrained(item["path"])
                model = AutoModelForSequenceClassification.from_pretrained(item["path"])
                ids = tokenizer(TEXT + " great" + tokenizer.eos_token, return_tensors="pt")
                outputs[name] = [model(**ids).logits[0, 0].item()]
                continue
            base = item["base"] if item["kind"] == "adapter" else item["path"]
            tokenizer = AutoTokenizer.from_pretrained(base)
            model = AutoModelForCausalLM.from_pretrained(base)
            if item["kind"] == "adapter":
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, item["path"])
            ids = tokenizer(TEXT, return_tensors="pt")
            logits = model(**ids).logits[0, -1]
            outputs[name] = logits.topk(5).values.tolist() + [ids["input_ids"].shape[1]]
    print(json.dumps({"transformers": transformers.__version__, "outputs": outputs}))


if __name__ == "__main__":
    main(sys.argv[1])
