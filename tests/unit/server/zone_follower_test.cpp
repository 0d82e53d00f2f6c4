// Tests for server/zone_follower.*: the COPY text rows the full load reads.
#include "zone_follower.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

using zonemesh::server::split_copy_line;

TEST(CopyLine, SplitsFiveFields) {
  std::string line = "example.com\twww.example.com\tA\t300\t192.0.2.1\n";
  std::array<std::string_view, 5> f;
  ASSERT_TRUE(split_copy_line(line, f));
  EXPECT_EQ(f[0], "example.com");
  EXPECT_EQ(f[1], "www.example.com");
  EXPECT_EQ(f[2], "A");
  EXPECT_EQ(f[3], "300");
  EXPECT_EQ(f[4], "192.0.2.1");
}

TEST(CopyLine, UndoesCopyEscapes) {
  // What PostgreSQL writes for a TXT content holding a backslash, a tab, a
  // newline and an octal/hex escaped octet, and an empty last field.
  std::string line = R"(z	t.z	TXT	60	"a\\b\tc\nd\101\x42")";
  std::array<std::string_view, 5> f;
  ASSERT_TRUE(split_copy_line(line, f));
  EXPECT_EQ(f[4], "\"a\\b\tc\ndAB\"");
  std::string empty_last = "z\tn\tTXT\t60\t";
  ASSERT_TRUE(split_copy_line(empty_last, f));
  EXPECT_EQ(f[4], "");
}

TEST(CopyLine, RefusesWrongShapes) {
  std::array<std::string_view, 5> f;
  std::string short_line = "z\tn\tA\t60";
  EXPECT_FALSE(split_copy_line(short_line, f));
  std::string long_line = "z\tn\tA\t60\t1.2.3.4\textra";
  EXPECT_FALSE(split_copy_line(long_line, f));
  std::string null_field = "z\tn\tA\t\\N\t1.2.3.4";
  EXPECT_FALSE(split_copy_line(null_field, f));
  std::string dangling = "z\tn\tA\t60\t1.2.3.4\\";
  EXPECT_FALSE(split_copy_line(dangling, f));
}
