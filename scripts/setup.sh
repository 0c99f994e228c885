#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for kqubes: system packages, npm dependencies, the addon, the
# TypeScript build and the guest images (kernel + test initramfs, cached outside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { [ "$(id -u)" = 0 ] || { echo "setup: run as root (apt-get install needs it), e.g. sudo bash scripts/setup.sh" >&2; exit 1; }; }

PKGS=(qemu-system-x86 busybox-static cpio socat e2fsprogs xz-utils zstd g++ make python3)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  need_root
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# apt-get download of the kernel needs current package lists
if [ -z "$(apt-cache depends linux-image-amd64 2>/dev/null | grep -o 'linux-image-[0-9][^ ]*-amd64' | head -n1)" ]; then
  need_root
  apt-get update -qq
fi

echo "setup: npm ci"
npm ci --no-audit --no-fund
echo "setup: prebuilding the addon"
npm run --silent prebuildify
echo "setup: compiling TypeScript"
npm run --silent build
echo "setup: building guest images"
npm run --silent images
