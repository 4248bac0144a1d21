#!/usr/bin/env bash
# One-step set-up of segviewer and its test tools into a virtual environment, .venv in the checkout.
#
#   bash packaging/setup.sh            # with /usr/bin/python3 where it exists, else python3
#   PYTHON=python3.12 bash packaging/setup.sh
#
# 1. As root on a Debian-like system: the system libraries Qt and VTK need, Xvfb for headless
#    GUI tests, desktop-file-utils, and python3-venv when the chosen Python cannot make a venv.
#    Skipped when they are all installed already, and for a normal user (install them yourself).
# 2. .venv with that Python (a venv, because Debian/Ubuntu/Fedora refuse `pip install` into the
#    system Python, PEP 668). pip inside it reads the same pip configuration as outside.
# 3. PyTorch 2.13.0 first, then held there by a constraint, so pip does not pull a different,
#    CUDA-sized build to satisfy the project's (or a dependency's) torch requirement. Then
#    segviewer itself, editable, with its test extra.
#    A stamp keyed on pyproject.toml makes a re-run skip both when nothing changed.
# 4. `segviewer` linked into /usr/local/bin (root) or ~/.local/bin (a normal user).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
STAMP="$VENV/.segviewer-setup"
TORCH_VERSION=2.13.0
if [ -z "${PYTHON:-}" ]; then
    # The system's Python, not whatever python3 (pyenv, conda) comes first on PATH: that is what a
    # stock machine has, so a green CI means a stock machine works.
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
APT_PACKAGES=(
    xvfb xauth libgl1 libegl1 libglu1-mesa libopengl0 libxkbcommon0 libxkbcommon-x11-0
    libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
    libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
    libfontconfig1 libfreetype6 libdbus-1-3 libxrender1 libxi6 libsm6 libice6 libxext6 libxt6
    desktop-file-utils shared-mime-info
    orthanc orthanc-dicomweb  # a real DICOMweb server for the PACS tests (tests/pacs)
    dicom3tools  # dciodvfy: the tests validate every DICOM-SEG / RT Structure Set written
)

say() { echo "setup: $*"; }
fail() { echo "setup: error: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = "0" ]; }
can_apt() { is_root && command -v apt-get >/dev/null 2>&1; }
can_make_venv() { "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; }

apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
}

command -v "$PYTHON" >/dev/null 2>&1 || fail "no Python at '$PYTHON' (PYTHON=... chooses one)"
"$PYTHON" -c "import sys; sys.exit(sys.version_info < (3, 10))" \
    || fail "$PYTHON is $("$PYTHON" --version 2>&1); segviewer needs Python 3.10 or newer (PYTHON=... chooses one)"

# 1. System packages.
if can_apt; then
    extra=()
    can_make_venv || extra+=(python3-venv)
    apt_install "${APT_PACKAGES[@]}" "${extra[@]}"
else
    say "not root or no apt-get; skipping system packages (Qt/VTK need libGL and libxcb-*, the tests Xvfb)"
fi
can_make_venv || fail "$PYTHON cannot make a virtual environment; install python3-venv (as root: apt-get install python3-venv)"

# 2. The virtual environment; made again when it is broken or was made with another Python.
base_of() { "$1" -c "import os, sys; print(os.path.realpath(getattr(sys, '_base_executable', sys.executable)))"; }
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1 \
        && [ "$(base_of "$VENV/bin/python")" = "$(base_of "$PYTHON")" ]; then
    say "using $VENV"
else
    say "making $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi

# 3. PyTorch, then segviewer; skipped when the stamp says this pyproject.toml is installed.
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) torch==$TORCH_VERSION $ROOT"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] && "$VENV/bin/python" -m pip show -q segviewer >/dev/null 2>&1; then
    say "segviewer is installed and pyproject.toml is unchanged; skipping pip"
else
    rm -f "$STAMP"
    say "installing torch $TORCH_VERSION, then segviewer with its test extra (pip, a few minutes)"
    "$VENV/bin/python" -m pip install --quiet "torch==$TORCH_VERSION"
    # Held at that version while the rest resolves: without the constraint, a dependency that
    # wants the newest torchvision (the test extra's nnunetv2 -> timm) makes pip replace torch.
    echo "torch==$TORCH_VERSION" > "$VENV/torch-constraint.txt"
    "$VENV/bin/python" -m pip install --quiet -c "$VENV/torch-constraint.txt" -e ".[test]"
    echo "$wanted" > "$STAMP"
fi

# 4. Make `segviewer` reachable. An existing file that is not a link is someone else's: left alone.
if is_root; then BIN_DIR=/usr/local/bin; else BIN_DIR="$HOME/.local/bin"; fi
mkdir -p "$BIN_DIR"
if [ -e "$BIN_DIR/segviewer" ] && [ ! -L "$BIN_DIR/segviewer" ]; then
    say "warning: $BIN_DIR/segviewer exists and is not a link; left as it is (run $VENV/bin/segviewer)"
else
    ln -sfn "$VENV/bin/segviewer" "$BIN_DIR/segviewer"
fi
case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) say "hint: $BIN_DIR is not on your PATH; add it (export PATH=\"$BIN_DIR:\$PATH\" in ~/.profile) or run $VENV/bin/segviewer" ;;
esac
say "done. Run 'segviewer' to open the demo."
