#!/usr/bin/env bash
# Builds the optional native fast paths, each skipped when its headers are missing:
#   kmodseal_io      native/io.c, positional file reads (no library; always built); without it
#                    node:fs reads, only slower;
#   kmodseal_modinfo native/modinfo.c, inspect's modinfo text for well-formed plain .ko on all
#                    cores (no library; always built); without it the TypeScript path renders
#                    every module, only slower;
#   kmodseal_xz      native/xz.c against the system liblzma (liblzma-dev); without it .ko.xz
#                    goes through lzma-native, only slower;
#   kmodseal_unxz    native/xz.c's decoder alone, linked statically against the newer liblzma
#                    scripts/build-liblzma.sh leaves in .cache/liblzma (when it is there);
#                    without it kmodseal_xz (or lzma-native) decodes, only slower;
#   kmodseal_crypto  native/crypto.c, module signatures by the system libcrypto (libssl-dev),
#                    or by the newer one scripts/build-openssl.sh leaves in .cache/openssl
#                    (when it is there); without it node:crypto signs (same signatures, slower).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
xz=1 crypto=1
[ -f /usr/include/lzma.h ] || { xz=0; echo "build-native: liblzma-dev missing; skipping the native xz fast path" >&2; }
[ -f /usr/include/openssl/evp.h ] || { crypto=0; echo "build-native: libssl-dev missing; skipping the native signer" >&2; }
static=""
[ -f "$root/.cache/liblzma/lib/liblzma.a" ] && static="$root/.cache/liblzma"
libcrypto=""
[ -f "$root/.cache/openssl/lib/libcrypto.so.3" ] && libcrypto="$root/.cache/openssl/lib/libcrypto.so.3"
gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
[ -f "$gyp" ] || { echo "build-native: node-gyp not found; skipping" >&2; exit 0; }
cd "$root/native"
# nothing to do when the addons were built from these sources, with these libraries, for this node
stamp=$( { node --version; echo "$xz $crypto $static $libcrypto"; sha256sum ./*.c ./*.h binding.gyp; } | sha256sum)
[ -f build/STAMP ] && [ "$(cat build/STAMP)" = "$stamp" ] && exit 0
log=/tmp/kmodseal-build-native.log
build() { node "$gyp" rebuild --nodedir="${npm_config_nodedir:-/usr}" -- -Dwith_xz="$1" -Dwith_crypto="$2" -Dliblzma_static="${3-$static}" -Dlibcrypto_path="$libcrypto" >"$log" 2>&1; }
built() {
  local what=" kmodseal_io.node kmodseal_modinfo.node"
  [ "$1" = 1 ] && what="$what kmodseal_xz.node"
  [ -n "${3-$static}" ] && what="$what kmodseal_unxz.node"
  [ "$2" = 1 ] && what="$what kmodseal_crypto.node"
  [ "$2" = 1 ] && [ -n "$libcrypto" ] && what="$what kmodseal_crypto_new.node"
  echo "build-native: built$what in native/build/Release" >&2
}
if build $xz $crypto; then built $xz $crypto; echo "$stamp" >build/STAMP; exit 0; fi
cat "$log" >&2
# without the static liblzma's decoder first, then one of the other two on its own
if [ -n "$static" ] && build $xz $crypto ""; then built $xz $crypto ""; echo "build-native: kmodseal_unxz failed to build; the system liblzma will decode" >&2; exit 0; fi
static=""
if [ $xz = 1 ] && [ $crypto = 1 ]; then
  if build 1 0; then built 1 0; echo "build-native: the native signer failed to build; node:crypto will sign" >&2; exit 0; fi
  if build 0 1; then built 0 1; echo "build-native: the xz fast path failed to build; lzma-native will be used" >&2; exit 0; fi
fi
echo "build-native: build failed; the fallbacks (lzma-native, node:crypto) will be used" >&2
