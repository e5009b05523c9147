// Implemented by the CUDA backend (core/cuda/common/device_info.cu); only linked when it is built.
#pragma once

#include <string>
#include <vector>

namespace nepcg::cuda {

/// Fills runtime/driver versions and the names of visible devices; returns "" on success or the
/// CUDA error text (e.g. no driver, no device). Never throws.
std::string query_devices(int& runtime_version, int& driver_version, std::vector<std::string>& names);

}  // namespace nepcg::cuda
