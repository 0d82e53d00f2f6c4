#include "dns_update.hpp"

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "dns/types.hpp"
#include "dns/wire.hpp"
#include "zonefile/zonefile.hpp"

namespace zonemesh::server {
namespace {

bool is_meta(std::uint16_t type) {
  return type == dns::rr_type::any || type == dns::rr_type::axfr || type == dns::rr_type::ixfr ||
         type == dns::rr_type::maila || type == dns::rr_type::mailb || type == dns::rr_type::opt ||
         type == dns::rr_type::tsig;
}

}  // namespace

bool uncompressed_rdata(std::span<const std::uint8_t> message, std::uint16_t type,
                        std::span<const std::uint8_t> rdata, std::vector<std::uint8_t>& out) {
  out.clear();
  if (!dns::rdata_names_compressible(type)) {
    out.assign(rdata.begin(), rdata.end());
    return true;
  }
  if (rdata.empty()) return true;  // deletions carry no RDATA
  std::size_t at = static_cast<std::size_t>(rdata.data() - message.data());
  const std::size_t end = at + rdata.size();
  auto name = [&]() {
    dns::name n;
    if (dns::read_name_at(message, at, n, at) != dns::read_status::ok || at > end) return false;
    out.insert(out.end(), n.wire().begin(), n.wire().end());
    return true;
  };
  bool ok = true;
  if (type == dns::rr_type::mx) {
    ok = rdata.size() >= 2;
    if (ok) {
      out.insert(out.end(), rdata.begin(), rdata.begin() + 2);
      at += 2;
      ok = name();
    }
  } else if (type == dns::rr_type::soa || type == dns::rr_type::minfo) {
    ok = name() && name();
  } else {
    ok = name();
  }
  if (!ok) return false;
  out.insert(out.end(), message.begin() + static_cast<std::ptrdiff_t>(at),
             message.begin() + static_cast<std::ptrdiff_t>(end));
  return type != dns::rr_type::soa || end - at == 20;
}

namespace {

struct row {
  std::string id;
  std::string type;
  std::uint16_t type_code = 0;
  std::vector<std::uint8_t> rdata;
};

}  // namespace

std::string database_name(const dns::name& n) {
  auto text = n.lowercased().to_string();
  if (text.size() > 1 && text.back() == '.') text.pop_back();
  return text;
}

std::uint16_t parse_update(std::span<const std::uint8_t> message, update_message& out) {
  dns::reader r(message);
  dns::header h;
  if (r.header(h) != dns::read_status::ok || h.qdcount != 1) return dns::rcode::formerr;
  std::uint16_t ztype = 0, zclass = 0;
  if (r.name(out.zone) != dns::read_status::ok || r.u16(ztype) != dns::read_status::ok ||
      r.u16(zclass) != dns::read_status::ok || ztype != dns::rr_type::soa ||
      zclass != dns::rr_class::in) {
    return dns::rcode::formerr;
  }
  bool outside = false;
  for (unsigned section = 0; section < 2; ++section) {
    const unsigned count = section == 0 ? h.ancount : h.nscount;
    for (unsigned i = 0; i < count; ++i) {
      update_rr rr;
      dns::rr_header f;
      std::span<const std::uint8_t> rdata;
      if (r.rr(rr.owner, f, rdata) != dns::read_status::ok) return dns::rcode::formerr;
      rr.type = f.type;
      rr.rrclass = f.rrclass;
      rr.ttl = f.ttl;
      if (!uncompressed_rdata(message, f.type, rdata, rr.rdata)) return dns::rcode::formerr;
      if (!rr.owner.is_subdomain_of(out.zone)) outside = true;
      if (section == 0) {
        // RFC 2136 3.2: TTL 0; ANY and NONE carry no RDATA; zone class is
        // a value-dependent RRset, which cannot be of a meta type.
        if (rr.ttl != 0) return dns::rcode::formerr;
        if (rr.rrclass == dns::rr_class::any || rr.rrclass == dns::rr_class::none) {
          if (!rr.rdata.empty()) return dns::rcode::formerr;
        } else if (rr.rrclass != dns::rr_class::in || is_meta(rr.type)) {
          return dns::rcode::formerr;
        }
        out.prerequisites.push_back(std::move(rr));
      } else {
        // RFC 2136 3.4.1.3.
        if (rr.rrclass == dns::rr_class::in) {
          if (is_meta(rr.type)) return dns::rcode::formerr;
        } else if (rr.rrclass == dns::rr_class::any) {
          if (rr.ttl != 0 || !rr.rdata.empty() ||
              (is_meta(rr.type) && rr.type != dns::rr_type::any)) {
            return dns::rcode::formerr;
          }
        } else if (rr.rrclass == dns::rr_class::none) {
          if (rr.ttl != 0 || is_meta(rr.type)) return dns::rcode::formerr;
        } else {
          return dns::rcode::formerr;
        }
        out.updates.push_back(std::move(rr));
      }
    }
  }
  return outside ? dns::rcode::notzone : dns::rcode::noerror;
}

struct update_executor::impl {
  std::string conninfo;
  std::mutex mutex;
  std::unique_ptr<pqxx::connection> conn;

