#include "transfer_processor.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <tuple>

#include <arpa/inet.h>

#include <spdlog/spdlog.h>

#include "dns/edns.hpp"
#include "dns/types.hpp"

namespace zonemesh::server {
namespace {

constexpr std::size_t classic_udp_size = 512;
constexpr std::size_t max_tcp_message = 65535;

/// What the transfer path needs of a request, read without judging the rest
/// (the authoritative path does that).
struct request_info {
  dns::header h;
  bool has_question = false;
  dns::name qname;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::optional<std::uint32_t> ixfr_serial;  ///< the client's SOA serial (IXFR authority)
  std::size_t edns_size = 0;                 ///< 0 without OPT
  bool dnssec_ok = false;                    ///< the OPT's DO bit
  std::uint16_t our_udp_size = 1232;         ///< what our OPT advertises
};

bool parse_request(std::span<const std::uint8_t> message, request_info& out) {
  dns::reader r(message);
  if (r.header(out.h) != dns::read_status::ok) return false;
  if (out.h.qdcount != 1) return true;
  if (r.name(out.qname) != dns::read_status::ok || r.u16(out.qtype) != dns::read_status::ok ||
      r.u16(out.qclass) != dns::read_status::ok) {
    return false;
  }
  out.has_question = true;
  const unsigned total = unsigned{out.h.ancount} + out.h.nscount + out.h.arcount;
  for (unsigned i = 0; i < total; ++i) {
    dns::name owner;
    dns::rr_header f;
    std::span<const std::uint8_t> rdata;
    if (r.rr(owner, f, rdata) != dns::read_status::ok) return false;
    const bool authority = i >= out.h.ancount && i < unsigned{out.h.ancount} + out.h.nscount;
    if (authority && f.type == dns::rr_type::soa) {
      // MNAME and RNAME may be compressed; the serial follows them.
      std::size_t at = static_cast<std::size_t>(rdata.data() - message.data());
      dns::name skip;
      if (dns::read_name_at(message, at, skip, at) != dns::read_status::ok ||
          dns::read_name_at(message, at, skip, at) != dns::read_status::ok ||
          at + 4 > message.size()) {
        return false;
      }
      out.ixfr_serial = (std::uint32_t{message[at]} << 24) |
                        (std::uint32_t{message[at + 1]} << 16) |
                        (std::uint32_t{message[at + 2]} << 8) | message[at + 3];
    } else if (f.type == dns::rr_type::opt && owner.is_root()) {
      out.edns_size = std::max<std::size_t>(f.rrclass, classic_udp_size);
      out.dnssec_ok = (f.ttl & 0x8000U) != 0;
    }
  }
  return true;
}

/// RFC 1982: is `a` before `b`?
bool serial_lt(std::uint32_t a, std::uint32_t b) {
  return a != b && static_cast<std::int32_t>(b - a) > 0;
}

std::uint64_t system_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

/// Header and question of a reply to `req`; returns the writer's size or 0.
bool start_reply(dns::writer& w, const request_info& req, std::uint16_t flags, std::uint16_t rcode,
                 bool with_question) {
  dns::header h;
  h.id = req.h.id;
  h.flags = static_cast<std::uint16_t>(dns::flag::qr | flags | (req.h.flags & dns::flag::rd));
  h.set_opcode(req.h.opcode());
  h.set_rcode(rcode);
  h.qdcount = (with_question && req.has_question) ? 1 : 0;
  return w.header(h) &&
         (h.qdcount == 0 || (w.name(req.qname) && w.u16(req.qtype) && w.u16(req.qclass)));
}

/// True for a QUERY that is neither a transfer nor signed, read from its
/// bytes as cheaply as possible: a question without compression, then only
/// root-owned RRs (OPT) in the additional section. Anything else (NOTIFY,
/// UPDATE, AXFR, IXFR, TSIG, odd layouts) takes the full path.
bool plain_query(std::span<const std::uint8_t> q) {
  const auto u16 = [&](std::size_t at) {
    return static_cast<std::uint16_t>((q[at] << 8) | q[at + 1]);
  };
  if (((q[2] >> 3) & 0xf) != dns::opcode::query || u16(4) != 1 || u16(6) != 0 || u16(8) != 0)
    return false;
  std::size_t at = dns::header_size;
  while (at < q.size() && q[at] != 0) {
    if ((q[at] & 0xc0) != 0) return false;
    at += 1 + q[at];
  }
  if (at + 5 > q.size()) return false;
  const std::uint16_t qtype = u16(at + 1);
  if (qtype == dns::rr_type::axfr || qtype == dns::rr_type::ixfr) return false;
  at += 5;
  for (unsigned i = u16(10); i > 0; --i) {
    if (at + 11 > q.size() || q[at] != 0) return false;  // not root-owned: not an OPT
    if (u16(at + 1) == dns::rr_type::tsig) return false;
    at += 11 + u16(at + 9);
  }
  return true;
}

/// Signs the messages of one reply: the first after the request's MAC, each
/// later one after the previous MAC with the timers only (RFC 8945 5.3.1).
struct reply_signer {
  tsig::key key;
  std::vector<std::uint8_t> prior;  ///< the request's MAC, then our last one
  std::uint16_t fudge = 300;
  std::function<std::uint64_t()> now;
  bool first = true;

