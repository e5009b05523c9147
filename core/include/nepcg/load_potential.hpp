// Potential from a file, by content and name: nep.txt (first token nep3/nep4/nep5),
// LAMMPS setfl (*.eam.alloy, *.setfl), funcfl (*.eam) and Tersoff (*.tersoff) files.
// `device` ("auto", "cpu", "cuda") places NEP models: "auto" uses a usable GPU (CUDA builds)
// unless the environment variable NEPCG_DEVICE says "cpu"; classical potentials run on the CPU.
// NEPCG_PRECISION=single loads NEP models in single precision (GpuNEP's float kernel; NepDirect in
// float on the CPU); unset or "double": double precision.
#pragma once

#include <memory>
#include <string>

#include "nepcg/nep_direct.hpp"
#include "nepcg/potential.hpp"

namespace nepcg {

std::shared_ptr<const Potential> load_potential(const std::string& path, const std::string& device = "auto");

/// "cpu" or "cuda" for a requested device ("auto": NEPCG_DEVICE if set to cpu/cuda, else the GPU
/// when one is usable). Throws InputError for other names, RuntimeError for "cuda" without a GPU.
std::string resolve_device(std::string device);

/// The precision NEPCG_PRECISION asks for (Double when unset; InputError for other values).
NepPrecision precision_from_environment();

}  // namespace nepcg
