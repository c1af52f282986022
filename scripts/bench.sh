#!/usr/bin/env bash
# npm run bench: every benchmark against its anchor tool, in one run (see README "Benchmarks").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
bash scripts/fetch-anchors.sh
node bench/inspect.mjs
echo
node bench/kernel.mjs
echo
node bench/sign.mjs
echo
node bench/check.mjs
echo
node bench/repro.mjs
