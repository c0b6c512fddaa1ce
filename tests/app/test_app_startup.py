"""Start-up: the window is built without torch, transformers or peft; they are imported by
a background warm-up after the first paint, and jobs wait for it in their own thread.

Each check runs in a fresh interpreter: this test process imported torch long ago.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.startup_probe_run import run_startup_probe

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "peft")

GUI_SIDE_CORE_MODULES = (
    "core.model.adapter_files",
    "core.config",
    "core.errors",
    "core.export.ratings",
    "core.export.models",
    "core.paths",
    "core.ppo",
    "core.ppo.checks",
    "core.progress",
    "core.data.prompt_format",
    "core.data.prompts_io",
    "core.rewards",
    "core.rlaif.labelling",
    "core.rlaif.loop",
    "core.runs.export",
    "core.runs.import_run",
    "core.data.run_prompts",
    "core.store",
    "core.memory_plan",
    "core.model.shapes",
    "core.offline.config",
    "core.offline.loop",
    "core.config.settings",
    "core.train",
    "core.train.checkpoints",
    "core.train.launch",
    "core.train.reward_history",
)
"""The core modules the GUI imports at start-up: they must stay torch-free."""


def _run(code: str, tmp_path: Path) -> dict:
    """Run `code` in a fresh offscreen interpreter; it prints one JSON line last."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RLHF_STUDIO_HOME=str(tmp_path / "home"))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_window_is_built_without_model_libraries_which_load_after_its_first_paint(tmp_path):
    report = _run(
        f"""
        import json, sys, time
        from pathlib import Path
        from PySide6.QtWidgets import QApplication

        HEAVY = {HEAVY!r}
        loaded = lambda: [name for name in HEAVY if name in sys.modules]
        qt_app = QApplication([])
        import app.main_window
        from app import warm_up
        from app.main import build_window

        after_import = loaded()
        window = build_window(Path({str(tmp_path / "ws")!r}), Path({str(tmp_path / "s.ini")!r}))
        after_build = loaded()
        window.show()
        qt_app.processEvents()  # the first paint; it schedules the warm-up
        deadline = time.monotonic() + 240
        while not warm_up.is_warm() and time.monotonic() < deadline:
            qt_app.processEvents()
            time.sleep(0.02)
        print(json.dumps({{
            "after_import": after_import,
            "after_build": after_build,
            "warm": warm_up.is_warm(),
            "after_warm_up": loaded(),
            "trainer_imported": "core.ppo.trainer" in sys.modules,
            "torch_threads_set": warm_up._torch_threads_set,
        }}))
        """,
        tmp_path,
    )
    assert report["after_import"] == [] and report["after_build"] == [], report
    assert report["warm"] and report["after_warm_up"] == list(HEAVY), report
    assert report["trainer_imported"] and report["torch_threads_set"]


def test_gui_modules_and_the_core_they_use_import_no_model_library(tmp_path):
    report = _run(
        f"""
        import importlib, json, pkgutil, sys
        import app

        names = [m.name for m in pkgutil.walk_packages(app.__path__, "app.")]
        for name in names + list({GUI_SIDE_CORE_MODULES!r}):
            importlib.import_module(name)
        print(json.dumps({{"modules": len(names), "heavy": [
            name for name in {HEAVY!r} if name in sys.modules
        ]}}))
        """,
        tmp_path,
    )
    assert report["modules"] > 30 and report["heavy"] == [], report


def test_a_job_waits_for_the_warm_up_and_says_so(tmp_path):
    report = _run(
        """
        import json, sys, threading
        from app import warm_up

        # A module that fails to import is logged; the others are still imported.
        warm_up.WARM_UP_MODULES = ("no_such_module_here",) + warm_up.WARM_UP_MODULES
        messages = []
        job = threading.Thread(
            target=warm_up.wait_for_warm_up,
            args=(lambda done, total, text: messages.append(text),),
        )
        job.start()
        job.join(240)
        print(json.dumps({
            "messages": messages,
            "warm": warm_up.is_warm(),
            "torch": "torch" in sys.modules,
            "sentiment": "core.rewards.sentiment" in sys.modules,
        }))
        """,
        tmp_path,
    )
    assert report["messages"] == ["Loading the model libraries (torch, transformers)…"]
    assert report["warm"] and report["torch"] and report["sentiment"]


