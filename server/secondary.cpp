#include "secondary.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/metrics.hpp"
#include "dns/types.hpp"
#include "dns/wire.hpp"
#include "dns_update.hpp"
#include "zonefile/zonefile.hpp"

namespace zonemesh::server {
namespace {

using clock_type = std::chrono::steady_clock;

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

/// A blocking TCP connection with a deadline on every step.
class tcp_client {
 public:
  ~tcp_client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connect(const notify_target& to, std::chrono::milliseconds timeout, std::string& error) {
    sockaddr_storage addr{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (inet_pton(AF_INET, to.address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(to.port);
      len = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, to.address.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(to.port);
      len = sizeof(sockaddr_in6);
    } else {
      error = "bad address " + to.address;
      return false;
    }
    timeout_ = timeout;
    fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return fail("socket", error);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS) {
      return fail("connect", error);
    }
    if (!wait(POLLOUT, error)) return false;
    int so_error = 0;
    socklen_t so_len = sizeof(so_error);
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &so_len);
    if (so_error != 0) {
      errno = so_error;
      return fail("connect", error);
    }
    return true;
  }
  bool send_message(std::span<const std::uint8_t> msg, std::string& error) {
    std::vector<std::uint8_t> frame{static_cast<std::uint8_t>(msg.size() >> 8),
                                    static_cast<std::uint8_t>(msg.size())};
    frame.insert(frame.end(), msg.begin(), msg.end());
    std::size_t done = 0;
    while (done < frame.size()) {
      if (!wait(POLLOUT, error)) return false;
      const ssize_t n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) return fail("send", error);
      if (n > 0) done += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool read_message(std::vector<std::uint8_t>& out, std::string& error) {
    std::array<std::uint8_t, 2> len{};
    if (!read_exact(len, error)) return false;
    out.resize(static_cast<std::size_t>((len[0] << 8) | len[1]));
    return read_exact(out, error);
  }

 private:
  bool read_exact(std::span<std::uint8_t> buf, std::string& error) {
    std::size_t done = 0;
    while (done < buf.size()) {
      if (!wait(POLLIN, error)) return false;
      const ssize_t n = ::recv(fd_, buf.data() + done, buf.size() - done, 0);
      if (n == 0) {
        error = "connection closed by the primary";
        return false;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) return fail("recv", error);
      if (n > 0) done += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool wait(short events, std::string& error) {
    pollfd p{fd_, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
    if (r == 0) {
      error = "timed out";
      return false;
    }
    if (r < 0) return fail("poll", error);
    return true;
  }
  bool fail(const char* what, std::string& error) {
    error = std::string(what) + ": " + std::strerror(errno);
    return false;
  }
  int fd_ = -1;
  std::chrono::milliseconds timeout_{10000};
};

/// A query for `zone` of `type`, signed with `key` when given.
std::vector<std::uint8_t> make_query(const dns::name& zone, std::uint16_t type, std::uint16_t id,
                                     const tsig::key* key, std::vector<std::uint8_t>& mac,
                                     std::optional<std::uint32_t> ixfr_serial = std::nullopt) {
  std::vector<std::uint8_t> buf(1024);
  dns::writer w(buf);
  dns::header h;
  h.id = id;
  h.qdcount = 1;
  if (!w.header(h) || !w.name(zone) || !w.u16(type) || !w.u16(dns::rr_class::in)) return {};
  if (ixfr_serial) {
    // RFC 1995 3: the client's SOA in the authority section; only the
    // serial matters, the names are the root.
    if (!w.name(zone) || !w.u16(dns::rr_type::soa) || !w.u16(dns::rr_class::in) || !w.u32(0) ||
        !w.u16(22) || !w.u8(0) || !w.u8(0) || !w.u32(*ixfr_serial) || !w.u32(0) || !w.u32(0) ||
        !w.u32(0) || !w.u32(0)) {
      return {};
    }
    w.patch_u16(8, 1);
  }
  std::size_t length = w.size();
  if (key != nullptr) {
    tsig::sign_params p;
    p.time_signed = unix_now();
    length = tsig::sign_in_place(buf, length, *key, p, {}, mac);
  }
  buf.resize(length);
  return buf;
}

/// Checks one reply: id, rcode, and its TSIG after `prior_mac` (updated).
bool check_reply(std::span<const std::uint8_t> msg, std::uint16_t id, const tsig::key* key,
                 std::vector<std::uint8_t>& prior_mac, bool first, dns::header& h,
                 std::string& error) {
  dns::reader r(msg);
  if (r.header(h) != dns::read_status::ok || h.id != id || !h.has(dns::flag::qr)) {
    error = "a reply that does not match the query";
    return false;
  }
  if (key != nullptr) {
    tsig::record rec;
    if (tsig::find(msg, rec) != tsig::find_status::found) {
      error = h.rcode() != dns::rcode::noerror
                  ? "rcode " + dns::rcode_to_string(h.rcode()) + ", unsigned"
                  : "an unsigned message in a signed transfer";
      return false;
    }
    const auto v = tsig::verify(msg, rec, *key, unix_now(), prior_mac, !first);
    if (!v.ok) {
      error = rec.error != tsig::error::none
                  ? "the primary says TSIG error " + std::to_string(rec.error)
                  : "TSIG verification failed (error " + std::to_string(v.error) + ")";
      return false;
    }
    prior_mac = rec.mac;
  }
  if (h.rcode() != dns::rcode::noerror) {
    error = "the primary answered " + dns::rcode_to_string(h.rcode());
    return false;
  }
  return true;
}

/// Reads the RRs of the answer section of `msg` (question skipped).
bool answer_rrs(std::span<const std::uint8_t> msg, const dns::header& h,
                std::vector<transfer_rr>& out, std::string& error) {
  dns::reader r(msg);
  dns::header skip_h;
  (void)r.header(skip_h);
  for (unsigned i = 0; i < h.qdcount; ++i) {
    dns::name q;
    if (r.name(q) != dns::read_status::ok || r.skip(4) != dns::read_status::ok) {
      error = "a malformed question";
      return false;
    }
  }
  for (unsigned i = 0; i < h.ancount; ++i) {
    transfer_rr rr;
    dns::rr_header f;
    std::span<const std::uint8_t> rdata;
    if (r.rr(rr.owner, f, rdata) != dns::read_status::ok ||
        !uncompressed_rdata(msg, f.type, rdata, rr.rdata)) {
      error = "a malformed record";
      return false;
    }
    rr.type = f.type;
    rr.ttl = f.ttl;
    if (f.rrclass != dns::rr_class::in) continue;
    out.push_back(std::move(rr));
  }
  return true;
}

/// SOA RDATA's numbers: 0 serial, 1 refresh, 2 retry, 3 expire, 4 minimum.
std::uint32_t soa_field(const std::vector<std::uint8_t>& rdata, std::size_t index) {
  const std::size_t at = rdata.size() - 20 + index * 4;
  return (std::uint32_t{rdata[at]} << 24) | (std::uint32_t{rdata[at + 1]} << 16) |
         (std::uint32_t{rdata[at + 2]} << 8) | rdata[at + 3];
}

}  // namespace

std::optional<std::uint32_t> fetch_serial(const notify_target& primary, const dns::name& zone,
                                          const tsig::key* key, std::chrono::milliseconds timeout,
                                          std::string& error) {
  tcp_client c;
  std::vector<std::uint8_t> mac;
  const auto id = static_cast<std::uint16_t>(std::random_device{}());
  const auto q = make_query(zone, dns::rr_type::soa, id, key, mac);
  std::vector<std::uint8_t> reply;
  dns::header h;
  if (!c.connect(primary, timeout, error) || !c.send_message(q, error) ||
      !c.read_message(reply, error) || !check_reply(reply, id, key, mac, true, h, error)) {
    return std::nullopt;
  }
  std::vector<transfer_rr> rrs;
  if (!answer_rrs(reply, h, rrs, error)) return std::nullopt;
  for (const auto& rr : rrs) {
    if (rr.type == dns::rr_type::soa && rr.owner == zone && rr.rdata.size() >= 22)
      return soa_field(rr.rdata, 0);
  }
  error = "no SOA in the primary's answer (not authoritative?)";
  return std::nullopt;
}

transfer_result fetch_transfer(const notify_target& primary, const dns::name& zone,
                               const tsig::key* key, std::optional<std::uint32_t> since,
                               std::chrono::milliseconds timeout, std::string& error) {
  tcp_client c;
  std::vector<std::uint8_t> mac;
  const auto id = static_cast<std::uint16_t>(std::random_device{}());
  const auto q =
      make_query(zone, since ? dns::rr_type::ixfr : dns::rr_type::axfr, id, key, mac, since);
  transfer_result out;
  if (!c.connect(primary, timeout, error) || !c.send_message(q, error)) return out;
  // RFC 1995 4: after the new SOA, another SOA opens difference sequences
  // (old SOA, deletions, new SOA, additions, ...), anything else is a whole
  // zone (AXFR form); the transfer ends with the new SOA where an old one
  // would come, or, for a whole zone, at its second SOA.
  enum class state { first, second, whole, deleting, adding } st = state::first;
  std::uint32_t final_serial = 0;
  std::vector<std::uint8_t> msg;
  std::vector<transfer_rr> rrs;
  for (bool first = true;; first = false) {
    dns::header h;
    rrs.clear();
    if (!c.read_message(msg, error) || !check_reply(msg, id, key, mac, first, h, error) ||
        !answer_rrs(msg, h, rrs, error)) {
      return transfer_result{};
    }
    if (first && rrs.size() == 1 && since) {  // IXFR: the SOA alone means up to date
      if (rrs[0].type == dns::rr_type::soa && rrs[0].rdata.size() >= 22) {
        out.ok = true;
        out.up_to_date = true;
        out.soa = rrs[0];
        return out;
      }
    }
    for (auto& rr : rrs) {
      const bool is_soa = rr.type == dns::rr_type::soa && rr.rdata.size() >= 22;
      switch (st) {
        case state::first:
          if (!is_soa || !(rr.owner == zone)) {
            error = "the transfer does not start with the zone's SOA";
            return transfer_result{};
          }
          final_serial = soa_field(rr.rdata, 0);
          out.soa = rr;
          st = state::second;
          break;
        case state::second:
          if (is_soa && since) {
            if (soa_field(rr.rdata, 0) == final_serial) {  // nothing in between: up to date
              out.ok = out.up_to_date = true;
              return out;
            }
            out.incremental = true;
            out.diffs.emplace_back();
            st = state::deleting;
          } else if (is_soa) {
            out.ok = true;  // an empty zone: SOA, SOA
            return out;
          } else {
            out.whole.push_back(std::move(rr));
            st = state::whole;
          }
          break;
        case state::whole:
          if (is_soa) {
            out.ok = true;
            return out;
          }
          out.whole.push_back(std::move(rr));
          break;
        case state::deleting:
          if (is_soa) {
            st = state::adding;
          } else {
            out.diffs.back().deleted.push_back(std::move(rr));
          }
          break;
        case state::adding:
          if (is_soa) {
            // The next difference's old SOA carries this one's new serial;
            // the final SOA carries the newest: only it can equal that.
            if (soa_field(rr.rdata, 0) == final_serial) {
              out.ok = true;
              return out;
            }
            out.diffs.emplace_back();
            st = state::deleting;
          } else {
            out.diffs.back().added.push_back(std::move(rr));
          }
          break;
      }
    }
  }
}

// ---- the puller ------------------------------------------------------------------

struct secondary_puller::impl {
  impl(std::string c, std::string n, std::shared_ptr<const policy_publisher> p,
       common::metrics::registry& metrics, secondary_options o)
      : conninfo(std::move(c)), node(std::move(n)), policy(std::move(p)), options(o) {
    auto& pulls = metrics.add_counter_family("zonemesh_secondary_pulls_total",
                                             "Secondary zone refreshes by outcome.", {"result"});
    pulled = &pulls.with({"transferred"});
    current = &pulls.with({"up_to_date"});
    failed = &pulls.with({"failed"});
    expired_gauge =
        &metrics.add_gauge("zonemesh_secondary_zones_expired",
                           "Secondary zones not refreshed within their SOA expire time.");
  }

  struct zone_state {
    std::optional<std::uint32_t> serial;  ///< the primary's, as last written
    clock_type::time_point next_check{};
    clock_type::time_point last_success = clock_type::now();
    std::chrono::seconds refresh{3600}, retry{600}, expire{604800};
    bool expired = false;
    bool refreshed = false;  ///< a refresh succeeded since this process started
  };

  void run();
  void check(const dns::name& apex, const zone_policy& zp, const transfer_policy& pol,
             zone_state& st);
  bool write(const dns::name& apex, const transfer_result& t, std::string& error);
  bool mark_expired(const dns::name& apex, bool expired);

  std::string conninfo;
  std::string node;
  std::shared_ptr<const policy_publisher> policy;
  secondary_options options;
  common::metrics::counter* pulled = nullptr;
  common::metrics::counter* current = nullptr;
  common::metrics::counter* failed = nullptr;
  common::metrics::gauge* expired_gauge = nullptr;
  std::map<std::string, zone_state> zones;
  std::unique_ptr<pqxx::connection> conn;

  std::mutex mutex;
  std::condition_variable cv;
  std::set<std::string> notified;  ///< zones to check now
  bool stopping = false;
  std::thread thread;
};

bool secondary_puller::impl::write(const dns::name& apex, const transfer_result& t,
                                   std::string& error) {
  using key_type = std::tuple<std::string, std::uint16_t, std::vector<std::uint8_t>>;
  auto key_of = [](const transfer_rr& rr) {
    return key_type{database_name(rr.owner), rr.type, rr.rdata};
  };
  // The wanted records: (name, type, RDATA) -> TTL; duplicates collapse.
  std::map<key_type, std::uint32_t> wanted;
  auto want = [&](const transfer_rr& rr) {
    if (rr.owner.is_subdomain_of(apex))
      wanted[key_of(rr)] = rr.ttl;  // out-of-zone data is not ours
  };
  const std::string zone = database_name(apex);
  try {
    if (!conn || !conn->is_open()) conn = std::make_unique<pqxx::connection>(conninfo);
    pqxx::work tx(*conn);
    tx.exec("SELECT zonemesh.lock_local_writes()");  // before any row lock (sql/013)
    const auto kind =
        tx.exec_params("SELECT kind FROM public.zones WHERE name = $1 FOR SHARE", zone);
    if (kind.empty() || kind[0][0].as<std::string>() != "secondary") {
      error = "zone " + zone + " is not a secondary zone in the database";
      return false;
    }
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('zonemesh.update'), hashtext($1))", zone);
    // Ordered by id: sites pulling the same zone keep the same duplicate.
    const auto rows = tx.exec_params(
        "SELECT id::text, name, type, ttl, content FROM public.records WHERE zone = $1 ORDER BY id",
        zone);
    std::vector<std::optional<key_type>> row_keys;
    for (const auto& r : rows) {
      zonefile::text_record text{r[1].as<std::string>(), r[2].as<std::string>(),
                                 r[3].as<std::uint32_t>(), r[4].as<std::string>()};
      store::record wire;
      if (zonefile::to_wire(text, wire).empty()) {
        row_keys.emplace_back(key_type{text.name, wire.type, std::move(wire.rdata)});
      } else {
        row_keys.emplace_back();
      }
    }
    if (t.incremental) {
      // What is there, with the differences applied in order.
      for (std::size_t i = 0; i < rows.size(); ++i) {
        if (row_keys[i] && std::get<1>(*row_keys[i]) != dns::rr_type::soa) {
          wanted.emplace(*row_keys[i], rows[static_cast<int>(i)][3].as<std::uint32_t>());
        }
      }
      for (const auto& d : t.diffs) {
        for (const auto& rr : d.deleted) wanted.erase(key_of(rr));
        for (const auto& rr : d.added) want(rr);
      }
    } else {
      for (const auto& rr : t.whole) want(rr);
    }
    want(t.soa);
    // What is here, against what is wanted; a row this server cannot read
    // goes by its id. Each RRset that differs is replaced whole
    // (zonemesh.replace_rrset, sql/README.md "The conflict rules"), so a
    // refresh at one site and an edit at another never mix.
    std::map<key_type, std::uint32_t> have;
    std::size_t kept = 0, removed = 0, added = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (row_keys[i]) {
        have[*row_keys[i]] = rows[static_cast<int>(i)][3].as<std::uint32_t>();
      } else {
        tx.exec_params("DELETE FROM public.records WHERE id = $1::uuid",
                       rows[static_cast<int>(i)][0].as<std::string>());
        ++removed;
      }
    }
    using rrset_id = std::pair<std::string, std::uint16_t>;
    auto rrset_of = [](const key_type& k) { return rrset_id{std::get<0>(k), std::get<1>(k)}; };
    std::map<rrset_id, bool> differs;  // every RRset here or wanted
    for (const auto& [key, ttl] : have) {
      const auto it = wanted.find(key);
      ++(it == wanted.end() ? removed : kept);
      differs[rrset_of(key)] |= it == wanted.end() || it->second != ttl;
    }
    for (const auto& [key, ttl] : wanted) {
      if (!have.contains(key)) {
        ++added;
        differs[rrset_of(key)] = true;
      } else {
        differs.try_emplace(rrset_of(key), false);
      }
    }
    for (const auto& [set, changed] : differs) {
      if (!changed) continue;
      tx.exec_params("SELECT zonemesh.replace_rrset($1, $2, $3)", zone, set.first,
                     dns::type_to_string(set.second));
    }
    for (const auto& [key, ttl] : wanted) {
      if (!differs[rrset_of(key)]) continue;
      const auto& [name, type, rdata] = key;
      dns::name owner;
      (void)dns::name::from_text(name, owner);
      store::record wire{owner, type, dns::rr_class::in, ttl, rdata};
      zonefile::text_record text;
      if (auto err = zonefile::to_text(wire, text); !err.empty()) {
        spdlog::warn("secondary zone {}: record skipped: {}", zone, err);
        continue;
      }
      tx.exec_params(
          "INSERT INTO public.records (zone, name, type, ttl, content) VALUES ($1, $2, $3, $4, $5)",
          zone, name, text.type, ttl, text.content);
    }
    tx.commit();
    spdlog::info("secondary zone {}: {} serial {}: {} records kept, {} added, {} removed", zone,
                 t.incremental ? "IXFR" : "AXFR", soa_field(t.soa.rdata, 0), kept, added, removed);
    return true;
  } catch (const pqxx::broken_connection& e) {
    conn.reset();
    error = std::string("database unavailable: ") + e.what();
  } catch (const std::exception& e) {
    error = e.what();  // e.g. the write path's validation refused a record
  }
  return false;
}

bool secondary_puller::impl::mark_expired(const dns::name& apex, bool expired) {
  try {
    if (!conn || !conn->is_open()) conn = std::make_unique<pqxx::connection>(conninfo);
    pqxx::work tx(*conn);
    if (expired) {
      tx.exec_params(
          "INSERT INTO public.zone_metadata (zone, kind, content) "
          "VALUES ($1, 'X-ZONEMESH-EXPIRED', '1') ON CONFLICT DO NOTHING",
          database_name(apex));
    } else {
      tx.exec_params(
          "DELETE FROM public.zone_metadata WHERE zone = $1 AND kind = 'X-ZONEMESH-EXPIRED'",
          database_name(apex));
    }
    tx.commit();
    return true;
  } catch (const pqxx::broken_connection& e) {
    conn.reset();
    spdlog::warn("secondary zone {}: cannot record expiry: {}", apex.to_string(), e.what());
  } catch (const std::exception& e) {
    spdlog::warn("secondary zone {}: cannot record expiry: {}", apex.to_string(), e.what());
  }
  return false;
}

void secondary_puller::impl::check(const dns::name& apex, const zone_policy& zp,
                                   const transfer_policy& pol, zone_state& st) {
  const tsig::key* key = zp.primary_key ? pol.find_key(*zp.primary_key) : nullptr;
  if (zp.primary_key && key == nullptr) {
    spdlog::warn("secondary zone {}: AXFR-MASTER-TSIG key {} is not in tsig_keys", apex.to_string(),
                 zp.primary_key->to_string());
  }
  std::string error;
  for (const auto& primary : zp.primaries) {
    auto serial = fetch_serial(primary, apex, key, options.timeout, error);
    if (!serial) continue;
    const bool newer = !st.serial || (*serial != *st.serial &&
                                      static_cast<std::int32_t>(*serial - *st.serial) > 0);
    if (!newer) {
      current->inc();
      st.refreshed = true;
      st.last_success = clock_type::now();
      st.next_check = clock_type::now() + st.refresh;
      return;
    }
    // IXFR from what we last wrote; AXFR when we know nothing, or when the
    // primary cannot give the difference.
    auto t = fetch_transfer(primary, apex, key, st.serial, options.timeout, error);
    if (!t.ok && st.serial) {
      spdlog::info("secondary zone {}: IXFR failed ({}); trying AXFR", apex.to_string(), error);
      t = fetch_transfer(primary, apex, key, std::nullopt, options.timeout, error);
    }
    if (!t.ok) continue;
    const auto& soa = t.soa.rdata;
    st.refresh = std::max(options.min_refresh, std::chrono::seconds(soa_field(soa, 1)));
    st.retry = std::max(options.min_refresh, std::chrono::seconds(soa_field(soa, 2)));
    st.expire = std::chrono::seconds(soa_field(soa, 3));
    if (t.up_to_date) {
      st.refreshed = true;
      st.last_success = clock_type::now();
      st.next_check = clock_type::now() + st.refresh;
      current->inc();
      return;
    }
    if (!write(apex, t, error)) {
      st.next_check = clock_type::now() + st.retry;
      continue;
    }
    pulled->inc();
    st.serial = soa_field(soa, 0);
    st.refreshed = true;
    st.last_success = clock_type::now();
    st.next_check = clock_type::now() + st.refresh;
    return;
  }
  failed->inc();
  spdlog::warn("secondary zone {}: refresh failed ({}); retrying in {} s", apex.to_string(),
               error.empty() ? "no primary" : error, st.retry.count());
  st.next_check = clock_type::now() + st.retry;
}

void secondary_puller::impl::run() {
  while (true) {
    std::set<std::string> now_notified;
    {
      std::unique_lock lock(mutex);
      cv.wait_for(lock, std::chrono::seconds(1), [this] { return stopping || !notified.empty(); });
      if (stopping) return;
      now_notified.swap(notified);
    }
    const auto pol = policy->current();
    std::size_t expired = 0;
    for (const auto& [key, zp] : pol->zones()) {
      if (!zp.secondary) continue;
      if (!zp.secondary_sites.empty() &&
          std::find(zp.secondary_sites.begin(), zp.secondary_sites.end(), node) ==
              zp.secondary_sites.end()) {
        continue;  // another site pulls this one
      }
      dns::name apex;
      if (dns::name::from_text(key, apex) != dns::name_status::ok) continue;
      auto& st = zones[key];
      if (now_notified.count(key) != 0 || clock_type::now() >= st.next_check) {
        try {
          check(apex, zp, *pol, st);
        } catch (const std::exception& e) {
          spdlog::error("secondary zone {}: {}", key, e.what());
          st.next_check = clock_type::now() + st.retry;
        }
      }
      const bool is_expired = clock_type::now() - st.last_success > st.expire;
      if (is_expired != st.expired) {
        if (is_expired) {
          spdlog::error(
              "secondary zone {}: not refreshed for {} s, past the SOA expire time; "
              "answering SERVFAIL for it at every site until a refresh succeeds",
              key, st.expire.count());
        } else {
          spdlog::info("secondary zone {}: refreshed again, answered again", key);
        }
      }
      // The mark replicates: every site stops answering, or starts again
      // once a refresh here succeeded (not merely because this site restarted).
      if ((is_expired && !zp.expired) || (!is_expired && zp.expired && st.refreshed)) {
        if (!mark_expired(apex, is_expired)) continue;  // retried on the next round
      }
      st.expired = is_expired;
      expired += is_expired ? 1 : 0;
    }
    expired_gauge->set(static_cast<double>(expired));
  }
}

secondary_puller::secondary_puller(std::string conninfo, std::string node,
                                   std::shared_ptr<const policy_publisher> policy,
                                   common::metrics::registry& metrics, secondary_options options)
    : impl_(std::make_unique<impl>(std::move(conninfo), std::move(node), std::move(policy), metrics,
                                   options)) {}

secondary_puller::~secondary_puller() { stop(); }

void secondary_puller::start() {
  impl_->thread = std::thread([this] { impl_->run(); });
}

void secondary_puller::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void secondary_puller::notify(const dns::name& zone) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->notified.insert(zone.lowercased().to_string());
  }
  impl_->cv.notify_all();
}

}  // namespace zonemesh::server
