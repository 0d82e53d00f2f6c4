// Tests for lib/dns/types.*
#include "dns/types.hpp"

#include <gtest/gtest.h>

using namespace zonemesh::dns;

TEST(Types, MnemonicsRoundTrip) {
  EXPECT_EQ(type_to_string(rr_type::aaaa), "AAAA");
  EXPECT_EQ(type_from_string("aaaa"), rr_type::aaaa);
  EXPECT_EQ(type_from_string("Caa"), rr_type::caa);
  EXPECT_EQ(type_to_string(65280), "TYPE65280");
  EXPECT_EQ(type_from_string("TYPE65280"), 65280);
  EXPECT_EQ(type_from_string("type1"), rr_type::a);
  EXPECT_FALSE(type_from_string("TYPE65536").has_value());
  EXPECT_FALSE(type_from_string("TYPE").has_value());
  EXPECT_FALSE(type_from_string("TYPE+1").has_value());
  EXPECT_FALSE(type_from_string("BOGUS").has_value());
}

TEST(Types, Classes) {
  EXPECT_EQ(class_to_string(rr_class::ch), "CH");
  EXPECT_EQ(class_from_string("in"), rr_class::in);
  EXPECT_EQ(class_from_string("CLASS32"), 32);
  EXPECT_EQ(class_to_string(32), "CLASS32");
}

TEST(Types, Rcodes) {
  EXPECT_EQ(rcode_to_string(rcode::nxdomain), "NXDOMAIN");
  EXPECT_EQ(rcode_to_string(rcode::badvers), "BADVERS");
}

TEST(Types, CompressibleRdataOnlyForRfc1035Types) {
  EXPECT_TRUE(rdata_names_compressible(rr_type::mx));
  EXPECT_TRUE(rdata_names_compressible(rr_type::soa));
  EXPECT_FALSE(rdata_names_compressible(rr_type::srv));
  EXPECT_FALSE(rdata_names_compressible(rr_type::dname));
}
