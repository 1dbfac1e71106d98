#!/usr/bin/env bash
# Usage: check_deb.sh BUILD_DIR VERSION. Builds the Debian package with CPack, checks its
# version, its Depends (computed by dpkg-shlibdeps: the Debian 12 packages of the libraries
# libtusk links) and its file list, prints its installed size, then unpacks it and runs the
# packaged CLI from the unpacked tree (relocatable: RUNPATH $ORIGIN/../lib).
set -euo pipefail
build=$1
version=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing (apt: dpkg)"
command -v dpkg-shlibdeps >/dev/null || fail "dpkg-shlibdeps is missing (apt: dpkg-dev)"

(cd "$build" && cpack -G DEB -B "$work/out") >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$work"/out/tusk_*.deb) || { cat "$work/cpack.log"; fail "cpack wrote no tusk_*.deb"; }
echo "package: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Version)" = "$version" ] || fail "Version is $(field Version), the project is $version"
depends=$(field Depends)
echo "Depends: $depends"
echo "Suggests: $(field Suggests)"
echo "Installed-Size: $(field Installed-Size) KiB"
names=$(tr ',' '\n' <<<"$depends" | sed 's/^ *//; s/ .*//')
for p in libdnnl2 libsentencepiece0 libcpuinfo0 libzstd1 libstdc++6 libc6; do
  grep -Fqx "$p" <<<"$names" || fail "Depends lacks $p"
done

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./||' >"$work/files"
for f in "usr/lib/libtusk.so.$version" usr/lib/libtusk.so.0 usr/lib/libtusk.so usr/include/tusk/tusk.h \
         usr/lib/cmake/Tusk/TuskConfig.cmake usr/lib/pkgconfig/tusk.pc usr/bin/tusk \
         usr/share/tusk/models/multi30k-moe.tusk usr/lib/python3/dist-packages/tusk/__init__.py \
         usr/share/doc/tusk/README.md; do
  grep -qx "$f" "$work/files" || fail "the package lacks /$f"
done
if [ "${TUSK_WITH_JAVA:-ON}" = ON ]; then grep -qx usr/share/java/tusk.jar "$work/files" || fail "no tusk.jar"; fi
if [ "${TUSK_WITH_CSHARP:-ON}" = ON ]; then grep -q 'usr/lib/cli/tusk/Tusk.dll$' "$work/files" || fail "no Tusk.dll"; fi
grep -q "^usr/lib/cli/tusk/Tusk.dll.config$" "$work/files" && {
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/cli/tusk/Tusk.dll.config | grep -q 'target="/usr/lib/libtusk.so.0"' ||
    fail "the packaged Tusk.dll.config does not map to /usr/lib/libtusk.so.0"
}

dpkg-deb -x "$deb" "$work/root"
out=$(echo "A dog runs." | env -u TUSK_MODEL -u LD_LIBRARY_PATH "$work/root/usr/bin/tusk" translate -s en -t de) ||
  fail "the packaged CLI failed"
[ -n "$out" ] || fail "the packaged CLI printed nothing"
echo "packaged CLI: $out"
echo "ok"