  std::uint16_t run(pqxx::work& tx, const update_message& u, std::string& message);
};

update_executor::update_executor(std::string conninfo) : impl_(std::make_unique<impl>()) {
  impl_->conninfo = std::move(conninfo);
}

update_executor::~update_executor() = default;

std::uint16_t update_executor::apply(const update_message& update, std::string& message) {
  std::lock_guard lock(impl_->mutex);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (!impl_->conn || !impl_->conn->is_open()) {
        impl_->conn = std::make_unique<pqxx::connection>(impl_->conninfo);
        pqxx::nontransaction(*impl_->conn).exec("SET statement_timeout = '10s'; SET jit = off");
      }
      pqxx::work tx(*impl_->conn);
      const auto rcode = impl_->run(tx, update, message);
      if (rcode == dns::rcode::noerror) {
        tx.commit();
      } else {
        tx.abort();
      }
      return rcode;
    } catch (const pqxx::broken_connection& e) {
      impl_->conn.reset();
      message = std::string("database unavailable: ") + e.what();
    } catch (const pqxx::sql_error& e) {
      // The validation of the write path refused something: say what.
      message = e.what();
      if (auto nl = message.find('\n'); nl != std::string::npos) message.resize(nl);
      return dns::rcode::refused;
    } catch (const std::exception& e) {
      impl_->conn.reset();
      message = e.what();
      return dns::rcode::servfail;
    }
  }
  return dns::rcode::servfail;
}

