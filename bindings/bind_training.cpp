// Training: nep.in options, training structures, the SNES Trainer and predictions.
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "nepcg/config.hpp"
#include "nepcg/error.hpp"
#include "nepcg/nep_direct.hpp"
#if NEPCG_HAVE_CUDA_BUILD
#include "nepcg/gpu_nep.hpp"
#endif
#include "nepcg/training/trainer.hpp"

using namespace nepcg;

namespace {

nb::dict prediction_dict(StructurePrediction&& p) {
  nb::dict d;
  const size_t n = p.energies.size();
  d["energy"] = p.energy;
  d["energies"] = owned(std::move(p.energies), {n});
  d["forces"] = owned(std::move(p.forces), {n, 3});
  d["virial"] = owned(std::vector<double>(p.virial, p.virial + 6), {6});
  return d;
}

}  // namespace

void init_training(nb::module_& m) {
  nb::class_<TrainingOptions>(m, "TrainingOptions", "Hyper-parameters of a NEP training run (nep.in).")
      .def("to_text", &format_nep_in)
      .def("validate", &TrainingOptions::validate)
      .def("model_skeleton", &TrainingOptions::model_skeleton)
      .def_ro("types", &TrainingOptions::types)
      .def_ro("generation", &TrainingOptions::generation)
      .def_ro("population", &TrainingOptions::population)
      .def_ro("batch", &TrainingOptions::batch)
      .def_ro("output_interval", &TrainingOptions::output_interval)
      .def_ro("prediction", &TrainingOptions::prediction)
      .def_ro("output_descriptor", &TrainingOptions::output_descriptor)
      .def_ro("has_seed", &TrainingOptions::has_seed)
      .def_ro("zbl_flexible", &TrainingOptions::zbl_flexible)
      .def("resolved_lambda_1", &TrainingOptions::resolved_lambda_1)
      .def("resolved_lambda_2", &TrainingOptions::resolved_lambda_2);
  m.def("parse_nep_in", &parse_nep_in, nb::arg("text"), nb::arg("name") = "nep.in");
  m.def("read_nep_in", &read_nep_in, nb::arg("path"));
  m.def("missing_label_note", &missing_label_note, nb::arg("data"), nb::arg("what"));
  m.def("load_zbl_in", &load_zbl_in, nb::arg("options"), nb::arg("path"),
        "Flexible ZBL parameters from zbl.in into options when the file exists and 'zbl' is set.");

  nb::class_<TrainingStructure>(m, "TrainingStructure", "A structure with reference labels (GPUMD conventions).")
      .def_ro("system", &TrainingStructure::system)
      .def_ro("has_energy", &TrainingStructure::has_energy)
      .def_ro("energy", &TrainingStructure::energy)
      .def_ro("has_forces", &TrainingStructure::has_forces)
      .def_prop_ro("forces",
                   [](const TrainingStructure& s) { return owned(std::vector<double>(s.forces), {s.forces.size() / 3, 3}); })
      .def_ro("has_virial", &TrainingStructure::has_virial)
      .def_prop_ro("virial", [](const TrainingStructure& s) {
        return owned(std::vector<double>(s.virial.begin(), s.virial.end()), {6});
      })
      .def_ro("weight", &TrainingStructure::weight)
      .def_ro("energy_weight", &TrainingStructure::energy_weight)
      .def_ro("config_type", &TrainingStructure::config_type)
      .def("where", &TrainingStructure::where)
      .def("__len__", &TrainingStructure::size);
  m.def("make_training_structure", &make_training_structure, nb::arg("system"), nb::arg("source") = "",
        nb::arg("line") = 0);
  m.def("read_training_set", &read_training_set, nb::arg("path"), nb::call_guard<nb::gil_scoped_release>());

  // Trainer::loss_terms without the GIL (both overloads of the binding below).
  const auto loss_terms_released = [](const Trainer& t, const std::vector<double>& z, int batch) {
    nb::gil_scoped_release release;
    return t.loss_terms(z, batch);
  };
  nb::class_<Trainer>(m, "Trainer", "SNES training of a NEP model, as GPUMD's nep.")
      .def(
          "__init__",
          [](Trainer* self, TrainingOptions options, std::vector<TrainingStructure> train,
             std::vector<TrainingStructure> test, std::string directory, bool resume, const std::string& device,
             const std::string& precision_name) {
            nepcg::EvaluatorFactory factory;
            const nepcg::NepPrecision precision = nepcg::parse_nep_precision(precision_name);
            if (device == "cpu") {
              factory = [precision](const nepcg::NepModel& m, const std::vector<TrainingStructure>& d,
                                    const std::vector<double>& tw, double fd) {
                return nepcg::make_cpu_population_evaluator(m, d, tw, fd, nepcg::kDefaultTrainingCacheLimit,
                                                            precision);
              };
            } else if (device == "cuda") {
#if NEPCG_HAVE_CUDA_BUILD
              factory = [precision](const nepcg::NepModel& m, const std::vector<TrainingStructure>& d,
                                    const std::vector<double>& tw, double fd) {
                return nepcg::make_gpu_population_evaluator(m, d, tw, fd, precision);
              };
#else
              throw nepcg::InputError("Trainer: device='cuda' but the CUDA backend is not compiled");
#endif
            } else if (device != "cpu") {
              throw nepcg::InputError("Trainer: device must be 'cpu' or 'cuda'; got '" + device + "'");
            }
            nb::gil_scoped_release release;
            new (self) Trainer(std::move(options), std::move(train), std::move(test), std::move(directory), resume,
                               factory);
          },
          nb::arg("options"), nb::arg("train"), nb::arg("test"), nb::arg("directory") = "", nb::arg("resume") = true,
          nb::arg("device") = "cpu", nb::arg("precision") = "double")
      .def("run", &Trainer::run, nb::arg("n"), nb::call_guard<python_interrupts, nb::gil_scoped_release>())
      .def_prop_ro("finished", &Trainer::finished)
      .def_prop_ro("generation", &Trainer::generation)
      .def_prop_ro("resume_warning", &Trainer::resume_warning,
                   "Empty, or why a resumed run may not be what was meant (a checkpoint of other data).")
      .def_prop_ro("num_parameters", &Trainer::num_parameters)
      .def_prop_ro("num_batches", &Trainer::num_batches)
      .def_prop_ro("history",
                   [](const Trainer& t) {
                     std::vector<double> v;
                     for (const auto& r : t.history())
                       for (double x : {double(r.generation), r.total, r.l1, r.l2, r.energy_train, r.force_train,
                                        r.virial_train, r.energy_test, r.force_test, r.virial_test})
                         v.push_back(x);
                     const size_t n = t.history().size();
                     return owned(std::move(v), {n, 10});
                   })
      .def("best_model", &Trainer::best_model)
      .def("mean_model", &Trainer::mean_model)
      .def_prop_ro("mean", [](const Trainer& t) { return owned(std::vector<double>(t.mean()), {t.mean().size()}); })
      .def_prop_ro("step_sizes",
                   [](const Trainer& t) { return owned(std::vector<double>(t.step_sizes()), {t.step_sizes().size()}); })
      .def_prop_ro("q_scaler",
                   [](const Trainer& t) { return owned(std::vector<double>(t.q_scaler()), {t.q_scaler().size()}); })
      .def_prop_ro("population",
                   [](const Trainer& t) {
                     const size_t np = t.num_parameters();
                     return owned(std::vector<double>(t.population()), {t.population().size() / np, np});
                   })
      .def_prop_ro("noise",
                   [](const Trainer& t) {
                     const size_t np = t.num_parameters();
                     return owned(std::vector<double>(t.noise()), {t.noise().size() / np, np});
                   })
      .def_prop_ro("parameter_owner", [](const Trainer& t) {
        return owned(std::vector<int>(t.parameter_owner()), {t.parameter_owner().size()});
      })
      .def(
          "loss_terms",
          [loss_terms_released](const Trainer& t, nb::ndarray<const double, nb::c_contig, nb::device::cpu> z, int batch) {
            if (z.ndim() != 1 && z.ndim() != 2)
              throw nepcg::InputError("Trainer.loss_terms: parameters must be one vector or a (P, N_par) array");
            std::vector<double> v = loss_terms_released(t, std::vector<double>(z.data(), z.data() + z.size()), batch);
            const size_t rows = v.size() / 5;
            if (z.ndim() == 1) return owned(std::move(v), {rows, 5});
            const size_t P = z.shape(0);
            return owned(std::move(v), {P, rows / P, 5});
          },
          nb::arg("parameters"), nb::arg("batch"),
          "Loss terms (T+1, 5) of one parameter vector, or (P, T+1, 5) of a (P, N_par) population evaluated "
          "together: per type t (t = T: all) L1, L2, lambda_e RMSE_E, lambda_f RMSE_F, lambda_v RMSE_V.")
      .def(
          "loss_terms",
          [loss_terms_released](const Trainer& t, const std::vector<double>& z, int batch) {
            std::vector<double> v = loss_terms_released(t, z, batch);
            const size_t rows = v.size() / 5;
            return owned(std::move(v), {rows, 5});
          },
          nb::arg("parameters"), nb::arg("batch"), "The same for a sequence of N_par numbers.")
      .def_prop_ro("batches", &Trainer::batches)
      .def("save_checkpoint", &Trainer::save_checkpoint)
      .def("write_predictions", &Trainer::write_predictions, nb::arg("model"), nb::arg("test_set"), nb::arg("suffix"));

  m.def("_training_lanes_tanh", &nepcg::detail::training_lanes_tanh, nb::arg("x"), nb::arg("single") = false,
        "The CPU trainer's vectorised tanh, of double or (single=True) float lanes (for its accuracy test).");
  m.def(
      "predict_structures",
      [](const NepModel& model, const std::vector<TrainingStructure>& data, bool cache) {
        std::vector<StructurePrediction> p;
        {
          nb::gil_scoped_release release;
          p = predict_structures(model, data, cache ? kDefaultTrainingCacheLimit : 0);
        }
        nb::list out;
        for (auto& x : p) out.append(prediction_dict(std::move(x)));
        return out;
      },
      nb::arg("model"), nb::arg("data"), nb::arg("cache") = true);
  m.def("predict_directory", &predict_directory, nb::arg("options"), nb::arg("data"), nb::arg("directory"),
        nb::call_guard<nb::gil_scoped_release>());
  m.def(
      "write_parity_files",
      [](const std::string& dir, const std::string& suffix, const std::vector<TrainingStructure>& data,
         const NepModel& model) { write_parity_files(dir, suffix, data, predict_structures(model, data)); },
      nb::arg("directory"), nb::arg("suffix"), nb::arg("data"), nb::arg("model"));
}
