// Fuzz target: the signature header parsers and checks of all three hosts and Standard
// Webhooks, with hostile headers and bodies against a fixed set of secrets. Beyond "no crash",
// it checks two properties on every input: a header made with a configured secret verifies,
// and an empty secret never verifies anything (it would make every signature forgeable).
// Input: the scheme, then the header values, then the body.
#include <fuzzer/FuzzedDataProvider.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gitopsd/crypto.hpp"
#include "gitopsd/receiver/signature.hpp"

namespace {

using namespace gitopsd;
using namespace gitopsd::receiver;

const std::string kSecret = "It's a Secret to Everybody";
const std::string kWhsecKey = "gitopsd-test-signing-key-32bytes";
// A usable secret of each kind, and the unusable ones a careless config could hold.
const std::vector<Secret> kSecrets{{kSecret, "fuzz"},
                                   {"whsec_" + base64_encode(kWhsecKey), "fuzz"},
                                   {"whsec_not base64!", "fuzz"},
                                   {"whsec_", "fuzz"}};
const std::vector<Secret> kEmptySecret{{"", "fuzz"}};
const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1763902800)};

enum class Scheme { github, gitea, gitlab_token, standard_webhooks, timestamp };

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const Scheme scheme = in.PickValueInArray({Scheme::github, Scheme::gitea, Scheme::gitlab_token,
                                             Scheme::standard_webhooks, Scheme::timestamp});
  const std::string header = in.ConsumeRandomLengthString(256);
  switch (scheme) {
    case Scheme::github: {
      const std::string body = in.ConsumeRemainingBytesAsString();
      (void)verify_github(header, body, kSecrets);
      check(verify_github("sha256=" + to_hex(hmac_sha256(kSecret, body)), body, kSecrets));
      check(!verify_github("sha256=" + to_hex(hmac_sha256("", body)), body, kEmptySecret));
      break;
    }
    case Scheme::gitea: {
      const std::string body = in.ConsumeRemainingBytesAsString();
      (void)verify_gitea(header, body, kSecrets);
      check(verify_gitea(to_hex(hmac_sha256(kSecret, body)), body, kSecrets));
      check(!verify_gitea(to_hex(hmac_sha256("", body)), body, kEmptySecret));
      break;
    }
    case Scheme::gitlab_token:
      (void)verify_gitlab_token(header, kSecrets);
      check(!verify_gitlab_token(header, kEmptySecret));
      break;
    case Scheme::standard_webhooks: {
      const std::string id = in.ConsumeRandomLengthString(64);
      const std::string timestamp = in.ConsumeRandomLengthString(24);
      const std::string body = in.ConsumeRemainingBytesAsString();
      (void)verify_standard_webhook(id, timestamp, header, body, kSecrets, kNow);
      const std::string now = std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(kNow.time_since_epoch()).count());
      const std::string genuine =
          "v1," + base64_encode(hmac_sha256(kWhsecKey, id + "." + now + "." + body));
      // The genuine entry verifies wherever it stands among other entries.
      check(verify_standard_webhook(id, now, header + " " + genuine, body, kSecrets, kNow) ==
            !id.empty());
      break;
    }
    case Scheme::timestamp: {
      // Any clock a host could have (system_clock counts nanoseconds: +-292 years).
      const auto now = std::chrono::system_clock::time_point(
          std::chrono::seconds(in.ConsumeIntegralInRange<std::int64_t>(-9'000'000'000,
                                                                       9'000'000'000)));
      (void)standard_webhook_timestamp_fresh(header, now);
      break;
    }
  }
  return 0;
}
