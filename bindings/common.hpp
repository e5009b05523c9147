// Shared declarations for the binding units: one init function per area.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <vector>

#include "nepcg/interrupt.hpp"

namespace nb = nanobind;

void init_errors(nb::module_& m);
void init_structure(nb::module_& m);
void init_io(nb::module_& m);
void init_neighbors(nb::module_& m);
void init_potentials(nb::module_& m);
void init_nep(nb::module_& m);
void init_simulator(nb::module_& m);
void init_training(nb::module_& m);
void init_water(nb::module_& m);

namespace nepcg {
struct ForceResult;
}

/// Call guard of long calls (MD runs, training): Ctrl-C (a pending Python signal) is checked
/// between steps, at most every 100 ms (nepcg/interrupt.hpp), and ends the call with the signal
/// handler's exception (KeyboardInterrupt). Put it before gil_scoped_release.
struct python_interrupts {
  nepcg::InterruptScope scope{[] {
    nb::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
  }};
};
/// energy, energies, forces, virials (per atom) and virial (total) as a dict of numpy arrays.
nb::dict result_dict(nepcg::ForceResult&& r);


/// A numpy array that owns (and frees) the moved-in vector.
template <class T>
nb::object owned(std::vector<T>&& v, std::initializer_list<size_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, T>(heap->data(), shape, owner), nb::rv_policy::move);
}
