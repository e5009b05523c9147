// Cell-list construction of the full Verlet list. Atoms are binned in fractional coordinates
// (periodic directions wrapped into [0, 1)); each atom scans the bins within reach of its own
// (a stencil without the corner bins that lie beyond the cutoff), where a bin offset along a
// periodic direction that leaves the cell becomes a periodic image. The stencil is scanned as
// rows of consecutive bins along the last axis (one range of atoms per row and image), screened
// by a vectorised distance loop. The reverse-entry and half-list views are derived on first use.
// Offsets are not folded, so in a box thinner than the cutoff the same bin is visited once per
// image: this is what finds every image of every atom (and of the atom itself).
#include "nepcg/neighbor_list.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <string>

#include "../io/text_parsing.hpp"
#include "nepcg/error.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nepcg {
namespace {

int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

constexpr int kMaxReach = 8;  // per-atom bin pruning up to this many bins each way
constexpr int kScanBlock = 64;  // candidates screened per vectorised distance loop

struct Axis {
  bool periodic;
  int bins;       // number of bins
  int reach;      // bin offsets scanned on each side
  double lo;      // fractional coordinate of the first bin edge
  double width;   // fractional width of the whole binned range
  double thickness;  // Å between a bin's two faces (0 for a flat range)
};

}  // namespace

NeighborList::NeighborList(double cutoff, double skin, double secondary_cutoff, bool half_only)
    : cutoff_(cutoff), skin_(skin), secondary_cutoff_(secondary_cutoff), half_only_(half_only) {
  if (!(cutoff > 0) || !std::isfinite(cutoff))
    throw InputError("NeighborList: cutoff must be positive; got " + std::to_string(cutoff));
  if (!(skin >= 0) || !std::isfinite(skin))
    throw InputError("NeighborList: skin must be >= 0; got " + std::to_string(skin));
  if (!(secondary_cutoff >= 0) || secondary_cutoff > cutoff)
    throw InputError("NeighborList: secondary cutoff must be in [0, cutoff]; got " + std::to_string(secondary_cutoff));
}

int NeighborList::max_neighbors() const {
  int m = 0;
  for (size_t i = 0; i < num_atoms_; ++i) m = std::max(m, num_neighbors(i));
  return m;
}

