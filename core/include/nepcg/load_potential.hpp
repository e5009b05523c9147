// Potential from a file, by content and name: nep.txt (first token nep3/nep4/nep5),
// LAMMPS setfl (*.eam.alloy, *.setfl), funcfl (*.eam) and Tersoff (*.tersoff) files.
#pragma once

#include <memory>
#include <string>

#include "nepcg/potential.hpp"

namespace nepcg {

std::shared_ptr<const Potential> load_potential(const std::string& path);

}  // namespace nepcg
