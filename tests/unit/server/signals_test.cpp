// Tests for server/signals.*: a real SIGTERM/SIGINT makes wait() return.
#include "signals.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <thread>

namespace zonemesh::server {
namespace {

TEST(StopSignals, SigtermWakesWait) {
  stop_signals signals;
  std::thread sender([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(::getpid(), SIGTERM);
  });
  EXPECT_EQ(signals.wait(), SIGTERM);
  sender.join();
}

TEST(StopSignals, SignalBeforeWaitIsNotLost) {
  stop_signals signals;
  ::raise(SIGINT);
  EXPECT_EQ(signals.wait(), SIGINT);
}

TEST(StopSignals, RequestStopFromAnotherThread) {
  stop_signals signals;
  std::thread other([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    signals.request_stop();
  });
  EXPECT_EQ(signals.wait(), 0);
  other.join();
}

TEST(StopSignals, SigpipeIsIgnoredWhileAlive) {
  stop_signals signals;
  EXPECT_EQ(::raise(SIGPIPE), 0);  // would kill the process otherwise
  signals.request_stop();
  EXPECT_EQ(signals.wait(), 0);
}

}  // namespace
}  // namespace zonemesh::server
