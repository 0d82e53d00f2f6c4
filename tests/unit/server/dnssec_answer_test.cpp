// DO=1 answers from signed zones (server/answer.* with lib/dnssec): every
// RRset in answer and authority verifies with ldns against the zone's
// DNSKEYs (keys made by ldns-keygen), and ldns accepts the NSEC / NSEC3
// denial for NXDOMAIN, NODATA, empty non-terminals, wildcard NODATA and DS
// absence at insecure delegations; wildcard answers carry the proof that
// the query name does not exist. DO=0 answers are byte-identical to those
// of the same zone unsigned.
#include <stdbool.h>

#include <ldns/ldns.h>

#include <gtest/gtest.h>

#include <cstring>
#include <ctime>
#include <optional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../dnssec/dnssec_fixture.hpp"
#include "dns/edns.hpp"
#include "dns/types.hpp"
#include "dns/wire.hpp"
#include "query_processor_impl.hpp"

using namespace zonemesh;
namespace t = dns::rr_type;

namespace {

struct pkt_free {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct list_free {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
};
using pkt_ptr = std::unique_ptr<ldns_pkt, pkt_free>;
using list_ptr = std::unique_ptr<ldns_rr_list, list_free>;

std::vector<std::uint8_t> make_query(const std::string& qname, std::uint16_t qtype, bool dnssec_ok,
                                     std::uint16_t udp_size = 4096) {
  std::vector<std::uint8_t> buf(512);
  dns::writer w(buf);
  dns::header h;
  h.id = 0x1234;
  h.qdcount = 1;
  h.arcount = 1;
  EXPECT_TRUE(w.header(h));
  dns::name n;
  EXPECT_EQ(dns::name::from_text(qname, n), dns::name_status::ok);
  EXPECT_TRUE(w.name(n, false) && w.u16(qtype) && w.u16(dns::rr_class::in));
  EXPECT_TRUE(dns::write_opt(w, udp_size, 0, 0, dnssec_ok, {}));
  buf.resize(w.size());
  return buf;
}

class server_under_test {
 public:
  explicit server_under_test(std::shared_ptr<const store::zone_snapshot> zone) {
    publisher_ = std::make_shared<store::zone_publisher>();
    publisher_->put_zone(std::move(zone));
    processor_ = std::make_unique<server::query_processor_impl>(publisher_, server::server_identity{});
  }
  std::vector<std::uint8_t> ask(const std::string& qname, std::uint16_t qtype, bool dnssec_ok,
                                server::transport proto = server::transport::udp, std::uint16_t udp_size = 4096) {
    std::vector<std::uint8_t> reply(65535);
    server::query_context ctx;
    ctx.proto = proto;
    const auto q = make_query(qname, qtype, dnssec_ok, udp_size);
    reply.resize(processor_->process(q, reply, ctx));
    return reply;
  }

 private:
  std::shared_ptr<store::zone_publisher> publisher_;
  std::unique_ptr<server::query_processor_impl> processor_;
};

pkt_ptr parse(const std::vector<std::uint8_t>& wire) {
  ldns_pkt* p = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&p, wire.data(), wire.size()), LDNS_STATUS_OK);
  return pkt_ptr(p);
}

std::string owner_text(const ldns_rr* rr) {
  char* s = ldns_rdf2str(ldns_rr_owner(rr));
  std::string out = s;
  std::free(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// The RRsets of a section (RRSIGs apart), by owner and type.
struct section_sets {
  std::map<std::pair<std::string, std::uint16_t>, list_ptr> sets;
  std::vector<ldns_rr*> rrsigs;  // borrowed from the packet
};

section_sets split(const ldns_rr_list* section) {
  section_sets out;
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
    ldns_rr* rr = ldns_rr_list_rr(section, i);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG) {
      out.rrsigs.push_back(rr);
      continue;
    }
    auto& l = out.sets[{owner_text(rr), static_cast<std::uint16_t>(ldns_rr_get_type(rr))}];
    if (!l) l.reset(ldns_rr_list_new());
    ldns_rr_list_push_rr(l.get(), ldns_rr_clone(rr));
  }
  return out;
}

std::uint16_t covered(const ldns_rr* rrsig) {
  return static_cast<std::uint16_t>(ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rrsig)));
}

