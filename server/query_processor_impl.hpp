#pragma once
// The authoritative query processor: parses a query, answers it from the
// published zone set (or CHAOS identity names) and writes the reply.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/cookie.hpp"
#include "dns/edns.hpp"
#include "dns/name.hpp"
#include "dns/wire.hpp"
#include "query_processor.hpp"
#include "store/zone_set.hpp"

namespace zonemesh::server {

/// What the server says about itself; each item can be disabled.
struct server_identity {
  /// Text of CH TXT hostname.bind and id.server; nullopt answers REFUSED.
  std::optional<std::string> hostname;
  /// Text of CH TXT version.bind and version.server; nullopt answers REFUSED.
  std::optional<std::string> version;
  /// NSID payload (RFC 5001), sent when a query carries an empty NSID option;
  /// nullopt never sends one. At most 128 octets are used.
  std::optional<std::vector<std::uint8_t>> nsid;
};

/// The keys of DNS server cookies (RFC 7873, RFC 9018).
struct cookie_keys {
  dns::cookie_secret current{};                 ///< makes new cookies, and accepts them
  std::vector<dns::cookie_secret> also_accept;  ///< accepted too (rotation)
};

struct processor_options {
  /// Our EDNS UDP payload size: advertised in OPT and the cap on UDP replies.
  std::uint16_t udp_payload_size = 1232;
  /// CNAME/DNAME hops followed inside the served zones.
  std::size_t max_chain = 12;
  /// DNS cookies; null: the COOKIE option is ignored, as by a server
  /// without cookie support.
  std::shared_ptr<const cookie_keys> cookies;
  /// Seconds since the epoch for cookie timestamps (tests replace it);
  /// null: the system clock.
  std::function<std::uint32_t()> cookie_clock;
};

/// A query as parsed: what the answer stages need.
struct parsed_query {
  dns::header header;
  bool has_question = false;
  dns::name qname;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  bool has_edns = false;
  dns::opt_record edns;
  bool nsid_requested = false;
  bool has_cookie = false;  ///< a well-formed COOKIE option
  dns::cookie_view cookie;  ///< views into the query
};

class query_processor_impl : public query_processor {
 public:
  query_processor_impl(std::shared_ptr<const store::zone_publisher> zones, server_identity identity,
                       processor_options options = {});

  std::size_t process(std::span<const std::uint8_t> query, std::span<std::uint8_t> reply,
                      const query_context& ctx) override;
  bool client_verified() const override { return client_verified_; }

 protected:
  /// Hook for opcodes other than QUERY (NOTIFY, UPDATE later). May write
  /// records after the question; returns the rcode. Default: NOTIMP.
  virtual std::uint16_t handle_other_opcode(const parsed_query& query,
                                            std::span<const std::uint8_t> message,
                                            const query_context& ctx, dns::writer& w);

 private:
  /// Fills `q`; returns NOERROR or FORMERR.
  std::uint16_t parse(std::span<const std::uint8_t> message, parsed_query& q) const;
  /// Checks the query's COOKIE option and fills cookie_out_ with the
  /// client cookie and the server cookie to send; false when a wrong server
  /// cookie came over UDP (BADCOOKIE).
  bool answer_cookie(const parsed_query& q, const query_context& ctx);
  /// Answers a CH-class query; returns the rcode and counts the answer.
  std::uint16_t answer_chaos(const parsed_query& q, dns::writer& w, std::uint16_t& answers) const;

  std::shared_ptr<const store::zone_publisher> zones_;
  processor_options options_;
  std::vector<std::uint8_t> hostname_txt_;  ///< precomputed TXT RDATA; empty = disabled
  std::vector<std::uint8_t> version_txt_;
  std::vector<std::uint8_t> nsid_;
  bool nsid_enabled_ = false;
  /// The COOKIE option of the reply being written: client and server cookie.
  std::array<std::uint8_t, dns::client_cookie_size + dns::server_cookie_size> cookie_out_{};
  bool client_verified_ = false;
};

}  // namespace zonemesh::server
