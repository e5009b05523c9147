// The nepcg command-line program: run (GPUMD run.in), train (GPUMD nep.in), info, --version.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>

#include "nepcg/error.hpp"
#include "nepcg/extxyz.hpp"
#include "nepcg/info.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/run_input.hpp"
#include "nepcg/training/trainer.hpp"

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
    "  train [NEP_IN]       train a NEP model as GPUMD's nep: NEP_IN (default ./nep.in) with\n"
    "                       train.xyz (and test.xyz) from its folder; writes nep.txt, loss.out,\n"
    "                       *_train.out, *_test.out, nep.restart and nepcg.checkpoint there, and\n"
    "                       resumes from nepcg.checkpoint if present. 'prediction 1' evaluates\n"
    "                       the folder's nep.txt on train.xyz instead\n"
    "  info FILE [CUTOFF]   summarise an extended XYZ file: frames, atoms, species, cell,\n"
    "                       and neighbour statistics within CUTOFF (Å, default 5)\n"
    "\n"
    "options:\n"
    "  --version            print the version, the compiled backends and the visible GPUs\n"
    "  --help               print this help\n";

// The usage lines of one command (its entry in kUsage, up to the next command) and where its
// input is documented; the whole usage for an unknown command.
std::string command_help(const std::string& cmd) {
  static const std::pair<const char*, const char*> docs[] = {
      {"run", "run.in keywords and their GPUMD differences: docs/simulator.md (\"nepcg run\")"},
      {"train", "nep.in keywords, output files and restarts: docs/training.md"},
      {"info", "extended XYZ conventions: docs/structures.md"}};
  const std::string usage = kUsage;
  const size_t start = usage.find("\n  " + cmd + " ");
  if (start == std::string::npos) return usage;
  size_t end = start + 1;
  while (true) {
    end = usage.find('\n', end);
    if (end == std::string::npos || usage.compare(end + 1, 3, "   ") != 0) break;  // next line not a continuation
    ++end;
  }
  std::string out = "usage: nepcg" + usage.substr(start + 2, end - start - 2) + "\n";
  for (const auto& [name, where] : docs)
    if (cmd == name) out += "\nsee " + std::string(where) + "\n";
  return out;
}

int cmd_info(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "nepcg info: missing FILE\n" << kUsage;
    return 2;
  }
  double cutoff = 5.0;
  if (argc > 3) {
    char* end = nullptr;
    cutoff = std::strtod(argv[3], &end);
    if (end == argv[3] || *end != '\0' || !(cutoff > 0) || !std::isfinite(cutoff))
      throw nepcg::InputError(std::string("info: CUTOFF must be a number > 0 (Å); got '") + argv[3] + "'");
  }
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

int cmd_train(int argc, char** argv) {
  const std::string nep_in = argc > 2 ? argv[2] : "nep.in";
  const size_t slash = nep_in.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : nep_in.substr(0, slash);
  const nepcg::TrainingOptions options = nepcg::read_nep_in(nep_in);
  auto train = nepcg::read_training_set(dir + "/train.xyz");
  if (const std::string note = nepcg::missing_label_note(train, dir + "/train.xyz"); !note.empty())
    std::cerr << "warning: " << note << "\n";
  if (options.prediction) {
    nepcg::predict_directory(options, train, dir);
    std::cout << "predicted " << train.size() << " structures with " << dir << "/nep.txt\n";
    return 0;
  }
  std::vector<nepcg::TrainingStructure> test;
  if (std::ifstream(dir + "/test.xyz")) test = nepcg::read_training_set(dir + "/test.xyz");
  nepcg::Trainer trainer(options, std::move(train), std::move(test), dir, true);
  std::printf("%zu parameters, %d batch(es), %d generations (starting at %d)\n", trainer.num_parameters(),
              trainer.num_batches(), options.generation, trainer.generation());
  std::printf("%-8s%-11s%-11s%-11s%-13s%-13s%-13s%-13s%-13s%-13s\n", "Step", "Total-Loss", "L1Reg-Loss", "L2Reg-Loss",
              "RMSE-E-Train", "RMSE-F-Train", "RMSE-V-Train", "RMSE-E-Test", "RMSE-F-Test", "RMSE-V-Test");
  size_t shown = trainer.history().size();
  while (!trainer.finished()) {
    trainer.run(options.output_interval);
    for (; shown < trainer.history().size(); ++shown) {
      const auto& r = trainer.history()[shown];
      std::printf("%-8d%-11.5f%-11.5f%-11.5f%-13.5f%-13.5f%-13.5f%-13.5f%-13.5f%-13.5f\n", r.generation, r.total, r.l1,
                  r.l2, r.energy_train, r.force_train, r.virial_train, r.energy_test, r.force_test, r.virial_test);
      std::fflush(stdout);
    }
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
    // `nepcg <command> --help` prints that command's part of the usage (rather than opening a
    // file called --help), and where its input format is documented.
    for (int k = 2; k < argc; ++k)
      if (!std::strcmp(argv[k], "--help") || !std::strcmp(argv[k], "-h")) {
        std::cout << command_help(cmd);
        return 0;
      }
    if (cmd == "--version" || cmd == "-V") {
      std::cout << nepcg::build_info_text();
      return 0;
    }
    if (cmd == "info") return cmd_info(argc, argv);
    if (cmd == "train") return cmd_train(argc, argv);
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
