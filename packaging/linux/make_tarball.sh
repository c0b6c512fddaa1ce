#!/usr/bin/env bash
# Pack the PyInstaller folder into a .tar.gz with a desktop entry, icons and an installer
# for the menu entry:  make_tarball.sh DIST/rlhf-studio ICON.png OUT.tar.gz
# Inside: rlhf-studio/{rlhf-studio, _internal/, share/, install-desktop-entry.sh, README.txt}
set -euo pipefail
BUNDLE=$1 ICON_PNG=$2 OUT=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=$(basename "$BUNDLE")
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# The extra files live in a small staging folder that tar merges into the bundle's folder.
mkdir -p "$STAGE/$NAME/share/applications" "$STAGE/$NAME/share/icons/hicolor/256x256/apps" \
    "$STAGE/$NAME/share/icons/hicolor/scalable/apps"
cp "$HERE/rlhf-studio.desktop" "$STAGE/$NAME/share/applications/"
cp "$ICON_PNG" "$STAGE/$NAME/share/icons/hicolor/256x256/apps/rlhf-studio.png"
# The app's own icon (resources/icons/app.svg, also the window icon) under the entry's name.
cp "$HERE/../../resources/icons/app.svg" "$STAGE/$NAME/share/icons/hicolor/scalable/apps/rlhf-studio.svg"
install -m 755 "$HERE/install-desktop-entry.sh" "$STAGE/$NAME/"
cat >"$STAGE/$NAME/README.txt" <<'TXT'
RLHF Studio for Linux (x86_64)

  ./rlhf-studio                    start the app
  ./rlhf-studio --self-test        check this copy works (headless, about a minute)
  ./rlhf-studio --cli --help       the headless command line (rlhf-studio-cli)
  ./install-desktop-entry.sh       add RLHF Studio to your application menu

Your workspaces and the demo model live in ~/.local/share/rlhf-studio (not here),
so this folder can be replaced by a newer version at any time.
If no window opens, see ~/.local/share/rlhf-studio/logs/startup-error.log, and make sure
the system has OpenGL and X11 client libraries (Debian/Ubuntu: sudo apt install libgl1 libegl1
libxkbcommon-x11-0 libfontconfig1 libdbus-1-3).
TXT

COMPRESS=gzip
command -v pigz >/dev/null 2>&1 && COMPRESS=pigz  # parallel gzip where available
tar --owner=0 --group=0 -cf - -C "$(dirname "$BUNDLE")" "$NAME" -C "$STAGE" "$NAME" |
    $COMPRESS -6 >"$OUT"
echo "wrote $OUT ($(du -h "$OUT" | cut -f1))"
