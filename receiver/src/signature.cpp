#include "gitopsd/receiver/signature.hpp"

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>

#include "gitopsd/crypto.hpp"

namespace gitopsd::receiver {
namespace {

constexpr std::string_view kSigningKeyPrefix = "whsec_";

bool is_signing_key(const Secret& s) { return s.value.starts_with(kSigningKeyPrefix); }

// `expected_mac` is the raw MAC the sender claims. Every usable secret is tried, without
// stopping at the first match, so timing does not tell which rotation slot matched.
bool any_hmac_matches(std::string_view expected_mac, std::string_view data,
                      const std::vector<Secret>& secrets) {
  bool match = false;
  for (const Secret& s : secrets) {
    // An empty key would make every signature forgeable.
    if (s.value.empty() || is_signing_key(s)) continue;
    match |= constant_time_equal(hmac_sha256(s.value, data), expected_mac);
  }
  return match;
}

std::optional<std::int64_t> parse_unix_seconds(std::string_view text) {
  std::int64_t value = 0;
  if (text.empty() || text.size() > 15) return std::nullopt;  // digits only, no overflow
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.front() == '-') {
    return std::nullopt;
  }
  return value;
}

}  // namespace

bool verify_github(std::string_view signature_header, std::string_view body,
                   const std::vector<Secret>& secrets) {
  constexpr std::string_view kPrefix = "sha256=";
  if (!signature_header.starts_with(kPrefix)) return false;
  const auto mac = from_hex(signature_header.substr(kPrefix.size()));
  return mac && any_hmac_matches(*mac, body, secrets);
}

bool verify_gitea(std::string_view signature_header, std::string_view payload,
                  const std::vector<Secret>& secrets) {
  const auto mac = from_hex(signature_header);
  return mac && any_hmac_matches(*mac, payload, secrets);
}

bool verify_gitlab_token(std::string_view token, const std::vector<Secret>& secrets) {
  if (token.empty()) return false;
  // Comparing MACs of both sides instead of the raw strings keeps the time independent of
  // the secret's length too; equal MACs mean equal inputs.
  constexpr std::string_view kKey = "gitopsd gitlab token";
  const std::string received = hmac_sha256(kKey, token);
  bool match = false;
  for (const Secret& s : secrets) {
    if (s.value.empty() || is_signing_key(s)) continue;
    match |= constant_time_equal(hmac_sha256(kKey, s.value), received);
  }
  return match;
}

bool standard_webhook_timestamp_fresh(std::string_view timestamp,
                                      std::chrono::system_clock::time_point now,
                                      std::chrono::seconds tolerance) {
  const auto sent = parse_unix_seconds(timestamp);
  if (!sent) return false;
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::int64_t skew = now_s > *sent ? now_s - *sent : *sent - now_s;
  return skew <= tolerance.count();
}

bool verify_standard_webhook(std::string_view id, std::string_view timestamp,
                             std::string_view signature_header, std::string_view body,
                             const std::vector<Secret>& secrets,
                             std::chrono::system_clock::time_point now,
                             std::chrono::seconds tolerance) {
  if (id.empty() || !standard_webhook_timestamp_fresh(timestamp, now, tolerance)) return false;

  std::string signed_content;
  signed_content.reserve(id.size() + timestamp.size() + body.size() + 2);
  signed_content.append(id).append(".").append(timestamp).append(".").append(body);

  std::vector<std::string> macs;
  for (const Secret& s : secrets) {
    if (!is_signing_key(s)) continue;
    const auto key = base64_decode(std::string_view(s.value).substr(kSigningKeyPrefix.size()));
    if (!key || key->empty()) continue;
    macs.push_back(hmac_sha256(*key, signed_content));
  }

  bool match = false;
  std::string_view rest = signature_header;
  while (!rest.empty()) {
    const std::size_t space = rest.find(' ');
    const std::string_view entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    // Other versions (e.g. "v1a," asymmetric signatures) are not ours to check.
    if (!entry.starts_with("v1,")) continue;
    const auto mac = base64_decode(entry.substr(3));
    if (!mac) continue;
    for (const std::string& expected : macs) match |= constant_time_equal(expected, *mac);
  }
  return match;
}

}  // namespace gitopsd::receiver
