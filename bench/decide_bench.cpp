// What the receiver spends judging one signed GitHub push before it publishes, against the
// two costs no receiver can avoid (bench/README.md): HMAC-SHA256 over the body, and one
// validating pass over the JSON. BM_DomParse and BM_HmacOneShot are what the receiver did
// before issue 12; BM_EventToJson the event it publishes.
//   build/bench/gitopsd_decide_bench [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#include <openssl/hmac.h>

#include <boost/json.hpp>

#include "gitopsd/crypto.hpp"
#include "gitopsd/event.hpp"
#include "gitopsd/receiver/normalize.hpp"
#include "gitopsd/receiver/payload_scan.hpp"
#include "gitopsd/receiver/webhook.hpp"
#include "payloads.hpp"
#include "webhook_request.hpp"

namespace {

using namespace gitopsd;
using namespace gitopsd::receiver;

constexpr std::string_view kSecret = "bench-secret";

// The tests' GitHub push, its commit repeated until the body is about the size of
// bench/gen_payload.py's (7 KB), which bench/receiver_load.sh sends.
const test::Delivery& delivery() {
  static const test::Delivery d = [] {
    boost::json::value push =
        boost::json::parse(test::github_push("acme/infra", "main", test::kShaA, test::kShaB));
    boost::json::array& commits = push.at("commits").as_array();
    const boost::json::value commit = commits.front();
    while (boost::json::serialize(push).size() < 7000) commits.push_back(commit);
    return test::github_delivery("push", boost::json::serialize(push), kSecret);
  }();
  return d;
}

const std::vector<Repository>& repositories() {
  static const std::vector<Repository> r = [] {
    Repository repo;
    repo.name = "infra";
    repo.provider = Provider::github;
    repo.match = "acme/infra";
    repo.branch = "main";
    repo.secrets = {Secret{std::string(kSecret), "bench"}};
    return std::vector<Repository>{repo};
  }();
  return r;
}

void BM_Decide(benchmark::State& state) {
  const WebhookRequest request = test::request_of(delivery());
  for (auto _ : state) {
    Decision d = decide(request, repositories());
    if (!std::holds_alternative<Publish>(d.action)) state.SkipWithError("not published");
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * delivery().body.size()));
  state.SetLabel(std::to_string(delivery().body.size()) + " B body");
}
BENCHMARK(BM_Decide);

void BM_Hmac(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(hmac_sha256(kSecret, delivery().body));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * delivery().body.size()));
}
BENCHMARK(BM_Hmac);

// OpenSSL's one-shot HMAC(), which fetches the algorithm by name per call: what
// hmac_sha256() used until issue 12.
void BM_HmacOneShot(benchmark::State& state) {
  const std::string_view body = delivery().body;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
                                  reinterpret_cast<const unsigned char*>(body.data()), body.size(),
                                  out, &out_len));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_HmacOneShot);

void BM_Scan(benchmark::State& state) {
  const std::string_view pieces[] = {delivery().body};
  const auto fields = normalize_fields(Provider::github, "push");
  for (auto _ : state) {
    benchmark::DoNotOptimize(scan_payload(Provider::github, "push", pieces, fields));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * delivery().body.size()));
}
BENCHMARK(BM_Scan);

void BM_DomParse(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(boost::json::parse(delivery().body));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * delivery().body.size()));
}
BENCHMARK(BM_DomParse);

void BM_EventToJson(benchmark::State& state) {
  Decision d = decide(test::request_of(delivery()), repositories());
  Event event = std::get<Publish>(d.action).event;
  event.event_id = random_uuid();
  event.received_at = format_timestamp(std::chrono::system_clock::now());
  for (auto _ : state) benchmark::DoNotOptimize(to_json(event));
}
BENCHMARK(BM_EventToJson);

void BM_RandomUuid(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(random_uuid());
}
BENCHMARK(BM_RandomUuid);

}  // namespace

BENCHMARK_MAIN();