class DnssecAnswers : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    unsigned_zone_ = zonemesh::testing::build_zone(zonemesh::testing::signing_zone_records());
    policy_ = zonemesh::testing::ksk_zsk_policy();
    nsec3_ = std::string(GetParam()) != "nsec";
    if (nsec3_) {
      std::string error;
      policy_.nsec3 = dnssec::parse_nsec3param(GetParam(), error);
      ASSERT_TRUE(policy_.nsec3) << error;
    }
    dnssec::signature_cache cache;
    dnssec::sign_stats stats;
    auto r = dnssec::sign_zone(*unsigned_zone_, policy_, cache, static_cast<std::int64_t>(std::time(nullptr)), stats);
    ASSERT_TRUE(r) << r.error;
    signed_zone_ = r.zone;
    server_ = std::make_unique<server_under_test>(signed_zone_);
    plain_ = std::make_unique<server_under_test>(unsigned_zone_);
    keys_.reset(ldns_rr_list_new());
    for (const auto& k : policy_.keys) {
      ldns_rr* rr = nullptr;
      const std::string text = "example.com. 3600 IN DNSKEY " + dnssec::dnskey_to_text(k.dnskey);
      ASSERT_EQ(ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr), LDNS_STATUS_OK);
      ldns_rr_list_push_rr(keys_.get(), rr);
    }
  }

  /// Every RRset of answer and authority is signed and verifies, except NS
  /// in a referral (and its glue, in additional); returns the packet.
  pkt_ptr ask_validated(const std::string& qname, std::uint16_t qtype, bool referral = false) {
    auto wire = server_->ask(qname, qtype, true);
    auto pkt = parse(wire);
    if (!pkt) return pkt;
    EXPECT_FALSE(ldns_pkt_tc(pkt.get()));
    for (const ldns_rr_list* section : {ldns_pkt_answer(pkt.get()), ldns_pkt_authority(pkt.get())}) {
      auto s = split(section);
      for (auto& [key, set] : s.sets) {
        if (referral && key.second == t::ns) {
          for (ldns_rr* sig : s.rrsigs) {
            EXPECT_FALSE(owner_text(sig) == key.first && covered(sig) == t::ns) << "NS in a referral is signed";
          }
          continue;
        }
        std::size_t good = 0, seen = 0;
        for (ldns_rr* sig : s.rrsigs) {
          if (covered(sig) != key.second || owner_text(sig) != key.first) continue;
          ++seen;
          list_ptr good_keys(ldns_rr_list_new());
          const auto status = ldns_verify_rrsig_keylist(set.get(), sig, keys_.get(), good_keys.get());
          EXPECT_EQ(status, LDNS_STATUS_OK) << qname << " " << key.first << " " << dns::type_to_string(key.second)
                                            << ": " << ldns_get_errorstr_by_id(status);
          good += status == LDNS_STATUS_OK;
          // Free the shallow list without the keys it points to.
          while (ldns_rr_list_pop_rr(good_keys.get()) != nullptr) {
          }
        }
        EXPECT_GE(seen, 1u) << qname << ": " << key.first << " " << dns::type_to_string(key.second) << " unsigned";
        EXPECT_EQ(good, seen);
      }
    }
    return pkt;
  }

  /// ldns's own denial check over the NSEC or NSEC3 RRs of authority.
  void expect_denial(const ldns_pkt* pkt, const std::string& qname, std::uint16_t qtype, bool nodata) {
    list_ptr denials(ldns_rr_list_new());
    list_ptr sigs(ldns_rr_list_new());
    const ldns_rr_list* auth = ldns_pkt_authority(pkt);
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(auth); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(auth, i);
      const auto type = ldns_rr_get_type(rr);
      if (type == LDNS_RR_TYPE_NSEC || type == LDNS_RR_TYPE_NSEC3) ldns_rr_list_push_rr(denials.get(), ldns_rr_clone(rr));
      if (type == LDNS_RR_TYPE_RRSIG) ldns_rr_list_push_rr(sigs.get(), ldns_rr_clone(rr));
    }
    ASSERT_GT(ldns_rr_list_rr_count(denials.get()), 0u) << qname << ": no NSEC/NSEC3 in authority";
    ldns_rr* q = ldns_rr_new();
    ldns_rdf* owner = nullptr;
    ASSERT_EQ(ldns_str2rdf_dname(&owner, qname.c_str()), LDNS_STATUS_OK);
    ldns_rr_set_owner(q, owner);
    ldns_rr_set_type(q, static_cast<ldns_rr_type>(qtype));
    ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
    ldns_status status;
    if (nsec3_) {
      status = ldns_dnssec_verify_denial_nsec3(q, denials.get(), sigs.get(), ldns_pkt_get_rcode(pkt),
                                               static_cast<ldns_rr_type>(qtype), nodata);
    } else {
      status = ldns_dnssec_verify_denial(q, denials.get(), sigs.get());
    }
    EXPECT_EQ(status, LDNS_STATUS_OK) << qname << " " << dns::type_to_string(qtype) << ": "
                                      << ldns_get_errorstr_by_id(status);
    ldns_rr_free(q);
  }

  /// Our own check, where ldns's denial functions are built for NXDOMAIN
  /// only: an NSEC in authority covers `name` (owner < name < next), or an
  /// NSEC3 covers the hash of `name`. Returns the NSEC's next name.
  std::optional<dns::name> covered_by_authority(const ldns_pkt* pkt, const std::string& name_text) {
    dns::name name;
    EXPECT_EQ(dns::name::from_text(name_text, name), dns::name_status::ok);
    const ldns_rr_list* auth = ldns_pkt_authority(pkt);
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(auth); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(auth, i);
      if (ldns_rr_get_type(rr) != denial_type()) continue;
      dns::name owner;
      EXPECT_EQ(dns::name::from_text(owner_text(rr), owner), dns::name_status::ok);
      if (!nsec3_) {
        char* next_text = ldns_rdf2str(ldns_rr_rdf(rr, 0));
        dns::name next;
        EXPECT_EQ(dns::name::from_text(next_text, next), dns::name_status::ok);
        std::free(next_text);
        const bool after_owner = canonical_compare(owner, name) < 0;
        const bool before_next = canonical_compare(name, next) < 0 || next.equals(signed_zone_->apex());
        if (after_owner && before_next) return next;
      } else {
        auto owner_hash = dnssec::hash_from_owner(owner);
        EXPECT_TRUE(owner_hash);
        const ldns_rdf* next_rdf = ldns_rr_rdf(rr, 4);
        dnssec::nsec3_hash next{};
        EXPECT_EQ(ldns_rdf_size(next_rdf), 21u);
        std::memcpy(next.data(), ldns_rdf_data(next_rdf) + 1, next.size());
        const auto h = dnssec::hash_name(name, *policy_.nsec3);
        const bool inside = *owner_hash < next ? (*owner_hash < h && h < next) : (*owner_hash < h || h < next);
        if (inside) return owner;
      }
    }
    return std::nullopt;
  }

  std::size_t count(const ldns_rr_list* l, ldns_rr_type type) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(l); ++i) n += ldns_rr_get_type(ldns_rr_list_rr(l, i)) == type;
    return n;
  }
  ldns_rr_type denial_type() const { return nsec3_ ? LDNS_RR_TYPE_NSEC3 : LDNS_RR_TYPE_NSEC; }

  std::shared_ptr<const store::zone_snapshot> unsigned_zone_, signed_zone_;
  dnssec::zone_signing_policy policy_;
  bool nsec3_ = false;
  std::unique_ptr<server_under_test> server_, plain_;
  list_ptr keys_;
};

