// Tests for lib/dns/name.*
#include "dns/name.hpp"

#include <gtest/gtest.h>

#include <string>

using zonemesh::dns::name;
using zonemesh::dns::name_status;

namespace {
name make(std::string_view text) {
  name n;
  EXPECT_EQ(name::from_text(text, n), name_status::ok) << text;
  return n;
}
}  // namespace

TEST(Name, ParsesPresentationWithAndWithoutTrailingDot) {
  const name a = make("www.Example.com");
  const name b = make("www.example.COM.");
  EXPECT_EQ(a.wire_length(), 17u);
  EXPECT_EQ(a.label_count(), 3u);
  EXPECT_TRUE(a.equals(b));
  EXPECT_EQ(a.to_string(), "www.Example.com.");  // case preserved
}

TEST(Name, RootForms) {
  EXPECT_TRUE(make(".").is_root());
  EXPECT_TRUE(make("").is_root());
  EXPECT_EQ(make(".").to_string(), ".");
}

TEST(Name, RejectsEmptyLabelsAndOverlongInput) {
  name n;
  EXPECT_EQ(name::from_text("a..b", n), name_status::empty_label);
  EXPECT_EQ(name::from_text(".a", n), name_status::empty_label);
  EXPECT_EQ(name::from_text(std::string(64, 'a'), n), name_status::label_too_long);
  EXPECT_EQ(name::from_text(std::string(63, 'a'), n), name_status::ok);
  std::string longname;
  for (int i = 0; i < 4; ++i) longname += std::string(63, 'a') + ".";
  EXPECT_EQ(name::from_text(longname, n), name_status::name_too_long);  // 4*64+1 = 257
  std::string fits = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                     std::string(63, 'c') + "." + std::string(61, 'd');  // 253 + root = 255
  EXPECT_EQ(name::from_text(fits, n), name_status::ok);
  EXPECT_EQ(n.wire_length(), 255u);
  EXPECT_EQ(name::from_text(fits + "d", n), name_status::name_too_long);
}

TEST(Name, Escapes) {
  const name n = make("a\\.b.c\\065\\\\.");
  EXPECT_EQ(n.label_count(), 2u);
  EXPECT_EQ(n.wire()[0], 3);  // "a.b"
  EXPECT_EQ(n.to_string(), "a\\.b.cA\\\\.");
  name bad;
  EXPECT_EQ(name::from_text("a\\25", bad), name_status::bad_escape);
  EXPECT_EQ(name::from_text("a\\256", bad), name_status::bad_escape);
  EXPECT_EQ(name::from_text("a\\", bad), name_status::bad_escape);
  EXPECT_EQ(make("\\000x").to_string(), "\\000x.");
}

TEST(Name, WireValidation) {
  const std::uint8_t good[] = {3, 'w', 'w', 'w', 0};
  const std::uint8_t pointer[] = {0xc0, 12};
  const std::uint8_t unterminated[] = {3, 'w', 'w', 'w'};
  name n;
  EXPECT_EQ(name::from_wire(good, n), name_status::ok);
  EXPECT_EQ(n.to_string(), "www.");
  EXPECT_EQ(name::from_wire(pointer, n), name_status::bad_wire);
  EXPECT_EQ(name::from_wire(unterminated, n), name_status::bad_wire);
}

TEST(Name, SubdomainAndParent) {
  const name child = make("a.b.Example.com");
  EXPECT_TRUE(child.is_subdomain_of(make("example.COM")));
  EXPECT_TRUE(child.is_subdomain_of(child));
  EXPECT_TRUE(child.is_subdomain_of(name{}));
  EXPECT_FALSE(child.is_subdomain_of(make("b.example.org")));
  EXPECT_FALSE(make("xexample.com").is_subdomain_of(make("example.com")));
  EXPECT_EQ(child.parent().to_string(), "b.Example.com.");
  name root;
  EXPECT_TRUE(root.parent().is_root());
}

TEST(Name, ReplaceSuffixForDname) {
  name out;
  ASSERT_EQ(make("www.a.example").replace_suffix(make("example"), make("b.org"), out),
            name_status::ok);
  EXPECT_EQ(out.to_string(), "www.a.b.org.");
  const name owner = make(std::string(63, 'x') + "." + std::string(63, 'y') + ".example");
  const name target = make(std::string(63, 'z') + "." + std::string(63, 'w') + ".long");
  EXPECT_EQ(owner.replace_suffix(make("example"), target, out), name_status::name_too_long);
}

TEST(Name, CanonicalOrderFromRfc4034) {
  // RFC 4034 section 6.1 example, in order.
  const char* ordered[] = {"example",         "a.example",      "yljkjljk.a.example",
                           "Z.a.example",     "zABC.a.EXAMPLE", "z.example",
                           "\\001.z.example", "*.z.example",    "\\200.z.example"};
  for (std::size_t i = 0; i + 1 < std::size(ordered); ++i) {
    EXPECT_LT(canonical_compare(make(ordered[i]), make(ordered[i + 1])), 0)
        << ordered[i] << " < " << ordered[i + 1];
    EXPECT_GT(canonical_compare(make(ordered[i + 1]), make(ordered[i])), 0);
  }
  EXPECT_EQ(canonical_compare(make("A.example"), make("a.EXAMPLE")), 0);
}

TEST(Name, WildcardAndPrepend) {
  EXPECT_TRUE(make("*.example").is_wildcard());
  EXPECT_FALSE(make("a.*.example").is_wildcard());
  name n = make("example");
  ASSERT_EQ(n.prepend_label("*"), name_status::ok);
  EXPECT_EQ(n.to_string(), "*.example.");
}
