"""Can Qt start here? A fast check, before any Qt import, of what Qt would otherwise die on.

On Linux, Qt's platform plugin aborts the whole process (qFatal: "no Qt platform plugin
could be initialized … Aborted", exit 134) when there is no display or when a system
library that the xcb (X11) plugin links against is missing; nothing can catch that. So
`problem()` looks first, using only the standard library: the display variables, then
the system libraries by their exact file names, loaded the way Qt's own loader would.
It returns one line naming what is missing and how to install it (Debian/Ubuntu package
names), or how to run headless. macOS and Windows ship what Qt needs: never checked.

The library table below is the one list of those system packages: the .deb built by
packaging/linux/make_deb.sh declares them as Depends (`python3 app/system_check.py
--deb-depends`), and the README's "System packages (Linux)" note names them.

The table follows what PySide6 6.12's Qt links against (`readelf -d` of
plugins/platforms/libqxcb.so, libqwayland.so, lib/libQt6XcbQpa.so.6, libQt6Gui.so.6,
libQt6DBus.so.6), leaving out what every Linux system has (libc, libstdc++, zlib).

This module is stdlib-only and imports nothing of the app, so it also runs as a script.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

GUI = "gui"
XCB = "xcb"
WAYLAND = "wayland"

SYSTEM_LIBRARIES: tuple[tuple[str, str, str], ...] = (
    # (file name, Debian/Ubuntu package, which part of Qt needs it)
    ("libGL.so.1", "libgl1", GUI),
    ("libEGL.so.1", "libegl1", GUI),
    ("libfontconfig.so.1", "libfontconfig1", GUI),
    ("libfreetype.so.6", "libfreetype6", GUI),
    ("libglib-2.0.so.0", "libglib2.0-0", GUI),
    ("libgthread-2.0.so.0", "libglib2.0-0", GUI),
    ("libdbus-1.so.3", "libdbus-1-3", GUI),
    ("libX11.so.6", "libx11-6", GUI),
    ("libxkbcommon.so.0", "libxkbcommon0", GUI),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", XCB),
    ("libX11-xcb.so.1", "libx11-xcb1", XCB),
    ("libxcb.so.1", "libxcb1", XCB),
    ("libxcb-cursor.so.0", "libxcb-cursor0", XCB),  # needed since Qt 6.5
    ("libxcb-icccm.so.4", "libxcb-icccm4", XCB),
    ("libxcb-image.so.0", "libxcb-image0", XCB),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1", XCB),
    ("libxcb-randr.so.0", "libxcb-randr0", XCB),
    ("libxcb-render.so.0", "libxcb-render0", XCB),
    ("libxcb-render-util.so.0", "libxcb-render-util0", XCB),
    ("libxcb-shape.so.0", "libxcb-shape0", XCB),
    ("libxcb-shm.so.0", "libxcb-shm0", XCB),
    ("libxcb-sync.so.1", "libxcb-sync1", XCB),
    ("libxcb-util.so.1", "libxcb-util1", XCB),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0", XCB),
    ("libxcb-xkb.so.1", "libxcb-xkb1", XCB),
    ("libwayland-client.so.0", "libwayland-client0", WAYLAND),
    ("libwayland-cursor.so.0", "libwayland-cursor0", WAYLAND),
)

DEB_BASE_DEPENDS = ("libc6 (>= 2.28)",)
"""What the .deb needs besides SYSTEM_LIBRARIES' packages (the bundle's own Python)."""

DISPLAY_VARIABLE = {XCB: "DISPLAY", WAYLAND: "WAYLAND_DISPLAY"}
"""The environment variable naming each windowing platform's display."""

HEADLESS_HINT = "or run headless with QT_QPA_PLATFORM=offscreen"

SKIP_VARIABLE = "RLHF_STUDIO_SKIP_SYSTEM_CHECK"
"""Set to 1 to start without the check (should it ever misjudge a system)."""


def packages(parts: tuple[str, ...] = (GUI, XCB, WAYLAND)) -> list[str]:
    """The Debian/Ubuntu packages providing the libraries of `parts`, in table order."""
    found: list[str] = []
    for _name, package, part in SYSTEM_LIBRARIES:
        if part in parts and package not in found:
            found.append(package)
    return found


