#!/bin/sh
# Add RLHF Studio (this unpacked folder) to your desktop's application menu, for you only.
#   ./install-desktop-entry.sh             add the menu entry and icon
#   ./install-desktop-entry.sh --remove    remove them again
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
ENTRY=$DATA/applications/rlhf-studio.desktop
PNG=$DATA/icons/hicolor/256x256/apps/rlhf-studio.png
SVG=$DATA/icons/hicolor/scalable/apps/rlhf-studio.svg

if [ "${1:-}" = "--remove" ]; then
    rm -f "$ENTRY" "$PNG" "$SVG"
    echo "Removed the RLHF Studio menu entry."
    exit 0
fi
mkdir -p "$(dirname "$ENTRY")" "$(dirname "$PNG")" "$(dirname "$SVG")"
cp "$HERE/share/icons/hicolor/256x256/apps/rlhf-studio.png" "$PNG"
cp "$HERE/share/icons/hicolor/scalable/apps/rlhf-studio.svg" "$SVG"
# The entry points at this folder's executable (quoted: the path may hold spaces).
sed -e "s|^Exec=.*|Exec=\"$HERE/rlhf-studio\"|" -e "s|^TryExec=.*|TryExec=$HERE/rlhf-studio|" \
    "$HERE/share/applications/rlhf-studio.desktop" >"$ENTRY"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$(dirname "$ENTRY")" || true
echo "Added RLHF Studio to the application menu: $ENTRY"
