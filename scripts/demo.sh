#!/usr/bin/env bash
# npm run demo: kmodseal on real Debian kernels (fetched on first run) and the test kernel kit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
k() { echo; echo "\$ kmodseal $*"; node dist/bundle/kmodseal.mjs "$@" || echo "(exit $?)"; }
dir() { awk -v s="$1" '$1 == s {print $5}' .cache/kernels/index.tsv; }
rel() { ls "$(dir "$1")/lib/modules"; }
cur=$(dir amd64-6.12); prev=$(dir amd64-6.12-prev); old=$(dir amd64-6.1)

echo "=== What does a module say about itself? (modinfo-identical)"
k inspect -b "$cur" -k "$(rel amd64-6.12)" dummy

echo; echo "=== What does a kernel trust, export and enforce?"
k kernel "$cur"

echo; echo "=== Will modules load? Its own, then the previous 6.12 build's and 6.1's, under enforcement"
mods=$(for d in "$cur" "$prev" "$old"; do find "$d/lib/modules" -name 'dummy.ko*' ; done)
# shellcheck disable=SC2086
k check --sig-enforce --kernel "$cur" $mods

echo; echo "=== The kernel only catches broken BTF; kmodseal also sees BTF built against another vmlinux"
k btf check --kernel "$cur" --built-against "$prev" "$(find "$prev/lib/modules" -name 'veth.ko.xz')"

echo; echo "=== Seal a build: ephemeral key, every module signed, certificate into the kernel, key gone"
kit=../shared/testkernel
if [ -f "$kit/vmlinux" ]; then
  tmp=$(mktemp -d)
  cp "$kit"/modules/*.ko "$tmp"/
  k seal --kernel-tree "$tmp" --type p384 --cert-out "$tmp/build.pem" --embed "$kit/vmlinux" --embed-out "$tmp/vmlinux"
  k verify --kernel "$tmp/vmlinux" "$tmp"
  k check --sig-enforce --kernel "$tmp/vmlinux" "$tmp/kms_export.ko" "$tmp/kms_user.ko" "$tmp/kms_hello.ko"
  rm -rf "$tmp"
fi

echo; echo "=== Two builds compared modulo signatures"
k diff "$cur/lib/modules/$(rel amd64-6.12)/kernel/drivers/net/wireguard" "$prev/lib/modules/$(rel amd64-6.12-prev)/kernel/drivers/net/wireguard"
