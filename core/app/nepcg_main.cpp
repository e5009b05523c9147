// The nepcg command-line program. Sub-commands arrive with their issues (run, train, predict);
// today it reports the build (--version) and summarises structure files (info).
#include <cstring>
#include <iostream>
#include <string>

#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"
#include "nepcg/info.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/run_input.hpp"

namespace {

const char* kUsage =
    "usage: nepcg [--version] [--help] <command> [args]\n"
    "\n"
    "NEP-CG: coarse-grained and multiscale neuroevolution potentials.\n"
    "\n"
    "commands:\n"
    "  run [RUN_IN]         run a GPUMD-style run.in (default ./run.in) with model.xyz from its folder;\n"
    "                       keywords: potential velocity time_step ensemble (nve nvt_ber nvt_bdp\n"
    "                       nvt_nhc nvt_lan nvt_bao npt_ber npt_scr) fix deform dump_thermo\n"
    "                       dump_exyz dump_xyz dump_restart run\n"
    "  info FILE [CUTOFF]   summarise an extended XYZ file: frames, atoms, species, cell,\n"
    "                       and neighbour statistics within CUTOFF (Å, default 5)\n"
    "\n"
    "options:\n"
    "  --version            print the version, the compiled backends and the visible GPUs\n"
    "  --help               print this help\n";

int cmd_info(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "nepcg info: missing FILE\n" << kUsage;
    return 2;
  }
  const double cutoff = argc > 3 ? std::stod(argv[3]) : 5.0;
  nepcg::ExtxyzReader reader(argv[2]);
  nepcg::System frame;
  while (reader.next(frame)) {
    nepcg::NeighborList list(cutoff);
    list.build(frame.box, frame.positions);
    std::cout << "frame " << reader.frames_read() - 1 << ": " << frame.size() << " atoms, species";
    for (const auto& s : frame.species) std::cout << " " << s;
    std::cout << ", volume " << frame.box.volume() << " A^3, neighbours within " << cutoff
              << " A: mean " << (frame.size() ? double(list.num_pairs()) / frame.size() : 0.0) << ", max "
              << list.max_neighbors() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
      std::cout << kUsage;
      return argc < 2 ? 2 : 0;
    }
    const std::string cmd = argv[1];
    if (cmd == "--version" || cmd == "-V") {
      std::cout << nepcg::build_info_text();
      return 0;
    }
    if (cmd == "info") return cmd_info(argc, argv);
    if (cmd == "run") {
      nepcg::run_gpumd_input(argc > 2 ? argv[2] : "run.in", "", [](const std::string& m) { std::cout << m << "\n"; });
      return 0;
    }
    std::cerr << "nepcg: unknown command '" << cmd << "'\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "nepcg: error: " << e.what() << "\n";
    return 1;
  }
}