  [[nodiscard]] std::size_t reserve() const {
    return tsig::rr_size(key.name, tsig::algorithm_name(key.alg), tsig::mac_length(key.alg), 6);
  }
  std::size_t sign(std::span<std::uint8_t> buffer, std::size_t length,
                   std::uint16_t error = tsig::error::none, std::uint64_t time_signed = 0,
                   std::vector<std::uint8_t> other = {}) {
    tsig::sign_params p;
    p.time_signed = time_signed != 0 ? time_signed : now();
    p.fudge = fudge;
    p.error = error;
    p.other = std::move(other);
    p.timers_only = !first;
    std::vector<std::uint8_t> mac;
    const std::size_t n = tsig::sign_in_place(buffer, length, key, p, prior, mac);
    prior = std::move(mac);
    first = false;
    return n;
  }
};

/// Octets our OPT takes in a reply to `req` (none when it had no OPT).
std::size_t opt_reserve(const request_info& req) {
  return req.edns_size == 0 ? 0 : dns::opt_size(0, 0);
}

/// Adds our OPT when the request had one (RFC 6891 7), as Knot and NSD do
/// for transfers and refusals too; before any TSIG, which must be last.
bool add_opt(dns::writer& w, const request_info& req) {
  if (req.edns_size == 0) return true;
  if (!dns::write_opt(w, req.our_udp_size, 0, 0, req.dnssec_ok)) return false;
  const auto d = w.data();
  w.patch_u16(10, static_cast<std::uint16_t>(((d[10] << 8) | d[11]) + 1));
  return true;
}

/// A reply of header and question only (errors, refusals), signed when the
/// request was.
std::size_t short_reply(const request_info& req, std::span<std::uint8_t> reply, std::uint16_t rcode,
                        reply_signer* sig, std::uint16_t flags = 0) {
  dns::writer w(reply.first(std::min(reply.size(), max_tcp_message)));
  if (!start_reply(w, req, flags, rcode, true) || !add_opt(w, req)) return 0;
  return sig != nullptr ? sig->sign(reply, w.size()) : w.size();
}

/// A reply holding only the zone's SOA: the IXFR answer for a client that is
/// up to date, and over UDP (RFC 1995 2: "use TCP").
std::size_t soa_reply(const request_info& req, std::span<std::uint8_t> reply,
                      const store::zone_snapshot& zone, reply_signer* sig, std::size_t limit) {
  dns::writer w(reply.first(std::min(reply.size(), limit)));
  const std::size_t reserve = (sig != nullptr ? sig->reserve() : 0) + opt_reserve(req);
  const std::size_t room = w.limit() > reserve ? w.limit() - reserve : 0;
  w.set_limit(room);
  if (!start_reply(w, req, dns::flag::aa, dns::rcode::noerror, true)) return 0;
  const auto& soa = zone.soa();
  if (soa.size() == 0 ||
      !w.rr(zone.apex().wire(), dns::rr_type::soa, dns::rr_class::in, soa.ttl, soa.front().rdata)) {
    return 0;
  }
  w.patch_u16(6, 1);
  w.set_limit(room + opt_reserve(req));
  if (!add_opt(w, req)) return 0;
  return sig != nullptr ? sig->sign(reply, w.size()) : w.size();
}

/// The records of a snapshot without its SOA, and the SOA apart.
std::vector<store::record> records_and_soa(const store::zone_snapshot& zone, store::record& soa) {
  auto all = zone.records();
  std::vector<store::record> out;
  out.reserve(all.size());
  bool have_soa = false;
  for (auto& rr : all) {
    if (rr.type == dns::rr_type::soa) {
      soa = std::move(rr);
      have_soa = true;
    } else {
      out.push_back(std::move(rr));
    }
  }
  if (!have_soa) throw std::logic_error("zone " + zone.apex().to_string() + " has no SOA");
  return out;
}

/// AXFR (RFC 5936 2.2): SOA, every other record, SOA.
std::vector<store::record> axfr_sequence(const store::zone_snapshot& zone) {
  store::record soa;
  auto body = records_and_soa(zone, soa);
  std::vector<store::record> seq;
  seq.reserve(body.size() + 2);
  seq.push_back(soa);
  std::move(body.begin(), body.end(), std::back_inserter(seq));
  seq.push_back(std::move(soa));
  return seq;
}

/// IXFR (RFC 1995 4), one condensed difference from `old` to `now`: new
/// SOA, old SOA, what went, new SOA, what came, new SOA.
std::vector<store::record> ixfr_sequence(const store::zone_snapshot& old,
                                         const store::zone_snapshot& now) {
  store::record old_soa, new_soa;
  auto before = records_and_soa(old, old_soa);
  auto after = records_and_soa(now, new_soa);
  auto less = [](const store::record& a, const store::record& b) {
    if (int c = canonical_compare(a.owner, b.owner); c != 0) return c < 0;
    return std::tie(a.type, a.rdata, a.ttl) < std::tie(b.type, b.rdata, b.ttl);
  };
  std::sort(before.begin(), before.end(), less);
  std::sort(after.begin(), after.end(), less);
  std::vector<store::record> seq{new_soa, old_soa};
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(seq), less);
  seq.push_back(new_soa);
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(seq), less);
  seq.push_back(std::move(new_soa));
  return seq;
}

