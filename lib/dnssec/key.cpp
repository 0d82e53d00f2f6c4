// DNSSEC keys with OpenSSL 3 EVP: BIND private text, DNSKEY, key tag, DS,
// signing and verifying in DNSSEC signature form.

#include "dnssec/key.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <map>
#include <optional>

namespace zonemesh::dnssec {

namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct md_ctx_free {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
struct bn_ctx_free {
  void operator()(BN_CTX* p) const { BN_CTX_free(p); }
};
struct group_free {
  void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
struct point_free {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};
struct param_bld_free {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct param_free {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;

constexpr std::size_t p256_size = 32;
constexpr std::size_t ed25519_size = 32;

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

bn_ptr to_bn(std::span<const std::uint8_t> bytes) {
  bn_ptr bn(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!bn) fail("DNSSEC key: out of memory");
  return bn;
}

std::vector<std::uint8_t> from_bn(const BIGNUM* bn, std::size_t pad = 0) {
  std::size_t n = static_cast<std::size_t>(BN_num_bytes(bn));
  if (pad < n) pad = n;
  std::vector<std::uint8_t> out(pad);
  if (BN_bn2binpad(bn, out.data(), static_cast<int>(pad)) < 0) fail("DNSSEC key: BN_bn2binpad failed");
  return out;
}

/// Makes an EVP_PKEY of `type` ("EC", "RSA") from parameters.
pkey_ptr from_params(const char* type, OSSL_PARAM_BLD* bld, int selection) {
  std::unique_ptr<OSSL_PARAM, param_free> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, selection, params.get()) <= 0) {
    return nullptr;
  }
  return pkey_ptr(raw);
}

/// The uncompressed P-256 point (0x04 || X || Y) for a private scalar.
std::optional<std::array<std::uint8_t, 65>> p256_public(const BIGNUM* d) {
  std::unique_ptr<EC_GROUP, group_free> group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (!group) return std::nullopt;
  std::unique_ptr<BN_CTX, bn_ctx_free> bctx(BN_CTX_new());
  std::unique_ptr<EC_POINT, point_free> point(EC_POINT_new(group.get()));
  if (!bctx || !point) return std::nullopt;
  const BIGNUM* order = EC_GROUP_get0_order(group.get());
  if (BN_is_zero(d) || BN_is_negative(d) || BN_cmp(d, order) >= 0) return std::nullopt;
  if (EC_POINT_mul(group.get(), point.get(), d, nullptr, nullptr, bctx.get()) != 1) return std::nullopt;
  std::array<std::uint8_t, 65> out{};
  if (EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, out.data(),
                         out.size(), bctx.get()) != out.size()) {
    return std::nullopt;
  }
  return out;
}

pkey_ptr p256_key(const BIGNUM* d, const std::array<std::uint8_t, 65>& pub) {
  std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> bld(OSSL_PARAM_BLD_new());
  if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, pub.data(), pub.size())) {
    return nullptr;
  }
  return from_params("EC", bld.get(), EVP_PKEY_KEYPAIR);
}

/// RFC 3110 public key field: exponent length, exponent, modulus.
std::vector<std::uint8_t> rsa_public_field(std::span<const std::uint8_t> e, std::span<const std::uint8_t> n) {
  std::vector<std::uint8_t> out;
  if (e.size() <= 255) {
    out.push_back(static_cast<std::uint8_t>(e.size()));
  } else {
    out.push_back(0);
    out.push_back(static_cast<std::uint8_t>(e.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(e.size()));
  }
  out.insert(out.end(), e.begin(), e.end());
  out.insert(out.end(), n.begin(), n.end());
  return out;
}

bn_ptr get_bn(const EVP_PKEY* key, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) fail(std::string("DNSSEC key: cannot read ") + name);
  return bn_ptr(raw);
}

