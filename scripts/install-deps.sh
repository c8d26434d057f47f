#!/usr/bin/env bash
# Installs the Debian 12 packages adaptis builds and tests with. Safe to re-run.
# CUDA (optional) is not installed here: it is detected at /usr/local/cuda when present.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config ccache
  nlohmann-json3-dev libcli11-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libncurses-dev tmux
  libopenmpi-dev openmpi-bin
  libimgui-dev libglfw3-dev libstb-dev libgl-dev xvfb xauth
  fonts-inter fonts-jetbrains-mono
  python3 python3-venv
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
