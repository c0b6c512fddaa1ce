"""What the PyInstaller recipe leaves out of the bundle, and why (used by rlhf_studio.spec).

Two lists: modules PyInstaller must not follow (EXCLUDED_MODULES), and files it found
that the app never loads (dropped by `drop_unwanted` after the analysis). The self-test
of the built bundle is the proof that nothing needed went with them.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

# Qt modules the app does not use: QML/Quick, web engine, 3D, multimedia, charts, PDF,
# devices, SQL, designer, tests. Only QtCore, QtGui, QtWidgets, QtSvg (icons),
# QtOpenGL (pyqtgraph can draw with it), QtPrintSupport and QtDBus (Linux desktop
# integration) are kept.
_QT_UNUSED = [
    "QtQml", "QtQmlFeatures", "QtQuick", "QtQuickControls2", "QtQuickTest", "QtQuickWidgets",
    "QtQuick3D", "Qt3DCore", "Qt3DRender", "Qt3DInput", "Qt3DLogic", "Qt3DAnimation",
    "Qt3DExtras", "QtWebEngineCore", "QtWebEngineWidgets", "QtWebEngineQuick", "QtWebChannel",
    "QtWebSockets", "QtWebView", "QtHttpServer", "QtMultimedia", "QtMultimediaWidgets",
    "QtSpatialAudio", "QtTextToSpeech", "QtCharts", "QtDataVisualization", "QtGraphs",
    "QtGraphsWidgets", "QtPdf", "QtPdfWidgets", "QtBluetooth", "QtNfc", "QtPositioning",
    "QtLocation", "QtSensors", "QtSerialPort", "QtSerialBus", "QtRemoteObjects", "QtScxml",
    "QtStateMachine", "QtSql", "QtTest", "QtDesigner", "QtUiTools", "QtHelp", "QtNetworkAuth",
    "QtLabsStyleKit", "QtAxContainer", "QtXml", "QtConcurrent",
]  # fmt: skip

EXCLUDED_MODULES: list[str] = [
    *(f"PySide6.{name}" for name in _QT_UNUSED),
    # Other Qt bindings that qtpy/pyqtgraph would look for: the app runs on PySide6 only.
    "PyQt5", "PyQt6", "PySide2", "shiboken2",
    # The project's tests and the tools that run them.
    "tests", "pytest", "_pytest", "pytestqt", "pytest_timeout", "ruff", "pluggy", "iniconfig",
    # torch's TensorBoard writer and triton (GPU kernel compiler for torch.compile):
    # the app logs metrics to its own store and never calls torch.compile.
    "torch.utils.tensorboard", "tensorboard", "triton",
    # Interactive and plotting stacks some libraries import optionally.
    "IPython", "ipykernel", "jupyter_client", "notebook", "matplotlib", "tkinter", "_tkinter",
    "pyqtgraph.examples", "pyqtgraph.opengl", "pyqtgraph.jupyter", "OpenGL",
    # huggingface_hub's optional Xet transfer client (11 MB): hub downloads fall back to
    # plain HTTPS without it. And the libraries of the `hf`/`transformers` command-line
    # tools (typer, rich, pydantic...), which the app never runs. (pygments stays:
    # superqt imports it.)
    "hf_xet", "typer", "rich", "markdown_it", "mdurl", "shellingham", "click",
    "pydantic", "pydantic_core",
    # Hub kernels: bitsandbytes and transformers would fetch compiled code from the Hugging
    # Face Hub with it; the app makes it unimportable at start-up (core/quiet_libraries.py)
    # and both libraries fall back to their own kernels. Bundled, it failed on a missing
    # data file ("Cannot load dependency data, is `kernels` correctly installed?").
    "kernels",
    # Build tools that end up in the venv.
    "PyInstaller", "setuptools", "pip", "wheel", "distutils", "_distutils_hack",
]  # fmt: skip

# Data files read at run time that PyInstaller's hooks do not collect, by package (the
# spec adds them with collect_data_files), and the file that proves the need.
PACKAGE_DATA: dict[str, str] = {
    # peft writes a model card with every adapter it saves (ModelCard.from_template), so
    # without the template every checkpoint and adapter export fails in the bundle.
    "huggingface_hub": "huggingface_hub/templates/modelcard_template.md",
}

# Packages whose PyInstaller hooks (pyinstaller-hooks-contrib) already ship the files they
# read at run time, and how.
HOOK_COLLECTED: dict[str, str] = {
    # hook-torch collects torch's data files (inductor's templates, which bitsandbytes'
    # torch.compile decorators read at import).
    "torch": "hook-torch: collect_data_files",
    # hook-bitsandbytes collects its native libraries (loaded with ctypes).
    "bitsandbytes": "hook-bitsandbytes: collect_dynamic_libs",
    # A CUDA build of torch loads the CUDA libraries of the nvidia-* wheels with ctypes;
    # the analysis finds them as dependencies of torch's CUDA libraries (cuda variant only:
    # the CPU variant drops them, and build.sh refuses a CUDA torch for it).
    "nvidia": "binary dependencies of libtorch_cuda",
}


def is_shipped(path: str, variant: str = "cpu") -> bool:
    """Whether a file the app reads from site-packages (a '/'-separated path relative to it)
    is in the bundle: added by the spec (PACKAGE_DATA) or by a package's own hook, and not
    dropped by the filter or left out with an excluded module."""
    package = path.split("/", 1)[0]
    module = path.rsplit(".", 1)[0].replace("/", ".")
    excluded = any(module == m or module.startswith(m + ".") for m in EXCLUDED_MODULES)
    collected = path in PACKAGE_DATA.values() or package in HOOK_COLLECTED
    return collected and not excluded and not is_unwanted(path, patterns_for(variant))


# Files found by the analysis (binaries and data) that the app never loads.
_ALWAYS_DROPPED = [
    # torch's own test and example libraries.
    "torch/lib/libjitbackend_test.*", "torch/lib/libtorchbind_test.*",
    "torch/lib/libbackend_with_compiler.*", "torch/lib/libaoti_custom_ops.*",
    "torch/bin/*StoreTest", "torch/bin/protoc*", "torch/bin/*.ptl", "torch/include/*", "torch/share/cmake/*", "torch/test/*",
    # Qt libraries and plugins of the modules excluded above (pulled in as plugin deps).
    "*libQt6Qml*", "*libQt6Quick*", "*libQt6Pdf*", "*libQt6WebEngine*", "*libQt6Multimedia*",
    "*libQt6Designer*", "*libQt6Lottie*", "*libQt6Labs*", "*libQt6VirtualKeyboard*",
    "*libQt6Sql*", "*libQt6Test*", "*libQt6Help*", "*libQt6WaylandCompositor*",
    "*/Qt/plugins/qmltooling/*", "*/Qt/plugins/sqldrivers/*", "*/Qt/plugins/designer/*",
    "*/Qt/plugins/multimedia/*", "*/Qt/plugins/position/*", "*/Qt/plugins/sensors/*",
    "*/Qt/plugins/wayland-graphics-integration-server/*", "*/Qt/qml/*",
    "*/Qt/translations/qtwebengine*", "*/Qt/translations/designer*",
    "*/Qt/translations/linguist*", "*/Qt/translations/assistant*", "*/Qt/translations/qt_help*",
    # Byte-code caches and type stubs.
    "*__pycache__*", "*.pyi",
]  # fmt: skip

# CUDA, cuDNN, NCCL and friends: a CPU build never loads them (hundreds of MB to GBs).
_CUDA_ONLY = [
    "nvidia/*", "*libcudart*", "*libcublas*", "*libcudnn*", "*libcufft*", "*libcurand*",
    "*libcusolver*", "*libcusparse*", "*libnccl*", "*libnvrtc*", "*libnvJitLink*",
    "*libnvToolsExt*", "*libcupti*", "*libcufile*", "*libnvshmem*", "*libtorch_cuda*",
    "*libc10_cuda*", "*cudart64*", "*cublas64*", "*cudnn*", "triton/*",
    # bitsandbytes' CUDA builds (its hook collects every variant; the CPU one stays).
    "bitsandbytes/libbitsandbytes_cuda*",
]  # fmt: skip


def patterns_for(variant: str) -> list[str]:
    """Path patterns (bundle-relative, '/' separators) of files to drop for `variant`."""
    if variant not in ("cpu", "cuda"):
        raise ValueError(f"RLHF_STUDIO_VARIANT must be cpu or cuda, not {variant!r}")
    return _ALWAYS_DROPPED + (_CUDA_ONLY if variant == "cpu" else [])


def is_unwanted(dest_name: str, patterns: Iterable[str]) -> bool:
    """Whether a bundle path (as PyInstaller's TOC names it) matches any drop pattern."""
    path = dest_name.replace(os.sep, "/")
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def drop_unwanted(toc: list[tuple], variant: str, what: str) -> list[tuple]:
    """The TOC without the files the app never loads; prints how much went."""
    patterns = patterns_for(variant)
    kept, dropped_bytes, dropped = [], 0, 0
    for entry in toc:
        dest_name, src_name = entry[0], entry[1]
        if is_unwanted(dest_name, patterns):
            dropped += 1
            dropped_bytes += (
                os.path.getsize(src_name) if src_name and os.path.isfile(src_name) else 0
            )
        else:
            kept.append(entry)
    print(f"bundle_filter: dropped {dropped} {what} ({dropped_bytes / 2**20:.1f} MiB), "
          f"kept {len(kept)}")  # fmt: skip
    return kept


# torch's libraries keep their symbol tables (not needed to run; only for C++ backtraces).
# Other wheels' libraries are left alone: many were rewritten by patchelf (auditwheel),
# and `strip` corrupts those (numpy's OpenBLAS: "ELF load command ... not page-aligned").
TORCH_LIBRARIES_TO_STRIP = ["libtorch_cpu.so", "libtorch_python.so", "libc10.so"]


def strip_torch_libraries(internal: Path) -> None:
    """Strip the symbol tables of torch's big libraries in a collected bundle (Linux)."""
    strip = shutil.which("strip")
    if strip is None:
        print("bundle_filter: no `strip` here (binutils); torch's libraries stay unstripped")
        return
    before = after = 0
    for name in TORCH_LIBRARIES_TO_STRIP:
        path = internal / "torch" / "lib" / name
        if path.is_file():
            before += path.stat().st_size
            subprocess.run([strip, str(path)], check=True)
            after += path.stat().st_size
    print(
        f"bundle_filter: stripped torch's libraries, {before / 2**20:.0f} -> {after / 2**20:.0f} MiB"
    )
