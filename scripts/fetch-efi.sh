#!/usr/bin/env bash
# Downloads Debian 12's EFI binaries (shim, GRUB, systemd-boot and its stub; signed and unsigned;
# amd64, i386 and arm64) into a git-ignored cache and unpacks them: the real PE images the EFI
# tests sign, verify and read SBAT from. Idempotent: a package already unpacked is not fetched
# again. apt checks every .deb against Debian's signed index; the host's apt state is never
# touched (each architecture has its own lists folder).
#
#   scripts/fetch-efi.sh
#
# Layout:  .cache/efi/<arch>/<package>_<version>_<arch>.deb
#          .cache/efi/<arch>/<package>/          (dpkg-deb -x tree)
#          .cache/efi/index.tsv                  (arch, package, version, dir)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KMODSEAL_CACHE:-$root/.cache}/efi
mkdir -p "$cache"

# arch  packages
sets=(
  "amd64 shim-unsigned shim-signed grub-efi-amd64-signed systemd-boot-efi"
  "i386  shim-signed grub-efi-ia32-signed systemd-boot-efi"
  "arm64 shim-unsigned shim-signed grub-efi-arm64-signed systemd-boot-efi"
)

apt_for() { # arch -> prints apt options using a private state folder
  local arch=$1 st="$cache/.apt-$1"
  mkdir -p "$st/lists/partial" "$st/archives/partial"
  echo "-qq -oAPT::Architecture=$arch -oAPT::Architectures::=$arch -oDir::State::Lists=$st/lists -oDir::Cache=$st -oDir::State::status=/dev/null -oDebug::NoLocking=1 -oAPT::Sandbox::User=root"
}

index="$cache/index.tsv.new"
: >"$index"
for line in "${sets[@]}"; do
  read -r arch pkgs <<<"$line"
  opts=$(apt_for "$arch")
  fresh=0
  for pkg in $pkgs; do
    dir="$cache/$arch/$pkg"
    if [ ! -f "$dir/.unpacked" ]; then
      if [ $fresh = 0 ]; then
        for try in 1 2 3; do
          # shellcheck disable=SC2086
          apt-get $opts update >&2 && break
          [ "$try" = 3 ] && { echo "fetch-efi: apt-get update failed for $arch" >&2; exit 1; }
          sleep $((try * 5))
        done
        fresh=1
      fi
      mkdir -p "$cache/$arch"
      rm -f "$cache/$arch/${pkg}_"*.deb
      # shellcheck disable=SC2086
      (cd "$cache/$arch" && apt-get $opts download "$pkg" >&2) || { echo "fetch-efi: cannot download $pkg ($arch)" >&2; exit 1; }
      deb=$(ls "$cache/$arch/${pkg}_"*.deb | sort -V | tail -n 1)
      rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
      dpkg-deb -x "$deb" "$dir.tmp"
      dpkg-deb -f "$deb" Version >"$dir.tmp/.version"
      touch "$dir.tmp/.unpacked"
      rm -rf "$dir" && mv "$dir.tmp" "$dir"
      echo "fetch-efi: $pkg ($arch) $(cat "$dir/.version") unpacked" >&2
    fi
    printf '%s\t%s\t%s\t%s\n' "$arch" "$pkg" "$(cat "$dir/.version")" "$dir" >>"$index"
  done
done
mv "$index" "$cache/index.tsv"
cat "$cache/index.tsv"