TEST_P(DnssecAnswers, PositiveAnswersAndApexKeysAreSigned) {
  for (auto [name, type] : std::vector<std::pair<const char*, std::uint16_t>>{
           {"example.com", t::a}, {"example.com", t::mx}, {"example.com", t::ns}, {"example.com", t::soa},
           {"example.com", t::dnskey}, {"example.com", t::cds}, {"example.com", t::cdnskey},
           {"Mail.Example.com", t::a}, {"www.example.com", t::a}, {"txt.example.com", t::txt},
           {"srv._tcp.example.com", t::srv}, {"deep.ent.example.com", t::a}}) {
    auto pkt = ask_validated(name, type);
    ASSERT_TRUE(pkt);
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR) << name;
    EXPECT_GE(count(ldns_pkt_answer(pkt.get()), LDNS_RR_TYPE_RRSIG), 1u) << name;
  }
  if (nsec3_) {
    auto pkt = ask_validated("example.com", t::nsec3param);
    EXPECT_EQ(count(ldns_pkt_answer(pkt.get()), LDNS_RR_TYPE_NSEC3PARAM), 1u);
  }
}

TEST_P(DnssecAnswers, NxdomainIsProven) {
  for (const char* name : {"nope.example.com", "a.b.nope.example.com", "zzz.example.com", "0.example.com",
                           "x.deep.ent.example.com"}) {
    auto pkt = ask_validated(name, t::a);
    ASSERT_TRUE(pkt);
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN) << name;
    EXPECT_GE(count(ldns_pkt_authority(pkt.get()), denial_type()), 1u) << name;
    expect_denial(pkt.get(), name, t::a, false);
  }
}

