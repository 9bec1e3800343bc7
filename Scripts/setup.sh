#!/usr/bin/env bash
# Installs the Debian packages cllm needs, only those that are missing; running it again changes nothing.
#
#   Scripts/setup.sh                 # libjemalloc-dev, fortunes, pkg-config, binutils
#   Scripts/setup.sh python3-venv    # the same, plus any packages named
#
# libjemalloc-dev: cllm links jemalloc (per-sphere arenas). pkg-config: how SwiftPM finds it.
# fortunes: the default training corpus, /usr/share/games/fortunes. binutils: readelf, with which a test
# checks the AVX-512 module's symbols (Swift's linker needs binutils anyway).
# Runs as root (CI) or through sudo. Swift itself (6.1 or later) is not installed here: see README.md.
set -euo pipefail

packages=(libjemalloc-dev fortunes pkg-config binutils "$@")

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: no dpkg/apt-get here; install these yourself: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup: missing packages ${missing[*]}, and neither root nor sudo is available to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  # A fresh machine has no package lists yet.
  "${as_root[@]}" apt-get update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: ${packages[*]} already installed"
fi

if ! command -v swift >/dev/null 2>&1 && [[ ! -x /opt/swift/usr/bin/swift ]]; then
  echo "setup: swift is not on PATH (nor in /opt/swift/usr/bin); install Swift 6.1 or later: https://www.swift.org/install/linux/" >&2
  exit 1
fi
