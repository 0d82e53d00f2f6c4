#pragma once
// DNS cookies (RFC 7873): the COOKIE option's layout, and server cookies as
// RFC 9018 makes them (version 1: a timestamp and a SipHash-2-4 over the
// client cookie, the timestamp and the client's address), so that every
// site holding the same secret makes and accepts the same cookies.

#include <array>
#include <cstdint>
#include <span>

namespace zonemesh::dns {

inline constexpr std::size_t client_cookie_size = 8;
inline constexpr std::size_t server_cookie_size = 16;  ///< RFC 9018 version 1

using cookie_secret = std::array<std::uint8_t, 16>;

enum class [[nodiscard]] cookie_status : std::uint8_t{
    client_only,  ///< 8 octets: a client cookie alone
    with_server,  ///< a client cookie and 8 to 32 octets of server cookie
    malformed,    ///< any other length (RFC 7873 5.2.2: FORMERR)
};

/// The two parts of a COOKIE option's data, as views into it.
struct cookie_view {
  std::span<const std::uint8_t> client;
  std::span<const std::uint8_t> server;  ///< empty when client_only
};

/// Splits a COOKIE option's data, checking its length only.
cookie_status parse_cookie(std::span<const std::uint8_t> data, cookie_view& out);

/// SipHash-2-4 of `data` under `key`.
std::uint64_t siphash24(const cookie_secret& key, std::span<const std::uint8_t> data);

/// Writes the RFC 9018 server cookie for `client` (8 octets) and the client's
/// address (4 or 16 octets) at `timestamp` (seconds since the epoch, mod 2^32).
void make_server_cookie(const cookie_secret& key, std::span<const std::uint8_t> client,
                        std::span<const std::uint8_t> client_address, std::uint32_t timestamp,
                        std::span<std::uint8_t, server_cookie_size> out);

enum class [[nodiscard]] server_cookie_check : std::uint8_t{
    valid,        ///< made by one of the keys, recently, for this client
    valid_renew,  ///< valid, but older than half an hour or made by an older key: send a new one
    invalid,
};

/// Checks a server cookie against the current key and the keys still
/// accepted (RFC 9018 4.3: at most an hour old, at most five minutes ahead).
server_cookie_check check_server_cookie(const cookie_secret& current,
                                        std::span<const cookie_secret> also_accepted,
                                        std::span<const std::uint8_t> client,
                                        std::span<const std::uint8_t> server,
                                        std::span<const std::uint8_t> client_address,
                                        std::uint32_t now);

}  // namespace zonemesh::dns
