// CPU feature detection (cpuinfo, which also checks that the OS saves the wide registers) and
// the TUSK_CPU_ISA override.
#include <cpuinfo.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "kernels/cpu/quantized_linear.h"

namespace tusk::kernels {
namespace {

struct CpuLevels {
  bool avx2 = false, avx512 = false, avx512vnni = false;
};

CpuLevels detect() {
  CpuLevels l;
  if (!cpuinfo_initialize()) return l;  // unknown CPU: generic only
  // F16C is part of our AVX2 level (fp16 weights); every AVX2 CPU has it in practice.
  l.avx2 = cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3() && cpuinfo_has_x86_f16c();
  l.avx512 = l.avx2 && cpuinfo_has_x86_avx512f() && cpuinfo_has_x86_avx512bw() &&
             cpuinfo_has_x86_avx512vl() && cpuinfo_has_x86_avx512dq();
  l.avx512vnni = l.avx512 && cpuinfo_has_x86_avx512vnni();
  return l;
}

const CpuLevels& levels() {
  static const CpuLevels l = detect();
  return l;
}

Isa best_supported() {
  if (isa_supported(Isa::Avx512Vnni)) return Isa::Avx512Vnni;
  if (isa_supported(Isa::Avx512)) return Isa::Avx512;
  if (isa_supported(Isa::Avx2)) return Isa::Avx2;
  return Isa::Generic;
}

bool parse_isa(const char* name, Isa* isa) {
  for (Isa candidate : {Isa::Generic, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni}) {
    if (std::strcmp(name, isa_name(candidate)) == 0) {
      *isa = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Generic: return "generic";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512vnni";
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::Generic: return true;
    case Isa::Avx2: return levels().avx2;
    case Isa::Avx512: return levels().avx512;
    case Isa::Avx512Vnni: return levels().avx512vnni;
  }
  return false;
}

Isa select_isa(const char* requested) {
  const Isa best = best_supported();
  if (requested == nullptr || requested[0] == '\0') return best;
  Isa isa;
  if (!parse_isa(requested, &isa)) {
    std::fprintf(stderr,
                 "tusk: TUSK_CPU_ISA=%s is not one of generic|avx2|avx512|avx512vnni; using %s\n",
                 requested, isa_name(best));
    return best;
  }
  if (!isa_supported(isa)) {
    std::fprintf(stderr, "tusk: TUSK_CPU_ISA=%s is not supported by this CPU; using %s\n",
                 requested, isa_name(best));
    return best;
  }
  return isa;
}

Isa active_isa() {
  static const Isa isa = select_isa(std::getenv("TUSK_CPU_ISA"));
  return isa;
}

}  // namespace tusk::kernels
