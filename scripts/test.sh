#!/usr/bin/env bash
# The whole test suite: set up (tools, packages, build, cached kernels), then node:test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh --tests
mapfile -t files < <(find src test -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=1 --test-timeout=1200000 "${files[@]}"
