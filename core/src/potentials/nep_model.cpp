#include "nepcg/nep_model.hpp"

#include <algorithm>
#include <cmath>

#include "nepcg/error.hpp"

namespace nepcg {

int NepModel::num_terms_enabled() const {
  int n = 0;
  for (int t : terms) n += t != 0;
  return n;
}

size_t NepModel::ann_block_size() const {
  const size_t d = dim();
  if (neurons2 > 0) return (d + 1) * neurons1 + size_t(neurons1 + 2) * neurons2;
  return (d + 2) * neurons1 + (version == 5 ? 1 : 0);
}

size_t NepModel::ann_size() const {
  const size_t blocks = version == 3 ? 1 : num_types();
  return blocks * ann_block_size() + 1;
}

size_t NepModel::c_radial_size() const {
  const size_t t = num_types();
  return t * t * (n_max_radial + 1) * (basis_size_radial + 1);
}

size_t NepModel::c_angular_size() const {
  const size_t t = num_types();
  return t * t * (n_max_angular + 1) * (basis_size_angular + 1);
}

double NepModel::max_cutoff_radial() const {
  return cutoff_radial.empty() ? 0.0 : *std::max_element(cutoff_radial.begin(), cutoff_radial.end());
}

double NepModel::max_cutoff_angular() const {
  return cutoff_angular.empty() ? 0.0 : *std::max_element(cutoff_angular.begin(), cutoff_angular.end());
}

void NepModel::validate() const {
  validate_header();
  auto fail = [](const std::string& m) { throw InputError("NepModel: " + m); };
  const size_t t = elements.size();
  if (zbl == ZblKind::Flexible && zbl_flexible.size() != 10 * t * (t + 1) / 2)
    fail("flexible ZBL needs 10 numbers per type pair");
  if (ann.size() != ann_size())
    fail("network block has " + std::to_string(ann.size()) + " numbers; expected " + std::to_string(ann_size()));
  if (c_radial.size() != c_radial_size()) fail("wrong number of radial coefficients");
  if (c_angular.size() != c_angular_size()) fail("wrong number of angular coefficients");
  if (q_scaler.size() != static_cast<size_t>(dim()))
    fail("q_scaler has " + std::to_string(q_scaler.size()) + " numbers; expected " + std::to_string(dim()));
  for (const auto* v : {&ann, &c_radial, &c_angular, &q_scaler, &zbl_flexible})
    for (double x : *v)
      if (!std::isfinite(x)) fail("parameters must be finite (found NaN or infinity)");
}

void NepModel::validate_header() const {
  auto fail = [](const std::string& m) { throw InputError("NepModel: " + m); };
  auto range = [&](const char* what, long v, long lo, long hi) {
    if (v < lo || v > hi)
      fail(std::string(what) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]; got " +
           std::to_string(v));
  };
  if (version != 3 && version != 4 && version != 5) fail("version must be 3, 4 or 5; got " + std::to_string(version));
  if (elements.empty()) fail("no elements");
  for (size_t a = 0; a < elements.size(); ++a)
    for (size_t b = a + 1; b < elements.size(); ++b)
      if (elements[a] == elements[b]) fail("element '" + elements[a] + "' is listed twice");
  const size_t t = elements.size();
  if (cutoff_radial.size() != t || cutoff_angular.size() != t) fail("need one radial and one angular cutoff per element");
  for (size_t a = 0; a < t; ++a) {
    if (!(cutoff_radial[a] > 0) || !(cutoff_angular[a] > 0) || !std::isfinite(cutoff_radial[a]))
      fail("cutoffs must be positive");
    if (cutoff_angular[a] > cutoff_radial[a])
      fail("the angular cutoff must not exceed the radial cutoff (element " + elements[a] + ")");
  }
  range("n_max radial", n_max_radial, 0, 19);
  range("n_max angular", n_max_angular, 0, 19);
  range("basis_size radial", basis_size_radial, 0, 19);
  range("basis_size angular", basis_size_angular, 0, 19);
  range("l_max", l_max, 1, 8);
  if ((has_term(kTerm222) || has_term(kTerm112)) && l_max < 2) fail("4-body terms need l_max >= 2");
  range("neurons", neurons1, 1, 200);
  range("second-layer neurons", neurons2, 0, 200);
  if (neurons2 > 0 && version != 4) fail("two hidden layers exist only for nep4 models");
  if ((zbl == ZblKind::Universal || zbl == ZblKind::Typewise) &&
      !(zbl_outer > zbl_inner && zbl_inner >= 0 && std::isfinite(zbl_outer)))
    fail("ZBL needs 0 <= inner < outer cutoff (finite)");
  if (zbl == ZblKind::Typewise && !(zbl_typewise_factor > 0 && std::isfinite(zbl_typewise_factor)))
    fail("the type-wise ZBL factor must be positive and finite");
  if (max_neighbors_radial < 0 || max_neighbors_angular < 0)
    fail("the neighbour counts of the cutoff line must be >= 1 (0: not given)");
}

}  // namespace nepcg