// RSA parameter names in the BIND text, with their OpenSSL names.
constexpr std::array<std::pair<const char*, const char*>, 8> rsa_fields{{
    {"Modulus", OSSL_PKEY_PARAM_RSA_N},
    {"PublicExponent", OSSL_PKEY_PARAM_RSA_E},
    {"PrivateExponent", OSSL_PKEY_PARAM_RSA_D},
    {"Prime1", OSSL_PKEY_PARAM_RSA_FACTOR1},
    {"Prime2", OSSL_PKEY_PARAM_RSA_FACTOR2},
    {"Exponent1", OSSL_PKEY_PARAM_RSA_EXPONENT1},
    {"Exponent2", OSSL_PKEY_PARAM_RSA_EXPONENT2},
    {"Coefficient", OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

constexpr std::string_view b64_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

struct signing_key::impl {
  pkey_ptr key;
};

bool algorithm_supported(int alg) {
  return alg == algorithm::ecdsap256sha256 || alg == algorithm::ed25519 || alg == algorithm::rsasha256;
}

std::string algorithm_name(int alg) {
  switch (alg) {
    case algorithm::rsasha256: return "RSASHA256";
    case algorithm::ecdsap256sha256: return "ECDSAP256SHA256";
    case algorithm::ed25519: return "ED25519";
    default: return std::to_string(alg);
  }
}

int algorithm_from_string(std::string_view text) {
  text = trim(text);
  int n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc{} && p == text.data() + text.size()) return algorithm_supported(n) ? n : 0;
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "ecdsap256sha256" || lower == "ecdsap256" || lower == "ecdsa256") return algorithm::ecdsap256sha256;
  if (lower == "ed25519") return algorithm::ed25519;
  if (lower == "rsasha256") return algorithm::rsasha256;
  return 0;
}

std::string base64_encode(std::span<const std::uint8_t> data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out.push_back(b64_chars[(v >> 18) & 63]);
    out.push_back(b64_chars[(v >> 12) & 63]);
    out.push_back(b64_chars[(v >> 6) & 63]);
    out.push_back(b64_chars[v & 63]);
  }
  if (i + 1 == data.size()) {
    std::uint32_t v = std::uint32_t{data[i]} << 16;
    out.push_back(b64_chars[(v >> 18) & 63]);
    out.push_back(b64_chars[(v >> 12) & 63]);
    out += "==";
  } else if (i + 2 == data.size()) {
    std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out.push_back(b64_chars[(v >> 18) & 63]);
    out.push_back(b64_chars[(v >> 12) & 63]);
    out.push_back(b64_chars[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::vector<std::uint8_t> base64_decode(std::string_view text) {
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  int pad = 0;
  std::size_t chars = 0;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    if (c == '=') {
      ++pad;
      ++chars;
      continue;
    }
    auto at = b64_chars.find(c);
    if (at == std::string_view::npos || pad > 0) throw std::runtime_error("invalid base64");
    acc = (acc << 6) | static_cast<std::uint32_t>(at);
    bits += 6;
    ++chars;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1U << bits) - 1;
    }
  }
  if (chars % 4 != 0 || pad > 2) throw std::runtime_error("invalid base64");
  return out;
}

signing_key parse_private_key(std::string_view text) {
  std::map<std::string, std::string, std::less<>> fields;
  while (!text.empty()) {
    auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    line = trim(line);
    if (line.empty() || line.front() == ';') continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      throw std::runtime_error("private key: a line without 'Name: value' (line " +
                               std::to_string(fields.size() + 1) + ")");
    }
    fields[std::string(trim(line.substr(0, colon)))] = std::string(trim(line.substr(colon + 1)));
  }
  auto format = fields.find("Private-key-format");
  if (format == fields.end()) throw std::runtime_error("private key: no 'Private-key-format:' line");
  if (format->second.rfind("v1.", 0) != 0) {
    throw std::runtime_error("private key: unsupported Private-key-format '" + format->second +
                             "' (expected v1.3)");
  }
  auto alg_line = fields.find("Algorithm");
  if (alg_line == fields.end()) throw std::runtime_error("private key: no 'Algorithm:' line");
  int alg = 0;
  {
    std::string_view v = alg_line->second;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), alg);
    if (ec != std::errc{}) throw std::runtime_error("private key: Algorithm '" + alg_line->second + "' is not a number");
  }
  if (!algorithm_supported(alg)) {
    throw std::runtime_error("private key: algorithm " + std::to_string(alg) +
                             " is not supported (use 13 ECDSAP256SHA256, 15 ED25519 or 8 RSASHA256)");
  }
  auto field_bytes = [&](const char* name) {
    auto it = fields.find(name);
    if (it == fields.end()) {
      throw std::runtime_error("private key: no '" + std::string(name) + ":' line for algorithm " +
                               algorithm_name(alg));
    }
    try {
      return base64_decode(it->second);
    } catch (const std::runtime_error&) {
      throw std::runtime_error("private key: " + std::string(name) + " is not valid base64");
    }
  };

  signing_key key;
  key.algorithm_ = alg;
  auto data = std::make_shared<signing_key::impl>();
  if (alg == algorithm::ecdsap256sha256) {
    auto d_bytes = field_bytes("PrivateKey");
    if (d_bytes.size() != p256_size) {
      throw std::runtime_error("private key: an ECDSAP256SHA256 PrivateKey must be 32 octets, not " +
                               std::to_string(d_bytes.size()));
    }
    bn_ptr d = to_bn(d_bytes);
    OPENSSL_cleanse(d_bytes.data(), d_bytes.size());
    auto pub = p256_public(d.get());
    if (!pub) throw std::runtime_error("private key: the ECDSAP256SHA256 PrivateKey is not a valid P-256 scalar");
    data->key = p256_key(d.get(), *pub);
    key.public_key_.assign(pub->begin() + 1, pub->end());
  } else if (alg == algorithm::ed25519) {
    auto seed = field_bytes("PrivateKey");
    if (seed.size() != ed25519_size) {
      throw std::runtime_error("private key: an ED25519 PrivateKey must be 32 octets, not " +
                               std::to_string(seed.size()));
    }
    data->key.reset(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
    OPENSSL_cleanse(seed.data(), seed.size());
    if (data->key) {
      std::size_t len = ed25519_size;
      key.public_key_.resize(len);
      if (EVP_PKEY_get_raw_public_key(data->key.get(), key.public_key_.data(), &len) != 1 || len != ed25519_size) {
        data->key.reset();
      }
    }
  } else {  // RSASHA256
    std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> bld(OSSL_PARAM_BLD_new());
    std::vector<bn_ptr> keep;
    std::vector<std::uint8_t> n_bytes;
    std::vector<std::uint8_t> e_bytes;
    for (const auto& [bind_name, ossl_name] : rsa_fields) {
      auto bytes = field_bytes(bind_name);
      if (bytes.empty()) throw std::runtime_error("private key: " + std::string(bind_name) + " is empty");
      if (std::strcmp(bind_name, "Modulus") == 0) n_bytes = bytes;
      if (std::strcmp(bind_name, "PublicExponent") == 0) e_bytes = bytes;
      keep.push_back(to_bn(bytes));
      OPENSSL_cleanse(bytes.data(), bytes.size());
      if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), ossl_name, keep.back().get())) {
        throw std::runtime_error("private key: out of memory");
      }
    }
    if (n_bytes.size() < 128 || n_bytes.size() > 512) {
      throw std::runtime_error("private key: RSA modulus of " + std::to_string(n_bytes.size() * 8) +
                               " bits is out of range (1024-4096)");
    }
    data->key = from_params("RSA", bld.get(), EVP_PKEY_KEYPAIR);
    key.public_key_ = rsa_public_field(e_bytes, n_bytes);
  }
  if (!data->key) throw std::runtime_error("private key: OpenSSL refused the " + algorithm_name(alg) + " key");
  key.impl_ = std::move(data);
  return key;
}

