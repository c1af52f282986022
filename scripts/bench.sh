#!/usr/bin/env bash
# npm run bench [-- --against REV] [-- --quick]: every benchmark against its anchor tool, in one
# run, then docs/benchmarks.md written from the results (bench/report.mjs; see README "Benchmarks").
#   --against REV (or BENCH_AGAINST=REV): REV is built in a temporary git worktree (sharing
#       node_modules and the native addons, as scripts/compare-outputs.sh does) and every kmodseal
#       figure is timed with both builds, alternating, in the same loop: new/old ratios are printed
#       and go into docs/benchmarks.md.
#   --quick (or BENCH_QUICK=1): one run per figure and smaller samples, to try it out in minutes.
#   --only LIST (or BENCH_ONLY=inspect,kernel,sign,check,repro,efi): some benchmarks only; the page
#       is then written to the results directory, not docs/ (BENCH_DOC=PATH to choose).
# BENCH_OUT=DIR keeps the JSON results there (default: a new /tmp/kmodseal-bench.* directory,
# kept and printed); BENCH_NO_BUILD=1 times dist/ as it is instead of running npm run build first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
against=${BENCH_AGAINST:-}
while [ $# -gt 0 ]; do
  case $1 in
    --against) against=${2:?--against REV}; shift 2 ;;
    --against=*) against=${1#*=}; shift ;;
    --quick) export BENCH_QUICK=1; shift ;;
    --only) export BENCH_ONLY=${2:?--only LIST}; shift 2 ;;
    --only=*) export BENCH_ONLY=${1#*=}; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh --tests
bash scripts/fetch-anchors.sh
export BENCH_OUT=${BENCH_OUT:-$(mktemp -d /tmp/kmodseal-bench.XXXXXX)}
mkdir -p "$BENCH_OUT"
BENCH_STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
BENCH_HEAD=$(git rev-parse --short HEAD)
BENCH_DIRTY=$(git status --porcelain -- src bin native scripts/bundle.mjs | wc -l)
export BENCH_STARTED BENCH_HEAD BENCH_DIRTY
if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
  echo "bench: building the checkout ($BENCH_HEAD)" >&2
  npm run build --silent >/dev/null
fi
unset BENCH_KMODSEAL_OLD BENCH_AGAINST_COMMIT
if [ -n "$against" ]; then
  commit=$(git rev-parse --verify "$against^{commit}")
  work=$(mktemp -d /tmp/kmodseal-bench-against.XXXXXX)
  trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  echo "bench: building $against (${commit:0:7}) in $work/old" >&2
  git worktree add -q --detach "$work/old" "$commit"
  ln -s "$root/node_modules" "$work/old/node_modules"
  [ -d native/build ] && mkdir -p "$work/old/native" && cp -r native/build "$work/old/native/build"
  (cd "$work/old" && npm run build --silent >/dev/null)
  export BENCH_AGAINST=$against BENCH_AGAINST_COMMIT=$commit BENCH_KMODSEAL_OLD=$work/old/dist/bundle/kmodseal.mjs
else
  unset BENCH_AGAINST
fi
first=1
for b in inspect kernel sign check repro efi; do
  case ",${BENCH_ONLY:-$b}," in *",$b,"*) ;; *) continue ;; esac
  [ $first = 1 ] || echo
  first=0
  node "bench/$b.mjs"
done
echo
node bench/report.mjs "$BENCH_OUT"
echo "bench: results in $BENCH_OUT" >&2
