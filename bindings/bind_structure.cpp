// Box and System. Arrays come back as numpy views of the C++ storage (kept alive by the
// owning object); setters copy into the existing storage (the atom count cannot change).
#include <cmath>

#include <nanobind/stl/array.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "nepcg/error.hpp"
#include "nepcg/system.hpp"

using nepcg::Box;
using nepcg::InputError;
using nepcg::InfoValue;
using nepcg::Mat3;
using nepcg::PerAtomArray;
using nepcg::System;
using nepcg::Vec3;

namespace {

using ViewR = nb::ndarray<nb::numpy, double>;
using ViewI = nb::ndarray<nb::numpy, int, nb::ro>;
using InputR = nb::ndarray<const double, nb::c_contig, nb::device::cpu>;

Mat3 to_mat3(InputR a, const char* what) {
  if (a.ndim() != 2 || a.shape(0) != 3 || a.shape(1) != 3)
    throw InputError(std::string(what) + ": expected a 3x3 array");
  Mat3 m{};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[r][c] = a.data()[3 * r + c];
  return m;
}

std::vector<double> to_rows3(InputR a, size_t n_expected, const char* what) {
  if (a.ndim() == 1 && a.shape(0) == 3 && n_expected == size_t(-1)) return {a.data()[0], a.data()[1], a.data()[2]};
  const bool ok = a.ndim() == 2 && a.shape(1) == 3 && (n_expected == size_t(-1) || a.shape(0) == n_expected);
  if (!ok)
    throw InputError(std::string(what) + ": expected an array of shape (" +
                     (n_expected == size_t(-1) ? std::string("N") : std::to_string(n_expected)) + ", 3)");
  return std::vector<double>(a.data(), a.data() + a.size());
}

// Any array-like (list, numpy array of any dtype/order) as a C-contiguous float64 array.
InputR as_real(nb::handle obj) {
  nb::object a = nb::module_::import_("numpy").attr("ascontiguousarray")(obj, "float64");
  return nb::cast<InputR>(a);
}

// Copies an (n, 3) array of finite values into `target`, reusing its storage when it already
// has 3n values, so that numpy views handed out earlier stay valid.
void assign_rows3(std::vector<double>& target, InputR a, size_t n, const char* what) {
  std::vector<double> v = to_rows3(a, n, what);
  for (double x : v)
    if (!std::isfinite(x)) throw InputError(std::string(what) + ": values must be finite (got NaN or infinity)");
  if (target.size() == v.size()) std::copy(v.begin(), v.end(), target.begin());
  else target = std::move(v);
}

nb::object mat3_array(const Mat3& m) {
  double* d = new double[9];
  for (int k = 0; k < 9; ++k) d[k] = m[k / 3][k % 3];
  nb::capsule owner(d, [](void* p) noexcept { delete[] static_cast<double*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, double>(d, {3, 3}, owner), nb::rv_policy::move);
}

nb::object owned_rows3(std::vector<double>&& v, bool single = false) {
  const size_t n = v.size();
  return single ? owned(std::move(v), {3}) : owned(std::move(v), {n / 3, 3});
}

// Applies fn to every row of an (N, 3) or (3,) array-like; returns a new array of the same shape.
template <class Fn>
nb::object map_rows3(nb::handle obj, Fn fn) {
  InputR a = as_real(obj);
  std::vector<double> v = to_rows3(a, size_t(-1), "Box");
  for (size_t i = 0; i < v.size(); i += 3) {
    const Vec3 r = fn(Vec3{v[i], v[i + 1], v[i + 2]});
    v[i] = r[0], v[i + 1] = r[1], v[i + 2] = r[2];
  }
  return owned_rows3(std::move(v), a.ndim() == 1);
}

std::array<bool, 3> to_pbc(nb::handle pbc, bool default_value) {
  if (pbc.is_none()) return {default_value, default_value, default_value};
  if (nb::isinstance<nb::bool_>(pbc)) {
    const bool b = nb::cast<bool>(pbc);
    return {b, b, b};
  }
  // 3 values that are bools (also numpy's) or the integers 0 / 1; not a string ('TTT').
  const std::string got = nb::cast<std::string>(nb::repr(pbc));
  auto fail = [&] { return InputError("pbc: expected a bool or 3 bools; got " + got); };
  if (nb::isinstance<nb::str>(pbc) || !PySequence_Check(pbc.ptr())) throw fail();
  const Py_ssize_t size = PySequence_Size(pbc.ptr());
  if (size != 3) {
    PyErr_Clear();
    throw fail();
  }
  std::array<bool, 3> out{};
  for (Py_ssize_t k = 0; k < 3; ++k) {
    nb::object item = nb::steal(PySequence_GetItem(pbc.ptr(), k));
    if (!item.is_valid()) {
      PyErr_Clear();
      throw fail();
    }
    const std::string type = nb::cast<std::string>(nb::str(nb::handle(reinterpret_cast<PyObject*>(Py_TYPE(item.ptr()))).attr("__name__")));
    if (type == "bool" || type == "bool_") {
      out[k] = PyObject_IsTrue(item.ptr()) == 1;
    } else {
      // an integer (Python's or numpy's) that is 0 or 1
      long long v = -1;
      if (PyObject* index = PyNumber_Index(item.ptr())) {
        v = PyLong_AsLongLong(index);
        Py_DECREF(index);
      }
      if (PyErr_Occurred()) PyErr_Clear();
      if (v != 0 && v != 1) throw fail();
      out[k] = v == 1;
    }
  }
  return out;
}

Box make_box(nb::handle cell, nb::handle pbc) {
  if (cell.is_none()) {
    auto p = to_pbc(pbc, false);
    return Box(Mat3{}, p);
  }
  Mat3 m{};
  auto arr = nb::cast<std::vector<double>>(nb::module_::import_("numpy").attr("asarray")(cell, "float64").attr("ravel")());
  if (arr.size() == 3) {  // lengths of an orthorhombic cell
    m[0][0] = arr[0], m[1][1] = arr[1], m[2][2] = arr[2];
  } else if (arr.size() == 9) {
    for (int k = 0; k < 9; ++k) m[k / 3][k % 3] = arr[k];
  } else {
    throw InputError("cell: expected 3 lengths or a 3x3 matrix; got " + std::to_string(arr.size()) + " numbers");
  }
  return Box(m, to_pbc(pbc, true));
}

nb::tuple info_to_tuple(const InfoValue& v) {
  static const char* kinds[] = {"str", "int", "float", "bool", "int_array", "float_array", "bool_array"};
  return nb::make_tuple(kinds[static_cast<int>(v.kind)], v.text, v.reals, v.ints);
}

InfoValue info_from_parts(const std::string& kind, const std::string& text, const std::vector<double>& reals,
                          const std::vector<long long>& ints) {
  static const char* kinds[] = {"str", "int", "float", "bool", "int_array", "float_array", "bool_array"};
  InfoValue v;
  for (int k = 0; k < 7; ++k)
    if (kind == kinds[k]) v.kind = static_cast<InfoValue::Kind>(k);
  v.text = text;
  v.reals = reals;
  v.ints = ints;
  return v;
}

}  // namespace

void init_structure(nb::module_& m) {
  nb::class_<Box>(m, "Box", "Simulation cell: rows a, b, c (Å) and periodicity per direction.")
      .def(nb::init<>())
      .def("__init__",
           [](Box* self, nb::handle cell, nb::handle pbc) { new (self) Box(make_box(cell, pbc)); },
           nb::arg("cell"), nb::arg("pbc") = nb::none(),
           "cell: 3 lengths or a 3x3 matrix with the lattice vectors as rows (Å); pbc: bool or 3 bools "
           "(default: periodic when a cell is given).")
      .def_prop_ro("cell", [](const Box& b) { return mat3_array(b.cell()); }, "Cell matrix (3, 3), rows a, b, c, Å (copy).")
      .def_prop_ro("pbc", [](const Box& b) { return b.pbc(); })
      .def_prop_ro("volume", &Box::volume, "Volume in Å^3.")
      .def_prop_ro("thickness", &Box::thickness, "Distance between opposite faces per direction, Å.")
      .def("to_fractional", [](const Box& b, nb::handle x) { return map_rows3(x, [&](const Vec3& r) { return b.to_fractional(r); }); },
           "Fractional coordinates of positions ((N, 3) or (3,), Å).")
      .def("to_cartesian", [](const Box& b, nb::handle x) { return map_rows3(x, [&](const Vec3& f) { return b.to_cartesian(f); }); },
           "Cartesian positions (Å) of fractional coordinates ((N, 3) or (3,)).")
      .def("minimum_image", [](const Box& b, nb::handle x) { return map_rows3(x, [&](const Vec3& d) { return b.minimum_image(d); }); },
           "Shortest periodic images of displacement vectors ((N, 3) or (3,), Å); exact for any cell shape.")
      .def("wrap",
           [](const Box& b, nb::handle x) {
             return map_rows3(x, [&](const Vec3& r) {
               std::vector<double> v(r.begin(), r.end());
               b.wrap(v);
               return Vec3{v[0], v[1], v[2]};
             });
           },
           "Positions ((N, 3) or (3,), Å) mapped into the cell along periodic directions (new array).")
      .def("__repr__", [](const Box& b) {
        const auto& c = b.cell();
        std::string s = "Box(cell=[";
        for (int r = 0; r < 3; ++r)
          s += std::string(r ? ", " : "") + "[" + std::to_string(c[r][0]) + ", " + std::to_string(c[r][1]) + ", " +
               std::to_string(c[r][2]) + "]";
        s += std::string("], pbc=(") + (b.pbc()[0] ? "True" : "False") + ", " + (b.pbc()[1] ? "True" : "False") +
             ", " + (b.pbc()[2] ? "True" : "False") + "))";
        return s;
      });

  nb::class_<System>(m, "System",
                     "Atoms or beads of one configuration. Units: positions Å, velocities Å/fs, masses amu.")
      .def("__init__",
           [](System* self, const std::vector<std::string>& species, nb::handle positions, nb::handle cell,
              nb::handle pbc, nb::handle masses, nb::handle velocities) {
             const size_t n = species.size();
             std::vector<double> mass;
             if (!masses.is_none()) {
               InputR m = as_real(masses);
               if (m.ndim() != 1 || m.shape(0) != n)
                 throw InputError("System: masses must have shape (" + std::to_string(n) + ",)");
               mass.assign(m.data(), m.data() + n);
             }
             System s = System::from_symbols(species, to_rows3(as_real(positions), n, "System: positions"),
                                             make_box(cell, pbc), mass);
             if (!velocities.is_none()) s.velocities = to_rows3(as_real(velocities), n, "System: velocities");
             s.validate();
             new (self) System(std::move(s));
           },
           nb::arg("species"), nb::arg("positions"), nb::arg("cell") = nb::none(), nb::arg("pbc") = nb::none(),
           nb::arg("masses") = nb::none(), nb::arg("velocities") = nb::none(),
           "species: one name per atom (element symbols get standard masses; other names need masses).\n"
           "positions: (N, 3) Å. cell: 3 lengths or 3x3 rows (Å); pbc: bool or 3 bools (default periodic "
           "when a cell is given). masses: (N,) amu. velocities: (N, 3) Å/fs.")
      .def("__len__", &System::size)
      .def("copy", [](const System& s) { return System(s); }, "Deep copy.")
      .def_rw("box", &System::box)
      .def_prop_ro("cell", [](const System& s) { return mat3_array(s.box.cell()); })
      .def_prop_ro("pbc", [](const System& s) { return s.box.pbc(); })
      .def_prop_rw(
          "positions", [](System& s) { return ViewR(s.positions.data(), {s.size(), 3}, nb::handle()); },
          [](System& s, nb::handle a) { assign_rows3(s.positions, as_real(a), s.size(), "System.positions"); },
          "(N, 3) Å, a writable view.")
      .def_prop_rw(
          "velocities",
          [](System& s) -> nb::object {
            if (s.velocities.empty()) return nb::none();
            return nb::cast(ViewR(s.velocities.data(), {s.size(), 3}, nb::handle()), nb::rv_policy::reference_internal,
                            nb::find(&s));
          },
          [](System& s, nb::handle a) {
            if (a.is_none()) s.velocities.clear();
            else assign_rows3(s.velocities, as_real(a), s.size(), "System.velocities");
          },
          "(N, 3) Å/fs, a writable view, or None when not set.")
      .def_prop_rw(
          "masses", [](System& s) { return ViewR(s.masses.data(), {s.size()}, nb::handle()); },
          [](System& s, nb::handle obj) {
            InputR a = as_real(obj);
            if (a.ndim() != 1 || a.shape(0) != s.size())
              throw InputError("System.masses: expected shape (" + std::to_string(s.size()) + ",)");
            std::vector<double> old = s.masses;
            std::copy(a.data(), a.data() + s.size(), s.masses.begin());
            try {
              s.validate();
            } catch (...) {
              s.masses = old;
              throw;
            }
          },
          "(N,) amu, a writable view.")
      .def_prop_ro("types", [](System& s) { return ViewI(s.types.data(), {s.size()}, nb::handle()); },
                   "(N,) type index of each atom into type_names (read-only).")
      .def_prop_ro("type_names", [](const System& s) { return s.species; }, "Species names in type order.")
      .def_prop_rw(
          "species", [](const System& s) { return s.atom_species(); },
          [](System& s, const std::vector<std::string>& names) {
            if (names.size() != s.size())
              throw InputError("System.species: expected " + std::to_string(s.size()) + " names");
            System t = System::from_symbols(names, s.positions, s.box, s.masses);
            s.types = t.types;
            s.species = t.species;
          },
          "Species name of every atom (list of str). Setting keeps the masses.")
      .def_prop_rw(
          "groups",
          [](const System& s) {
            std::vector<std::vector<int>> g = s.groups;
            return g;
          },
          [](System& s, const std::vector<std::vector<int>>& g) {
            for (const auto& row : g)
              if (row.size() != s.size())
                throw InputError("System.groups: each grouping method needs one label per atom");
            s.groups = g;
          },
          "Grouping methods as a list of per-atom label lists (GPUMD's group columns).")
      .def("validate", &System::validate, "Checks sizes, species, masses and finite positions.")
      // Low-level access used by the Python info/arrays mappings (pynepcg/system.py).
      .def("_info_keys",
           [](const System& s) {
             std::vector<std::string> k;
             for (const auto& kv : s.info) k.push_back(kv.first);
             return k;
           })
      .def("_get_info",
           [](const System& s, const std::string& key) -> nb::object {
             const InfoValue* v = s.find_info(key);
             if (!v) return nb::none();
             return info_to_tuple(*v);
           })
      .def("_set_info",
           [](System& s, const std::string& key, const std::string& kind, const std::string& text,
              const std::vector<double>& reals, const std::vector<long long>& ints) {
             s.set_info(key, info_from_parts(kind, text, reals, ints));
           })
      .def("_del_info", &System::erase_info)
      .def("_array_names",
           [](const System& s) {
             std::vector<std::string> k;
             for (const auto& a : s.arrays) k.push_back(a.name);
             return k;
           })
      .def("_get_array",
           [](System& s, const std::string& name) -> nb::object {
             PerAtomArray* a = s.find_array(name);
             if (!a) return nb::none();
             const size_t n = s.size();
             nb::object self = nb::find(&s);
             if (a->kind == 'R') {
               auto view = a->ncols == 1 ? ViewR(a->reals.data(), {n}, nb::handle())
                                         : ViewR(a->reals.data(), {n, size_t(a->ncols)}, nb::handle());
               return nb::cast(view, nb::rv_policy::reference_internal, self);
             }
             if (a->kind == 'I' || a->kind == 'L') {
               using V = nb::ndarray<nb::numpy, long long>;
               auto view = a->ncols == 1 ? V(a->ints.data(), {n}, nb::handle())
                                         : V(a->ints.data(), {n, size_t(a->ncols)}, nb::handle());
               return nb::make_tuple(a->kind == 'L' ? "L" : "I",
                                     nb::cast(view, nb::rv_policy::reference_internal, self));
             }
             return nb::make_tuple("S", a->texts, a->ncols);
           })
      .def("_set_array_real",
           [](System& s, const std::string& name, InputR values) {
             const size_t n = s.size();
             const size_t ncols = values.ndim() == 1 ? 1 : values.shape(1);
             if (values.ndim() > 2 || values.shape(0) != n)
               throw InputError("System.arrays['" + name + "']: expected " + std::to_string(n) + " rows");
             PerAtomArray a;
             a.name = name, a.kind = 'R', a.ncols = int(ncols);
             a.reals.assign(values.data(), values.data() + values.size());
             s.set_array(a);
           })
      .def("_set_array_int",
           [](System& s, const std::string& name, nb::ndarray<const long long, nb::c_contig, nb::device::cpu> values,
              bool logical) {
             const size_t n = s.size();
             const size_t ncols = values.ndim() == 1 ? 1 : values.shape(1);
             if (values.ndim() > 2 || values.shape(0) != n)
               throw InputError("System.arrays['" + name + "']: expected " + std::to_string(n) + " rows");
             PerAtomArray a;
             a.name = name, a.kind = logical ? 'L' : 'I', a.ncols = int(ncols);
             a.ints.assign(values.data(), values.data() + values.size());
             s.set_array(a);
           })
      .def("_set_array_str",
           [](System& s, const std::string& name, const std::vector<std::string>& values) {
             if (values.size() != s.size())
               throw InputError("System.arrays['" + name + "']: expected " + std::to_string(s.size()) + " strings");
             for (const auto& v : values)
               if (v.empty() || v.find_first_of(" \t\n") != std::string::npos)
                 throw InputError("System.arrays['" + name + "']: strings must be non-empty without blanks");
             PerAtomArray a;
             a.name = name, a.kind = 'S', a.ncols = 1, a.texts = values;
             s.set_array(a);
           })
      .def("_del_array", &System::erase_array);
}
