// Online DNSSEC signing on a 2-site cluster: keys made by ldns-keygen are
// inserted by SQL at one site; both sites serve the zone signed; delv with
// the zone's DS as trust anchor validates answers, NXDOMAIN and a record
// added at the other site moments before; the zone fetched by AXFR passes
// ldns-verify-zone, dnssec-verify and kzonecheck, with NSEC and with NSEC3.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using namespace std::chrono_literals;

const char* zone = "signed.example";

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sql_text(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

class DnssecSigning : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* tool : {"ldns-keygen", "delv", "dnssec-dsfromkey", "ldns-verify-zone", "dnssec-verify",
                             "kzonecheck"}) {
      if (run_command(std::string("command -v ") + tool).status != 0) {
        missing_ = tool;
        return;
      }
    }
    cluster_ = std::make_unique<cluster>(2);
    dir_ = std::filesystem::path(cluster_->dir()) / "dnssec";
    std::filesystem::create_directories(dir_);
    const std::string keygen = "cd " + dir_.string() + " && ldns-keygen -a ECDSAP256SHA256 ";
    auto ksk = run_command(keygen + "-k " + zone, false);
    auto zsk = run_command(keygen + zone, false);
    ASSERT_EQ(ksk.status, 0);
    ASSERT_EQ(zsk.status, 0);
    auto base = [](std::string s) {
      while (!s.empty() && s.back() == '\n') s.pop_back();
      return s;
    };
    const std::string ksk_private = read_file(dir_ / (base(ksk.output) + ".private"));
    const std::string zsk_private = read_file(dir_ / (base(zsk.output) + ".private"));
    const std::string z = std::string("'") + zone + "'";
    ASSERT_EQ(sql_error(db(0), "BEGIN; SELECT create_zone(" + z + ", ARRAY['ns1." + zone + "']);"
                               "INSERT INTO records (zone, name, type, content) VALUES "
                               "(" + z + ", 'ns1." + zone + "', 'A', '192.0.2.1'),"
                               "(" + z + ", 'www." + zone + "', 'A', '192.0.2.80'),"
                               "(" + z + ", '*.wild." + zone + "', 'TXT', '\"wild\"'),"
                               "(" + z + ", 'sub." + zone + "', 'NS', 'ns.sub." + zone + "'),"
                               "(" + z + ", 'ns.sub." + zone + "', 'A', '192.0.2.53');"
                               "INSERT INTO zone_metadata (zone, kind, content) VALUES "
                               "(" + z + ", 'ALLOW-AXFR-FROM', '127.0.0.0/8');"
                               "INSERT INTO dnssec_keys (zone, flags, algorithm, private_key) VALUES "
                               "(" + z + ", 257, 13, " + sql_text(ksk_private) + "),"
                               "(" + z + ", 256, 13, " + sql_text(zsk_private) + "); COMMIT;"),
              "");
  }
  static void TearDownTestSuite() { cluster_.reset(); }
  void SetUp() override {
    if (!missing_.empty()) GTEST_SKIP() << missing_ << " is not installed";
  }
  static std::string db(int i) { return cluster_->at(static_cast<std::size_t>(i)).pg; }
  static const site& at(int i) { return cluster_->at(static_cast<std::size_t>(i)); }

  /// Writes the site's DS of the zone as a delv trust anchor file.
  static std::string anchor(int i) {
    const auto file = dir_ / ("anchor" + std::to_string(i) + ".conf");
    const auto keys = dir_ / "dnskey.txt";
    std::ofstream(keys) << dig(at(i), std::string("+noall +answer ") + zone + " DNSKEY") << "\n";
    auto ds = run_command("dnssec-dsfromkey -2 -f " + keys.string() + " " + zone + " | grep ' 257 \\| 13 2 ' | head -1",
                          false);
    std::istringstream in(ds.output);
    std::string owner, cls, type, tag, alg, digest_type, digest;
    in >> owner >> cls >> type >> tag >> alg >> digest_type >> digest;
    EXPECT_EQ(type, "DS") << ds.output;
    std::ofstream(file) << "trust-anchors { " << zone << ". static-ds " << tag << " " << alg << " " << digest_type
                        << " \"" << digest << "\"; };\n";
    return file.string();
  }
  static std::string delv(int i, const std::string& anchor_file, const std::string& question) {
    return run_command("delv @127.0.0.1 -p " + std::to_string(at(i).dns_port) + " -a " +
                       anchor_file + " +root=" + zone + " " + question)
        .output;
  }
  /// AXFR from site i, then the three verifiers.
  static void expect_transfer_verifies(int i, const std::string& tag) {
    const auto file = dir_ / (tag + ".zone");
    auto axfr = run_command("dig +time=5 @127.0.0.1 -p " + std::to_string(at(i).dns_port) + " " + zone +
                                " AXFR +nocmd +nostats +nocomments > " + file.string(),
                            true);
    ASSERT_EQ(axfr.status, 0) << axfr.output;
    auto l = run_command("ldns-verify-zone " + file.string());
    EXPECT_EQ(l.status, 0) << tag << ": " << l.output;
    auto b = run_command(std::string("dnssec-verify -o ") + zone + " " + file.string());
    EXPECT_EQ(b.status, 0) << tag << ": " << b.output;
    auto k = run_command(std::string("kzonecheck -d on -o ") + zone + " " + file.string());
    EXPECT_EQ(k.status, 0) << tag << ": " << k.output;
  }

  static std::unique_ptr<cluster> cluster_;
  static std::filesystem::path dir_;
  static std::string missing_;
};
std::unique_ptr<cluster> DnssecSigning::cluster_;
std::filesystem::path DnssecSigning::dir_;
std::string DnssecSigning::missing_;

