// Shared declarations for the binding units: one init function per area.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <vector>

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
/// energy, energies, forces, virials (per atom) and virial (total) as a dict of numpy arrays.
nb::dict result_dict(nepcg::ForceResult&& r);


/// A numpy array that owns (and frees) the moved-in vector.
template <class T>
nb::object owned(std::vector<T>&& v, std::initializer_list<size_t> shape) {
  auto* heap = new std::vector<T>(std::move(v));
  nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, T>(heap->data(), shape, owner), nb::rv_policy::move);
}
