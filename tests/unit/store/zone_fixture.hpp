#pragma once
// Test helpers: build zones from PowerDNS-style record text.

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "store/zone.hpp"
#include "zonefile/zonefile.hpp"

namespace zonemesh::testing {

inline dns::name dname(std::string_view text) {
  dns::name n;
  EXPECT_EQ(dns::name::from_text(text, n), dns::name_status::ok) << text;
  return n;
}

inline store::record rec(const zonefile::text_record& text) {
  store::record r;
  const std::string error = zonefile::to_wire(text, r);
  EXPECT_EQ(error, "");
  return r;
}

inline std::shared_ptr<const store::zone_snapshot> make_zone(
    std::string_view apex, std::initializer_list<zonefile::text_record> records,
    std::uint32_t serial = 1) {
  store::zone_builder builder(dname(apex));
  for (const auto& t : records) {
    const std::string error = builder.add(rec(t));
    EXPECT_EQ(error, "") << t.name << " " << t.type;
  }
  auto built = builder.build(serial);
  EXPECT_TRUE(built) << built.error;
  return built.zone;
}

}  // namespace zonemesh::testing