std::uint16_t update_executor::impl::run(pqxx::work& tx, const update_message& u,
                                         std::string& message) {
  const std::string zone = database_name(u.zone);
  // Local writes take turns with applying peers' changes (sql/013), and the
  // turn comes before any row lock, as the apply takes it.
  tx.exec("SELECT zonemesh.lock_local_writes()");
  const auto kind = tx.exec_params("SELECT kind FROM public.zones WHERE name = $1 FOR SHARE", zone);
  if (kind.empty()) {
    message = "zone " + zone + " is not in the database";
    return dns::rcode::notauth;
  }
  if (kind[0][0].as<std::string>() == "secondary") {
    message = "zone " + zone + " is a secondary zone: update its primary";
    return dns::rcode::notauth;
  }
  // UPDATEs of one zone one after the other, at this site (RFC 2136 3.7).
  tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('zonemesh.update'), hashtext($1))", zone);

  // The rows of every owner named, in wire form, as the check and the
  // deletions need them.
  std::map<std::string, std::vector<row>> rows;
  auto rows_of = [&](const dns::name& owner) -> std::vector<row>& {
    const std::string name = database_name(owner);
    auto it = rows.find(name);
    if (it != rows.end()) return it->second;
    auto& list = rows[name];
    for (const auto& r : tx.exec_params("SELECT id::text, type, ttl, content FROM public.records "
                                        "WHERE zone = $1 AND name = $2 AND NOT disabled",
                                        zone, name)) {
      zonefile::text_record text{name, r[1].as<std::string>(), r[2].as<std::uint32_t>(),
                                 r[3].as<std::string>()};
      store::record wire;
      if (!zonefile::to_wire(text, wire).empty()) continue;  // not servable anyway
      list.push_back(row{r[0].as<std::string>(), text.type, wire.type, std::move(wire.rdata)});
    }
    return list;
  };

  // Prerequisites (RFC 2136 3.2.5).
  std::map<std::pair<std::string, std::uint16_t>, std::multiset<std::vector<std::uint8_t>>>
      value_sets;
  for (const auto& p : u.prerequisites) {
    auto& list = rows_of(p.owner);
    const bool any_type = p.type == dns::rr_type::any;
    const bool has_type =
        std::any_of(list.begin(), list.end(), [&](const row& r) { return r.type_code == p.type; });
    if (p.rrclass == dns::rr_class::any) {
      if (any_type ? list.empty() : !has_type)
        return any_type ? dns::rcode::nxdomain : dns::rcode::nxrrset;
    } else if (p.rrclass == dns::rr_class::none) {
      if (any_type ? !list.empty() : has_type)
        return any_type ? dns::rcode::yxdomain : dns::rcode::yxrrset;
    } else {
      value_sets[{database_name(p.owner), p.type}].insert(p.rdata);
    }
  }
  for (const auto& [key, wanted] : value_sets) {
    std::multiset<std::vector<std::uint8_t>> have;
    for (const auto& r : rows[key.first]) {
      if (r.type_code == key.second) have.insert(r.rdata);
    }
    // Duplicates in the request count once, as in an RRset.
    if (std::set<std::vector<std::uint8_t>>(wanted.begin(), wanted.end()) !=
        std::set<std::vector<std::uint8_t>>(have.begin(), have.end())) {
      return dns::rcode::nxrrset;
    }
  }

  // Updates, in order (RFC 2136 3.4.2).
  const std::string apex = zone;
  for (const auto& up : u.updates) {
    const std::string name = database_name(up.owner);
    auto& list = rows_of(up.owner);
    const bool at_apex = name == apex;
    auto remove = [&](const row& r) {
      tx.exec_params("DELETE FROM public.records WHERE id = $1::uuid", r.id);
    };
    auto count_of = [&](std::uint16_t type) {
      return std::count_if(list.begin(), list.end(),
                           [&](const row& r) { return r.type_code == type; });
    };
    if (up.rrclass == dns::rr_class::in) {
      if (up.type == dns::rr_type::soa) continue;  // the serial is the cluster's to make
      const bool has_cname = count_of(dns::rr_type::cname) > 0;
      if (up.type == dns::rr_type::cname ? (!list.empty() && !has_cname) : has_cname)
        continue;  // 3.4.2.2
      store::record wire{up.owner, up.type, dns::rr_class::in, up.ttl, up.rdata};
      zonefile::text_record text;
      if (auto err = zonefile::to_text(wire, text); !err.empty()) {
        message = err;
        return dns::rcode::formerr;
      }
      auto same = std::find_if(list.begin(), list.end(), [&](const row& r) {
        return r.type_code == up.type && r.rdata == up.rdata;
      });
      if (up.type == dns::rr_type::cname && has_cname) {
        for (const auto& r : list) remove(r);  // a CNAME replaces the CNAME
        list.clear();
        same = list.end();
      }
      if (same != list.end()) {
        tx.exec_params("UPDATE public.records SET ttl = $2 WHERE id = $1::uuid", same->id, up.ttl);
        continue;
      }
      auto id = tx.exec_params1(
                      "INSERT INTO public.records (zone, name, type, ttl, content) "
                      "VALUES ($1, $2, $3, $4, $5) RETURNING id::text",
                      zone, name, text.type, up.ttl, text.content)[0]
                    .as<std::string>();
      list.push_back(row{id, text.type, up.type, up.rdata});
    } else if (up.rrclass == dns::rr_class::any) {
      // A whole RRset, or every RRset of the name; never the apex SOA or NS.
      // Deleting an RRset replaces it with nothing (zonemesh.replace_rrset):
      // adds later in this message are the replace's rows, and older adds
      // made at other sites are covered (sql/README.md "The conflict rules").
      auto is_protected = [&](std::uint16_t type) {
        return at_apex && (type == dns::rr_type::soa || type == dns::rr_type::ns);
      };
      std::set<std::string> types;
      if (up.type != dns::rr_type::any) {
        if (!is_protected(up.type)) types.insert(dns::type_to_string(up.type));
      } else {
        for (const auto& r : list) {
          if (!is_protected(r.type_code)) types.insert(r.type);
        }
      }
      for (const auto& type : types) {
        tx.exec_params("SELECT zonemesh.replace_rrset($1, $2, $3)", zone, name, type);
      }
      std::erase_if(list, [&](const row& r) { return types.contains(r.type); });
    } else {  // NONE: one RR
      if (up.type == dns::rr_type::soa) continue;
      if (at_apex && up.type == dns::rr_type::ns && count_of(dns::rr_type::ns) <= 1)
        continue;  // 3.4.2.4
      std::vector<row> keep;
      for (const auto& r : list) {
        if (r.type_code == up.type && r.rdata == up.rdata) {
          remove(r);  // every copy: the RR is gone
        } else {
          keep.push_back(r);
        }
      }
      list = std::move(keep);
    }
  }
  return dns::rcode::noerror;
}

}  // namespace zonemesh::server
