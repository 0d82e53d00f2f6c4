// Query parsing, dispatch, EDNS and truncation around the answer assembly.
#include "query_processor_impl.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>

#include "answer.hpp"
#include "dns/types.hpp"

namespace zonemesh::server {
namespace {

constexpr std::size_t max_nsid = 128;
constexpr std::uint16_t classic_udp_size = 512;

std::vector<std::uint8_t> txt_rdata(const std::string& text) {
  std::vector<std::uint8_t> out;
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(255, text.size() - pos);
    out.push_back(static_cast<std::uint8_t>(n));
    out.insert(out.end(), text.begin() + static_cast<std::ptrdiff_t>(pos),
               text.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  } while (pos < text.size() && out.size() < 65000);
  return out;
}

bool name_is(const dns::name& n, std::string_view text) {
  dns::name other;
  return dns::name::from_text(text, other) == dns::name_status::ok && n.equals(other);
}

}  // namespace

query_processor_impl::query_processor_impl(std::shared_ptr<const store::zone_publisher> zones,
                                           server_identity identity, processor_options options)
    : zones_(std::move(zones)), options_(options) {
  options_.udp_payload_size = std::max(options_.udp_payload_size, classic_udp_size);
  if (identity.hostname) hostname_txt_ = txt_rdata(*identity.hostname);
  if (identity.version) version_txt_ = txt_rdata(*identity.version);
  if (identity.nsid) {
    nsid_enabled_ = true;
    nsid_ = *identity.nsid;
    if (nsid_.size() > max_nsid) nsid_.resize(max_nsid);
  }
}

std::uint16_t query_processor_impl::parse(std::span<const std::uint8_t> message,
                                          parsed_query& q) const {
  dns::reader rd(message);
  if (rd.header(q.header) != dns::read_status::ok) return dns::rcode::formerr;
  const auto op = q.header.opcode();
  if (q.header.qdcount > 1 || (q.header.qdcount == 0 && op != dns::opcode::query)) {
    // An opcode we do not implement is NOTIMP whatever follows the header
    // (RFC 1035 4.1.1), as Knot and NSD answer it, with no question at all.
    const bool known =
        op == dns::opcode::query || op == dns::opcode::notify || op == dns::opcode::update;
    return known ? dns::rcode::formerr : dns::rcode::notimp;
  }
  if (q.header.qdcount == 1) {
    if (rd.name(q.qname) != dns::read_status::ok || rd.u16(q.qtype) != dns::read_status::ok ||
        rd.u16(q.qclass) != dns::read_status::ok) {
      return dns::rcode::formerr;
    }
    q.has_question = true;
  }
  // A plain query carries nothing in answer or authority (NOTIFY and UPDATE do).
  if (q.header.opcode() == dns::opcode::query && (q.header.ancount != 0 || q.header.nscount != 0)) {
    return dns::rcode::formerr;
  }
  dns::name owner;
  dns::rr_header fields;
  std::span<const std::uint8_t> rdata;
  const std::size_t skipped = std::size_t{q.header.ancount} + q.header.nscount;
  for (std::size_t i = 0; i < skipped; ++i) {
    if (rd.rr(owner, fields, rdata) != dns::read_status::ok) return dns::rcode::formerr;
  }
  for (std::size_t i = 0; i < q.header.arcount; ++i) {
    if (rd.rr(owner, fields, rdata) != dns::read_status::ok) return dns::rcode::formerr;
    if (fields.type != dns::rr_type::opt) continue;  // TSIG: to come with the TSIG work
    // RFC 6891 6.1.1: one OPT, owned by the root.
    if (q.has_edns || !owner.is_root()) {
      q.has_edns = false;
      return dns::rcode::formerr;
    }
    if (dns::parse_opt(fields.rrclass, fields.ttl, rdata, q.edns) != dns::read_status::ok) {
      return dns::rcode::formerr;
    }
    q.has_edns = true;
    dns::option_iterator it(q.edns.options);
    std::uint16_t code = 0;
    std::span<const std::uint8_t> data;
    while (it.next(code, data)) {
      // RFC 5001 2.3: the query's NSID option is empty; unknown options are ignored.
      if (code == dns::edns_option::nsid && data.empty()) q.nsid_requested = true;
      if (code == dns::edns_option::cookie && options_.cookies) {
        // RFC 7873 5.2.2: a malformed COOKIE option (or two) is FORMERR.
        if (q.has_cookie || dns::parse_cookie(data, q.cookie) == dns::cookie_status::malformed) {
          q.has_cookie = false;
          return dns::rcode::formerr;
        }
        q.has_cookie = true;
      }
    }
  }
  // No question is only for fetching a server cookie (RFC 7873 5.4).
  if (!q.has_question && !q.has_cookie) return dns::rcode::formerr;
  return dns::rcode::noerror;
}

std::uint16_t query_processor_impl::handle_other_opcode(const parsed_query&,
                                                        std::span<const std::uint8_t>,
                                                        const query_context&, dns::writer&) {
  return dns::rcode::notimp;
}

std::uint16_t query_processor_impl::answer_chaos(const parsed_query& q, dns::writer& w,
                                                 std::uint16_t& answers) const {
  const std::vector<std::uint8_t>* text = nullptr;
  if (name_is(q.qname, "hostname.bind") || name_is(q.qname, "id.server")) {
    text = &hostname_txt_;
  } else if (name_is(q.qname, "version.bind") || name_is(q.qname, "version.server")) {
    text = &version_txt_;
  }
  if (text == nullptr || text->empty() || q.qtype != dns::rr_type::txt) return dns::rcode::refused;
  if (w.rr(q.qname.wire(), dns::rr_type::txt, dns::rr_class::ch, 0, *text)) answers = 1;
  return dns::rcode::noerror;
}

bool query_processor_impl::answer_cookie(const parsed_query& q, const query_context& ctx) {
  const cookie_keys& keys = *options_.cookies;
  const std::uint32_t now = options_.cookie_clock ? options_.cookie_clock()
                                                  : static_cast<std::uint32_t>(std::time(nullptr));
  const std::span<const std::uint8_t> address(ctx.peer_address, ctx.peer_is_ipv6 ? 16 : 4);
  std::memcpy(cookie_out_.data(), q.cookie.client.data(), dns::client_cookie_size);
  const std::span<std::uint8_t, dns::server_cookie_size> server(
      cookie_out_.data() + dns::client_cookie_size, dns::server_cookie_size);
  auto check = dns::server_cookie_check::invalid;
  if (!q.cookie.server.empty()) {
    check = dns::check_server_cookie(keys.current, keys.also_accept, q.cookie.client,
                                     q.cookie.server, address, now);
  }
  if (check == dns::server_cookie_check::valid) {
    std::memcpy(server.data(), q.cookie.server.data(),
                dns::server_cookie_size);  // still good: echo it
  } else {
    dns::make_server_cookie(keys.current, q.cookie.client, address, now, server);
  }
  client_verified_ = check != dns::server_cookie_check::invalid;
  // Over TCP the address is proven anyway (RFC 7873 5.2.3): answer normally.
  return client_verified_ || q.cookie.server.empty() || ctx.proto == transport::tcp;
}

std::size_t query_processor_impl::process(std::span<const std::uint8_t> query,
                                          std::span<std::uint8_t> reply, const query_context& ctx) {
  if (query.size() < dns::header_size || reply.size() < dns::header_size) return 0;
  parsed_query q;
  const std::uint16_t parse_rcode = parse(query, q);
  if (q.header.has(dns::flag::qr)) return 0;  // never answer a response

  // Size limit: 512 without EDNS, else the client's size within [512, ours];
  // TCP is bounded by the 16-bit length prefix only (RFC 7766).
  std::size_t limit = 0xffff;
  if (ctx.proto == transport::udp) {
    limit = classic_udp_size;
    if (q.has_edns) {
      limit = std::clamp<std::size_t>(q.edns.udp_payload_size, classic_udp_size,
                                      options_.udp_payload_size);
    }
  }
  limit = std::min(limit, reply.size());
  const bool send_nsid = q.has_edns && q.nsid_requested && nsid_enabled_;
  // DNS cookies (RFC 7873 5.2): a valid server cookie proves the client's
  // address; a wrong one over UDP gets BADCOOKIE; every reply to a query
  // with a client cookie carries a server cookie.
  client_verified_ = false;
  const bool send_cookie = q.has_edns && q.has_cookie;
  bool bad_cookie = false;
  if (send_cookie) bad_cookie = !answer_cookie(q, ctx);
  const std::size_t opt_payload =
      (send_nsid ? nsid_.size() : 0) + (send_cookie ? cookie_out_.size() : 0);
  const std::size_t opt_reserve =
      q.has_edns ? dns::opt_size(opt_payload, (send_nsid ? 1 : 0) + (send_cookie ? 1 : 0)) : 0;

  dns::writer w(reply.first(limit));
  w.set_limit(limit > opt_reserve ? limit - opt_reserve : 0);

  dns::header h;
  h.id = q.header.id;
  h.flags = static_cast<std::uint16_t>(dns::flag::qr |
                                       (q.header.flags & (dns::flag::rd | dns::flag::cd)));
  h.set_opcode(q.header.opcode());
  if (!w.header(h)) return 0;
  if (q.has_question) {
    if (w.name(q.qname) && w.u16(q.qtype) && w.u16(q.qclass)) {
      h.qdcount = 1;
    } else {
      w.rollback(dns::header_size);
    }
  }
  const std::size_t question_end = w.size();

  answer_state st(w);
  std::uint16_t rcode = parse_rcode;
  if (rcode == dns::rcode::noerror && (bad_cookie || !q.has_question)) {
    // BADCOOKIE with a fresh cookie, or the answer to a cookie-only query.
    if (bad_cookie) rcode = dns::rcode::badcookie;
  } else if (rcode == dns::rcode::noerror) {
    if (q.header.opcode() != dns::opcode::query) {
      rcode = handle_other_opcode(q, query, ctx, w);
    } else if (q.has_edns && q.edns.version > 0) {
      rcode = dns::rcode::badvers;  // RFC 6891 6.1.3, answered with our version 0
    } else if (q.qtype == dns::rr_type::axfr && ctx.proto == transport::udp) {
      rcode = dns::rcode::notimp;  // AXFR over UDP is undefined (RFC 5936 4.2), as Knot and NSD
    } else if (q.qtype == dns::rr_type::axfr || q.qtype == dns::rr_type::ixfr) {
      // Zone transfers are not offered (yet). IXFR may use UDP (RFC 1995 2),
      // so it is refused like a transfer over TCP (NSD: REFUSED, Knot: NOTAUTH).
      rcode = dns::rcode::refused;
    } else if (q.qclass == dns::rr_class::in || q.qclass == dns::rr_class::any) {
      // QTYPE OPT is answered like any type no zone holds: NODATA, as Knot and
      // NSD do (RFC 6891 6.1.1 keeps OPT out of zone data, not out of questions).
      const answer_options opts{ctx.proto == transport::tcp, q.has_edns && q.edns.dnssec_ok(),
                                options_.max_chain};
      answer_in(*zones_->current(), q.qname, q.qtype, opts, st);
      rcode = st.rcode;
      if (st.authoritative) h.flags |= dns::flag::aa;
    } else if (q.qclass == dns::rr_class::ch) {
      // Not authoritative: CHAOS names describe the server, not a zone (AA=0,
      // as Knot and NSD answer them).
      rcode = answer_chaos(q, w, st.answers);
    } else {
      rcode = dns::rcode::refused;
    }
  }

  if (st.truncated) {
    // Too big for the client: the question alone, TC set (as NSD and Knot do).
    w.rollback(question_end);
    st.answers = st.authorities = st.additionals = 0;
    h.flags |= dns::flag::tc;
  }
  h.ancount = st.answers;
  h.nscount = st.authorities;
  h.arcount = st.additionals;
  h.set_rcode(rcode);

  w.set_limit(limit);
  if (q.has_edns) {
    std::array<dns::edns_option_data, 2> opts;
    std::size_t count = 0;
    if (send_nsid) opts[count++] = {dns::edns_option::nsid, nsid_};
    if (send_cookie) opts[count++] = {dns::edns_option::cookie, cookie_out_};
    if (write_opt(w, options_.udp_payload_size, static_cast<std::uint8_t>(rcode >> 4), 0,
                  q.edns.dnssec_ok(), std::span(opts.data(), count))) {
      ++h.arcount;
    }
  }
  // Patch the header in place now that the counts are known.
  const std::size_t size = w.size();
  w.patch_u16(2, h.flags);
  w.patch_u16(4, h.qdcount);
  w.patch_u16(6, h.ancount);
  w.patch_u16(8, h.nscount);
  w.patch_u16(10, h.arcount);
  return size;
}

}  // namespace zonemesh::server
