"""The on-policy training commands: one parser and one run for every on-policy algorithm
of the registry (core.algorithms), with checkpoints, resume, a metrics stream, SIGTERM
handling and health warnings. core/cli/algorithms.py registers one per spec."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.cli import workspace_of
from core.cli.common import (
    add_model_arguments,
    add_run_output_arguments,
    attach_reporters,
    check_metrics_out,
    claim_own_run,
    follow_checkpoint_model,
    follow_checkpoint_quantize,
    model_spec_from_args,
    note_unused_chat_template,
    open_metrics_out,
    print_report_folders,
    prompts_for_run,
    trained_prompt_format,
    write_metrics,
)
from core.cli.guard import add_guard_arguments, attach_guardrails
from core.config.io import ConfigT
from core.config.settings import add_setting_flags, config_from_sources
from core.memory_plan import session_memory_line
from core.onpolicy.health import HealthMonitor

if TYPE_CHECKING:
    from core.algorithms import AlgorithmSpec
    from core.train import TrainingRun


def register_command(subparsers: argparse._SubParsersAction, command: AlgorithmSpec) -> None:
    """Add the parser of `command`'s algorithm: model, prompts, rewards, its settings,
    resume, metrics."""
    parser = subparsers.add_parser(command.kind, help=command.help, description=command.description)
    add_model_arguments(parser)
    parser.add_argument("--prompts", type=Path, default=None, help=".txt, .jsonl or .csv file")
    parser.add_argument(
        "--reward",
        action="append",
        metavar="KIND[=ARG][@WEIGHT]",
        help="reward source, repeatable (several make a weighted sum); default: sentiment, "
        "or with --resume the run's reward at that checkpoint (its last AI round's RM)",
    )
    parser.add_argument(
        "--watch-reward",
        action="append",
        metavar="KIND[=ARG]",
        help="a reward scored beside the trained one and plotted as watch/<name>, never "
        "trained on (a gold signal that shows reward hacking); repeatable",
    )
    add_guard_arguments(parser)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"{command.config_class.__name__} file, JSON or YAML (.yaml/.yml); flags "
        "override it, and what it sets counts as set",
    )
    title = f"{command.kind.upper()} settings"
    add_setting_flags(parser.add_argument_group(title), command.config_class)
    add_run_output_arguments(
        parser, "checkpoint folder to continue (same run; --steps then sets the new total)"
    )
    parser.set_defaults(func=lambda args: run_training(args, command))


def config_from_args(args: argparse.Namespace, config_class: type[ConfigT]) -> ConfigT:
    """The config from --config (if given) overridden by the individual flags; settings set
    in neither follow those that were, each change said on stderr."""
    config, notes = config_from_sources(config_class, args, args.config)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return config


def run_training(args: argparse.Namespace, command: AlgorithmSpec) -> int:
    """Start (or with --resume continue) a run of `command`'s algorithm, as `ppo` does."""
    from core.cli.followers import SharedInputs, follow_on_policy, share_inputs, training_spec
    from core.cli.resume_checks import recorded_prompts
    from core.model.session import ModelSession
    from core.progress import tqdm_progress
    from core.rewards import RewardContext, build_reward, parse_reward_specs
    from core.rewards.scoring import references_of
    from core.store import Store
    from core.train.checkpoints import resolve_checkpoint
    from core.train.distributed import current_world
    from core.train.launch import resume_run, start_run

    world = current_world()  # several processes under torchrun / accelerate launch
    if not world.is_main:
        return follow_on_policy(args, command, world)
    # Everything that can be refused is refused before the model loads or a run exists.
    config = _checked_config(args, command)
    check_metrics_out(args.metrics_out, args.force, append=args.resume is not None)
    with Store.open(workspace_of(args)) as store:
        reward_specs = _reward_specs(args, store)
        parse_reward_specs(reward_specs)  # a typo fails now, not after the model has loaded
        prompts = None
        if args.resume is not None and args.prompts is None:
            # The checkpoint's own prompt set, else the run's recorded one, never the demo set.
            prompts = prompts_to_resume(args.resume) or recorded_prompts(store, args.resume)
        if prompts is None:
            prompts = prompts_for_run(store, args.prompts, _builtin_prompts(args.prompts))
        if args.resume is not None:
            _check_resume_algorithm(args.resume, command)
            follow_checkpoint_model(args, args.resume)
            follow_checkpoint_quantize(args, args.resume)
            claim_own_run(store, args.resume)  # a run busy in another process: refuse now
            if args.prompt_format is None:
                args.prompt_format = _prompt_format_to_resume(args.resume)
        references = references_of(store)
        resume = str(resolve_checkpoint(args.resume)) if args.resume is not None else None
        share_inputs(
            SharedInputs(prompts, config, resume, args.steps, args.prompt_format,
                         reward_specs, references)
        )  # fmt: skip
        with tqdm_progress("loading model") as progress:
            spec = training_spec(model_spec_from_args(args))
            session = ModelSession.load(spec, progress=progress)
        note_unused_chat_template(session)
        context = RewardContext(references=references, policy_session=session)
        reward = build_reward(reward_specs, context)
        metrics_out = open_metrics_out(args.metrics_out, args.resume is not None, args.force)
        algorithm = command.algorithm()
        with metrics_out or nullcontext():
            if args.resume is not None:
                run = resume_run(
                    store,
                    algorithm,
                    args.resume,
                    session,
                    reward,
                    prompts,
                    args.steps,
                    reward_specs,
                )
            else:
                run = start_run(store, algorithm, session, reward, prompts, config, reward_specs)
            attach_reporters(run, args)
            attach_guardrails(run, args)
            _train(run, metrics_out)
        print(f"run {run.run_id}: {run.status} after {run.step_count} steps")
        print_report_folders(run.trainer.checkpoint_dir, args.report_to)
        if run.last_checkpoint is not None:
            print(f"last checkpoint: {run.last_checkpoint}")
    return 0


