// Extended XYZ reader and writer with GPUMD's and ASE's conventions.
//
// Comment-line keys: Lattice (9 numbers, rows a b c, Å), pbc ("T T F"), Properties (column
// layout), plus any key=value item kept in System::info with its type (energy in eV, virial in eV
// as 9 values with GPUMD's sign, stress in eV/Å^3 positive = tensile, weight, config_type, ...).
// Special keys are matched case-insensitively. A frame with Lattice and no pbc is periodic in all
// three directions; without Lattice it is non-periodic.
// Columns: species:S:1 and pos:R:3 are required; vel:R:3 (Å/fs), mass:R:1 (amu) and group:I:G
// (G grouping methods) fill the System fields; every other column (force/forces, energies, ...)
// is kept in System::arrays (`force` is renamed `forces`). Species that are not elements need a
// mass column. Numbers are written in the shortest form that reads back to the same double, so
// write -> read round-trips exactly.
#pragma once

#include <fstream>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "nepcg/system.hpp"

namespace nepcg {

/// Streams the frames of an extended XYZ file (or any istream) one at a time.
class ExtxyzReader {
 public:
  /// Opens a file; throws IOError if it cannot be opened.
  explicit ExtxyzReader(const std::string& path);
  /// Reads from a stream; `name` is used in error messages.
  ExtxyzReader(std::istream& in, const std::string& name);
  ExtxyzReader(const ExtxyzReader&) = delete;
  ExtxyzReader& operator=(const ExtxyzReader&) = delete;

  /// Reads the next frame into `frame`; returns false at the end of the input.
  /// Throws FileFormatError (file, line, reason) for malformed input.
  bool next(System& frame);
  /// Number of frames read so far.
  long frames_read() const { return frames_; }

 private:
  bool getline(std::string& line);

  std::unique_ptr<std::ifstream> file_;
  std::istream* in_;
  std::string name_;
  long line_ = 0;
  long frames_ = 0;
};

/// All frames of a file.
std::vector<System> read_extxyz(const std::string& path);
/// All frames of a string (for tests and in-memory data).
std::vector<System> parse_extxyz(const std::string& text, const std::string& name = "<string>");

/// Writes one frame. The mass column is written when a mass differs from its element's standard
/// mass, or always with `always_write_masses`.
void write_extxyz_frame(std::ostream& out, const System& frame, bool always_write_masses = false);
/// Writes frames to a file (appending when `append`); throws IOError on failure.
void write_extxyz(const std::string& path, const std::vector<System>& frames, bool append = false);
/// Frames as extended-XYZ text.
std::string format_extxyz(const std::vector<System>& frames);

}  // namespace nepcg
