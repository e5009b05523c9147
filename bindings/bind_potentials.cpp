// The Potential base class (compute with a neighbour list) and the classical potentials.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "nepcg/eam.hpp"
#include "nepcg/emulated_device.hpp"
#include "nepcg/error.hpp"
#include "nepcg/lennard_jones.hpp"
#include "nepcg/sum_potential.hpp"
#include "nepcg/tersoff.hpp"

using nepcg::Potential;

nb::dict result_dict(nepcg::ForceResult&& r) {
  const size_t n = r.energies.size();
  nb::dict d;
  d["energy"] = r.energy;
  std::vector<double> w(9);
  for (int k = 0; k < 9; ++k) w[k] = r.virial[k / 3][k % 3];
  d["virial"] = owned(std::move(w), {3, 3});
  d["energies"] = owned(std::move(r.energies), {n});
  d["forces"] = owned(std::move(r.forces), {n, 3});
  d["virials"] = owned(std::move(r.virials), {n, 9});
  return d;
}

void init_potentials(nb::module_& m) {
  nb::class_<Potential>(m, "Potential", "Base class of every potential (energies eV, forces eV/Å, virials eV).")
      .def_prop_ro("name", &Potential::name)
      .def_prop_ro("cutoff", &Potential::cutoff, "Largest interaction range, Å.")
      .def_prop_ro("secondary_cutoff", &Potential::secondary_cutoff)
      .def_prop_ro("runs_dynamics_on_device", &Potential::runs_dynamics_on_device,
                   "True when a Simulator runs this potential's thermostat-only steps on its device.")
      .def_prop_ro("device_updates_cell", &Potential::device_updates_cell,
                   "True when barostats and deformation acting every step also run on its device.")
      .def(
          "compute",
          [](const Potential& p, const nepcg::System& s, nepcg::NeighborList& list, bool per_atom_virials) {
            nepcg::ForceResult r;
            {
              nb::gil_scoped_release release;
              s.validate();
              list.update(s.box, s.positions);
              r.reset(s.size());
              r.per_atom_virials = per_atom_virials;
              p.accumulate(s, list, r);
              r.sum_totals();
              nepcg::check_finite_result(s, list, r, p.name());
            }
            return result_dict(std::move(r));
          },
          nb::arg("system"), nb::arg("neighbor_list"), nb::arg("per_atom_virials") = true,
          "energy (eV), energies (N,), forces (N, 3) eV/Å, virials (N, 9) and virial (3, 3) in eV; the "
          "neighbour list is updated (rebuilt when needed) first. per_atom_virials=False: only the sum "
          "of `virials` is meaningful (cheaper for some potentials).");

  nb::class_<nepcg::LennardJones, Potential>(m, "LennardJones")
      .def("__init__",
           [](nepcg::LennardJones* self, const std::vector<std::tuple<std::string, std::string, double, double, double>>& pairs,
              bool shift) {
             std::vector<nepcg::LennardJonesPair> p;
             for (const auto& [a, b, eps, sigma, rc] : pairs) p.push_back({a, b, eps, sigma, rc});
             new (self) nepcg::LennardJones(p, shift);
           },
           nb::arg("pairs"), nb::arg("shift") = true)
      .def_prop_ro("species", &nepcg::LennardJones::species);

  nb::class_<nepcg::EamTables>(m, "EamTables", "Tabulated EAM functions (LAMMPS setfl layout).")
      .def_ro("elements", &nepcg::EamTables::elements)
      .def_ro("masses", &nepcg::EamTables::masses)
      .def_ro("atomic_numbers", &nepcg::EamTables::atomic_numbers)
      .def_ro("nrho", &nepcg::EamTables::nrho)
      .def_ro("drho", &nepcg::EamTables::drho)
      .def_ro("nr", &nepcg::EamTables::nr)
      .def_ro("dr", &nepcg::EamTables::dr)
      .def_ro("cutoff", &nepcg::EamTables::cutoff)
      .def_ro("embedding", &nepcg::EamTables::embedding)
      .def_ro("density", &nepcg::EamTables::density)
      .def_ro("r_phi", &nepcg::EamTables::r_phi)
      .def(
          "write_setfl",
          [](const nepcg::EamTables& t, const std::filesystem::path& p, const std::string& comment) {
            nepcg::write_setfl(t, p.string(), comment);
          },
          nb::arg("path"), nb::arg("comment") = "");
  m.def("read_setfl", [](const std::filesystem::path& p) { return nepcg::read_setfl(p.string()); });
  m.def("read_funcfl", [](const std::vector<std::filesystem::path>& ps) {
    std::vector<std::string> s;
    for (const auto& p : ps) s.push_back(p.string());
    return nepcg::read_funcfl(s);
  });
  m.def("zhou_2004_gold", &nepcg::zhou_2004_gold, nb::arg("nr") = 2000, nb::arg("nrho") = 2000,
        nb::arg("cutoff") = 6.2);
  nb::class_<nepcg::EAM, Potential>(m, "EAM")
      .def(nb::init<nepcg::EamTables>(), nb::arg("tables"))
      .def_prop_ro("tables", [](const nepcg::EAM& e) { return e.tables(); });

  nb::class_<nepcg::Tersoff, Potential>(m, "Tersoff")
      .def_static("from_file", [](const std::filesystem::path& p) { return nepcg::Tersoff::from_file(p.string()); })
      .def_static("carbon_1989", &nepcg::Tersoff::carbon_1989, nb::arg("widened_switch") = false)
      .def("write", [](const nepcg::Tersoff& t, const std::filesystem::path& p) { t.write(p.string()); });

  nb::class_<nepcg::SumPotential, Potential>(m, "SumPotential")
      .def(nb::init<std::vector<std::shared_ptr<const Potential>>>(), nb::arg("terms"));

  nb::class_<nepcg::EmulatedDevicePotential, Potential>(
      m, "EmulatedDevicePotential", "Runs a Simulator's device segments on the host (the GPU path's CPU oracle).")
      .def(nb::init<std::shared_ptr<const Potential>, double>(), nb::arg("potential"), nb::arg("skin") = 1.0)
      .def_prop_ro("segments", &nepcg::EmulatedDevicePotential::segments);
}
