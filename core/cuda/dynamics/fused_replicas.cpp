// FusedReplicaGroup: the queue that gathers replicas' device segments and runs them fused
// (see nepcg/fused_replicas.hpp).
#include "nepcg/fused_replicas.hpp"

#include <algorithm>
#include <string>

#include "nepcg/error.hpp"

namespace nepcg {

std::shared_ptr<FusedReplicaGroup> FusedReplicaGroup::create(std::shared_ptr<const GpuNEP> engine, double wait_ms) {
  if (!engine) throw InputError("FusedReplicaGroup: no GpuNEP");
  if (!(wait_ms >= 0) || wait_ms > 6e4)
    throw InputError("FusedReplicaGroup: wait_ms must be between 0 and 60000 ms, not " + std::to_string(wait_ms));
  return std::shared_ptr<FusedReplicaGroup>(new FusedReplicaGroup(std::move(engine), wait_ms));
}

FusedReplicaGroup::FusedReplicaGroup(std::shared_ptr<const GpuNEP> engine, double wait_ms)
    : engine_(std::move(engine)), wait_(wait_ms), last_change_(std::chrono::steady_clock::now()) {}

std::shared_ptr<FusedReplica> FusedReplicaGroup::member() {
  return std::shared_ptr<FusedReplica>(new FusedReplica(shared_from_this()));
}

int FusedReplicaGroup::members() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return members_;
}
long FusedReplicaGroup::segments() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return segments_;
}
long FusedReplicaGroup::fused_segments() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fused_segments_;
}
int FusedReplicaGroup::largest_batch() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return largest_batch_;
}

void FusedReplicaGroup::join() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++members_;
}

void FusedReplicaGroup::leave() {
  std::lock_guard<std::mutex> lock(mutex_);
  --members_;
  changed_.notify_all();  // (the queue may now hold every live member's segment)
}

void FusedReplicaGroup::run(const GpuNEP::SegmentJob& job) {
  Pending mine{job};
  std::unique_lock<std::mutex> lock(mutex_);
  queue_.push_back(&mine);
  last_change_ = std::chrono::steady_clock::now();
  changed_.notify_all();
  while (!mine.done) {
    const auto deadline = last_change_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait_);
    const bool everyone = static_cast<int>(queue_.size()) >= members_;
    if (!running_ && !queue_.empty() && (everyone || std::chrono::steady_clock::now() >= deadline)) {
      // This thread runs what is queued (its own segment among it, or others' that waited long enough).
      std::vector<Pending*> batch;
      batch.swap(queue_);
      running_ = true;
      lock.unlock();
      try {
        execute(batch);
      } catch (...) {  // (execute catches each run's errors; this is for what is left, e.g. bad_alloc)
        for (Pending* p : batch)
          if (!p->error) p->error = std::current_exception();
      }
      lock.lock();
      running_ = false;
      segments_ += static_cast<long>(batch.size());
      for (Pending* p : batch) p->done = true;
      last_change_ = std::chrono::steady_clock::now();  // (members that just got results may queue again)
      changed_.notify_all();
      continue;
    }
    if (running_)
      changed_.wait(lock);
    else
      changed_.wait_until(lock, deadline);
  }
  lock.unlock();
  if (mine.error) std::rethrow_exception(mine.error);
}

void FusedReplicaGroup::execute(const std::vector<Pending*>& batch) {
  // Partition into sets that fuse with their first member, in queue order.
  std::vector<std::vector<Pending*>> sets;
  for (Pending* p : batch) {
    bool placed = false;
    for (auto& set : sets)
      if (GpuNEP::segments_fuse(*set.front()->job.segment, *p->job.segment)) {
        set.push_back(p);
        placed = true;
        break;
      }
    if (!placed) sets.push_back({p});
  }
  for (const auto& set : sets) {
    auto alone = [&](Pending* p) {
      try {
        engine_->run_device_segments({p->job});
      } catch (...) {
        p->error = std::current_exception();
      }
    };
    if (set.size() == 1) {
      alone(set.front());
      continue;
    }
    std::vector<GpuNEP::SegmentJob> jobs;
    for (Pending* p : set) jobs.push_back(p->job);
    try {
      engine_->run_device_segments(jobs);
      std::lock_guard<std::mutex> lock(mutex_);
      fused_segments_ += static_cast<long>(set.size());
      largest_batch_ = std::max(largest_batch_, static_cast<int>(set.size()));
    } catch (...) {
      // (a segment changes its host state only at its end: each replica can run again alone,
      // and gets its own error, if any)
      for (Pending* p : set) alone(p);
    }
  }
}

FusedReplica::FusedReplica(std::shared_ptr<FusedReplicaGroup> group) : group_(std::move(group)) { group_->join(); }

FusedReplica::~FusedReplica() { group_->leave(); }

void FusedReplica::run_device_segment(System& system, const DeviceSegment& segment, ForceResult& out,
                                      bool forces_valid, ThermostatState& thermostat,
                                      std::vector<DeviceRecord>& records) const {
  group_->run(GpuNEP::SegmentJob{&system, &segment, &out, forces_valid, &thermostat, &records});
}

}  // namespace nepcg
