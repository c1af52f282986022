#!/usr/bin/env bash
# Downloads real Debian kernel packages into a git-ignored cache and unpacks them.
# Idempotent: a package already unpacked is not fetched again.
#
#   scripts/fetch-kernels.sh [--only NAME...]
#
# Layout:  .cache/kernels/<arch>/<package>_<version>_<arch>.deb
#          .cache/kernels/<arch>/<package>/            (dpkg-deb -x tree)
#          .cache/kernels/index.tsv                     (set, arch, package, version, dir)
# The host's apt state is never touched: every architecture gets its own lists folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KMODSEAL_CACHE:-$root/.cache}/kernels
mkdir -p "$cache"

# set-name  arch  package-regex (newest match is taken; "prev" takes the one before it)
sets=(
  "amd64-6.1   amd64 ^linux-image-6\.1\.0-[0-9]+-amd64$ newest"
  "amd64-6.12  amd64 ^linux-image-6\.12\.[0-9]+\+deb12-amd64$ newest"
  "armhf-6.1   armhf ^linux-image-6\.1\.0-[0-9]+-armmp$ newest"
  "s390x-6.1   s390x ^linux-image-6\.1\.0-[0-9]+-s390x$ newest"
  "amd64-6.1-cloud amd64 ^linux-image-6\.1\.0-[0-9]+-cloud-amd64$ newest"
  "i386-6.1    i386  ^linux-image-6\.1\.0-[0-9]+-686-pae$ newest"
  "arm64-6.1   arm64 ^linux-image-6\.1\.0-[0-9]+-arm64$ newest"
  "amd64-6.12-prev amd64 ^linux-image-6\.12\.[0-9]+\+deb12-amd64$ prev"
  "amd64-6.1-headers amd64 - headers-of:amd64-6.1"
)
only=("$@")
[ "${1:-}" = "--only" ] && only=("${@:2}")

apt_for() { # arch -> prints apt options using a private state folder
  local arch=$1 st="$cache/.apt-$1"
  mkdir -p "$st/lists/partial" "$st/archives/partial"
  echo "-qq -oAPT::Architecture=$arch -oAPT::Architectures::=$arch -oDir::State::Lists=$st/lists -oDir::Cache=$st -oDir::State::status=/dev/null -oDebug::NoLocking=1 -oAPT::Sandbox::User=root"
}

declare -A updated=()
index="$cache/index.tsv.new"; : > "$index"
for line in "${sets[@]}"; do
  read -r set arch regex pick <<<"$line"
  if [ ${#only[@]} -gt 0 ] && [[ " ${only[*]} " != *" $set "* ]]; then
    grep -P "^$set\t" "$cache/index.tsv" 2>/dev/null >> "$index" || true
    continue
  fi
  opts=$(apt_for "$arch")
  if [ -z "${updated[$arch]:-}" ]; then
    # a mirror mid-sync answers with a wrong size: try again a few times
    for try in 1 2 3; do
      # shellcheck disable=SC2086
      apt-get $opts update >&2 && break
      if [ "$try" = 3 ]; then
        # one suite's index may stay broken (seen: bookworm-security armhf mid-sync); go on with
        # the suites that did arrive, as apt itself does, but never with none
        ls "$cache/.apt-$arch/lists/"*"_binary-${arch}_Packages"* >/dev/null 2>&1 \
          || { echo "fetch-kernels: apt-get update failed for $arch" >&2; exit 1; }
        echo "fetch-kernels: warning: some $arch indexes failed; using the ones that arrived" >&2
        break
      fi
      sleep $((try * 5))
    done
    updated[$arch]=1
  fi
  if [[ "$pick" == headers-of:* ]]; then
    # the linux-headers package of exactly the same build as another set's image
    of=$(awk -v s="${pick#headers-of:}" '$1 == s {print $3}' "$index")
    [ -n "$of" ] || { echo "fetch-kernels: $set needs ${pick#headers-of:} first" >&2; exit 1; }
    pkg=${of/linux-image-/linux-headers-}
  else
    # shellcheck disable=SC2086
    names=$(apt-cache $opts pkgnames linux-image- | grep -E "$regex" | sort -V)
    pkg=$(echo "$names" | tail -n 1)
    [ "$pick" = prev ] && pkg=$(echo "$names" | tail -n 2 | head -n 1)
  fi
  [ -n "$pkg" ] || { echo "fetch-kernels: no package matches $regex for $arch" >&2; exit 1; }
  # shellcheck disable=SC2086
  ver=$(apt-cache $opts show "$pkg" | awk '/^Version:/{print $2; exit}')
  dir="$cache/$arch/$pkg"
  if [ -f "$dir/.unpacked" ] && [ -d "$dir/lib/modules" ] && ! ls "$dir"/lib/modules/*/modules.dep >/dev/null 2>&1; then
    for rel in "$dir"/lib/modules/*/; do depmod -b "$dir" "$(basename "$rel")"; done
  fi
  if [ ! -f "$dir/.unpacked" ]; then
    mkdir -p "$cache/$arch"
    (cd "$cache/$arch" && apt-get $opts download "$pkg" >&2)
    deb=$(ls "$cache/$arch/${pkg}_"*"_$arch.deb" | sort -V | tail -n 1)
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    dpkg-deb -x "$deb" "$dir.tmp"
    # what the package's postinst does on a real system: build the module indexes
    # (modules.dep, modules.alias, ...), so names resolve as on an installed kernel
    for rel in "$dir.tmp"/lib/modules/*/; do
      [ -d "$rel/kernel" ] && depmod -b "$dir.tmp" "$(basename "$rel")"
    done
    touch "$dir.tmp/.unpacked"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
    echo "fetch-kernels: $set: $pkg $ver unpacked" >&2
  fi
  deb=$(ls "$cache/$arch/${pkg}_"*"_$arch.deb" | sort -V | tail -n 1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$arch" "$pkg" "$ver" "$dir" "$deb" >> "$index"
done
mv "$index" "$cache/index.tsv"
cat "$cache/index.tsv"
