#include "nepcg/interrupt.hpp"

#include <chrono>
#include <utility>

namespace nepcg {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollPeriod = std::chrono::milliseconds(100);

thread_local std::function<void()> current_check;
thread_local Clock::time_point next_check{};

}  // namespace

void poll_interrupt() {
  if (!current_check) return;
  const auto now = Clock::now();
  if (now < next_check) return;
  next_check = now + kPollPeriod;
  current_check();
}

InterruptScope::InterruptScope(std::function<void()> check) : previous_(std::move(current_check)) {
  current_check = std::move(check);
  next_check = Clock::now() + kPollPeriod;
}

InterruptScope::~InterruptScope() { current_check = std::move(previous_); }

}  // namespace nepcg
