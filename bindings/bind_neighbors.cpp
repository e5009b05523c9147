// Neighbour list: build/update from a System or (box, positions); pairs as numpy arrays.
#include <nanobind/stl/string.h>

#include "common.hpp"
#include "nepcg/error.hpp"
#include "nepcg/neighbor_list.hpp"
#include "nepcg/system.hpp"

using nepcg::NeighborList;

void init_neighbors(nb::module_& m) {
  nb::class_<NeighborList>(m, "NeighborList",
                           "Full Verlet list (cell list), all periodic images, with a skin and an optional "
                           "shorter secondary cutoff whose neighbours come first in each atom's list.")
      .def(nb::init<double, double, double, bool>(), nb::arg("cutoff"), nb::arg("skin") = 0.0,
           nb::arg("secondary_cutoff") = 0.0, nb::arg("half_only") = false,
           "half_only: keep only the owner entry of every pair (j > i; for an atom's own images the "
           "positive shift), as pair potentials with Newton's third law use it.")
      .def_prop_ro("half_only", &NeighborList::half_only)
      .def("build", [](NeighborList& l, const nepcg::System& s) { l.build(s.box, s.positions); }, nb::arg("system"),
           nb::call_guard<nb::gil_scoped_release>())
      .def("update", [](NeighborList& l, const nepcg::System& s) { return l.update(s.box, s.positions); },
           nb::arg("system"), nb::call_guard<nb::gil_scoped_release>(),
           "Rebuilds only when an atom moved more than skin/2 (or the box changed enough); returns True if rebuilt.")
      .def_prop_ro("cutoff", &NeighborList::cutoff)
      .def_prop_ro("skin", &NeighborList::skin)
      .def_prop_ro("secondary_cutoff", &NeighborList::secondary_cutoff)
      .def_prop_ro("num_pairs", &NeighborList::num_pairs)
      .def_prop_ro("num_builds", &NeighborList::num_builds)
      .def_prop_ro("max_neighbors", &NeighborList::max_neighbors)
      .def_prop_ro("offsets",
                   [](const NeighborList& l) { return owned(std::vector<int64_t>(l.offsets()), {l.offsets().size()}); })
      .def_prop_ro("neighbors",
                   [](const NeighborList& l) { return owned(std::vector<int>(l.neighbors()), {l.num_pairs()}); })
      .def_prop_ro("shifts",
                   [](const NeighborList& l) {
                     std::vector<int> s(l.shifts().begin(), l.shifts().end());
                     return owned(std::move(s), {l.num_pairs(), 3});
                   })
      .def_prop_ro("num_secondary",
                   [](const NeighborList& l) { return owned(std::vector<int>(l.num_secondary()), {l.num_atoms()}); })
      .def(
          "pair_vectors",
          [](const NeighborList& l, const nepcg::System& s) {
            if (s.size() != l.num_atoms())
              throw nepcg::InputError("NeighborList.pair_vectors: the system has " + std::to_string(s.size()) +
                                      " atoms but the list was built for " + std::to_string(l.num_atoms()));
            std::vector<double> d(3 * l.num_pairs());
            const auto& off = l.offsets();
            for (size_t i = 0; i < l.num_atoms(); ++i)
              for (int64_t p = off[i]; p < off[i + 1]; ++p) {
                const auto r = l.pair_vector(i, p, s.positions, s.box);
                d[3 * p] = r[0], d[3 * p + 1] = r[1], d[3 * p + 2] = r[2];
              }
            return owned(std::move(d), {l.num_pairs(), 3});
          },
          nb::arg("system"), "Pair vectors r_ij = x_j - x_i + shift . cell (Å), one row per list entry.");
}
