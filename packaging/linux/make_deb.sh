#!/usr/bin/env bash
# Build a .deb from the PyInstaller folder with dpkg-deb (no Debian source package needed):
#   make_deb.sh DIST/rlhf-studio ICON.png VERSION STAGE_DIR OUT.deb
# Installs /opt/rlhf-studio/, /usr/bin/rlhf-studio (+ rlhf-studio-cli), the desktop entry
# and icons. DEB_COMPRESSION (xz|zstd|gzip, default xz) trades build time for size.
set -euo pipefail
BUNDLE=$1 ICON_PNG=$2 VERSION=$3 STAGE=$4 OUT=$5
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ARCH=$(dpkg --print-architecture)
MAINTAINER=${DEB_MAINTAINER:-RLHF Studio maintainers <rlhf-studio@users.noreply.github.com>}

rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/usr/share/icons/hicolor/scalable/apps" \
    "$STAGE/usr/share/doc/rlhf-studio"
# Hard links, not copies: the bundle is large and the stage is thrown away.
cp -al "$BUNDLE" "$STAGE/opt/rlhf-studio" 2>/dev/null || cp -a "$BUNDLE" "$STAGE/opt/rlhf-studio"
ln -s /opt/rlhf-studio/rlhf-studio "$STAGE/usr/bin/rlhf-studio"
printf '#!/bin/sh\nexec /opt/rlhf-studio/rlhf-studio --cli "$@"\n' >"$STAGE/usr/bin/rlhf-studio-cli"
chmod 755 "$STAGE/usr/bin/rlhf-studio-cli"
cp "$HERE/rlhf-studio.desktop" "$STAGE/usr/share/applications/"
cp "$ICON_PNG" "$STAGE/usr/share/icons/hicolor/256x256/apps/rlhf-studio.png"
cp "$HERE/../../resources/icons/app.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/rlhf-studio.svg"
printf 'RLHF Studio %s\nLicense: Apache-2.0\n' "$VERSION" >"$STAGE/usr/share/doc/rlhf-studio/copyright"

# Depends: the system libraries the bundle links to but does not ship (PyInstaller leaves
# out libc, OpenGL/EGL and the X11/Wayland client libraries on purpose: they must match
# the user's system). Qt's xcb platform plugin needs the libxcb-* helpers. The list lives
# in app/system_check.py, which the app's start-up check reads too (one list, not two).
DEPENDS=$("${PYTHON:-python3}" "$HERE/../../app/system_check.py" --deb-depends)
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: rlhf-studio
Version: $VERSION
Section: science
Priority: optional
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(du -sk "$STAGE" | cut -f1)
Depends: $DEPENDS
Description: desktop studio for small-scale RLHF experiments
 Load a causal language model, generate completions, compare them side by
 side, rate them by hand or have an AI score them, train a reward model and
 run LoRA PPO in the background while live plots show reward and KL.
 This package bundles its own Python, Qt and a CPU build of PyTorch.
CONTROL
if [[ $(basename "$OUT") == *cuda* ]]; then
    sed -i 's/a CPU build of PyTorch/a CUDA build of PyTorch (needs an NVIDIA driver)/' \
        "$STAGE/DEBIAN/control"
fi
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$STAGE" "$OUT" >/dev/null
rm -rf "$STAGE"
echo "wrote $OUT ($(du -h "$OUT" | cut -f1))"
