// Normalization of a verified, parsed payload into gitopsd.event.v1. Pure functions.
#pragma once

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "gitopsd/config.hpp"
#include "gitopsd/event.hpp"

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

// `event_type` is the value of the provider's event header; `payload` the parsed body;
// `repository` the configured repository the payload names. The returned Event has no
// event_id/received_at/delivery_id yet.
Normalized normalize(Provider provider, std::string_view event_type,
                     const boost::json::value& payload, const Repository& repository);

}  // namespace gitopsd::receiver
