#!/usr/bin/env bash
# The kernel's own shell/perl tools that benchmarks compare against (extract-vmlinux,
# extract-sys-certs.pl), taken from Debian's linux-source-6.1 package into .cache/anchors/.
# Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${KMODSEAL_CACHE:-$root/.cache}/anchors
mkdir -p "$dir"
[ -x "$dir/extract-vmlinux" ] && [ -f "$dir/extract-sys-certs.pl" ] && exit 0
cd "$dir"
ls linux-source-6.1_*_all.deb >/dev/null 2>&1 || apt-get download -qq -oAPT::Sandbox::User=root linux-source-6.1 >&2
deb=$(ls linux-source-6.1_*_all.deb | sort -V | tail -n 1)
tarball=$(dpkg-deb -c "$deb" | awk '{print $6}' | grep -E 'linux-source-6\.1\.tar\.(xz|bz2)$' | head -n 1)
dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" | xz -dc -T0 | \
  tar -x --wildcards --strip-components=2 '*/scripts/extract-vmlinux' '*/scripts/extract-sys-certs.pl'
chmod +x extract-vmlinux extract-sys-certs.pl
echo "fetch-anchors: extract-vmlinux and extract-sys-certs.pl from $deb" >&2
