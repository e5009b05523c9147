// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator, so thread i of step k draws its numbers from (key, counter) alone, with
// no state to carry or to replay. Shared by the GPU integrator and the CPU tests of its statistics.
#pragma once

#include <cmath>
#include <cstdint>

#include "nepcg/kernels/hd.hpp"

namespace nepcg::kernels {

struct Philox4 {
  uint32_t v[4];
};

NEPCG_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

/// Ten Philox rounds of counter c under the 64-bit key.
NEPCG_HD Philox4 philox4x32_10(Philox4 c, uint64_t key) {
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, c.v[0], hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, c.v[2], hi1, lo1);
    c = Philox4{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

/// Two uniform doubles in (0, 1) (53 bits each, never 0 or 1) from one Philox block.
NEPCG_HD void philox_uniform2(const Philox4& r, double& u1, double& u2) {
  const uint64_t a = (static_cast<uint64_t>(r.v[0]) << 32 | r.v[1]) >> 11;
  const uint64_t b = (static_cast<uint64_t>(r.v[2]) << 32 | r.v[3]) >> 11;
  u1 = (static_cast<double>(a) + 0.5) * 0x1.0p-53;
  u2 = (static_cast<double>(b) + 0.5) * 0x1.0p-53;
}

/// Two independent standard normals (Box-Muller) for (key, stream, step, call).
NEPCG_HD void philox_normal2(uint64_t key, uint32_t stream, uint64_t step, uint32_t call, double& g1, double& g2) {
  const Philox4 r = philox4x32_10(
      Philox4{{stream, static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32), call}}, key);
  double u1, u2;
  philox_uniform2(r, u1, u2);
  const double rho = std::sqrt(-2.0 * std::log(u1));
  const double theta = 6.283185307179586 * u2;
  g1 = rho * std::cos(theta);
  g2 = rho * std::sin(theta);
}

}  // namespace nepcg::kernels