TEST_P(DnssecAnswers, NsecThreeOwnerNamesAreNotNamesOfTheZone) {
  if (!nsec3_) GTEST_SKIP() << "NSEC3 chains only";
  // RFC 5155 7.2.8: a query for the owner of an NSEC3 RR gets a Name Error,
  // proven like any other; the NSEC3 is not an answer.
  const auto& hashes = signed_zone_->dnssec()->nsec3_hashes;
  ASSERT_FALSE(hashes.empty());
  const std::string owner = dnssec::nsec3_owner(hashes.front(), signed_zone_->apex()).to_string();
  for (const std::uint16_t type : {t::a, t::nsec3}) {
    auto pkt = ask_validated(owner, type);
    ASSERT_TRUE(pkt);
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NXDOMAIN) << owner;
    EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())), 0u) << owner;
    expect_denial(pkt.get(), owner, type, false);
  }
}

TEST_P(DnssecAnswers, NodataAndEmptyNonTerminalAreProven) {
  for (auto [name, type] : std::vector<std::pair<const char*, std::uint16_t>>{
           {"mail.example.com", t::txt}, {"example.com", t::aaaa}, {"ent.example.com", t::a},
           {"_tcp.example.com", t::srv}, {"example.com", t::ds}}) {
    auto pkt = ask_validated(name, type);
    ASSERT_TRUE(pkt);
    EXPECT_EQ(ldns_pkt_get_rcode(pkt.get()), LDNS_RCODE_NOERROR) << name;
    EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())), 0u) << name;
    const bool ent = std::string(name) == "ent.example.com" || std::string(name) == "_tcp.example.com";
    if (ent && !nsec3_) {
      // An empty non-terminal has no NSEC: the one covering it proves it
      // exists (its next name lies below it), which ldns's NXDOMAIN-minded
      // check does not know; checked here as RFC 4035 3.1.3.2 says.
      auto next = covered_by_authority(pkt.get(), name);
      ASSERT_TRUE(next) << name;
      dns::name n;
      ASSERT_EQ(dns::name::from_text(name, n), dns::name_status::ok);
      EXPECT_TRUE(next->is_subdomain_of(n)) << name << " next " << next->to_string();
    } else {
      expect_denial(pkt.get(), name, type, true);
    }
  }
}

TEST_P(DnssecAnswers, WildcardAnswerCarriesProofOfTheNameAbsence) {
  auto pkt = ask_validated("host.wild.example.com", t::a);
  ASSERT_TRUE(pkt);
  ASSERT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())), 2u);  // A + RRSIG
  // RRSIG labels say the answer was synthesized from *.wild.example.com.
  const ldns_rr* sig = ldns_rr_list_rr(ldns_pkt_answer(pkt.get()), 1);
  ASSERT_EQ(ldns_rr_get_type(sig), LDNS_RR_TYPE_RRSIG);
  EXPECT_EQ(ldns_rdf2native_int8(ldns_rr_rdf(sig, 2)), 3);
  EXPECT_EQ(count(ldns_pkt_authority(pkt.get()), denial_type()), 1u);
  // The denial proves that the query name (NSEC) or the next closer name
  // (NSEC3, RFC 5155 7.2.6) does not exist.
  EXPECT_TRUE(covered_by_authority(pkt.get(), "host.wild.example.com"));
  auto deeper = ask_validated("a.b.wild.example.com", t::txt);
  EXPECT_EQ(count(ldns_pkt_authority(deeper.get()), denial_type()), 1u);
  EXPECT_TRUE(covered_by_authority(deeper.get(), nsec3_ ? "b.wild.example.com" : "a.b.wild.example.com"));
  EXPECT_FALSE(covered_by_authority(pkt.get(), "wild.example.com"));  // the check can fail
}

