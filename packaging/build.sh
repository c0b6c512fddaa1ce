#!/usr/bin/env bash
# Build RLHF Studio's desktop bundle from a fresh clone: a PyInstaller one-folder app
# (dist/rlhf-studio/), then the Linux deliverables (a .tar.gz with a desktop entry and
# icon, and a .deb), then run the frozen app's --self-test.
#
#   packaging/build.sh                   # CPU build (torch==2.13.0 CPU), all deliverables
#   packaging/build.sh --no-self-test    # skip running the bundle's --self-test
#   packaging/build.sh --bundle-only     # only dist/rlhf-studio/ (no .tar.gz, no .deb)
#   packaging/build.sh --latest          # the newest packages pyproject allows, not the lock
#   EXTRAS=package,quant,tensorboard,bench,test packaging/build.sh   # with every extra
#   VARIANT=cuda TORCH_SPEC=torch==2.13.0 \
#     TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cu126" packaging/build.sh
#
# Environment: PYTHON (interpreter for the build venv, default python3), VARIANT (cpu|cuda),
# TORCH_SPEC (default torch==2.13.0), TORCH_PIP_ARGS (extra pip args for torch only, e.g.
# "--index-url https://download.pytorch.org/whl/cpu" where PyPI would serve a CUDA wheel),
# BUILD_DIR (default build/package; the venv and PyInstaller's work files go there),
# EXTRAS (the project's extras in the build venv, default "package": PyInstaller).
# The build venv installs the versions of requirements-dev.lock (the ones the test suite
# passed with) unless --latest.
# Docs: docs/packaging.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
VARIANT=${VARIANT:-cpu}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_PIP_ARGS=${TORCH_PIP_ARGS:-}
BUILD=${BUILD_DIR:-$ROOT/build/package}
VENV=$BUILD/venv-$VARIANT
DIST=$ROOT/dist
APP=rlhf-studio

EXTRAS=${EXTRAS:-package}
LOCK=$ROOT/requirements-dev.lock

SELF_TEST=1
DELIVERABLES=1
for arg in "$@"; do
    case $arg in
        --no-self-test) SELF_TEST=0 ;;
        --bundle-only) DELIVERABLES=0 ;;
        --latest) LOCK= ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
    esac
done
case $VARIANT in cpu | cuda) ;; *) echo "build.sh: VARIANT must be cpu or cuda" >&2; exit 2 ;; esac

now() { date +%s; }
T0=$(now)
mkdir -p "$BUILD" "$DIST"

# 1. The build venv. torch goes in first so that the project's "torch>=2.3" is already
#    met by the variant we asked for (pip would otherwise pick PyPI's default wheel).
STAMP=$VENV/.stamp
CONSTRAINTS=()
[[ -n $LOCK ]] && CONSTRAINTS=(-c "$LOCK")
WANT="$TORCH_SPEC $TORCH_PIP_ARGS [$EXTRAS] $(cksum <"$ROOT/pyproject.toml") ${LOCK:+$(cksum <"$LOCK")}"
[[ -z $LOCK ]] && WANT="$WANT latest $(date +%F)"
if [[ ! -f $STAMP || $(cat "$STAMP") != "$WANT" ]]; then
    echo "== build venv: $VENV ($TORCH_SPEC)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q "${CONSTRAINTS[@]}" --upgrade pip
    # shellcheck disable=SC2086  # TORCH_PIP_ARGS is a list of words on purpose
    "$VENV/bin/python" -m pip install -q "$TORCH_SPEC" $TORCH_PIP_ARGS
    # Editable: PyInstaller reads app/, core/ and resources/ from the clone (pathex in the spec).
    "$VENV/bin/python" -m pip install -q "${CONSTRAINTS[@]}" -e "$ROOT[$EXTRAS]"
    "$VENV/bin/python" -m pip freeze --exclude-editable >"$VENV/versions.txt"
    # PyInstaller needs Pillow to turn the PNG icon into .icns (macOS).
    if [[ $(uname -s) == Darwin ]]; then "$VENV/bin/python" -m pip install -q pillow; fi
    echo "$WANT" >"$STAMP"
