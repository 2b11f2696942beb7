// Writes fuzz/corpus/decide/: realistic deliveries (tests/support/payloads.hpp) encoded the
// way fuzz_decide reads its input (decide_input.hpp). Run it again after changing that layout:
//   build-fuzz/fuzz/fuzz_decide_seeds fuzz/corpus/decide
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "../tests/support/payloads.hpp"
#include "decide_input.hpp"

namespace {

using namespace gitopsd::fuzz;
using namespace gitopsd::test;

// The inverse of FuzzedDataProvider for the calls fuzz_decide makes.
class Input {
 public:
  template <typename T, std::size_t N>
  Input& pick(const T (&table)[N], const T& value) {  // PickValueInArray (N <= 256)
    const auto it = std::find(std::begin(table), std::end(table), value);
    if (it == std::end(table)) std::abort();
    back_.push_back(static_cast<char>(it - std::begin(table)));
    return *this;
  }
  Input& flag(bool b) {  // ConsumeBool
    back_.push_back(b ? 1 : 0);
    return *this;
  }
  Input& number(int n) {  // ConsumeIntegralInRange over a range below 256
    back_.push_back(static_cast<char>(n));
    return *this;
  }
  Input& string(std::string_view s) {  // ConsumeRandomLengthString
    for (const char c : s) {
      front_.push_back(c);
      if (c == '\\') front_.push_back('\\');
    }
    front_ += "\\ ";  // a backslash and any other byte end the string
    return *this;
  }
  template <std::size_t N>  // PickValueInArray over a table of strings
  Input& pick_string(const char* const (&table)[N], std::string_view value) {
    const auto it = std::find_if(std::begin(table), std::end(table),
                                 [&](const char* t) { return value == t; });
    if (it == std::end(table)) std::abort();
    back_.push_back(static_cast<char>(it - std::begin(table)));
    return *this;
  }
  std::string bytes(std::string_view body) const {
    return front_ + std::string(body) + std::string(back_.rbegin(), back_.rend());
  }

 private:
  std::string front_;
  std::string back_;  // in the order taken, i.e. from the end backwards
};

struct Seed {
  std::string name;
  std::string target;
  std::string event_header;
  std::string event;
  std::string content_type;
  std::string delivery_header;
  SignMode mode;
  std::string secret;  // sign mode
  bool standard_webhooks = false;
  std::string body;
  std::string method = "POST";
};

std::string encode(const Seed& s) {
  Input in;
  in.pick_string(kMethods, s.method).pick_string(kTargets, s.target);
  in.number(s.event_header.empty() ? 0 : 1);
  if (!s.event_header.empty()) {
    in.pick_string(kEventHeaders, s.event_header).flag(true).pick_string(kEvents, s.event);
  }
  in.flag(true).pick_string(kContentTypes, s.content_type);
  in.flag(!s.delivery_header.empty());
  if (!s.delivery_header.empty()) {
    in.pick_string(kDeliveryHeaders, s.delivery_header).string("72d3162e-cc78-11e3-81ab");
  }
  in.pick(kSignModes, s.mode).flag(s.standard_webhooks);
  if (s.mode == SignMode::sign) {
    in.pick_string(kSecrets, s.secret).string("msg_2mZ1bHQ3").number(0);
  } else if (s.mode == SignMode::forge) {
    in.string("sha256=" + std::string(64, 'a')).string(std::string(64, 'b')).string("guess");
    if (s.standard_webhooks) in.string("msg_1").string("1763902800").string("v1,AAAA");
  }
  return in.bytes(s.body);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_decide_seeds DIR\n";
    return 2;
  }
  const std::string json = "application/json";
  const std::string form = "application/x-www-form-urlencoded";
  const std::vector<Seed> seeds{
      {"github-push", "/hooks/github", "X-GitHub-Event", "push", json, "X-GitHub-Delivery",
       SignMode::sign, "github-secret", false, github_push("acme/infra", "main", kShaA, kShaB)},
      {"github-push-form", "/hooks", "X-GitHub-Event", "push", form, "X-GitHub-Delivery",
       SignMode::sign, "github-secret", false,
       form_encode_payload(github_push("acme/infra", "main", kShaA, kShaB, {.forced = true}))},
      {"github-push-staging", "/hooks", "X-GitHub-Event", "push", json, "X-GitHub-Delivery",
       SignMode::sign, "staging-secret", false,
       github_push("acme/infra", "staging", kZeroSha, kShaB)},
      {"github-pull-request-merged", "/hooks/github", "X-GitHub-Event", "pull_request", json,
       "X-GitHub-Delivery", SignMode::sign, "github-secret", false,
       github_pull_request_merged("acme/infra", "main", kShaA, kShaC)},
      {"github-ping", "/hooks/github", "X-GitHub-Event", "ping", json, "X-GitHub-Delivery",
       SignMode::sign, "github-secret", false, github_ping("acme/infra")},
      {"github-forged", "/hooks/github", "X-GitHub-Event", "push", json, "X-GitHub-Delivery",
       SignMode::forge, "", false, github_push("acme/infra", "main", kShaA, kShaB)},
      {"gitlab-push-token", "/hooks/gitlab", "X-Gitlab-Event", "Push Hook", json,
       "Idempotency-Key", SignMode::sign, "glpat-fuzz-token", false,
       gitlab_push("acme/platform", "main", kShaA, kShaB)},
      {"gitlab-merge-standard-webhooks", "/hooks", "X-Gitlab-Event", "Merge Request Hook", json,
       "X-Gitlab-Event-UUID", SignMode::sign, kWhsec, true,
       gitlab_merge_request("acme/platform", "main", kShaC)},
      {"gitlab-forged-standard-webhooks", "/hooks/gitlab", "X-Gitlab-Event", "Push Hook", json,
       "", SignMode::forge, "", true, gitlab_push("acme/platform", "main", kShaA, kShaB)},
      {"gitea-push", "/hooks/gitea", "X-Gitea-Event", "push", json, "X-Gitea-Delivery",
       SignMode::sign, "gitea-secret", false, gitea_push("me/homelab", "main", kShaA, kShaB)},
      {"forgejo-pull-request", "/hooks", "X-Forgejo-Event", "pull_request", json,
       "X-Forgejo-Delivery", SignMode::sign, "gitea-secret", false,
       gitea_pull_request("me/homelab", "main", kShaA, kShaC)},
      {"get", "/hooks", "", "", json, "", SignMode::none, "", false, "", "GET"},
  };
  for (const Seed& s : seeds) {
    std::ofstream(std::string(argv[1]) + "/" + s.name, std::ios::binary) << encode(s);
  }
  return 0;
}
