#!/usr/bin/env bash
# Usage: check_deb.sh BUILD_DIR VERSION LIBDIR. Builds the Debian package with CPack, checks
# its version, its Depends (computed by dpkg-shlibdeps: the Debian 12 packages of the libraries
# libtusk links; every library an ELF file of the package needs is in the package or in a
# package it depends on) and its file list, prints its installed size, then unpacks it and
# runs the packaged CLI from the unpacked tree (relocatable: RUNPATH $ORIGIN/../lib).
set -euo pipefail
build=$1
version=$2
libdir=$3  # CMAKE_INSTALL_LIBDIR: lib, or lib/<multiarch> when configured for /usr
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
for f in "usr/$libdir/libtusk.so.$version" "usr/$libdir/libtusk.so.0" "usr/$libdir/libtusk.so" usr/include/tusk/tusk.h \
         "usr/$libdir/cmake/Tusk/TuskConfig.cmake" "usr/$libdir/pkgconfig/tusk.pc" usr/bin/tusk \
         usr/share/tusk/models/multi30k-moe.tusk usr/lib/python3/dist-packages/tusk/__init__.py \
         usr/share/doc/tusk/README.md; do
  grep -qx "$f" "$work/files" || fail "the package lacks /$f"
done
if [ "${TUSK_WITH_JAVA:-ON}" = ON ]; then grep -qx usr/share/java/tusk.jar "$work/files" || fail "no tusk.jar"; fi
if [ "${TUSK_WITH_CSHARP:-ON}" = ON ]; then
  for f in Tusk.dll Tusk.dll.config Tusk.xml; do
    grep -qx "usr/lib/cli/tusk/$f" "$work/files" || fail "the package lacks /usr/lib/cli/tusk/$f"
  done
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/cli/tusk/Tusk.dll.config |
    grep -q "target=\"/usr/$libdir/libtusk.so.0\"" || fail "the packaged Tusk.dll.config does not map to /usr/$libdir/libtusk.so.0"
fi
if grep -q 'libtusk_cuda' "$work/files"; then fail "the CUDA plugin is packaged (its cuBLAS has no Debian package)"; fi

dpkg-deb -x "$deb" "$work/root"
# Every library each packaged ELF file needs: inside the package, or owned by a package named
# in Depends (or one those depend on, for libraries the toolchain always brings).
while IFS= read -r elf; do
  for needed in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -n "$(find "$work/root" -name "$needed" -print -quit)" ] && continue
    path=$(/sbin/ldconfig -p | awk -v n="$needed" '$1 == n && /x86-64/ && !p { p = $NF } END { print p }')
    [ -n "$path" ] || fail "${elf#"$work/root"} needs $needed, which is nowhere on this system"
    owner=""
    for candidate in "$path" "$(readlink -f "$path")" "${path/#\/lib\//\/usr\/lib\/}"; do
      owner=$(dpkg -S "$candidate" 2>/dev/null | awk -F: 'NR == 1 { print $1 }') || true
      [ -n "$owner" ] && break
    done
    [ -n "$owner" ] || fail "${elf#"$work/root"} needs $needed ($path), which no Debian package provides"
    grep -Fqx "$owner" <<<"$names" || fail "${elf#"$work/root"} needs $needed from $owner, which Depends lacks"
  done
done < <(find "$work/root" -type f \( -name '*.so*' -o -path '*/bin/*' \))
out=$(echo "A dog runs." | env -u TUSK_MODEL -u LD_LIBRARY_PATH "$work/root/usr/bin/tusk" translate -s en -t de) ||
  fail "the packaged CLI failed"
[ -n "$out" ] || fail "the packaged CLI printed nothing"
echo "packaged CLI: $out"
echo "ok"
