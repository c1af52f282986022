#!/usr/bin/env bash
# Builds the test oracle for distilled base BTF (test/btf/oracle/btf-oracle.c) against the
# libbpf of the kernel's own source: tools/lib/bpf from Debian's linux-source-6.12, whose
# btf_relocate.c the kernel compiles into kernel/bpf/btf_relocate.c. Output:
# .cache/btf-oracle/btf-oracle. Idempotent; needs gcc, make, python3, libelf-dev, zlib1g-dev.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KMODSEAL_CACHE:-$root/.cache}
out=$cache/btf-oracle
src=$root/test/btf/oracle/btf-oracle.c
[ -x "$out/btf-oracle" ] && [ "$out/btf-oracle" -nt "$src" ] && exit 0
mkdir -p "$cache/anchors" "$out"
cd "$cache/anchors"
ls linux-source-6.12_*_all.deb >/dev/null 2>&1 || apt-get download -qq -oAPT::Sandbox::User=root linux-source-6.12 >&2
deb=$(ls linux-source-6.12_*_all.deb | sort -V | tail -n 1)
work=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tarball=$(dpkg-deb -c "$deb" | awk '{print $6}' | grep -E 'linux-source-6\.12\.tar\.(xz|bz2)$' | head -n 1)
dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" | xz -dc -T0 | tar -x -C "$work" --wildcards \
  '*/tools/lib/bpf/*' '*/tools/include/*' '*/tools/build/*' '*/tools/scripts/*' \
  '*/tools/arch/x86/include/*' '*/include/uapi/linux/*' '*/scripts/bpf_doc.py'
ksrc=$(ls -d "$work"/linux-source-6.12)
mkdir -p "$work/obj" "$work/inst"
make -s -C "$ksrc/tools/lib/bpf" -j"$(nproc)" OUTPUT="$work/obj/" DESTDIR="$work/inst" prefix= \
  install_headers "$work/obj/libbpf.a" >"$work/make.log" 2>&1 || { cat "$work/make.log" >&2; exit 1; }
gcc -O2 -Wall -I"$work/inst/include" -o "$out/btf-oracle.tmp" "$src" "$work/obj/libbpf.a" -lelf -lz
mv "$out/btf-oracle.tmp" "$out/btf-oracle"
echo "build-btf-oracle: $out/btf-oracle (libbpf from $deb)" >&2
