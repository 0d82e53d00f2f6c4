#include "changelog_follow.hpp"

#include <algorithm>
#include <exception>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace zonemesh::server {
namespace {

class changelog_wakeups : public pqxx::notification_receiver {
 public:
  explicit changelog_wakeups(pqxx::connection_base& c) : pqxx::notification_receiver(c, "zonemesh_changelog") {}
  void operator()(const std::string&, int) override {}
};

}  // namespace

void follow_changelog(const std::string& conninfo, std::chrono::milliseconds poll_interval, std::string_view what,
                      const std::function<void(pqxx::connection_base&)>& load,
                      const std::function<bool()>& stopping,
                      const std::function<bool(std::chrono::milliseconds)>& wait) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(poll_interval).count();
  auto backoff = std::chrono::milliseconds(100);
  while (!stopping()) {
    try {
      pqxx::connection conn(conninfo);
      pqxx::nontransaction(conn).exec("SET jit = off");
      changelog_wakeups wakeups(conn);
      while (!stopping()) {
        load(conn);
        conn.await_notification(static_cast<long>(us / 1000000), static_cast<long>(us % 1000000));
      }
      return;
    } catch (const std::exception& e) {
      spdlog::warn("{}: {}; retrying in {} ms", what, e.what(), backoff.count());
    }
    if (!wait(backoff)) return;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace zonemesh::server
