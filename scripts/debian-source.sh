#!/usr/bin/env bash
# debian-source.sh PACKAGE DIR: downloads the upstream tarball of PACKAGE's source from Debian
# trixie into DIR, unpacks it there and prints the unpacked source directory. apt does the work with a private source list and state
# (the host's apt configuration is left alone) and checks the tarball's hash against Debian's
# signed Sources index. Versions are tried newest first: a mirror may not carry the newest yet.
# Exit 1 (with a line on stderr) when no version can be fetched.
set -euo pipefail
pkg=$1 dir=$2
mkdir -p "$dir/.apt/lists/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$dir/.apt/sources.list"
apt=(-q -oDir::Etc::SourceList="$dir/.apt/sources.list" -oDir::Etc::SourceParts=/nonexistent -oDir::State::Lists="$dir/.apt/lists"
     -oDebug::NoLocking=1 -oAPT::Sandbox::User=root)
if ! apt-get "${apt[@]}" update >"$dir/.apt/log" 2>&1; then
  echo "debian-source: cannot read Debian trixie's Sources index" >&2
  exit 1
fi
for v in $(apt-cache "${apt[@]}" showsrc "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | uniq); do
  # only the upstream tarball matters; the Debian parts may be missing from the mirror
  (cd "$dir" && apt-get "${apt[@]}" source --download-only "$pkg=$v" >>"$dir/.apt/log" 2>&1) || true
  upstream=${v#*:}
  upstream=${upstream%-*}
  tarball=$(ls "$dir/${pkg}_${upstream}".orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -1 || true)
  if [ -n "$tarball" ]; then
    before=$(ls "$dir")
    tar -xf "$tarball" -C "$dir"
    comm -13 <(echo "$before") <(ls "$dir") | sed "s|^|$dir/|" | head -1
    exit 0
  fi
done
echo "debian-source: no version of $pkg's source could be downloaded" >&2
exit 1
