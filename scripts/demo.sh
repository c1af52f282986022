#!/usr/bin/env bash
# npm run demo: kmodseal on the cached Debian kernels (fetched on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
k() { echo "\$ kmodseal $*"; node dist/bundle/kmodseal.mjs "$@"; echo; }
while IFS=$'\t' read -r set arch pkg version dir deb; do
  rel=$(ls "$dir/lib/modules")
  echo "=== $set: $pkg $version ($(find "$dir/lib/modules/$rel" -name '*.ko*' | wc -l) modules)"
  k inspect -b "$dir" -k "$rel" dummy
  k inspect -F signer -b "$dir" -k "$rel" dummy
done < .cache/kernels/index.tsv
first=$(head -n 1 .cache/kernels/index.tsv | cut -f5)
rel=$(ls "$first/lib/modules")
k inspect --json -b "$first" -k "$rel" dummy
echo "=== every module of $(head -n 1 .cache/kernels/index.tsv | cut -f3), signers counted"
node dist/bundle/kmodseal.mjs inspect -F signer "$first/lib/modules/$rel" | sort | uniq -c