/// A reply made of a sequence of records (a zone transfer), in messages
/// filled to a size, the question in the first, each signed when asked.
class record_stream final : public message_stream {
 public:
  record_stream(std::vector<store::record> records, const request_info& req,
                std::shared_ptr<reply_signer> sig, std::size_t message_size, std::string zone_name)
      : req_(req),
        signer_(std::move(sig)),
        message_size_(message_size),
        records_(std::move(records)),
        zone_name_(std::move(zone_name)) {}

  std::size_t next(std::span<std::uint8_t> out) override {
    if (index_ >= records_.size()) return 0;
    out = out.first(std::min(out.size(), max_tcp_message));
    const std::size_t reserve = signer_ ? signer_->reserve() : 0;
    if (out.size() <= reserve + opt_reserve(req_) + dns::header_size) {
      throw std::length_error("no room for a transfer message");
    }
    for (std::size_t limit :
         {std::min(message_size_, out.size() - reserve), out.size() - reserve}) {
      dns::writer w(out);
      w.set_limit(limit - opt_reserve(req_));
      if (!start_reply(w, req_, dns::flag::aa, dns::rcode::noerror, first_)) {
        throw std::length_error("no room for the question");
      }
      std::uint16_t count = 0;
      std::size_t index = index_;
      while (index < records_.size() && count < 0xffff) {
        const auto& rr = records_[index];
        if (!w.rr(rr.owner.wire(), rr.type, dns::rr_class::in, rr.ttl, rr.rdata)) break;
        ++count;
        ++index;
      }
      if (count == 0) continue;  // one RR bigger than the fill size: a full-size message
      w.patch_u16(6, count);
      w.set_limit(limit);
      if (!add_opt(w, req_)) throw std::length_error("no room for the OPT");
      std::size_t length = w.size();
      if (signer_) {
        length = signer_->sign(out, length);
        if (length == 0) throw std::length_error("no room for the TSIG");
      }
      index_ = index;
      first_ = false;
      return length;
    }
    throw std::length_error("a record of " + zone_name_ + " does not fit in a DNS message");
  }