TEST_P(DnssecAnswers, WildcardNodataIsProven) {
  auto pkt = ask_validated("host.wild.example.com", t::mx);
  ASSERT_TRUE(pkt);
  EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())), 0u);
  // NSEC: the wildcard's NSEC both covers the name and lists its types;
  // NSEC3: closest encloser, next closer and wildcard.
  EXPECT_GE(count(ldns_pkt_authority(pkt.get()), denial_type()), nsec3_ ? 2u : 1u);
  EXPECT_TRUE(covered_by_authority(pkt.get(), nsec3_ ? "host.wild.example.com" : "host.wild.example.com"));
  // The wildcard's own NSEC/NSEC3 says it has no MX.
  bool wildcard_record = false;
  const ldns_rr_list* auth = ldns_pkt_authority(pkt.get());
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(auth); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(auth, i);
    if (ldns_rr_get_type(rr) != denial_type()) continue;
    const std::string owner = owner_text(rr);
    if (!nsec3_) {
      wildcard_record |= owner == "*.wild.example.com.";
    } else {
      dns::name w;
      ASSERT_EQ(dns::name::from_text("*.wild.example.com", w), dns::name_status::ok);
      wildcard_record |=
          owner == dnssec::nsec3_owner(dnssec::hash_name(w, *policy_.nsec3), signed_zone_->apex()).to_string();
    }
  }
  EXPECT_TRUE(wildcard_record);
}

TEST_P(DnssecAnswers, AdditionalAddressesCarryTheirRrsigs) {
  // RFC 4035 3.1.1: authoritative data in additional (the MX target's A)
  // goes with its RRSIGs when DO=1; each verifies.
  auto wire = server_->ask("example.com", t::mx, true);
  auto pkt = parse(wire);
  ASSERT_TRUE(pkt);
  auto add = split(ldns_pkt_additional(pkt.get()));
  ASSERT_TRUE(add.sets.count({"mail.example.com.", t::a})) << "the MX target's address";
  std::size_t verified = 0;
  for (ldns_rr* sig : add.rrsigs) {
    if (covered(sig) != t::a || owner_text(sig) != "mail.example.com.") continue;
    list_ptr good_keys(ldns_rr_list_new());
    EXPECT_EQ(ldns_verify_rrsig_keylist(add.sets[{"mail.example.com.", t::a}].get(), sig,
                                        keys_.get(), good_keys.get()),
              LDNS_STATUS_OK);
    while (ldns_rr_list_pop_rr(good_keys.get()) != nullptr) {
    }
    ++verified;
  }
  EXPECT_GE(verified, 1u);
  // Without DO, none.
  auto plain = parse(server_->ask("example.com", t::mx, false));
  EXPECT_EQ(count(ldns_pkt_additional(plain.get()), LDNS_RR_TYPE_RRSIG), 0u);
  // When they do not fit, the addresses stay and their RRSIGs go (no TC).
  auto small = parse(server_->ask("example.com", t::mx, true, server::transport::udp, 512));
  ASSERT_TRUE(small);
  EXPECT_FALSE(ldns_pkt_tc(small.get()));
}

TEST_P(DnssecAnswers, ReferralsSignDsAndProveItsAbsence) {
  auto secure = ask_validated("host.secure.example.com", t::a, true);
  ASSERT_TRUE(secure);
  EXPECT_FALSE(ldns_pkt_aa(secure.get()));
  EXPECT_EQ(count(ldns_pkt_authority(secure.get()), LDNS_RR_TYPE_DS), 1u);
  EXPECT_EQ(count(ldns_pkt_authority(secure.get()), LDNS_RR_TYPE_RRSIG), 1u);  // over DS only
  // Glue is not signed.
  EXPECT_EQ(count(ldns_pkt_additional(secure.get()), LDNS_RR_TYPE_RRSIG), 0u);
  EXPECT_GE(ldns_rr_list_rr_count(ldns_pkt_additional(secure.get())), 1u);

  auto insecure = ask_validated("host.insecure.example.com", t::a, true);
  ASSERT_TRUE(insecure);
  EXPECT_EQ(count(ldns_pkt_authority(insecure.get()), LDNS_RR_TYPE_DS), 0u);
  const bool opt_out = nsec3_ && policy_.nsec3->opt_out();
  EXPECT_GE(count(ldns_pkt_authority(insecure.get()), denial_type()), 1u);
  if (!opt_out) {
    // The NSEC/NSEC3 of the cut itself: NS but no DS.
    expect_denial(insecure.get(), "insecure.example.com", t::ds, true);
  }

  // DS asked at the cut: answered by the parent, signed, or proven absent.
  auto ds = ask_validated("secure.example.com", t::ds);
  EXPECT_EQ(count(ldns_pkt_answer(ds.get()), LDNS_RR_TYPE_DS), 1u);
  EXPECT_TRUE(ldns_pkt_aa(ds.get()));
  auto no_ds = ask_validated("insecure.example.com", t::ds);
  EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(no_ds.get())), 0u);
  EXPECT_GE(count(ldns_pkt_authority(no_ds.get()), denial_type()), 1u);
  if (!opt_out) expect_denial(no_ds.get(), "insecure.example.com", t::ds, true);
}

