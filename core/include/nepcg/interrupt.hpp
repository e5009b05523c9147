// Interrupting long loops (an MD run, a training run) from outside, e.g. Ctrl-C in Python: the
// loops call poll_interrupt() between steps; a caller that wants to be able to stop them installs
// a check for the current thread (InterruptScope), which may throw to end the loop at a step
// boundary. Without a check, poll_interrupt() costs a thread-local test.
#pragma once

#include <functional>

namespace nepcg {

/// Calls the current thread's check when one is installed, at most every 100 ms (a clock read
/// per call otherwise). Whatever the check throws leaves the loop.
void poll_interrupt();

/// Installs `check` for the current thread while alive (the previous one is restored after).
class InterruptScope {
 public:
  explicit InterruptScope(std::function<void()> check);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  std::function<void()> previous_;
};

}  // namespace nepcg
