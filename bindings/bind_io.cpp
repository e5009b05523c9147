// Extended XYZ I/O.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "nepcg/extxyz.hpp"

void init_io(nb::module_& m) {
  using nepcg::ExtxyzReader;
  using nepcg::System;
  nb::class_<ExtxyzReader>(m, "ExtxyzReader", "Streams the frames of an extended XYZ file.")
      .def("__init__", [](ExtxyzReader* self, const std::filesystem::path& p) { new (self) ExtxyzReader(p.string()); },
           nb::arg("path"))
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__",
           [](ExtxyzReader& r) {
             System s;
             if (!r.next(s)) throw nb::stop_iteration();
             return s;
           })
      .def_prop_ro("frames_read", &ExtxyzReader::frames_read);
  m.def("read_extxyz", [](const std::filesystem::path& p) { return nepcg::read_extxyz(p.string()); }, nb::arg("path"),
        nb::call_guard<nb::gil_scoped_release>());
  m.def("parse_extxyz", &nepcg::parse_extxyz, nb::arg("text"), nb::arg("name") = "<string>");
  m.def("write_extxyz",
        [](const std::filesystem::path& p, const std::vector<System>& frames, bool append) {
          nepcg::write_extxyz(p.string(), frames, append);
        },
        nb::arg("path"), nb::arg("frames"), nb::arg("append") = false,
        nb::call_guard<nb::gil_scoped_release>());
  m.def("format_extxyz", &nepcg::format_extxyz, nb::arg("frames"));
}
