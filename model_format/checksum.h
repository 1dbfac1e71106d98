// checksum64: Tusk's own fast 64-bit non-cryptographic hash, used for the metadata, the fixed
// header, every dense tensor and every expert frame. It detects accidental damage (bad disks,
// partial copies, bit flips); it is not meant to resist deliberate forgery.
//
// The value is defined on the bytes alone (words are read little-endian), so it is the same on
// every host. Changing the algorithm changes every stored checksum: that needs a new format
// version.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tusk::format {

uint64_t checksum64(const void* data, size_t size);

}  // namespace tusk::format