signing_key make_signing_key(int alg) {
  if (!algorithm_supported(alg)) {
    throw std::runtime_error("cannot generate a key for algorithm " + std::to_string(alg) +
                             " (use 13 ECDSAP256SHA256, 15 ED25519 or 8 RSASHA256)");
  }
  EVP_PKEY* raw = nullptr;
  if (alg == algorithm::ecdsap256sha256) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else if (alg == algorithm::ed25519) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  } else {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
  }
  if (raw == nullptr) throw std::runtime_error("OpenSSL could not generate a " + algorithm_name(alg) + " key");
  // Round-trip through the text form so that a generated key is exactly
  // what parse_private_key would make of the stored row.
  signing_key tmp;
  tmp.algorithm_ = alg;
  auto data = std::make_shared<signing_key::impl>();
  data->key.reset(raw);
  tmp.impl_ = std::move(data);
  std::string text = tmp.to_private_text();
  signing_key key = parse_private_key(text);
  OPENSSL_cleanse(text.data(), text.size());
  return key;
}

std::string signing_key::to_private_text() const {
  if (!impl_ || !impl_->key) throw std::runtime_error("DNSSEC key: empty key");
  const EVP_PKEY* k = impl_->key.get();
  std::string out = "Private-key-format: v1.3\nAlgorithm: " + std::to_string(algorithm_) + " (" +
                    algorithm_name(algorithm_) + ")\n";
  if (algorithm_ == algorithm::ecdsap256sha256) {
    bn_ptr d = get_bn(k, OSSL_PKEY_PARAM_PRIV_KEY);
    auto bytes = from_bn(d.get(), p256_size);
    out += "PrivateKey: " + base64_encode(bytes) + "\n";
    OPENSSL_cleanse(bytes.data(), bytes.size());
  } else if (algorithm_ == algorithm::ed25519) {
    std::vector<std::uint8_t> seed(ed25519_size);
    std::size_t len = seed.size();
    if (EVP_PKEY_get_raw_private_key(k, seed.data(), &len) != 1 || len != ed25519_size) {
      throw std::runtime_error("DNSSEC key: cannot read the ED25519 private key");
    }
    out += "PrivateKey: " + base64_encode(seed) + "\n";
    OPENSSL_cleanse(seed.data(), seed.size());
  } else {
    for (const auto& [bind_name, ossl_name] : rsa_fields) {
      bn_ptr v = get_bn(k, ossl_name);
      auto bytes = from_bn(v.get());
      out += std::string(bind_name) + ": " + base64_encode(bytes) + "\n";
      OPENSSL_cleanse(bytes.data(), bytes.size());
    }
  }
  return out;
}

