// [http] api_key_file: the API key read from a file, and its errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "common/config.hpp"

namespace zonemesh::common {
namespace {

class ApiKeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zonemesh-key-XXXXXX";
    const int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    path_ = tmpl;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void write(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }
  std::string config(const std::string& http) { return "[server]\nnode = a\n[http]\n" + http; }
  std::string path_;
};

TEST_F(ApiKeyFile, ReadsTheKeyWithoutSurroundingBlanks) {
  write("  k3y-from-file\n\n");
  EXPECT_EQ(parse_config(config("api_key_file = " + path_ + "\n")).http.api_key, "k3y-from-file");
  // An empty api_key line beside it is no conflict.
  EXPECT_EQ(parse_config(config("api_key =\napi_key_file = " + path_ + "\n")).http.api_key,
            "k3y-from-file");
}

TEST_F(ApiKeyFile, RefusesBothKeysAnEmptyFileAndAMissingFile) {
  write("k\n");
  EXPECT_THROW((void)parse_config(config("api_key = x\napi_key_file = " + path_ + "\n")),
               std::runtime_error);
  EXPECT_THROW((void)parse_config(config("api_key_file = " + path_ + "\napi_key = x\n")),
               std::runtime_error);
  write(" \n");
  try {
    (void)parse_config(config("api_key_file = " + path_ + "\n"), "server.conf");
    FAIL() << "an empty key file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("server.conf:4: bad value"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("the file is empty"), std::string::npos) << e.what();
  }
  write("two\nlines\n");
  EXPECT_THROW((void)parse_config(config("api_key_file = " + path_ + "\n")), std::runtime_error);
  EXPECT_THROW((void)parse_config(config("api_key_file = /nonexistent/key\n")), std::runtime_error);
}

TEST_F(ApiKeyFile, TheExampleConfigDocumentsIt) {
  EXPECT_NE(example_config().find("api_key_file"), std::string::npos);
  (void)parse_config(example_config());
}

}  // namespace
}  // namespace zonemesh::common