def _checked_config(args: argparse.Namespace, command: AlgorithmSpec) -> Any:
    """The run's settings, checked (on --resume only --steps applies: the rest is the
    checkpoint's)."""
    from core.cli.resume_checks import check_resume_flags
    from core.errors import TrainingError

    if args.resume is not None:
        if args.steps is not None and args.steps < 1:
            raise TrainingError(f"--steps is {args.steps}; it must be at least 1.")
        check_resume_flags(args, args.resume)
        return None
    config: Any = config_from_args(args, command.config_class)  # the kind's own class
    command.check_config(config)
    return config


def _reward_specs(args: argparse.Namespace, store) -> list[str]:
    """--reward as given; on --resume without it, the reward the run had at its checkpoint.
    Then the watched rewards: --watch-reward's, or with --resume the run's. Local paths
    are made absolute (see absolute_reward_specs)."""
    from core.rewards.spec import WATCH_PREFIX, absolute_reward_specs

    watched = [WATCH_PREFIX + spec.removeprefix(WATCH_PREFIX) for spec in args.watch_reward or []]
    if args.reward:
        return absolute_reward_specs([*args.reward, *watched])
    if args.resume is None:
        return absolute_reward_specs(["sentiment", *watched])
    from core.train.launch import reward_specs_to_resume

    recorded = reward_specs_to_resume(store, args.resume)
    specs = absolute_reward_specs(recorded)
    if specs != recorded:  # a run from before paths were recorded absolute
        print(
            "note: the run recorded its reward files relative to the folder it started in; "
            f"reading them from this folder, {Path.cwd()}: pass --reward to choose",
            file=sys.stderr,
        )
    if watched:  # new watched rewards replace the run's
        specs = [spec for spec in specs if not spec.startswith(WATCH_PREFIX)]
        specs += absolute_reward_specs(watched)
    print(f"resuming with the run's reward: {' '.join(_as_flag(s) for s in specs)}")
    return specs


