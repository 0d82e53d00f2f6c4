// DNSSEC keys through zonemesh-admin and the API's /cryptokeys on a running
// 2-site cluster: keys made at one site are served by both (the DNSKEY the
// commands print is the one DNS serves), PowerDNS 4.7 shapes, errors as a
// user meets them, and private keys never in answers or logs.

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using json = nlohmann::json;

const std::string zones_url = "/api/v1/servers/localhost/zones";

class DnssecKeys : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = std::make_unique<cluster>(2); }
  static void TearDownTestSuite() { cluster_.reset(); }

  static const site& s1() { return cluster_->at(0); }
  static const site& s2() { return cluster_->at(1); }

  static command_result admin(const std::string& args, const site& at) {
    return run_command(binary("server/zonemesh-admin") + " " + args + " --db '" + at.pg + "'");
  }
  static http_result call(const std::string& method, const std::string& path,
                          const std::string& body = "") {
    return http_call(s1().http_port, method, path, body, {"X-API-Key: " + s1().api_key});
  }
  static json call_json(const std::string& method, const std::string& path, int expected_status,
                        const std::string& body = "") {
    auto r = call(method, path, body);
    EXPECT_EQ(r.status, expected_status) << method << " " << path << ": " << r.body;
    if (r.body.empty()) return json();
    return json::parse(r.body, nullptr, false);
  }
  /// The DNSKEY RDATA texts a site serves, normalized ("257 3 13 base64").
  static std::set<std::string> served_dnskeys(const site& s, const std::string& zone) {
    std::set<std::string> out;
    std::istringstream in(dig(s, "+short " + zone + " DNSKEY"));
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      std::string flags, proto, alg, part, key;
      f >> flags >> proto >> alg;
      while (f >> part) key += part;
      if (!key.empty()) out.insert(flags + " " + proto + " " + alg + " " + key);
    }
    return out;
  }
  static std::string log_text() {
    std::string all;
    for (const char* site : {"site1", "site2"}) {
      for (const char* file : {"server.log", "replicator.log"}) {
        std::ifstream in(cluster_->dir() + "/" + site + "/" + file);
        std::stringstream ss;
        ss << in.rdbuf();
        all += ss.str();
      }
    }
    return all;
  }
  static std::set<std::string> wait_served(const site& s, const std::string& zone,
                                           const std::set<std::string>& want) {
    std::set<std::string> got;
    for (int i = 0; i < 300; ++i) {
      got = served_dnskeys(s, zone);
      if (got == want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return got;
  }

  static std::unique_ptr<cluster> cluster_;
};
std::unique_ptr<cluster> DnssecKeys::cluster_;

TEST_F(DnssecKeys, AdminEnablesAtOneSiteAndBothSitesServeTheKeysItPrints) {
  ASSERT_EQ(sql_error(s1().pg, "SELECT create_zone('adm.test', ARRAY['ns1.adm.test'])"), "");
  auto r = admin("dnssec enable adm.test --algorithm ed25519", s1());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("created 2 key(s)"), std::string::npos) << r.output;
  std::set<std::string> printed;
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    if (auto p = line.find("IN DNSKEY "); p != std::string::npos) printed.insert(line.substr(p + 10));
  }
  ASSERT_EQ(printed.size(), 2u) << r.output;
  for (const auto& k : printed) EXPECT_EQ(k.substr(k.find(' ', 4) + 1, 3), "15 ") << k;
  // Replicated: site2 serves exactly the keys site1 printed, and shows them too.
  EXPECT_EQ(wait_served(s2(), "adm.test", printed), printed);
  EXPECT_EQ(wait_served(s1(), "adm.test", printed), printed);
  auto show = admin("dnssec show adm.test", s2());
  ASSERT_EQ(show.status, 0) << show.output;
  for (const auto& k : printed) EXPECT_NE(show.output.find(k), std::string::npos) << show.output;
  EXPECT_NE(show.output.find("zone adm.test: signed, NSEC, 2 key(s)"), std::string::npos) << show.output;
  // The DS the command gives is the CDS the zone publishes.
  auto ds = admin("dnssec ds adm.test", s1());
  ASSERT_EQ(ds.status, 0) << ds.output;
  EXPECT_NE(ds.output.find("adm.test. IN DS "), std::string::npos) << ds.output;
  std::string cds = dig(s2(), "+short adm.test CDS");
  ASSERT_FALSE(cds.empty());
  std::istringstream c(cds);
  std::string tag, alg, dt, hex, part;
  c >> tag >> alg >> dt;
  while (c >> part) hex += part;
  for (auto& ch : hex) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_NE(ds.output.find(tag + " " + alg + " " + dt + " " + hex), std::string::npos)
      << ds.output << " vs CDS " << cds;
  // NSEC3 on and off.
  r = admin("dnssec nsec3 adm.test --nsec3 '1 0 0 -'", s2());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(dig_until(s1(), "+short adm.test NSEC3PARAM", "1 0 0 -"), "1 0 0 -");
  r = admin("dnssec nsec3 adm.test", s1());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(dig_until(s2(), "+short adm.test NSEC3PARAM", ""), "");
  // Disabled: both sites serve the zone unsigned.
  r = admin("dnssec disable adm.test", s1());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("deleted 2 key(s)"), std::string::npos) << r.output;
  EXPECT_EQ(wait_served(s2(), "adm.test", {}), std::set<std::string>{});
  EXPECT_EQ(dig(s2(), "+dnssec +short adm.test SOA").find("SOA"), std::string::npos);
}

