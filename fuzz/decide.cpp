// Fuzz target: the receiver's whole protocol decision, decide(), over method, target,
// headers and body. Structure-aware (decide_input.hpp): the input picks the request's shape
// from the values the receiver knows (paths, event names, content types) or fuzzes them, and
// the rest is the body. A fuzzer cannot forge an HMAC, and a committed seed signed once stops
// verifying at its first mutation, so in "sign" mode the harness signs whatever body it got
// with a configured secret, for every scheme at once (GitHub, Gitea, and GitLab's token or
// Standard Webhooks): every mutated body reaches JSON parsing, repository lookup and
// normalize(). "forge" mode fuzzes the signature headers themselves. Seeds: decide_seeds.cpp.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "decide_input.hpp"
#include "gitopsd/crypto.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/receiver/webhook.hpp"

namespace {

using namespace gitopsd;
using receiver::Decision;
using namespace gitopsd::fuzz;

Repository repository(std::string name, Provider provider, std::string match, std::string branch,
                      std::vector<std::string> secrets) {
  Repository r;
  r.name = std::move(name);
  r.provider = provider;
  r.match = std::move(match);
  r.branch = std::move(branch);
  for (std::string& s : secrets) r.secrets.push_back(Secret{std::move(s), "fuzz"});
  return r;
}

// Two repositories match acme/infra on different branches, so both the tracked-branch path
// and the "any candidate's secret" path are reachable.
const std::vector<Repository> kRepositories{
    repository("infra", Provider::github, "acme/infra", "main", {"github-old", "github-secret"}),
    repository("infra-staging", Provider::github, "acme/infra", "staging", {"staging-secret"}),
    repository("platform", Provider::gitlab, "acme/platform", "main", {"glpat-fuzz-token", kWhsec}),
    repository("homelab", Provider::gitea, "me/homelab", "main", {"gitea-secret"}),
};

std::string unix_seconds(std::chrono::system_clock::time_point t) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

std::string standard_webhook_key(const std::string& secret) {
  if (!secret.starts_with("whsec_")) return secret;
  return base64_decode(std::string_view(secret).substr(6)).value_or("");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<std::pair<std::string, std::string>> headers;
  const auto pick_or_fuzz = [&in](const auto& known) {
    return in.ConsumeBool() ? std::string(in.PickValueInArray(known))
                            : in.ConsumeRandomLengthString(64);
  };

  const std::string method = in.PickValueInArray(kMethods);
  const std::string target = in.PickValueInArray(kTargets);
  for (int n = in.ConsumeIntegralInRange(0, 2); n > 0; --n) {
    std::string name = in.PickValueInArray(kEventHeaders);
    headers.emplace_back(std::move(name), pick_or_fuzz(kEvents));
  }
  headers.emplace_back("Content-Type", pick_or_fuzz(kContentTypes));
  if (in.ConsumeBool()) {
    std::string name = in.PickValueInArray(kDeliveryHeaders);
    headers.emplace_back(std::move(name), in.ConsumeRandomLengthString(64));
  }
  const auto mode = in.PickValueInArray(kSignModes);
  const bool standard_webhooks = in.ConsumeBool();  // GitLab: webhook-signature, not the token
  std::string secret, webhook_id, webhook_timestamp;
  if (mode == SignMode::sign) {
    secret = in.PickValueInArray(kSecrets);
    webhook_id = in.ConsumeRandomLengthString(64);
    webhook_timestamp = unix_seconds(kNow + std::chrono::seconds(in.PickValueInArray(kSkews)));
  } else if (mode == SignMode::forge) {
    headers.emplace_back("X-Hub-Signature-256", in.ConsumeRandomLengthString(128));
    headers.emplace_back("X-Gitea-Signature", in.ConsumeRandomLengthString(128));
    headers.emplace_back("X-Gitlab-Token", in.ConsumeRandomLengthString(64));
    if (standard_webhooks) {
      headers.emplace_back("webhook-id", in.ConsumeRandomLengthString(64));
      headers.emplace_back("webhook-timestamp", in.ConsumeRandomLengthString(20));
      headers.emplace_back("webhook-signature", in.ConsumeRandomLengthString(128));
    }
  }
  const std::string body = in.ConsumeRemainingBytesAsString();
  if (mode == SignMode::sign) {
    const std::string mac = to_hex(hmac_sha256(secret, body));
    headers.emplace_back("X-Hub-Signature-256", "sha256=" + mac);
    headers.emplace_back("X-Gitea-Signature", mac);
    if (standard_webhooks) {
      const std::string signed_content = webhook_id + "." + webhook_timestamp + "." + body;
      headers.emplace_back("webhook-id", webhook_id);
      headers.emplace_back("webhook-timestamp", webhook_timestamp);
      headers.emplace_back("webhook-signature",
                           "v1," + base64_encode(hmac_sha256(standard_webhook_key(secret),
                                                             signed_content)));
    } else {
      headers.emplace_back("X-Gitlab-Token", secret);
    }
  }

  const receiver::WebhookRequest request{
      .method = method,
      .target = target,
      .header = [&headers](std::string_view name) -> std::string_view {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        for (const auto& [k, v] : headers) {
          if (std::equal(k.begin(), k.end(), name.begin(), name.end(),
                         [&](char a, char b) { return lower(a) == lower(b); })) {
            return v;
          }
        }
        return {};
      },
      .body = body,
      .now = kNow,
  };
  Decision decision = receiver::decide(request, kRepositories);

  // Every answer is JSON, and every published event is one a worker accepts.
  if (auto* reply = std::get_if<receiver::Reply>(&decision.action)) {
    boost::system::error_code ec;
    (void)boost::json::parse(reply->body, ec);
    if (ec) std::abort();
  } else {
    Event& event = std::get<receiver::Publish>(decision.action).event;
    event.event_id = "6f1c1e3e-0c3b-4d8a-9a57-3c2c7c1f2a10";
    event.received_at = "2026-11-23T13:00:00.000Z";
    if (std::holds_alternative<std::string>(parse_event(to_json(event)))) std::abort();
  }
  return 0;
}
