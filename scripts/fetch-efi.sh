#!/usr/bin/env bash
# Downloads Debian 12's EFI binaries (shim, GRUB, systemd-boot and its stub; signed and unsigned;
# amd64, i386 and arm64) into a git-ignored cache and unpacks them: the real PE images the EFI
# tests sign, verify and read SBAT from; and the installer's netboot kernel and initrd (a real
# kernel and initramfs pair, from debian-installer-12-netboot-amd64: only the text flavour's
# linux and initrd.gz are unpacked); and Debian 11's GRUB (grub,4), which Debian 12's shim revokes. Idempotent: a package already unpacked is not fetched
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
  "amd64 debian-installer-12-netboot-amd64"
)
# what is unpacked of a package (default: everything)
declare -A only=(
  [debian-installer-12-netboot-amd64]="./usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/linux ./usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64/initrd.gz"
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
      dpkg-deb -f "$deb" Version >"$dir.tmp/.version"
      if [ -n "${only[$pkg]:-}" ]; then
        # shellcheck disable=SC2086
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" ${only[$pkg]}
        rm -f "$deb" # large, and only part of it is used
      else
        dpkg-deb -x "$deb" "$dir.tmp"
      fi
      touch "$dir.tmp/.unpacked"
      rm -rf "$dir" && mv "$dir.tmp" "$dir"
      echo "fetch-efi: $pkg ($arch) $(cat "$dir/.version") unpacked" >&2
    fi
    printf '%s\t%s\t%s\t%s\n' "$arch" "$pkg" "$(cat "$dir/.version")" "$dir" >>"$index"
  done
done
# Debian 11's GRUB (grub,4 in its .sbat): the oldest generation still signed, refused by Debian 12's
# shim since its February 2025 revocation (test/efi/sbat.test.ts). bullseye is archived: pinned.
bull="$cache/.apt-bullseye"
dir="$cache/bullseye-amd64/grub-efi-amd64-signed"
if [ ! -f "$dir/.unpacked" ]; then
  mkdir -p "$bull/lists/partial" "$bull/archives/partial" "$cache/bullseye-amd64"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" >"$bull/sources.list"
  bopts=(-qq -oDir::Etc::SourceList="$bull/sources.list" -oDir::Etc::SourceParts=/nonexistent -oDir::State::Lists="$bull/lists"
    -oDir::Cache="$bull" -oDir::State::status=/dev/null -oAPT::Architecture=amd64 -oAPT::Architectures::=amd64
    -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
  apt-get "${bopts[@]}" update >&2 || { echo "fetch-efi: cannot read Debian bullseye's index" >&2; exit 1; }
  rm -f "$cache/bullseye-amd64/"*.deb
  (cd "$cache/bullseye-amd64" && apt-get "${bopts[@]}" download "grub-efi-amd64-signed=1+2.06+3~deb11u6" >&2) \
    || { echo "fetch-efi: cannot download Debian 11's grub-efi-amd64-signed" >&2; exit 1; }
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  deb=$(ls "$cache/bullseye-amd64/"grub-efi-amd64-signed_*.deb)
  dpkg-deb -f "$deb" Version >"$dir.tmp/.version"
  dpkg-deb -x "$deb" "$dir.tmp"
  touch "$dir.tmp/.unpacked"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
  echo "fetch-efi: grub-efi-amd64-signed (bullseye amd64) $(cat "$dir/.version") unpacked" >&2
fi
printf '%s\t%s\t%s\t%s\n' "bullseye-amd64" "grub-efi-amd64-signed" "$(cat "$dir/.version")" "$dir" >>"$index"
mv "$index" "$cache/index.tsv"
# shim's own source (Debian 12's version: its SBAT parser and published revocation levels are the
# oracle of test/efi/sbat.test.ts), through scripts/debian-source.sh (checked against the signed index)
shimsrc="$(cd "$cache/.." && pwd)/shim-source"
[ -d "$shimsrc/shim-16.1" ] || bash "$root/scripts/debian-source.sh" shim "$shimsrc" >/dev/null
cat "$cache/index.tsv"