fi
CUDA=$("$VENV/bin/python" -c "import torch; print(torch.version.cuda or '')")
if [[ $VARIANT == cpu && -n $CUDA ]]; then
    echo "build.sh: the build venv has a CUDA torch ($CUDA) but VARIANT=cpu. Rerun with" >&2
    echo "  TORCH_PIP_ARGS='--index-url https://download.pytorch.org/whl/cpu' $0" >&2
    exit 1
fi
T_VENV=$(now)

# Qt's xcb platform plugin links these; PyInstaller bundles them only if they are here.
if [[ $(uname -s) == Linux ]] && command -v ldconfig >/dev/null; then
    for lib in libxcb-cursor.so.0 libxcb-icccm.so.4 libxcb-keysyms.so.1; do
        ldconfig -p | grep -q "$lib" || echo "build.sh: warning: $lib is not installed here, so" \
            "the bundle will not ship it (sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1)" >&2
    done
fi

# 2. The icon as PNG (rendered from the SVG with Qt: no image tools needed).
ICON_PNG=$BUILD/$APP.png
QT_QPA_PLATFORM=offscreen "$VENV/bin/python" "$ROOT/packaging/render_icon.py" \
    "$ROOT/resources/icons/app.svg" "$ICON_PNG" 256

# 3. The one-folder bundle.
echo "== PyInstaller ($VARIANT)"
rm -rf "${DIST:?}/$APP"
RLHF_STUDIO_VARIANT=$VARIANT RLHF_STUDIO_ICON=$ICON_PNG \
    "$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$DIST" --workpath "$BUILD/work-$VARIANT" "$ROOT/packaging/rlhf_studio.spec"
T_BUNDLE=$(now)

# 4. Installers: .tar.gz and .deb on Linux, .dmg on macOS (Windows: docs/packaging.md).
VERSION=$("$VENV/bin/python" -c "import core; print(core.__version__)")
TAG=$([[ $VARIANT == cuda ]] && echo -cuda || true)
if [[ $DELIVERABLES == 1 && $(uname -s) == Linux ]]; then
    echo "== .tar.gz and .deb"
    bash "$ROOT/packaging/linux/make_tarball.sh" "$DIST/$APP" "$ICON_PNG" \
        "$DIST/$APP-$VERSION-linux-$(uname -m)$TAG.tar.gz"
    if command -v dpkg-deb >/dev/null; then
        bash "$ROOT/packaging/linux/make_deb.sh" "$DIST/$APP" "$ICON_PNG" "$VERSION" \
            "$BUILD/deb" "$DIST/${APP}${TAG}_${VERSION}_$(dpkg --print-architecture).deb"
    else
        echo "no dpkg-deb here: skipped the .deb"
    fi
elif [[ $DELIVERABLES == 1 && $(uname -s) == Darwin ]]; then
    echo "== .dmg"
    hdiutil create -volname "RLHF Studio" -srcfolder "$DIST/RLHF Studio.app" -ov \
        -format UDZO "$DIST/RLHF-Studio-$VERSION-macos-$(uname -m)$TAG.dmg"
fi
T_DELIV=$(now)

# 5. The frozen app checks itself: headless, demo model, one pair, one PPO step.
if [[ $SELF_TEST == 1 ]]; then
    echo "== $DIST/$APP/$APP --self-test"
    "$DIST/$APP/$APP" --self-test
fi
T_END=$(now)

echo "== summary"
echo "venv setup:        $((T_VENV - T0)) s"
echo "bundle (PyInst.):  $((T_BUNDLE - T_VENV)) s"
echo "tar.gz + .deb:     $((T_DELIV - T_BUNDLE)) s"
echo "self-test:         $((T_END - T_DELIV)) s"
echo "total:             $((T_END - T0)) s"
du -sh "$DIST/$APP"
ls -l "$DIST"/*.tar.gz "$DIST"/*.deb 2>/dev/null || true
