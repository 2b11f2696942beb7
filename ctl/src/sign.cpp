#include "gitopsd/ctl/sign.hpp"

#include <stdexcept>

#include "gitopsd/crypto.hpp"
#include "gitopsd/http_client.hpp"

namespace gitopsd::ctl {

Headers signed_headers(Provider provider, const std::string& secret, const std::string& body,
                       std::string event, std::string delivery_id,
                       std::chrono::system_clock::time_point now) {
  if (delivery_id.empty()) delivery_id = random_uuid();
  Headers h{{"Content-Type", "application/json"}};
  switch (provider) {
    case Provider::github:
      h.emplace_back("X-GitHub-Event", event.empty() ? "push" : event);
      h.emplace_back("X-GitHub-Delivery", delivery_id);
      h.emplace_back("X-Hub-Signature-256", "sha256=" + to_hex(hmac_sha256(secret, body)));
      break;
    case Provider::gitea:
      h.emplace_back("X-Gitea-Event", event.empty() ? "push" : event);
      h.emplace_back("X-Gitea-Delivery", delivery_id);
      h.emplace_back("X-Gitea-Signature", to_hex(hmac_sha256(secret, body)));
      break;
    case Provider::gitlab: {
      h.emplace_back("X-Gitlab-Event", event.empty() ? "Push Hook" : event);
      // As GitLab sends them; a token request is named by its X-Gitlab-Event-UUID, a signed
      // one by its webhook-id (DESIGN: the unsigned Idempotency-Key never names a delivery).
      h.emplace_back("X-Gitlab-Event-UUID", delivery_id);
      h.emplace_back("Idempotency-Key", delivery_id);
      if (secret.starts_with("whsec_")) {
        auto timestamp = std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
        auto signature = standard_webhook_signature(secret, delivery_id, timestamp, body);
        if (!signature) throw std::invalid_argument("the whsec_ secret is not valid base64");
        h.emplace_back("webhook-id", delivery_id);
        h.emplace_back("webhook-timestamp", timestamp);
        h.emplace_back("webhook-signature", std::move(*signature));
      } else {
        h.emplace_back("X-Gitlab-Token", secret);
      }
      break;
    }
  }
  return h;
}

SendResult send_webhook(const std::string& url, const Headers& headers, const std::string& body,
                        std::chrono::milliseconds timeout) {
  HttpRequest request{.method = "POST", .url = url, .headers = {{"User-Agent", "gitopsctl"}},
                      .body = body, .timeout = timeout, .ca_file = ""};
  request.headers.insert(request.headers.end(), headers.begin(), headers.end());
  auto answer = http_request(request);
  if (auto* error = std::get_if<std::string>(&answer)) return {0, *error};
  auto& response = std::get<HttpResponse>(answer);
  return {response.status, std::move(response.body)};
}

}  // namespace gitopsd::ctl
