// NLLB-MoE's top-2 routing of one token (Backend::route_top2's contract), as a host/device
// function: the host's routing (backends/host_ops.cc) and the CUDA kernel run this code.
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>

#include "backends/backend.h"
#include "common/host_device.h"

namespace tusk::backends {

// The first maximum of logits[0..E), the first maximum of the others, softmax relative to the
// first pick (so p1 = 1 / sum), gates renormalised over the two.
TUSK_HOST_DEVICE ExpertRoute route_top2_row(const float* l, int64_t E) {
  int64_t e1 = 0;
  for (int64_t e = 1; e < E; ++e)
    if (l[e] > l[e1]) e1 = e;
  int64_t e2 = -1;
  for (int64_t e = 0; e < E; ++e)
    if (e != e1 && (e2 < 0 || l[e] > l[e2])) e2 = e;
  float sum = 0.0f;
  for (int64_t e = 0; e < E; ++e) sum += expf(l[e] - l[e1]);
  const float p1 = 1.0f / sum, p2 = expf(l[e2] - l[e1]) / sum;
  const float den = fmaxf(p1 + p2, FLT_EPSILON);
  ExpertRoute r;
  r.expert[0] = static_cast<int32_t>(e1);
  r.expert[1] = static_cast<int32_t>(e2);
  r.gate[0] = p1 / den;
  r.gate[1] = p2 / den;
  return r;
}

}  // namespace tusk::backends
