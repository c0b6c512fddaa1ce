"""What the installers' bundle holds: the filter's choices, every file the app reads from
its dependencies shipped, and the app running without the modules the recipe leaves out.

None of these builds the bundle (packaging/build.sh takes minutes): they judge files by
packaging/bundle_filter.py's rules and run the app with the excluded modules unimportable.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_bundle_filter():
    """packaging/ is not a package: load its filter by path."""
    spec = importlib.util.spec_from_file_location(
        "rlhf_studio_bundle_filter", ROOT / "packaging" / "bundle_filter.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle_filter = _load_bundle_filter()


@pytest.mark.parametrize(
    ("path", "variant", "dropped"),
    [
        ("nvidia/cublas/lib/libcublas.so.12", "cpu", True),
        ("torch/lib/libtorch_cuda.so", "cpu", True),
        ("nvidia/cublas/lib/libcublas.so.12", "cuda", False),
        ("torch/lib/libjitbackend_test.so", "cuda", True),
        ("PySide6/Qt/lib/libQt6Quick.so.6", "cpu", True),
        ("torch/lib/libtorch_cpu.so", "cpu", False),
        ("torch/bin/torch_shm_manager", "cpu", False),  # torch refuses to import without it
        ("torch/bin/TCPStoreTest", "cpu", True),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", "cpu", False),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", "cpu", False),
        ("vaderSentiment/vader_lexicon.txt", "cpu", False),
        ("bitsandbytes/libbitsandbytes_cuda128.so", "cpu", True),
        ("bitsandbytes/libbitsandbytes_cuda128.so", "cuda", False),
        ("bitsandbytes/libbitsandbytes_cpu.so", "cpu", False),
    ],
)
def test_bundle_filter_drops_only_unused_files(path, variant, dropped):
    assert bundle_filter.is_unwanted(path, bundle_filter.patterns_for(variant)) is dropped


_FILES_THE_APP_READS_FROM_PACKAGES = """
import importlib, importlib.util, json, os, pkgutil, sys
read = []

def record(event, args):
    # Data files (open) and native libraries (ctypes): neither is found by PyInstaller's
    # import analysis, so each must be shipped by a hook or by the spec.
    if event in ("open", "ctypes.dlopen") and isinstance(args[0], (str, bytes, os.PathLike)):
        read.append(os.fsdecode(args[0]))

sys.addaudithook(record)
from core.quiet_libraries import quiet_libraries
quiet_libraries()  # as the app starts: hub kernels blocked, library output to the log
import app, core
for package in (core, app):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
import peft
if importlib.util.find_spec("bitsandbytes"):  # the quant extra
    import bitsandbytes
from transformers import AutoModelForCausalLM, GPT2Config
from core.config import LoraSpec
from core.model.lora import attach_lora, save_adapter_folder

config = GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=32,
                    bos_token_id=0, eos_token_id=0)
model = attach_lora(AutoModelForCausalLM.from_config(config), LoraSpec(r=2, alpha=4))
save_adapter_folder(model, sys.argv[1])
sites = [path for path in sys.path if path.endswith("site-packages")]
print(json.dumps(sorted({
    os.path.relpath(name, site).replace(os.sep, "/")
    for name in read for site in sites
    if name.startswith(site + os.sep) and not name.endswith((".py", ".pyc"))
    and ".dist-info/" not in name
})))
"""


@pytest.mark.slow
def test_the_bundle_ships_every_file_the_app_reads_from_its_dependencies(tmp_path):
    # Found by running it: peft reads huggingface_hub's model card template for every adapter
    # it saves (no hook collected it: the frozen app's first checkpoint failed), and
    # bitsandbytes 0.50 imported `kernels`, whose data file the bundle lacked. Any file a
    # new dependency version reads that the bundle would not carry fails here, not in a
    # user's installed app.
    done = subprocess.run(
        [sys.executable, "-c", _FILES_THE_APP_READS_FROM_PACKAGES, str(tmp_path / "adapter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    read = set(json.loads(done.stdout))
    assert "huggingface_hub/templates/modelcard_template.md" in read
    # Python extension modules are found by the import analysis itself.
    extensions = {name for name in read if ".cpython-" in name or name.endswith(".abi3.so")}
    import torch

    variant = "cuda" if torch.version.cuda else "cpu"  # the variant this venv's torch builds
    missing = sorted(
        name for name in read - extensions if not bundle_filter.is_shipped(name, variant)
    )
    assert not missing, "ship these (PACKAGE_DATA or HOOK_COLLECTED): " + ", ".join(missing)
    assert not any(name.startswith("kernels/") for name in read)  # blocked at start-up


def test_is_shipped_knows_what_each_list_covers():
    assert bundle_filter.is_shipped("huggingface_hub/templates/modelcard_template.md")
    assert bundle_filter.is_shipped("torch/_inductor/kernel/templates/triton_mm.py.jinja")
    assert not bundle_filter.is_shipped("kernels/_internals/python_depends.json")  # excluded
    assert not bundle_filter.is_shipped("torch/include/ATen/ATen.h")  # dropped by the filter
    assert not bundle_filter.is_shipped("somepackage/data/table.json")  # nobody ships it


_IMPORT_ALL_WITHOUT_EXCLUDED = """
import importlib, importlib.machinery, json, pkgutil, sys
from pathlib import Path
BLOCKED = json.loads(sys.argv[1])

def blocked(name):
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)

class PathFinderWithout(importlib.machinery.PathFinder):
    # The excluded modules are as absent as in the bundle: not found on sys.path at all.
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if blocked(name) else super().find_spec(name, path, target)

sys.meta_path[:] = [
    PathFinderWithout if f is importlib.machinery.PathFinder else f for f in sys.meta_path
]
for name in [m for m in sys.modules if blocked(m)]:
    del sys.modules[name]  # e.g. _distutils_hack, imported by a .pth at start-up
import app, core
for package in (core, app):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(info.name)
from PySide6.QtWidgets import QApplication
qt_app = QApplication([sys.argv[0]])
from app.main import build_window
window = build_window(Path(sys.argv[2]) / "workspace", settings_path=Path(sys.argv[2]) / "s.ini")
window.grab()
window.close()
print("imported", len([m for m in sys.modules if m.split(".")[0] in ("app", "core")]))
"""


@pytest.mark.slow
def test_app_runs_without_the_excluded_modules(tmp_path):
    """Every app/ and core/ module imports, and the main window builds, with the recipe's
    excluded modules made unimportable: the bundle's missing-module failures, in seconds."""
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL_WITHOUT_EXCLUDED,
         json.dumps(bundle_filter.EXCLUDED_MODULES), str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("imported")


def test_no_excluded_module_is_imported_by_the_app():
    """A module the app imports must never be on the recipe's exclusion list."""
    excluded = set(bundle_filter.EXCLUDED_MODULES)
    offenders = []
    for source in [*ROOT.glob("app/**/*.py"), *ROOT.glob("core/**/*.py")]:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offenders += [f"{source.relative_to(ROOT)}: {n}" for n in names if n in excluded]
    assert not offenders, "update packaging/bundle_filter.py: " + ", ".join(offenders)