void NeighborList::build(const Box& box, const std::vector<double>& x) {
  if (x.size() % 3 != 0) throw InputError("NeighborList: positions must have shape (N, 3)");
  const size_t n = x.size() / 3;
  for (size_t k = 0; k < x.size(); ++k)
    if (!std::isfinite(x[k]))
      throw InputError("NeighborList: position of atom " + std::to_string(k / 3) + " is not finite (NaN or infinity)");

  const double r_list = cutoff_ + skin_;
  const double r2 = r_list * r_list;
  const double r_sec = secondary_cutoff_ > 0 ? secondary_cutoff_ + skin_ : 0.0;
  const double rs2 = r_sec * r_sec;
  const Vec3 h = box.thickness();
  const Mat3& cell = box.cell();
  // A periodic cell over 100 times thinner than the list range would be searched through more
  // than 10^6 images per atom: a collapsing cell (a barostat or deformation gone wrong), not a
  // structure to list. (The GPU list has the same limit.)
  for (int a = 0; a < 3; ++a)
    if (box.periodic(a) && !(h[a] * 100.0 >= r_list))
      throw InputError("NeighborList: the cell is " + text::format_double(h[a]) + " Å thick along axis " +
                       std::to_string(a) + ", over 100 times thinner than the list range " +
                       text::format_double(r_list) + " Å (a collapsing cell?)");

  // Fractional coordinates, wrapped along periodic directions; image[i] = how often wrapped.
  std::vector<double> s(3 * n);
  std::vector<int> image(3 * n, 0);
  double smin[3] = {0, 0, 0}, smax[3] = {0, 0, 0};
  for (size_t i = 0; i < n; ++i) {
    Vec3 f = box.to_fractional({x[3 * i], x[3 * i + 1], x[3 * i + 2]});
    for (int a = 0; a < 3; ++a) {
      if (i == 0 || f[a] < smin[a]) smin[a] = f[a];
      if (i == 0 || f[a] > smax[a]) smax[a] = f[a];
      if (box.periodic(a)) {
        const double fl = std::floor(f[a]);
        if (std::fabs(fl) > 30000)
          throw InputError("NeighborList: atom " + std::to_string(i) + " lies more than 30000 cells outside the box");
        image[3 * i + a] = static_cast<int>(fl);
        f[a] -= fl;
        if (f[a] >= 1.0) {  // a tiny negative coordinate rounds to 1: it is image fl + 1, at 0
          f[a] = 0.0;
          ++image[3 * i + a];
        }
      }
      s[3 * i + a] = f[a];
    }
  }

  // Bins of width >= r_list / 3 (7 bins per direction scanned, minus the corners that cannot
  // hold a neighbour: see the stencil below), fewer for huge or dilute boxes.
  Axis ax[3];
  size_t total_bins = 1;
  for (int a = 0; a < 3; ++a) {
    Axis& A = ax[a];
    A.periodic = box.periodic(a);
    A.lo = A.periodic ? 0.0 : smin[a];
    A.width = A.periodic ? 1.0 : std::max(smax[a] - smin[a], 0.0);
    const double extent = A.width * h[a];  // Å across the binned range
    A.bins = std::max(1, static_cast<int>(std::min(3.0 * extent / r_list, 1.0e6)));
    total_bins *= A.bins;
  }
  while (total_bins > 2 * n + 64) {  // keep the bin array O(N) for dilute or huge boxes
    total_bins = 1;
    for (auto& A : ax) {
      A.bins = std::max(1, A.bins / 2);
      total_bins *= A.bins;
    }
  }
  for (int a = 0; a < 3; ++a) {
    Axis& A = ax[a];
    const double extent = A.width * h[a];
    if (A.periodic) {
      A.reach = static_cast<int>(std::floor(r_list * A.bins / extent)) + 1;
    } else {
      A.reach = extent > 0 ? static_cast<int>(std::floor(r_list * A.bins / extent)) + 1 : 0;
      A.reach = std::min(A.reach, A.bins - 1);
    }
    A.thickness = A.width > 0 ? extent / A.bins : 0.0;
  }

  // The bin scan screens candidates with positions brought into the cell, whose round-off
  // differs from pair_vector()'s by ~1e-16 of the coordinates: screen with a margin.
  double scale = 0.0;
  for (double v : x) scale = std::max(scale, std::fabs(v));
  for (int a = 0; a < 3; ++a) scale += norm(Vec3{cell[a][0], cell[a][1], cell[a][2]});
  const double r_screen = r_list + 1e-12 * scale + 1e-12;
  const double r2_screen = r_screen * r_screen;
  const double r_sure = std::max(0.0, r_list - (1e-12 * scale + 1e-12));  // surely inside below this
  const double r2_sure = r_sure * r_sure;
  const double rs2_margin = 4.0 * r_sec * (1e-12 * scale + 1e-12) + 1e-300;

  // (per-atom gaps need the reach bounded; tiny boxes scan many images of few bins)
  bool per_atom_gaps = true;
  for (int a = 0; a < 3; ++a) per_atom_gaps &= ax[a].reach <= kMaxReach;

  // Stencil: bin offsets whose bins can hold a point within r_list of some point of the centre
  // bin. Along axis a two bins |o| apart are at least (|o| - 1) w_a apart (w_a: the bins'
  // thickness); in an orthorhombic cell these gaps add in quadrature, in a skewed one only the
  // largest is a safe bound.
  bool orthorhombic = true;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      if (a != b && cell[a][b] != 0.0) orthorhombic = false;
  std::vector<std::array<int, 3>> stencil;
  for (int o0 = -ax[0].reach; o0 <= ax[0].reach; ++o0)
    for (int o1 = -ax[1].reach; o1 <= ax[1].reach; ++o1)
      for (int o2 = -ax[2].reach; o2 <= ax[2].reach; ++o2) {
        const int o[3] = {o0, o1, o2};
        double sum2 = 0.0, largest = 0.0;
        for (int a = 0; a < 3; ++a) {
          const double gap = std::max(std::abs(o[a]) - 1, 0) * ax[a].thickness;
          sum2 += gap * gap, largest = std::max(largest, gap);
        }
        if ((orthorhombic ? sum2 : largest * largest) >= r2_screen) continue;
        // Half list: of the two bin offsets o and -o that join a pair, only the lexicographically
        // positive one is scanned (o = 0, the same bin, takes j > i below). Each offset is one
        // (bin, image) pair even in cells thinner than the stencil, so every pair is found once.
        if (half_only_ && (o0 < 0 || (o0 == 0 && (o1 < 0 || (o1 == 0 && o2 < 0))))) continue;
        stencil.push_back({o0, o1, o2});
      }

  // The stencil as rows along the last axis: (o0, o1) and the interval lo2 ... hi2 of o2 (an
  // interval: the gap grows with |o2|), scanned as consecutive bins.
  struct Row {
    int o0, o1, lo2, hi2;
  };
  std::vector<Row> rows;
  for (const auto& o : stencil) {
    if (!rows.empty() && rows.back().o0 == o[0] && rows.back().o1 == o[1] && rows.back().hi2 + 1 == o[2])
      rows.back().hi2 = o[2];
    else
      rows.push_back({o[0], o[1], o[2], o[2]});
  }

  auto bin_of = [&](size_t i, int a) {
    const Axis& A = ax[a];
    if (A.width <= 0) return 0;
    const int b = static_cast<int>(std::floor((s[3 * i + a] - A.lo) / A.width * A.bins));
    return std::min(std::max(b, 0), A.bins - 1);
  };
  std::vector<int> atom_bin(n);
  std::vector<int> bin_start(total_bins + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    atom_bin[i] = (bin_of(i, 0) * ax[1].bins + bin_of(i, 1)) * ax[2].bins + bin_of(i, 2);
    ++bin_start[atom_bin[i] + 1];
  }
  for (size_t b = 0; b < total_bins; ++b) bin_start[b + 1] += bin_start[b];
  std::vector<int> bin_atoms(n);
  {
    std::vector<int> fill(bin_start.begin(), bin_start.end() - 1);
    for (size_t i = 0; i < n; ++i) bin_atoms[fill[atom_bin[i]]++] = static_cast<int>(i);
  }
  // Positions brought into the cell (x - image . H) and image counts, in bin order, so that
  // scanning a bin reads contiguous memory.
  auto wrapped = [&](size_t i, int c) {
    return x[3 * i + c] - (image[3 * i] * cell[0][c] + image[3 * i + 1] * cell[1][c] + image[3 * i + 2] * cell[2][c]);
  };
  std::vector<double> bx(3 * n);
  std::vector<int> bimage(3 * n);
  for (size_t q = 0; q < n; ++q)
    for (int c = 0; c < 3; ++c) {
      bx[3 * q + c] = wrapped(bin_atoms[q], c);
      bimage[3 * q + c] = image[3 * bin_atoms[q] + c];
    }

  // Largest image shift a pair can need, for the box-change part of the rebuild criterion.
  for (int a = 0; a < 3; ++a)
    max_shift_[a] = box.periodic(a)
                        ? static_cast<int>(std::ceil((2 * r_list) / h[a] + (smax[a] - smin[a]))) + 2
                        : 0;

  // Search, visiting atoms in bin order (consecutive atoms scan the same, cached bins). Each
  // thread appends its atoms' entries to its own buffer; they are then copied into the CSR
  // arrays in atom order, so the result does not depend on the number of threads.
  offsets_.assign(n + 1, 0);
  num_secondary_.assign(n, 0);
  std::vector<int> counts(n, 0);
  std::vector<int64_t> start_in_thread(n, 0);
  std::vector<int> thread_of(n, 0);
  int max_threads = 1;
#ifdef _OPENMP
  max_threads = omp_get_max_threads();
#endif
  // Per-thread buffers persist between builds (no fresh pages to fault in every build).
  auto& thread_j = build_buffers_.j;
  auto& thread_shift = build_buffers_.shift;
  if (static_cast<int>(thread_j.size()) < max_threads) thread_j.resize(max_threads), thread_shift.resize(max_threads);
  bool shift_overflow = false;

#pragma omp parallel reduction(|| : shift_overflow)
  {
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    const size_t begin = n * t / nt, end = n * (t + 1) / nt;
    auto& out_j = thread_j[t];
    auto& out_s = thread_shift[t];
    out_j.clear(), out_s.clear();
    std::vector<int> near_j, far_j;
    std::vector<int> near_s, far_s;
    alignas(64) double scan_d2[kScanBlock];
    int scan_hit[kScanBlock];
    for (size_t qi = begin; qi < end; ++qi) {
      const size_t i = bin_atoms[qi];
      near_j.clear(), far_j.clear(), near_s.clear(), far_s.clear();
      const int64_t atom_start = static_cast<int64_t>(out_j.size());
      const int b[3] = {bin_of(i, 0), bin_of(i, 1), bin_of(i, 2)};
      const double wi[3] = {wrapped(i, 0), wrapped(i, 1), wrapped(i, 2)};
      // Distance from atom i to the bins o away along each axis (its place inside its own bin
      // counts): bins of the stencil beyond r for this atom are skipped.
      double gap[3][2 * kMaxReach + 1] = {};
      for (int a = 0; a < 3 && per_atom_gaps; ++a) {
        const Axis& A = ax[a];
        const double w = A.thickness;
        double u = A.width > 0 ? (s[3 * i + a] - A.lo) / A.width * A.bins - b[a] : 0.0;  // 0 ... 1 in the bin
        u = std::min(std::max(u, 0.0), 1.0);
        for (int o = -A.reach; o <= A.reach; ++o)
          gap[a][o + A.reach] = o > 0 ? (o - u) * w : o < 0 ? (-o - 1 + u) * w : 0.0;
      }
      // Stencil rows: bins o2 = lo ... hi along the last axis are scanned together; those
      // beyond r for this atom are trimmed from either end first.
      for (const auto& row : rows) {
        int lo = row.lo2, hi = row.hi2;
        if (per_atom_gaps) {
          const double g0 = gap[0][row.o0 + ax[0].reach], g1 = gap[1][row.o1 + ax[1].reach];
          const double base2 = orthorhombic ? g0 * g0 + g1 * g1 : std::max(g0 * g0, g1 * g1);
          if (base2 >= r2_screen) continue;
          auto within = [&](int o2) {
            const double g2 = gap[2][o2 + ax[2].reach];
            return (orthorhombic ? base2 + g2 * g2 : std::max(base2, g2 * g2)) < r2_screen;
          };
          while (lo <= hi && !within(lo)) ++lo;
          while (hi >= lo && !within(hi)) --hi;
        }
        int c[3], m[3] = {0, 0, 0};
        bool inside = true;
        const int o01[2] = {row.o0, row.o1};
        for (int a = 0; a < 2; ++a) {
          c[a] = b[a] + o01[a];
          if (ax[a].periodic) {
            m[a] = floor_div(c[a], ax[a].bins);
            c[a] -= m[a] * ax[a].bins;
          } else if (c[a] < 0 || c[a] >= ax[a].bins) {
            inside = false;
          }
        }
        if (!inside) continue;
        if (!ax[2].periodic) lo = std::max(lo, -b[2]), hi = std::min(hi, ax[2].bins - 1 - b[2]);
        // Segments of consecutive bins with one periodic image along the last axis.
        for (int o2 = lo; o2 <= hi;) {
          c[2] = b[2] + o2, m[2] = 0;
          if (ax[2].periodic) {
            m[2] = floor_div(c[2], ax[2].bins);
            c[2] -= m[2] * ax[2].bins;
          }
          const int length = std::min(hi - o2 + 1, ax[2].bins - c[2]);
          // r_ij = w_j + m . H - w_i = w_j - base
          double base[3];
          for (int k = 0; k < 3; ++k) base[k] = wi[k] - (m[0] * cell[0][k] + m[1] * cell[1][k] + m[2] * cell[2][k]);
          const int first_bin = (c[0] * ax[1].bins + c[1]) * ax[2].bins + c[2];
          // half list, atom i's own bin (offset 0, first in its row): each pair once (j > i)
          const bool own_bin = half_only_ && row.o0 == 0 && row.o1 == 0 && o2 == 0;
          const int q_own_end = own_bin ? bin_start[first_bin + 1] : bin_start[first_bin];
          const bool own_image = m[0] == 0 && m[1] == 0 && m[2] == 0;
          const int q_end = bin_start[first_bin + length];
          for (int q0 = bin_start[first_bin]; q0 < q_end; q0 += kScanBlock) {
            const int nq = std::min(kScanBlock, q_end - q0);
            // squared distances of a block of candidates (vectorised), then the few inside
            // r_screen (branch-free compaction) go through the exact tests below
#pragma omp simd
            for (int k = 0; k < nq; ++k) {
              const int q = q0 + k;
              const double d0 = bx[3 * q] - base[0], d1 = bx[3 * q + 1] - base[1], d2c = bx[3 * q + 2] - base[2];
              scan_d2[k] = d0 * d0 + d1 * d1 + d2c * d2c;
            }
            int hits = 0;
            for (int k = 0; k < nq; ++k) scan_hit[hits] = k, hits += scan_d2[k] < r2_screen;
            for (int u = 0; u < hits; ++u) {
              const int q = q0 + scan_hit[u];
              const int j = bin_atoms[q];
              if (q < q_own_end && j <= static_cast<int>(i)) continue;
              if (j == static_cast<int>(i) && own_image) continue;
              double d2 = scan_d2[scan_hit[u]];
              // Image shift relative to the unwrapped input positions.
              const int s0 = m[0] - bimage[3 * q] + image[3 * i];
              const int s1 = m[1] - bimage[3 * q + 1] + image[3 * i + 1];
              const int s2 = m[2] - bimage[3 * q + 2] + image[3 * i + 2];
              // Near the cutoffs the decision uses r_ij exactly as pair_vector() computes it, which is
              // antisymmetric bit for bit: a pair at the cutoff within round-off is in both atoms'
              // lists or neither.
              if (d2 > r2_sure || (rs2 > 0 && std::fabs(d2 - rs2) < rs2_margin)) {
                d2 = 0.0;
                for (int k = 0; k < 3; ++k) {
                  const double d = (x[3 * j + k] - x[3 * i + k]) + (s0 * cell[0][k] + s1 * cell[1][k] + s2 * cell[2][k]);
                  d2 += d * d;
                }
                if (d2 >= r2) continue;
              }
              if (s0 > 32767 || s0 < -32767 || s1 > 32767 || s1 < -32767 || s2 > 32767 || s2 < -32767) shift_overflow = true;
              if (rs2 > 0) {  // secondary neighbours first: collected apart, appended below
                const bool near = d2 < rs2;
                (near ? near_j : far_j).push_back(j);
                auto& sv = near ? near_s : far_s;
                sv.push_back(s0), sv.push_back(s1), sv.push_back(s2);
              } else {
                out_j.push_back(j);
                out_s.push_back(static_cast<int16_t>(s0)), out_s.push_back(static_cast<int16_t>(s1));
                out_s.push_back(static_cast<int16_t>(s2));
              }
            }
          }
          o2 += length;
        }
      }
      thread_of[i] = t;
      if (rs2 > 0) {
        counts[i] = static_cast<int>(near_j.size() + far_j.size());
        num_secondary_[i] = static_cast<int>(near_j.size());
        start_in_thread[i] = static_cast<int64_t>(out_j.size());
        out_j.insert(out_j.end(), near_j.begin(), near_j.end());
        out_j.insert(out_j.end(), far_j.begin(), far_j.end());
        for (auto* sv : {&near_s, &far_s})
          for (int v : *sv) out_s.push_back(static_cast<int16_t>(v));
      } else {
        counts[i] = static_cast<int>(out_j.size() - atom_start);
        start_in_thread[i] = atom_start;
      }
    }
  }
  if (shift_overflow) throw InputError("NeighborList: image shift too large; wrap the positions into the box");

  for (size_t i = 0; i < n; ++i) offsets_[i + 1] = offsets_[i] + counts[i];
  neighbors_.resize(offsets_[n]);
  shifts_.resize(3 * offsets_[n]);
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < static_cast<long long>(n); ++i) {
    const auto& tj = thread_j[thread_of[i]];
    const auto& ts = thread_shift[thread_of[i]];
    const int64_t from = start_in_thread[i];
    std::copy(tj.begin() + from, tj.begin() + from + counts[i], neighbors_.begin() + offsets_[i]);
    std::copy(ts.begin() + 3 * from, ts.begin() + 3 * (from + counts[i]), shifts_.begin() + 3 * offsets_[i]);
  }

  // Shift codes (see PairVectors).
  int reach = 0;
