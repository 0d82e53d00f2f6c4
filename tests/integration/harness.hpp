#pragma once
// Test harness: real PostgreSQL sites started with scripts/cluster, plus
// small helpers to run SQL and commands. No mocks.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace zonemesh::test {

struct site {
  std::string node;
  std::string pg;  ///< libpq conninfo
  int pg_port = 0;
  int dns_port = 0;   ///< 0 when the cluster runs without servers
  int http_port = 0;
  std::string dir;    ///< the site's directory (pgdata/, server.log, ...)
  std::string api_key = {};  ///< the cluster's API key (X-API-Key); "" without a server
};

/// N sites brought up with `scripts/cluster up --fast` in a fresh temporary
/// directory, and brought down (and the directory removed) on destruction.
class cluster {
 public:
  explicit cluster(int sites, const std::vector<std::string>& extra_args = {});
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  const std::vector<site>& sites() const { return sites_; }
  const site& at(std::size_t i) const { return sites_.at(i); }
  const std::string& dir() const { return dir_; }
  const nlohmann::json& json() const { return json_; }

 private:
  std::string dir_;
  nlohmann::json json_;
  std::vector<site> sites_;
};

struct command_result {
  int status = -1;  ///< exit status, or -1 when it did not exit normally
  std::string output;  ///< stdout and stderr together
};

/// Stops or starts a site's PostgreSQL (pg_ctl, as the postgres user when root).
void stop_postgres(const site& s);
void start_postgres(const site& s);

/// The shell command running scripts/cluster ARGS on this cluster.
std::string cluster_cmd(const cluster& c, const std::string& args);

/// Stops or starts one process of a site (server, replicator, postgres)
/// with scripts/cluster; a failure fails the test.
void stop_process(const cluster& c, const std::string& node, const std::string& process);
void start_process(const cluster& c, const std::string& node, const std::string& process);

/// The pid of a site's process as scripts/cluster recorded it (0 if none).
int process_pid(const site& s, const std::string& process);

/// Whether every site's replicated tables are the same, waiting up to
/// timeout_ms for it.
bool converged(const cluster& c, int timeout_ms = 60000);

/// `dig` against a site: returns dig's output for `args` (e.g. "+short www.example.com A").
std::string dig(const site& s, const std::string& args);

/// Polls `dig` until its output equals `expected` or `timeout_ms` passes;
/// returns the last output.
std::string dig_until(const site& s, const std::string& args, const std::string& expected,
                      int timeout_ms = 10000);

struct http_result {
  int status = 0;  ///< 0 when nothing answered
  std::string body;
  std::string headers;  ///< the response's header lines, as received
};

/// A plain HTTP/1.1 GET to 127.0.0.1:port.
http_result http_get(int port, const std::string& path);

/// Any HTTP/1.1 request to 127.0.0.1:port, with extra header lines
/// ("X-API-Key: ...") and a body (sent with Content-Length when not empty),
/// from `source` (an IPv4 loopback address such as "127.0.0.2") when given.
http_result http_call(int port, const std::string& method, const std::string& path,
                      const std::string& body = "",
                      const std::vector<std::string>& header_lines = {},
                      const std::string& source = "");

/// Runs a shell command and captures its stdout, and its stderr too unless
/// merge_stderr is false.
command_result run_command(const std::string& command, bool merge_stderr = true);

/// Path of a built program, e.g. binary("server/zonemesh-admin").
std::string binary(const std::string& relative);

/// Runs one SQL statement in its own transaction and returns the first column
/// of the first row as text ("" when there is no row or it is NULL).
std::string sql_value(const std::string& conninfo, const std::string& sql);

/// Runs SQL in its own transaction; returns "" on success or the error text.
std::string sql_error(const std::string& conninfo, const std::string& sql);

/// Empties a site's replicated tables and replication state so one cluster
/// can serve many tests (triggers are bypassed with session_replication_role,
/// which only a superuser may set).
void reset_site(const std::string& conninfo);

/// Every replicated table, the tombstones and the per-zone state, as sorted
/// text: equal dumps mean equal replicated data. Tombstones can be left out:
/// sites prune them at different moments once every peer has them.
std::string dump_replicated_state(const std::string& conninfo, bool with_tombstones = true);

/// What a replicator does, in one step and by SQL only: sends `to` every
/// source transaction `from` holds that `to`'s version vector lacks, through
/// zonemesh.apply_batch. Returns apply_batch's counts summed up.
nlohmann::json ship(const std::string& from, const std::string& to);

/// Ships between every pair of sites until nothing moves.
void exchange_all(const std::vector<std::string>& sites);

}  // namespace zonemesh::test
