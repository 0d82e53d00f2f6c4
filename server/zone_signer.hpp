#pragma once
// Online DNSSEC signing off the query path. The zone follower publishes the
// zones as the database holds them (unsigned) into one publisher; the signer
// reads dnssec_keys and the NSEC3PARAM metadata, signs every zone that has
// an active key on its own thread (reusing the signatures of RRsets that did
// not change) and publishes the served set: unsigned zones as they are,
// signed zones only once signed, so queries see either the last signed
// version or the new one, never a half-signed zone. Zones are signed again
// before their signatures come within the refresh margin of expiry.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "store/zone_set.hpp"

namespace zonemesh::common::metrics {
class registry;
}

namespace zonemesh::server {

struct signer_options {
  std::chrono::seconds validity{14 * 86400};  ///< [server] dnssec_signature_validity
  std::chrono::seconds refresh{7 * 86400};    ///< [server] dnssec_signature_refresh
  /// Re-read dnssec_keys at least this often even without a NOTIFY.
  std::chrono::milliseconds poll_interval{1000};
};

/// Metrics: zonemesh_dnssec_signed_zones, zonemesh_dnssec_keys,
/// zonemesh_dnssec_signatures_made_total, zonemesh_dnssec_signatures_reused_total,
/// zonemesh_dnssec_sign_errors_total, zonemesh_dnssec_key_errors_total,
/// zonemesh_dnssec_sign_milliseconds_total,
/// zonemesh_dnssec_incremental_signings_total, zonemesh_dnssec_whole_zone_signings_total.
class zone_signer {
 public:
  /// Signs what `in` publishes into `out`. Call before the follower starts
  /// (it hooks `in`'s publications).
  zone_signer(std::string conninfo, std::shared_ptr<store::zone_publisher> in,
              std::shared_ptr<store::zone_publisher> out, common::metrics::registry& metrics,
              signer_options options = {});
  ~zone_signer();  ///< stops
  zone_signer(const zone_signer&) = delete;
  zone_signer& operator=(const zone_signer&) = delete;

  void start();
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace zonemesh::server