def deb_depends() -> str:
    """The .deb control file's Depends value."""
    return ", ".join([*DEB_BASE_DEPENDS, *packages()])


def problem(
    environ: Mapping[str, str] | None = None,
    loads: Callable[[str], bool] | None = None,
) -> str | None:
    """One line saying why Qt's GUI cannot start here and what to do; None if it can.

    `environ` defaults to os.environ and `loads` (file name -> loadable) to
    `library_loads`; tests pass their own.
    """
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or environ.get(SKIP_VARIABLE) == "1":
        return None
    loads = library_loads if loads is None else loads
    missing_gui = _missing(GUI, loads)
    if missing_gui:
        return _missing_message("Qt's GUI libraries", missing_gui)
    candidates = _windowing_platforms(environ)
    if not candidates:
        return None  # offscreen, minimal, vnc, eglfs…: no display, no xcb needed
    with_display = [part for part in candidates if environ.get(DISPLAY_VARIABLE[part])]
    if not with_display:
        return (
            "No graphical display found (DISPLAY and WAYLAND_DISPLAY are unset): start "
            f"RLHF Studio from a desktop session, {HEADLESS_HINT} (or use the CLI: "
            "rlhf-studio-cli --help)."
        )
    missing_by_part = {part: _missing(part, loads) for part in with_display}
    if any(not missing for missing in missing_by_part.values()):
        return None  # Qt tries the platforms in turn; one of them will start
    part = XCB if XCB in missing_by_part else with_display[0]
    what = "Qt's X11 (xcb) platform plugin" if part == XCB else "Qt's Wayland platform plugin"
    return _missing_message(what, missing_by_part[part])


def _windowing_platforms(environ: Mapping[str, str]) -> list[str]:
    """The windowing platforms Qt will try (xcb, wayland), in order; [] when headless."""
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        # "wayland;xcb" lists fallbacks; "xcb:option=value" carries plugin options.
        names = [item.split(":")[0].strip().lower() for item in chosen.split(";")]
        return [name for name in names if name in DISPLAY_VARIABLE]
    if environ.get("WAYLAND_DISPLAY") or environ.get("XDG_SESSION_TYPE") == "wayland":
        return [WAYLAND, XCB]  # Qt prefers Wayland in a Wayland session, X11 after it
    return [XCB]


def _missing(part: str, loads: Callable[[str], bool]) -> list[tuple[str, str]]:
    return [
        (name, package)
        for name, package, which in SYSTEM_LIBRARIES
        if which == part and not loads(name)
    ]


def _missing_message(what: str, missing: list[tuple[str, str]]) -> str:
    files = ", ".join(name for name, _package in missing)
    wanted = list(dict.fromkeys(package for _name, package in missing))
    return (
        f"{what} needs system libraries that are missing ({files}): install them with "
        f"`sudo apt install {' '.join(wanted)}` (Debian/Ubuntu; elsewhere the packages "
        f"providing these files), {HEADLESS_HINT}."
    )


def library_loads(name: str) -> bool:
    """Whether the shared library file `name` is found the way Qt's loader finds it."""
    if any((folder / name).is_file() for folder in _bundled_library_folders()):
        return True  # shipped next to Qt (a frozen bundle, or a wheel that vendors it)
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def _bundled_library_folders() -> list[Path]:
    """Folders whose libraries Qt finds by its RUNPATH: PySide6's Qt/lib, the bundle."""
    folders = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        folders += [Path(bundle), Path(bundle) / "PySide6" / "Qt" / "lib"]
    try:
        spec = importlib.util.find_spec("PySide6")  # finds without importing Qt
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(place) / "Qt" / "lib" for place in spec.submodule_search_locations]
    # A conda-style environment keeps its own X11/xcb libraries in <prefix>/lib.
    folders += [Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"]
    return folders


if __name__ == "__main__":
    # packaging/linux/make_deb.sh: python3 app/system_check.py --deb-depends
    if sys.argv[1:] == ["--deb-depends"]:
        print(deb_depends())
    else:
        print(problem() or "ok: Qt can start here")
