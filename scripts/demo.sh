#!/usr/bin/env bash
# npm run demo: every kmodseal command on real Debian kernels (fetched on the first run) and on
# the test kernel kit (built on the first run by testkernel/build.sh), all inside .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/setup.sh
kit=${KMODSEAL_TESTKERNEL:-}
if [ -z "$kit" ]; then
  [ -f .cache/testkernel/kit/vmlinux ] || echo "demo: building the test kernel kit once (about 7 minutes on 2 cores)" >&2
  kit=$(bash testkernel/build.sh)
fi
ready=$(date +%s)
demo=.cache/demo
rm -rf "$demo"
mkdir -p "$demo"
k() { local shown="$*"; echo; echo "\$ kmodseal ${shown//$PWD\//}"; node dist/bundle/kmodseal.mjs "$@" || echo "(exit $?)"; }
dir() { awk -v s="$1" '$1 == s {print $5}' .cache/kernels/index.tsv; }
rel() { ls "$(dir "$1")/lib/modules"; }
cur=$(dir amd64-6.12) prev=$(dir amd64-6.12-prev)
curmods=$cur/lib/modules/$(rel amd64-6.12) prevmods=$prev/lib/modules/$(rel amd64-6.12-prev)

echo "=== What does a module say about itself? (modinfo-identical)"
k inspect -b "$cur" -k "$(rel amd64-6.12)" dummy

echo; echo "=== What does a kernel trust, export and enforce?"
k kernel "$cur"

echo; echo "=== Will modules load? Debian 6.12's own dummy.ko and the previous 6.12 build's, under enforcement"
k check --sig-enforce --kernel "$cur" "$(find "$curmods" -name 'dummy.ko*')" "$(find "$prevmods" -name 'dummy.ko*')"

echo; echo "=== BTF: bpftool's dump, and a module built against another vmlinux (the kernel only catches broken BTF)"
veth=$(find "$curmods" -name 'veth.ko*')
echo; echo "\$ kmodseal btf dump --base ${cur#$PWD/} ${veth#$PWD/} | head -n 6"
node dist/bundle/kmodseal.mjs btf dump --base "$cur" "$veth" >"$demo/veth.btf"
head -n 6 "$demo/veth.btf"; echo "... ($(wc -l <"$demo/veth.btf") lines in all)"
k btf check --kernel "$cur" --built-against "$prev" "$(find "$prevmods" -name 'veth.ko*')"

echo; echo "=== Sign with a key of your own: keygen, sign (sign-file's bytes), verify"
cp "$kit/modules/kms_hello.ko" "$demo/"
k keygen --type p256 --subject "CN=demo module key" --key-out "$demo/demo.key" --cert-out "$demo/demo.crt"
k sign --key "$demo/demo.key" --cert "$demo/demo.crt" "$demo/kms_hello.ko"
k verify --cert "$demo/demo.crt" "$demo/kms_hello.ko"

echo; echo "=== Seal a build: ephemeral key in memory, every module signed, its certificate into the kernel, key gone"
mkdir -p "$demo/build" "$demo/rebuild"
cp "$kit"/modules/kms_*.ko "$demo/build/"
cp "$kit"/modules/kms_*.ko "$demo/rebuild/"
k seal --kernel-tree "$demo/build" --type p384 --embed "$kit/vmlinux" --embed-out "$demo/vmlinux"
k verify --kernel "$demo/vmlinux" "$demo/build"
k check --sig-enforce --kernel "$demo/vmlinux" "$demo/build/kms_export.ko" "$demo/build/kms_user.ko" "$demo/build/kms_hello.ko"
echo; echo "(the same modules against the kernel as built, without the sealed certificate)"
k check --sig-enforce --kernel "$kit/vmlinux" "$demo/build/kms_hello.ko"

echo; echo "=== Reproducible despite the ephemeral key: the kernel and its sealed copy, signatures moved to an independent build"
k diff "$kit/vmlinux" "$demo/vmlinux"
k detach --keep --out "$demo/bundle" "$demo/build"
k attach "$demo/bundle" "$demo/rebuild"
k diff "$demo/build" "$demo/rebuild"

echo; echo "=== Secure Boot: Debian's kernel image, its signature set aside, .sbat added, signed by a key of your own"
vmlinuz=$(ls "$cur"/boot/vmlinuz-*)
cp "$vmlinuz" "$demo/vmlinuz"
k efi detach --output "$demo/debian.sig" --remove "$demo/vmlinuz"
printf '%s\n' 'sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md' \
  'linux,1,The Linux Developers,linux,6.12,https://linux.org' >"$demo/sbat.csv"
k efi sbat --set "$demo/sbat.csv" --output "$demo/vmlinuz.sbat" "$demo/vmlinuz"
k keygen --type rsa2048 --subject "CN=demo db key" --key-out "$demo/db.key" --cert-out "$demo/db.crt"
k efi sign --key "$demo/db.key" --cert "$demo/db.crt" --output "$demo/vmlinuz.signed" "$demo/vmlinuz.sbat"
k efi verify --cert "$demo/db.crt" --sbat-level shim:latest "$demo/vmlinuz.signed"
echo; echo "(Debian's own signature, put back on the unsigned image: the package's bytes again)"
k efi attach --signature "$demo/debian.sig" "$demo/vmlinuz"
cmp "$demo/vmlinuz" "$vmlinuz" && echo "identical to ${vmlinuz#$PWD/}"
echo; echo "(a UKI of Debian's signed kernel, signed by your key; Debian 12's stub leaves room for its own SBAT rows only)"
head -n 1 "$demo/sbat.csv" >"$demo/uki-sbat.csv"
k uki build --linux "$vmlinuz" --cmdline "console=ttyS0 quiet" --sbat "$demo/uki-sbat.csv" \
  --stub /usr/lib/systemd/boot/efi/linuxx64.efi.stub --key "$demo/db.key" --cert "$demo/db.crt" --out "$demo/linux.efi"
k uki inspect "$demo/linux.efi"

echo; echo "=== Two Debian builds compared modulo signatures"
k diff "$curmods/kernel/drivers/net/wireguard" "$prevmods/kernel/drivers/net/wireguard"
echo
echo "demo: set-up $((ready - started)) s, commands $(($(date +%s) - ready)) s"
