// Webhook authenticity checks, one per scheme in DESIGN.md. Pure and thread-safe;
// every comparison is constant-time. Each returns true when any secret matches.
#pragma once

#include <chrono>
#include <string_view>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd::receiver {

// GitHub: header "sha256=<hex HMAC-SHA256(secret, raw body)>".
bool verify_github(std::string_view signature_header, std::string_view body,
                   const std::vector<Secret>& secrets);

// Gitea/Forgejo: header "<hex HMAC-SHA256(secret, payload)>".
bool verify_gitea(std::string_view signature_header, std::string_view payload,
                  const std::vector<Secret>& secrets);

// GitLab's X-Gitlab-Token: equal to one of the secrets that are not "whsec_" signing keys.
bool verify_gitlab_token(std::string_view token, const std::vector<Secret>& secrets);

// Standard Webhooks' replay guard: `timestamp` (decimal Unix seconds) is within `tolerance`
// of `now`. False when it is not a number. verify_standard_webhook checks this too; callers
// use it to tell a stale delivery from a forged one.
bool standard_webhook_timestamp_fresh(std::string_view timestamp,
                                      std::chrono::system_clock::time_point now,
                                      std::chrono::seconds tolerance = std::chrono::minutes(5));

// Standard Webhooks (GitLab signed webhooks): `signature_header` is a space-separated list
// of "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>"; key = base64-decoded secret after
// "whsec_". Timestamps more than `tolerance` away from `now` are refused.
bool verify_standard_webhook(std::string_view id, std::string_view timestamp,
                             std::string_view signature_header, std::string_view body,
                             const std::vector<Secret>& secrets,
                             std::chrono::system_clock::time_point now,
                             std::chrono::seconds tolerance = std::chrono::minutes(5));

}  // namespace gitopsd::receiver
