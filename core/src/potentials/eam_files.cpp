// EAM tables: LAMMPS setfl / funcfl readers, setfl writer and the Zhou-Johnson-Wadley (2004)
// analytic gold parameterisation.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "../io/text_parsing.hpp"
#include "nepcg/eam.hpp"
#include "nepcg/elements.hpp"
#include "nepcg/error.hpp"

namespace nepcg {
namespace {

// Whitespace-separated tokens of a file with their line numbers, read in order.
class TokenStream {
 public:
  TokenStream(const std::string& path, int skip_lines) : path_(path) {
    std::ifstream in(path);
    if (!in) throw IOError("EAM: cannot open '" + path + "' for reading");
    std::string line;
    long n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (n <= skip_lines) continue;
      for (auto t : text::split(line)) tokens_.push_back({n, std::string(t)});
    }
    last_line_ = n;
  }
  const std::string& word(const char* what) {
    if (pos_ >= tokens_.size())
      throw FileFormatError(path_, last_line_, std::string("file ends early; expected ") + what);
    return tokens_[pos_++].text;
  }
  double real(const char* what) {
    const std::string& t = word(what);
    double v;
    if (!text::parse_double(t, v) || !std::isfinite(v))
      throw FileFormatError(path_, tokens_[pos_ - 1].line, std::string(what) + ": '" + t + "' is not a number");
    return v;
  }
  int integer(const char* what) {
    const std::string& t = word(what);
    long long v;
    if (!text::parse_int(t, v))
      throw FileFormatError(path_, tokens_[pos_ - 1].line, std::string(what) + ": '" + t + "' is not an integer");
    return static_cast<int>(v);
  }
  std::vector<double> reals(int n, const char* what) {
    std::vector<double> v(n);
    for (auto& x : v) x = real(what);
    return v;
  }
  long line() const { return pos_ < tokens_.size() ? tokens_[pos_].line : last_line_; }
  bool done() const { return pos_ >= tokens_.size(); }

 private:
  struct Token {
    long line;
    std::string text;
  };
  std::string path_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  long last_line_ = 0;
};

void read_grid(TokenStream& ts, EamTables& t, const std::string& path) {
  const long line = ts.line();
  t.nrho = ts.integer("nrho");
  t.drho = ts.real("drho");
  t.nr = ts.integer("nr");
  t.dr = ts.real("dr");
  t.cutoff = ts.real("cutoff");
  if (t.nrho < 5 || t.nr < 5 || !(t.drho > 0) || !(t.dr > 0) || !(t.cutoff > 0))
    throw FileFormatError(path, line, "grid line must be 'nrho drho nr dr cutoff' with >= 5 points and positive steps");
}

}  // namespace

EamTables read_setfl(const std::string& path) {
  TokenStream ts(path, 3);  // three comment lines
  EamTables t;
  const long line4 = ts.line();
  const int ne = ts.integer("number of elements");
  if (ne < 1) throw FileFormatError(path, line4, "number of elements must be >= 1");
  for (int a = 0; a < ne; ++a) t.elements.push_back(ts.word("element name"));
  read_grid(ts, t, path);
  for (int a = 0; a < ne; ++a) {
    t.atomic_numbers.push_back(ts.integer("atomic number"));
    t.masses.push_back(ts.real("mass"));
    t.lattice_constants.push_back(ts.real("lattice constant"));
    t.lattice_types.push_back(ts.word("lattice type"));
    t.embedding.push_back(ts.reals(t.nrho, "F(rho)"));
    t.density.push_back(ts.reals(t.nr, "rho(r)"));
  }
  for (int a = 0; a < ne; ++a)
    for (int b = 0; b <= a; ++b) t.r_phi.push_back(ts.reals(t.nr, "r*phi(r)"));
  if (!ts.done()) throw FileFormatError(path, ts.line(), "more numbers than the header implies");
  t.validate();
  return t;
}

EamTables read_funcfl(const std::vector<std::string>& paths) {
  if (paths.empty()) throw InputError("EAM: no funcfl files given");
  EamTables t;
  std::vector<std::vector<double>> zr;  // effective charge Z(r) per element
  for (const auto& path : paths) {
    TokenStream ts(path, 1);  // one comment line
    const int z = ts.integer("atomic number");
    if (z < 1 || z > kNumElements) throw FileFormatError(path, 2, "atomic number out of range");
    t.atomic_numbers.push_back(z);
    t.elements.push_back(element_symbol(z));
    t.masses.push_back(ts.real("mass"));
    t.lattice_constants.push_back(ts.real("lattice constant"));
    t.lattice_types.push_back(ts.word("lattice type"));
    EamTables g;
    read_grid(ts, g, path);
    if (t.nr == 0) {
      t.nrho = g.nrho, t.drho = g.drho, t.nr = g.nr, t.dr = g.dr, t.cutoff = g.cutoff;
    } else if (g.nrho != t.nrho || g.nr != t.nr || g.drho != t.drho || g.dr != t.dr || g.cutoff != t.cutoff) {
      throw FileFormatError(path, 3, "funcfl files must share the same grids (nrho, drho, nr, dr, cutoff)");
    }
    t.embedding.push_back(ts.reals(t.nrho, "F(rho)"));
    zr.push_back(ts.reals(t.nr, "Z(r)"));
    t.density.push_back(ts.reals(t.nr, "rho(r)"));
    if (!ts.done()) throw FileFormatError(path, ts.line(), "more numbers than the header implies");
  }
  // funcfl pair term: r phi_ab(r) = 27.2 * 0.529 * Z_a(r) Z_b(r) (Hartree * Bohr, as LAMMPS).
  const size_t ne = t.elements.size();
  for (size_t a = 0; a < ne; ++a)
    for (size_t b = 0; b <= a; ++b) {
      std::vector<double> v(t.nr);
      for (int m = 0; m < t.nr; ++m) v[m] = 27.2 * 0.529 * zr[a][m] * zr[b][m];
      t.r_phi.push_back(v);
    }
  t.validate();
  return t;
}