#pragma omp parallel for schedule(static) reduction(max : reach)
  for (long long k = 0; k < static_cast<long long>(shifts_.size()); ++k)
    reach = std::max(reach, std::abs(static_cast<int>(shifts_[k])));
  shift_reach_ = reach;
  if (reach <= kMaxShiftReach) {
    const int w = 2 * reach + 1;
    shift_codes_.resize(offsets_[n]);
#pragma omp parallel for schedule(static)
    for (long long p = 0; p < static_cast<long long>(offsets_[n]); ++p) {
      const int16_t* m = &shifts_[3 * p];
      shift_codes_[p] = static_cast<uint32_t>(((m[0] + reach) * w + m[1] + reach) * w + m[2] + reach);
    }
  } else {
    shift_codes_.clear();
  }

  views_.reset();
  num_atoms_ = n;
  reference_positions_ = x;
  reference_cell_ = cell;
  reference_pbc_ = box.pbc();
  ++num_builds_;
}

NeighborList::PairVectors NeighborList::pair_vectors(const std::vector<double>& positions, const Box& box) const {
  PairVectors v{neighbors_.data(), nullptr, shifts_.data(), positions.data(), box.cell(), {}};
  return with_shift_table(std::move(v), shift_codes_.data());
}

NeighborList::PairVectors NeighborList::half_pair_vectors(const std::vector<double>& positions, const Box& box) const {
  if (half_only_) return pair_vectors(positions, box);  // the list is the half list
  half_offsets();  // builds the half view (and its compact copies) if needed
  PairVectors v{half_neighbors_.data(), nullptr, half_shifts_.data(), positions.data(), box.cell(), {}};
  return with_shift_table(std::move(v), half_codes_.data());
}

