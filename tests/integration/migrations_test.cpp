// The migration runner: applies what the database lacks, records it, does
// nothing the second time, and programs refuse a schema they do not know.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "harness.hpp"

namespace zonemesh::test {
namespace {

class Migrations : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { cluster_ = std::make_unique<cluster>(1, std::vector<std::string>{"--no-server"}); }
  static void TearDownTestSuite() { cluster_.reset(); }
  static std::string db() { return cluster_->at(0).pg; }
  static command_result admin(const std::string& args) {
    return run_command(binary("server/zonemesh-admin") + " " + args);
  }
  static std::unique_ptr<cluster> cluster_;
};
std::unique_ptr<cluster> Migrations::cluster_;

TEST_F(Migrations, AppliedOnceAndRecorded) {
  auto versions = sql_value(db(), "SELECT string_agg(version::text, ',' ORDER BY version) FROM zonemesh.schema_migrations");
  EXPECT_EQ(versions.substr(0, 7), "1,2,3,4");
  auto again = admin("migrate --db '" + db() + "'");
  EXPECT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(again.output.find("applied"), std::string::npos) << "nothing to apply the second time: " << again.output;
  EXPECT_EQ(sql_value(db(), "SELECT string_agg(version::text, ',' ORDER BY version) FROM zonemesh.schema_migrations"),
            versions);
}

TEST_F(Migrations, NodeIdCannotChange) {
  auto r = admin("migrate --db '" + db() + "' --node other");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("belongs to node \"site1\""), std::string::npos) << r.output;
  EXPECT_EQ(sql_value(db(), "SELECT node_id FROM zonemesh.node"), "site1");
}

TEST_F(Migrations, NewerSchemaIsRefusedByEveryProgram) {
  ASSERT_EQ(sql_error(db(), "INSERT INTO zonemesh.schema_migrations (version, name, checksum) "
                            "VALUES (999, '999_future', 'x')"),
            "");
  auto r = admin("migrate --db '" + db() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("newer than this zonemesh binary knows"), std::string::npos) << r.output;

  // The server refuses to serve from it (and says why), rather than misreading it.
  char conf[] = "/tmp/zonemesh-newer-XXXXXX";
  int fd = mkstemp(conf);
  ASSERT_GE(fd, 0);
  std::string text = "[server]\nnode = site1\nlisten = 127.0.0.1:0\n[database]\nconninfo = " + db() +
                     "\n[http]\nlisten = 127.0.0.1:0\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  auto server = run_command("timeout 20 " + binary("server/zonemesh-server") + " --config " + conf);
  unlink(conf);
  EXPECT_EQ(server.status, 1) << "the server exits instead of serving: " << server.output;
  EXPECT_NE(server.output.find("newer than this zonemesh binary knows"), std::string::npos) << server.output;
  ASSERT_EQ(sql_error(db(), "DELETE FROM zonemesh.schema_migrations WHERE version = 999"), "");
}

TEST_F(Migrations, EditedMigrationIsNoticed) {
  ASSERT_EQ(sql_error(db(), "UPDATE zonemesh.schema_migrations SET checksum = 'edited' WHERE version = 2"), "");
  auto r = admin("migrate --db '" + db() + "'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("different content"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace zonemesh::test