void write_setfl(const EamTables& t, const std::string& path, const std::string& comment) {
  t.validate();
  std::ofstream out(path);
  if (!out) throw IOError("EAM: cannot open '" + path + "' for writing");
  char buf[64];
  auto num = [&](double x) {
    std::snprintf(buf, sizeof(buf), "%.17g", x);
    return std::string(buf);
  };
  auto block = [&](const std::vector<double>& v) {
    for (size_t k = 0; k < v.size(); ++k) out << num(v[k]) << ((k % 5 == 4 || k + 1 == v.size()) ? "\n" : " ");
  };
  out << (comment.empty() ? "EAM setfl file" : comment) << "\nwritten by pynepcg\n\n";
  out << t.elements.size();
  for (const auto& e : t.elements) out << " " << e;
  out << "\n" << t.nrho << " " << num(t.drho) << " " << t.nr << " " << num(t.dr) << " " << num(t.cutoff) << "\n";
  for (size_t a = 0; a < t.elements.size(); ++a) {
    out << t.atomic_numbers[a] << " " << num(t.masses[a]) << " " << num(t.lattice_constants[a]) << " "
        << t.lattice_types[a] << "\n";
    block(t.embedding[a]);
    block(t.density[a]);
  }
  for (const auto& v : t.r_phi) block(v);
  if (!out) throw IOError("EAM: error while writing '" + path + "'");
}

EamTables zhou_2004_gold(int nr, int nrho, double cutoff) {
  // Zhou, Johnson & Wadley, PRB 69, 144113 (2004), Au row (docs/physics-refs.md, C(i)).
  const double re = 2.885034, fe = 1.529021, rhoe = 19.991632, rhos = 19.991509;
  const double alpha = 9.516052, beta = 5.075228, A = 0.229762, B = 0.356666, kappa = 0.356570, lambda = 0.748798;
  const double Fn[4] = {-2.937772, -0.500288, 1.601954, -0.835530};
  const double Fm[4] = {-2.98, 0.00, 1.706587, -1.134778};
  const double eta = 1.021095, Fe = -2.978815;
  if (nr < 5 || nrho < 5 || !(cutoff > 1.0)) throw InputError("zhou_2004_gold: need nr, nrho >= 5 and cutoff > 1 Å");
  auto density = [&](double r) {
    const double x = r / re;
    return fe * std::exp(-beta * (x - 1.0)) / (1.0 + std::pow(x - lambda, 20));
  };
  auto pair = [&](double r) {
    const double x = r / re;
    return A * std::exp(-alpha * (x - 1.0)) / (1.0 + std::pow(x - kappa, 20)) -
           B * std::exp(-beta * (x - 1.0)) / (1.0 + std::pow(x - lambda, 20));
  };
  auto embedding = [&](double rho) {
    const double rhon = 0.85 * rhoe, rho0 = 1.15 * rhoe;
    if (rho < rhon) {
      const double y = rho / rhon - 1.0;
      return Fn[0] + y * (Fn[1] + y * (Fn[2] + y * Fn[3]));
    }
    if (rho < rho0) {
      const double y = rho / rhoe - 1.0;
      return Fm[0] + y * (Fm[1] + y * (Fm[2] + y * Fm[3]));
    }
    const double y = rho / rhos;
    return Fe * (1.0 - eta * std::log(y)) * std::pow(y, eta);
  };
  EamTables t;
  t.elements = {"Au"};
  t.atomic_numbers = {79};
  t.masses = {196.96654};
  t.lattice_constants = {re * std::sqrt(2.0)};
  t.lattice_types = {"fcc"};
  t.nr = nr, t.nrho = nrho, t.cutoff = cutoff;
  t.dr = cutoff / (nr - 1);
  t.drho = std::max(100.0, 2.0 * rhoe) / (nrho - 1);
  std::vector<double> F(nrho), f(nr), rphi(nr);
  for (int m = 0; m < nrho; ++m) F[m] = embedding(m * t.drho);
  for (int m = 0; m < nr; ++m) {
    const double r = m * t.dr, rr = std::max(r, 0.5);  // r < 0.5 Å clamped, as LAMMPS's generator
    f[m] = density(rr);
    rphi[m] = r * pair(rr);
  }
  t.embedding = {F};
  t.density = {f};
  t.r_phi = {rphi};
  return t;
}

}  // namespace nepcg
