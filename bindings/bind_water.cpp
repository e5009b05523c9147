// Flexible water (SPC/Fw by default) and its topology.
#include <nanobind/stl/array.h>
#include <nanobind/stl/complex.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "nepcg/detail/fft.hpp"
#include "nepcg/error.hpp"
#include "nepcg/water.hpp"

void init_water(nb::module_& m) {
  using P = nepcg::WaterParameters;
  nb::class_<P>(m, "WaterParameters", "Parameters of FlexibleWater (SPC/Fw by default); units in water.hpp.")
      .def(nb::init<>())
      .def_rw("oxygen", &P::oxygen)
      .def_rw("hydrogen", &P::hydrogen)
      .def_rw("charge_oxygen", &P::charge_oxygen)
      .def_rw("charge_hydrogen", &P::charge_hydrogen)
      .def_rw("epsilon", &P::epsilon)
      .def_rw("sigma", &P::sigma)
      .def_rw("lj_cutoff", &P::lj_cutoff)
      .def_rw("lj_shift", &P::lj_shift)
      .def_rw("bond_k", &P::bond_k)
      .def_rw("bond_r0", &P::bond_r0)
      .def_rw("angle_k", &P::angle_k)
      .def_rw("angle_theta0", &P::angle_theta0)
      .def_rw("coulomb", &P::coulomb)
      .def_rw("pme_order", &P::pme_order)
      .def_rw("coulomb_cutoff", &P::coulomb_cutoff)
      .def_rw("dsf_alpha", &P::dsf_alpha)
      .def_rw("accuracy", &P::accuracy)
      .def_rw("ewald_alpha", &P::ewald_alpha)
      .def_rw("coulomb_constant", &P::coulomb_constant)
      .def_rw("lammps_erfc", &P::lammps_erfc);

  nb::class_<nepcg::FlexibleWater, nepcg::Potential>(m, "FlexibleWater")
      .def(nb::init<const P&>(), nb::arg("parameters"))
      .def_prop_ro("parameters", &nepcg::FlexibleWater::parameters)
      .def(
          "ewald_setup",
          [](const nepcg::FlexibleWater& w, const nepcg::System& s) {
            const nepcg::EwaldSetup e = w.ewald_setup(s);
            nb::dict d;
            d["alpha"] = e.alpha;
            d["kcut"] = e.kcut;
            d["nmax"] = std::vector<int>(e.nmax.begin(), e.nmax.end());
            d["num_kvectors"] = e.num_kvectors;
            d["grid"] = std::vector<int>(e.grid.begin(), e.grid.end());
            d["pme_error"] = e.pme_error;
            return d;
          },
          nb::arg("system"), "Ewald alpha (1/Å), k cut-off (1/Å), n ranges and number of k vectors for a system.");

  m.def(
      "water_topology",
      [](const nepcg::System& s, const std::string& oxygen, const std::string& hydrogen) {
        nepcg::WaterTopology t = nepcg::water_topology(s, oxygen, hydrogen);
        const size_t nm = t.waters.size();
        std::vector<int> waters, bonds, angles;
        for (const auto& w : t.waters) waters.insert(waters.end(), w.begin(), w.end());
        for (const auto& b : t.bonds) bonds.insert(bonds.end(), b.begin(), b.end());
        for (const auto& a : t.angles) angles.insert(angles.end(), a.begin(), a.end());
        const size_t n = t.molecule.size();
        nb::dict d;
        d["molecule"] = owned(std::move(t.molecule), {n});
        d["waters"] = owned(std::move(waters), {nm, 3});
        d["bonds"] = owned(std::move(bonds), {2 * nm, 2});
        d["angles"] = owned(std::move(angles), {nm, 3});
        return d;
      },
      nb::arg("system"), nb::arg("oxygen") = "O", nb::arg("hydrogen") = "H");

  // The PME grid's FFTs, for tests against numpy.fft (internal).
  m.def(
      "_fft",
      [](std::vector<std::complex<double>> x, int sign) {
        const int n = static_cast<int>(x.size());
        std::vector<std::complex<double>> work(2 * n + 2);
        nepcg::detail::FFT1D(n, sign).transform(x.data(), 1, work.data());
        return x;
      },
      nb::arg("x"), nb::arg("sign"));
  m.def(
      "_rfft3d",
      [](const std::vector<double>& x, int n0, int n1, int n2) {
        if (x.size() != size_t(n0) * n1 * n2) throw nepcg::InputError("_rfft3d: x must hold n0 n1 n2 values");
        std::vector<std::complex<double>> out;
        nepcg::detail::rfft3d_forward(x, out, n0, n1, n2);
        std::vector<double> back;
        std::vector<std::complex<double>> copy = out;
        nepcg::detail::rfft3d_backward(copy, back, n0, n1, n2);
        return std::make_pair(out, back);
      },
      nb::arg("x"), nb::arg("n0"), nb::arg("n1"), nb::arg("n2"));
}
