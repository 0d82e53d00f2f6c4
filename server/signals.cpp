// SIGTERM/SIGINT handling with asio::signal_set on a private io_context.
#include "signals.hpp"

#include <csignal>

#include <asio.hpp>
#include <atomic>

#include <spdlog/spdlog.h>

namespace zonemesh::server {

struct stop_signals::impl {
  asio::io_context io{1};
  asio::signal_set set{io};
  std::atomic<int> received{-1};  // -1: nothing yet, 0: request_stop, else the signal
  void (*old_sigpipe)(int) = SIG_DFL;
};

stop_signals::stop_signals() : stop_signals({SIGINT, SIGTERM}) {}

stop_signals::stop_signals(std::initializer_list<int> signals) : impl_(std::make_unique<impl>()) {
  for (const int s : signals) impl_->set.add(s);
  // A write to a closed socket must be an error code, never a fatal signal.
  impl_->old_sigpipe = std::signal(SIGPIPE, SIG_IGN);
  impl_->set.async_wait([m = impl_.get()](const asio::error_code& ec, int signal) {
    if (ec) return;  // cancelled: destroyed or stopping
    int expected = -1;
    m->received.compare_exchange_strong(expected, signal);
  });
}

stop_signals::~stop_signals() {
  asio::error_code ignored;
  impl_->set.cancel(ignored);
  impl_->set.clear(ignored);
  std::signal(SIGPIPE, impl_->old_sigpipe);
}

int stop_signals::wait() {
  // run() returns once the signal handler ran, or request_stop() stopped it.
  impl_->io.run();
  const int r = impl_->received.load();
  if (r > 0) spdlog::info("received signal {}, stopping", r);
  return r < 0 ? 0 : r;
}

void stop_signals::request_stop() {
  int expected = -1;
  impl_->received.compare_exchange_strong(expected, 0);
  impl_->io.stop();
}

}  // namespace zonemesh::server
