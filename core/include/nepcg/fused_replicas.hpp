// Independent replicas whose MD segments run fused on one GPU: many small systems in one launch
// per kernel (GpuNEP::run_device_segments), for constrained mean-force data (NEP-CG labels) where
// each system alone leaves most of the GPU idle.
//
// The Simulator is unchanged: each replica is an ordinary Simulator, on its own thread, whose
// potential is a FusedReplica, a member of one FusedReplicaGroup. A member's device segment is
// queued in the group; once every live member has queued one (or `wait_ms` passed since the
// queue or the device last changed: a member busy elsewhere is not waited for), one of the
// waiting threads runs the queued segments that fuse (GpuNEP::segments_fuse) as one, and the
// others alone, each on the group's GpuNEP. Each replica gets what it would get alone (the
// same Langevin noise), up to the round-off of sums split differently over GPU lanes. A fused
// run that fails is run again one replica at a time, so that an error reaches only the replica
// it belongs to. Force evaluations outside segments go to the same GpuNEP, one at a time.
//
// Only declared in builds with the CUDA backend (nepcg/config.hpp: NEPCG_HAVE_CUDA_BUILD == 1).
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nepcg/gpu_nep.hpp"

namespace nepcg {

class FusedReplica;

class FusedReplicaGroup : public std::enable_shared_from_this<FusedReplicaGroup> {
 public:
  /// engine: the GpuNEP every member's work runs on; wait_ms: how long queued segments wait for
  /// members that have not queued theirs (ms, >= 0).
  static std::shared_ptr<FusedReplicaGroup> create(std::shared_ptr<const GpuNEP> engine, double wait_ms = 5.0);

  /// A new member (a Potential for one replica's Simulator; copies are not members).
  std::shared_ptr<FusedReplica> member();
  const GpuNEP& engine() const { return *engine_; }
  int members() const;
  /// Segments run so far, and how many of them ran fused with others (counts per replica).
  long segments() const;
  long fused_segments() const;
  /// The largest number of replicas fused into one segment so far.
  int largest_batch() const;

 private:
  friend class FusedReplica;
  struct Pending {
    GpuNEP::SegmentJob job;
    bool done = false;
    std::exception_ptr error;
  };
  FusedReplicaGroup(std::shared_ptr<const GpuNEP> engine, double wait_ms);
  void join();
  void leave();
  // Queues the job and returns when it has run (its exception rethrown).
  void run(const GpuNEP::SegmentJob& job);
  // Runs a batch taken from the queue (no lock held): fusing groups, each failure retried alone.
  void execute(const std::vector<Pending*>& batch);

  std::shared_ptr<const GpuNEP> engine_;
  std::chrono::duration<double, std::milli> wait_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Pending*> queue_;
  std::chrono::steady_clock::time_point last_change_;
  int members_ = 0;
  bool running_ = false;
  long segments_ = 0, fused_segments_ = 0;
  int largest_batch_ = 0;
};

/// One replica's potential: the group's GpuNEP, with device segments run through the group.
class FusedReplica : public Potential {
 public:
  ~FusedReplica() override;
  FusedReplica(const FusedReplica&) = delete;
  FusedReplica& operator=(const FusedReplica&) = delete;

  const std::shared_ptr<FusedReplicaGroup>& group() const { return group_; }
  std::string name() const override { return group_->engine().name() + " (fused replica)"; }
  double cutoff() const override { return group_->engine().cutoff(); }
  double secondary_cutoff() const override { return group_->engine().secondary_cutoff(); }
  void accumulate(const System& system, const NeighborList& list, ForceResult& out) const override {
    group_->engine().accumulate_alone(system, list, out);  // (the same bits whatever ran before)
  }
  bool runs_dynamics_on_device() const override { return true; }
  void run_device_segment(System& system, const DeviceSegment& segment, ForceResult& out, bool forces_valid,
                          ThermostatState& thermostat, std::vector<DeviceRecord>& records) const override;

 private:
  friend class FusedReplicaGroup;
  explicit FusedReplica(std::shared_ptr<FusedReplicaGroup> group);
  std::shared_ptr<FusedReplicaGroup> group_;
};

}  // namespace nepcg
