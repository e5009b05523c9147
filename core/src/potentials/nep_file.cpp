// nep.txt reader and writer (GPUMD format; see nepcg/nep_model.hpp).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

#include "../io/text_parsing.hpp"
#include "nepcg/error.hpp"
#include "nepcg/nep_model.hpp"

namespace nepcg {
namespace {

struct Line {
  long number;
  std::string text;
};

class HeaderReader {
 public:
  HeaderReader(const std::vector<Line>& lines, const std::string& name) : lines_(lines), name_(name) {}

  // Next non-blank line, split; `keyword` (if given) must be its first token.
  std::vector<std::string> next(const char* keyword, const char* syntax) {
    while (pos_ < lines_.size() && text::split(lines_[pos_].text).empty()) ++pos_;
    if (pos_ >= lines_.size())
      throw FileFormatError(name_, 0, std::string("file ends in the header; expected '") + syntax + "'");
    current_ = lines_[pos_].number;
    std::vector<std::string> tokens;
    for (auto t : text::split(lines_[pos_].text)) tokens.emplace_back(t);
    ++pos_;
    if (keyword && tokens[0] != keyword)
      throw FileFormatError(name_, current_, "unknown or misplaced header keyword '" + tokens[0] + "'; expected '" +
                                                 syntax + "'");
    return tokens;
  }
  void count(const std::vector<std::string>& t, std::initializer_list<size_t> allowed, const char* syntax) const {
    for (size_t n : allowed)
      if (t.size() == n) return;
    throw FileFormatError(name_, current_, "wrong number of values; expected '" + std::string(syntax) + "'");
  }
  double real(const std::string& t) const {
    double v;
    if (!text::parse_double(t, v)) throw FileFormatError(name_, current_, "'" + t + "' is not a number");
    return v;
  }
  int integer(const std::string& t) const {
    long long v;
    if (!text::parse_int(t, v)) throw FileFormatError(name_, current_, "'" + t + "' is not an integer");
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      throw FileFormatError(name_, current_, "'" + t + "' is out of range");
    return static_cast<int>(v);
  }
  long line() const { return current_; }
  size_t position() const { return pos_; }