TEST_F(DnssecSigning, BothSitesServeTheZoneSignedAndDelvValidates) {
  for (int i : {0, 1}) {
    // Both KSK and ZSK in the DNSKEY RRset, at the site that did not get the SQL too.
    auto keys = dig_until(at(i), std::string("+short ") + zone + " DNSKEY | wc -l", "2", 15000);
    ASSERT_EQ(keys, "2") << "site " << i;
    const auto a = anchor(i);
    auto www = delv(i, a, std::string("www.") + zone + " A");
    EXPECT_NE(www.find("; fully validated"), std::string::npos) << www;
    auto nx = delv(i, a, std::string("nope.") + zone + " A");
    EXPECT_NE(nx.find("negative response, fully validated"), std::string::npos) << nx;
    auto wild = delv(i, a, std::string("x.wild.") + zone + " TXT");
    EXPECT_NE(wild.find("; fully validated"), std::string::npos) << wild;
    auto nodata = delv(i, a, std::string("www.") + zone + " AAAA");
    EXPECT_NE(nodata.find("negative response, fully validated"), std::string::npos) << nodata;
    auto no_ds = delv(i, a, std::string("sub.") + zone + " DS");
    EXPECT_NE(no_ds.find("negative response, fully validated"), std::string::npos) << no_ds;
    // DO=0: no signatures.
    EXPECT_EQ(dig(at(i), std::string("+noall +answer www.") + zone + " A").find("RRSIG"), std::string::npos);
    EXPECT_NE(dig(at(i), std::string("+dnssec +noall +answer www.") + zone + " A").find("RRSIG"), std::string::npos);
  }
}

TEST_F(DnssecSigning, AnEditAtOneSiteIsServedSignedAtTheOther) {
  const auto a = anchor(1);
  ASSERT_EQ(sql_error(db(0), std::string("INSERT INTO records (zone, name, type, content) VALUES ('") + zone +
                                 "', 'fresh." + zone + "', 'A', '192.0.2.99')"),
            "");
  ASSERT_EQ(dig_until(at(1), std::string("+short fresh.") + zone + " A", "192.0.2.99", 15000), "192.0.2.99");
  auto fresh = delv(1, a, std::string("fresh.") + zone + " A");
  EXPECT_NE(fresh.find("; fully validated"), std::string::npos) << fresh;
  expect_transfer_verifies(1, "after-edit");
}

TEST_F(DnssecSigning, TransfersVerifyWithNsecThenNsec3) {
  expect_transfer_verifies(0, "nsec");
  ASSERT_EQ(sql_error(db(0), std::string("INSERT INTO zone_metadata (zone, kind, content) VALUES ('") + zone +
                                 "', 'NSEC3PARAM', '1 0 0 -')"),
            "");
  ASSERT_EQ(dig_until(at(1), std::string("+short ") + zone + " NSEC3PARAM", "1 0 0 -", 15000), "1 0 0 -");
  expect_transfer_verifies(1, "nsec3");
  const auto a = anchor(1);
  auto nx = delv(1, a, std::string("nope.") + zone + " A");
  EXPECT_NE(nx.find("negative response, fully validated"), std::string::npos) << nx;
}

}  // namespace
}  // namespace zonemesh::test
