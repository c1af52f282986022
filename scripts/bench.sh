#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch-anchors.sh
node bench/inspect.mjs
echo
node bench/kernel.mjs
