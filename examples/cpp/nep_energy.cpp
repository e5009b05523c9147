// Evaluates a NEP model (GPUMD nep.txt) on the frames of an extended XYZ file through the public
// nepcg C++ API: prints energy (eV), the force on atom 0 (eV/Å) and the virial diagonal (eV).
//   usage: nep_energy NEP_TXT FILE
#include <cstdio>

#include <nepcg/error.hpp>
#include <nepcg/extxyz.hpp>
#include <nepcg/nep.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: nep_energy NEP_TXT FILE\n");
    return 2;
  }
  try {
    nepcg::NEP nep(argv[1]);
    nepcg::ExtxyzReader reader(argv[2]);
    nepcg::System frame;
    while (reader.next(frame)) {
      const nepcg::ForceResult r = nep.compute(frame);
      std::printf("%.17g %.17g %.17g %.17g %.17g %.17g %.17g\n", r.energy, r.forces[0], r.forces[1], r.forces[2],
                  r.virial[0][0], r.virial[1][1], r.virial[2][2]);
    }
  } catch (const nepcg::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
