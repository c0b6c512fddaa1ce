"""Start the app with its start-up probe (app/startup_probe.py) and read what it reports:
the source app in tests/app/test_app_startup.py, the built bundle in tests/packaging/test_packaging.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_startup_probe(command: list[str], mode: str, tmp_path: Path) -> dict[str, dict[str, str]]:
    """Run `command` + `--no-autoload --workspace DIR` offscreen with
    RLHF_STUDIO_STARTUP_PROBE=`mode` and a fresh user data folder; the probe's lines,
    parsed: {"WINDOW_PAINTED": {"cpu_s": ..., "heavy": ...}, "WARMED_UP": {...}}, and what
    the app printed on stderr as {"STDERR": {"text": ...}}."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RLHF_STUDIO_HOME=str(tmp_path / "home"))
    env["RLHF_STUDIO_STARTUP_PROBE"] = mode
    args = ["--no-autoload", "--workspace", str(tmp_path / "ws")]
    result = subprocess.run(
        [*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reports = {}
    for line in result.stdout.splitlines():
        mark, *fields = line.split() or [""]
        if mark in ("WINDOW_PAINTED", "WARMED_UP"):
            reports[mark] = dict(field.split("=", 1) for field in fields)
    reports["STDERR"] = {"text": result.stderr}
    return reports
