#!/usr/bin/env bash
# Build the one-folder application bundle that needs no Python:
#
#   bash packaging/build_bundle.sh      ->  dist/segviewer-VERSION-linux-ARCH.tar.gz
#
# Uses the set-up's .venv (made by packaging/setup.sh when missing) with PyInstaller added, runs
# packaging/segviewer.spec, and packs the folder with a README.txt and links to the demo, the
# bundled model and the licences. The archive is written under a temporary name and renamed, so
# dist/ holds either a complete archive or none. Unpack anywhere and run ./segviewer.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash packaging/setup.sh
PY=.venv/bin/python
"$PY" -m pip show -q pyinstaller >/dev/null 2>&1 || "$PY" -m pip install --quiet "pyinstaller>=6.0"
VERSION=$("$PY" -c "import segviewer; print(segviewer.__version__)")
NAME="segviewer-$VERSION-linux-$(uname -m)"
WORK=build/bundle
ARCHIVE="dist/$NAME.tar.gz"

rm -rf "$WORK"
mkdir -p "$WORK" dist
echo "build_bundle: PyInstaller (several minutes)"
"$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$WORK/dist" --workpath "$WORK/work" packaging/segviewer.spec
APP="$WORK/dist/segviewer"
ln -s _internal/resources/demo "$APP/demo"
ln -s _internal/resources/models "$APP/models"
ln -s _internal/licenses "$APP/licenses"
cp packaging/bundle-README.txt "$APP/README.txt"
mv "$APP" "$WORK/$NAME"
trap 'rm -f "$ARCHIVE.partial"' EXIT  # an interrupted build leaves no half archive
echo "build_bundle: packing $ARCHIVE ($(du -sh "$WORK/$NAME" | cut -f1) unpacked)"
tar -C "$WORK" -czf "$ARCHIVE.partial" "$NAME"
mv "$ARCHIVE.partial" "$ARCHIVE"
echo "build_bundle: done: $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1)); unpacked in $WORK/$NAME"
