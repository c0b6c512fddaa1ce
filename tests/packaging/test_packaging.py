"""Packaging: the frozen app's entry script, its self-test, and the Linux deliverables.

None of these builds the PyInstaller bundle (that takes minutes: packaging/build.sh).
They run the same entry code and self-test in-process, and the .tar.gz/.deb scripts on
a stand-in bundle. Set RLHF_STUDIO_TEST_BUNDLE=dist/rlhf-studio to also run a built
bundle's --self-test.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import pytest

from tests.startup_probe_run import run_startup_probe

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def _load(name: str, path: Path) -> types.ModuleType:
    """Import a packaging/ script by path (packaging/ is not a package: the name is taken)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


entry = _load("rlhf_studio_entry", PACKAGING / "entry.py")


@pytest.fixture
def shown(monkeypatch, qapp) -> list[dict]:
    """Fatal-error dialogs the entry script showed, captured instead of blocking in exec()."""
    from PySide6.QtWidgets import QMessageBox

    dialogs: list[dict] = []

    def fake_exec(box: QMessageBox) -> int:
        dialogs.append(
            {
                "title": box.windowTitle(),
                "text": box.text(),
                "info": box.informativeText(),
                "details": box.detailedText(),
            }
        )
        return 0

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    return dialogs


@pytest.fixture
def home(monkeypatch, tmp_path) -> Path:
    """A private user data folder for the log the entry script writes."""
    monkeypatch.setenv("RLHF_STUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# ----------------------------------------------------------- fatal start-up errors


def test_import_failure_shows_dialog_and_writes_log(monkeypatch, shown, home, capsys):
    # A module missing from the bundle is the commonest frozen-app failure.
    monkeypatch.setitem(sys.modules, "app.main", None)  # `import app.main` now fails
    assert entry.main([]) == 1

    log = home / "logs" / entry.LOG_NAME
    assert log.is_file()
    assert "ModuleNotFoundError: import of app.main" in log.read_text(encoding="utf-8")
    (dialog,) = shown
    assert dialog["title"] == "RLHF Studio"
    assert dialog["text"] == "RLHF Studio could not start."
    assert "missing or broken" in dialog["info"] and "Reinstall" in dialog["info"]
    assert str(log) in dialog["info"]
    assert "app.main" in dialog["details"]  # the traceback, under "Show Details"
    assert "could not start" in capsys.readouterr().err


def test_studio_error_is_shown_as_its_own_message(monkeypatch, shown, home):
    from core.errors import ModelLoadError

    def failing_main() -> int:
        raise ModelLoadError("No model folder at /nowhere; choose a folder with config.json.")

    fake = types.ModuleType("app.main")
    fake.main = failing_main
    monkeypatch.setitem(sys.modules, "app.main", fake)
    assert entry.main([]) == 1
    (dialog,) = shown
    assert dialog["info"].startswith("No model folder at /nowhere; choose a folder")


def test_without_qt_the_error_still_reaches_stderr_and_log(monkeypatch, home, capsys):
    # Qt itself broken: no Qt dialog, no desktop dialog tool -> stderr and the log.
    monkeypatch.setitem(sys.modules, "app.main", None)
    monkeypatch.setitem(sys.modules, "PySide6.QtWidgets", None)
    monkeypatch.setattr(entry.shutil, "which", lambda name: None)
    monkeypatch.setattr(entry.sys, "platform", "linux")
    assert entry.main([]) == 1
    assert "missing or broken" in capsys.readouterr().err
    assert (home / "logs" / entry.LOG_NAME).is_file()


def test_message_when_core_itself_cannot_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "core.errors", None)
    message = entry.user_message(ImportError("No module named 'torch'"))
    assert message.startswith("A part of RLHF Studio is missing or broken (No module named")


def test_linux_without_display_fails_readably(monkeypatch, home, capsys):
    # Qt's xcb plugin would abort the process without a dialog: check first.
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(entry.sys, "platform", "linux")
    monkeypatch.setattr(entry.shutil, "which", lambda name: None)  # no zenity either
    assert entry.main([]) == 1  # and no QApplication was attempted: that would abort
    assert "No graphical display found" in capsys.readouterr().err
    assert entry.show_qt_dialog("text", "details") is False


def test_check_error_dialog_flag_fails_on_purpose(shown, home):
    assert entry.main(["--check-error-dialog"]) == 1
    (dialog,) = shown
    assert "deliberate start-up failure" in dialog["info"]


