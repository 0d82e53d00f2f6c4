// The PowerDNS-compatible HTTP API against a running 2-site cluster: every
// endpoint's status codes and JSON shapes, requests exactly as the PowerDNS
// documentation, external-dns and octoDNS send them, writes answered over DNS
// at both sites, the database's validation messages as 422 errors, and the
// API key: required on every route, never in the logs.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

using json = nlohmann::json;

class Api : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = std::make_unique<cluster>(2); }
  static void TearDownTestSuite() { cluster_.reset(); }

  static const site& s1() { return cluster_->at(0); }
  static const site& s2() { return cluster_->at(1); }
  static std::string key() { return s1().api_key; }

  /// A request with the cluster's key, as every API client sends it.
  static http_result call(const std::string& method, const std::string& path,
                          const std::string& body = "", const site* at = nullptr) {
    return http_call((at ? *at : s1()).http_port, method, path, body, {"X-API-Key: " + key()});
  }
  static json call_json(const std::string& method, const std::string& path, int expected_status,
                        const std::string& body = "") {
    auto r = call(method, path, body);
    EXPECT_EQ(r.status, expected_status) << method << " " << path << ": " << r.body;
    if (r.body.empty()) return json();
    return json::parse(r.body, nullptr, false);
  }
  static const json* find_rrset(const json& zone, const std::string& name,
                                const std::string& type) {
    for (const auto& r : zone.at("rrsets")) {
      if (r.at("name") == name && r.at("type") == type) return &r;
    }
    return nullptr;
  }
  static std::unique_ptr<cluster> cluster_;
};
std::unique_ptr<cluster> Api::cluster_;

const std::string zones_url = "/api/v1/servers/localhost/zones";

TEST_F(Api, ClusterPrintsAKey) { ASSERT_GE(key().size(), 20u); }

TEST_F(Api, ServersListAndServerWithANumericVersion) {
  json list = call_json("GET", "/api/v1/servers", 200);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u);
  const json& server = list[0];
  EXPECT_EQ(server["id"], "localhost");
  EXPECT_EQ(server["type"], "Server");
  EXPECT_EQ(server["daemon_type"], "authoritative");
  EXPECT_EQ(server["url"], "/api/v1/servers/localhost");
  EXPECT_EQ(server["zones_url"], "/api/v1/servers/localhost/zones{/zone}");
  // octoDNS: [int(p.split('-')[0]) for p in version.split('.')[:3]]
  const std::string version = server["version"];
  std::vector<int> parts;
  std::stringstream in(version);
  for (std::string p; std::getline(in, p, '.');) parts.push_back(std::stoi(p));
  ASSERT_EQ(parts.size(), 3u) << version;
  EXPECT_GE(parts[0] * 100 + parts[1], 403) << "clients pick 4.3+ behaviour: " << version;

  EXPECT_EQ(call_json("GET", "/api/v1/servers/localhost", 200), server);
  EXPECT_EQ(call("GET", "/api/v1/servers/otherhost").status, 404);
  json api = call_json("GET", "/api", 200);
  EXPECT_EQ(api[0]["url"], "/api/v1");
  EXPECT_EQ(api[0]["version"], 1);
}

TEST_F(Api, EveryRouteRefusesARequestWithoutTheKey) {
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/api"},
      {"GET", "/api/v1/servers"},
      {"GET", "/api/v1/servers/localhost"},
      {"GET", "/api/v1/servers/localhost/config"},
      {"GET", "/api/v1/servers/localhost/statistics"},
      {"GET", zones_url},
      {"POST", zones_url},
      {"GET", zones_url + "/example.org."},
      {"PUT", zones_url + "/example.org."},
      {"PATCH", zones_url + "/example.org."},
      {"DELETE", zones_url + "/example.org."},
      {"GET", zones_url + "/example.org./export"},
      {"GET", zones_url + "/example.org./metadata"},
      {"POST", zones_url + "/example.org./metadata"},
      {"GET", zones_url + "/example.org./metadata/ALLOW-AXFR-FROM"},
      {"PUT", zones_url + "/example.org./metadata/ALLOW-AXFR-FROM"},
      {"DELETE", zones_url + "/example.org./metadata/ALLOW-AXFR-FROM"},
      {"GET", "/api/v1/servers/localhost/tsigkeys"},
      {"POST", "/api/v1/servers/localhost/tsigkeys"},
      {"GET", "/api/v1/servers/localhost/tsigkeys/k."},
      {"PUT", "/api/v1/servers/localhost/tsigkeys/k."},
      {"DELETE", "/api/v1/servers/localhost/tsigkeys/k."},
      {"GET", "/api/v1/servers/localhost/search-data?q=*"},
      {"GET", zones_url + "/example.org./cryptokeys"},
      {"PUT", zones_url + "/example.org./notify"},
      {"PUT", zones_url + "/example.org./rectify"},
      {"HEAD", zones_url},
      {"GET", "/api/v1/cluster"},
      {"GET", "/api/v1/nonexistent"},
  };
  const std::string body =
      R"({"name": "example.org.", "kind": "Native", "nameservers": ["ns1.example.org."]})";
  // Each route's wrong keys from an address of its own: more than
  // api_auth_max_failures from one address get 429 (test_limits.py).
  int n = 0;
  for (const auto& [method, path] : routes) {
    const std::string source = "127.0.1." + std::to_string(++n);
    for (const auto& headers : std::vector<std::vector<std::string>>{
             {}, {"X-API-Key: wrong"}, {"X-API-Key: " + key() + "x"}, {"X-API-Key: "}}) {
      auto r = http_call(s1().http_port, method, path, body, headers, source);
      EXPECT_EQ(r.status, 401) << method << " " << path << " with " << headers.size() << " headers";
      if (method == "HEAD") continue;  // no body
      const json error = json::parse(r.body, nullptr, false);
      ASSERT_TRUE(error.is_object()) << method << " " << path << ": " << r.body;
      EXPECT_EQ(error.value("error", ""), "Unauthorized") << r.body;
    }
    // The key in the URL is not a key.
    auto r = http_call(s1().http_port, method, path + "?api-key=" + key() + "&X-API-Key=" + key(), body,
                       {}, source);
    EXPECT_EQ(r.status, 401) << method << " " << path;
  }
  EXPECT_EQ(http_call(s1().http_port, "GET", zones_url + "/example.org.").status, 401);
  // Nothing was created by the refused POSTs.
  EXPECT_EQ(sql_value(s1().pg, "SELECT count(*) FROM zones WHERE name = 'example.org'"), "0");
}

