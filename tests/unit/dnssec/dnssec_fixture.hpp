#pragma once
// Test helpers for DNSSEC: a zone with every case a signer must handle,
// keys made by ldns-keygen, and running the Debian zone verifiers.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "dnssec/zone_signing.hpp"
#include "store/zone.hpp"
#include "zonefile/zonefile.hpp"

namespace zonemesh::testing {

// ldns-keygen -a ECDSAP256SHA256 -k example.com / ldns-keygen -a ECDSAP256SHA256 example.com
inline constexpr const char* ksk_p256 =
    "Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\n"
    "PrivateKey: hYSzjpoJDArda6wUnN+ELhrcvWnc/2Dt0o0yP6fo0Ak=\n";
inline constexpr const char* zsk_p256 =
    "Private-key-format: v1.2\nAlgorithm: 13 (ECDSAP256SHA256)\n"
    "PrivateKey: 1gnRZtTXer5ve7XnwB2LresOKApl1tvkoHah0XvyFeQ=\n";
inline constexpr const char* csk_ed25519 =
    "Private-key-format: v1.2\nAlgorithm: 15 (ED25519)\n"
    "PrivateKey: n8VhgXfCoaU9AYR1zvMmo4U9XoQrlkQcxvuK5rtrG8I=\n";

/// example.com with a secure and an insecure delegation and their glue, an
/// empty non-terminal, a wildcard, a CNAME, mixed-case RDATA names.
inline std::vector<zonefile::text_record> signing_zone_records() {
  return {
      {"example.com", "SOA", 3600, "ns1.Example.com hostmaster.example.com 1 7200 900 1209600 300"},
      {"example.com", "NS", 3600, "ns1.example.com"},
      {"example.com", "NS", 3600, "ns2.example.com"},
      {"example.com", "MX", 3600, "10 Mail.Example.COM"},
      {"example.com", "A", 3600, "192.0.2.1"},
      {"ns1.example.com", "A", 3600, "192.0.2.53"},
      {"ns2.example.com", "AAAA", 3600, "2001:db8::53"},
      {"mail.example.com", "A", 300, "192.0.2.25"},
      {"www.example.com", "CNAME", 3600, "Mail.example.com"},
      {"*.wild.example.com", "TXT", 3600, "\"wildcard\""},
      {"*.wild.example.com", "A", 3600, "192.0.2.99"},
      {"deep.ent.example.com", "A", 3600, "192.0.2.7"},
      {"secure.example.com", "NS", 3600, "ns.secure.example.com"},
      {"secure.example.com", "DS", 3600, "12345 13 2 0C37FC90420BE9A58534CA7CC793263167275D80B212E710AE87D21E3B82DFE4"},
      {"ns.secure.example.com", "A", 3600, "192.0.2.80"},
      {"insecure.example.com", "NS", 3600, "ns.insecure.example.com"},
      {"insecure.example.com", "NS", 3600, "ns.elsewhere.example.net"},
      {"ns.insecure.example.com", "A", 3600, "192.0.2.81"},
      {"txt.example.com", "TXT", 3600, "\"hello\" \"world\""},
      {"srv._tcp.example.com", "SRV", 3600, "0 5 5060 Sip.Example.com"},
      {"big.example.com", "TXT", 3600, "\"" + std::string(200, 'a') + "\" \"" + std::string(200, 'b') + "\""},
  };
}

inline std::shared_ptr<const store::zone_snapshot> build_zone(const std::vector<zonefile::text_record>& records,
                                                              std::uint32_t serial = 2026112201) {
  dns::name apex;
  EXPECT_EQ(dns::name::from_text(records.front().name, apex), dns::name_status::ok);
  store::zone_builder b(apex);
  for (const auto& t : records) {
    store::record r;
    EXPECT_EQ(zonefile::to_wire(t, r), "") << t.name << " " << t.type;
    EXPECT_EQ(b.add(r), "") << t.name << " " << t.type;
  }
  auto built = b.build(serial);
  EXPECT_TRUE(built) << built.error;
  return built.zone;
}

inline dnssec::zone_signing_policy ksk_zsk_policy() {
  dnssec::zone_signing_policy p;
  p.keys.emplace_back(dnssec::parse_private_key(ksk_p256), 257, true, true);
  p.keys.emplace_back(dnssec::parse_private_key(zsk_p256), 256, true, true);
  return p;
}

/// The zone as a BIND zone file.
inline std::string zone_text(const store::zone_snapshot& zone) {
  std::vector<zonefile::text_record> text;
  for (const auto& r : zone.records()) {
    zonefile::text_record t;
    EXPECT_EQ(zonefile::to_text(r, t), "");
    text.push_back(t);
  }
  std::string error;
  std::string out = zonefile::format_zone_file(text, error);
  EXPECT_EQ(error, "");
  return out;
}

struct tool_result {
  int status = -1;
  std::string output;
};

inline tool_result run_tool(const std::string& cmd) {
  tool_result r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) r.output += buf.data();
  r.status = pclose(p);
  return r;
}

inline bool have_tool(const char* name) { return run_tool(std::string("command -v ") + name).status == 0; }

/// Writes the zone to a file and runs ldns-verify-zone, dnssec-verify and
/// kzonecheck -d on over it; each that is installed must accept it. `csk`:
/// one key signs everything (dnssec-verify -z).
inline void expect_verifiers_accept(const store::zone_snapshot& zone, const std::string& tag, bool csk = false) {
  auto dir = std::filesystem::temp_directory_path() / ("zm-sign-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / (tag + ".zone");
  {
    std::ofstream out(file);
    out << zone_text(zone);
  }
  const std::string origin = zone.apex().to_string();
  int ran = 0;
  if (have_tool("ldns-verify-zone")) {
    auto r = run_tool("ldns-verify-zone -V 2 " + file.string());
    EXPECT_EQ(r.status, 0) << tag << " ldns-verify-zone:\n" << r.output;
    ++ran;
  }
  if (have_tool("dnssec-verify")) {
    auto r = run_tool(std::string("dnssec-verify ") + (csk ? "-z " : "") + "-o " + origin + " " + file.string());
    EXPECT_EQ(r.status, 0) << tag << " dnssec-verify:\n" << r.output;
    ++ran;
  }
  if (have_tool("kzonecheck")) {
    auto r = run_tool("kzonecheck -d on -o " + origin + " " + file.string());
    EXPECT_EQ(r.status, 0) << tag << " kzonecheck:\n" << r.output;
    ++ran;
  }
  if (ran == 0) GTEST_SKIP() << "no zone verifier installed (ldnsutils, bind9-utils, knot-dnssecutils)";
  std::filesystem::remove_all(dir);
}

}  // namespace zonemesh::testing