def test_self_test_and_cli_flags_dispatch(monkeypatch):
    import app.self_test
    import core.cli

    calls: list[tuple] = []
    monkeypatch.setattr(app.self_test, "main", lambda argv: calls.append(("self", argv)) or 0)
    monkeypatch.setattr(core.cli, "main", lambda argv: calls.append(("cli", argv)) or 3)
    assert entry.main(["--self-test", "--model", "m"]) == 0
    assert entry.main(["--cli", "generate", "--help"]) == 3
    assert calls == [("self", ["--model", "m"]), ("cli", ["generate", "--help"])]


# ----------------------------------------------------------------- the self-test


@pytest.mark.slow
def test_self_test_passes_in_process(tiny_model_dir, capsys, monkeypatch):
    """The frozen app's --self-test code, here on a tiny model (same checks, seconds)."""
    from app import self_test

    home_before = os.environ.get("RLHF_STUDIO_HOME")
    # A random tiny model writes word soup that sentiment scores 0 throughout; fluency (its
    # own log-probs) differs for every response, so the step has something to learn.
    argv = ["--model", str(tiny_model_dir), "--device", "cpu", "--reward", "fluency"]
    assert self_test.main(argv) == 0

    out = capsys.readouterr().out.splitlines()
    for what, _check in self_test.CHECKS:
        assert any(line.startswith(f"ok  {what}: ") for line in out), what
    assert out[-1] == "self-test passed"
    assert "adapter updated" in next(line for line in out if line.startswith("ok  one PPO step"))
    assert os.environ.get("RLHF_STUDIO_HOME") == home_before  # restored for the caller
    written = next(line for line in out if line.startswith("ok  temporary workspace"))
    temp_root = Path(written.split(" under ")[1].split(" (removed")[0])
    assert not temp_root.exists()  # nothing left behind


@pytest.mark.slow
def test_self_test_passes_through_the_bundles_entry_script(tiny_model_dir, tmp_path):
    """`rlhf-studio --self-test` as the bundle starts it (packaging/entry.py), in a process of
    its own with USE_HUB_KERNELS unset, as on a user's machine: the bundle's first
    self-test failed on every model load ("Kernels are not available") because this path
    skipped the start-up that keeps hub kernels out."""
    env = {**os.environ, "RLHF_STUDIO_HOME": str(tmp_path / "home")}
    env.pop("USE_HUB_KERNELS", None)
    argv = ["--model", str(tiny_model_dir), "--device", "cpu", "--reward", "fluency"]
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "entry.py"), "--self-test", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "self-test passed"
    assert "kernels" not in done.stderr  # bitsandbytes' hub-kernel lines went to the log


def test_self_test_reports_a_failed_check(tmp_path, capsys):
    from app import self_test

    assert self_test.main(["--model", str(tmp_path / "no-model")]) == 1
    out = capsys.readouterr().out
    assert "FAIL  demo model: RuntimeError:" in out and "self-test passed" not in out


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("RLHF_STUDIO_TEST_BUNDLE"),
    reason="set RLHF_STUDIO_TEST_BUNDLE=dist/rlhf-studio after packaging/build.sh",
)
def test_built_bundle_self_test():
    bundle = Path(os.environ["RLHF_STUDIO_TEST_BUNDLE"]).resolve()
    exe = bundle / ("rlhf-studio.exe" if sys.platform == "win32" else "rlhf-studio")
    done = subprocess.run(
        [str(exe), "--self-test"], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "self-test passed"


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("RLHF_STUDIO_TEST_BUNDLE"),
    reason="set RLHF_STUDIO_TEST_BUNDLE=dist/rlhf-studio after packaging/build.sh",
)
def test_built_bundle_paints_without_model_libraries_then_warms_them_up(tmp_path):
    # What bench/startup.py --frozen times: the bundle's runtime hooks and entry script
    # must not import torch before the first paint, and its warm-up must import it after.
    bundle = Path(os.environ["RLHF_STUDIO_TEST_BUNDLE"]).resolve()
    exe = bundle / ("rlhf-studio.exe" if sys.platform == "win32" else "rlhf-studio")
    reports = run_startup_probe([str(exe)], "warm-up", tmp_path)
    assert reports["WINDOW_PAINTED"]["heavy"] == "-", reports
    assert reports["WARMED_UP"]["heavy"] == "torch,transformers,peft", reports
    assert reports["WARMED_UP"]["missing"] == "-", reports


# ------------------------------------------------------------- Linux deliverables


def _desktop_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_desktop_entry_is_complete():
    entry_file = PACKAGING / "linux" / "rlhf-studio.desktop"
    fields = _desktop_entry(entry_file)
    assert fields["Type"] == "Application" and fields["Name"] == "RLHF Studio"
    assert fields["Exec"] == "rlhf-studio" and fields["Terminal"] == "false"
    assert fields["Icon"] == "rlhf-studio"  # installed from resources/icons/app.svg
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(entry_file)], check=True)


