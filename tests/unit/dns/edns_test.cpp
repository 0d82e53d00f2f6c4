// Tests for lib/dns/edns.*
#include "dns/edns.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "dns/types.hpp"

using namespace zonemesh::dns;

TEST(Edns, ParsesFieldsAndOptions) {
  const std::uint8_t rdata[] = {0, 3, 0, 0, 0, 10, 0, 2, 0xab, 0xcd};
  opt_record opt;
  ASSERT_EQ(parse_opt(4096, 0x01008000u, rdata, opt), read_status::ok);
  EXPECT_EQ(opt.udp_payload_size, 4096);
  EXPECT_EQ(opt.extended_rcode, 1);
  EXPECT_EQ(opt.version, 0);
  EXPECT_TRUE(opt.dnssec_ok());
  option_iterator it(opt.options);
  std::uint16_t code = 0;
  std::span<const std::uint8_t> data;
  ASSERT_TRUE(it.next(code, data));
  EXPECT_EQ(code, edns_option::nsid);
  EXPECT_TRUE(data.empty());
  ASSERT_TRUE(it.next(code, data));
  EXPECT_EQ(code, edns_option::cookie);
  EXPECT_EQ(data.size(), 2u);
  EXPECT_FALSE(it.next(code, data));
}

TEST(Edns, RejectsBadOptionFraming) {
  const std::uint8_t short_header[] = {0, 3, 0};
  const std::uint8_t overlong[] = {0, 3, 0, 5, 1, 2};
  opt_record opt;
  EXPECT_EQ(parse_opt(512, 0, short_header, opt), read_status::bad_rdata);
  EXPECT_EQ(parse_opt(512, 0, overlong, opt), read_status::bad_rdata);
}

TEST(Edns, BuildsWhatItParses) {
  std::vector<std::uint8_t> buf(64);
  writer w(buf);
  const std::uint8_t id[] = {'s', '1'};
  const edns_option_data nsid{edns_option::nsid, id};
  ASSERT_TRUE(write_opt(w, 1232, 1, 0, true, std::span(&nsid, 1)));
  EXPECT_EQ(w.size(), opt_size(2, 1));
  reader r(w.data());
  name owner;
  rr_header f;
  std::span<const std::uint8_t> rdata;
  ASSERT_EQ(r.rr(owner, f, rdata), read_status::ok);
  EXPECT_TRUE(owner.is_root());
  EXPECT_EQ(f.type, rr_type::opt);
  opt_record opt;
  ASSERT_EQ(parse_opt(f.rrclass, f.ttl, rdata, opt), read_status::ok);
  EXPECT_EQ(opt.udp_payload_size, 1232);
  EXPECT_EQ(opt.extended_rcode, 1);
  EXPECT_TRUE(opt.dnssec_ok());
  w.set_limit(w.size() + 5);
  EXPECT_FALSE(write_opt(w, 1232, 0, 0, false));
}