TEST_F(Api, CreateZoneAsTheDocumentationShowsAndServeItAtBothSites) {
  // https://doc.powerdns.com/authoritative/http-api/zone.html#creating-new-zone
  json created = call_json("POST", zones_url, 201,
                           R"({"name":"example.org.", "kind": "Native", "masters": [],
                               "nameservers": ["ns1.example.org.", "ns2.example.org."]})");
  EXPECT_EQ(created["id"], "example.org.");
  EXPECT_EQ(created["name"], "example.org.");
  EXPECT_EQ(created["url"], "/api/v1/servers/localhost/zones/example.org.");
  EXPECT_EQ(created["kind"], "Native");
  EXPECT_TRUE(created["serial"].is_number_integer());
  EXPECT_GT(created["serial"].get<long long>(), 0);
  EXPECT_EQ(created["serial"], created["edited_serial"]);
  EXPECT_TRUE(created["masters"].is_array());
  EXPECT_EQ(created["dnssec"], false);
  const json* ns = find_rrset(created, "example.org.", "NS");
  ASSERT_NE(ns, nullptr) << created.dump();
  ASSERT_EQ((*ns)["records"].size(), 2u);
  EXPECT_EQ((*ns)["records"][0], (json{{"content", "ns1.example.org."}, {"disabled", false}}));
  EXPECT_TRUE((*ns)["comments"].is_array());
  const json* soa = find_rrset(created, "example.org.", "SOA");
  ASSERT_NE(soa, nullptr);
  const std::string soa_content = (*soa)["records"][0]["content"];
  EXPECT_EQ(soa_content.rfind("ns1.example.org. hostmaster.example.org. ", 0), 0u) << soa_content;
  EXPECT_NE(soa_content.find(" " + std::to_string(created["serial"].get<long long>()) + " "),
            std::string::npos)
      << "the SOA shows the served serial: " << soa_content;

  EXPECT_EQ(dig_until(s1(), "+short example.org NS", "ns1.example.org.\nns2.example.org."),
            "ns1.example.org.\nns2.example.org.");
  EXPECT_EQ(dig_until(s2(), "+short example.org NS", "ns1.example.org.\nns2.example.org.", 20000),
            "ns1.example.org.\nns2.example.org.");

  auto again =
      call("POST", zones_url, R"({"name":"example.org.", "kind": "Native", "nameservers": []})");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(json::parse(again.body)["error"], "Domain 'example.org.' already exists");

  // Listed, with the fields PowerDNS lists.
  json list = call_json("GET", zones_url, 200);
  bool found = false;
  for (const auto& z : list) {
    if (z["name"] != "example.org.") continue;
    found = true;
    EXPECT_EQ(z["id"], "example.org.");
    EXPECT_EQ(z["url"], "/api/v1/servers/localhost/zones/example.org.");
    EXPECT_EQ(z["kind"], "Native");
    EXPECT_FALSE(z.contains("rrsets"));
  }
  EXPECT_TRUE(found) << list.dump();
  json one = call_json("GET", zones_url + "?zone=example.org.", 200);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["name"], "example.org.");
}

TEST_F(Api, UnknownZoneIs404) {
  auto r = call("GET", zones_url + "/nonexistent.example.");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"], "Could not find domain 'nonexistent.example.'");
  EXPECT_EQ(call("PATCH", zones_url + "/nonexistent.example.", R"({"rrsets": []})").status, 404);
  EXPECT_EQ(call("DELETE", zones_url + "/nonexistent.example.").status, 404);
  EXPECT_EQ(call("GET", zones_url + "/nonexistent.example./metadata").status, 404);
}

