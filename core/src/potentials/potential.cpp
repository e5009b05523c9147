#include "nepcg/potential.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "nepcg/error.hpp"
#include "pair_loop.hpp"

namespace nepcg {

namespace detail {
std::vector<int> map_species(const System& s, const std::vector<std::string>& known, const std::string& who) {
  std::vector<int> map(s.species.size());
  for (size_t t = 0; t < s.species.size(); ++t) {
    auto it = std::find(known.begin(), known.end(), s.species[t]);
    if (it == known.end()) {
      std::string have;
      for (const auto& k : known) have += (have.empty() ? "" : " ") + k;
      throw InputError(who + ": species '" + s.species[t] + "' of the structure has no parameters (known: " + have + ")");
    }
    map[t] = static_cast<int>(it - known.begin());
  }
  return map;
}
}  // namespace detail


void ForceResult::reset(size_t n) {
  energy = 0.0;
  energies.assign(n, 0.0);  // (scratch keeps its capacity)
  forces.assign(3 * n, 0.0);
  virials.assign(9 * n, 0.0);
  virial = Mat3{};
}

void ForceResult::sum_totals() {
  energy = 0.0;
  for (double e : energies) energy += e;
  virial = Mat3{};
  const size_t n = energies.size();
  for (size_t i = 0; i < n; ++i)
    for (int k = 0; k < 9; ++k) virial[k / 3][k % 3] += virials[9 * i + k];
}

void Potential::run_device_segment(System&, const DeviceSegment&, ForceResult&, bool, ThermostatState&,
                                   std::vector<DeviceRecord>&) const {
  throw RuntimeError("Potential '" + name() + "' cannot run dynamics on a GPU");
}

void check_device_segment(const DeviceSegment& seg, const ThermostatState& thermostat, size_t n,
                          const std::string& who) {
  const std::vector<long>& rec = seg.record_steps;
  for (size_t r = 0; r < rec.size(); ++r)
    if (rec[r] < 1 || rec[r] > seg.steps || (r > 0 && rec[r] <= rec[r - 1]))
      throw InputError(who + ": a segment's record steps must rise within 1 ... " + std::to_string(seg.steps));
  if (seg.thermostat == ThermostatKind::Bussi && seg.bussi_draws.size() < 2 * size_t(std::max(seg.steps, 0L)))
    throw InputError(who + ": a Bussi segment needs 2 random numbers per step");
  if (seg.thermostat == ThermostatKind::NoseHooverChain &&
      (thermostat.chain_velocity.empty() || thermostat.chain_position.size() != thermostat.chain_velocity.size()))
    throw InputError(who + ": a Nose-Hoover segment needs the chain's velocities and positions");
  if (seg.updates_cell()) {
    if (seg.bead_mass.size() > 0)
      throw InputError(who + ": the bead constraint needs a fixed cell (no barostat or deformation)");
    if (seg.barostat_draws.size() < size_t(kernels::barostat_draws(seg.cell)) * size_t(std::max(seg.steps, 0L)))
      throw InputError(who + ": a stochastic cell rescaling segment needs " +
                       std::to_string(kernels::barostat_draws(seg.cell)) + " random numbers per step");
    if (seg.cell.barostat != 0 && !(seg.cell.tau > 0))
      throw InputError(who + ": the barostat's tau must be positive (fs)");
  }
  if (!seg.moving.empty() && seg.moving.size() != n)
    throw InputError(who + ": the segment's fixed-atom mask has " + std::to_string(seg.moving.size()) +
                     " entries for " + std::to_string(n) + " atoms");
  if (seg.bead_mass.empty()) return;
  if (seg.bead_mass.size() > n)  // (a bead's bath share is booked in a per-atom array)
    throw InputError(who + ": " + std::to_string(seg.bead_mass.size()) + " beads for " + std::to_string(n) +
                     " atoms");
  if (seg.bead_of.size() != n)
    throw InputError(who + ": the segment's bead indices have " + std::to_string(seg.bead_of.size()) +
                     " entries for " + std::to_string(n) + " atoms");
  for (int b : seg.bead_of)
    if (b < 0 || b >= static_cast<int>(seg.bead_mass.size()))
      throw InputError(who + ": bead index " + std::to_string(b) + " out of range");
}

ForceResult Potential::compute(const System& system) const {
  system.validate();
  NeighborList list(cutoff(), 0.0, secondary_cutoff());
  list.build(system.box, system.positions);
  ForceResult out;
  out.reset(system.size());
  accumulate(system, list, out);
  out.sum_totals();
  check_finite_result(system, list, out, name());
  return out;
}

void check_finite_result(const System& s, const NeighborList& list, const ForceResult& r, const std::string& who) {
  bool finite = std::isfinite(r.energy);
  for (size_t k = 0; finite && k < r.forces.size(); ++k) finite = std::isfinite(r.forces[k]);
  if (finite) return;
  const auto& off = list.offsets();
  const auto& nbr = list.neighbors();
  for (size_t i = 0; i + 1 < off.size(); ++i)
    for (int64_t e = off[i]; e < off[i + 1]; ++e) {
      const Vec3 d = list.pair_vector(i, e, s.positions, s.box);
      const double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      if (r2 < 1e-12) {
        const bool image = static_cast<size_t>(nbr[e]) == i;
        throw InputError(who + ": atoms " + std::to_string(i) + " and " + std::to_string(nbr[e]) +
                         (image ? " (a periodic image of itself)" : "") + " are " + std::to_string(std::sqrt(r2)) +
                         " Å apart: the energy is not finite where atoms coincide");
      }
    }
  throw RuntimeError(who + ": the energy or forces are not finite (NaN or inf): positions outside the range the "
                           "potential was made for, or non-finite parameters");
}

}  // namespace nepcg
