#!/usr/bin/env bash
# fetch-ukify.sh: downloads Debian trixie's systemd-ukify .deb (systemd's ukify, a Python script:
# the oracle of the `uki build` tests) into a git-ignored cache, unpacks it and prints the path of
# the ukify script. apt does the work with a private source list and state (the host's apt
# configuration is left alone) and checks the .deb against Debian's signed index. Idempotent: an
# unpacked copy is not fetched again. Run ukify with the machine's Debian python, which has
# python3-pefile: /usr/bin/python3 "$(scripts/fetch-ukify.sh)" build ...
#
# Layout:  .cache/ukify/systemd-ukify_<version>_all.deb
#          .cache/ukify/root/            (dpkg-deb -x tree; root/usr/bin/ukify)
# Exit 1 (with a line on stderr) when the package cannot be fetched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KMODSEAL_CACHE:-$root/.cache}/ukify
ukify=$cache/root/usr/bin/ukify
if [ -f "$cache/root/.unpacked" ] && [ -f "$ukify" ]; then
  echo "$ukify"
  exit 0
fi
st=$cache/.apt
mkdir -p "$st/lists/partial" "$st/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$st/sources.list"
apt=(-q -oDir::Etc::SourceList="$st/sources.list" -oDir::Etc::SourceParts=/nonexistent -oDir::State::Lists="$st/lists"
     -oDir::Cache="$st" -oDir::State::status=/dev/null -oAPT::Architecture=amd64 -oAPT::Architectures::=amd64
     -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
ok=0
for try in 1 2 3; do
  if apt-get "${apt[@]}" update >"$st/log" 2>&1; then ok=1; break; fi
  sleep $((try * 5))
done
[ $ok = 1 ] || { echo "fetch-ukify: cannot read Debian trixie's Packages index (see $st/log)" >&2; exit 1; }
rm -f "$cache"/systemd-ukify_*.deb
(cd "$cache" && apt-get "${apt[@]}" download systemd-ukify >>"$st/log" 2>&1) ||
  { echo "fetch-ukify: cannot download systemd-ukify from trixie (see $st/log)" >&2; exit 1; }
deb=$(ls "$cache"/systemd-ukify_*.deb | sort -V | tail -n 1)
rm -rf "$cache/root.tmp" && mkdir -p "$cache/root.tmp"
dpkg-deb -x "$deb" "$cache/root.tmp"
dpkg-deb -f "$deb" Version >"$cache/root.tmp/.version"
[ -f "$cache/root.tmp/usr/bin/ukify" ] || { echo "fetch-ukify: $deb has no usr/bin/ukify" >&2; exit 1; }
touch "$cache/root.tmp/.unpacked"
rm -rf "$cache/root" && mv "$cache/root.tmp" "$cache/root"
echo "fetch-ukify: systemd-ukify $(cat "$cache/root/.version") unpacked" >&2
echo "$ukify"
