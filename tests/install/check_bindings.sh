#!/usr/bin/env bash
# Usage: check_bindings.sh PREFIX SOURCE_DIR PYTHON LIBDIR. The installed bindings used from outside
# the source tree, with no LD_LIBRARY_PATH and no -D flags; each translates one sentence.
#   Python: `pip install bindings/python` in a fresh venv (TUSK_LIBRARY names the library
#   folder); a wheel bundling the installed library, in another venv (no variable); the
#   package `cmake --install` put under the prefix (finds the library through _layout.py).
#   Java: `java -cp` the installed tusk.jar and the program (jna.jar comes from its manifest).
#   C#: a program compiled against the installed Tusk.dll, which it copies beside itself with
#   Tusk.dll.config as .NET builds do.
# TUSK_WITH_JAVA / TUSK_WITH_CSHARP=OFF skip a language whose toolchain the build lacked.
set -euo pipefail
prefix=$1
source=$2
python=$3
lib=$1/$4
consumer=$source/tests/install/consumer
model=$prefix/share/tusk/models/multi30k-moe.tusk
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
unset LD_LIBRARY_PATH TUSK_LIBRARY PYTHONPATH
fail() { echo "FAIL: $*"; exit 1; }
expected=$(echo "A dog runs." | "$prefix/bin/tusk" translate -s en -t de) || fail "the installed CLI failed"
translated() {  # translated WHAT OUTPUT: what the installed CLI says for the same sentence
  [ "$2" = "$expected" ] || fail "$1 printed '$2', the installed CLI '$expected'"
  echo "$1: $2"
}

# pip install bindings/python, offline (the in-tree build backend needs nothing from PyPI).
"$python" -m venv "$work/venv" || fail "python3 -m venv (apt: python3-venv)"
"$work/venv/bin/pip" install -q --no-index "$source/bindings/python" || fail "pip install bindings/python"
out=$(TUSK_LIBRARY=$lib "$work/venv/bin/python" "$consumer/translate_one.py" "$model" 2>"$work/py.err") ||
  { cat "$work/py.err"; fail "venv + pip install + TUSK_LIBRARY=<folder>"; }
translated "pip install, TUSK_LIBRARY=folder" "$out"
grep -q "loaded $lib/libtusk.so.0" "$work/py.err" || { cat "$work/py.err"; fail "it did not load the named folder's library"; }
if ! /sbin/ldconfig -p | grep -q libtusk; then  # no system copy: the import must fail, and say why
  "$work/venv/bin/python" -c "import tusk" 2>"$work/py.err" &&
    fail "with no library anywhere, import tusk succeeded"
  grep -q "TUSK_LIBRARY" "$work/py.err" || { cat "$work/py.err"; fail "the import error does not say what to set"; }
fi

# A wheel carrying the installed library, in a second venv, with no variable.
"$work/venv/bin/pip" wheel -q --no-index --no-deps -w "$work/wheels" "$source/bindings/python" \
  --config-settings "library=$lib/libtusk.so.0" || fail "pip wheel with a bundled library"
wheel=$(ls "$work"/wheels/tusk-*-py3-none-linux_*.whl) || fail "the bundling wheel is not platform-tagged"
"$python" -m venv "$work/venv2"
"$work/venv2/bin/pip" install -q --no-index "$wheel" || fail "pip install $wheel"
out=$("$work/venv2/bin/python" "$consumer/translate_one.py" "$model" 2>"$work/py.err") ||
  { cat "$work/py.err"; fail "the wheel with its bundled library"; }
translated "wheel with bundled libtusk" "$out"
grep -q "loaded .*/venv2/.*/tusk/lib/libtusk.so.0" "$work/py.err" || { cat "$work/py.err"; fail "it did not load the bundled copy"; }
[ -f "$("$work/venv2/bin/python" -c 'import os, tusk; print(os.path.dirname(tusk.__file__))')/py.typed" ] ||
  fail "the wheel has no py.typed"

# The package cmake --install put under the prefix.
pydir=$(find "$prefix" -path '*-packages/tusk/_layout.py' -printf '%h\n' | head -1)
[ -n "$pydir" ] || fail "cmake --install put no Python package (tusk/_layout.py) under $prefix"
out=$(PYTHONPATH=$(dirname "$pydir") "$python" "$consumer/translate_one.py" "$model" 2>"$work/py.err") ||
  { cat "$work/py.err"; fail "the installed Python package"; }
translated "installed Python package" "$out"
grep -q "loaded $lib/libtusk.so.0" "$work/py.err" ||
  { cat "$work/py.err"; fail "the installed package did not load the prefix's library (tusk/_layout.py)"; }

if [ "${TUSK_WITH_JAVA:-ON}" = ON ]; then
  jar=$prefix/share/java/tusk.jar
  [ -f "$jar" ] || fail "tusk.jar is not installed"
  ls "$prefix"/share/java/tusk-*.pom >/dev/null || fail "no pom beside tusk.jar"
  mkdir -p "$work/java"
  javac -d "$work/java" -cp "$jar" "$consumer/TranslateOne.java" || fail "javac against the installed jar"
  out=$(java -cp "$jar:$work/java" TranslateOne "$model") || fail "java -cp tusk.jar (no -D flags)"
  translated "Java" "$out"
else
  echo "Java: skipped (the build had no JDK or jna.jar)"
fi

if [ "${TUSK_WITH_CSHARP:-ON}" = ON ]; then
  cli=$(dirname "$(find "$prefix" -name Tusk.dll | head -1)")
  for f in Tusk.dll Tusk.dll.config Tusk.xml; do [ -f "$cli/$f" ] || fail "$f is not installed"; done
  mkdir -p "$work/cs"
  mcs -nologo -r:"$cli/Tusk.dll" -out:"$work/cs/TranslateOne.exe" "$consumer/TranslateOne.cs" || fail "mcs"
  cp "$cli/Tusk.dll" "$cli/Tusk.dll.config" "$work/cs/"
  out=$(mono "$work/cs/TranslateOne.exe" "$model" 2>"$work/cs.err") || { cat "$work/cs.err"; fail "mono"; }
  translated "C#" "$out"
  cat "$work/cs.err"
  versions=$(sed -n 's/^Tusk.dll \([0-9.]*\), libtusk \(.*\)$/\1 \2/p' "$work/cs.err")
  read -r assembly library <<<"$versions"
  [ "$assembly" = "$library.0" ] || fail "Tusk.dll is version $assembly, the library $library"
else
  echo "C#: skipped (the build had no mcs/mono)"
fi
echo "ok"
