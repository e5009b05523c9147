// NepModel (parameters, nep.txt I/O) and the NEP evaluator.
#include <nanobind/stl/array.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "nepcg/error.hpp"
#include "nepcg/config.hpp"
#include "nepcg/nep.hpp"
#include "nepcg/nep_direct.hpp"
#include "nepcg/kernels/nep_basis_lanes.hpp"
#if NEPCG_HAVE_CUDA_BUILD
#include "nepcg/fused_replicas.hpp"
#include "nepcg/gpu_nep.hpp"
#if NEPCG_CUDA_EMULATION_BUILD
#include "nepcg/detail/cuda_emulation_probe.hpp"
#endif
#endif

using nepcg::NepModel;

namespace {

nepcg::NepNumberFormat number_format(const std::string& f) {
  if (f == "exact") return nepcg::NepNumberFormat::Exact;
  if (f == "gpumd") return nepcg::NepNumberFormat::Gpumd;
  throw nepcg::InputError("NepModel: format must be 'exact' or 'gpumd'; got '" + f + "'");
}

std::vector<double> as_vector(nb::handle obj) {
  nb::object a = nb::module_::import_("numpy").attr("ascontiguousarray")(obj, "float64").attr("ravel")();
  return nb::cast<std::vector<double>>(a.attr("tolist")());
}

#define NEP_ARRAY(name)                                                                       \
  def_prop_rw(                                                                                \
      #name, [](const NepModel& m) { return owned(std::vector<double>(m.name), {m.name.size()}); }, \
      [](NepModel& m, nb::handle v) { m.name = as_vector(v); })

/// Descriptor of every atom (N x D array) from the CPU evaluator, without the GIL.
nb::object descriptors(const nepcg::NEP& nep, const nepcg::System& s, bool scaled) {
  std::vector<double> d;
  {
    nb::gil_scoped_release release;
    d = nep.descriptors(s, scaled);
  }
  const size_t dim = nep.model().dim();
  return owned(std::move(d), {s.size(), dim});
}

}  // namespace

