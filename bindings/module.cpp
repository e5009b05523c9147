#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "nepcg/info.hpp"
#include "nepcg/units.hpp"

NB_MODULE(_core, m) {
  m.doc() = "pynepcg C++ core (libnepcg); use the pynepcg package, not this module directly";
  init_errors(m);
  init_structure(m);
  init_io(m);
  init_neighbors(m);
  init_potentials(m);
  init_nep(m);
  init_simulator(m);
  init_training(m);
  init_water(m);

  // Unit conversions used by the C++ core (CODATA 2018), so Python reports the same numbers.
  m.attr("BOLTZMANN") = nepcg::units::kBoltzmann;                  // eV/K
  m.attr("EV_PER_A3_TO_GPA") = nepcg::units::kPressureToGPa;       // eV/Å^3 -> GPa
  m.attr("AMU_PER_A3_TO_G_PER_CM3") = nepcg::units::kDensityToGramPerCm3;
  m.def("build_info_text", &nepcg::build_info_text);
  m.def("set_num_threads", &nepcg::set_num_threads, nb::arg("n"),
        "Number of OpenMP threads for the CPU backend (n <= 0: all cores).");
  m.def("get_num_threads", &nepcg::get_num_threads);
  m.def("build_info", [] {
    const nepcg::BuildInfo b = nepcg::build_info();
    nb::dict d;
    d["version"] = b.version;
    d["openmp"] = b.openmp;
    d["max_threads"] = b.max_threads;
    d["cuda_compiled"] = b.cuda_compiled;
    d["cuda_runtime_version"] = b.cuda_runtime_version;
    d["cuda_driver_version"] = b.cuda_driver_version;
    d["gpus"] = b.gpus;
    d["cuda_status"] = b.cuda_status;
    return d;
  });
}
