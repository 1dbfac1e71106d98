#!/usr/bin/env bash
# Usage: check_install.sh BUILD_DIR SOURCE_DIR PYTHON LIBDIR (CMAKE_INSTALL_LIBDIR). Installs the build into a temporary
# prefix and uses it from outside the source tree, as apps do: a CMake project with
# find_package(Tusk), a program built with pkg-config, the installed CLI with no --model, and
# the bindings (check_bindings.sh). Each translates.
set -euo pipefail
build=$1
source=$2
python=$3
libdir=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
for f in include/tusk/tusk.h "$libdir/libtusk.so" "$libdir/cmake/Tusk/TuskConfig.cmake" "$libdir/pkgconfig/tusk.pc" bin/tusk \
         share/tusk/models/multi30k-moe.tusk; do
  [ -e "$prefix/$f" ] || fail "$f is not installed"
done
model=$prefix/share/tusk/models/multi30k-moe.tusk

# find_package(Tusk), from a copy of the consumer project outside the source tree.
cp -r "$source/tests/install/consumer" "$work/consumer"
cmake -S "$work/consumer" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" >"$work/consumer.log" 2>&1 ||
  { cat "$work/consumer.log"; fail "configuring a find_package(Tusk) project"; }
cmake --build "$work/consumer-build" >>"$work/consumer.log" 2>&1 || { cat "$work/consumer.log"; fail "building it"; }
out=$("$work/consumer-build/translate_one" "$model") || fail "the find_package(Tusk) program failed"
[ -n "$out" ] || fail "the find_package(Tusk) program printed nothing"
echo "find_package(Tusk): $out"

# A Makefile using pkg-config --cflags --libs tusk.
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
make -s -C "$work/consumer" -f Makefile.pkg-config RPATH="$prefix/$libdir" >"$work/make.log" 2>&1 ||
  { cat "$work/make.log"; fail "building with the pkg-config Makefile"; }
out=$("$work/consumer/translate_one_pc" "$model") || fail "the pkg-config program failed"
echo "pkg-config: $out"

# The installed CLI finds its libtusk (RUNPATH $ORIGIN/../lib) and its default model, run from
# elsewhere with no --model and no TUSK_MODEL.
readelf -d "$prefix/bin/tusk" | grep -q 'RUNPATH.*\$ORIGIN/../lib' || fail "bin/tusk has no relative RUNPATH"
out=$(cd "$work" && echo "A dog runs." | env -u TUSK_MODEL -u LD_LIBRARY_PATH "$prefix/bin/tusk" translate -s en -t de) ||
  fail "the installed CLI failed"
[ -n "$out" ] || fail "the installed CLI printed nothing"
echo "installed CLI: $out"
for f in share/doc/tusk/README.md share/doc/tusk/CHANGELOG.md; do
  [ -f "$prefix/$f" ] || fail "$f is not installed"
done

bash "$source/tests/install/check_bindings.sh" "$prefix" "$source" "$python" "$libdir"
