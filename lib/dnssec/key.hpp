#pragma once
// DNSSEC keys: the BIND "Private-key-format: v1.3" text that dnssec_keys
// stores (as PowerDNS's cryptokeys do), DNSKEY RDATA, key tags (RFC 4034
// App. B), DS digests (RFC 4509) and raw signatures in DNSSEC wire form
// (RFC 6605 for ECDSA r||s, RFC 8080 for Ed25519, RFC 5702 for RSA).
//
// Algorithms: 13 ECDSAP256SHA256 (default), 15 ED25519, 8 RSASHA256.
// Private key material never appears in an error message or a log line.
// OpenSSL stays inside key.cpp: this header includes none of it.

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace zonemesh::dnssec {

namespace algorithm {
inline constexpr int rsasha256 = 8;
inline constexpr int ecdsap256sha256 = 13;
inline constexpr int ed25519 = 15;
}  // namespace algorithm

namespace key_flags {
inline constexpr std::uint16_t zsk = 256;  ///< ZONE
inline constexpr std::uint16_t ksk = 257;  ///< ZONE | SEP (KSK or CSK)
}  // namespace key_flags

/// True for the algorithms this code can parse, generate, sign and verify.
bool algorithm_supported(int algorithm);
/// "ECDSAP256SHA256", "ED25519", "RSASHA256", or the number.
std::string algorithm_name(int algorithm);
/// Accepts a number ("13") or a mnemonic, any case, also "ecdsap256" and
/// "ed25519"; returns 0 when unknown or unsupported.
int algorithm_from_string(std::string_view text);

/// One private key, ready to sign. Copyable (copies share the OpenSSL key,
/// which is safe for concurrent signing).
class signing_key {
 public:
  int algorithm() const { return algorithm_; }
  /// The public key field of the DNSKEY RDATA (RFC 6605 X||Y, RFC 8080 raw,
  /// RFC 3110 exponent length/exponent/modulus).
  const std::vector<std::uint8_t>& public_key() const { return public_key_; }
  /// DNSKEY RDATA: flags, protocol 3, algorithm, public key.
  std::vector<std::uint8_t> dnskey_rdata(std::uint16_t flags) const;
  /// Key tag of this key's DNSKEY with these flags.
  std::uint16_t key_tag(std::uint16_t flags) const;
  /// Signs `data` (the RFC 4034 3.1.8.1 signed data) and returns the RRSIG
  /// signature field: 64 octets r||s for ECDSA P-256, 64 for Ed25519, the
  /// modulus length for RSA. Throws std::runtime_error on an OpenSSL failure.
  std::vector<std::uint8_t> sign(std::span<const std::uint8_t> data) const;
  /// The BIND v1.3 private text of this key (secret: never log it).
  std::string to_private_text() const;

  struct impl;

 private:
  friend signing_key parse_private_key(std::string_view text);
  friend signing_key make_signing_key(int algorithm);
  int algorithm_ = 0;
  std::vector<std::uint8_t> public_key_;
  std::shared_ptr<const impl> impl_;
};

/// Parses BIND private key text ("Private-key-format: v1.2" or "v1.3",
/// "Algorithm: 13 (ECDSAP256SHA256)", "PrivateKey: <base64>", for RSA the
/// Modulus/.../Coefficient lines; Created/Publish/... lines ignored).
/// Throws std::runtime_error with a message that says what is wrong (and
/// never quotes the key material).
signing_key parse_private_key(std::string_view text);

/// A fresh key of `algorithm` (13, 15, or 8 with 2048 bits). Throws
/// std::runtime_error for an unsupported algorithm.
signing_key make_signing_key(int algorithm);

/// A fresh key of `algorithm` in BIND v1.3 text, as dnssec_keys.private_key
/// stores it.
std::string generate_private_key(int algorithm);

/// RFC 4034 Appendix B key tag of a DNSKEY RDATA (algorithm 1 not handled).
std::uint16_t key_tag(std::span<const std::uint8_t> dnskey_rdata);

/// DS RDATA for a DNSKEY: key tag, algorithm, digest type, digest over the
/// lowercased owner wire name and the DNSKEY RDATA. Digest types 1 (SHA-1),
/// 2 (SHA-256, default) and 4 (SHA-384). Throws std::invalid_argument for
/// another digest type or an RDATA shorter than 4 octets.
std::vector<std::uint8_t> ds_rdata(std::span<const std::uint8_t> owner_wire,
                                   std::span<const std::uint8_t> dnskey_rdata,
                                   int digest_type = 2);

/// Verifies a DNSSEC signature field over `data` with the public key in a
/// DNSKEY RDATA (our own verifier, for tests and self-checks). False on any
/// mismatch or malformed input; never throws.
bool verify(std::span<const std::uint8_t> dnskey_rdata, std::span<const std::uint8_t> data,
            std::span<const std::uint8_t> signature);

/// DNSKEY presentation form of an RDATA: "257 3 13 <base64>".
std::string dnskey_to_text(std::span<const std::uint8_t> dnskey_rdata);
/// DS presentation form: "12345 13 2 <HEX>".
std::string ds_to_text(std::span<const std::uint8_t> ds_rdata);

/// Base64 (RFC 4648) without line breaks, and its inverse (whitespace
/// ignored; throws std::runtime_error on bad input).
std::string base64_encode(std::span<const std::uint8_t> data);
std::vector<std::uint8_t> base64_decode(std::string_view text);

}  // namespace zonemesh::dnssec
