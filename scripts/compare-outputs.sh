#!/usr/bin/env bash
# scripts/compare-outputs.sh REV [SAMPLE]: the CLI's outputs of the checkout against those of REV,
# on the cached corpus and the test kernel kit, for refactors that must not change behaviour.
# REV is built in a temporary git worktree (sharing node_modules and the native addons); each
# command runs once with each build and the bytes of stdout, stderr and the exit code are
# compared. SAMPLE (default 200) modules per set (every 17th), or `all` (every module of every
# set): inspect, check, verify and sign over them. Prints one line per case and a summary; exit 1 when any output differs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rev=${1:?usage: compare-outputs.sh REV [SAMPLE]}
sample=${2:-200}
cd "$root"
[ -f .cache/kernels/index.tsv ] || { echo "compare-outputs: no corpus (npm test fetches it)" >&2; exit 2; }
work=$(mktemp -d /tmp/kmodseal-compare.XXXXXX)
trap 'git -C "$root" worktree remove --force "$work/old" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/old" "$rev"
ln -s "$root/node_modules" "$work/old/node_modules"
[ -d native/build ] && mkdir -p "$work/old/native" && cp -r native/build "$work/old/native/build"
(cd "$work/old" && npm run build --silent >/dev/null)
npm run build --silent >/dev/null
kit=${KMODSEAL_TESTKERNEL:-$root/.cache/testkernel/kit}
same=0 differ=0
run() { # name args...: runs both builds (cwd: the checkout, so paths print the same)
  local name=$1; shift
  for side in old new; do
    local bin=$root/dist/bundle/kmodseal.mjs
    [ $side = old ] && bin=$work/old/dist/bundle/kmodseal.mjs
    set +e
    node "$bin" "$@" >"$work/$side.out" 2>"$work/$side.err"
    echo "exit $?" >>"$work/$side.err"
    set -e
  done
  if cmp -s "$work/old.out" "$work/new.out" && cmp -s "$work/old.err" "$work/new.err"; then
    same=$((same + 1))
  else
    differ=$((differ + 1))
    echo "DIFFERS: $name"
    { diff <(head -c 200000 "$work/old.out"; cat "$work/old.err") <(head -c 200000 "$work/new.out"; cat "$work/new.err") || true; } | head -n 8 | sed 's/^/    /'
  fi
}
while IFS=$'\t' read -r set arch pkg version dir deb; do
  rel=$(ls "$dir/lib/modules" 2>/dev/null | head -n 1)
  [ -n "$rel" ] && [ -d "$dir/lib/modules/$rel/kernel" ] || continue # image packages only
  if [ "$sample" = all ]; then
    mods=$(find "$dir/lib/modules/$rel/kernel" -name '*.ko*' | LC_ALL=C sort)
  else
    mods=$(find "$dir/lib/modules/$rel/kernel" -name '*.ko*' | LC_ALL=C sort | awk -v n="$sample" 'NR % 17 == 1 && c < n { print; c++ }')
  fi
  # shellcheck disable=SC2086
  {
    run "$set: kernel --json" kernel --json "$dir"
    run "$set: kernel" kernel "$dir"
    run "$set: inspect (sample)" inspect $mods
    run "$set: inspect --json (sample)" inspect --json $mods
    run "$set: check --json (sample)" check --json --kernel "$dir" $mods
    run "$set: check (sample)" check --sig-enforce --kernel "$dir" $mods
    run "$set: verify --kernel (sample)" verify --json --kernel "$dir" $mods
  }
  # sign: the same key and modules give the same bytes (compressed modules recompressed) with either build
  for side in old new; do
    bin=$root/dist/bundle/kmodseal.mjs
    [ $side = old ] && bin=$work/old/dist/bundle/kmodseal.mjs
    rm -rf "$work/corpus-$side" && mkdir -p "$work/corpus-$side"
    # shellcheck disable=SC2086
    node "$bin" sign --key "$kit/keys/direct.key" --cert "$kit/keys/direct.crt" --out "$work/corpus-$side" $mods >/dev/null 2>&1 || true
  done
  if [ -z "$(ls -A "$work/corpus-new")" ]; then
    differ=$((differ + 1))
    echo "DIFFERS: $set: sign (sample) wrote nothing"
  elif diff -r -q "$work/corpus-old" "$work/corpus-new" >/dev/null; then
    same=$((same + 1))
  else
    differ=$((differ + 1))
    echo "DIFFERS: $set: sign (sample)"
  fi
done <.cache/kernels/index.tsv
run "kit: kernel --json vmlinux" kernel --json "$kit/vmlinux"
run "kit: kernel --json bzImage" kernel --json "$kit/bzImage" --system-map "$kit/System.map"
run "kit: btf dump vmlinux" btf dump "$kit/vmlinux"
run "kit: btf dump module" btf dump --base "$kit/vmlinux" "$kit/modules/kms_export.ko"
run "kit: check" check --kernel "$kit/vmlinux" "$kit"/modules/kms_*.ko "$kit/modules/in-tree/dummy.ko"
# sign: the same key and modules give the same bytes with either build
for side in old new; do
  bin=$root/dist/bundle/kmodseal.mjs
  [ $side = old ] && bin=$work/old/dist/bundle/kmodseal.mjs
  mkdir -p "$work/sign-$side"
  node "$bin" sign --key "$kit/keys/direct.key" --cert "$kit/keys/direct.crt" --out "$work/sign-$side" "$kit"/modules/kms_*.ko >/dev/null 2>&1
done
for f in "$work"/sign-old/*; do
  if cmp -s "$f" "$work/sign-new/$(basename "$f")"; then same=$((same + 1)); else differ=$((differ + 1)); echo "DIFFERS: sign $(basename "$f")"; fi
done
echo "$same same, $differ differ"
[ "$differ" = 0 ]
