// The nepcg error hierarchy. Library code never exits or aborts: it throws one of these.
// Messages read "Component: what is wrong; expected X, got Y" and, for input files, start with
// "file:line: ". Every type derives from a standard exception so that the Python bindings (and any
// C++ caller) can map them: InputError and FileFormatError are std::invalid_argument (Python
// ValueError), the others std::runtime_error (Python RuntimeError).
#pragma once

#include <stdexcept>
#include <string>

namespace nepcg {

/// Base class of every nepcg exception (use it to catch them all).
class Error {
 public:
  virtual ~Error() = default;
  virtual const char* what() const noexcept = 0;
};

/// A bad argument or inconsistent input given through the API (wrong shape, unknown species,
/// negative cutoff, box thinner than allowed, NaN positions, ...).
class InputError : public std::invalid_argument, public Error {
 public:
  explicit InputError(const std::string& message) : std::invalid_argument(message) {}
  const char* what() const noexcept override { return std::invalid_argument::what(); }
};

/// A malformed input file. Carries the file name and the 1-based line number (0 when the
/// problem concerns the whole file, e.g. it ends too early).
class FileFormatError : public std::invalid_argument, public Error {
 public:
  FileFormatError(const std::string& file, long line, const std::string& reason)
      : std::invalid_argument(format(file, line, reason)), file_(file), line_(line), reason_(reason) {}
  const char* what() const noexcept override { return std::invalid_argument::what(); }
  const std::string& file() const { return file_; }
  long line() const { return line_; }
  const std::string& reason() const { return reason_; }

 private:
  static std::string format(const std::string& file, long line, const std::string& reason) {
    std::string where = file.empty() ? std::string("<input>") : file;
    if (line > 0) where += ":" + std::to_string(line);
    return where + ": " + reason;
  }
  std::string file_;
  long line_;
  std::string reason_;
};

/// A file that cannot be opened, read or written.
class IOError : public std::runtime_error, public Error {
 public:
  explicit IOError(const std::string& message) : std::runtime_error(message) {}
  const char* what() const noexcept override { return std::runtime_error::what(); }
};

/// A failure during a computation that is not the caller's input (e.g. a CUDA call failed).
class RuntimeError : public std::runtime_error, public Error {
 public:
  explicit RuntimeError(const std::string& message) : std::runtime_error(message) {}
  const char* what() const noexcept override { return std::runtime_error::what(); }
};

}  // namespace nepcg
