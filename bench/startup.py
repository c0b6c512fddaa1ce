"""Start-up time: from process start to the main window's first paint.

    python -m bench.startup [--runs 5] [--frozen [EXE]] [--xvfb] [--first-load]

Each run starts a fresh process of the app's own entry point with a temporary user data
folder and `--no-autoload --workspace DIR`: the source app (this interpreter running
`app.main.main()`, as the `rlhf-studio` script does) and, with `--frozen`, the frozen
bundle's executable (default dist/rlhf-studio/rlhf-studio, built by packaging/build.sh).
Both get RLHF_STUDIO_STARTUP_PROBE=paint (app/startup_probe.py): at the main window's
first paint the app prints a line with its CPU seconds and which of torch, transformers
and peft it had imported, and exits at once (the background import warm-up is not waited
for). The parent times each run from starting the process to that line: process start
(for the bundle its bootloader too), imports, building the window and the first paint.

The runs are on Qt's offscreen platform and, with `--xvfb`, also on a real X server
(an Xvfb started for the benchmark, Qt's xcb plugin: the window is mapped and exposed
before it paints). Source and frozen runs alternate, so both see the same load. One
untimed start of each comes first (it creates the workspace and fills the page cache).

With `--first-load` (source app, offscreen) a benchmark child clicks "Load model" (the
demo model, linked from the real user data folder) right after the paint and the parent
also notes when the model is loaded: what a user who clicks at once waits for.

A table of medians and ranges ends the output; its last line is
`startup median_s=<s> runs=<n>` for the source app offscreen.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FROZEN = ROOT / "dist" / "rlhf-studio" / "rlhf-studio"
PROBE_VARIABLE = "RLHF_STUDIO_STARTUP_PROBE"  # app/startup_probe.py
PAINTED = "WINDOW_PAINTED"
LOADED = "MODEL_LOADED"
SOURCE_ENTRY = "import sys; from app.main import main; sys.exit(main())"
XVFB_SCREEN = "1600x1000x24"


def _child(workspace: str) -> None:
    """Run the app, report its first paint, click "Load model", report the load, exit."""
    from PySide6.QtWidgets import QApplication

    from app.main import main
    from app.startup_probe import watch_first_paint

    app = QApplication([sys.argv[0]])
    watch_first_paint(app, _load_demo)
    main(["--no-autoload", "--workspace", workspace])


def _load_demo(window) -> None:
    """Click "Load model" for the demo model; report once the session is there."""
    from PySide6.QtCore import QTimer

    window.model_page.model_combo.setEditText("demo")
    window.model_page.load_button.click()
    poll = QTimer(window, interval=10)

    def check() -> None:
        if window.state.session is not None:
            print(f"{LOADED} cpu_s={time.process_time():.3f}", flush=True)
            os._exit(0)

    poll.timeout.connect(check)
    poll.start()


def start_command(target: str, workspace: Path, frozen: Path, load: bool) -> list[str]:
    """The command line of one start: the source app, the frozen one, or the load child."""
    if load:
        return [sys.executable, "-m", "bench.startup", "--child", str(workspace)]
    app_args = ["--no-autoload", "--workspace", str(workspace)]
    if target == "frozen":
        return [str(frozen), *app_args]
    return [sys.executable, "-c", SOURCE_ENTRY, *app_args]


def time_one_start(command: list[str], env: dict[str, str], load: bool) -> dict[str, float | str]:
    """Seconds from starting `command` to its first paint (and to its loaded model), the
    child's CPU seconds then, and the model libraries it had imported at the paint."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
    times: dict[str, float | str] = {}
    try:
        for line in child.stdout:
            mark = line.split(" ", 1)[0]
            if mark in (PAINTED, LOADED):
                times[mark] = time.perf_counter() - started
                fields = dict(field.split("=", 1) for field in line.split()[1:])
                times[f"{mark} cpu_s"] = float(fields["cpu_s"])
                times.update({key: fields[key] for key in ("heavy", "modules") if key in fields})
                if mark == (LOADED if load else PAINTED):
                    return times
    finally:
        child.kill()
        child.wait()
    raise RuntimeError(
        f"{command[0]} exited early (status {child.returncode}): it "
        f"reported {sorted(times) or 'nothing'}"
    )


def platform_env(platform: str, display: str | None, home: Path, probe: bool) -> dict[str, str]:
    """The environment of a start: a temporary user data folder, the platform and (unless
    the benchmark's own child reports) the app's paint probe."""
    env = dict(os.environ, RLHF_STUDIO_HOME=str(home))
    env.pop("WAYLAND_DISPLAY", None)
    env.pop(PROBE_VARIABLE, None)
    if probe:
        env[PROBE_VARIABLE] = "paint"
    if platform == "xvfb":
        env.update(QT_QPA_PLATFORM="xcb", DISPLAY=str(display))
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


