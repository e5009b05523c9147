// Bead indices, centres of mass and force sums of a coarse-grained mapping.
#include "nepcg/beads.hpp"

#include <algorithm>
#include <map>

#include "nepcg/error.hpp"

namespace nepcg {

std::vector<int> bead_indices(const std::vector<int>& labels, std::vector<double>* bead_mass,
                              const std::vector<double>* masses) {
  std::map<int, int> index;
  for (int l : labels) index.emplace(l, 0);
  int next = 0;
  for (auto& kv : index) kv.second = next++;
  std::vector<int> out(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) out[i] = index[labels[i]];
  if (bead_mass && masses) {
    if (masses->size() != labels.size()) throw InputError("beads: one mass per atom is needed");
    bead_mass->assign(next, 0.0);
    for (size_t i = 0; i < labels.size(); ++i) (*bead_mass)[out[i]] += (*masses)[i];
    for (int b = 0; b < next; ++b)
      if (!((*bead_mass)[b] > 0)) throw InputError("beads: bead " + std::to_string(b) + " has no mass");
  }
  return out;
}

std::vector<double> bead_centres(const System& s, const std::vector<int>& bead_of, int num_beads) {
  if (bead_of.size() != s.size()) throw InputError("beads: one bead index per atom is needed");
  std::vector<int> first(num_beads, -1);
  std::vector<double> sum(3 * num_beads, 0.0), mass(num_beads, 0.0);
  for (size_t i = 0; i < s.size(); ++i) {
    const int b = bead_of[i];
    if (b < 0 || b >= num_beads) throw InputError("beads: bead index out of range");
    if (first[b] < 0) first[b] = static_cast<int>(i);
    const double* x0 = &s.positions[3 * first[b]];
    const Vec3 d = s.box.minimum_image({s.positions[3 * i] - x0[0], s.positions[3 * i + 1] - x0[1],
                                        s.positions[3 * i + 2] - x0[2]});
    for (int c = 0; c < 3; ++c) sum[3 * b + c] += s.masses[i] * (x0[c] + d[c]);
    mass[b] += s.masses[i];
  }
  for (int b = 0; b < num_beads; ++b) {
    if (!(mass[b] > 0)) throw InputError("beads: bead " + std::to_string(b) + " has no atoms or no mass");
    for (int c = 0; c < 3; ++c) sum[3 * b + c] /= mass[b];
  }
  return sum;
}

void bead_members(const std::vector<int>& bead_of, int num_beads, std::vector<int>& start, std::vector<int>& atoms) {
  start.assign(size_t(num_beads) + 1, 0);
  for (int b : bead_of) ++start[size_t(b) + 1];
  for (int b = 0; b < num_beads; ++b) start[b + 1] += start[b];
  std::vector<int> fill(start.begin(), start.end() - 1);
  atoms.resize(bead_of.size());
  for (size_t i = 0; i < bead_of.size(); ++i) atoms[fill[bead_of[i]]++] = static_cast<int>(i);
}

std::vector<double> bead_sums(const std::vector<double>& per_atom, const std::vector<int>& bead_of, int num_beads) {
  if (per_atom.size() != 3 * bead_of.size()) throw InputError("beads: expected 3 values per atom");
  std::vector<double> out(3 * num_beads, 0.0);
  for (size_t i = 0; i < bead_of.size(); ++i)
    for (int c = 0; c < 3; ++c) out[3 * bead_of[i] + c] += per_atom[3 * i + c];
  return out;
}

}  // namespace nepcg