def _as_flag(spec: str) -> str:
    """A recorded reward spec as the flag that gives it."""
    from core.rewards.spec import WATCH_PREFIX

    if spec.startswith(WATCH_PREFIX):
        return "--watch-reward " + spec.removeprefix(WATCH_PREFIX)
    return "--reward " + spec


def _check_resume_algorithm(checkpoint: Path, command: AlgorithmSpec) -> None:
    """A checkpoint of another algorithm: refused before the model loads."""
    from core.train.launch import check_checkpoint_algorithm

    check_checkpoint_algorithm(checkpoint, command.algorithm())


def _prompt_format_to_resume(checkpoint: Path) -> str:
    """The prompt format the checkpoint's policy was trained with (said when not plain)."""
    prompt_format = trained_prompt_format(checkpoint)
    if prompt_format != "plain":
        print(f"resuming with the run's prompt format: --prompt-format {prompt_format}")
    return prompt_format


def prompts_to_resume(checkpoint: Path) -> list[str] | None:
    """The prompt set the checkpoint recorded (said), or None for one from before that."""
    import json

    from core.onpolicy.trainer import PROMPTS_FILE
    from core.train.checkpoints import resolve_checkpoint

    path = resolve_checkpoint(checkpoint) / PROMPTS_FILE
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    prompts = [json.loads(line)["prompt"] for line in lines if line.strip()]
    print(f"resuming with the run's {len(prompts)} prompts ({path})")
    return prompts


def _builtin_prompts(prompts_file: Path | None) -> list[str]:
    """The demo prompt set, the default when no prompts file is named."""
    if prompts_file is not None:
        return []
    from core.demo import DEMO_PROMPTS

    return list(DEMO_PROMPTS)


def _train(run: TrainingRun, stream: TextIO | None) -> None:
    """Run with a progress bar, writing metrics to `stream` (JSONL) if given. SIGTERM and
    SIGHUP stop the run after the current step; Ctrl-C between steps stops it with a
    checkpoint, mid-step it is recorded as interrupted."""
    from tqdm import tqdm

    from core.train import StepDone
    from core.train.events import GuardFired
    from core.train.signals import stop_on_termination

    print(session_memory_line(run.trainer.session, run.config, run.trainer.kind), file=sys.stderr)
    health = HealthMonitor.for_config(run.config)
    bar = tqdm(total=run.config.steps, initial=run.step_count, unit="step", disable=None)
    events = run.events()
    try:
        with stop_on_termination(run.control):
            for event in events:
                if isinstance(event, GuardFired):
                    tqdm.write(f"guardrail: {event.message}", file=sys.stderr)
                    tqdm.write(
                        f"guardrail: the run stops after step {event.step} with a checkpoint; "
                        "change what the message suggests and continue it with --resume.",
                        file=sys.stderr,
                    )
                    continue
                if not isinstance(event, StepDone):
                    continue
                metrics = event.metrics
                bar.update(1)
                kl = metrics.get("objective/kl")  # none when beta = 0 skips the reference
                bar.set_postfix(
                    reward=f"{metrics['reward/mean']:.3f}",
                    kl="off" if kl is None else f"{kl:.3f}",
                )
                _print_new_warnings(health, metrics)
                write_metrics(stream, metrics)
    finally:
        events.close()  # a Ctrl-C between steps: the run ends as stopped, with a checkpoint
        bar.close()


def _print_new_warnings(health: HealthMonitor, metrics: dict[str, float]) -> None:
    """The health warnings (core.onpolicy.health) that start at this step, on stderr above the
    progress bar: said once when they start, as the GUI's banner shows them while they hold."""
    from tqdm import tqdm

    for warning in health.new_warnings(metrics):
        tqdm.write(f"warning: {warning}", file=sys.stderr)
