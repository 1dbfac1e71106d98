#!/usr/bin/env bash
# Installs the Debian 12 packages Tusk builds against. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache
  libdnnl-dev libcpuinfo-dev libsentencepiece-dev
  libflatbuffers-dev flatbuffers-compiler libzstd-dev
  libgtest-dev nlohmann-json3-dev
  # `tusk serve` (the HTTP server).
  libcpp-httplib-dev
  # Language bindings and their tests: Java (JNA), C# (Mono), Python (the system's python3).
  default-jdk-headless libjna-java mono-mcs mono-runtime python3 python3-venv
  # The Debian package test: dpkg-shlibdeps computes its Depends.
  dpkg-dev
  # Fuzzing (scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes.
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# cuobjdump, for the test that libtusk_cuda.so carries code for every GPU architecture it
# targets: part of full CUDA toolkits, missing from minimal ones; NVIDIA publishes it on PyPI.
fetch_cuobjdump() {
  command -v nvcc >/dev/null || return 0
  local cuda_bin
  cuda_bin=$(dirname "$(command -v nvcc)")
  if command -v cuobjdump >/dev/null || [ -x "$cuda_bin/cuobjdump" ]; then return 0; fi
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/tusk-tools/cuobjdump"
  [ -x "$dir/bin/cuobjdump" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  if python3 -m pip download -q --no-deps -d "$tmp" "nvidia-cuda-cuobjdump==13.5.37" >/dev/null 2>&1 &&
     python3 -m zipfile -e "$tmp"/nvidia_cuda_cuobjdump-*.whl "$tmp/x" &&
     mkdir -p "$dir/bin" && cp "$tmp"/x/nvidia/cu*/bin/cuobjdump "$dir/bin/" && chmod +x "$dir/bin/cuobjdump"; then
    echo "install-deps: cuobjdump from PyPI in $dir/bin"
  else
    echo "install-deps: could not fetch cuobjdump (the fat-binary test will skip)"
  fi
  rm -rf "$tmp"
}

# The serving tests' Python venv (Ray Serve, the libretranslatepy client) from PyPI; without
# it those tests skip (outside CI) and say how to make it.
python_test_env() {
  local venv
  if venv=$(bash "$(dirname "${BASH_SOURCE[0]}")/python-test-env.sh"); then
    echo "install-deps: serving tests' venv at $venv"
  else
    echo "install-deps: could not make the serving tests' venv (scripts/python-test-env.sh)"
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  fetch_cuobjdump
  python_test_env
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fetch_cuobjdump
python_test_env