void init_nep(nb::module_& m) {
  nb::class_<NepModel>(m, "NepModel", "Parameters of a NEP model (GPUMD nep.txt).")
      .def(nb::init<>())
      .def("copy", [](const NepModel& x) { return NepModel(x); })
      .def_rw("version", &NepModel::version)
      .def_rw("elements", &NepModel::elements)
      .def_prop_rw(
          "zbl",
          [](const NepModel& x) {
            const char* names[] = {"none", "universal", "typewise", "flexible"};
            return std::string(names[static_cast<int>(x.zbl)]);
          },
          [](NepModel& x, const std::string& v) {
            if (v == "none") x.zbl = nepcg::ZblKind::None;
            else if (v == "universal") x.zbl = nepcg::ZblKind::Universal;
            else if (v == "typewise") x.zbl = nepcg::ZblKind::Typewise;
            else if (v == "flexible") x.zbl = nepcg::ZblKind::Flexible;
            else throw nepcg::InputError("NepModel.zbl: none, universal, typewise or flexible; got '" + v + "'");
          })
      .def_rw("zbl_inner", &NepModel::zbl_inner)
      .def_rw("zbl_outer", &NepModel::zbl_outer)
      .def_rw("zbl_typewise_factor", &NepModel::zbl_typewise_factor)
      .def_rw("cutoff_radial", &NepModel::cutoff_radial)
      .def_rw("cutoff_angular", &NepModel::cutoff_angular)
      .def_rw("typewise_cutoff", &NepModel::typewise_cutoff)
      .def_rw("max_neighbors_radial", &NepModel::max_neighbors_radial)
      .def_rw("max_neighbors_angular", &NepModel::max_neighbors_angular)
      .def_rw("n_max_radial", &NepModel::n_max_radial)
      .def_rw("n_max_angular", &NepModel::n_max_angular)
      .def_rw("basis_size_radial", &NepModel::basis_size_radial)
      .def_rw("basis_size_angular", &NepModel::basis_size_angular)
      .def_rw("l_max", &NepModel::l_max)
      .def_rw("terms", &NepModel::terms, "Flags of the extra terms 222, 1111, 112, 123, 233, 134 (non-zero = on).")
      .def_rw("neurons1", &NepModel::neurons1)
      .def_rw("neurons2", &NepModel::neurons2)
      .NEP_ARRAY(ann)
      .NEP_ARRAY(c_radial)
      .NEP_ARRAY(c_angular)
      .NEP_ARRAY(q_scaler)
      .NEP_ARRAY(zbl_flexible)
      .def_prop_ro("num_types", &NepModel::num_types)
      .def_prop_ro("dim", &NepModel::dim, "Descriptor size D.")
      .def_prop_ro("num_parameters", &NepModel::num_parameters, "Trainable parameters (network + descriptor).")
      .def_prop_ro("ann_size", &NepModel::ann_size)
      .def_prop_ro("c_radial_size", &NepModel::c_radial_size)
      .def_prop_ro("c_angular_size", &NepModel::c_angular_size)
      .def("validate", &NepModel::validate)
      .def(
          "write",
          [](const NepModel& x, const std::filesystem::path& path, const std::string& format) {
            nepcg::write_nep_model(x, path.string(), number_format(format));
          },
          nb::arg("path"), nb::arg("format") = "exact",
          "Writes nep.txt. format='exact': shortest decimals that read back bit-identically; 'gpumd': "
          "%15.7e parameters as GPUMD writes them.")
      .def(
          "to_string",
          [](const NepModel& x, const std::string& format) { return nepcg::format_nep_model(x, number_format(format)); },
          nb::arg("format") = "exact");
  m.def("read_nep_model", [](const std::filesystem::path& p) { return nepcg::read_nep_model(p.string()); },
        nb::arg("path"), "Reads a GPUMD nep.txt.");
  m.def("parse_nep_model", &nepcg::parse_nep_model, nb::arg("text"), nb::arg("name") = "<string>");
  m.def("wigner_3j", &nepcg::wigner_3j);
  m.def(
      "_radial_basis_lanes",
      [](const std::vector<double>& r, double rc, int K) {
        if (K < 0 || K >= nepcg::kernels::kMaxK) throw nepcg::InputError("_radial_basis_lanes: K out of range");
        if (!(rc > 0)) throw nepcg::InputError("_radial_basis_lanes: rc must be positive");
        const size_t n = r.size();
        std::vector<double> f(n * (K + 1)), fp(n * (K + 1));
        for (size_t i0 = 0; i0 < n; i0 += 4) {
          nepcg::kernels::Double4 d, c, fk[nepcg::kernels::kMaxK], fpk[nepcg::kernels::kMaxK];
          for (int l = 0; l < 4; ++l) d[l] = i0 + l < n ? r[i0 + l] : 2 * rc, c[l] = rc;
          nepcg::kernels::chebyshev_basis4(K, d, c, fk, fpk);
          for (int l = 0; l < 4 && i0 + l < n; ++l)
            for (int k = 0; k <= K; ++k) f[(i0 + l) * (K + 1) + k] = fk[k][l], fp[(i0 + l) * (K + 1) + k] = fpk[k][l];
        }
        return nb::make_tuple(f, fp);
      },
      nb::arg("r"), nb::arg("rc"), nb::arg("K"),
      "The CPU evaluator's four-lane radial basis f_k(r), df_k/dr (kernels/nep_basis_lanes.hpp), rows of K + 1 "
      "per distance (for its accuracy test).");

  nb::class_<nepcg::NEP, nepcg::Potential>(m, "NEP", "NEP evaluator (CPU, double precision).")
      .def("__init__", [](nepcg::NEP* self, const std::filesystem::path& p) { new (self) nepcg::NEP(p.string()); },
           nb::arg("path"))
      .def(nb::init<NepModel>(), nb::arg("model"))
      .def_prop_ro("model", [](const nepcg::NEP& p) { return p.model(); })
      .def(
          "descriptors", [](const nepcg::NEP& p, const nepcg::System& s, bool scaled) { return descriptors(p, s, scaled); },
          nb::arg("system"), nb::arg("scaled") = false);

  nb::class_<nepcg::NepDirect, nepcg::Potential>(
      m, "NepDirect",
      "NEP on the CPU by the GPU kernel's algorithm (no cached pair terms) in 'double' or 'single' precision: "
      "the CPU statement of the GPU single-precision path's accuracy (slow; for checks).")
      .def("__init__",
           [](nepcg::NepDirect* self, NepModel model, const std::string& precision) {
             new (self) nepcg::NepDirect(std::move(model), nepcg::parse_nep_precision(precision));
           },
           nb::arg("model"), nb::arg("precision") = "single")
      .def_prop_ro("model", [](const nepcg::NepDirect& p) { return p.model(); })
      .def_prop_ro("precision", [](const nepcg::NepDirect& p) { return nepcg::to_string(p.precision()); })
      .def(
          "descriptors",
          [](const nepcg::NepDirect& p, const nepcg::System& s, bool scaled) {
            return descriptors(p.reference(), s, scaled);
          },
          nb::arg("system"), nb::arg("scaled") = false);

#if NEPCG_HAVE_CUDA_BUILD
  m.def(
      "gpu_available",
      [] {
        std::string why;
        const bool ok = nepcg::gpu_available(&why);
        return nb::make_tuple(ok, why);
      },
      "(True, '') when a CUDA device is usable, else (False, reason).");
  m.attr("cuda_emulated") = bool(NEPCG_CUDA_EMULATION_BUILD);
#if NEPCG_CUDA_EMULATION_BUILD
  m.def("_cuda_emulation_probe", &nepcg::cuda::cuda_emulation_probe, nb::arg("what"),
        "Emulation builds only: commits one of the errors the CUDA emulation must catch (tests).");
#endif
  nb::class_<nepcg::GpuNEP, nepcg::Potential>(m, "GpuNEP", "NEP evaluator on a CUDA GPU (double or single precision).")
      .def("__init__",
           [](nepcg::GpuNEP* self, NepModel model, double skin, const std::string& precision) {
             new (self) nepcg::GpuNEP(std::move(model), skin, nepcg::parse_nep_precision(precision));
           },
           nb::arg("model"), nb::arg("skin") = 1.0, nb::arg("precision") = "double")
      .def_prop_ro("precision", [](const nepcg::GpuNEP& p) { return nepcg::to_string(p.precision()); })
      .def_prop_ro("model", [](const nepcg::GpuNEP& p) { return p.model(); })
      .def_prop_ro("device_name", &nepcg::GpuNEP::device_name)
      .def_prop_ro("neighbor_list_builds", &nepcg::GpuNEP::neighbor_list_builds)
      .def_prop_ro("neighbor_capacity", &nepcg::GpuNEP::neighbor_capacity)
      .def_prop_ro("site_lanes", &nepcg::GpuNEP::site_lanes)
      .def_prop_ro("site_order", &nepcg::GpuNEP::site_order)
      .def_prop_ro("site_skin", &nepcg::GpuNEP::site_skin)
      .def("site_pass_cycles", &nepcg::GpuNEP::site_pass_cycles, nb::arg("system"), nb::arg("repeats") = 5,
           "Clock cycles of the NEP site kernel's passes (skin skipping, descriptor sums, network, partial "
           "forces), summed over lane groups and repeats; for benchmarks.")
      .def("time_forces", &nepcg::GpuNEP::time_forces, nb::arg("system"), nb::arg("repeats") = 20,
           "Milliseconds per force evaluation on the device (median; for benchmarks).")
      .def(
          "compute_on_device",
          [](const nepcg::GpuNEP& p, const nepcg::System& s, bool per_atom_virials, bool fresh_list) {
            nepcg::ForceResult r;
            {
              nb::gil_scoped_release release;
              r = p.compute_on_device(s, per_atom_virials, fresh_list);
            }
            return result_dict(std::move(r));
          },
          nb::arg("system"), nb::arg("per_atom_virials") = true, nb::arg("fresh_list") = false,
          "Like Potential.compute, with the neighbour list built on the device (fresh_list: built "
          "afresh for this system, as accumulate_alone does).")
      .def(
          "compute_replicas",
          [](const nepcg::GpuNEP& p, const std::vector<nepcg::System>& systems) {
            std::vector<nepcg::ForceResult> r;
            {
              nb::gil_scoped_release release;
              r = p.compute_replicas(systems);
            }
            nb::list out;
            for (nepcg::ForceResult& one : r) out.append(result_dict(std::move(one)));
            return out;
          },
          nb::arg("systems"),
          "Independent systems evaluated together, one launch per kernel for all: a list of "
          "compute_on_device's results.")
      .def(
          "descriptors",
          [](const nepcg::GpuNEP& p, const nepcg::System& s, bool scaled) { return descriptors(p.cpu(), s, scaled); },
          nb::arg("system"), nb::arg("scaled") = false);
  nb::class_<nepcg::FusedReplica, nepcg::Potential>(m, "FusedReplica",
                                                    "A replica whose device segments run fused with its group's.")
      .def_prop_ro("group", &nepcg::FusedReplica::group);
  nb::class_<nepcg::FusedReplicaGroup>(m, "FusedReplicaGroup",
                                       "Replicas whose device segments run fused on one GpuNEP.")
      .def(nb::new_([](std::shared_ptr<const nepcg::GpuNEP> engine, double wait_ms) {
             return nepcg::FusedReplicaGroup::create(std::move(engine), wait_ms);
           }),
           nb::arg("engine"), nb::arg("wait_ms") = 5.0)
      .def("member", &nepcg::FusedReplicaGroup::member, "A new member (one replica's potential).")
      .def_prop_ro("members", &nepcg::FusedReplicaGroup::members)
      .def_prop_ro("segments", &nepcg::FusedReplicaGroup::segments)
      .def_prop_ro("fused_segments", &nepcg::FusedReplicaGroup::fused_segments)
      .def_prop_ro("largest_batch", &nepcg::FusedReplicaGroup::largest_batch);
#else
  m.def("gpu_available", [] { return nb::make_tuple(false, std::string("CUDA backend not compiled")); });
  m.attr("cuda_emulated") = false;
#endif
}