TEST_F(Api, PatchReplaceAndDeleteAsTheDocumentationShows) {
  call_json("POST", zones_url, 201,
            R"({"name":"patch.test.", "kind": "Native", "nameservers": ["ns1.patch.test."]})");
  // The documentation's PATCH body.
  auto r = call("PATCH", zones_url + "/patch.test.",
                R"({"rrsets": [{"name": "test.patch.test.", "type": "A",
      "ttl": 86400, "changetype": "REPLACE",
      "records": [{"content": "192.0.5.4", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(dig_until(s1(), "+short test.patch.test A", "192.0.5.4"), "192.0.5.4");
  EXPECT_EQ(dig_until(s2(), "+short test.patch.test A", "192.0.5.4", 20000), "192.0.5.4");
  json zone = call_json("GET", zones_url + "/patch.test.", 200);
  const json* a = find_rrset(zone, "test.patch.test.", "A");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ((*a)["ttl"], 86400);
  EXPECT_EQ((*a)["records"], json::parse(R"([{"content": "192.0.5.4", "disabled": false}])"));

  // Replace with two addresses, one disabled; the kept row keeps its id.
  const std::string id_before = sql_value(
      s1().pg, "SELECT id FROM records WHERE name = 'test.patch.test' AND content = '192.0.5.4'");
  r = call("PATCH", zones_url + "/patch.test.",
           R"({"rrsets": [{"name": "test.patch.test.", "type": "A",
      "ttl": 300, "changetype": "REPLACE", "records": [{"content": "192.0.5.4", "disabled": false},
      {"content": "192.0.5.5", "disabled": true}]}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(
      sql_value(s1().pg,
                "SELECT id FROM records WHERE name = 'test.patch.test' AND content = '192.0.5.4'"),
      id_before);
  EXPECT_EQ(
      sql_value(s1().pg,
                "SELECT string_agg(content || ' ' || ttl || ' ' || disabled, ',' ORDER BY content) "
                "FROM records WHERE name = 'test.patch.test'"),
      "192.0.5.4 300 false,192.0.5.5 300 true");
  EXPECT_EQ(dig_until(s1(), "+short test.patch.test A", "192.0.5.4"), "192.0.5.4");

  // rrset_name / rrset_type filters.
  json filtered =
      call_json("GET", zones_url + "/patch.test.?rrset_name=test.patch.test.&rrset_type=A", 200);
  ASSERT_EQ(filtered["rrsets"].size(), 1u);
  EXPECT_EQ(filtered["rrsets"][0]["records"].size(), 2u);
  EXPECT_EQ(filtered["rrsets"][0]["records"][1]["disabled"], true);
  json enabled_only = call_json(
      "GET", zones_url + "/patch.test.?rrset_name=test.patch.test.&include_disabled=false", 200);
  ASSERT_EQ(enabled_only["rrsets"].size(), 1u);
  EXPECT_EQ(enabled_only["rrsets"][0]["records"].size(), 1u);
  json no_rrsets = call_json("GET", zones_url + "/patch.test.?rrsets=false", 200);
  EXPECT_FALSE(no_rrsets.contains("rrsets"));

  // The SOA is replaced in place (its row is the zone's one SOA row).
  r = call("PATCH", zones_url + "/patch.test.",
           R"({"rrsets": [{"name": "patch.test.", "type": "SOA",
      "ttl": 3600, "changetype": "REPLACE", "records": [{"content":
      "ns9.patch.test. admin.patch.test. 1 7200 3600 1209600 300", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(dig_until(s2(), "+short patch.test SOA | cut -d' ' -f1,2,4-",
                      "ns9.patch.test. admin.patch.test. 7200 3600 1209600 300", 20000),
            "ns9.patch.test. admin.patch.test. 7200 3600 1209600 300");
  json listed = call_json("GET", zones_url + "?zone=patch.test.", 200);
  json got = call_json("GET", zones_url + "/patch.test.?rrsets=false", 200);
  EXPECT_EQ(listed[0]["serial"], got["serial"]) << "the list's serial is the zone's serial";

  r = call("PATCH", zones_url + "/patch.test.",
           R"({"rrsets": [{"name": "test.patch.test.", "type": "A",
      "changetype": "DELETE"}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(dig_until(s1(), "+short test.patch.test A", ""), "");
  EXPECT_EQ(dig_until(s2(), "+short test.patch.test A", "", 20000), "");
}

TEST_F(Api, ExtendAndPrune) {
  call_json("POST", zones_url, 201,
            R"({"name":"extend.test.", "kind": "Native", "nameservers": ["ns1.extend.test."]})");
  auto patch = [&](const std::string& changetype, const std::string& content) {
    return call(
        "PATCH", zones_url + "/extend.test.",
        R"({"rrsets": [{"name": "mx.extend.test.", "type": "MX", "ttl": 600, "changetype": ")" +
            changetype + R"(", "records": [{"content": ")" + content +
            R"(", "disabled": false}]}]})");
  };
  EXPECT_EQ(patch("EXTEND", "10 mail1.extend.test.").status, 204);
  EXPECT_EQ(patch("EXTEND", "20 mail2.extend.test.").status, 204);
  EXPECT_EQ(patch("EXTEND", "20 mail2.extend.test.").status, 204) << "present already: no change";
  EXPECT_EQ(
      dig_until(s1(), "+short mx.extend.test MX", "10 mail1.extend.test.\n20 mail2.extend.test."),
      "10 mail1.extend.test.\n20 mail2.extend.test.");
  json zone =
      call_json("GET", zones_url + "/extend.test.?rrset_name=mx.extend.test.&rrset_type=MX", 200);
  EXPECT_EQ(zone["rrsets"][0]["records"][0]["content"], "10 mail1.extend.test.");
  EXPECT_EQ(patch("PRUNE", "10 mail1.extend.test.").status, 204);
  EXPECT_EQ(dig_until(s1(), "+short mx.extend.test MX", "20 mail2.extend.test."),
            "20 mail2.extend.test.");
  EXPECT_EQ(patch("SOMETHING", "10 x.extend.test.").status, 422);
}

TEST_F(Api, InvalidDataIs422WithTheDatabaseMessageAndChangesNothing) {
  call_json("POST", zones_url, 201,
            R"({"name":"invalid.test.", "kind": "Native", "nameservers": ["ns1.invalid.test."]})");
  const std::string before = dump_replicated_state(s1().pg, false);
  // A valid rrset and an invalid one in one PATCH: neither is written.
  auto r = call("PATCH", zones_url + "/invalid.test.", R"({"rrsets": [
      {"name": "ok.invalid.test.", "type": "A", "ttl": 300, "changetype": "REPLACE",
       "records": [{"content": "192.0.2.1", "disabled": false}]},
      {"name": "bad.invalid.test.", "type": "A", "ttl": 300, "changetype": "REPLACE",
       "records": [{"content": "192.0.2", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(json::parse(r.body)["error"],
            "A content of bad.invalid.test \"192.0.2\" is not an IPv4 address");
  EXPECT_EQ(dump_replicated_state(s1().pg, false), before);
  EXPECT_EQ(dig(s1(), "+short ok.invalid.test A"), "");

  // A CNAME beside other data: the trigger's message.
  call("PATCH", zones_url + "/invalid.test.",
       R"({"rrsets": [{"name": "www.invalid.test.", "type": "A",
      "ttl": 300, "changetype": "REPLACE", "records": [{"content": "192.0.2.7", "disabled": false}]}]})");
  r = call("PATCH", zones_url + "/invalid.test.",
           R"({"rrsets": [{"name": "www.invalid.test.", "type": "CNAME",
      "ttl": 300, "changetype": "REPLACE", "records": [{"content": "other.example.", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(
      json::parse(r.body)["error"],
      "record www.invalid.test CNAME: a CNAME cannot coexist with other data at the same name "
      "(there is A \"192.0.2.7\")");

  r = call("PATCH", zones_url + "/invalid.test.",
           R"({"rrsets": [{"name": "www.elsewhere.example.", "type": "A",
      "ttl": 300, "changetype": "REPLACE", "records": [{"content": "192.0.2.1", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("out of zone"), std::string::npos);

  r = call("PATCH", zones_url + "/invalid.test.",
           R"({"rrsets": [{"name": "x.invalid.test.", "type": "A",
      "ttl": -1, "changetype": "REPLACE", "records": [{"content": "192.0.2.1", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 422);
  r = call("PATCH", zones_url + "/invalid.test.", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(json::parse(r.body).contains("error"));
  // Deleting the SOA would leave the zone without one: refused at COMMIT.
  r = call("PATCH", zones_url + "/invalid.test.",
           R"({"rrsets": [{"name": "invalid.test.", "type": "SOA", "changetype": "DELETE"}]})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(json::parse(r.body)["error"], "zone invalid.test has no SOA record");
  r = call("POST", zones_url, R"({"name":"bad..name.", "kind": "Native", "nameservers": []})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(json::parse(r.body)["error"], "zone name \"bad..name\" has an empty label");
  r = call("POST", zones_url, R"({"name":"kind.test.", "kind": "Producer", "nameservers": []})");
  EXPECT_EQ(r.status, 422);
}

TEST_F(Api, ExternalDnsRequestsWorkUnchanged) {
  call_json("POST", zones_url, 201,
            R"({"name":"k8s.test.", "kind": "Native", "nameservers": ["ns1.k8s.test."]})");
  // external-dns lists zones, then reads and patches each by its id.
  json zones = call_json("GET", "/api/v1/servers/localhost/zones", 200);
  std::string id;
  for (const auto& z : zones) {
    if (z["name"] == "k8s.test.") id = z["id"];
  }
  ASSERT_EQ(id, "k8s.test.");
  auto r = call("PATCH", "/api/v1/servers/localhost/zones/" + id, R"({"rrsets":[
    {"name":"app.k8s.test.","type":"A","ttl":300,"changetype":"REPLACE",
     "records":[{"content":"10.0.0.1","disabled":false,"set-ptr":false}],"comments":[]},
    {"name":"alias.k8s.test.","type":"CNAME","ttl":300,"changetype":"REPLACE",
     "records":[{"content":"app.k8s.test.","disabled":false,"set-ptr":false}],"comments":[]},
    {"name":"app.k8s.test.","type":"TXT","ttl":300,"changetype":"REPLACE",
     "records":[{"content":"\"heritage=external-dns,external-dns/owner=default\"","disabled":false,"set-ptr":false}],
     "comments":[]}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  json zone = call_json("GET", "/api/v1/servers/localhost/zones/" + id, 200);
  const json* cname = find_rrset(zone, "alias.k8s.test.", "CNAME");
  ASSERT_NE(cname, nullptr);
  EXPECT_EQ((*cname)["records"][0]["content"], "app.k8s.test.") << "names come back absolute";
  const json* txt = find_rrset(zone, "app.k8s.test.", "TXT");
  ASSERT_NE(txt, nullptr);
  EXPECT_EQ((*txt)["records"][0]["content"],
            "\"heritage=external-dns,external-dns/owner=default\"");
  EXPECT_EQ(dig_until(s2(), "+short alias.k8s.test A", "app.k8s.test.\n10.0.0.1", 20000),
            "app.k8s.test.\n10.0.0.1");
  // Re-sending the same change is a no-op (external-dns repeats itself).
  const std::string serial = sql_value(s1().pg, "SELECT zonemesh.zone_serial('k8s.test')");
  r = call("PATCH", "/api/v1/servers/localhost/zones/" + id, R"({"rrsets":[
    {"name":"app.k8s.test.","type":"A","ttl":300,"changetype":"REPLACE",
     "records":[{"content":"10.0.0.1","disabled":false,"set-ptr":false}],"comments":[]}]})");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(sql_value(s1().pg, "SELECT zonemesh.zone_serial('k8s.test')"), serial);
}

TEST_F(Api, RrsetCommentsAreKeptAndReplaced) {
  call_json("POST", zones_url, 201,
            R"({"name":"comment.test.", "kind": "Native", "nameservers": ["ns1.comment.test."]})");
  // As PowerDNS-Admin sends them: records and comments together.
  auto r = call("PATCH", zones_url + "/comment.test.",
                R"({"rrsets": [{"name": "www.comment.test.", "type": "A",
      "ttl": 300, "changetype": "REPLACE", "records": [{"content": "192.0.2.1", "disabled": false}],
      "comments": [{"content": "web <b>front</b>", "account": "alice", "modified_at": 1700000000}]}]})");
  ASSERT_EQ(r.status, 204) << r.body;
  json zone = call_json("GET", zones_url + "/comment.test.", 200);
  const json* www = find_rrset(zone, "www.comment.test.", "A");
  ASSERT_NE(www, nullptr);
  EXPECT_EQ(
      (*www)["comments"],
      json::parse(
          R"([{"content": "web <b>front</b>", "account": "alice", "modified_at": 1700000000}])"));
  // A REPLACE without "comments" leaves them; one with only comments leaves the records.
  call("PATCH", zones_url + "/comment.test.",
       R"({"rrsets": [{"name": "www.comment.test.", "type": "A",
      "ttl": 300, "changetype": "REPLACE", "records": [{"content": "192.0.2.2", "disabled": false}]}]})");
  r = call("PATCH", zones_url + "/comment.test.",
           R"({"rrsets": [{"name": "www.comment.test.", "type": "A",
      "changetype": "REPLACE", "comments": [{"content": "moved", "account": ""}]}]})");
  ASSERT_EQ(r.status, 204) << r.body;
  zone = call_json("GET", zones_url + "/comment.test.?rrset_name=www.comment.test.", 200);
  ASSERT_EQ(zone["rrsets"].size(), 1u) << zone.dump();
  EXPECT_EQ(zone["rrsets"][0]["records"][0]["content"], "192.0.2.2");
  ASSERT_EQ(zone["rrsets"][0]["comments"].size(), 1u);
  EXPECT_EQ(zone["rrsets"][0]["comments"][0]["content"], "moved");
  EXPECT_GT(zone["rrsets"][0]["comments"][0]["modified_at"].get<long long>(), 1700000000);
  // They replicate like the records, and are not metadata to the metadata API.
  for (int i = 0; i < 200; ++i) {
    if (sql_value(s2().pg, "SELECT count(*) FROM zone_metadata WHERE zone = 'comment.test'") == "1")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(sql_value(s2().pg, "SELECT count(*) FROM zone_metadata WHERE zone = 'comment.test'"),
            "1");
  EXPECT_EQ(call_json("GET", zones_url + "/comment.test./metadata", 200), json::array());
  EXPECT_EQ(call("PUT", zones_url + "/comment.test./metadata/X-ZONEMESH-RRSET-COMMENT",
                 R"({"metadata": []})")
                .status,
            422);
  // DELETE takes the comments with the rrset.
  call("PATCH", zones_url + "/comment.test.",
       R"({"rrsets": [{"name": "www.comment.test.", "type": "A", "changetype": "DELETE"}]})");
  EXPECT_EQ(
      find_rrset(call_json("GET", zones_url + "/comment.test.", 200), "www.comment.test.", "A"),
      nullptr);
}

TEST_F(Api, OctoDnsRequestsWorkUnchanged) {
  // populate(): 404 for a zone that does not exist yet (PowerDNS >= 4.2).
  EXPECT_EQ(call("GET", "/api/v1/servers/localhost/zones/octo.test.").status, 404);
  // _apply(): PATCH fails with 404, so octoDNS creates the zone with its rrsets.
  EXPECT_EQ(call("PATCH", "/api/v1/servers/localhost/zones/octo.test.", R"({"rrsets": []})").status,
            404);
  auto r =
      call("POST", "/api/v1/servers/localhost/zones", R"({"name": "octo.test.", "kind": "Master",
      "masters": [], "nameservers": [], "rrsets": [
        {"name": "octo.test.", "type": "NS", "ttl": 3600, "changetype": "REPLACE",
         "records": [{"content": "ns1.octo.test.", "disabled": false}, {"content": "ns2.octo.test.", "disabled": false}]},
        {"name": "www.octo.test.", "type": "A", "ttl": 300, "changetype": "REPLACE",
         "records": [{"content": "192.0.2.80", "disabled": false}]},
        {"name": "octo.test.", "type": "TXT", "ttl": 300, "changetype": "REPLACE",
         "records": [{"content": "\"v=spf1 -all\"", "disabled": false}]},
        {"name": "octo.test.", "type": "CAA", "ttl": 300, "changetype": "REPLACE",
         "records": [{"content": "0 issue \"ca.example.net\"", "disabled": false}]},
        {"name": "_sip._tcp.octo.test.", "type": "SRV", "ttl": 300, "changetype": "REPLACE",
         "records": [{"content": "10 20 5060 sip.octo.test.", "disabled": false}]}],
      "soa_edit_api": "DEFAULT", "serial": 0})");
  ASSERT_EQ(r.status, 201) << r.body;
  json created = json::parse(r.body);
  EXPECT_EQ(created["kind"], "Master");
  const json* srv = find_rrset(created, "_sip._tcp.octo.test.", "SRV");
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ((*srv)["records"][0]["content"], "10 20 5060 sip.octo.test.");
  EXPECT_EQ(dig_until(s1(), "+short www.octo.test A", "192.0.2.80"), "192.0.2.80");
  // octoDNS sorts DELETE before REPLACE, so an A becomes a CNAME in one PATCH.
  r = call("PATCH", "/api/v1/servers/localhost/zones/octo.test.", R"({"rrsets": [
      {"name": "www.octo.test.", "type": "A", "ttl": 300, "changetype": "DELETE",
       "records": [{"content": "192.0.2.80", "disabled": false}]},
      {"name": "www.octo.test.", "type": "CNAME", "ttl": 300, "changetype": "REPLACE",
       "records": [{"content": "octo.test.", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(dig_until(s2(), "+short www.octo.test CNAME", "octo.test.", 20000), "octo.test.");
}

TEST_F(Api, ZoneIdsAreEscapedAsPowerDnsDoes) {
  auto r = call("POST", zones_url, R"({"name": "0/26.2.0.192.in-addr.arpa.", "kind": "Native",
                                       "nameservers": ["ns1.example.net."]})");
  ASSERT_EQ(r.status, 201) << r.body;
  json z = json::parse(r.body);
  EXPECT_EQ(z["id"], "0=2F26.2.0.192.in-addr.arpa.");
  EXPECT_EQ(z["url"], "/api/v1/servers/localhost/zones/0=2F26.2.0.192.in-addr.arpa.");
  EXPECT_EQ(call_json("GET", zones_url + "/0=2F26.2.0.192.in-addr.arpa.", 200)["name"],
            "0/26.2.0.192.in-addr.arpa.");
  r = call("POST", zones_url,
           R"({"name": "_under.test.", "kind": "Native", "nameservers": ["ns1.example.net."]})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["id"], "=5Funder.test.");
  EXPECT_EQ(call("GET", zones_url + "/=5Funder.test.").status, 200);
  EXPECT_EQ(call("GET", zones_url + "/=ZZunder.test.").status, 404);
}

TEST_F(Api, PutChangesTheKindAndDeleteRemovesTheZoneEverywhere) {
  call_json("POST", zones_url, 201,
            R"({"name":"gone.test.", "kind": "Native", "nameservers": ["ns1.gone.test."]})");
  EXPECT_EQ(dig_until(s2(), "+short gone.test NS", "ns1.gone.test.", 20000), "ns1.gone.test.");
  auto r = call("PUT", zones_url + "/gone.test.", R"({"kind": "Master"})");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(call_json("GET", zones_url + "/gone.test.", 200)["kind"], "Master");
  // A secondary's primaries are kept as given (Terraform compares them).
  r = call("PUT", zones_url + "/gone.test.",
           R"({"kind": "Slave", "masters": ["192.0.2.1", "192.0.2.2:5300"]})");
  EXPECT_EQ(r.status, 204) << r.body;
  json z = call_json("GET", zones_url + "/gone.test.", 200);
  EXPECT_EQ(z["kind"], "Slave");
  EXPECT_EQ(z["masters"], json::parse(R"(["192.0.2.1", "192.0.2.2:5300"])"));
  EXPECT_EQ(call_json("GET", zones_url + "?zone=gone.test.", 200)[0]["masters"], z["masters"]);
  EXPECT_EQ(call_json("GET", zones_url + "/gone.test./metadata", 200), json::array());
  EXPECT_EQ(call("PUT", zones_url + "/gone.test.", R"({"masters": ["a b"]})").status, 422);
  r = call("POST", zones_url,
           R"({"name": "secondary.test.", "kind": "Slave", "masters": ["192.0.2.9"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(json::parse(r.body)["masters"], json::parse(R"(["192.0.2.9"])"));
  r = call("PUT", zones_url + "/gone.test.", R"({"kind": "Master", "masters": []})");
  EXPECT_EQ(call_json("GET", zones_url + "/gone.test.", 200)["masters"], json::array());
  EXPECT_EQ(sql_value(s1().pg, "SELECT kind FROM zones WHERE name = 'gone.test'"), "primary");
  // lego and cert-manager webhooks ask for a NOTIFY after their change.
  r = call("PUT", zones_url + "/gone.test./notify");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["result"], "Notification queued");
  EXPECT_EQ(call("PUT", zones_url + "/gone.test./rectify").status, 200);
  EXPECT_EQ(call("PUT", zones_url + "/nonexistent.example./notify").status, 404);
  EXPECT_EQ(call_json("GET", zones_url + "/gone.test./cryptokeys", 200), json::array());
  r = call("DELETE", zones_url + "/gone.test.");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(call("GET", zones_url + "/gone.test.").status, 404);
  EXPECT_EQ(dig_until(s1(), "+short gone.test NS", ""), "");
  EXPECT_EQ(dig_until(s2(), "+short gone.test NS", "", 20000), "");
}

TEST_F(Api, ZoneFromBindTextAndExport) {
  const std::string text =
      "$ORIGIN text.test.\n$TTL 300\n"
      "@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
      "@ IN NS ns1\nns1 IN A 192.0.2.53\nwww IN CNAME ns1\n";
  auto r = call("POST", zones_url,
                json{{"name", "text.test."}, {"kind", "Native"}, {"zone", text}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(dig_until(s1(), "+short www.text.test A", "ns1.text.test.\n192.0.2.53"),
            "ns1.text.test.\n192.0.2.53");
  auto exported = call("GET", zones_url + "/text.test./export");
  EXPECT_EQ(exported.status, 200);
  EXPECT_NE(exported.body.find("www.text.test.\t300\tIN\tCNAME\tns1.text.test."), std::string::npos)
      << exported.body;
  // A zone transfer's dump, as PowerDNS's own tests send it: the SOA twice.
  r = call(
      "POST", zones_url,
      json{{"name", "axfr.test."},
           {"kind", "Master"},
           {"nameservers", json::array()},
           {"zone",
            ";; ANSWER SECTION:\n"
            "axfr.test.  86400 IN SOA ns1.axfr.test. admin.axfr.test. 7 10800 3600 604800 10800\n"
            "axfr.test.  3600  IN NS  ns1.axfr.test.\n"
            "axfr.test.  3600  IN MX  0 mail.axfr.test.\n"
            "axfr.test.  86400 IN SOA ns1.axfr.test. admin.axfr.test. 7 10800 3600 604800 10800\n"}}
          .dump());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(dig_until(s1(), "+short axfr.test MX", "0 mail.axfr.test."), "0 mail.axfr.test.");
  // A record the database refuses fails the import, with its message.
  r = call("POST", zones_url,
           json{{"name", "badtext.test."},
                {"zone",
                 "$ORIGIN badtext.test.\n@ 300 IN SOA ns1 hostmaster 1 3600 600 86400 300\n"
                 "a 300 IN CNAME x.example.\na 300 IN A 192.0.2.1\n"}}
               .dump());
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("CNAME"), std::string::npos)
      << r.body;
  EXPECT_EQ(call("GET", zones_url + "/badtext.test.").status, 404);
}

TEST_F(Api, Metadata) {
  call_json("POST", zones_url, 201,
            R"({"name":"meta.test.", "kind": "Native", "nameservers": ["ns1.meta.test."]})");
  const std::string url = zones_url + "/meta.test./metadata";
  json m = call_json("POST", url, 201,
                     R"({"kind": "ALLOW-AXFR-FROM", "metadata": ["192.0.2.0/24", "AUTO-NS"]})");
  EXPECT_EQ(
      m,
      json::parse(
          R"({"type": "Metadata", "kind": "ALLOW-AXFR-FROM", "metadata": ["192.0.2.0/24", "AUTO-NS"]})"));
  json all = call_json("GET", url, 200);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["kind"], "ALLOW-AXFR-FROM");
  m = call_json("PUT", url + "/ALLOW-AXFR-FROM", 200,
                R"({"kind": "ALLOW-AXFR-FROM", "metadata": ["198.51.100.1"]})");
  EXPECT_EQ(m["metadata"], json::parse(R"(["198.51.100.1"])"));
  EXPECT_EQ(call_json("GET", url + "/ALLOW-AXFR-FROM", 200)["metadata"],
            json::parse(R"(["198.51.100.1"])"));
  EXPECT_EQ(
      sql_value(s1().pg,
                "SELECT string_agg(content, ',') FROM zone_metadata WHERE zone = 'meta.test'"),
      "198.51.100.1");
  EXPECT_EQ(call("DELETE", url + "/ALLOW-AXFR-FROM").status, 204);
  EXPECT_EQ(call_json("GET", url, 200), json::array());
  EXPECT_EQ(call("POST", url, R"({"kind": "BAD KIND", "metadata": ["x"]})").status, 422);
  // Kinds PowerDNS manages itself are refused, as PowerDNS refuses them.
  EXPECT_EQ(call("PUT", url + "/PRESIGNED", R"({"metadata": ["1"]})").status, 422);
  // The zone id without its trailing dot works too, as in PowerDNS's own tests.
  EXPECT_EQ(
      call("PUT", zones_url + "/meta.test/metadata/X-MYMETA", R"({"metadata": ["a", "b"]})").status,
      200);
  EXPECT_EQ(call_json("GET", url + "/X-MYMETA", 200)["metadata"], json::parse(R"(["a", "b"])"));
}

TEST_F(Api, TsigKeys) {
  const std::string url = "/api/v1/servers/localhost/tsigkeys";
  json k = call_json("POST", url, 201, R"({"name": "xfr-key", "algorithm": "hmac-sha256"})");
  EXPECT_EQ(k["type"], "TSIGKey");
  EXPECT_EQ(k["name"], "xfr-key");
  EXPECT_EQ(k["id"], "xfr-key.");
  EXPECT_EQ(k["algorithm"], "hmac-sha256");
  const std::string secret = k["key"];
  EXPECT_GE(secret.size(), 40u) << "a generated 32-byte secret";
  json list = call_json("GET", url, 200);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["key"], "") << "the list does not show secrets";
  EXPECT_EQ(call_json("GET", url + "/xfr-key.", 200)["key"], secret);
  EXPECT_EQ(call("POST", url, R"({"name": "xfr-key"})").status, 409);
  k = call_json("PUT", url + "/xfr-key.", 200, R"({"algorithm": "hmac-sha512"})");
  EXPECT_EQ(k["algorithm"], "hmac-sha512");
  EXPECT_EQ(k["key"], secret);
  auto r = call("POST", url, R"({"name": "weak", "algorithm": "hmac-sha256", "key": "c2hvcnQ="})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(json::parse(r.body)["error"],
            "TSIG key weak: the secret is 5 bytes; use at least 16 random bytes");
  r = call("POST", url, R"({"name": "algo", "algorithm": "hmac-foo"})");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(call("DELETE", url + "/xfr-key.").status, 204);
  EXPECT_EQ(call("GET", url + "/xfr-key.").status, 404);
}

TEST_F(Api, SearchData) {
  call_json("POST", zones_url, 201,
            R"({"name":"search.test.", "kind": "Native", "nameservers": ["ns1.search.test."]})");
  call("PATCH", zones_url + "/search.test.",
       R"({"rrsets": [{"name": "findme.search.test.", "type": "A",
      "ttl": 300, "changetype": "REPLACE", "records": [{"content": "192.0.2.99", "disabled": false}]}]})");
  json found = call_json("GET", "/api/v1/servers/localhost/search-data?q=*findme*&max=10", 200);
  ASSERT_EQ(found.size(), 1u) << found.dump();
  EXPECT_EQ(found[0]["object_type"], "record");
  EXPECT_EQ(found[0]["name"], "findme.search.test.");
  EXPECT_EQ(found[0]["content"], "192.0.2.99");
  EXPECT_EQ(found[0]["zone_id"], "search.test.");
  json zones =
      call_json("GET", "/api/v1/servers/localhost/search-data?q=search.test&object_type=zone", 200);
  ASSERT_EQ(zones.size(), 1u) << zones.dump();
  EXPECT_EQ(
      zones[0],
      json::parse(R"({"object_type": "zone", "name": "search.test.", "zone_id": "search.test."})"));
  EXPECT_EQ(call("GET", "/api/v1/servers/localhost/search-data?q=").status, 422);
}

TEST_F(Api, Statistics) {
  json stats = call_json("GET", "/api/v1/servers/localhost/statistics", 200);
  ASSERT_TRUE(stats.is_array());
  bool uptime = false;
  for (const auto& s : stats) {
    EXPECT_EQ(s["type"], "StatisticItem");
    EXPECT_TRUE(s["name"].is_string());
    EXPECT_TRUE(s["value"].is_string());
    uptime = uptime || s["name"] == "uptime";
  }
  EXPECT_TRUE(uptime);
  json one = call_json("GET", "/api/v1/servers/localhost/statistics?statistic=zones", 200);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["value"], sql_value(s1().pg, "SELECT count(*) FROM zones"));
  EXPECT_EQ(call("GET", "/api/v1/servers/localhost/statistics?statistic=nonsense").status, 422);
}

TEST_F(Api, ClusterShowsEverySiteWithItsReplicationState) {
  json c;
  for (int i = 0; i < 100; ++i) {
    c = call_json("GET", "/api/v1/cluster", 200);
    if (c["sites"].size() == 2 && c["sites"][1].value("connected", false)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(c["node"], "site1");
  ASSERT_EQ(c["sites"].size(), 2u) << c.dump();
  EXPECT_EQ(c["sites"][0]["node"], "site1");
  EXPECT_EQ(c["sites"][0]["self"], true);
  EXPECT_EQ(c["sites"][1]["node"], "site2");
  EXPECT_EQ(c["sites"][1]["self"], false);
  EXPECT_EQ(c["sites"][1]["connected"], true);
  EXPECT_TRUE(c["sites"][1]["seconds_behind"].is_number());
  EXPECT_TRUE(c["sites"][1]["changes_behind"].is_number());
  EXPECT_TRUE(c["version_vector"].is_object());
  json c2 = json::parse(call("GET", "/api/v1/cluster", "", &s2()).body);
  EXPECT_EQ(c2["node"], "site2");
}

TEST_F(Api, TheKeyNeverAppearsInTheLogs) {
  // Requests with the right key, a wrong key and errors have all been made above;
  // make a few more so this test stands alone.
  call("GET", zones_url);
  call("GET", zones_url + "/nonexistent.example.");
  http_call(s1().http_port, "GET", zones_url, "", {"X-API-Key: " + key() + "-wrong"});
  for (const auto* s : {&s1(), &s2()}) {
    for (const char* log : {"/server.log", "/replicator.log", "/postgres.log"}) {
      std::ifstream in(s->dir + log);
      std::stringstream text;
      text << in.rdbuf();
      EXPECT_EQ(text.str().find(key()), std::string::npos) << s->dir << log;
    }
  }
  auto ps = run_command("ps axww -o args");
  EXPECT_EQ(ps.output.find(key()), std::string::npos) << "not on a command line either";
}

TEST_F(Api, TheWebUiIsServedWithoutTheKeyAndLocksScriptsDown) {
  auto page = http_get(s1().http_port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("<html"), std::string::npos);
  EXPECT_NE(page.headers.find("Content-Security-Policy: default-src 'none'; script-src 'self'"),
            std::string::npos)
      << page.headers;
  EXPECT_EQ(page.body.find(key()), std::string::npos);
  EXPECT_EQ(http_get(s1().http_port, "/ui/app.js").status, 200);
  EXPECT_EQ(http_get(s1().http_port, "/ui/nonexistent.js").status, 404);
}

/// Stops or starts one process of one site of the API tests' cluster.
bool cluster_process(const std::string& verb, const std::string& node, const std::string& process,
                     const std::string& dir) {
  auto r = run_command("ZONEMESH_BUILD_DIR='" + std::string(ZONEMESH_BINARY_DIR) + "' '" +
                       std::string(ZONEMESH_SOURCE_DIR) + "/scripts/cluster' " + verb + " --site " + node +
                       " --process " + process + " --dir '" + dir + "'");
  EXPECT_EQ(r.status, 0) << r.output;
  return r.status == 0;
}

/// The RRset's TTL and sorted record contents as one site's API lists them
/// ("" when it has none).
std::string listed_rrset(const site& at, const std::string& key, const std::string& zone,
                         const std::string& name) {
  auto r = http_call(at.http_port, "GET",
                     zones_url + "/" + zone + "?rrset_name=" + name + "&rrset_type=A", "",
                     {"X-API-Key: " + key});
  if (r.status != 200) return "status " + std::to_string(r.status);
  json z = json::parse(r.body, nullptr, false);
  if (!z.is_object() || !z.contains("rrsets") || z["rrsets"].empty()) return "";
  const json& set = z["rrsets"][0];
  std::vector<std::string> contents;
  for (const auto& rec : set["records"]) contents.push_back(rec["content"]);
  std::sort(contents.begin(), contents.end());
  std::string out = std::to_string(set["ttl"].get<long long>());
  for (const auto& c : contents) out += " " + c;
  return out;
}

// Two clients replace one RRset at two sites that cannot see each other;
// after the link is back, every site has one client's RRset, never a mix.
TEST_F(Api, ConcurrentReplacesAtTwoSitesEndWithOneClientsRRsetEverywhere) {
  call_json("POST", zones_url, 201,
            R"({"name":"concurrent.test.", "kind": "Native", "nameservers": ["ns1.concurrent.test."]})");
  ASSERT_EQ(dig_until(s2(), "+short concurrent.test NS", "ns1.concurrent.test.", 20000), "ns1.concurrent.test.");
  auto replace = [&](const site& at, const std::string& name, int ttl, const std::vector<std::string>& ips) {
    std::string records;
    for (const auto& ip : ips) {
      records += std::string(records.empty() ? "" : ",") + R"({"content": ")" + ip + R"(", "disabled": false})";
    }
    return call("PATCH", zones_url + "/concurrent.test.",
                R"({"rrsets": [{"name": ")" + name + R"(", "type": "A", "ttl": )" + std::to_string(ttl) +
                    R"(, "changetype": "REPLACE", "records": [)" + records + "]}]}",
                &at)
        .status;
  };
  const std::vector<std::string> names = {"seq.concurrent.test.", "c0.concurrent.test.", "c1.concurrent.test.",
                                          "c2.concurrent.test.", "c3.concurrent.test."};
  // One record to start with; the clients replace it with two and with one
  // (a replace done by rewriting rows in place would leave a mix).
  for (const auto& n : names) EXPECT_EQ(replace(s1(), n, 120, {"192.0.2.100"}), 204);
  for (const auto& n : names) {
    EXPECT_EQ(dig_until(s2(), "+short " + n + " A", "192.0.2.100", 20000), "192.0.2.100");
  }
  const std::string client1 = "300 192.0.2.1 192.0.2.3", client2 = "600 192.0.2.2";
  ASSERT_TRUE(cluster_process("stop", "site2", "replicator", cluster_->dir()));
  // One after the other: the later client's RRset wins.
  EXPECT_EQ(replace(s1(), names[0], 300, {"192.0.2.1", "192.0.2.3"}), 204);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(replace(s2(), names[0], 600, {"192.0.2.2"}), 204);
  // At the same moment: either may win, but whole.
  for (std::size_t i = 1; i < names.size(); ++i) {
    std::thread other([&] { EXPECT_EQ(replace(s2(), names[i], 600, {"192.0.2.2"}), 204); });
    EXPECT_EQ(replace(s1(), names[i], 300, {"192.0.2.1", "192.0.2.3"}), 204);
    other.join();
  }
  EXPECT_EQ(listed_rrset(s1(), key(), "concurrent.test.", names[0]), client1);
  EXPECT_EQ(listed_rrset(s2(), key(), "concurrent.test.", names[0]), client2);
  ASSERT_TRUE(cluster_process("start", "site2", "replicator", cluster_->dir()));

  // Wait until both sites list the same RRsets.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto same = [&] {
    for (const auto& n : names) {
      if (listed_rrset(s1(), key(), "concurrent.test.", n) != listed_rrset(s2(), key(), "concurrent.test.", n)) {
        return false;
      }
    }
    return dump_replicated_state(s1().pg, false) == dump_replicated_state(s2().pg, false);
  };
  while (!same() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(same()) << "the sites do not converge";
  EXPECT_EQ(listed_rrset(s1(), key(), "concurrent.test.", names[0]), client2) << "the later replace wins";
  EXPECT_EQ(dig_until(s1(), "+short " + names[0] + " A | sort", "192.0.2.2"), "192.0.2.2");
  EXPECT_EQ(dig_until(s2(), "+short " + names[0] + " A | sort", "192.0.2.2"), "192.0.2.2");
  for (std::size_t i = 1; i < names.size(); ++i) {
    const std::string got = listed_rrset(s1(), key(), "concurrent.test.", names[i]);
    EXPECT_TRUE(got == client1 || got == client2) << names[i] << " is a mix: " << got;
    const std::string answer = got == client1 ? "192.0.2.1\n192.0.2.3" : "192.0.2.2";
    EXPECT_EQ(dig_until(s1(), "+short " + names[i] + " A | sort", answer), answer) << names[i];
    EXPECT_EQ(dig_until(s2(), "+short " + names[i] + " A | sort", answer), answer) << names[i];
  }
}

TEST_F(Api, DeletingTheApexNsRRsetIs422AndChangesNothing) {
  call_json("POST", zones_url, 201,
            R"({"name":"apexns.test.", "kind": "Native", "nameservers": ["ns1.apexns.test.", "ns2.apexns.test."]})");
  auto r = call("PATCH", zones_url + "/apexns.test.",
                R"({"rrsets": [{"name": "apexns.test.", "type": "NS", "changetype": "DELETE"}]})");
  EXPECT_EQ(r.status, 422) << r.body;
  json error = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(error.is_object()) << r.body;
  EXPECT_NE(error.value("error", "").find("apexns.test"), std::string::npos) << "the error names the zone: " << r.body;
  // REPLACE with no records deletes the RRset too.
  r = call("PATCH", zones_url + "/apexns.test.",
           R"({"rrsets": [{"name": "apexns.test.", "type": "NS", "ttl": 3600, "changetype": "REPLACE", "records": []}]})");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(dig_until(s1(), "+short apexns.test NS | sort", "ns1.apexns.test.\nns2.apexns.test."),
            "ns1.apexns.test.\nns2.apexns.test.");
  EXPECT_EQ(dig_until(s2(), "+short apexns.test NS | sort", "ns1.apexns.test.\nns2.apexns.test.", 20000),
            "ns1.apexns.test.\nns2.apexns.test.");
  // A delegation's NS RRset can be deleted.
  r = call("PATCH", zones_url + "/apexns.test.",
           R"({"rrsets": [{"name": "child.apexns.test.", "type": "NS", "ttl": 3600, "changetype": "REPLACE",
               "records": [{"content": "ns1.example.net.", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  r = call("PATCH", zones_url + "/apexns.test.",
           R"({"rrsets": [{"name": "child.apexns.test.", "type": "NS", "changetype": "DELETE"}]})");
  EXPECT_EQ(r.status, 204) << r.body;
}

// Last: it stops site1's database.
TEST_F(Api, ADatabaseOutageIs503AndTheApiRecoversAfterIt) {
  stop_postgres(s1());
  auto r = call("GET", zones_url);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << r.body;
  r = call("PATCH", zones_url + "/patch.test.", R"({"rrsets": []})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(http_get(s1().http_port, "/").status, 200) << "the UI's page is still served";
  start_postgres(s1());
  r = call("GET", zones_url);
  EXPECT_EQ(r.status, 200) << r.body;
  r = call("PATCH", zones_url + "/patch.test.",
           R"({"rrsets": [{"name": "after.patch.test.", "type": "A",
      "ttl": 300, "changetype": "REPLACE", "records": [{"content": "192.0.2.77", "disabled": false}]}]})");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(dig_until(s2(), "+short after.patch.test A", "192.0.2.77", 30000), "192.0.2.77");
}

}  // namespace
}  // namespace zonemesh::test
