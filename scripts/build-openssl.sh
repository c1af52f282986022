#!/usr/bin/env bash
# Builds libcrypto.so.3 from the newest OpenSSL source in Debian's archive (trixie: 3.5) into
# .cache/openssl, for the native signer (native/crypto.c opens it by absolute path instead of
# the system's). OpenSSL 3.2+ has a 64-bit P-384 (enable-ec_nistp_64_gcc_128, as Debian builds
# it): ECDSA P-384 signing about 3.5x as fast as bookworm's OpenSSL 3.0 (measured here with
# `openssl speed ecdsap384`: about 2,400 against 650 signatures/s on one core). Only EC keys
# sign through it (src/keys/native-crypto.ts): at RSA it is no faster. The source comes from Debian's
# archive (scripts/debian-source.sh); only libcrypto is built, no programs. Idempotent. On any
# failure nothing is installed and the system libcrypto signs, only slower.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.cache/openssl"
[ -f "$out/lib/libcrypto.so.3" ] && exit 0
work=$(mktemp -d /tmp/kmodseal-openssl.XXXXXX)
trap 'rm -rf "$work"' EXIT
if ! src=$(bash "$root/scripts/debian-source.sh" openssl "$work"); then
  echo "build-openssl: no OpenSSL source; the system libcrypto will sign" >&2
  exit 0
fi
extra=()
case "$(uname -m)" in x86_64|aarch64|ppc64le|s390x|riscv64) extra+=(enable-ec_nistp_64_gcc_128) ;; esac
echo "build-openssl: building libcrypto from $(basename "$src") (one to two minutes)" >&2
# only what module signing uses (RSA, NIST curves, SHA-1/2, key decoding, the config file):
# about 600 objects instead of 1,100
drop=(no-tests no-docs no-apps no-legacy no-engine no-module no-aria no-bf no-blake2 no-camellia no-cast no-chacha
      no-poly1305 no-des no-dh no-ec2m no-idea no-md4 no-mdc2 no-ocb no-rc2 no-rc4 no-rc5 no-rmd160 no-scrypt
      no-seed no-siphash no-sm2 no-sm3 no-sm4 no-srp no-whirlpool no-cms no-ct no-ocsp no-ts no-cmp no-quic no-ml-kem
      no-ml-dsa no-slh-dsa no-argon2 no-http no-srtp no-sctp no-comp no-siv no-gost no-psk no-sock no-ssl no-tls
      no-dtls no-async no-ui-console no-multiblock)
if ! (cd "$src" && ./config shared "${drop[@]}" "${extra[@]}" \
        --prefix="$work/install" --openssldir=/usr/lib/ssl --libdir=lib >"$work/log" 2>&1 &&
      make -j"$(nproc)" build_generated >>"$work/log" 2>&1 && make -j"$(nproc)" libcrypto.so >>"$work/log" 2>&1); then
  tail -20 "$work/log" >&2
  echo "build-openssl: build failed; the system libcrypto will sign" >&2
  exit 0
fi
rm -rf "$out.tmp"
mkdir -p "$out.tmp/lib"
cp "$src/libcrypto.so.3" "$out.tmp/lib/"
basename "$src" >"$out.tmp/SOURCE"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "build-openssl: built libcrypto from $(basename "$src") into .cache/openssl" >&2