 private:
  request_info req_;
  std::shared_ptr<reply_signer> signer_;
  std::size_t message_size_;
  std::vector<store::record> records_;
  std::string zone_name_;
  std::size_t index_ = 0;
  bool first_ = true;
};

std::string peer_text(const query_context& ctx) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(ctx.peer_is_ipv6 ? AF_INET6 : AF_INET, ctx.peer_address, text, sizeof(text));
  return text;
}

std::vector<std::uint8_t> u48(std::uint64_t v) {
  return {static_cast<std::uint8_t>(v >> 40), static_cast<std::uint8_t>(v >> 32),
          static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 8),  static_cast<std::uint8_t>(v)};
}

}  // namespace

transfer_processor::transfer_processor(std::shared_ptr<const store::zone_publisher> zones,
                                       std::shared_ptr<const policy_publisher> policy,
                                       server_identity identity, processor_options options,
                                       transfer_options transfer,
                                       std::shared_ptr<update_executor> updates,
                                       std::shared_ptr<const zone_history> history)
    : query_processor_impl(zones, std::move(identity), options),
      zones_(std::move(zones)),
      policy_(std::move(policy)),
      options_(options),
      transfer_(std::move(transfer)),
      updates_(std::move(updates)),
      history_(std::move(history)) {
  if (!transfer_.now) transfer_.now = system_now;
  transfer_.message_size = std::clamp<std::size_t>(transfer_.message_size, 1024, max_tcp_message);
}

namespace {
/// Answers an UPDATE: checked here (zone served, allowed), applied by `updates`.
std::size_t answer_update(std::span<const std::uint8_t> query, std::span<std::uint8_t> reply,
                          const query_context& ctx, const request_info& req, reply_signer* sig,
                          const transfer_policy& policy, const store::zone_publisher& zones,
                          update_executor* updates) {
  update_message u;
  std::uint16_t rcode = parse_update(query, u);
  std::string message;
  const dns::name* key = sig != nullptr ? &sig->key.name : nullptr;
  if (rcode == dns::rcode::noerror) {
    auto zone = zones.current()->find_exact(u.zone);
    if (!zone) {
      rcode = dns::rcode::notauth;
      message = "zone not served here";
    } else if (!policy.may_update(zone->apex(), ctx, key)) {
      rcode = dns::rcode::refused;
      message = "not allowed by the zone's ALLOW-DNSUPDATE-FROM / TSIG-ALLOW-DNSUPDATE";
    } else if (updates == nullptr) {
      rcode = dns::rcode::notimp;
    } else {
      rcode = updates->apply(u, message);
    }
  }
  spdlog::info("UPDATE {} from {}{}: {}{}{}", u.zone.to_string(), peer_text(ctx),
               key != nullptr ? " key " + key->to_string() : std::string(),
               dns::rcode_to_string(rcode), message.empty() ? "" : ": ", message);
  return short_reply(req, reply, rcode, sig);
}
}  // namespace

