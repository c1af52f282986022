#!/usr/bin/env bash
# The whole test suite: set up (tools, packages, build, cached kernels), then the unit, oracle and
# e2e tiers in one node:test run (two files at a time), so the closing totals are node's own.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh --tests
exec node scripts/run-tests.mjs unit oracle e2e "$@"
