// Keeping something read from the database current with the change-log.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace pqxx {
class connection_base;
}

namespace zonemesh::server {

/// On a connection of its own: LISTENs for change-log commits first (so no
/// commit after a load is missed), then calls `load` at once, again after
/// each commit and at least every `poll_interval`, until `stopping()`. After
/// a database error it logs "<what>: <error>; retrying in N ms" (whatever was
/// loaded last stays in use), calls `wait` (100 ms, doubling up to 5 s;
/// `wait` returns false once stopping) and connects again.
void follow_changelog(const std::string& conninfo, std::chrono::milliseconds poll_interval, std::string_view what,
                      const std::function<void(pqxx::connection_base&)>& load,
                      const std::function<bool()>& stopping,
                      const std::function<bool(std::chrono::milliseconds)>& wait);

}  // namespace zonemesh::server
