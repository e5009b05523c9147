#include "nepcg/load_potential.hpp"

#include <cstdlib>
#include <fstream>

#include "nepcg/config.hpp"
#include "nepcg/eam.hpp"
#include "nepcg/error.hpp"
#include "nepcg/nep.hpp"
#include "nepcg/nep_direct.hpp"
#include "nepcg/tersoff.hpp"
#if NEPCG_HAVE_CUDA_BUILD
#include "nepcg/gpu_nep.hpp"
#endif

namespace nepcg {
namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

std::string resolve_device(std::string device) {
  if (device == "auto") {
    const char* env = std::getenv("NEPCG_DEVICE");
    const std::string forced = env ? env : "";
    if (forced == "cpu" || forced == "cuda") {
      device = forced;
    } else {
#if NEPCG_HAVE_CUDA_BUILD && !NEPCG_CUDA_EMULATION_BUILD
      return gpu_available() ? "cuda" : "cpu";
#else  // (the CPU emulation of the CUDA backend is for testing: "cuda" names it, "auto" never)
      return "cpu";
#endif
    }
  }
  if (device == "cpu") return device;
  if (device != "cuda") throw InputError("device must be 'auto', 'cpu' or 'cuda'; got '" + device + "'");
#if NEPCG_HAVE_CUDA_BUILD
  std::string why;
  if (!gpu_available(&why)) throw RuntimeError("device 'cuda' but no GPU can be used: " + why);
  return device;
#else
  throw RuntimeError("device 'cuda' but this build has no CUDA backend");
#endif
}

NepPrecision precision_from_environment() {
  const char* env = std::getenv("NEPCG_PRECISION");
  const std::string name = env ? env : "";
  if (name.empty()) return NepPrecision::Double;
  if (name != "double" && name != "single")
    throw InputError("NEPCG_PRECISION must be 'double' or 'single'; got '" + name + "'");
  return parse_nep_precision(name);
}

std::shared_ptr<const Potential> load_potential(const std::string& path, const std::string& device) {
  std::ifstream in(path);
  if (!in) throw IOError("potential: cannot open '" + path + "' for reading");
  std::string first;
  in >> first;
  if (first.rfind("nep", 0) == 0) {
    const NepPrecision precision = precision_from_environment();
#if NEPCG_HAVE_CUDA_BUILD
    if (resolve_device(device) == "cuda") return std::make_shared<GpuNEP>(path, 1.0, precision);
#endif
    resolve_device(device);  // reports a bad or unavailable device
    if (precision == NepPrecision::Single) return std::make_shared<NepDirect>(read_nep_model(path), precision);
    return std::make_shared<NEP>(path);
  }
  if (ends_with(path, ".tersoff")) return std::make_shared<Tersoff>(Tersoff::from_file(path));
  if (ends_with(path, ".eam.alloy") || ends_with(path, ".setfl")) return std::make_shared<EAM>(read_setfl(path));
  if (ends_with(path, ".eam")) return std::make_shared<EAM>(read_funcfl({path}));
  throw InputError("potential: cannot tell the kind of '" + path +
                   "' (expected a nep.txt, *.eam.alloy, *.setfl, *.eam or *.tersoff file)");
}

}  // namespace nepcg