std::vector<std::uint8_t> signing_key::dnskey_rdata(std::uint16_t flags) const {
  std::vector<std::uint8_t> out(4 + public_key_.size());
  out[0] = static_cast<std::uint8_t>(flags >> 8);
  out[1] = static_cast<std::uint8_t>(flags);
  out[2] = 3;
  out[3] = static_cast<std::uint8_t>(algorithm_);
  if (!public_key_.empty()) std::memcpy(out.data() + 4, public_key_.data(), public_key_.size());
  return out;
}

std::uint16_t signing_key::key_tag(std::uint16_t flags) const { return dnssec::key_tag(dnskey_rdata(flags)); }

std::vector<std::uint8_t> signing_key::sign(std::span<const std::uint8_t> data) const {
  if (!impl_ || !impl_->key) throw std::runtime_error("DNSSEC sign: empty key");
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> mctx(EVP_MD_CTX_new());
  const EVP_MD* md = algorithm_ == algorithm::ed25519 ? nullptr : EVP_sha256();
  if (!mctx || EVP_DigestSignInit(mctx.get(), nullptr, md, nullptr, impl_->key.get()) != 1) {
    throw std::runtime_error("DNSSEC sign: EVP_DigestSignInit failed");
  }
  std::size_t len = 0;
  if (EVP_DigestSign(mctx.get(), nullptr, &len, data.data(), data.size()) != 1) {
    throw std::runtime_error("DNSSEC sign: EVP_DigestSign failed");
  }
  std::vector<std::uint8_t> sig(len);
  if (EVP_DigestSign(mctx.get(), sig.data(), &len, data.data(), data.size()) != 1) {
    throw std::runtime_error("DNSSEC sign: EVP_DigestSign failed");
  }
  sig.resize(len);
  if (algorithm_ != algorithm::ecdsap256sha256) return sig;
  // DER ECDSA-Sig-Value to r||s (RFC 6605 4).
  const unsigned char* p = sig.data();
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!es) throw std::runtime_error("DNSSEC sign: bad ECDSA signature from OpenSSL");
  std::vector<std::uint8_t> out(2 * p256_size);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(es.get()), out.data(), p256_size) != p256_size ||
      BN_bn2binpad(ECDSA_SIG_get0_s(es.get()), out.data() + p256_size, p256_size) != p256_size) {
    throw std::runtime_error("DNSSEC sign: ECDSA signature does not fit 64 octets");
  }
  return out;
}

std::uint16_t key_tag(std::span<const std::uint8_t> rdata) {
  std::uint32_t ac = 0;
  for (std::size_t i = 0; i < rdata.size(); ++i) ac += (i & 1) ? rdata[i] : std::uint32_t{rdata[i]} << 8;
  ac += (ac >> 16) & 0xFFFF;
  return static_cast<std::uint16_t>(ac & 0xFFFF);
}

