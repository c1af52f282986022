#!/usr/bin/env bash
# Builds the optional native fast path (native/xz.c against the system liblzma).
# Without it kmodseal still works (lzma-native is used), only slower on .ko.xz.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ -f /usr/include/lzma.h ] || { echo "build-native: liblzma-dev missing; skipping the native xz fast path" >&2; exit 0; }
gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
[ -f "$gyp" ] || { echo "build-native: node-gyp not found; skipping" >&2; exit 0; }
cd "$root/native"
node "$gyp" rebuild --nodedir="${npm_config_nodedir:-/usr}" >/tmp/kmodseal-build-native.log 2>&1 \
  || { cat /tmp/kmodseal-build-native.log >&2; echo "build-native: build failed; the lzma-native fallback will be used" >&2; exit 0; }
echo "build-native: native/build/Release/kmodseal_xz.node built" >&2
