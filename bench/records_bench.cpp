// The cost of writing and reading the records gitopsd puts on its topics. to_json(Event) runs
// once per acknowledged webhook in the receiver, so it must stay cheap. See bench/README.md.
#include <benchmark/benchmark.h>

#include "gitopsd/event.hpp"
#include "gitopsd/records.hpp"

namespace gitopsd {
namespace {

// What the receiver publishes for a GitHub push.
constexpr std::string_view kPush =
    R"({"schema":"gitopsd.event.v1","event_id":"0f8e6d1c-3b2a-4c5d-9e8f-7a6b5c4d3e2f",)"
    R"("provider":"github","delivery_id":"72d3162e-cc78-11e3-81ab-4c9367dc0958",)"
    R"("received_at":"2026-11-23T13:00:00.123Z","repository":"infra",)"
    R"("full_name":"acme/infra","clone_url":"https://github.com/acme/infra.git",)"
    R"("branch":"main","kind":"push","before":"8a1f2c4be0f3d6a7c9e5b4d3f2a1908b7c6d5e4f",)"
    R"("after":"3b18e512dba79e4c8300dd08aeb37f8e728b8dad","forced":false,)"
    R"("sender":"octocat","merge_request":null})";

constexpr std::string_view kResult =
    R"({"schema":"gitopsd.result.v1","event_id":"5b1e6c3a-7f2d-4c1e-9a8b-0d1e2f3a4b5c",)"
    R"("repository":"infra","target":"web","commit":"3b18e512dba79e4c8300dd08aeb37f8e728b8dad",)"
    R"("status":"applied","rollback":false,"attempt":1,"worker":"host-a:1234",)"
    R"("started_at":"2026-11-23T13:00:00.123Z","finished_at":"2026-11-23T13:00:01.456Z",)"
    R"("duration_ms":1333,"message":"applied 3 files","output_tail":""})";

void BM_EventToJson(benchmark::State& state) {
  const Event e = std::get<Event>(parse_event(kPush));
  for (auto _ : state) benchmark::DoNotOptimize(to_json(e));
}
BENCHMARK(BM_EventToJson);

void BM_EventParse(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(parse_event(kPush));
}
BENCHMARK(BM_EventParse);

void BM_ResultToJson(benchmark::State& state) {
  const Result r = std::get<Result>(parse_result(kResult));
  for (auto _ : state) benchmark::DoNotOptimize(to_json(r));
}
BENCHMARK(BM_ResultToJson);

}  // namespace
}  // namespace gitopsd

BENCHMARK_MAIN();
