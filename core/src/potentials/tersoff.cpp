// Tersoff potential: partial forces f_ij = dU_i/dr_ij per list entry, then the shared gather.
#include "nepcg/tersoff.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "../io/text_parsing.hpp"
#include "nepcg/error.hpp"
#include "pair_loop.hpp"
#include "partial_forces.hpp"

namespace nepcg {
namespace {

constexpr double kPi = 3.14159265358979323846;

inline void cutoff_fn(double r, const TersoffEntry& p, double& fc, double& dfc) {
  if (p.D == 0.0) {  // hard cutoff
    fc = r < p.R ? 1.0 : 0.0, dfc = 0.0;
  } else if (r < p.R - p.D) {
    fc = 1.0, dfc = 0.0;
  } else if (r > p.R + p.D) {
    fc = 0.0, dfc = 0.0;
  } else {
    const double a = 0.5 * kPi / p.D;
    fc = 0.5 * (1.0 - std::sin(a * (r - p.R)));
    dfc = -0.5 * a * std::cos(a * (r - p.R));
  }
}

// exp[(lambda3 dr)^m] and its derivative with respect to dr = r_ij - r_ik (LAMMPS's clipping).
inline void exp_term(double dr, const TersoffEntry& p, double& ex, double& dex) {
  double arg, darg;
  if (p.m == 3.0) {
    const double t = p.lambda3 * dr;
    arg = t * t * t;
    darg = 3.0 * t * t * p.lambda3;
  } else {
    arg = p.lambda3 * dr;
    darg = p.lambda3;
  }
  if (arg > 69.0776) {
    ex = 1e30, dex = 0.0;
  } else if (arg < -69.0776) {
    ex = 0.0, dex = 0.0;
  } else {
    ex = std::exp(arg);
    dex = ex * darg;
  }
}

inline void angular_fn(double cos_t, const TersoffEntry& p, double& g, double& dg) {
  const double c2 = p.c * p.c, d2 = p.d * p.d, hc = p.h - cos_t;
  const double den = d2 + hc * hc;
  g = p.gamma * (1.0 + c2 / d2 - c2 / den);
  dg = -2.0 * p.gamma * c2 * hc / (den * den);  // dg/dcos
}

}  // namespace

Tersoff::Tersoff(const std::vector<TersoffEntry>& entries) : entries_(entries) {
  if (entries_.empty()) throw InputError("Tersoff: no parameter entries");
  auto idx = [&](const std::string& e) {
    auto it = std::find(elements_.begin(), elements_.end(), e);
    if (it != elements_.end()) return static_cast<int>(it - elements_.begin());
    elements_.push_back(e);
    return static_cast<int>(elements_.size()) - 1;
  };
  for (const auto& p : entries_) idx(p.e1), idx(p.e2), idx(p.e3);
  const size_t t = elements_.size();
  index_.assign(t * t * t, -1);
  for (size_t q = 0; q < entries_.size(); ++q) {
    const auto& p = entries_[q];
    const size_t k = (idx(p.e1) * t + idx(p.e2)) * t + idx(p.e3);
    if (index_[k] >= 0) throw InputError("Tersoff: entry " + p.e1 + " " + p.e2 + " " + p.e3 + " given twice");
    const std::string name = p.e1 + " " + p.e2 + " " + p.e3;
    if (p.m != 1.0 && p.m != 3.0) throw InputError("Tersoff: entry " + name + ": m must be 1 or 3");
    // As LAMMPS: n, beta, lambda2, B, lambda1, A are used from (i,j,j) entries only.
    if (!(p.D >= 0) || !(p.R > p.D) || !(p.n >= 0) || !(p.d != 0) || !(p.c >= 0) || !(p.gamma >= 0))
      throw InputError("Tersoff: entry " + name + " needs R > D >= 0, n >= 0, c >= 0, gamma >= 0, d != 0");
    if (p.e2 == p.e3 && !(p.n > 0)) throw InputError("Tersoff: pair entry " + name + " needs n > 0");
    index_[k] = static_cast<int>(q);
    max_cutoff_ = std::max(max_cutoff_, p.R + p.D);
  }
}

Tersoff Tersoff::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IOError("Tersoff: cannot open '" + path + "' for reading");
  std::vector<std::pair<long, std::string>> tokens;
  std::string line;
  long n = 0;
  while (std::getline(in, line)) {
    ++n;
    for (auto t : text::split(text::strip_comment(line))) tokens.emplace_back(n, std::string(t));
  }
  if (tokens.size() % 17 != 0)
    throw FileFormatError(path, tokens.empty() ? 0 : tokens.back().first,
                          "entries have 17 values (3 elements + 14 numbers); the file has " +
                              std::to_string(tokens.size()) + " tokens");
  std::vector<TersoffEntry> entries;
  for (size_t q = 0; q < tokens.size(); q += 17) {
    double v[14];
    for (int k = 0; k < 14; ++k)
      if (!text::parse_double(tokens[q + 3 + k].second, v[k]) || !std::isfinite(v[k]))
        throw FileFormatError(path, tokens[q + 3 + k].first, "'" + tokens[q + 3 + k].second + "' is not a number");
    entries.push_back({tokens[q].second, tokens[q + 1].second, tokens[q + 2].second, v[0], v[1], v[2], v[3], v[4],
                       v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]});
  }
  try {
    return Tersoff(entries);
  } catch (const InputError& e) {
    throw FileFormatError(path, 0, e.what());
  }
}

