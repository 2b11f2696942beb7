// Small cryptographic helpers over OpenSSL. All functions are thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace gitopsd {

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string to_hex(std::string_view bytes);  // lowercase
std::optional<std::string> from_hex(std::string_view hex);  // either case
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);
// Standard Webhooks: the webhook-signature value "v1,<base64 HMAC-SHA256 of id.timestamp.body>"
// under `signing_key`, "whsec_" + base64 of the key (as GitLab and the notifier's webhook sinks
// use it); nullopt when the key is not that.
std::optional<std::string> standard_webhook_signature(std::string_view signing_key,
                                                      std::string_view id,
                                                      std::string_view timestamp,
                                                      std::string_view body);
// Compares in time that depends only on the lengths, never on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);
// Random UUID v4 (CSPRNG), lowercase canonical form.
std::string random_uuid();
// RFC 3339 UTC with milliseconds, e.g. 2026-11-23T13:00:00.123Z.
std::string format_timestamp(std::chrono::system_clock::time_point t);

}  // namespace gitopsd
