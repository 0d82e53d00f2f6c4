#pragma once
// Waiting for SIGTERM/SIGINT so the program can stop its listeners and join
// their threads cleanly.

#include <initializer_list>
#include <memory>

namespace zonemesh::server {

/// Catches the given signals (SIGINT and SIGTERM by default) from construction
/// on, for the whole process, until destroyed. Construct it in main() before
/// starting threads, then call wait(). SIGPIPE is ignored while it lives.
class stop_signals {
 public:
  stop_signals();
  explicit stop_signals(std::initializer_list<int> signals);
  ~stop_signals();
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

  /// Blocks until one of the signals arrives (returns its number) or
  /// request_stop() is called (returns 0). A signal that arrived before wait()
  /// is not lost.
  int wait();

  /// Makes wait() return 0; callable from any thread (a fatal error elsewhere).
  void request_stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zonemesh::server
