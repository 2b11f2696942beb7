// How fuzz_decide reads its input, shared by the target (decide.cpp) and the seed writer
// (decide_seeds.cpp) so the committed seeds keep meaning what they say.
//
// FuzzedDataProvider takes numbers from the end of the input and strings from the front, so
// an input is [strings...][body][choices, last one first]. In the order they are taken:
//   method, target                       (choices from the tables below)
//   0..2 event headers: name, then either a known event or a fuzzed string
//   Content-Type: a known one or a fuzzed string
//   maybe one delivery header with a fuzzed value
//   SignMode, and whether GitLab signs with Standard Webhooks rather than the token
//   sign:  which configured secret, the webhook-id string, the webhook-timestamp skew
//   forge: fuzzed X-Hub-Signature-256, X-Gitea-Signature, X-Gitlab-Token, and with Standard
//          Webhooks fuzzed webhook-id, webhook-timestamp, webhook-signature
//   the body: all that is left
#pragma once

#include <chrono>
#include <string>

namespace gitopsd::fuzz {

inline const std::string kWhsec = "whsec_Z2l0b3BzZC10ZXN0LXNpZ25pbmcta2V5LTMyYnl0ZXM=";
// One secret of each configured repository (decide.cpp), as "sign" mode picks them.
inline const char* const kSecrets[] = {"github-secret", "staging-secret", "glpat-fuzz-token",
                                       kWhsec.c_str(), "gitea-secret"};
inline const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1763902800)};

inline constexpr const char* kMethods[] = {"POST", "GET"};
inline constexpr const char* kTargets[] = {"/hooks",       "/hooks/github", "/hooks/gitlab",
                                           "/hooks/gitea", "/hooks?x=y",    "/"};
inline constexpr const char* kEventHeaders[] = {"X-GitHub-Event", "X-Gitlab-Event",
                                                "X-Gitea-Event", "X-Forgejo-Event"};
inline constexpr const char* kEvents[] = {"push",          "pull_request", "ping",
                                          "Push Hook",     "Merge Request Hook",
                                          "Tag Push Hook", "create"};
inline constexpr const char* kContentTypes[] = {
    "application/json", "application/json; charset=utf-8", "application/x-www-form-urlencoded",
    "text/plain"};
inline constexpr const char* kDeliveryHeaders[] = {"X-GitHub-Delivery", "X-Gitea-Delivery",
                                                   "X-Forgejo-Delivery", "Idempotency-Key",
                                                   "X-Gitlab-Event-UUID"};
// webhook-timestamp minus now, in seconds: fresh, and just inside and outside the 5 minutes.
inline constexpr int kSkews[] = {0, 60, -299, 301, -3600};

// sign: this harness signs the body with a configured secret, so it passes verification;
// forge: the signature headers are fuzzed; none: no signature header at all.
enum class SignMode { sign, forge, none };
inline constexpr SignMode kSignModes[] = {SignMode::sign, SignMode::forge, SignMode::none};

}  // namespace gitopsd::fuzz
