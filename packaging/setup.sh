#!/usr/bin/env bash
# One-step set-up of segviewer and its test tools on a fresh Debian/Ubuntu machine.
#
#   bash packaging/setup.sh
#
# 1. System libraries Qt and VTK need, and Xvfb for headless GUI tests (apt-get, when run as
#    root on a Debian-like system; skipped elsewhere).
# 2. PyTorch 2.13.0 first: installing it before the project keeps pip from pulling a
#    different, CUDA-sized build to satisfy the torch requirement.
# 3. The project itself, editable, with its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        xvfb xauth libgl1 libegl1 libglu1-mesa libopengl0 libxkbcommon0 libxkbcommon-x11-0 \
        libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 \
        libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0 \
        libfontconfig1 libfreetype6 libdbus-1-3 libxrender1 libxi6 libsm6 libice6 libxext6 libxt6 \
        > /dev/null
else
    echo "setup: not root or no apt-get; skipping system packages (Qt/VTK need libGL, libxcb-*, Xvfb for tests)"
fi

"$PYTHON" -m pip install --quiet torch==2.13.0
"$PYTHON" -m pip install --quiet -e ".[test]"
echo "setup: done. Run 'segviewer' to open the demo."
