// What this build of nepcg contains and which devices it sees at run time.
#pragma once

#include <string>
#include <vector>

namespace nepcg {

struct BuildInfo {
  std::string version;
  bool openmp = false;            ///< compiled with OpenMP
  int max_threads = 1;            ///< OpenMP threads available now
  bool cuda_compiled = false;     ///< CUDA backend compiled in
  int cuda_runtime_version = 0;   ///< e.g. 13000 for CUDA 13.0 (0 if not compiled)
  int cuda_driver_version = 0;    ///< 0 when no driver is installed
  std::vector<std::string> gpus;  ///< names of visible GPUs (empty without a GPU)
  std::string cuda_status;        ///< why no GPU is usable, when none is
};

/// Sets the number of OpenMP threads of the CPU backend (n <= 0: one per core).
void set_num_threads(int n);
int get_num_threads();

/// Collects the build configuration and queries the CUDA runtime (never throws).
BuildInfo build_info();
/// Human-readable multi-line summary (used by `nepcg --version` and pynepcg.info()).
std::string build_info_text();

}  // namespace nepcg
