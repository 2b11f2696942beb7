// Normalization of a verified payload, as scanned, into gitopsd.event.v1. Pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "gitopsd/config.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/receiver/payload_scan.hpp"

namespace gitopsd::receiver {

// Genuine, but not ours to apply: other branch, other event, ping, branch deletion, tag.
struct Ignored {
  std::string reason;
};
// Required fields missing or of the wrong type: answered 400.
struct Malformed {
  std::string reason;
};

using Normalized = std::variant<Event, Ignored, Malformed>;

// The payload fields normalize() reads for this kind of event: scan the body with them.
std::span<const std::string_view> normalize_fields(Provider provider, std::string_view event_type);

// `event_type` is the value of the provider's event header; `payload` the body's scan with
// normalize_fields(); `repository` the configured repository the payload names. The
// returned Event has no event_id/received_at/delivery_id yet.
Normalized normalize(Provider provider, std::string_view event_type, const PayloadScan& payload,
                     const Repository& repository);

}  // namespace gitopsd::receiver