TEST_P(DnssecAnswers, DoZeroAnswersAreThoseOfTheUnsignedZone) {
  for (auto [name, type] : std::vector<std::pair<const char*, std::uint16_t>>{
           {"example.com", t::a}, {"example.com", t::mx}, {"www.example.com", t::a}, {"nope.example.com", t::a},
           {"mail.example.com", t::txt}, {"ent.example.com", t::a}, {"host.wild.example.com", t::a},
           {"host.secure.example.com", t::a}, {"host.insecure.example.com", t::a}, {"secure.example.com", t::ds},
           {"srv._tcp.example.com", t::srv}}) {
    EXPECT_EQ(server_->ask(name, type, false), plain_->ask(name, type, false)) << name;
  }
  // No RRSIG or NSEC without DO, even for ANY over TCP.
  auto any = parse(server_->ask("mail.example.com", t::any, false, server::transport::tcp));
  EXPECT_EQ(count(ldns_pkt_answer(any.get()), LDNS_RR_TYPE_RRSIG), 0u);
  auto any_do = parse(server_->ask("mail.example.com", t::any, true, server::transport::tcp));
  EXPECT_GE(count(ldns_pkt_answer(any_do.get()), LDNS_RR_TYPE_RRSIG), 1u);
}

TEST_P(DnssecAnswers, SignedAnswerTooBigForTheClientIsTruncated) {
  // The same questions over TCP (no limit) and over UDP with a 512-octet
  // client: TC, with no records, exactly when the full signed answer is larger.
  std::size_t truncated = 0;
  for (auto [name, type] : std::vector<std::pair<const char*, std::uint16_t>>{
           {"example.com", t::dnskey}, {"nope.example.com", t::a}, {"example.com", t::mx},
           {"host.wild.example.com", t::mx}, {"ent.example.com", t::a}, {"big.example.com", t::txt}}) {
    const auto full = server_->ask(name, type, true, server::transport::tcp);
    const auto small = server_->ask(name, type, true, server::transport::udp, 512);
    auto pkt = parse(small);
    ASSERT_TRUE(pkt);
    EXPECT_LE(small.size(), 512u);
    EXPECT_EQ(ldns_pkt_tc(pkt.get()), full.size() > 512) << name << " full size " << full.size();
    if (ldns_pkt_tc(pkt.get())) {
      ++truncated;
      EXPECT_EQ(ldns_rr_list_rr_count(ldns_pkt_answer(pkt.get())) + ldns_rr_list_rr_count(ldns_pkt_authority(pkt.get())),
                0u);
    } else {
      EXPECT_EQ(small, full) << name;
    }
  }
  EXPECT_GE(truncated, 1u);  // at least one of them needs TCP at 512
}

INSTANTIATE_TEST_SUITE_P(Denial, DnssecAnswers, ::testing::Values("nsec", "1 0 0 -", "1 0 7 beef", "1 1 0 -"),
                         [](const auto& param_info) {
                           const std::string p = param_info.param;
                           if (p == "nsec") return std::string("Nsec");
                           if (p == "1 1 0 -") return std::string("Nsec3OptOut");
                           if (p == "1 0 7 beef") return std::string("Nsec3Salted");
                           return std::string("Nsec3");
                         });

}  // namespace
