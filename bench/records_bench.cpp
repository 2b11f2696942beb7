// The cost of writing and reading the records gitopsd puts on its topics. to_json(Event) runs
// once per acknowledged webhook in the receiver, so it must stay cheap. See bench/README.md.
#include <benchmark/benchmark.h>

#include "gitopsd/event.hpp"
#include "gitopsd/records.hpp"

namespace gitopsd {
namespace {

Event push_event() {
  Event e;
  e.event_id = "0f8e6d1c-3b2a-4c5d-9e8f-7a6b5c4d3e2f";
  e.provider = EventProvider::github;
  e.delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
  e.received_at = "2026-11-23T13:00:00.123Z";
  e.repository = "infra";
  e.full_name = "acme/infra";
  e.clone_url = "https://github.com/acme/infra.git";
  e.branch = "main";
  e.kind = EventKind::push;
  e.before = "8a1f2c4be0f3d6a7c9e5b4d3f2a1908b7c6d5e4f";
  e.after = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
  e.sender = "octocat";
  return e;
}

void BM_EventToJson(benchmark::State& state) {
  const Event e = push_event();
  for (auto _ : state) benchmark::DoNotOptimize(to_json(e));
}
BENCHMARK(BM_EventToJson);

void BM_EventParse(benchmark::State& state) {
  const std::string text = to_json(push_event());
  for (auto _ : state) benchmark::DoNotOptimize(parse_event(text));
}
BENCHMARK(BM_EventParse);

void BM_ResultToJson(benchmark::State& state) {
  Result r;
  r.event_id = "5b1e6c3a-7f2d-4c1e-9a8b-0d1e2f3a4b5c";
  r.repository = "infra";
  r.target = "web";
  r.commit = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
  r.status = ResultStatus::applied;
  r.worker = "host-a:1234";
  r.started_at = "2026-11-23T13:00:00.123Z";
  r.finished_at = "2026-11-23T13:00:01.456Z";
  r.message = "applied 3 files";
  for (auto _ : state) benchmark::DoNotOptimize(to_json(r));
}
BENCHMARK(BM_ResultToJson);

}  // namespace
}  // namespace gitopsd

BENCHMARK_MAIN();
