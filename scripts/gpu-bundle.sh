#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has the CUDA toolkit, CMake,
# ninja and Python but none of our Debian packages and no network: the Debian 12 packages
# Tusk builds against (apt-get download, unpacked there with dpkg -x) and the pieces of
# ../shared the GPU tests read (reference goldens, Multi30k test sentences). Run it here, on
# Debian 12, before sending the tree: it fills the ignored folder .gpu-bundle/ (at most 60 MB).
#
# Usage: scripts/gpu-bundle.sh [SHARED_DIR]   (default: ../shared)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shared=${1:-../shared}
bundle=.gpu-bundle
limit_mb=60

packages=(
  libdnnl-dev libdnnl2 ocl-icd-libopencl1 libcpuinfo-dev libcpuinfo0
  libsentencepiece-dev libsentencepiece0 libflatbuffers-dev libflatbuffers2 flatbuffers-compiler
  libzstd-dev libzstd1 libgtest-dev libgmock-dev nlohmann-json3-dev
  pkgconf-bin libpkgconf3
)

rm -rf "$bundle"
mkdir -p "$bundle/debs" "$bundle/shared/reference" "$bundle/shared/data/multi30k"
(cd "$bundle/debs" && apt-get download "${packages[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
for p in "${packages[@]}"; do
  ls "$bundle"/debs/"${p}"_*.deb >/dev/null 2>&1 || { echo "gpu-bundle: $p was not downloaded" >&2; exit 1; }
done
cp "$shared"/reference/*.jsonl "$bundle/shared/reference/"
cp "$shared"/data/multi30k/test_2016_flickr.{en,de}.gz "$bundle/shared/data/multi30k/"

size_mb=$(du -sm "$bundle" | cut -f1)
echo "gpu-bundle: $bundle holds ${#packages[@]} packages and the shared test data, ${size_mb} MB"
if [ "$size_mb" -gt "$limit_mb" ]; then
  echo "gpu-bundle: over the ${limit_mb} MB limit" >&2
  exit 1
fi