Tersoff Tersoff::carbon_1989(bool widened_switch) {
  TersoffEntry c{"C", "C", "C", 3.0, 1.0, 0.0, 38049.0, 4.3484, -0.57058, 0.72751, 1.5724e-7, 2.2119, 346.74,
                 1.95, 0.15, 3.4879, 1393.6};
  if (widened_switch) c.R = 2.05, c.D = 0.10;
  return Tersoff({c});
}

void Tersoff::write(const std::string& path) const {
  std::ofstream out(path);
  if (!out) throw IOError("Tersoff: cannot open '" + path + "' for writing");
  out << "# element1 element2 element3 m gamma lambda3 c d costheta0 n beta lambda2 B R D lambda1 A\n";
  char buf[512];
  for (const auto& p : entries_) {
    std::snprintf(buf, sizeof(buf), "%s %s %s %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g\n",
                  p.e1.c_str(), p.e2.c_str(), p.e3.c_str(), p.m, p.gamma, p.lambda3, p.c, p.d, p.h, p.n, p.beta,
                  p.lambda2, p.B, p.R, p.D, p.lambda1, p.A);
    out << buf;
  }
}

void Tersoff::accumulate(const System& s, const NeighborList& list, ForceResult& out) const {
  const std::vector<int> type = detail::map_species(s, elements_, "Tersoff");
  const int T = static_cast<int>(elements_.size());
  // Every triplet of the species present needs an entry (as LAMMPS checks for pair_coeff's elements).
  for (int a : type)
    for (int b : type)
      for (int c : type)
        if (index_[(a * T + b) * T + c] < 0)
          throw InputError("Tersoff: no entry for " + elements_[a] + " " + elements_[b] + " " + elements_[c] +
                           " (needed by the species of the structure)");
  const long long n = static_cast<long long>(s.size());
  const auto& off = list.offsets();
  const auto& nbr = list.neighbors();
  if (out.scratch.size() < 3 * list.num_pairs()) out.scratch.resize(3 * list.num_pairs());
  double* f = out.scratch.data();
  std::fill(f, f + 3 * list.num_pairs(), 0.0);
  auto entry = [&](int a, int b, int c) -> const TersoffEntry& { return entries_[index_[(a * T + b) * T + c]]; };

#pragma omp parallel
  {
    // Per-atom scratch: neighbours within their pair cutoff.
    std::vector<int64_t> ent;
    std::vector<int> ty;
    std::vector<double> u, r, zeta, P;
#pragma omp for schedule(dynamic, 32)
    for (long long i = 0; i < n; ++i) {
      const int a = type[s.types[i]];
      ent.clear(), ty.clear(), u.clear(), r.clear();
      for (int64_t e = off[i]; e < off[i + 1]; ++e) {
        const int b = type[s.types[nbr[e]]];
        const TersoffEntry& pij = entry(a, b, b);
        const Vec3 v = list.pair_vector(i, e, s.positions, s.box);
        const double d = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        if (d >= pij.R + pij.D) continue;
        ent.push_back(e), ty.push_back(b), r.push_back(d);
        u.insert(u.end(), {v[0] / d, v[1] / d, v[2] / d});
      }
      const int m = static_cast<int>(ent.size());
      zeta.assign(m, 0.0);
      P.assign(m, 0.0);
      // zeta_ij over k != j (the (i,j,k) entry's cutoff applies to r_ik).
      for (int j = 0; j < m; ++j)
        for (int k = 0; k < m; ++k) {
          if (k == j) continue;
          const TersoffEntry& p = entry(a, ty[j], ty[k]);
          if (r[k] >= p.R + p.D) continue;
          double fc, dfc, g, dg, ex, dex;
          cutoff_fn(r[k], p, fc, dfc);
          const double cos_t = u[3 * j] * u[3 * k] + u[3 * j + 1] * u[3 * k + 1] + u[3 * j + 2] * u[3 * k + 2];
          angular_fn(cos_t, p, g, dg);
          exp_term(r[j] - r[k], p, ex, dex);
          zeta[j] += fc * g * ex;
        }
      double U = 0.0;
      for (int j = 0; j < m; ++j) {
        const TersoffEntry& p = entry(a, ty[j], ty[j]);
        double fc, dfc;
        cutoff_fn(r[j], p, fc, dfc);
        const double fr = p.A * std::exp(-p.lambda1 * r[j]), dfr = -p.lambda1 * fr;
        const double fa = -p.B * std::exp(-p.lambda2 * r[j]), dfa = -p.lambda2 * fa;
        const double bz = std::pow(p.beta * zeta[j], p.n);
        const double bij = std::pow(1.0 + bz, -0.5 / p.n);
        // db/dzeta = -(1/2) b (beta zeta)^n / (zeta (1 + (beta zeta)^n))
        const double dbij = zeta[j] > 0 ? -0.5 * bij * bz / (zeta[j] * (1.0 + bz)) : 0.0;
        U += 0.5 * fc * (fr + bij * fa);
        P[j] = 0.5 * fc * fa * dbij;  // dU_i/dzeta_ij
        const double direct = 0.5 * (dfc * (fr + bij * fa) + fc * (dfr + bij * dfa));
        double* fe = &f[3 * ent[j]];
        for (int c = 0; c < 3; ++c) fe[c] += direct * u[3 * j + c];
      }
      out.energies[i] += U;
      // Three-body derivatives: for each ordered pair (j, k), zeta_ij depends on r_ij and r_ik.
      for (int j = 0; j < m; ++j)
        for (int k = 0; k < m; ++k) {
          if (k == j || P[j] == 0.0) continue;
          const TersoffEntry& p = entry(a, ty[j], ty[k]);
          if (r[k] >= p.R + p.D) continue;
          double fc, dfc, g, dg, ex, dex;
          cutoff_fn(r[k], p, fc, dfc);
          const double* uj = &u[3 * j];
          const double* uk = &u[3 * k];
          const double cos_t = uj[0] * uk[0] + uj[1] * uk[1] + uj[2] * uk[2];
          angular_fn(cos_t, p, g, dg);
          exp_term(r[j] - r[k], p, ex, dex);
          double* fj = &f[3 * ent[j]];
          double* fk = &f[3 * ent[k]];
          for (int c = 0; c < 3; ++c) {
            const double dcos_drj = (uk[c] - cos_t * uj[c]) / r[j];
            const double dcos_drk = (uj[c] - cos_t * uk[c]) / r[k];
            fj[c] += P[j] * fc * (dg * dcos_drj * ex + g * dex * uj[c]);
            fk[c] += P[j] * (dfc * uk[c] * g * ex + fc * dg * dcos_drk * ex - fc * g * dex * uk[c]);
          }
        }
    }
  }
  detail::gather_partial_forces(s, list, f, out);
}

}  // namespace nepcg
