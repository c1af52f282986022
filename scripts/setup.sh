#!/usr/bin/env bash
# Sets kmodseal up on a Debian 12 machine, in one of two tiers. Idempotent: quick when
# everything is present. Debian packages are installed as root with --no-install-recommends.
#
#   scripts/setup.sh           what kmodseal itself needs (npm run demo): the Node packages, the
#                              optional native addons when a C compiler is present (their
#                              TypeScript fallbacks give the same answers otherwise), the build,
#                              two Debian kernel packages; Debian packages: kmod (depmod, run on
#                              the unpacked packages as their postinst would) and systemd-boot-efi
#                              (the systemd-stub `uki build` wraps a kernel in) - nothing else
#   scripts/setup.sh --tests   also what the tests use (npm test): the anchor tools the tests
#                              compare with, the whole kernel package corpus, Debian's shim,
#                              GRUB and systemd-boot EFI binaries (scripts/fetch-efi.sh), newer
#                              liblzma and libcrypto for the native fast paths, the BTF oracle and the test
#                              kernel kit (testkernel/build.sh; KMODSEAL_TESTKERNEL names a ready
#                              kit instead)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tests=0
[ "${1:-}" = --tests ] && tests=1

debs=(kmod systemd-boot-efi)
# the test tier, each for what uses it: anchors (modinfo, depmod, sign-file, bpftool, sbsign (under faketime),
# sbverify, sbattach, osslsigncode, efitools' signature lists, ukify's python3-pefile, openssl, diffoscope,
# readelf/objcopy and arm64's objcopy), compressors (xz, zstd, lz4), the PKCS#11 HSM
# (SoftHSM2, pkcs11-tool, the OpenSSL engine sign-file uses),
# qemu, OVMF, mtools and the initramfs the e2e tests boot, Chromium for the HTML report, the headers the native
# addons and the BTF oracle build against, and the test kernel kit's build tools
[ $tests = 1 ] && debs+=(xz-utils zstd lz4 binutils openssl linux-kbuild-6.1 bpftool sbsigntool faketime osslsigncode efitools python3-pefile binutils-aarch64-linux-gnu diffoscope-minimal
  softhsm2 opensc libengine-pkcs11-openssl qemu-system-x86 ovmf mtools busybox-static cpio chromium
  gcc make libc6-dev liblzma-dev libssl-dev libelf-dev zlib1g-dev flex bison bc dwarves)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2; }
  install || { apt-get update -qq -o DPkg::Lock::Timeout=300 >&2 && install; }
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
if [ $tests = 1 ]; then
  bash scripts/build-liblzma.sh
  bash scripts/build-openssl.sh
fi
bash scripts/build-native.sh
npm run build --silent
if [ $tests = 1 ]; then
  bash scripts/fetch-kernels.sh >/dev/null
  bash scripts/fetch-efi.sh >/dev/null
  bash scripts/fetch-ukify.sh >/dev/null
  bash scripts/build-btf-oracle.sh
  [ -n "${KMODSEAL_TESTKERNEL:-}" ] || bash testkernel/build.sh >/dev/null
else
  bash scripts/fetch-kernels.sh --only amd64-6.12 amd64-6.12-prev >/dev/null
fi