TEST_F(DnssecKeys, AdminRefusesWhatWouldBreakTheZone) {
  ASSERT_EQ(sql_error(s1().pg, "SELECT create_zone('bad.test', ARRAY['ns1.bad.test'])"), "");
  auto r = admin("dnssec show nowhere.test", s1());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("zone nowhere.test does not exist"), std::string::npos) << r.output;
  r = admin("dnssec enable bad.test --algorithm rsasha1", s1());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--algorithm rsasha1"), std::string::npos) << r.output;
  r = admin("dnssec rollover-zsk bad.test --step 1", s1());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no active ZSK"), std::string::npos) << r.output;
  ASSERT_EQ(admin("dnssec enable bad.test --csk", s1()).status, 0);
  r = admin("dnssec enable bad.test", s1());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("has 1 DNSSEC key(s) already"), std::string::npos) << r.output;
  r = admin("dnssec rollover-zsk bad.test --step 1", s1());
  EXPECT_NE(r.output.find("roll it with rollover-ksk"), std::string::npos) << r.output;
  r = admin("dnssec rollover-ksk bad.test --step 2", s1());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("run --step 1 first"), std::string::npos) << r.output;
  r = admin("dnssec rollover-ksk bad.test", s1());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--step N is required"), std::string::npos) << r.output;
  r = admin("dnssec nsec3 bad.test --nsec3 '1 0 900 -'", s1());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("900 iterations"), std::string::npos) << r.output;
  EXPECT_EQ(sql_value(s1().pg, "SELECT count(*) FROM dnssec_keys WHERE zone = 'bad.test'"), "1");
}