def test_the_startup_bench_times_a_start_without_model_libraries(capsys):
    from bench import startup

    assert startup.main(["--runs", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"startup median_s=\d+\.\d{3} runs=1", lines[-1]), lines
    assert "imported: -" in lines[0], lines[0]


def test_the_startup_probe_reports_a_paint_without_model_libraries_then_the_warm_up(tmp_path):
    from bench.startup import SOURCE_ENTRY

    reports = run_startup_probe([sys.executable, "-c", SOURCE_ENTRY], "warm-up", tmp_path)
    assert reports["WINDOW_PAINTED"]["heavy"] == "-", reports
    assert float(reports["WINDOW_PAINTED"]["cpu_s"]) > 0
    assert reports["WARMED_UP"]["heavy"] == ",".join(HEAVY), reports
    assert reports["WARMED_UP"]["missing"] == "-", reports
    # The warm-up imported torch, transformers and peft (and bitsandbytes, with the quant
    # extra): whatever they print goes to the log; stderr holds only the app's own lines.
    for line in reports["STDERR"]["text"].splitlines():
        assert re.match(r"\d{4}-\d\d-\d\d [\d:,]+ rlhf_studio\.", line), line


def test_a_mistyped_startup_probe_mode_is_refused_in_one_line(monkeypatch, capsys):
    from app import main as app_main

    monkeypatch.setenv("RLHF_STUDIO_STARTUP_PROBE", "pain")
    assert app_main.main(["--no-autoload"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "'pain'" in error and "paint or warm-up" in error, error


def _stand_in_frozen_app(tmp_path: Path) -> Path:
    """An executable that starts the source app the way the bundle's bootloader starts
    its entry script: its own process, the app's arguments passed on."""
    from bench.startup import SOURCE_ENTRY

    exe = tmp_path / "rlhf-studio"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{SOURCE_ENTRY}" "$@"\n')
    exe.chmod(0o755)
    return exe


def test_the_startup_bench_times_a_frozen_app_beside_the_source(tmp_path, capsys):
    from bench import startup

    assert startup.main(["--runs", "1", "--frozen", str(_stand_in_frozen_app(tmp_path))]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(re.match(r"run 1 frozen offscreen: painted .* imported: -\)", x) for x in lines)
    assert re.fullmatch(r"frozen +\d+\.\d{3} \(\d+\.\d{3}-\d+\.\d{3}\)", lines[-3]), lines
    assert re.fullmatch(
        r"startup frozen offscreen median_s=\d+\.\d{3} min_s=\S+ max_s=\S+ runs=1", lines[-2]
    )
    assert re.fullmatch(r"startup median_s=\d+\.\d{3} runs=1", lines[-1]), lines


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")
def test_the_startup_bench_times_a_start_under_xvfb(capsys):
    from bench import startup

    assert startup.main(["--runs", "1", "--xvfb"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(re.match(r"run 1 source xvfb: painted .* imported: -\)", x) for x in lines)
    assert re.fullmatch(r"startup source xvfb median_s=\S+ min_s=\S+ max_s=\S+ runs=1", lines[-2])


def test_the_startup_bench_refuses_a_missing_frozen_app(tmp_path, capsys):
    from bench import startup

    with pytest.raises(SystemExit) as exit_info:
        startup.main(["--frozen", str(tmp_path / "no-bundle" / "rlhf-studio")])
    assert exit_info.value.code == 2
    assert "packaging/build.sh --bundle-only" in capsys.readouterr().err
