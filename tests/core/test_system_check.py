"""Start-up check on Linux: no display or a missing system library of Qt's platform
plugin gives one line and exit status 2 (not Qt's abort, exit 134); the .deb and the
README name the same packages as the check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import app.main
from app import system_check
from app.system_check import SYSTEM_LIBRARIES, XCB, packages, problem

ROOT = Path(__file__).resolve().parents[2]
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_SESSION_TYPE")


@pytest.fixture
def linux_without(monkeypatch):
    """A Linux where the given library files are missing (all others load)."""
    monkeypatch.setattr(system_check.sys, "platform", "linux")
    monkeypatch.delenv(system_check.SKIP_VARIABLE, raising=False)
    for name in DISPLAY_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def missing(*names: str) -> None:
        monkeypatch.setattr(system_check, "library_loads", lambda name: name not in names)

    missing()
    return missing


@pytest.fixture
def no_qapplication(monkeypatch):
    """Creating a QApplication fails the test (Qt would abort the process)."""
    import PySide6.QtWidgets

    class Forbidden:
        def __init__(self, *args):
            raise AssertionError("main() created a QApplication before checking the system")

        @staticmethod
        def instance():
            return None

    monkeypatch.setattr(PySide6.QtWidgets, "QApplication", Forbidden)


def test_missing_xcb_libraries_exit_2_with_one_line_naming_packages(
    linux_without, no_qapplication, monkeypatch, capsys
):
    monkeypatch.setenv("DISPLAY", ":0")
    linux_without("libxcb-cursor.so.0", "libxcb-icccm.so.4")
    assert app.main.main(["--no-autoload"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1  # one line
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in err
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4`" in err
    assert "QT_QPA_PLATFORM=offscreen" in err


def test_no_display_exits_2_and_says_how_to_run_headless(linux_without, no_qapplication, capsys):
    assert app.main.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "No graphical display found (DISPLAY and WAYLAND_DISPLAY are unset)" in err
    assert "QT_QPA_PLATFORM=offscreen" in err


def test_offscreen_passes_without_display_or_xcb(linux_without, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    linux_without(*(name for name, _package, part in SYSTEM_LIBRARIES if part == XCB))
    assert problem() is None
    monkeypatch.setenv("QT_QPA_PLATFORM", "minimal")
    assert problem() is None


def test_libraries_every_platform_needs_are_checked_even_offscreen(linux_without, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    linux_without("libEGL.so.1")  # QtGui itself links it: importing it would fail
    assert "sudo apt install libegl1`" in problem()


def test_wayland_session_passes_when_one_platform_can_start(linux_without, monkeypatch):
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    linux_without("libxcb-cursor.so.0")  # no X11 plugin, but Wayland works
    assert problem() is None
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")  # unless X11 is asked for
    monkeypatch.setenv("DISPLAY", ":0")
    assert "libxcb-cursor0" in problem()


def test_never_blocks_macos_or_windows_or_when_skipped(linux_without, monkeypatch):
    linux_without(*(name for name, _package, _part in SYSTEM_LIBRARIES))
    assert problem() is not None
    monkeypatch.setenv(system_check.SKIP_VARIABLE, "1")
    assert problem() is None
    monkeypatch.delenv(system_check.SKIP_VARIABLE)
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(system_check.sys, "platform", platform)
        assert problem() is None


def test_this_machines_libraries_are_judged_by_loading_them():
    assert system_check.library_loads("libc.so.6") is sys.platform.startswith("linux")
    assert system_check.library_loads("libno-such-library-here.so.7") is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is Linux only")
def test_app_entry_point_imports_no_qt_before_the_check(tmp_path):
    # The real console script, in a fresh interpreter without a display: exit 2, one line.
    env = {k: v for k, v in os.environ.items() if k not in DISPLAY_VARIABLES}
    env.pop(system_check.SKIP_VARIABLE, None)
    code = (
        "import sys, app.main\n"
        "qt = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
        "assert not qt, qt\n"
        "sys.exit(app.main.main([]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("rlhf-studio: No graphical display found")
    assert result.stderr.count("\n") == 1


def _deb_depends(control: str) -> list[str]:
    (line,) = [line for line in control.splitlines() if line.startswith("Depends:")]
    return [item.strip().split(" ")[0] for item in line.removeprefix("Depends:").split(",")]


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is Debian/Ubuntu only")
def test_deb_depends_on_every_package_the_check_names(tmp_path):
    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "rlhf-studio").write_text("#!/bin/sh\n")
    icon = tmp_path / "icon.png"
    icon.write_bytes(b"\x89PNG stand-in")
    out = tmp_path / "rlhf-studio_0.1.0_amd64.deb"
    script = ROOT / "packaging" / "linux" / "make_deb.sh"
    args = [str(bundle), str(icon), "0.1.0", str(tmp_path / "stage"), str(out)]
    env = {**os.environ, "DEB_COMPRESSION": "gzip"}
    subprocess.run(["bash", str(script), *args], check=True, env=env)
    control = subprocess.run(
        ["dpkg-deb", "--field", str(out)], capture_output=True, text=True, check=True
    ).stdout
    depends = _deb_depends(control)
    assert set(packages()) <= set(depends)
    assert "libc6" in depends and "libxcb-cursor0" in depends


def test_control_file_takes_depends_from_the_check():
    script = (ROOT / "packaging" / "linux" / "make_deb.sh").read_text(encoding="utf-8")
    assert 'app/system_check.py" --deb-depends' in script
    assert re.search(r"^Depends: \$DEPENDS$", script, flags=re.M)
    listed = subprocess.run(
        [sys.executable, str(ROOT / "app" / "system_check.py"), "--deb-depends"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _deb_depends(f"Depends: {listed}") == ["libc6", *packages()]


def test_readme_lists_the_same_packages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (command,) = re.findall(r"^sudo apt install (.+)$", readme, flags=re.M)
    assert command.split() == packages()
