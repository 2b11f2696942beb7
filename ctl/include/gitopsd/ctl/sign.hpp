// `gitopsctl sign`: the headers a Git host would send with a body, signed with a secret, so a
// person can fire a real webhook at a receiver by hand. Pure functions plus one HTTP sender.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "gitopsd/config.hpp"

namespace gitopsd::ctl {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The headers `provider` sends for `body`: event, delivery id, content type and signature
// (GitHub X-Hub-Signature-256; Gitea X-Gitea-Signature; GitLab X-Gitlab-Token, or Standard
// Webhooks signing when the secret starts with "whsec_"). `event` defaults per provider to
// its push event when empty; `delivery_id` to a random UUID when empty.
Headers signed_headers(Provider provider, const std::string& secret, const std::string& body,
                       std::string event, std::string delivery_id,
                       std::chrono::system_clock::time_point now);

struct SendResult {
  int status = 0;      // HTTP status, 0 when no answer
  std::string body;    // answer body, or what went wrong
};

// POSTs `body` with `headers` to an http:// or https:// URL (certificates verified against
// the system's CAs); `timeout` bounds the whole exchange.
SendResult send_webhook(const std::string& url, const Headers& headers, const std::string& body,
                        std::chrono::milliseconds timeout);

}  // namespace gitopsd::ctl
