#!/usr/bin/env bash
# testkernel/build.sh: builds the test kernel kit that the e2e tests boot, into
# .cache/testkernel/kit (git-ignored), and prints its path.
#
# The kit: a small x86-64 kernel from Debian's linux-source-6.12 (the newest version the
# archive serves), trusting a throw-away test PKI generated here, with a 4096-byte area
# reserved for a certificate added after the build; the test modules of modules/ built
# for it (unsigned). testkernel/boot-and-load.mjs boots a kernel under qemu and loads modules.
# Layout of the kit: see testkernel/README.md.
#
# Rebuilt only when an input changes: this script, kit.config, modules/ or the source
# package's version (the kit's INPUTS file records them). About 7 minutes on 2 cores from
# scratch; the build tree is kept, so a rebuild after a config change is incremental. Runs as root on Debian 12 (it installs its build dependencies with
# apt-get --no-install-recommends); as another user they must be installed already.
#
#   KMODSEAL_CACHE     cache root (default: the repository's .cache)
#   KMODSEAL_KIT_SOURCE_VERSION   build from this linux-source-6.12 version instead of the newest
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${KMODSEAL_CACHE:-$root/.cache}/testkernel
work=$cache/work
kit=$cache/kit
say() { echo "testkernel: $*" >&2; }
fail() { say "$*"; exit 1; }
mkdir -p "$work"

# ---- build dependencies ------------------------------------------------------------------
need=(gcc make libc6-dev flex bison bc libelf-dev libssl-dev dwarves openssl cpio kmod xz-utils binutils)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "missing Debian packages: ${missing[*]} (run as root, or install them)"
  say "installing ${missing[*]}"
  inst() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2; }
  inst || { apt-get update -qq -o DPkg::Lock::Timeout=300 >&2 && inst; } || fail "apt-get install failed"
fi

# ---- which source --------------------------------------------------------------------------
newest() { apt-cache madison linux-source-6.12 2>/dev/null | awk '{print $3}' | sort -V | tail -n 1; }
version=${KMODSEAL_KIT_SOURCE_VERSION:-}
if [ -z "$version" ]; then
  version=$(newest)
  if [ -z "$version" ]; then
    [ "$(id -u)" = 0 ] || fail "apt knows no linux-source-6.12 (run apt-get update as root)"
    apt-get update -qq -o DPkg::Lock::Timeout=300 >&2 || true
    version=$(newest)
  fi
fi
[ -n "$version" ] || fail "no linux-source-6.12 in the apt archive (Debian 12 has it in bookworm-security)"

inputs=$( { echo "linux-source-6.12 $version"; cd "$here" && find build.sh kit.config modules -type f | LC_ALL=C sort | xargs sha256sum; } )
if [ -f "$kit/INPUTS" ] && [ "$(cat "$kit/INPUTS")" = "$inputs" ] && [ -f "$kit/vmlinux" ]; then
  echo "$kit"
  exit 0
fi
say "building the test kernel kit from linux-source-6.12 $version (about 7 minutes on 2 cores)"
started=$(date +%s)

# ---- 1. source ----------------------------------------------------------------------------
src=$work/linux
if [ "$(cat "$work/SOURCE" 2>/dev/null)" != "$version" ]; then
  rm -rf "$src" "$work/out" "$work/SOURCE" "$work"/linux-source-6.12_*.deb
  (cd "$work" && apt-get download -q -oAPT::Sandbox::User=root "linux-source-6.12=$version" >&2) || fail "cannot download linux-source-6.12 $version"
  mkdir -p "$src.tmp"
  dpkg-deb --fsys-tarfile "$work"/linux-source-6.12_*.deb | tar -xO ./usr/src/linux-source-6.12.tar.xz | tar -C "$src.tmp" -xJ --strip-components=1
  mv "$src.tmp" "$src"
  rm -f "$work"/linux-source-6.12_*.deb
  echo "$version" >"$work/SOURCE"
fi

# ---- 2. test PKI (kept across rebuilds of the same work folder) -----------------------------
ca=$work/ca
if [ ! -f "$ca/done" ]; then
  rm -rf "$ca"; mkdir -p "$ca"
  cat >"$ca/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
  # name  "CN"  extensions  issuer|self  key-type
  while read -r name cn ext issuer keytype; do
    cn=${cn//_/ }
    case $keytype in
      rsa) keyopt=(-newkey rsa:2048) ;;
      ec) keyopt=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ;;
    esac
    subj="/O=kmodseal test/CN=kmodseal $cn"
    if [ "$issuer" = self ]; then
      openssl req -config "$ca/openssl.cnf" -x509 -new -nodes -sha256 -days 3650 "${keyopt[@]}" -subj "$subj" \
        -extensions "$ext" -keyout "$ca/$name.key" -out "$ca/$name.crt" 2>/dev/null
    else
      openssl req -config "$ca/openssl.cnf" -new -nodes "${keyopt[@]}" -subj "$subj" -keyout "$ca/$name.key" -out "$ca/$name.csr" 2>/dev/null
      openssl x509 -req -sha256 -days 3650 -in "$ca/$name.csr" -CA "$ca/$issuer.crt" -CAkey "$ca/$issuer.key" -set_serial "0x$(openssl rand -hex 8)" \
        -extfile "$ca/openssl.cnf" -extensions "$ext" -out "$ca/$name.crt" 2>/dev/null
      rm -f "$ca/$name.csr"
    fi
  done <<'EOF'