NeighborList::PairVectors NeighborList::with_shift_table(PairVectors v, const uint32_t* codes) const {
  if (num_builds_ == 0 || (shift_codes_.empty() && !neighbors_.empty())) return v;
  const int R = shift_reach_, w = 2 * R + 1;
  v.table.resize(3 * size_t(w) * w * w);
  for (int a = -R; a <= R; ++a)
    for (int b = -R; b <= R; ++b)
      for (int c = -R; c <= R; ++c) {
        double* t = &v.table[3 * (size_t((a + R) * w + b + R) * w + c + R)];
        for (int k = 0; k < 3; ++k) t[k] = a * v.h[0][k] + b * v.h[1][k] + c * v.h[2][k];  // as pair_vector()
      }
  v.codes = codes;
  return v;
}

// Derived views are built on first use after each build (only many-body potentials need the
// reverse entries, only pair potentials the half list).
void NeighborList::ensure_view(bool& ready, void (NeighborList::*compute)() const) const {
  std::lock_guard<std::mutex> lock(views_.mutex);
  if (!ready) {
    (this->*compute)();
    ready = true;
  }
}

const std::vector<int64_t>& NeighborList::reverse() const {
  if (half_only_) throw RuntimeError("NeighborList: a half-only list has no reverse entries (build a full list)");
  ensure_view(views_.reverse_ready, &NeighborList::compute_reverse);
  return reverse_;
}

