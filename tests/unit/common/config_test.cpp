// Tests for lib/common/config.*: the server's configuration file.
#include "common/config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace zonemesh::common {
namespace {

// The error message parse_config throws for `text`, or "" when it parses.
std::string error_of(std::string_view text) {
  try {
    (void)parse_config(text, "test.conf");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, MinimalFileGetsDefaults) {
  const auto cfg = parse_config("[server]\nnode = a1\n", "test.conf");
  EXPECT_EQ(cfg.server.node, "a1");
  ASSERT_EQ(cfg.server.listen.size(), 2u);
  EXPECT_EQ(cfg.server.listen[0].to_string(), "0.0.0.0:53");
  EXPECT_EQ(cfg.server.listen[1].to_string(), "[::]:53");
  EXPECT_EQ(cfg.server.workers, 0u);
  EXPECT_GE(cfg.server.effective_workers(), 1u);
  EXPECT_EQ(cfg.server.tcp_idle_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(cfg.server.tcp_max_connections, 1024u);
  ASSERT_TRUE(cfg.server.hostname.has_value());
  EXPECT_FALSE(cfg.server.hostname->empty());
  ASSERT_TRUE(cfg.server.version.has_value());
  EXPECT_EQ(cfg.server.version->rfind("zonemesh ", 0), 0u);
  EXPECT_TRUE(cfg.server.nsid.empty());
  EXPECT_EQ(cfg.database.conninfo, "");
  EXPECT_EQ(cfg.http.listen.to_string(), "127.0.0.1:8081");
  EXPECT_EQ(cfg.http.api_key, "");
  EXPECT_EQ(cfg.log.level, log_level::info);
}

TEST(Config, EveryKeyParses) {
  const auto cfg = parse_config(R"(
# comment
; another comment
[server]
node = site_b-2
listen = 127.0.0.1:5353
listen = [::1]:5353
  listen=192.0.2.1:0
workers = 4
tcp_idle_timeout_ms = 2500
tcp_max_connections = 77
hostname = ns1.example
version = "  my version  "
nsid = hex:0aFF10

[database]
conninfo = host=/tmp dbname=zm user=zonemesh

[http]
listen = [::]:8080
api_key = s3cret#not-a-comment

[ log ]
level = debug
)",
                                "test.conf");
  EXPECT_EQ(cfg.server.node, "site_b-2");
  ASSERT_EQ(cfg.server.listen.size(), 3u);
  EXPECT_EQ(cfg.server.listen[0].address, "127.0.0.1");
  EXPECT_EQ(cfg.server.listen[0].port, 5353);
  EXPECT_FALSE(cfg.server.listen[0].is_ipv6);
  EXPECT_EQ(cfg.server.listen[1].address, "::1");
  EXPECT_TRUE(cfg.server.listen[1].is_ipv6);
  EXPECT_EQ(cfg.server.listen[2].port, 0);
  EXPECT_EQ(cfg.server.workers, 4u);
  EXPECT_EQ(cfg.server.effective_workers(), 4u);
  EXPECT_EQ(cfg.server.tcp_idle_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(cfg.server.tcp_max_connections, 77u);
  EXPECT_EQ(cfg.server.hostname, "ns1.example");
  EXPECT_EQ(cfg.server.version, "  my version  ");
  EXPECT_EQ(cfg.server.nsid, (std::vector<std::uint8_t>{0x0a, 0xff, 0x10}));
  EXPECT_EQ(cfg.database.conninfo, "host=/tmp dbname=zm user=zonemesh");
  EXPECT_EQ(cfg.http.listen.to_string(), "[::]:8080");
  EXPECT_EQ(cfg.http.api_key, "s3cret#not-a-comment");
  EXPECT_EQ(cfg.log.level, log_level::debug);
}

TEST(Config, NoneDisablesChaosAnswersAndNsid) {
  const auto cfg = parse_config(
      "[server]\nnode=x\nhostname = none\nversion = none\nnsid = none\n[http]\napi_key =\n");
  EXPECT_FALSE(cfg.server.hostname.has_value());
  EXPECT_FALSE(cfg.server.version.has_value());
  EXPECT_TRUE(cfg.server.nsid.empty());
}

TEST(Config, TextNsidIsItsBytes) {
  const auto cfg = parse_config("[server]\nnode=x\nnsid = ams-1\n");
  EXPECT_EQ(std::string(cfg.server.nsid.begin(), cfg.server.nsid.end()), "ams-1");
}

TEST(Config, CrlfLineEndingsAndNoFinalNewline) {
  const auto cfg = parse_config("[server]\r\nnode = a\r\nworkers = 2");
  EXPECT_EQ(cfg.server.node, "a");
  EXPECT_EQ(cfg.server.workers, 2u);
}

TEST(Config, RrlAndCookies) {
  auto cfg = parse_config("[server]\nnode = a\n");
  EXPECT_TRUE(cfg.rrl.enabled) << "on by default (docs/operations.md)";
  EXPECT_EQ(cfg.rrl.responses_per_second, 200u);
  EXPECT_EQ(cfg.rrl.slip, 2u);
  EXPECT_TRUE(cfg.cookies.enabled);
  EXPECT_TRUE(cfg.cookies.secret.empty());
  cfg = parse_config(
      "[server]\nnode = a\n[rrl]\nenabled = no\nresponses_per_second = 5\nslip = 0\n"
      "ipv4_prefix = 32\nipv6_prefix = 48\nwhitelist = 192.0.2.0/24, 2001:db8::/32 ,198.51.100.1\n"
      "table_size = 2048\n[cookies]\nsecret = 000102030405060708090a0b0c0d0e0f\n"
      "also_accept = ffeeddccbbaa99887766554433221100\n");
  EXPECT_FALSE(cfg.rrl.enabled);
  EXPECT_EQ(cfg.rrl.responses_per_second, 5u);
  EXPECT_EQ(cfg.rrl.slip, 0u);
  EXPECT_EQ(cfg.rrl.ipv4_prefix, 32);
  EXPECT_EQ(cfg.rrl.ipv6_prefix, 48);
  EXPECT_EQ(cfg.rrl.whitelist,
            (std::vector<std::string>{"192.0.2.0/24", "2001:db8::/32", "198.51.100.1"}));
  EXPECT_EQ(cfg.rrl.table_size, 2048u);
  ASSERT_EQ(cfg.cookies.secret.size(), 16u);
  EXPECT_EQ(cfg.cookies.secret[15], 0x0f);
  ASSERT_EQ(cfg.cookies.also_accept.size(), 1u);
  EXPECT_EQ(cfg.cookies.also_accept[0][0], 0xff);
  EXPECT_NE(error_of("[server]\nnode=a\n[rrl]\nwhitelist = 192.0.2.0/33\n").find("not an address"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nnode=a\n[rrl]\nslip = 101\n").find("0 to 100"), std::string::npos);
  EXPECT_NE(error_of("[server]\nnode=a\n[cookies]\nsecret = 0011\n").find("32 hex digits"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nnode=a\n[cookies]\nenabled = maybe\n").find("yes or no"),
            std::string::npos);
  // A secret file with a trailing newline, as `openssl rand -hex 16 > file` writes it.
  const std::string path = ::testing::TempDir() + "/cookie-secret";
  std::ofstream(path) << "000102030405060708090a0b0c0d0e0f\n";
  cfg = parse_config("[server]\nnode = a\n[cookies]\nsecret_file = " + path + "\n");
  EXPECT_EQ(cfg.cookies.secret.size(), 16u);
  std::remove(path.c_str());
}

TEST(Config, ExampleParsesAsIs) {
  const auto cfg = parse_config(example_config(), "example");
  EXPECT_EQ(cfg.server.node, "site-a");
  EXPECT_EQ(cfg.server.listen.size(), 2u);
  EXPECT_FALSE(cfg.server.version.has_value());
  EXPECT_EQ(cfg.http.listen.port, 8081);
}

struct error_case {
  const char* text;
  const char* expected;  // substring of the message
};

class ConfigError : public testing::TestWithParam<error_case> {};

TEST_P(ConfigError, NamesFileLineAndProblem) {
  const auto msg = error_of(GetParam().text);
  ASSERT_FALSE(msg.empty()) << "parsed without error: " << GetParam().text;
  EXPECT_NE(msg.find(GetParam().expected), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    EachErrorPath, ConfigError,
    testing::Values(
        error_case{"[server]\nnode=a\n[nope]\n", "test.conf:3: unknown section [nope]"},
        error_case{"[server\nnode=a\n", "test.conf:1: section header '[server' lacks ']'"},
        error_case{"node = a\n", "test.conf:1: key 'node' before any [section]"},
        error_case{"[server]\nnode a\n", "test.conf:2: expected 'key = value'"},
        error_case{"[server]\n = a\n", "test.conf:2: missing key before '='"},
        error_case{"[server]\nnode=a\nbogus = 1\n", "test.conf:3: unknown key 'bogus' in [server]"},
        error_case{"[server]\nnode=a\n[database]\nhost=x\n", "test.conf:4: unknown key 'host'"},
        error_case{"[server]\nnode=a\n[http]\nport=1\n",
                   "test.conf:4: unknown key 'port' in [http]"},
        error_case{"[server]\nnode=a\n[log]\nfile=x\n", "test.conf:4: unknown key 'file' in [log]"},
        error_case{"[server]\nnode=a\nnode=b\n", "test.conf:3: key 'node' set twice"},
        error_case{"[server]\nnode=\n", "test.conf:2: empty value for 'node'"},
        error_case{"[server]\nnode=a b\n", "test.conf:2: bad value 'a b' for 'node'"},
        error_case{"[server]\nnode=\"a\n", "test.conf:2: unbalanced double quote"},
        error_case{"[server]\nnode=a\nlisten=localhost:53\n", "test.conf:3: bad value"},
        error_case{"[server]\nnode=a\nlisten=localhost:53\n", "host names are not accepted"},
        error_case{"[server]\nnode=a\nlisten=127.0.0.1\n", "missing ':port'"},
        error_case{"[server]\nnode=a\nlisten=127.0.0.1:70000\n", "not a number from 0 to 65535"},
        error_case{"[server]\nnode=a\nlisten=127.0.0.1:5x\n", "not a number from 0 to 65535"},
        error_case{"[server]\nnode=a\nlisten=::1:53\n", "must be in brackets"},
        error_case{"[server]\nnode=a\nlisten=[::1:53\n", "missing ']'"},
        error_case{"[server]\nnode=a\nlisten=[::1]53\n", "expected ':port'"},
        error_case{"[server]\nnode=a\nlisten=[1.2.3.4]:53\n", "not an IPv6 address"},
        error_case{"[server]\nnode=a\nlisten=1.2.3.4:53\nlisten=1.2.3.4:53\n",
                   "test.conf:4: bad value '1.2.3.4:53' for 'listen': address listed twice"},
        error_case{"[server]\nnode=a\nworkers=0\n", "test.conf:3: bad value '0' for 'workers'"},
        error_case{"[server]\nnode=a\nworkers=-1\n", "bad value '-1' for 'workers'"},
        error_case{"[server]\nnode=a\nworkers=2000\n", "bad value '2000' for 'workers'"},
        error_case{"[server]\nnode=a\ntcp_idle_timeout_ms=0\n", "for 'tcp_idle_timeout_ms'"},
        error_case{"[server]\nnode=a\ntcp_idle_timeout_ms=10s\n", "for 'tcp_idle_timeout_ms'"},
        error_case{"[server]\nnode=a\ntcp_max_connections=0\n", "for 'tcp_max_connections'"},
        error_case{"[server]\nnode=a\nnsid=hex:abc\n", "even number of hex digits"},
        error_case{"[server]\nnode=a\nnsid=hex:zz\n", "even number of hex digits"},
        error_case{"[server]\nnode=a\nnsid=hex:\n", "even number of hex digits"},
        error_case{"[server]\nnode=a\n[http]\nlisten=nowhere\n", "test.conf:4: bad value"},
        error_case{"[server]\nnode=a\n[log]\nlevel=loud\n",
                   "test.conf:4: bad value 'loud' for 'level'"},
        error_case{"[server]\nworkers=1\n", "test.conf: missing required key 'node' in [server]"},
        error_case{"", "missing required key 'node'"}));

TEST(Config, OverlongTextValuesAreRefused) {
  const std::string long_text(256, 'x');
  EXPECT_NE(error_of("[server]\nnode=a\nversion=" + long_text + "\n").find("longer than 255"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nnode=a\nhostname=" + long_text + "\n").find("longer than 255"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nnode=a\nnsid=" + std::string(513, 'y') + "\n")
                .find("NSID longer than 512"),
            std::string::npos);
}

TEST(Config, LoadConfigReadsFileAndNamesItInErrors) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto good = dir / ("zonemesh_config_test_good_" + std::to_string(::getpid()) + ".conf");
  const auto bad = dir / ("zonemesh_config_test_bad_" + std::to_string(::getpid()) + ".conf");
  {
    std::ofstream(good) << "[server]\nnode = f1\n";
    std::ofstream(bad) << "[server]\nnode = f1\n\nworkers = many\n";
  }
  EXPECT_EQ(load_config(good).server.node, "f1");
  try {
    (void)load_config(bad);
    ADD_FAILURE() << "bad file parsed";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string() + ":4: bad value 'many' for 'workers'"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
  EXPECT_THROW((void)load_config(dir / "zonemesh-does-not-exist.conf"), std::runtime_error);
}

TEST(ListenAddress, ParsesBothFamilies) {
  std::string err;
  auto v4 = parse_listen_address("192.0.2.7:853", err);
  ASSERT_TRUE(v4) << err;
  EXPECT_EQ(v4->address, "192.0.2.7");
  EXPECT_EQ(v4->port, 853);
  auto v6 = parse_listen_address("[2001:db8::53]:53", err);
  ASSERT_TRUE(v6) << err;
  EXPECT_EQ(v6->address, "2001:db8::53");
  EXPECT_TRUE(v6->is_ipv6);
  EXPECT_EQ(v6->to_string(), "[2001:db8::53]:53");
  EXPECT_FALSE(parse_listen_address("", err));
  EXPECT_FALSE(parse_listen_address(":53", err));
  EXPECT_FALSE(parse_listen_address("[]:53", err));
  EXPECT_FALSE(parse_listen_address("1.2.3.4:", err));
}

TEST(LogLevel, NamesRoundTrip) {
  for (auto level : {log_level::trace, log_level::debug, log_level::info, log_level::warn,
                     log_level::error, log_level::critical, log_level::off}) {
    EXPECT_EQ(parse_log_level(to_string(level)), level);
  }
  EXPECT_EQ(parse_log_level("warning"), log_level::warn);
  EXPECT_FALSE(parse_log_level("INFO"));
}


TEST(Config, DnssecSignatureTimesParseAndAreChecked) {
  const auto defaults = parse_config("[server]\nnode = a\n");
  EXPECT_EQ(defaults.server.dnssec_signature_validity, std::chrono::seconds(1209600));
  EXPECT_EQ(defaults.server.dnssec_signature_refresh, std::chrono::seconds(604800));
  const auto set = parse_config(
      "[server]\nnode = a\ndnssec_signature_validity = 86400\ndnssec_signature_refresh = 43200\n");
  EXPECT_EQ(set.server.dnssec_signature_validity, std::chrono::seconds(86400));
  EXPECT_EQ(set.server.dnssec_signature_refresh, std::chrono::seconds(43200));
  EXPECT_NE(error_of("[server]\nnode = a\ndnssec_signature_validity = 10\n").find("3600 to 31536000"),
            std::string::npos);
  EXPECT_NE(error_of("[server]\nnode = a\ndnssec_signature_validity = 7200\ndnssec_signature_refresh = 7200\n")
                .find("less than dnssec_signature_validity"),
            std::string::npos);
  const auto example = parse_config(example_config(), "example");
  EXPECT_EQ(example.server.dnssec_signature_validity, std::chrono::seconds(1209600));
}

}  // namespace
}  // namespace zonemesh::common
