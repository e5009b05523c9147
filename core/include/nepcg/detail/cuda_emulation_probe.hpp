// Implemented only by the CUDA emulation (NEPCG_CUDA=EMULATE; core/cuda/common/emulation_probe.cu).
#pragma once

#include <string>

namespace nepcg::cuda {

/// Commits one of the errors the CUDA emulation must catch, so that tests can check that it does
/// (tests/test_cuda_emulation.py):
/// - "kernel": a correct kernel over device memory (returns normally);
/// - "host-read": host code reads device memory (SIGSEGV, as on a GPU machine; run it in a child);
/// - "kernel-overrun": a kernel writes one value past the end of its array (SIGSEGV);
/// - "host-argument": a kernel is launched with a host pointer (RuntimeError from the launch);
/// - "host-member": ... with a struct whose pointer member is a host pointer (RuntimeError);
/// - "copy-kind": a device-to-host copy whose source is host memory (RuntimeError);
/// - "copy-overrun": a copy that runs past the end of a device array (RuntimeError);
/// - "free-host": cudaFree of a host pointer (RuntimeError).
/// - "protected": nothing; returns whether device memory carries a protection key (x86 PKU; when
///   false, "host-read" goes unnoticed).
/// Returns true except for "protected"; throws std::invalid_argument for any other name.
bool cuda_emulation_probe(const std::string& what);

}  // namespace nepcg::cuda
