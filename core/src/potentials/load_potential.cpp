#include "nepcg/load_potential.hpp"

#include <fstream>

#include "nepcg/eam.hpp"
#include "nepcg/error.hpp"
#include "nepcg/nep.hpp"
#include "nepcg/tersoff.hpp"

namespace nepcg {
namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

std::shared_ptr<const Potential> load_potential(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("potential: cannot open '" + path + "' for reading");
  std::string first;
  in >> first;
  if (first.rfind("nep", 0) == 0) return std::make_shared<NEP>(path);
  if (ends_with(path, ".tersoff")) return std::make_shared<Tersoff>(Tersoff::from_file(path));
  if (ends_with(path, ".eam.alloy") || ends_with(path, ".setfl")) return std::make_shared<EAM>(read_setfl(path));
  if (ends_with(path, ".eam")) return std::make_shared<EAM>(read_funcfl({path}));
  throw InputError("potential: cannot tell the kind of '" + path +
                   "' (expected a nep.txt, *.eam.alloy, *.setfl, *.eam or *.tersoff file)");
}

}  // namespace nepcg