std::vector<std::uint8_t> ds_rdata(std::span<const std::uint8_t> owner_wire, std::span<const std::uint8_t> dnskey,
                                   int digest_type) {
  if (dnskey.size() < 4) throw std::invalid_argument("DS: DNSKEY RDATA shorter than 4 octets");
  const EVP_MD* md = nullptr;
  switch (digest_type) {
    case 1: md = EVP_sha1(); break;
    case 2: md = EVP_sha256(); break;
    case 4: md = EVP_sha384(); break;
    default: throw std::invalid_argument("DS: unsupported digest type " + std::to_string(digest_type));
  }
  std::vector<std::uint8_t> input;
  input.reserve(owner_wire.size() + dnskey.size());
  for (auto c : owner_wire) input.push_back(c);  // lowercased below, labels only
  // Lowercase the letters of each label, leaving the length octets alone.
  for (std::size_t i = 0; i < input.size() && input[i] != 0;) {
    std::size_t len = input[i];
    for (std::size_t j = i + 1; j <= i + len && j < input.size(); ++j) {
      if (input[j] >= 'A' && input[j] <= 'Z') input[j] = static_cast<std::uint8_t>(input[j] + 32);
    }
    i += len + 1;
  }
  input.insert(input.end(), dnskey.begin(), dnskey.end());
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int dlen = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &dlen, md, nullptr) != 1) {
    throw std::runtime_error("DS: digest failed");
  }
  std::uint16_t tag = key_tag(dnskey);
  std::vector<std::uint8_t> out(4 + dlen);
  out[0] = static_cast<std::uint8_t>(tag >> 8);
  out[1] = static_cast<std::uint8_t>(tag);
  out[2] = dnskey[3];
  out[3] = static_cast<std::uint8_t>(digest_type);
  std::memcpy(out.data() + 4, digest.data(), dlen);
  return out;
}

bool verify(std::span<const std::uint8_t> dnskey, std::span<const std::uint8_t> data,
            std::span<const std::uint8_t> signature) {
  if (dnskey.size() < 5 || dnskey[2] != 3) return false;
  const int alg = dnskey[3];
  auto pub = dnskey.subspan(4);
  pkey_ptr key;
  std::vector<std::uint8_t> der;
  std::span<const std::uint8_t> sig = signature;
  const EVP_MD* md = EVP_sha256();
  if (alg == algorithm::ecdsap256sha256) {
    if (pub.size() != 2 * p256_size || signature.size() != 2 * p256_size) return false;
    std::array<std::uint8_t, 65> point{};
    point[0] = 4;
    std::memcpy(point.data() + 1, pub.data(), pub.size());
    std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size())) {
      return false;
    }
    key = from_params("EC", bld.get(), EVP_PKEY_PUBLIC_KEY);
    std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> es(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(signature.data(), p256_size, nullptr);
    BIGNUM* s = BN_bin2bn(signature.data() + p256_size, p256_size, nullptr);
    if (!es || !r || !s || ECDSA_SIG_set0(es.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return false;
    }
    int len = i2d_ECDSA_SIG(es.get(), nullptr);
    if (len <= 0) return false;
    der.resize(static_cast<std::size_t>(len));
    unsigned char* out = der.data();
    i2d_ECDSA_SIG(es.get(), &out);
    sig = der;
  } else if (alg == algorithm::ed25519) {
    if (pub.size() != ed25519_size) return false;
    key.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()));
    md = nullptr;
  } else if (alg == algorithm::rsasha256) {
    std::size_t elen = pub[0];
    std::size_t at = 1;
    if (elen == 0) {
      if (pub.size() < 3) return false;
      elen = (std::size_t{pub[1]} << 8) | pub[2];
      at = 3;
    }
    if (elen == 0 || pub.size() <= at + elen) return false;
    bn_ptr e = to_bn(pub.subspan(at, elen));
    bn_ptr n = to_bn(pub.subspan(at + elen));
    std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
      return false;
    }
    key = from_params("RSA", bld.get(), EVP_PKEY_PUBLIC_KEY);
  } else {
    return false;
  }
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, md_ctx_free> mctx(EVP_MD_CTX_new());
  if (!mctx || EVP_DigestVerifyInit(mctx.get(), nullptr, md, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(mctx.get(), sig.data(), sig.size(), data.data(), data.size()) == 1;
}

std::string dnskey_to_text(std::span<const std::uint8_t> rdata) {
  if (rdata.size() < 4) return {};
  unsigned flags = (unsigned{rdata[0]} << 8) | rdata[1];
  return std::to_string(flags) + " " + std::to_string(rdata[2]) + " " + std::to_string(rdata[3]) + " " +
         base64_encode(rdata.subspan(4));
}

std::string ds_to_text(std::span<const std::uint8_t> rdata) {
  if (rdata.size() < 4) return {};
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = std::to_string((unsigned{rdata[0]} << 8) | rdata[1]) + " " + std::to_string(rdata[2]) +
                    " " + std::to_string(rdata[3]) + " ";
  for (auto c : rdata.subspan(4)) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

std::string generate_private_key(int alg) { return make_signing_key(alg).to_private_text(); }

}  // namespace zonemesh::dnssec
