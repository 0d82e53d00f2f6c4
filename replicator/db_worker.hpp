#pragma once
// A thread with its own PostgreSQL connection that runs tasks in order: the
// replicator's sessions never block the network thread on the database.

#include <functional>
#include <memory>
#include <string>

namespace pqxx {
class connection_base;
}

namespace zonemesh::replicator {

class db_worker {
 public:
  using task = std::function<void(pqxx::connection_base&)>;
  /// `on_error` gets the message when a task throws (the connection is then
  /// dropped and made again for the next task).
  db_worker(std::string conninfo, std::function<void(const std::string&)> on_error);
  ~db_worker();  ///< stops without waiting; queued tasks are dropped
  db_worker(const db_worker&) = delete;
  db_worker& operator=(const db_worker&) = delete;

  void post(task t);
  /// Stops the thread after the running task; queued tasks are dropped.
  void stop();

  /// Waits until every worker thread of the process has ended (shutdown).
  static bool wait_all_stopped(int timeout_ms);

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace zonemesh::replicator