TEST_F(DnssecKeys, ApiCryptokeysFollowPowerDns) {
  json z = call_json("POST", zones_url, 201,
                     R"({"name": "api.test.", "kind": "Native", "nameservers": ["ns1.api.test."],
                         "dnssec": true, "nsec3param": "1 0 0 -"})");
  EXPECT_EQ(z["dnssec"], true);
  EXPECT_EQ(z["nsec3param"], "1 0 0 -");
  json keys = call_json("GET", zones_url + "/api.test./cryptokeys", 200);
  ASSERT_EQ(keys.size(), 2u) << keys;
  std::set<std::string> dnskeys;
  std::string ksk_id, zsk_id;
  for (const auto& k : keys) {
    EXPECT_EQ(k["type"], "Cryptokey");
    EXPECT_TRUE(k["id"].is_number_integer()) << k;
    EXPECT_EQ(k["algorithm"], "ECDSAP256SHA256");
    EXPECT_EQ(k["bits"], 256);
    EXPECT_EQ(k["active"], true);
    EXPECT_EQ(k["published"], true);
    EXPECT_FALSE(k.contains("privatekey")) << "the list never has private keys";
    dnskeys.insert(k["dnskey"].get<std::string>());
    if (k["keytype"] == "ksk") {
      ksk_id = std::to_string(k["id"].get<long long>());
      EXPECT_EQ(k["flags"], 257);
      ASSERT_EQ(k["ds"].size(), 2u) << k;
    } else {
      EXPECT_EQ(k["keytype"], "zsk");
      zsk_id = k["zonemesh_id"];
      EXPECT_FALSE(k.contains("ds"));
    }
  }
  ASSERT_FALSE(ksk_id.empty());
  // What the API shows is what both sites serve.
  EXPECT_EQ(wait_served(s2(), "api.test", dnskeys), dnskeys);
  EXPECT_EQ(dig_until(s2(), "+short api.test NSEC3PARAM", "1 0 0 -"), "1 0 0 -");

  // One key, by number or UUID, with its private key.
  json one = call_json("GET", zones_url + "/api.test./cryptokeys/" + ksk_id, 200);
  const std::string secret = one["privatekey"];
  EXPECT_EQ(secret.rfind("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\n", 0), 0u);
  EXPECT_EQ(call_json("GET", zones_url + "/api.test./cryptokeys/" + zsk_id, 200)["keytype"], "zsk");
  call_json("GET", zones_url + "/api.test./cryptokeys/999", 404);

  // PUT: deactivate, unpublish
  call_json("PUT", zones_url + "/api.test./cryptokeys/" + zsk_id, 204, R"({"active": false})");
  call_json("PUT", zones_url + "/api.test./cryptokeys/" + zsk_id, 422, R"({})");
  json zsk = call_json("GET", zones_url + "/api.test./cryptokeys/" + zsk_id, 200);
  EXPECT_EQ(zsk["active"], false);
  EXPECT_EQ(zsk["published"], true);
  // a KSK alone signs: it is a CSK now
  json ksk = call_json("GET", zones_url + "/api.test./cryptokeys/" + ksk_id, 200);
  EXPECT_EQ(ksk["keytype"], "csk");

  // POST: generate, import, refuse
  json made = call_json("POST", zones_url + "/api.test./cryptokeys", 201,
                        R"({"keytype": "zsk", "active": true, "algorithm": "ed25519"})");
  EXPECT_EQ(made["algorithm"], "ED25519");
  EXPECT_EQ(made["active"], true);
  EXPECT_FALSE(made.contains("privatekey"));
  json imported = call_json(
      "POST", zones_url + "/api.test./cryptokeys", 201,
      R"({"keytype": "zsk", "privatekey": "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: HC0fl5jWnCG2pGAfpnbsE7I2ndzGV4LxTVq53YJWg0w=\n"})");
  EXPECT_EQ(imported["active"], false);
  EXPECT_EQ(imported["flags"], 256);
  auto bad = call("POST", zones_url + "/api.test./cryptokeys", R"({"keytype": "zsk", "privatekey": "nonsense"})");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("Key could not be parsed"), std::string::npos) << bad.body;
  bad = call("POST", zones_url + "/api.test./cryptokeys", R"({"keytype": "big"})");
  EXPECT_EQ(bad.status, 422) << bad.body;
  bad = call("POST", zones_url + "/api.test./cryptokeys",
             R"({"keytype": "ksk", "algorithm": "ecdsap256", "privatekey": "x"})");
  EXPECT_EQ(bad.status, 422) << bad.body;
  bad = call("POST", zones_url + "/api.test./cryptokeys", R"({"keytype": "ksk", "algorithm": "gost"})");
  EXPECT_EQ(bad.status, 422) << bad.body;
  // NSEC3PARAM is not set through the metadata endpoint, as in PowerDNS
  bad = call("PUT", zones_url + "/api.test./metadata/NSEC3PARAM", R"({"metadata": ["1 0 0 -"]})");
  EXPECT_EQ(bad.status, 422) << bad.body;

  // DELETE
  call_json("DELETE", zones_url + "/api.test./cryptokeys/" + imported["zonemesh_id"].get<std::string>(), 204);
  call_json("GET", zones_url + "/api.test./cryptokeys/" + imported["zonemesh_id"].get<std::string>(), 404);
  EXPECT_EQ(call_json("GET", zones_url + "/api.test./cryptokeys", 200).size(), 3u);

  // The zone's dnssec flag: off deletes the keys, NSEC3PARAM goes too
  call_json("PUT", zones_url + "/api.test.", 204, R"({"dnssec": false})");
  z = call_json("GET", zones_url + "/api.test.?rrsets=false", 200);
  EXPECT_EQ(z["dnssec"], false);
  EXPECT_EQ(z["nsec3param"], "");
  EXPECT_EQ(call_json("GET", zones_url + "/api.test./cryptokeys", 200), json::array());
  EXPECT_EQ(wait_served(s2(), "api.test", {}), std::set<std::string>{});
  call_json("PUT", zones_url + "/api.test.", 204, R"({"dnssec": true, "nsec3param": "1 1 0 ab"})");
  z = call_json("GET", zones_url + "/api.test.?rrsets=false", 200);
  EXPECT_EQ(z["dnssec"], true);
  EXPECT_EQ(z["nsec3param"], "1 1 0 ab");
  bad = call("PUT", zones_url + "/api.test.", R"({"nsec3param": "1 0 9999 -"})");
  EXPECT_EQ(bad.status, 422) << bad.body;

  // The private key never reached a log line.
  const std::string logs = log_text();
  EXPECT_EQ(logs.find("HC0fl5jWnCG2pGAfpnbsE7I2"), std::string::npos);
  EXPECT_EQ(logs.find(secret.substr(secret.find("PrivateKey: ") + 12, 20)), std::string::npos);
}

}  // namespace
}  // namespace zonemesh::test
