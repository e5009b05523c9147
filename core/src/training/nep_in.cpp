// nep.in parsing and formatting with GPUMD's keywords, defaults and limits.
#include "nepcg/training/nep_in.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "../io/text_parsing.hpp"
#include "nepcg/error.hpp"

namespace nepcg {
namespace {

struct Line {
  const std::string& file;
  long number;
  std::vector<std::string> tokens;

  [[noreturn]] void fail(const std::string& reason) const { throw FileFormatError(file, number, reason); }
  const std::string& key() const { return tokens[0]; }
  size_t args() const { return tokens.size() - 1; }
  void expect_args(size_t lo, size_t hi, const char* syntax) const {
    if (args() < lo || args() > hi) fail("'" + key() + "' expects: " + syntax);
  }
  long long integer(size_t k) const {
    const std::string& t = tokens[k];
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(t.c_str(), &end, 0);  // as GPUMD: hexadecimal accepted
    if (t.empty() || *end != '\0' || errno) fail("'" + key() + "': '" + t + "' is not an integer");
    return v;
  }
  double real(size_t k) const {
    double v;
    if (!text::parse_double(tokens[k], v) || !std::isfinite(v))
      fail("'" + key() + "': '" + tokens[k] + "' is not a finite number");
    return v;
  }
  long long integer_in(size_t k, long long lo, long long hi) const {
    const long long v = integer(k);
    if (v < lo || v > hi)
      fail("'" + key() + "' value " + std::to_string(v) + " is outside [" + std::to_string(lo) + ", " +
           std::to_string(hi) + "]");
    return v;
  }
  double real_in(size_t k, double lo, double hi) const {
    const double v = real(k);
    if (v < lo || v > hi) {
      std::ostringstream m;
      m << "'" << key() << "' value " << text::format_double(v);
      if (hi >= 1e300)  // (no upper limit)
        m << " must be >= " << text::format_double(lo);
      else
        m << " is outside [" << text::format_double(lo) << ", " << text::format_double(hi) << "]";
      fail(m.str());
    }
    return v;
  }
  bool flag(size_t k) const { return integer_in(k, 0, 1) != 0; }
};

void reject_nonzero(const Line& l, const char* what) {
  l.expect_args(1, 2, "0");
  if (l.integer(1) != 0)
    l.fail(std::string("'") + l.key() + " " + l.tokens[1] + "': " + what +
           " models are not supported by pynepcg (potential models only)");
}

}  // namespace

NepModel TrainingOptions::model_skeleton() const {
  NepModel m;
  m.version = version;
  m.elements = types;
  const int T = num_types();
  m.cutoff_radial.assign(T, cutoff_radial[0]);
  m.cutoff_angular.assign(T, cutoff_angular[0]);
  m.typewise_cutoff = cutoff_radial.size() > 1;
  if (m.typewise_cutoff) m.cutoff_radial = cutoff_radial, m.cutoff_angular = cutoff_angular;
  // The neighbour counts of the cutoff line: the Trainer sets its data's (as GPUMD's nep does);
  // 819 (GPUMD's largest) until then. pynepcg's evaluators ignore them.
  m.max_neighbors_radial = m.max_neighbors_angular = 819;
  if (zbl_outer > 0 && !zbl_flexible.empty()) {
    m.zbl = ZblKind::Flexible;  // written as "zbl 0 0" and the parameters after q_scaler
    m.zbl_flexible = zbl_flexible;
  } else if (zbl_outer > 0) {
    m.zbl = zbl_typewise_factor > 0 ? ZblKind::Typewise : ZblKind::Universal;
    m.zbl_outer = zbl_outer;
    m.zbl_inner = 0.5 * zbl_outer;
    m.zbl_typewise_factor = zbl_typewise_factor;
  }
  m.n_max_radial = n_max_radial, m.n_max_angular = n_max_angular;
  m.basis_size_radial = basis_size_radial, m.basis_size_angular = basis_size_angular;
  m.l_max = l_max;
  m.terms = terms;
  if (m.terms[kTerm222]) m.terms[kTerm222] = 2;
  m.neurons1 = neurons1, m.neurons2 = neurons2;
  m.ann.assign(m.ann_size(), 0.0);
  m.c_radial.assign(m.c_radial_size(), 0.0);
  m.c_angular.assign(m.c_angular_size(), 0.0);
  m.q_scaler.assign(m.dim(), 1.0);
  return m;
}

double TrainingOptions::resolved_lambda_1(size_t n) const {
  return lambda_1 >= 0 ? lambda_1 : std::sqrt(double(n) / num_types()) / 1000.0;
}
double TrainingOptions::resolved_lambda_2(size_t n) const {
  return lambda_2 >= 0 ? lambda_2 : std::sqrt(double(n) / num_types()) / 1000.0;
}

void TrainingOptions::validate() const {
  auto fail = [](const std::string& m) { throw InputError("nep.in: " + m); };
  if (types.empty()) fail("the 'type' keyword is mandatory (species names in model order)");
  for (size_t a = 0; a < types.size(); ++a)
    for (size_t b = a + 1; b < types.size(); ++b)
      if (types[a] == types[b]) fail("species '" + types[a] + "' is listed twice in 'type'");
  if (!type_weight.empty() && type_weight.size() != types.size())
    fail("'type_weight' needs one value per type (" + std::to_string(types.size()) + ")");
  const size_t nc = cutoff_radial.size();
  if (nc != 1 && nc != types.size())
    fail("'cutoff' needs 2 values or 2 per type (" + std::to_string(2 * types.size()) + ")");
  for (size_t t = 0; t < nc; ++t) {
    if (cutoff_angular[t] < 3.0 || cutoff_angular[t] > cutoff_radial[t] || cutoff_radial[t] > 100)
      fail("cutoffs must satisfy 3 <= r_angular <= r_radial <= 100 Å");
  }
  if (version != 4) fail("only 'version 4' models are trained (as GPUMD's nep)");
  if (population < 10 || population > 200) fail("'population' must be in [10, 200]");
  if (!fine_tune_model.empty() && (fine_tune_restart.empty()))
    fail("'fine_tune' needs a model file and its restart file");
  if (!zbl_flexible.empty()) {
    const int T = num_types();
    if (zbl_flexible.size() != size_t(5 * T * (T + 1)))
      fail("zbl.in needs 10 numbers per type pair, " + std::to_string(5 * T * (T + 1)) + " for " + std::to_string(T) +
           " types; it has " + std::to_string(zbl_flexible.size()));
    // ZBL acts on the angular neighbours (GPUMD's nep and evaluators): a switch-off radius r2
    // beyond the pair's angular cutoff would cut the repulsion off with a jump there.
    for (int a = 0, pair = 0; a < T; ++a)
      for (int b = a; b < T; ++b, ++pair) {
        const double r1 = zbl_flexible[10 * pair], r2 = zbl_flexible[10 * pair + 1];
        const size_t ia = cutoff_angular.size() > 1 ? a : 0, ib = cutoff_angular.size() > 1 ? b : 0;
        const double rc = 0.5 * (cutoff_angular[ia] + cutoff_angular[ib]);
        if (!(r1 >= 0.0 && r2 > r1 && r2 <= rc))
          fail("zbl.in line " + std::to_string(pair + 1) + " (" + types[a] + "-" + types[b] + "): the switching radii must satisfy 0 <= r1 < r2 <= " +
               text::format_double(rc) + " Å (the pair's angular cutoff); got r1 = " + text::format_double(r1) +
               ", r2 = " + text::format_double(r2));
      }
  }
  model_skeleton().validate();
}

TrainingOptions parse_nep_in(const std::string& text, const std::string& name) {
  TrainingOptions o;
  // (a UTF-8 byte-order mark, as some Windows editors write, is not part of the first keyword)
  std::istringstream in(text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? text.substr(3) : text);
  std::string raw;
  long number = 0;
  bool have_type = false;
  std::vector<std::string> seen;
  while (std::getline(in, raw)) {
    ++number;
    Line l{name, number, {}};
    const auto tokens = text::split(raw);
    // '#pynepcg seed S': pynepcg's own keyword behind a comment sign, so that GPUMD, which skips
    // it, reads the same file (format_nep_in writes the seed so).
    const bool ours = !tokens.empty() && tokens[0] == "#pynepcg";
    for (size_t k = ours ? 1 : 0; k < tokens.size(); ++k) {
      if (!tokens[k].empty() && tokens[k][0] == '#') break;
      l.tokens.emplace_back(tokens[k]);
    }
    if (l.tokens.empty()) continue;
    if (ours && l.key() != "seed") l.fail("'#pynepcg' may only precede pynepcg's own keyword 'seed'");
    const std::string& k = l.key();
    for (const auto& s : seen)
      if (s == k || (k == "mode" && s == "model_type") || (k == "model_type" && s == "mode"))
        l.fail("keyword '" + k + "' is given twice");
    seen.push_back(k);
    if (k == "type") {
      if (l.args() < 2) l.fail("'type' expects: type T name_0 ... name_{T-1}");
      const long long T = l.integer_in(1, 1, 94);
      if (l.args() != size_t(T) + 1)
        l.fail("'type " + std::to_string(T) + "' must be followed by " + std::to_string(T) + " names");
      o.types.assign(l.tokens.begin() + 2, l.tokens.end());
      have_type = true;
    } else if (k == "version") {
      l.expect_args(1, 1, "version 4");
      o.version = static_cast<int>(l.integer(1));
      if (o.version != 4) l.fail("only 'version 4' models are trained (as GPUMD's nep)");
    } else if (k == "model_type" || k == "mode") {
      reject_nonzero(l, "dipole, polarizability and temperature-dependent");
    } else if (k == "prediction") {
      l.expect_args(1, 1, "prediction 0|1");
      o.prediction = l.flag(1);
    } else if (k == "type_weight") {
      if (!have_type) l.fail("'type_weight' must come after 'type'");
      if (l.args() != o.types.size())
        l.fail("'type_weight' needs one value per type (" + std::to_string(o.types.size()) + ")");
      o.type_weight.clear();
      for (size_t t = 1; t <= l.args(); ++t) o.type_weight.push_back(l.real_in(t, 0.0, 1e6));
    } else if (k == "zbl") {
      l.expect_args(1, 1, "zbl r_out (1 <= r_out <= 4 Å)");
      o.zbl_outer = l.real_in(1, 1.0, 4.0);
    } else if (k == "use_typewise_cutoff_zbl") {
      l.expect_args(0, 1, "use_typewise_cutoff_zbl [factor >= 0.5]");
      o.zbl_typewise_factor = l.args() == 1 ? l.real_in(1, 0.5, 100.0) : 0.7;
    } else if (k == "cutoff") {
      if (l.args() == 2) {
        o.cutoff_radial = {l.real(1)};
        o.cutoff_angular = {l.real(2)};
      } else {
        if (!have_type) l.fail("a per-type 'cutoff' must come after 'type'");
        if (l.args() != 2 * o.types.size())
          l.fail("'cutoff' expects 2 values or 2 per type (" + std::to_string(2 * o.types.size()) + ")");
        o.cutoff_radial.clear(), o.cutoff_angular.clear();
        for (size_t t = 0; t < o.types.size(); ++t) {
          o.cutoff_radial.push_back(l.real(1 + 2 * t));
          o.cutoff_angular.push_back(l.real(2 + 2 * t));
        }
      }
      for (size_t t = 0; t < o.cutoff_radial.size(); ++t)
        if (o.cutoff_angular[t] < 3.0 || o.cutoff_angular[t] > o.cutoff_radial[t] || o.cutoff_radial[t] > 100)
          l.fail("cutoffs must satisfy 3 <= r_angular <= r_radial <= 100 Å");
    } else if (k == "n_max") {
      l.expect_args(2, 2, "n_max n_radial n_angular");
      o.n_max_radial = static_cast<int>(l.integer_in(1, 0, 12));
      o.n_max_angular = static_cast<int>(l.integer_in(2, 0, 8));
    } else if (k == "basis_size") {
      l.expect_args(2, 2, "basis_size K_radial K_angular");
      o.basis_size_radial = static_cast<int>(l.integer_in(1, 0, 16));
      o.basis_size_angular = static_cast<int>(l.integer_in(2, 0, 12));
    } else if (k == "l_max") {
      l.expect_args(1, 7, "l_max L [f222 [f1111 [f112 [f123 [f233 [f134]]]]]]");
      o.l_max = static_cast<int>(l.integer_in(1, 2, 8));
      o.terms = {1, 0, 0, 0, 0, 0};
      for (size_t t = 2; t <= l.args(); ++t) o.terms[t - 2] = l.integer_in(t, 0, 8) != 0 ? 1 : 0;
    } else if (k == "neuron") {
      l.expect_args(1, 2, "neuron N1 [N2]");
      o.neurons1 = static_cast<int>(l.integer_in(1, 1, 120));
      o.neurons2 = l.args() == 2 ? static_cast<int>(l.integer_in(2, 0, 120)) : 0;
    } else if (k == "lambda_1" || k == "lambda_2" || k == "lambda_e" || k == "lambda_f" || k == "lambda_v" ||
               k == "lambda_shear" || k == "force_delta" || k == "lambda_q" || k == "lambda_z") {
      l.expect_args(1, 1, "value >= 0");
      const double v = l.real_in(1, 0.0, 1e300);
      if (k == "lambda_1") o.lambda_1 = v;
      if (k == "lambda_2") o.lambda_2 = v;
      if (k == "lambda_e") o.lambda_e = v;
      if (k == "lambda_f") o.lambda_f = v;
      if (k == "lambda_v") o.lambda_v = v;
      if (k == "lambda_shear") o.lambda_shear = v;
      if (k == "force_delta") o.force_delta = v;
      // lambda_q and lambda_z weigh qNEP charge terms: accepted (as GPUMD) and without effect.
    } else if (k == "batch") {
      l.expect_args(1, 2, "batch B [full_batch 0|1]");
      o.batch = static_cast<int>(l.integer_in(1, 1, 1000000000));
      o.full_batch = l.args() == 2 && l.flag(2);
    } else if (k == "population") {
      l.expect_args(1, 1, "population N (10 <= N <= 200)");
      o.population = static_cast<int>(l.integer_in(1, 10, 200));
    } else if (k == "generation") {
      l.expect_args(1, 1, "generation G (0 <= G <= 10000000)");
      o.generation = static_cast<int>(l.integer_in(1, 0, 10000000));
    } else if (k == "output_interval") {
      l.expect_args(1, 1, "output_interval k (>= 1)");
      o.output_interval = static_cast<int>(l.integer_in(1, 1, 100000000));
    } else if (k == "save_potential") {
      l.expect_args(1, 3, "save_potential k [format 0|1 [restart 0|1]]");
      o.save_potential = static_cast<int>(l.integer_in(1, 1, 100000000));
      if (l.args() >= 2) o.save_potential_format = static_cast<int>(l.integer_in(2, 0, 1));
      if (l.args() >= 3) o.save_potential_restart = l.flag(3);
    } else if (k == "output_descriptor") {
      l.expect_args(1, 1, "output_descriptor 0|1|2");
      o.output_descriptor = static_cast<int>(l.integer_in(1, 0, 2));
    } else if (k == "import_q_scaler") {
      l.expect_args(1, 1, "import_q_scaler 0|1");
      o.import_q_scaler = l.flag(1);
    } else if (k == "fine_tune") {
      l.expect_args(2, 3, "fine_tune model.txt model.restart [fine_tune_descriptor 0|1]");
      o.fine_tune_model = l.tokens[1];
      o.fine_tune_restart = l.tokens[2];
      o.fine_tune_descriptor = l.args() == 3 ? l.flag(3) : true;
    } else if (k == "initial_para") {
      l.expect_args(1, 1, "initial_para p (0.1 <= p <= 1)");
      o.initial_para = l.real_in(1, 0.1, 1.0);
    } else if (k == "sigma0") {
      l.expect_args(1, 1, "sigma0 s (0.01 <= s <= 0.1)");
      o.sigma0 = l.real_in(1, 0.01, 0.1);
    } else if (k == "charge_mode") {
      reject_nonzero(l, "qNEP charge");
    } else if (k == "vdw" || k == "charge_vdw") {
      reject_nonzero(l, "vdW");
    } else if (k == "atomic_v") {
      reject_nonzero(l, "per-atom dipole/polarizability");
    } else if (k == "seed") {
      l.expect_args(1, 1, "seed S (integer >= 0; pynepcg extension)");
      o.seed = static_cast<uint64_t>(l.integer_in(1, 0, 0x7fffffffffffffffLL));
      o.has_seed = true;
    } else {
      l.fail("unknown keyword '" + k + "'");
    }
  }
  if (!have_type) throw FileFormatError(name, 0, "the 'type' keyword is mandatory (species names in model order)");
  if (o.zbl_typewise_factor > 0 && o.zbl_outer <= 0)
    throw FileFormatError(name, 0, "'use_typewise_cutoff_zbl' needs 'zbl r_out'");
  try {
    o.validate();
  } catch (const InputError& e) {
    throw FileFormatError(name, 0, e.what());
  }
  return o;
}

TrainingOptions read_nep_in(const std::string& path) {
  text::refuse_directory(path, "nep.in");
  std::ifstream f(path);
  if (!f) throw IOError("cannot open '" + path + "'");
  std::stringstream buf;
  buf << f.rdbuf();
  TrainingOptions o = parse_nep_in(buf.str(), path);
  const size_t slash = path.find_last_of('/');
  load_zbl_in(o, (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "zbl.in");
  return o;
}

std::vector<double> parse_zbl_in(const std::string& text, const std::string& name, int num_types) {
  const int pairs = num_types * (num_types + 1) / 2;
  std::vector<double> values;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const auto t = text::split(line);
    if (t.empty()) continue;
    if (static_cast<int>(values.size()) >= 10 * pairs)
      throw FileFormatError(name, number, "more than " + std::to_string(pairs) + " lines of parameters for " +
                                              std::to_string(num_types) + " types");
    if (t.size() != 10)
      throw FileFormatError(name, number, "expected 10 numbers (r1 r2 alpha1 beta1 ... alpha4 beta4); got " +
                                              std::to_string(t.size()));
    for (auto v : t) {
      double x;
      if (!text::parse_double(v, x) || !std::isfinite(x))
        throw FileFormatError(name, number, "'" + std::string(v) + "' is not a finite number");
      values.push_back(x);
    }
  }
  if (static_cast<int>(values.size()) != 10 * pairs)
    throw FileFormatError(name, number, "expected " + std::to_string(pairs) + " lines of 10 numbers (one per type pair " +
                                            "(0,0), (0,1), ..., for " + std::to_string(num_types) + " types); got " +
                                            std::to_string(values.size() / 10));
  return values;
}

bool load_zbl_in(TrainingOptions& o, const std::string& path) {
  if (o.zbl_outer <= 0) return false;
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream buf;
  buf << f.rdbuf();
  o.zbl_flexible = parse_zbl_in(buf.str(), path, o.num_types());
  try {
    o.validate();
  } catch (const InputError& e) {
    throw FileFormatError(path, 0, e.what());
  }
  return true;
}

std::string format_nep_in(const TrainingOptions& o) {
  const TrainingOptions d;
  std::ostringstream out;
  out.precision(17);
  out << "type " << o.types.size();
  for (const auto& t : o.types) out << " " << t;
  out << "\n";
  if (o.prediction) out << "prediction 1\n";
  if (!o.type_weight.empty()) {
    out << "type_weight";
    for (double w : o.type_weight) out << " " << text::format_double(w);
    out << "\n";
  }
  if (o.zbl_outer > 0) out << "zbl " << text::format_double(o.zbl_outer) << "\n";
  if (o.zbl_typewise_factor > 0)
    out << "use_typewise_cutoff_zbl " << text::format_double(o.zbl_typewise_factor) << "\n";
  if (o.cutoff_radial != d.cutoff_radial || o.cutoff_angular != d.cutoff_angular) {
    out << "cutoff";
    for (size_t t = 0; t < o.cutoff_radial.size(); ++t)
      out << " " << text::format_double(o.cutoff_radial[t]) << " " << text::format_double(o.cutoff_angular[t]);
    out << "\n";
  }
  if (o.n_max_radial != d.n_max_radial || o.n_max_angular != d.n_max_angular)
    out << "n_max " << o.n_max_radial << " " << o.n_max_angular << "\n";
  if (o.basis_size_radial != d.basis_size_radial || o.basis_size_angular != d.basis_size_angular)
    out << "basis_size " << o.basis_size_radial << " " << o.basis_size_angular << "\n";
  if (o.l_max != d.l_max || o.terms != d.terms) {
    int last = 0;
    for (int t = 0; t < kNumNepTerms; ++t)
      if (o.terms[t] != d.terms[t]) last = t + 1;
    out << "l_max " << o.l_max;
    for (int t = 0; t < last; ++t) out << " " << (o.terms[t] ? (t == kTerm222 ? 2 : 1) : 0);
    out << "\n";
  }
  if (o.neurons1 != d.neurons1 || o.neurons2 != 0)
    out << "neuron " << o.neurons1 << (o.neurons2 ? " " + std::to_string(o.neurons2) : "") << "\n";
  auto real = [&](const char* k, double v, double dv) {
    if (v != dv) out << k << " " << text::format_double(v) << "\n";
  };
  real("lambda_1", o.lambda_1, d.lambda_1);
  real("lambda_2", o.lambda_2, d.lambda_2);
  real("lambda_e", o.lambda_e, d.lambda_e);
  real("lambda_f", o.lambda_f, d.lambda_f);
  real("lambda_v", o.lambda_v, d.lambda_v);
  real("lambda_shear", o.lambda_shear, d.lambda_shear);
  real("force_delta", o.force_delta, d.force_delta);
  if (o.batch != d.batch || o.full_batch) out << "batch " << o.batch << (o.full_batch ? " 1" : "") << "\n";
  if (o.population != d.population) out << "population " << o.population << "\n";
  if (o.generation != d.generation) out << "generation " << o.generation << "\n";
  if (o.output_interval != d.output_interval) out << "output_interval " << o.output_interval << "\n";
  if (o.save_potential != d.save_potential || o.save_potential_format != d.save_potential_format ||
      o.save_potential_restart)
    out << "save_potential " << o.save_potential << " " << o.save_potential_format << " "
        << (o.save_potential_restart ? 1 : 0) << "\n";
  if (o.output_descriptor) out << "output_descriptor " << o.output_descriptor << "\n";
  if (o.import_q_scaler) out << "import_q_scaler 1\n";
  if (!o.fine_tune_model.empty())
    out << "fine_tune " << o.fine_tune_model << " " << o.fine_tune_restart << " " << (o.fine_tune_descriptor ? 1 : 0)
        << "\n";
  real("initial_para", o.initial_para, d.initial_para);
  real("sigma0", o.sigma0, d.sigma0);
  if (o.has_seed) out << "#pynepcg seed " << o.seed << "\n";  // (a comment to GPUMD)
  return out.str();
}

}  // namespace nepcg
