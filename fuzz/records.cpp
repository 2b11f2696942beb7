// Fuzz target: the parsers of what travels on Kafka: gitopsd.event.v1 (events topic),
// gitopsd.result.v1 (results), gitopsd.state.v1 (state) and gitopsd.commit-status.v1
// (statuses). The first byte names the parser ('e', 'r', 's' or 'c'), the rest is the record,
// so seeds stay readable JSON. Whatever a parser accepts must survive a round trip: serialized
// and parsed again, it is the same record.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "gitopsd/event.hpp"
#include "gitopsd/records.hpp"

namespace {

template <typename Record, typename Parse>
void round_trip(std::string_view json, Parse parse) {
  const auto first = parse(json);
  if (!std::holds_alternative<Record>(first)) return;
  const std::string serialized = gitopsd::to_json(std::get<Record>(first));
  const auto second = parse(serialized);
  if (!std::holds_alternative<Record>(second) ||
      gitopsd::to_json(std::get<Record>(second)) != serialized) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 'e': round_trip<gitopsd::Event>(json, gitopsd::parse_event); break;
    case 'r': round_trip<gitopsd::Result>(json, gitopsd::parse_result); break;
    case 's': round_trip<gitopsd::StateRecord>(json, gitopsd::parse_state); break;
    case 'c': round_trip<gitopsd::CommitStatusRecord>(json, gitopsd::parse_commit_status); break;
    default: break;
  }
  return 0;
}