@contextlib.contextmanager
def xvfb() -> Iterator[str]:
    """Run an Xvfb on a free display for the duration; yields its DISPLAY value."""
    read, write = os.pipe()
    server = subprocess.Popen(
        [
            shutil.which("Xvfb") or "Xvfb",
            "-displayfd",
            str(write),
            "-screen",
            "0",
            XVFB_SCREEN,
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()  # Xvfb writes it once it accepts clients
    try:
        if not number:
            raise RuntimeError(f"Xvfb exited (status {server.wait()}) without a display")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait()


def _home_with_demo_model(home: Path) -> None:
    """A fresh user data folder that sees the real one's demo model (built once)."""
    from core.paths import data_dir

    home.mkdir(parents=True)
    demo = data_dir() / "demo-model"
    if demo.is_dir():
        (home / "demo-model").symlink_to(demo, target_is_directory=True)


def run_platform(platform: str, display: str | None, targets: list[str], args) -> dict:
    """Time `args.runs` starts of each target on one platform, alternating; print each."""
    results: dict[str, list[float]] = {target: [] for target in targets}
    loaded: list[float] = []
    with tempfile.TemporaryDirectory(prefix="rlhf-startup-") as folder:
        workspace, home = Path(folder) / "workspace", Path(folder) / "home"
        _home_with_demo_model(home)
        env = platform_env(platform, display, home, probe=not args.first_load)
        commands = {t: start_command(t, workspace, args.frozen, args.first_load) for t in targets}
        for target in targets:  # creates the workspace, fills the page cache: not timed
            time_one_start(commands[target], env, args.first_load)
        for run in range(args.runs):
            for target in targets:
                times = time_one_start(commands[target], env, args.first_load)
                results[target].append(times[PAINTED])
                line = f"run {run + 1} {target} {platform}: painted {times[PAINTED]:.3f} s"
                line += f" (CPU {times[PAINTED + ' cpu_s']:.3f} s, {times['modules']} modules,"
                line += f" imported: {times['heavy']})"
                if args.first_load:
                    loaded.append(times[LOADED])
                    line += f", model loaded {times[LOADED]:.3f} s"
                print(line, flush=True)
    if loaded:
        print(f"model loaded median_s={statistics.median(loaded):.3f}")
    return results


def summary_lines(results: dict[tuple[str, str], list[float]]) -> list[str]:
    """Source and frozen side by side: a row per app, a column per platform with the
    median and range in seconds; then one key=value line per (app, platform)."""
    targets = list(dict.fromkeys(target for target, _ in results))
    platforms = list(dict.fromkeys(platform for _, platform in results))
    lines = [
        f"{'':8}" + "".join(f"{platform + ': median (range), s':>30}" for platform in platforms)
    ]
    for target in targets:
        cells = []
        for platform in platforms:
            times = results[(target, platform)]
            cells.append(f"{statistics.median(times):.3f} ({min(times):.3f}-{max(times):.3f})")
        lines.append(f"{target:8}" + "".join(f"{cell:>30}" for cell in cells))
    for (target, platform), times in results.items():
        if (target, platform) != ("source", "offscreen"):
            lines.append(
                f"startup {target} {platform} median_s={statistics.median(times):.3f} "
                f"min_s={min(times):.3f} max_s={max(times):.3f} runs={len(times)}"
            )
    source = results[("source", "offscreen")]
    lines.append(f"startup median_s={statistics.median(source):.3f} runs={len(source)}")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.startup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=5, help="starts to time per app and platform")
    parser.add_argument(
        "--frozen",
        type=Path,
        nargs="?",
        const=DEFAULT_FROZEN,
        metavar="EXE",
        help=f"also time the frozen app (default {DEFAULT_FROZEN.relative_to(ROOT)})",
    )
    parser.add_argument("--xvfb", action="store_true", help="also time under an Xvfb X server")
    parser.add_argument("--first-load", action="store_true", help="also time a demo load")
    parser.add_argument("--child", metavar="WORKSPACE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.first_load and (args.frozen or args.xvfb):
        parser.error("--first-load times the source app offscreen only: drop --frozen/--xvfb")
    if args.frozen and not os.access(args.frozen, os.X_OK):
        parser.error(
            f"--frozen: no executable at {args.frozen} (build it with "
            "packaging/build.sh --bundle-only)"
        )
    if args.xvfb and shutil.which("Xvfb") is None:
        parser.error("--xvfb: Xvfb is not installed here (apt install xvfb), or drop --xvfb")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        _child(args.child)
        return 1  # only reached if the window never painted
    targets = ["source"] + (["frozen"] if args.frozen else [])
    results: dict[tuple[str, str], list[float]] = {}
    for target, times in run_platform("offscreen", None, targets, args).items():
        results[(target, "offscreen")] = times
    if args.xvfb:
        with xvfb() as display:
            for target, times in run_platform("xvfb", display, targets, args).items():
                results[(target, "xvfb")] = times
    print("\n".join(summary_lines(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