def test_icon_renders_to_png(tmp_path, qapp):
    from PySide6.QtGui import QImage

    render_icon = _load("rlhf_studio_render_icon", PACKAGING / "render_icon.py")
    out = tmp_path / "icon.png"
    render_icon.render(ROOT / "resources" / "icons" / "app.svg", out, 64)
    image = QImage(str(out))
    assert (image.width(), image.height()) == (64, 64)
    assert image.pixelColor(32, 32).alpha() == 255  # drawn, not transparent


@pytest.fixture
def fake_bundle(tmp_path) -> tuple[Path, Path]:
    """A stand-in for dist/rlhf-studio (an executable and _internal/) and an icon PNG."""
    bundle = tmp_path / "dist" / "rlhf-studio"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "_internal" / "base_library.zip").write_bytes(b"stand-in")
    exe = bundle / "rlhf-studio"
    exe.write_text("#!/bin/sh\necho fake\n")
    exe.chmod(0o755)
    icon = tmp_path / "icon.png"
    icon.write_bytes(b"\x89PNG stand-in")
    return bundle, icon


def test_tarball_holds_app_desktop_entry_and_menu_installer(fake_bundle, tmp_path):
    bundle, icon = fake_bundle
    out = tmp_path / "rlhf-studio.tar.gz"
    script = PACKAGING / "linux" / "make_tarball.sh"
    subprocess.run(["bash", str(script), str(bundle), str(icon), str(out)], check=True)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        tar.extractall(tmp_path / "unpacked", filter="data")
    for name in (
        "rlhf-studio/rlhf-studio",
        "rlhf-studio/_internal/base_library.zip",
        "rlhf-studio/share/applications/rlhf-studio.desktop",
        "rlhf-studio/share/icons/hicolor/256x256/apps/rlhf-studio.png",
        "rlhf-studio/share/icons/hicolor/scalable/apps/rlhf-studio.svg",
        "rlhf-studio/install-desktop-entry.sh",
        "rlhf-studio/README.txt",
    ):
        assert name in names, name

    # The menu installer points the entry at wherever the folder was unpacked.
    folder = tmp_path / "unpacked" / "rlhf-studio"
    data = tmp_path / "xdg-data"
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    subprocess.run([str(folder / "install-desktop-entry.sh")], check=True, env=env)
    fields = _desktop_entry(data / "applications" / "rlhf-studio.desktop")
    assert fields["Exec"] == f'"{folder}/rlhf-studio"'
    assert (data / "icons/hicolor/scalable/apps/rlhf-studio.svg").is_file()
    subprocess.run([str(folder / "install-desktop-entry.sh"), "--remove"], check=True, env=env)
    assert not (data / "applications" / "rlhf-studio.desktop").exists()


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb is Debian/Ubuntu only")
def test_deb_installs_app_launchers_and_desktop_entry(fake_bundle, tmp_path):
    bundle, icon = fake_bundle
    out = tmp_path / "rlhf-studio_0.1.0_amd64.deb"
    script = PACKAGING / "linux" / "make_deb.sh"
    args = [str(bundle), str(icon), "0.1.0", str(tmp_path / "stage"), str(out)]
    subprocess.run(
        ["bash", str(script), *args], check=True, env={**os.environ, "DEB_COMPRESSION": "gzip"}
    )

    info = subprocess.run(["dpkg-deb", "--field", str(out)], capture_output=True, text=True)
    assert "Package: rlhf-studio" in info.stdout and "Version: 0.1.0" in info.stdout
    assert "libxcb-cursor0" in info.stdout  # Qt's xcb plugin needs it; PyInstaller leaves it out
    contents = subprocess.run(["dpkg-deb", "--contents", str(out)], capture_output=True, text=True)
    for path in (
        "./opt/rlhf-studio/rlhf-studio",
        "./usr/bin/rlhf-studio -> /opt/rlhf-studio/rlhf-studio",
        "./usr/bin/rlhf-studio-cli",
        "./usr/share/applications/rlhf-studio.desktop",
        "./usr/share/icons/hicolor/scalable/apps/rlhf-studio.svg",
    ):
        assert path in contents.stdout, path
    assert " root/root " in contents.stdout  # owned by root whoever built it


def test_build_scripts_parse():
    for script in [PACKAGING / "build.sh", *(PACKAGING / "linux").glob("*.sh")]:
        subprocess.run(["bash", "-n", str(script)], check=True)