const std::vector<int64_t>& NeighborList::half_offsets() const {
  if (half_only_) return offsets_;
  ensure_view(views_.half_ready, &NeighborList::compute_half);
  return half_offsets_;
}

const std::vector<int64_t>& NeighborList::half_entries() const {
  if (half_only_) ensure_view(views_.half_ready, &NeighborList::compute_half);  // identity, on demand
  half_offsets();
  return half_entries_;
}

void NeighborList::compute_reverse() const {
  // Reverse entries: the entry (j, i, -n) of every entry (i, j, n). The transposed list (for each
  // atom j, the entries of all atoms that point to j) and, per atom j, a map neighbour -> entries
  // of j's own list make this O(number of entries) (a scan of j's list per entry would be O(N n^2)).
  const size_t n = num_atoms_;
  const int64_t total = offsets_[n];
  std::vector<int64_t> tstart(n + 1, 0);
  for (int64_t p = 0; p < total; ++p) ++tstart[neighbors_[p] + 1];
  for (size_t j = 0; j < n; ++j) tstart[j + 1] += tstart[j];
  std::vector<int64_t> tentry(total);
  std::vector<int> towner(total);
  {
    std::vector<int64_t> fill(tstart.begin(), tstart.end() - 1);
    for (size_t i = 0; i < n; ++i)
      for (int64_t p = offsets_[i]; p < offsets_[i + 1]; ++p) {
        const int64_t k = fill[neighbors_[p]]++;
        tentry[k] = p, towner[k] = static_cast<int>(i);
      }
  }
  reverse_.assign(neighbors_.size(), -1);
  bool missing = false;
  int max_list = 0;
  for (size_t i = 0; i < n; ++i) max_list = std::max(max_list, static_cast<int>(offsets_[i + 1] - offsets_[i]));
  // Key of an entry for the sorted search below: neighbour, then shift.
  auto key_of = [&](int64_t q) {
    return std::array<int, 4>{neighbors_[q], shifts_[3 * q], shifts_[3 * q + 1], shifts_[3 * q + 2]};
  };
#pragma omp parallel reduction(|| : missing)
  {
    std::vector<int64_t> head(n, -1), next(max_list), sorted;
    std::vector<int> chain(n, 0);
#pragma omp for schedule(static)
    for (long long j = 0; j < static_cast<long long>(n); ++j) {
      const int64_t o = offsets_[j];
      // Many images of one neighbour (cells much thinner than the cutoff) make the chains long
      // and the scan quadratic: such an atom's entries are sorted and searched instead.
      int longest = 0;
      for (int64_t q = o; q < offsets_[j + 1]; ++q) longest = std::max(longest, ++chain[neighbors_[q]]);
      for (int64_t q = o; q < offsets_[j + 1]; ++q) chain[neighbors_[q]] = 0;
      if (longest > 32) {
        sorted.resize(offsets_[j + 1] - o);
        std::iota(sorted.begin(), sorted.end(), o);
        std::sort(sorted.begin(), sorted.end(), [&](int64_t a, int64_t b) { return key_of(a) < key_of(b); });
        for (int64_t k = tstart[j]; k < tstart[j + 1]; ++k) {
          const int64_t p = tentry[k];
          const std::array<int, 4> wanted{towner[k], -shifts_[3 * p], -shifts_[3 * p + 1], -shifts_[3 * p + 2]};
          const auto it = std::lower_bound(sorted.begin(), sorted.end(), wanted,
                                           [&](int64_t q, const std::array<int, 4>& w) { return key_of(q) < w; });
          if (it != sorted.end() && key_of(*it) == wanted) reverse_[p] = *it;
          else missing = true;
        }
        continue;
      }
      for (int64_t q = offsets_[j + 1] - 1; q >= o; --q) next[q - o] = head[neighbors_[q]], head[neighbors_[q]] = q;
      for (int64_t k = tstart[j]; k < tstart[j + 1]; ++k) {
        const int64_t p = tentry[k];
        const int16_t* sp = &shifts_[3 * p];
        for (int64_t q = head[towner[k]]; q >= 0; q = next[q - o]) {
          const int16_t* sq = &shifts_[3 * q];
          if (sq[0] == -sp[0] && sq[1] == -sp[1] && sq[2] == -sp[2]) {
            reverse_[p] = q;
            break;
          }
        }
        if (reverse_[p] < 0) missing = true;
      }
      for (int64_t q = o; q < offsets_[j + 1]; ++q) head[neighbors_[q]] = -1;
    }
  }
  if (missing)  // only possible for a pair exactly at the cutoff within round-off
    throw RuntimeError("NeighborList: an asymmetric pair was found (a distance equal to the cutoff within "
                       "round-off); change the cutoff or skin slightly");

}

