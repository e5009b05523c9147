// Water topology from the per-atom "mol_id" array (see water.hpp).
#include <algorithm>
#include <string>

#include "nepcg/error.hpp"
#include "nepcg/water.hpp"

namespace nepcg {

WaterTopology water_topology(const System& s, const std::string& oxygen, const std::string& hydrogen) {
  const PerAtomArray* ids = s.find_array("mol_id");
  const size_t n = s.size();
  if (!ids || ids->kind != 'I' || ids->ncols != 1 || ids->ints.size() != n)
    throw InputError("water topology: the structure needs an integer per-atom array 'mol_id' (one column), "
                     "labelling the molecule of every atom");
  WaterTopology t;
  t.molecule.assign(n, -1);
  // Molecule index in order of first appearance of each label.
  std::vector<std::pair<long long, int>> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = {ids->ints[i], static_cast<int>(i)};
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<int, std::array<int, 3>>> mols;  // (first atom, members)
  for (size_t a = 0; a < n;) {
    size_t b = a;
    while (b < n && order[b].first == order[a].first) ++b;
    int o = -1, h[2] = {-1, -1}, no = 0, nh = 0, other = 0;
    for (size_t k = a; k < b; ++k) {
      const int i = order[k].second;
      const std::string& sp = s.species[s.types[i]];
      if (sp == oxygen) {
        o = i, ++no;
      } else if (sp == hydrogen) {
        if (nh < 2) h[nh] = i;
        ++nh;
      } else {
        ++other;
      }
    }
    if (no != 1 || nh != 2 || other != 0)
      throw InputError("water topology: molecule mol_id=" + std::to_string(order[a].first) + " has " +
                       std::to_string(no) + " " + oxygen + ", " + std::to_string(nh) + " " + hydrogen + " and " +
                       std::to_string(other) + " other atoms; expected one " + oxygen + " and two " + hydrogen);
    mols.push_back({std::min({o, h[0], h[1]}), {o, std::min(h[0], h[1]), std::max(h[0], h[1])}});
    a = b;
  }
  std::sort(mols.begin(), mols.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (const auto& [first, m] : mols) {
    const int id = static_cast<int>(t.waters.size());
    t.waters.push_back(m);
    for (int i : m) t.molecule[i] = id;
    t.bonds.push_back({m[0], m[1]});
    t.bonds.push_back({m[0], m[2]});
    t.angles.push_back({m[1], m[0], m[2]});
  }
  return t;
}

}  // namespace nepcg