std::size_t transfer_processor::process(std::span<const std::uint8_t> query,
                                        std::span<std::uint8_t> reply, const query_context& ctx) {
  stream_.reset();
  if (query.size() < dns::header_size || reply.size() < dns::header_size) return 0;
  // Nearly every query is a plain one: answered without a second parse.
  if (!policy_->has_expired_zones() && plain_query(query)) {
    return query_processor_impl::process(query, reply, ctx);
  }
  request_info req;
  req.our_udp_size = options_.udp_payload_size;
  const bool parsed = parse_request(query, req);
  if (req.h.has(dns::flag::qr)) return 0;  // never answer a response

  tsig::record rec;
  const auto found = parsed ? tsig::find(query, rec) : tsig::find_status::absent;
  if (found == tsig::find_status::malformed)
    return short_reply(req, reply, dns::rcode::formerr, nullptr);
  const bool is_update = req.h.opcode() == dns::opcode::update;
  const bool is_notify = req.h.opcode() == dns::opcode::notify;
  const bool is_transfer_type =
      req.has_question && (req.qtype == dns::rr_type::axfr || req.qtype == dns::rr_type::ixfr);
  const auto expired = [&]() {
    if (!policy_->has_expired_zones() || !req.has_question || is_notify || is_update) return false;
    const auto set = zones_->current();
    const auto* zone = set->find_zone(req.qname);
    return zone != nullptr && policy_->current()->is_expired(zone->apex());
  };
  if (parsed && found == tsig::find_status::absent && expired()) {
    // A secondary zone past its SOA expire time is not answered (RFC 1035
    // 4.3.5): SERVFAIL, at every site, until a refresh succeeds.
    return short_reply(req, reply, dns::rcode::servfail, nullptr);
  }
  if (!parsed ||
      (found == tsig::find_status::absent && !is_update && !is_notify && !is_transfer_type)) {
    return query_processor_impl::process(query, reply, ctx);  // the plain authoritative path
  }

  const auto policy = policy_->current();
  std::shared_ptr<reply_signer> sig;
  if (found == tsig::find_status::found) {
    const std::uint64_t now = transfer_.now();
    const tsig::key* key = policy->find_key(rec.key_name);
    tsig::sign_params p;
    p.time_signed = now;
    p.fudge = transfer_.fudge;
    if (key == nullptr || tsig::algorithm_from_name(rec.algorithm_name) != key->alg) {
      // RFC 8945 5.2.1: NOTAUTH, and a TSIG with BADKEY and no MAC.
      p.error = tsig::error::badkey;
      const auto n = short_reply(req, reply, dns::rcode::notauth, nullptr);
      return n == 0 ? 0
                    : tsig::sign_unkeyed_in_place(reply, n, rec.key_name, rec.algorithm_name, p);
    }
    const auto verdict = tsig::verify(query, rec, *key, now);
    if (verdict.formerr) return short_reply(req, reply, dns::rcode::formerr, nullptr);
    if (!verdict.ok && verdict.error == tsig::error::badsig) {
      p.error = tsig::error::badsig;  // 5.2.2: unsigned, no MAC
      const auto n = short_reply(req, reply, dns::rcode::notauth, nullptr);
      return n == 0 ? 0
                    : tsig::sign_unkeyed_in_place(reply, n, rec.key_name, rec.algorithm_name, p);
    }
    sig = std::make_shared<reply_signer>(
        reply_signer{*key, rec.mac, transfer_.fudge, transfer_.now, true});
    if (!verdict.ok) {
      // 5.2.3: BADTIME is signed, carries the request's time and ours in Other.
      const auto n = short_reply(req, reply, dns::rcode::notauth, nullptr);
      return n == 0 ? 0 : sig->sign(reply, n, verdict.error, rec.time_signed, u48(now));
    }
  }

  if (expired()) return short_reply(req, reply, dns::rcode::servfail, sig.get());
  if (is_notify) {
    // RFC 1996 3.7-3.11: from a primary of a secondary zone of ours, or
    // signed with its transfer key: refresh now; anything else is refused.
    auto zone = req.has_question ? zones_->current()->find_exact(req.qname) : nullptr;
    const auto* zp = req.has_question ? policy->find_zone(req.qname) : nullptr;
    const bool by_key =
        sig && zp != nullptr && zp->primary_key && *zp->primary_key == sig->key.name;
    std::uint16_t rcode = dns::rcode::noerror;
    if (!req.has_question || req.qtype != dns::rr_type::soa) {
      rcode = dns::rcode::formerr;
    } else if (zp == nullptr || !zp->secondary) {
      rcode = zone ? dns::rcode::refused : dns::rcode::notauth;
    } else if (!by_key && !policy->is_primary_of(req.qname, ctx)) {
      rcode = dns::rcode::refused;
    } else if (transfer_.on_notify) {
      transfer_.on_notify(req.qname);
    }
    spdlog::info("NOTIFY {} from {}: {}",
                 req.has_question ? req.qname.to_string() : std::string("?"), peer_text(ctx),
                 dns::rcode_to_string(rcode));
    return short_reply(req, reply, rcode, sig.get(), dns::flag::aa);
  }
  if (is_update)
    return answer_update(query, reply, ctx, req, sig.get(), *policy, *zones_, updates_.get());
  const bool is_transfer = is_transfer_type && req.h.opcode() == dns::opcode::query;
  if (!is_transfer) {
    // An unsigned AXFR/IXFR question under another opcode: the usual path.
    if (!sig) return query_processor_impl::process(query, reply, ctx);
    // Any other signed request: answered as usual, with room kept for the TSIG.
    std::size_t limit = std::min(reply.size(), max_tcp_message);
    if (ctx.proto == transport::udp) {
      limit = std::min(limit, req.edns_size == 0
                                  ? classic_udp_size
                                  : std::clamp<std::size_t>(req.edns_size, classic_udp_size,
                                                            options_.udp_payload_size));
    }
    if (limit <= sig->reserve() + dns::header_size) return 0;
    const std::size_t n =
        query_processor_impl::process(query, reply.first(limit - sig->reserve()), ctx);
    return n == 0 ? 0 : sig->sign(reply, n);
  }

  if (req.qclass != dns::rr_class::in)
    return short_reply(req, reply, dns::rcode::refused, sig.get());
  if (req.qtype == dns::rr_type::axfr && ctx.proto == transport::udp) {
    return short_reply(req, reply, dns::rcode::notimp, sig.get());  // RFC 5936 4.2
  }
  auto zone = zones_->current()->find_exact(req.qname);
  if (!zone) return short_reply(req, reply, dns::rcode::notauth, sig.get());
  const dns::name* proven = sig ? &sig->key.name : nullptr;
  if (!policy->may_transfer(zone->apex(), ctx, proven)) {
    return short_reply(req, reply, dns::rcode::refused, sig.get());
  }
  if (req.qtype == dns::rr_type::ixfr && ctx.proto == transport::udp && !req.ixfr_serial) {
    // RFC 1995 3: an IXFR query carries the client's SOA in authority; over
    // UDP without it Knot and NSD answer FORMERR (after their ACL check, as
    // here), and so do we.
    return short_reply(req, reply, dns::rcode::formerr, sig.get());
  }
  std::vector<store::record> sequence;
  if (req.qtype == dns::rr_type::ixfr) {
    const std::size_t udp_limit = req.edns_size == 0 ? classic_udp_size : req.edns_size;
    const std::size_t limit = ctx.proto == transport::udp ? udp_limit : max_tcp_message;
    // Up to date, or over UDP: the current SOA alone (RFC 1995 2: "use TCP").
    if (ctx.proto == transport::udp ||
        (req.ixfr_serial && !serial_lt(*req.ixfr_serial, zone->serial()))) {
      return soa_reply(req, reply, *zone, sig.get(), limit);
    }
    // The difference from the client's version when it is still kept, else
    // the whole zone in AXFR form, which RFC 1995 4 allows.
    auto old =
        req.ixfr_serial && history_ ? history_->find(zone->apex(), *req.ixfr_serial) : nullptr;
    if (old) sequence = ixfr_sequence(*old, *zone);
  }
  if (sequence.empty()) sequence = axfr_sequence(*zone);
  auto stream = std::make_unique<record_stream>(std::move(sequence), req, std::move(sig),
                                                transfer_.message_size, zone->apex().to_string());
  const std::size_t n = stream->next(reply);
  stream_ = std::move(stream);
  return n;
}

}  // namespace zonemesh::server