 private:
  const std::vector<Line>& lines_;
  std::string name_;
  size_t pos_ = 0;
  long current_ = 0;
};

std::string fmt_g(double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%g", x);
  return buf;
}

std::string fmt_param(double x, NepNumberFormat f) {
  if (f == NepNumberFormat::Exact) return text::format_double(x);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%15.7e", x);
  return buf;
}

}  // namespace

NepModel parse_nep_model(const std::string& content, const std::string& name) {
  std::vector<Line> lines;
  {
    std::istringstream in(content);
    std::string l;
    long n = 0;
    while (std::getline(in, l)) {
      ++n;
      if (!l.empty() && l.back() == '\r') l.pop_back();
      lines.push_back({n, l});
    }
  }
  HeaderReader h(lines, name);
  NepModel m;

  // Line 1: model token, number of types, element names.
  auto t = h.next(nullptr, "nep4 T element_1 ... element_T");
  static const std::regex supported("nep([345])(_zbl)?");
  static const std::regex other_kind("nep[0-9](_zbl)?_([a-z0-9_]+)");
  std::smatch match;
  if (std::regex_match(t[0], match, supported)) {
    m.version = std::stoi(match[1]);
    if (match[2].matched) m.zbl = ZblKind::Universal;
  } else if (std::regex_match(t[0], match, other_kind)) {
    throw FileFormatError(name, h.line(), "model kind '" + t[0] +
                                              "' is not supported: pynepcg evaluates potential models "
                                              "(nep3, nep4, nep5, optionally with _zbl)");
  } else {
    throw FileFormatError(name, h.line(), "unknown model token '" + t[0] + "'; expected nep3, nep4 or nep5 (+ _zbl)");
  }
  if (t.size() < 2) throw FileFormatError(name, h.line(), "missing the number of types after '" + t[0] + "'");
  const int n_types = h.integer(t[1]);
  if (n_types < 1) throw FileFormatError(name, h.line(), "number of types must be >= 1");
  if (t.size() != size_t(2 + n_types))
    throw FileFormatError(name, h.line(), "expected " + std::to_string(n_types) + " element names after the type count; got " +
                                              std::to_string(t.size() - 2));
  m.elements.assign(t.begin() + 2, t.end());

  if (m.zbl != ZblKind::None) {
    t = h.next("zbl", "zbl r_inner r_outer [typewise_factor]");
    h.count(t, {3, 4}, "zbl r_inner r_outer [typewise_factor]");
    m.zbl_inner = h.real(t[1]);
    m.zbl_outer = h.real(t[2]);
    if (m.zbl_inner == 0.0 && m.zbl_outer == 0.0) {
      m.zbl = ZblKind::Flexible;
    } else if (t.size() == 4) {
      m.zbl = ZblKind::Typewise;
      m.zbl_typewise_factor = h.real(t[3]);
    }
  }

  t = h.next("cutoff", "cutoff r_radial r_angular MN_radial MN_angular");
  const size_t typewise_tokens = 2 * n_types + 3;
  if (t.size() == 5 || t.size() == 3) {  // 3: legacy files without MN_R / MN_A
    m.cutoff_radial.assign(n_types, h.real(t[1]));
    m.cutoff_angular.assign(n_types, h.real(t[2]));
  } else if (t.size() == typewise_tokens) {
    m.typewise_cutoff = n_types > 1;
    for (int a = 0; a < n_types; ++a) {
      m.cutoff_radial.push_back(h.real(t[1 + 2 * a]));
      m.cutoff_angular.push_back(h.real(t[2 + 2 * a]));
    }
  } else {
    throw FileFormatError(name, h.line(), "cutoff line must have 4 values (r_R r_A MN_R MN_A) or 2T+2 values "
                                          "(one r_R r_A pair per element, then MN_R MN_A); got " +
                                              std::to_string(t.size() - 1));
  }
  if (t.size() != 3) {
    m.max_neighbors_radial = h.integer(t[t.size() - 2]);
    m.max_neighbors_angular = h.integer(t[t.size() - 1]);
  }

  t = h.next("n_max", "n_max n_radial n_angular");
  h.count(t, {3}, "n_max n_radial n_angular");
  m.n_max_radial = h.integer(t[1]);
  m.n_max_angular = h.integer(t[2]);
  t = h.next("basis_size", "basis_size k_radial k_angular");
  h.count(t, {3}, "basis_size k_radial k_angular");
  m.basis_size_radial = h.integer(t[1]);
  m.basis_size_angular = h.integer(t[2]);
  t = h.next("l_max", "l_max L f222 f1111 [f112 [f123 [f233 [f134]]]]");
  h.count(t, {4, 5, 6, 7, 8}, "l_max L f222 f1111 [f112 [f123 [f233 [f134]]]]");
  m.l_max = h.integer(t[1]);
  for (size_t k = 2; k < t.size(); ++k) m.terms[k - 2] = h.integer(t[k]);
  t = h.next("ANN", "ANN neurons 0");
  h.count(t, {3}, "ANN neurons neurons_2");
  m.neurons1 = h.integer(t[1]);
  m.neurons2 = h.integer(t[2]);
  const long header_end_line = h.line();
  try {
    // Sizes need valid hyper-parameters; validate them before reading numbers.
    m.validate_header();  // (before sizing arrays from the header)
    NepModel probe = m;
    probe.ann.assign(probe.ann_size(), 0.0);
    probe.c_radial.assign(probe.c_radial_size(), 0.0);
    probe.c_angular.assign(probe.c_angular_size(), 0.0);
    probe.q_scaler.assign(probe.dim(), 0.0);
    if (probe.zbl == ZblKind::Flexible) probe.zbl_flexible.assign(10 * n_types * (n_types + 1) / 2, 0.0);
    probe.validate();
  } catch (const InputError& e) {
    throw FileFormatError(name, header_end_line, std::string("invalid header: ") + e.what());
  }

  // Parameters: one number per line, exactly as many as the header implies.
  const size_t n_flex = m.zbl == ZblKind::Flexible ? 10 * n_types * (n_types + 1) / 2 : 0;
  const size_t expected = m.ann_size() + m.c_radial_size() + m.c_angular_size() + m.dim() + n_flex;
  std::vector<double> values;
  values.reserve(expected);
  size_t pos = h.position();
  for (; pos < lines.size() && values.size() < expected; ++pos) {
    const auto tokens = text::split(lines[pos].text);
    if (tokens.size() != 1)
      throw FileFormatError(name, lines[pos].number,
                            tokens.empty() ? "blank line inside the parameter block"
                                           : "expected one number per line; got " + std::to_string(tokens.size()) +
                                                 " tokens");
    double v;
    if (!text::parse_double(tokens[0], v))
      throw FileFormatError(name, lines[pos].number, "'" + std::string(tokens[0]) + "' is not a number");
    if (!std::isfinite(v)) throw FileFormatError(name, lines[pos].number, "parameters must be finite");
    values.push_back(v);
  }
  if (values.size() < expected)
    throw FileFormatError(name, 0, "file ends after " + std::to_string(values.size()) + " parameters; the header implies " +
                                       std::to_string(expected) + " (network " + std::to_string(m.ann_size()) +
                                       ", descriptor " + std::to_string(m.c_radial_size() + m.c_angular_size()) +
                                       ", q_scaler " + std::to_string(m.dim()) +
                                       (n_flex ? ", ZBL " + std::to_string(n_flex) : std::string()) + ")");
  for (; pos < lines.size(); ++pos)
    if (!text::split(lines[pos].text).empty())
      throw FileFormatError(name, lines[pos].number, "more numbers than the header implies (" + std::to_string(expected) +
                                                         "); the header does not match the parameters");
  auto take = [&, k = size_t(0)](size_t n) mutable {
    std::vector<double> out(values.begin() + k, values.begin() + k + n);
    k += n;
    return out;
  };
  m.ann = take(m.ann_size());
  m.c_radial = take(m.c_radial_size());
  m.c_angular = take(m.c_angular_size());
  m.q_scaler = take(m.dim());
  m.zbl_flexible = take(n_flex);
  try {
    m.validate();
  } catch (const InputError& e) {
    throw FileFormatError(name, 0, e.what());
  }
  return m;
}

NepModel read_nep_model(const std::string& path) {
  text::refuse_directory(path, "nep.txt");
  std::ifstream in(path);
  if (!in) throw IOError("nep.txt: cannot open '" + path + "' for reading");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_nep_model(ss.str(), path);
}

std::string format_nep_model(const NepModel& m, NepNumberFormat f) {
  m.validate();
  auto real = [f](double x) { return f == NepNumberFormat::Gpumd ? fmt_g(x) : text::format_double(x); };
  std::ostringstream out;
  out << "nep" << m.version << (m.zbl != ZblKind::None ? "_zbl" : "") << " " << m.num_types();
  for (const auto& e : m.elements) out << " " << e;
  out << " \n";  // GPUMD writes a trailing blank after the element names
  if (m.zbl == ZblKind::Flexible) out << "zbl 0 0\n";
  else if (m.zbl == ZblKind::Typewise)
    out << "zbl " << real(m.zbl_inner) << " " << real(m.zbl_outer) << " " << real(m.zbl_typewise_factor) << "\n";
  else if (m.zbl == ZblKind::Universal) out << "zbl " << real(m.zbl_inner) << " " << real(m.zbl_outer) << "\n";
  out << "cutoff";
  const int n_cut = m.typewise_cutoff ? m.num_types() : 1;
  for (int a = 0; a < n_cut; ++a) out << " " << real(m.cutoff_radial[a]) << " " << real(m.cutoff_angular[a]);
  // Unknown neighbour maxima (legacy files) are written as GPUMD's largest accepted value.
  out << " " << (m.max_neighbors_radial > 0 ? m.max_neighbors_radial : 819) << " "
      << (m.max_neighbors_angular > 0 ? m.max_neighbors_angular : 819) << "\n";
  out << "n_max " << m.n_max_radial << " " << m.n_max_angular << "\n";
  out << "basis_size " << m.basis_size_radial << " " << m.basis_size_angular << "\n";
  out << "l_max " << m.l_max << " " << (m.terms[kTerm222] ? 2 : 0) << " " << m.terms[kTerm1111];
  int last = kTerm1111;
  for (int k = kTerm112; k < kNumNepTerms; ++k)
    if (m.terms[k]) last = k;
  for (int k = kTerm112; k <= last; ++k) out << " " << m.terms[k];
  out << "\n";
  out << "ANN " << m.neurons1 << " " << m.neurons2 << "\n";
  for (const auto* v : {&m.ann, &m.c_radial, &m.c_angular, &m.q_scaler, &m.zbl_flexible})
    for (double x : *v) out << fmt_param(x, f) << "\n";
  return out.str();
}

void write_nep_model(const NepModel& m, const std::string& path, NepNumberFormat f) {
  const std::string text = format_nep_model(m, f);
  std::ofstream out(path);
  if (!out) throw IOError("nep.txt: cannot open '" + path + "' for writing");
  out << text;
  if (!out) throw IOError("nep.txt: error while writing '" + path + "'");
}

}  // namespace nepcg
