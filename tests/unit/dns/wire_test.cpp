// Tests for lib/dns/wire.*: bounded reading, decompression guards, compression.
#include "dns/wire.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "dns/types.hpp"

using namespace zonemesh::dns;

namespace {
name make(std::string_view text) {
  name n;
  EXPECT_EQ(name::from_text(text, n), name_status::ok);
  return n;
}
}  // namespace

TEST(Reader, ChecksEveryLength) {
  const std::uint8_t data[] = {0x12, 0x34, 0x56};
  reader r(data);
  std::uint16_t v16 = 0;
  std::uint32_t v32 = 0;
  EXPECT_EQ(r.u32(v32), read_status::truncated);
  EXPECT_EQ(r.u16(v16), read_status::ok);
  EXPECT_EQ(v16, 0x1234);
  EXPECT_EQ(r.u16(v16), read_status::truncated);
  std::span<const std::uint8_t> view;
  EXPECT_EQ(r.bytes(2, view), read_status::truncated);
  EXPECT_EQ(r.bytes(1, view), read_status::ok);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Reader, HeaderNeedsTwelveOctets) {
  std::vector<std::uint8_t> data(11, 0);
  reader r(data);
  header h;
  EXPECT_EQ(r.header(h), read_status::truncated);
}

TEST(Reader, FollowsBackwardPointers) {
  // offset 0: "example" root; offset 9: "www" + pointer to 0
  const std::uint8_t data[] = {7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 3, 'w', 'w', 'w', 0xc0, 0};
  reader r(data);
  name n;
  ASSERT_EQ(r.name(n), read_status::ok);
  ASSERT_EQ(r.name(n), read_status::ok);
  EXPECT_EQ(n.to_string(), "www.example.");
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(Reader, RejectsPointerLoopsAndForwardPointers) {
  const std::uint8_t self[] = {0xc0, 0x00};
  name n;
  reader r1(self);
  EXPECT_EQ(r1.name(n), read_status::bad_pointer);
  // "a" then pointer back to itself via offset 0: 1 'a' c0 00
  const std::uint8_t loop[] = {1, 'a', 0xc0, 0x00};
  reader r2(loop);
  EXPECT_EQ(r2.name(n), read_status::bad_pointer);
  const std::uint8_t forward[] = {0xc0, 0x02, 0};
  reader r3(forward);
  EXPECT_EQ(r3.name(n), read_status::bad_pointer);
  // Two pointers ping-ponging forward and back: 0: "a" ptr->4 (forward) is rejected.
  const std::uint8_t pingpong[] = {1, 'a', 0xc0, 0x04, 1, 'b', 0xc0, 0x00};
  reader r4{std::span<const std::uint8_t>(pingpong)};
  EXPECT_EQ(r4.name(n), read_status::bad_pointer);
  // Start at 4: "b" ptr->0 ok, then at 0 "a" ptr->4: 4 is not before segment start 0.
  std::size_t next = 0;
  EXPECT_EQ(read_name_at(pingpong, 4, n, next), read_status::bad_pointer);
}

TEST(Reader, RejectsTruncatedAndExtendedLabels) {
  const std::uint8_t truncated[] = {5, 'a', 'b'};
  const std::uint8_t ext[] = {0x41, 0};
  const std::uint8_t half_pointer[] = {0xc0};
  name n;
  reader r1(truncated), r2(ext), r3(half_pointer);
  EXPECT_EQ(r1.name(n), read_status::truncated);
  EXPECT_EQ(r2.name(n), read_status::bad_label_type);
  EXPECT_EQ(r3.name(n), read_status::truncated);
}

TEST(Reader, RejectsNamesLongerThan255AfterDecompression) {
  std::vector<std::uint8_t> msg;
  // 4 labels of 63 at offset 0 = 256 octets + root: too long on its own.
  for (int i = 0; i < 4; ++i) {
    msg.push_back(63);
    msg.insert(msg.end(), 63, 'a');
  }
  msg.push_back(0);
  reader r(msg);
  name n;
  EXPECT_EQ(r.name(n), read_status::name_too_long);
}

TEST(Writer, CompressesRepeatedSuffixesCaseInsensitively) {
  std::vector<std::uint8_t> buf(512);
  writer w(buf);
  ASSERT_TRUE(w.header(header{}));
  ASSERT_TRUE(w.name(make("WWW.Example.com")));
  const std::size_t first_end = w.size();
  EXPECT_EQ(first_end, 12u + 17u);
  ASSERT_TRUE(w.name(make("www.example.COM")));
  EXPECT_EQ(w.size(), first_end + 2);  // a pointer only
  ASSERT_TRUE(w.name(make("mail.example.com")));
  EXPECT_EQ(w.size(), first_end + 2 + 5 + 2);  // "mail" + pointer to example.com
  // Read back through the reader.
  reader r(w.data());
  header h;
  name a, b, c;
  ASSERT_EQ(r.header(h), read_status::ok);
  ASSERT_EQ(r.name(a), read_status::ok);
  ASSERT_EQ(r.name(b), read_status::ok);
  ASSERT_EQ(r.name(c), read_status::ok);
  EXPECT_EQ(b.to_string(), "WWW.Example.com.");  // the pointer yields the first spelling
  EXPECT_EQ(c.to_string(), "mail.Example.com.");
}

TEST(Writer, RespectsLimitAndRollsBackCompressionTargets) {
  std::vector<std::uint8_t> buf(64);
  writer w(buf);
  w.set_limit(20);
  ASSERT_TRUE(w.header(header{}));
  EXPECT_FALSE(w.name(make("toolong.example")));
  EXPECT_EQ(w.size(), 12u);
  w.set_limit(64);
  ASSERT_TRUE(w.name(make("a.example")));
  const std::size_t mark = w.size();
  ASSERT_TRUE(w.name(make("b.test")));
  w.rollback(mark);
  // "b.test" is forgotten: writing "test" again must not point into rolled-back bytes.
  ASSERT_TRUE(w.name(make("test")));
  EXPECT_EQ(w.size(), mark + 6);
}

TEST(Writer, RdataCompressionOnlyForWellKnownTypes) {
  std::vector<std::uint8_t> buf(512);
  writer w(buf);
  ASSERT_TRUE(w.header(header{}));
  ASSERT_TRUE(w.name(make("example.com")));
  const name target = make("mail.example.com");
  std::vector<std::uint8_t> mx = {0, 10};
  mx.insert(mx.end(), target.wire().begin(), target.wire().end());
  ASSERT_TRUE(w.rr(make("example.com").wire(), rr_type::mx, rr_class::in, 300, mx));
  // owner pointer(2) + 10 fixed + rdata: 2 + "mail"(5) + pointer(2)
  EXPECT_EQ(w.size(), 12u + 13u + 2u + 10u + 9u);
  const std::size_t before = w.size();
  std::vector<std::uint8_t> srv = {0, 1, 0, 2, 0, 80};
  srv.insert(srv.end(), target.wire().begin(), target.wire().end());
  ASSERT_TRUE(w.rr(make("example.com").wire(), rr_type::srv, rr_class::in, 300, srv));
  EXPECT_EQ(w.size(), before + 2 + 10 + srv.size());  // SRV target stays uncompressed
}
