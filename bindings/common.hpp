// Shared declarations for the binding units: one init function per area.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

namespace nb = nanobind;

void init_errors(nb::module_& m);
void init_structure(nb::module_& m);
void init_io(nb::module_& m);
void init_neighbors(nb::module_& m);
void init_nep(nb::module_& m);

