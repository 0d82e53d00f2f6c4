#pragma once
// TSIG (RFC 8945): finding, verifying and adding transaction signatures over
// the exact wire bytes of DNS messages, for zone transfers, NOTIFY and UPDATE.
// HMAC by OpenSSL; no allocation beyond the small vectors of the results.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dns/name.hpp"
#include "dns/wire.hpp"

namespace zonemesh::server::tsig {

enum class algorithm : std::uint8_t {
  hmac_md5,
  hmac_sha1,
  hmac_sha224,
  hmac_sha256,
  hmac_sha384,
  hmac_sha512
};

/// The algorithm named by `text` ("hmac-sha256", "hmac-sha256." or the
/// HMAC-MD5.SIG-ALG.REG.INT. name), case-insensitively; nullopt if unknown.
std::optional<algorithm> algorithm_from_text(std::string_view text);
/// The algorithm whose wire name is `n`; nullopt if unknown.
std::optional<algorithm> algorithm_from_name(const dns::name& n);
/// The algorithm's domain name, as carried in the TSIG RR.
const dns::name& algorithm_name(algorithm a);
/// Full MAC length in octets.
std::size_t mac_length(algorithm a);

/// TSIG error codes (the RR's Error field, RFC 8945 4.3).
namespace error {
inline constexpr std::uint16_t none = 0;
inline constexpr std::uint16_t badsig = 16;
inline constexpr std::uint16_t badkey = 17;
inline constexpr std::uint16_t badtime = 18;
inline constexpr std::uint16_t badtrunc = 22;
}  // namespace error

struct key {
  dns::name name;
  algorithm alg = algorithm::hmac_sha256;
  std::vector<std::uint8_t> secret;
};

/// Makes a key from table text (name, algorithm name, base64 secret); throws
/// std::invalid_argument with a readable message when any part is invalid.
key make_key(std::string_view name, std::string_view algorithm_text,
             std::string_view secret_base64);

/// A parsed TSIG RR and where it sits in its message.
struct record {
  dns::name key_name;
  dns::name algorithm_name;
  std::uint64_t time_signed = 0;  ///< seconds since the epoch (48 bits)
  std::uint16_t fudge = 0;
  std::vector<std::uint8_t> mac;
  std::uint16_t original_id = 0;
  std::uint16_t error = 0;
  std::vector<std::uint8_t> other;
  std::size_t offset = 0;  ///< where the TSIG RR starts in the message
};

enum class find_status : std::uint8_t {
  absent,    ///< the message carries no TSIG
  found,     ///< exactly one TSIG, the last RR of the additional section
  malformed  ///< misplaced, repeated or unparsable TSIG, or a broken message: FORMERR
};

/// Walks every RR of `message` and extracts its TSIG.
find_status find(std::span<const std::uint8_t> message, record& out);

/// What verification decided; `error` is what a reply's TSIG must carry.
struct verdict {
  bool ok = false;
  std::uint16_t error = error::none;  ///< badkey, badsig, badtime or badtrunc when !ok
  bool formerr = false;               ///< a MAC size the RFC forbids: answer FORMERR
};

/// Verifies `rec` (found in `message`) with `k`, whose name and algorithm
/// the caller has matched against the record. `prior_mac` is empty for a
/// request, the request's MAC for its first reply, the previous signed
/// message's MAC for later messages of a stream (then `timers_only`).
verdict verify(std::span<const std::uint8_t> message, const record& rec, const key& k,
               std::uint64_t now, std::span<const std::uint8_t> prior_mac = {},
               bool timers_only = false);

/// What a signature says besides the MAC.
struct sign_params {
  std::uint64_t time_signed = 0;
  std::uint16_t fudge = 300;
  std::uint16_t error = error::none;
  std::vector<std::uint8_t> other;  ///< BADTIME carries the server's time here
  bool timers_only = false;         ///< later messages of a stream (RFC 8945 5.3.1)
  bool empty_mac = false;           ///< BADKEY/BADSIG replies carry no MAC
};

/// Appends a TSIG RR to the complete message in `w` (whose header must be at
/// offset 0) and increments ARCOUNT; the MAC covers `prior_mac` (when not
/// empty), the message and the TSIG variables. Writes the MAC to `mac_out`.
/// Returns false when the RR does not fit (the message is left unchanged).
bool sign(dns::writer& w, const key& k, const sign_params& params,
          std::span<const std::uint8_t> prior_mac, std::vector<std::uint8_t>& mac_out);

/// Same as sign() for a key we do not have (BADKEY): no MAC, the key name
/// and algorithm as the request gave them.
bool sign_unkeyed(dns::writer& w, const dns::name& key_name, const dns::name& algorithm_name,
                  const sign_params& params);

/// sign() for a message of `length` octets already at the start of `buffer`;
/// returns the new length, or 0 when the RR does not fit.
std::size_t sign_in_place(std::span<std::uint8_t> buffer, std::size_t length, const key& k,
                          const sign_params& params, std::span<const std::uint8_t> prior_mac,
                          std::vector<std::uint8_t>& mac_out);
std::size_t sign_unkeyed_in_place(std::span<std::uint8_t> buffer, std::size_t length,
                                  const dns::name& key_name, const dns::name& algorithm_name,
                                  const sign_params& params);
/// Octets a TSIG RR with this key, MAC length and Other length takes.
std::size_t rr_size(const dns::name& key_name, const dns::name& algorithm_name,
                    std::size_t mac_size, std::size_t other_size);

/// The message without its TSIG RR and with ARCOUNT one less and the ID set
/// to `original_id`: what the MAC covers.
std::vector<std::uint8_t> strip(std::span<const std::uint8_t> message, const record& rec);

/// Base64 (RFC 4648) decoding; nullopt on invalid input.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);
std::string base64_encode(std::span<const std::uint8_t> data);

}  // namespace zonemesh::server::tsig
