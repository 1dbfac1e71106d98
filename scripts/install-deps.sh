#!/usr/bin/env bash
# Installs the Debian 12 packages Tusk builds against. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache
  libdnnl-dev libcpuinfo-dev libsentencepiece-dev
  libflatbuffers-dev flatbuffers-compiler libzstd-dev
  libgtest-dev nlohmann-json3-dev
  # Language bindings and their tests: Java (JNA), C# (Mono), Python (the system's python3).
  default-jdk-headless libjna-java mono-mcs mono-runtime python3
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