void NeighborList::compute_half() const {
  // Owner entries of every pair.
  const size_t n = num_atoms_;
  half_offsets_.assign(n + 1, 0);
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < static_cast<long long>(n); ++i) {
    int64_t c = 0;
    for (int64_t p = offsets_[i]; p < offsets_[i + 1]; ++p) c += owns_pair(i, neighbors_[p], &shifts_[3 * p]);
    half_offsets_[i + 1] = c;
  }
  for (size_t i = 0; i < n; ++i) half_offsets_[i + 1] += half_offsets_[i];
  half_entries_.resize(half_offsets_[n]);
#pragma omp parallel for schedule(static)
  for (long long i = 0; i < static_cast<long long>(n); ++i) {
    int64_t k = half_offsets_[i];
    for (int64_t p = offsets_[i]; p < offsets_[i + 1]; ++p)
      if (owns_pair(i, neighbors_[p], &shifts_[3 * p])) half_entries_[k++] = p;
  }
  // Compact copies for half_pair_vectors(): pair loops then read one contiguous stream.
  const int64_t total = half_offsets_[n];
  half_neighbors_.resize(total);
  const bool coded = !shift_codes_.empty() || neighbors_.empty();
  half_codes_.resize(coded ? total : 0);
  half_shifts_.resize(coded ? 0 : 3 * total);