ca test_root_CA ca self rsa
direct direct_signing_key leaf self rsa
ecdirect ECDSA_direct_signing_key leaf self ec
untrusted untrusted_key leaf self rsa
leaf leaf_signed_by_root_CA leaf ca rsa
inter intermediate_CA ca ca rsa
leaf2 leaf2_signed_by_intermediate leaf inter rsa
extraca extra_CA_(inserted_later) ca self rsa
extraleaf leaf_of_extra_CA leaf extraca rsa
EOF
  cat "$ca/ca.crt" "$ca/direct.crt" "$ca/ecdirect.crt" >"$ca/trusted.pem"
  touch "$ca/done"
fi

# ---- 3. config ------------------------------------------------------------------------------
out=$work/out
export KBUILD_BUILD_USER=kmodseal KBUILD_BUILD_HOST=testkernel KBUILD_BUILD_VERSION=1
export KBUILD_BUILD_TIMESTAMP="$(date -u -d "@$(stat -c %Y "$src/Makefile")" '+%a %b %e %H:%M:%S UTC %Y')"
mk() { make -C "$src" O="$out" ARCH=x86_64 "$@"; }
# named relative to the source tree: an absolute path would be recorded in the embedded config
cp "$ca/trusted.pem" "$src/certs/kmodseal-trusted.pem"
mkdir -p "$out"
mk tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$here/kit.config" >/dev/null
mk olddefconfig >/dev/null
while IFS= read -r line; do
  case $line in
    CONFIG_*) grep -qxF "$line" "$out/.config" || fail "config: '$line' did not survive olddefconfig" ;;
    "# CONFIG_"*" is not set") o=${line#\# }; o=${o%% *}; ! grep -q "^$o=[ym]" "$out/.config" || fail "config: $o must stay off" ;;
  esac
done <"$here/kit.config"

# ---- 4. kernel, in-tree module, test modules ----------------------------------------------------
mk -j"$(nproc)" bzImage modules >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; fail "kernel build failed (log: $work/build.log)"; }
rm -rf "$work/stage" "$work/extmod"
mk INSTALL_MOD_PATH="$work/stage" modules_install >/dev/null
cp -r "$here/modules" "$work/extmod"
mk M="$work/extmod" modules >>"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; fail "test modules failed to build"; }

# ---- 5. the kit, assembled beside and moved into place ----------------------------------------
new=$cache/kit.new
rm -rf "$new"; mkdir -p "$new/keys" "$new/modules/in-tree"
objcopy --strip-debug "$out/vmlinux" "$new/vmlinux" # .symtab and .BTF stay
cp "$out/arch/x86/boot/bzImage" "$new/bzImage"
cp "$out/.config" "$new/config"
cp "$out/System.map" "$out/Module.symvers" "$new/"
cp "$out/include/config/kernel.release" "$new/kernel.release"
cp "$ca"/*.crt "$ca"/*.key "$ca/trusted.pem" "$new/keys/"
openssl x509 -inform DER -in "$out/certs/signing_key.x509" -out "$new/keys/build.crt"
openssl pkey -in "$out/certs/signing_key.pem" -out "$new/keys/build.key"
chmod 600 "$new"/keys/*.key
cp "$work"/extmod/*.ko "$new/modules/"
find "$work/stage/lib/modules" -name '*.ko' -exec cp {} "$new/modules/in-tree/" \;
strip --strip-debug "$new"/modules/*.ko "$new"/modules/in-tree/*.ko # .BTF is not debug info
# keys/trust.json: every certificate, whether the kernel has it compiled in, and the name
# the kernel logs for it ("<CN>: <subjectKeyIdentifier>")
{
  echo '['
  sep=''
  for n in build ca direct ecdirect inter leaf leaf2 untrusted extraca extraleaf; do
    f=$new/keys/$n.crt
    cn() { openssl x509 -in "$f" -noout "-$1" -nameopt multiline,utf8 | sed -n 's/^ *commonName *= //p'; }
    skid=$(openssl x509 -in "$f" -noout -ext subjectKeyIdentifier | sed -n '2{s/[ :]//g;p}' | tr 'A-F' 'a-f')
    case $n in build | ca | direct | ecdirect) trusted=true ;; *) trusted=false ;; esac
    printf '%s  {"name": "%s", "cert": "%s.crt", "key": "%s.key", "subject_cn": "%s", "issuer_cn": "%s", "skid": "%s", "compiled_in": %s, "kernel_cert_name": "%s: %s"}' \
      "$sep" "$n" "$n" "$n" "$(cn subject)" "$(cn issuer)" "$skid" "$trusted" "$(cn subject)" "$skid"
    sep=$',\n'
  done
  printf '\n]\n'
} >"$new/keys/trust.json"
echo "$inputs" >"$new/INPUTS"
rm -rf "$kit"
mv "$new" "$kit"
say "kit built in $(($(date +%s) - started)) s: $kit"
echo "$kit"
