// libFuzzer target: RFC 3597 generic types and record text at load time.
// The input's first two bytes are an RR type, the rest its RDATA: the RDATA
// goes to presentation text (zonefile::to_text) and back (to_wire); for a
// type without a mnemonic the text must be "\# LEN HEX" and come back as
// the same octets. The input is also read as zone-file text: the long-string
// split keeps every line, and the zone reader must not crash.
//
//   tests/fuzz/run.sh OUTDIR SECONDS rdata
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dns/types.hpp"
#include "store/zone.hpp"
#include "zonefile/zonefile.hpp"

using namespace zonemesh;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size > 4096) return 0;
  const auto type = static_cast<std::uint16_t>((data[0] << 8) | data[1]);

  store::record rec;
  (void)dns::name::from_text("fuzz.example", rec.owner);
  rec.type = type;
  rec.rrclass = dns::rr_class::in;
  rec.ttl = 60;
  rec.rdata.assign(data + 2, data + size);
  zonefile::text_record text;
  // Types neither zonemesh nor ldns has a presentation format for (ldns
  // knows a few that zonemesh does not, ATMA, AMTRELAY, TA, DLV...).
  const bool generic = dns::type_to_string(type).rfind("TYPE", 0) == 0 &&
                       !dns::is_meta_type(type) && type > 300 && type != 32768 && type != 32769;
  if (zonefile::to_text(rec, text).empty() && generic) {
    if (text.content.rfind("\\# ", 0) != 0) std::abort();
    store::record back;
    if (!zonefile::to_wire(text, back).empty()) std::abort();
    if (back.type != type || back.rdata != rec.rdata) std::abort();
  }

  const std::string_view zone_text(reinterpret_cast<const char*>(data), size);
  const std::string split = zonefile::split_long_strings(zone_text);
  if (std::count(split.begin(), split.end(), '\n') !=
      std::count(zone_text.begin(), zone_text.end(), '\n')) {
    std::abort();
  }
  (void)zonefile::parse_zone_file(zone_text, "example.test");
  return 0;
}