#pragma omp parallel for schedule(static)
  for (long long h = 0; h < static_cast<long long>(total); ++h) {
    const int64_t p = half_entries_[h];
    half_neighbors_[h] = neighbors_[p];
    if (coded)
      half_codes_[h] = shift_codes_[p];
    else
      for (int c = 0; c < 3; ++c) half_shifts_[3 * h + c] = shifts_[3 * p + c];
  }
}

bool NeighborList::needs_rebuild(const Box& box, const std::vector<double>& x) const {
  if (num_builds_ == 0 || x.size() != reference_positions_.size() || box.pbc() != reference_pbc_) return true;
  double max_d2 = 0;
  for (size_t i = 0; i < x.size(); i += 3) {
    double d2 = 0;
    for (int c = 0; c < 3; ++c) {
      const double d = x[i + c] - reference_positions_[i + c];
      d2 += d * d;
    }
    max_d2 = std::max(max_d2, d2);
  }
  double box_change = 0;
  const Mat3& cell = box.cell();
  for (int a = 0; a < 3; ++a)
    if (max_shift_[a] > 0)
      box_change += max_shift_[a] * norm(Vec3{cell[a][0] - reference_cell_[a][0], cell[a][1] - reference_cell_[a][1],
                                              cell[a][2] - reference_cell_[a][2]});
  return 2 * std::sqrt(max_d2) + box_change > skin_;
}

bool NeighborList::update(const Box& box, const std::vector<double>& x) {
  if (!needs_rebuild(box, x)) return false;
  build(box, x);
  return true;
}

}  // namespace nepcg
