// Database worker threads.

#include "db_worker.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <pqxx/pqxx>

namespace zonemesh::replicator {
namespace {
std::atomic<int> live_workers{0};
}

struct db_worker::state {
  std::string conninfo;
  std::function<void(const std::string&)> on_error;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<task> tasks;
  bool stopping = false;
};

db_worker::db_worker(std::string conninfo, std::function<void(const std::string&)> on_error)
    : state_(std::make_shared<state>()) {
  state_->conninfo = std::move(conninfo);
  state_->on_error = std::move(on_error);
  ++live_workers;
  // The thread owns a reference to the state, not to us: it may outlive the
  // worker object and ends on its own once told to stop.
  std::thread([s = state_] {
    std::unique_ptr<pqxx::connection> conn;
    while (true) {
      task t;
      {
        std::unique_lock lock(s->mutex);
        s->cv.wait(lock, [&] { return s->stopping || !s->tasks.empty(); });
        if (s->stopping) break;
        t = std::move(s->tasks.front());
        s->tasks.pop_front();
      }
      try {
        if (!conn || !conn->is_open()) conn = std::make_unique<pqxx::connection>(s->conninfo);
        t(*conn);
      } catch (const std::exception& e) {
        conn.reset();
        if (s->on_error) s->on_error(e.what());
      }
    }
    --live_workers;
  }).detach();
}

db_worker::~db_worker() { stop(); }

void db_worker::post(task t) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return;
    state_->tasks.push_back(std::move(t));
  }
  state_->cv.notify_one();
}

void db_worker::stop() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    state_->tasks.clear();
  }
  state_->cv.notify_one();
}

bool db_worker::wait_all_stopped(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (live_workers > 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace zonemesh::replicator
