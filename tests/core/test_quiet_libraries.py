"""Third-party output never reaches the user's terminal; hub kernels are never fetched.

Each case runs in a fresh interpreter: what a library prints happens once, at its import,
and the routing is process-wide. The CLI cases run with whatever versions are installed
(`make test-latest` runs them on the newest ones)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python(code_or_args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *code_or_args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        **kwargs,
    )


def _env(tmp_path: Path, **changes: str | None) -> dict[str, str]:
    """This process's environment for a child: its own data folder, `changes` applied (None
    removes a variable). The hub-kernel switch is left unset, as on a user's machine."""
    env = {**os.environ, "RLHF_STUDIO_HOME": str(tmp_path / "home")}
    env.pop("USE_HUB_KERNELS", None)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.mark.parametrize("offline", ["1", None], ids=["hub-offline", "hub-mode-unset"])
def test_a_cli_error_stays_one_line_whatever_the_libraries_print(tmp_path, offline):
    # `generate` imports transformers and peft (and so bitsandbytes, with the quant extra)
    # before it finds the folder missing. bitsandbytes 0.50 printed two lines on import.
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The movie was\n", encoding="utf-8")
    missing = tmp_path / "no-such-model"
    done = _python(
        ["-m", "core", "generate", "--model", str(missing), "--prompts", str(prompts),
         "--workspace", str(tmp_path / "ws")],
        _env(tmp_path, HF_HUB_OFFLINE=offline),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith(f"error: Model folder {missing} does not exist.")


_ROUTE = """
import logging, sys, warnings
from core.quiet_libraries import quiet_libraries
log_file = quiet_libraries()
logging.getLogger("somelibrary.ops").warning("library noise")
warnings.warn("a library's deprecation", UserWarning)
logging.getLogger("rlhf_studio.train").warning("our own warning")
logging.getLogger("rlhf_studio.train").info("our own detail")
print(log_file)
"""


def test_library_records_and_warnings_go_to_the_log_and_ours_to_stderr(tmp_path):
    done = _python(["-c", _ROUTE], _env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "our own warning\n"
    log_file = Path(done.stdout.strip())
    assert log_file == tmp_path / "home" / "logs" / "libraries.log"
    logged = log_file.read_text(encoding="utf-8")
    assert "WARNING somelibrary.ops: library noise" in logged
    assert "a library's deprecation" in logged
    assert "our own" not in logged


_KERNELS = """
import os, sys
from core.quiet_libraries import quiet_libraries
quiet_libraries()
try:
    import kernels
    state = "imported"
except ImportError:
    state = "blocked"
print(state, os.environ["USE_HUB_KERNELS"])
"""


def _installed(distribution: str) -> bool:
    # Not find_spec: this test process blocks `kernels` too (tests/conftest.py).
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed("kernels"), reason="kernels not installed")
def test_hub_kernels_stay_out_unless_the_user_opts_in(tmp_path):
    blocked = _python(["-c", _KERNELS], _env(tmp_path))
    assert blocked.stdout.split() == ["blocked", "NO"], blocked.stderr
    opted_in = _python(["-c", _KERNELS], _env(tmp_path, USE_HUB_KERNELS="YES"))
    assert opted_in.stdout.split() == ["imported", "YES"], opted_in.stderr


def test_a_model_loads_without_hub_kernels(tmp_path, tiny_model_dir):
    # transformers 5 kernelizes every model it loads while USE_HUB_KERNELS is unset; with
    # `kernels` blocked that became "Kernels are not available" on every load.
    code = (
        "import sys; from core.quiet_libraries import quiet_libraries; quiet_libraries()\n"
        "from transformers import AutoModelForCausalLM\n"
        "model = AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
        "print(model.use_kernels)"
    )
    done = _python(["-c", code, str(tiny_model_dir)], _env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
