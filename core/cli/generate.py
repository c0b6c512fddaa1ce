"""`generate`: sample completions for a prompts file; print them and keep them in the store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli import add_workspace_argument, workspace_of
from core.cli.common import (
    add_model_arguments,
    model_spec_from_args,
    note_unused_chat_template,
    prompt_set_for_run,
)
from core.config import GenerationConfig
from core.progress import tqdm_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="sample completions for prompts (printed to stdout and stored in the workspace)",
        description="Sample completions for every prompt of FILE; print them and store them "
        "as generations in the workspace. The same seed gives the same completions.",
    )
    add_model_arguments(parser)
    parser.add_argument("--prompts", type=Path, required=True, help=".txt, .jsonl or .csv file")
    parser.add_argument("--n", type=int, default=1, help="completions per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=GenerationConfig.max_new_tokens)
    parser.add_argument("--temperature", type=float, default=GenerationConfig.temperature)
    parser.add_argument("--top-p", type=float, default=GenerationConfig.top_p)
    parser.add_argument("--top-k", type=int, default=GenerationConfig.top_k)
    parser.add_argument("--batch-size", type=int, default=GenerationConfig.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per completion instead of text"
    )
    add_workspace_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.model.generate import check_generation_config, generate, generation_params
    from core.model.session import ModelSession
    from core.store import Store

    config = GenerationConfig(
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        n=args.n,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    check_generation_config(config)  # before the store opens or the model loads
    with Store.open(workspace_of(args)) as store:
        prompts, prompt_ids = prompt_set_for_run(store, args.prompts, [])
        with tqdm_progress("loading model") as progress:
            session = ModelSession.load(model_spec_from_args(args), progress=progress)
        note_unused_chat_template(session)
        with tqdm_progress("generating", unit="completion") as progress:
            completions = generate(session, prompts, config, progress=progress)
        adapter = str(args.adapter) if args.adapter else None
        for completion in completions:
            store.add_generation(
                prompt_ids[completion.prompt],
                completion.text,
                model=session.name,
                adapter=adapter,
                params=generation_params(session, config),
                seed=args.seed,
            )
            _print(completion, as_json=args.json)
    return 0


def _print(completion, *, as_json: bool) -> None:
    if as_json:
        record = {
            "prompt": completion.prompt,
            "completion": completion.text,
            "finished": completion.finished,
            "mean_logprob": sum(completion.logprobs) / max(len(completion.logprobs), 1),
        }
        print(json.dumps(record, ensure_ascii=False))
    else:
        print(f"{completion.prompt}{completion.text}")
