// nepcg::Error types -> Python exceptions. FileFormatError carries filename/lineno/reason.
#include <nanobind/stl/string.h>

#include "common.hpp"
#include "nepcg/error.hpp"

namespace {
PyObject* file_format_error = nullptr;
PyObject* input_error = nullptr;
}  // namespace

void init_errors(nb::module_& m) {
  file_format_error = PyErr_NewExceptionWithDoc(
      "pynepcg._core.FileFormatError",
      "A malformed input file; attributes filename, lineno (1-based, 0 = whole file) and reason.",
      PyExc_ValueError, nullptr);
  input_error = PyErr_NewExceptionWithDoc("pynepcg._core.InputError",
                                          "A bad argument or inconsistent input given through the API.",
                                          PyExc_ValueError, nullptr);
  m.attr("FileFormatError") = nb::handle(file_format_error);
  m.attr("InputError") = nb::handle(input_error);

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const nepcg::FileFormatError& e) {
      nb::object exc = nb::borrow(file_format_error)(e.what());
      exc.attr("filename") = e.file();
      exc.attr("lineno") = e.line();
      exc.attr("reason") = e.reason();
      PyErr_SetObject(file_format_error, exc.ptr());
    } catch (const nepcg::InputError& e) {
      PyErr_SetString(input_error, e.what());
    } catch (const nepcg::IOError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const nepcg::RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}
