#!/usr/bin/env bash
# Installs everything the tests, demo and benchmarks need on a fresh Debian 12 machine:
# Debian tools (as root), npm packages, the optional native xz fast path, the build,
# and the cached Debian kernel packages. Idempotent; quick when everything is present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

debs=(kmod xz-utils zstd binutils openssl dpkg liblzma-dev libssl-dev libelf-dev zlib1g-dev pkg-config bpftool sbsigntool osslsigncode systemd-boot-efi qemu-system-x86 busybox-static cpio gcc libc6-dev chromium linux-kbuild-6.1 softhsm2 opensc libengine-pkcs11-openssl diffoscope-minimal)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq -o DPkg::Lock::Timeout=300 >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
bash scripts/build-liblzma.sh
bash scripts/build-openssl.sh
bash scripts/build-native.sh
npm run build --silent
bash scripts/fetch-kernels.sh >/dev/null
bash scripts/build-btf-oracle.sh
