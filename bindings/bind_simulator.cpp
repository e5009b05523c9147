// Simulator, Ensemble and observers.
#include <nanobind/stl/array.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "nepcg/error.hpp"
#include "nepcg/run_input.hpp"
#include "nepcg/simulator.hpp"
#include "nepcg/load_potential.hpp"
#include "nepcg/beads.hpp"
#include "nepcg/mean_force.hpp"

using namespace nepcg;

void init_simulator(nb::module_& m) {
  nb::enum_<ThermostatKind>(m, "ThermostatKind")
      .value("none", ThermostatKind::None)
      .value("berendsen", ThermostatKind::Berendsen)
      .value("bussi", ThermostatKind::Bussi)
      .value("langevin", ThermostatKind::Langevin)
      .value("nose_hoover_chain", ThermostatKind::NoseHooverChain);
  nb::enum_<LangevinSplitting>(m, "LangevinSplitting")
      .value("BAOAB", LangevinSplitting::BAOAB)
      .value("OBABO", LangevinSplitting::OBABO);
  nb::enum_<BarostatKind>(m, "BarostatKind")
      .value("none", BarostatKind::None)
      .value("berendsen", BarostatKind::Berendsen)
      .value("scr", BarostatKind::StochasticCellRescaling);
  nb::enum_<PressureCoupling>(m, "PressureCoupling")
      .value("isotropic", PressureCoupling::Isotropic)
      .value("orthorhombic", PressureCoupling::Orthorhombic)
      .value("triclinic", PressureCoupling::Triclinic);

  nb::class_<Ensemble>(m, "Ensemble", "Integrator settings of a run (see pynepcg.ensembles).")
      .def(nb::init<>())
      .def_rw("thermostat", &Ensemble::thermostat)
      .def_rw("temperature_start", &Ensemble::temperature_start)
      .def_rw("temperature_end", &Ensemble::temperature_end)
      .def_rw("tau_temperature", &Ensemble::tau_temperature)
      .def_rw("splitting", &Ensemble::splitting)
      .def_rw("chain_length", &Ensemble::chain_length)
      .def_rw("barostat", &Ensemble::barostat)
      .def_rw("coupling", &Ensemble::coupling)
      .def_rw("pressure_start", &Ensemble::pressure_start)
      .def_rw("pressure_end", &Ensemble::pressure_end)
      .def_rw("modulus", &Ensemble::modulus)
      .def_rw("tau_pressure", &Ensemble::tau_pressure)
      .def_rw("strain_rate", &Ensemble::strain_rate)
      .def_rw("fixed_group_method", &Ensemble::fixed_group_method)
      .def_rw("fixed_group", &Ensemble::fixed_group)
      .def_rw("remove_drift_interval", &Ensemble::remove_drift_interval)
      .def_rw("cell_interval", &Ensemble::cell_interval)
      .def_rw("bead_group_method", &Ensemble::bead_group_method)
      .def("validate", &Ensemble::validate);

  nb::class_<Observer>(m, "Observer").def_prop_ro("interval", &Observer::interval);
  nb::class_<ThermoObserver, Observer>(m, "ThermoObserver")
      .def(nb::init<long, const std::string&>(), nb::arg("interval"), nb::arg("path") = "")
      .def_static("columns", &ThermoObserver::columns)
      .def_prop_ro("rows", [](const ThermoObserver& o) {
        const size_t nc = ThermoObserver::columns().size();
        return owned(std::vector<double>(o.rows()), {o.rows().size() / nc, nc});
      });
  nb::class_<DumpObserver, Observer>(m, "DumpObserver")
      .def("__init__",
           [](DumpObserver* self, long interval, const std::filesystem::path& p, bool v, bool f, bool append,
              bool energies, bool virials, bool masses, bool wrap, bool unwrapped, bool group_labels, int group_method,
              int group_id, bool overwrite) {
             DumpOptions o;
             o.velocities = v, o.forces = f, o.append = append, o.energies = energies, o.virials = virials;
             o.masses = masses, o.wrap = wrap, o.unwrapped = unwrapped, o.group_labels = group_labels;
             o.group_method = group_method, o.group_id = group_id, o.overwrite = overwrite;
             new (self) DumpObserver(interval, p.string(), o);
           },
           nb::arg("interval"), nb::arg("path"), nb::arg("velocities") = false, nb::arg("forces") = false,
           nb::arg("append") = false, nb::arg("energies") = false, nb::arg("virials") = false,
           nb::arg("masses") = false, nb::arg("wrap") = false, nb::arg("unwrapped") = false,
           nb::arg("group_labels") = true, nb::arg("group_method") = -1, nb::arg("group_id") = -1,
           nb::arg("overwrite") = false);
  nb::class_<RdfObserver, Observer>(m, "RdfObserver")
      .def(nb::init<long, double, int, const std::string&, const std::string&>(), nb::arg("interval"),
           nb::arg("r_max"), nb::arg("bins"), nb::arg("species_a") = "", nb::arg("species_b") = "")
      .def_prop_ro("radii", [](const RdfObserver& o) { auto r = o.radii(); const size_t n = r.size(); return owned(std::move(r), {n}); })
      .def_prop_ro("rdf", [](const RdfObserver& o) { auto g = o.rdf(); const size_t n = g.size(); return owned(std::move(g), {n}); })
      .def_prop_ro("samples", &RdfObserver::samples);
  nb::class_<StressStrainObserver, Observer>(m, "StressStrainObserver")
      .def(nb::init<long>(), nb::arg("interval"))
      .def_prop_ro("rows", [](const StressStrainObserver& o) {
        return owned(std::vector<double>(o.rows()), {o.rows().size() / 10, 10});
      });

  m.def(
      "run_gpumd_input",
      [](const std::filesystem::path& input, const std::filesystem::path& directory, bool verbose) {
        python_interrupts interrupts;  // (Ctrl-C between steps)
        nb::gil_scoped_release release;
        run_gpumd_input(input.string(), directory.string(),
                        verbose ? std::function<void(const std::string&)>([](const std::string& msg) {
                          nb::gil_scoped_acquire acquire;
                          nb::print(msg.c_str());
                        })
                                : std::function<void(const std::string&)>());
      },
      nb::arg("input"), nb::arg("directory") = "", nb::arg("verbose") = true);
  m.def(
      "load_potential",
      [](const std::filesystem::path& p, const std::string& device) { return load_potential(p.string(), device); },
      nb::arg("path"), nb::arg("device") = "auto",
      "Potential from a file (nep.txt, *.eam.alloy, *.setfl, *.eam, *.tersoff); NEP models go to the GPU "
      "when device='cuda', or 'auto' with a usable GPU (NEPCG_DEVICE=cpu keeps them on the CPU).");
  nb::class_<RestartObserver, Observer>(m, "RestartObserver")
      .def("__init__", [](RestartObserver* self, long interval, const std::filesystem::path& p) {
        new (self) RestartObserver(interval, p.string());
      });
  auto vec = [](std::vector<double>&& v, size_t cols) {
    const size_t n = v.size() / cols;
    return owned(std::move(v), {n, cols});
  };
  nb::class_<MeanForceObserver, Observer>(m, "MeanForceObserver")
      .def(nb::init<long, int, long>(), nb::arg("interval"), nb::arg("group_method"), nb::arg("block_samples") = 10)
      .def("reset", &MeanForceObserver::reset)
      .def_prop_ro("num_beads", &MeanForceObserver::num_beads)
      .def_prop_ro("num_samples", &MeanForceObserver::num_samples)
      .def_prop_ro("num_blocks", &MeanForceObserver::num_blocks)
      .def_prop_ro("mean_forces", [vec](const MeanForceObserver& o) { return vec(o.mean_forces(), 3); })
      .def_prop_ro("force_standard_errors",
                   [vec](const MeanForceObserver& o) { return vec(o.force_standard_errors(), 3); })
      .def_prop_ro("last_forces",
                   [vec](const MeanForceObserver& o) { return vec(std::vector<double>(o.last_forces()), 3); })
      .def_prop_ro("mean_energy", &MeanForceObserver::mean_energy)
      .def_prop_ro("energy_standard_error", &MeanForceObserver::energy_standard_error)
      .def_prop_ro("mean_virial", [vec](const MeanForceObserver& o) { return vec(o.mean_virial(), 3); });
  m.def(
      "bead_centres",
      [vec](const System& s, const std::vector<int>& labels) {
        const auto b = bead_indices(labels);
        int nb = 0;
        for (int x : b) nb = std::max(nb, x + 1);
        return vec(bead_centres(s, b, nb), 3);
      },
      nb::arg("system"), nb::arg("labels"),
      "Mass-weighted, minimum-image-unwrapped centre of each bead (labels ascending), (B, 3) Å.");
  nb::class_<Simulator>(m, "Simulator")
      .def(nb::init<System, std::shared_ptr<const Potential>, double, uint64_t>(), nb::arg("system"),
           nb::arg("potential"), nb::arg("skin") = 1.0, nb::arg("seed") = 0)
      .def_prop_ro("system", [](Simulator& s) -> System& { return s.system(); }, nb::rv_policy::reference_internal)
      .def("set_temperature", &Simulator::set_temperature, nb::arg("temperature"))
      .def("run", &Simulator::run, nb::arg("steps"), nb::arg("ensemble"), nb::arg("time_step"),
           nb::arg("observers") = std::vector<std::shared_ptr<Observer>>{},
           nb::call_guard<python_interrupts, nb::gil_scoped_release>())
      .def("update_forces", &Simulator::update_forces, nb::call_guard<nb::gil_scoped_release>())
      .def_prop_ro("step", [](const Simulator& s) { return s.step(); })
      .def_prop_ro("neighbor_list_builds", &Simulator::neighbor_list_builds)
      .def_prop_ro("ran_on_device", &Simulator::ran_on_device)
      .def_prop_ro("time", [](const Simulator& s) { return s.time(); })
      .def_prop_ro("kinetic_energy", &Simulator::kinetic_energy)
      .def_prop_ro("potential_energy", [](Simulator& s) { s.update_forces(); return s.potential_energy(); })
      .def_prop_ro("temperature", [](const Simulator& s) { return s.temperature(); })
      .def_prop_ro("degrees_of_freedom", &Simulator::degrees_of_freedom)
      .def_prop_ro("num_beads", &Simulator::num_beads)
      .def_prop_ro("conserved_energy", [](Simulator& s) { s.update_forces(); return s.conserved_energy(); })
      .def_prop_ro("pressure_tensor",
                   [](Simulator& s) {
                     s.update_forces();
                     const Mat3 p = s.pressure_tensor();
                     std::vector<double> v(9);
                     for (int k = 0; k < 9; ++k) v[k] = p[k / 3][k % 3];
                     return owned(std::move(v), {3, 3});
                   })
      .def_prop_ro("forces",
                   [](Simulator& s) {
                     s.update_forces();
                     std::vector<double> f = s.forces().forces;
                     const size_t n = f.size() / 3;
                     return owned(std::move(f), {n, 3});
                   })
      .def("write_restart", [](const Simulator& s, const std::filesystem::path& p) { s.write_restart(p.string()); })
      .def("read_restart", [](Simulator& s, const std::filesystem::path& p) { s.read_restart(p.string()); });
}
