#include "gitopsd/receiver/payload_scan.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "payloads.hpp"

namespace gitopsd::receiver {
namespace {

using test::kShaA;
using test::kShaB;
using Status = PayloadScan::Status;

PayloadScan scan(Provider provider, std::string_view event_type, std::string_view text,
                 std::span<const std::string_view> fields = {}) {
  const std::string_view pieces[] = {text};
  return scan_payload(provider, event_type, pieces, fields);
}

// The same text cut into pieces of `size` bytes.
PayloadScan scan_in_pieces(Provider provider, std::string_view event_type,
                              std::string_view text, std::size_t size) {
  std::vector<std::string_view> pieces;
  for (std::size_t at = 0; at < text.size(); at += size) pieces.push_back(text.substr(at, size));
  return scan_payload(provider, event_type, pieces);
}

TEST(PayloadScanTest, FindsRepositoryAndBranchOfEachProvider) {
  PayloadScan s = scan(Provider::github, "push",
                          test::github_push("acme/infra", "release/1.x", kShaA, kShaB));
  EXPECT_EQ(s.status, Status::ok);
  EXPECT_EQ(s.repository.value, "acme/infra");
  EXPECT_FALSE(s.repository.truncated);
  EXPECT_EQ(s.branch.value, "release/1.x");

  s = scan(Provider::github, "pull_request",
           test::github_pull_request_merged("acme/infra", "main", kShaA, kShaB));
  EXPECT_EQ(s.repository.value, "acme/infra");
  EXPECT_EQ(s.branch.value, "main");  // the base, not the head branch

  s = scan(Provider::gitlab, "Push Hook",
           test::gitlab_push("acme/sub/platform", "dev", kShaA, kShaB));
  EXPECT_EQ(s.repository.value, "acme/sub/platform");
  EXPECT_EQ(s.branch.value, "dev");

  s = scan(Provider::gitlab, "Merge Request Hook",
           test::gitlab_merge_request("acme/platform", "main", kShaB));
  EXPECT_EQ(s.repository.value, "acme/platform");
  EXPECT_EQ(s.branch.value, "main");

  s = scan(Provider::gitea, "pull_request",
           test::gitea_pull_request("me/homelab", "main", kShaA, kShaB));
  EXPECT_EQ(s.repository.value, "me/homelab");
  EXPECT_EQ(s.branch.value, "main");
}

TEST(PayloadScanTest, EventsAboutNoBranchHaveNone) {
  EXPECT_EQ(scan(Provider::github, "ping", test::github_ping("acme/infra")).branch.value, "");
  EXPECT_EQ(scan(Provider::github, "push",
                 test::github_push("acme/infra", "main", kShaA, kShaB, {.ref = "refs/tags/v1"}))
                .branch.value,
            "");
  // An event the scan does not know: its `ref` says nothing.
  EXPECT_EQ(scan(Provider::github, "create", R"({"ref":"refs/heads/main"})").branch.value, "");
}

TEST(PayloadScanTest, ReadsOnlyTheProvidersFields) {
  EXPECT_EQ(scan(Provider::gitlab, "Push Hook", R"({"repository":{"full_name":"a/b"}})")
                .repository.value,
            "");
  EXPECT_EQ(scan(Provider::github, "push", R"({"project":{"path_with_namespace":"a/b"}})")
                .repository.value,
            "");
  // Same key at another depth, or inside an array, is not the field.
  EXPECT_EQ(scan(Provider::github, "push", R"({"full_name":"x/y","a":{"repository":{"full_name":"x/z"}}})")
                .repository.value,
            "");
  EXPECT_EQ(scan(Provider::github, "push", R"({"repository":[{"full_name":"x/y"}]})").repository.value,
            "");
  // Not a string: absent.
  EXPECT_EQ(scan(Provider::github, "push", R"({"repository":{"full_name":7}})").repository.value, "");
}

TEST(PayloadScanTest, KeysAndValuesMayBeEscaped) {
  const PayloadScan s = scan(Provider::github, "push",
                                R"({"re\u0070ository":{"full\u005fname":"acme\/in\u0066ra"},)"
                                R"("ref":"refs\/heads\/ma\u0069n"})");
  EXPECT_EQ(s.status, Status::ok);
  EXPECT_EQ(s.repository.value, "acme/infra");
  EXPECT_EQ(s.branch.value, "main");
}

TEST(PayloadScanTest, PiecesMaySplitAnythingAnywhere) {
  const std::string text =
      test::github_push("acme/infra", "main", kShaA, kShaB) + "  \n";
  for (const std::size_t size : {1u, 2u, 3u, 7u, 64u}) {
    const PayloadScan s = scan_in_pieces(Provider::github, "push", text, size);
    EXPECT_EQ(s.status, Status::ok) << size;
    EXPECT_EQ(s.repository.value, "acme/infra") << size;
    EXPECT_EQ(s.branch.value, "main") << size;
  }
  const std::string escaped = R"({"repository":{"full\u005fname":"acme\/infra"}})";
  EXPECT_EQ(scan_in_pieces(Provider::github, "push", escaped, 1).repository.value, "acme/infra");
}

TEST(PayloadScanTest, LastOfDuplicateKeysWinsAsInTheParsedPayload) {
  EXPECT_EQ(scan(Provider::github, "push",
                 R"({"repository":{"full_name":"a/one","full_name":"a/two"}})")
                .repository.value,
            "a/two");
  EXPECT_EQ(scan(Provider::github, "push",
                 R"({"repository":{"full_name":"a/one"},"repository":{"full_name":"a/two"}})")
                .repository.value,
            "a/two");
  // A later repository without the field takes the earlier name away.
  EXPECT_EQ(scan(Provider::github, "push",
                 R"({"repository":{"full_name":"a/one"},"repository":{"id":1}})")
                .repository.value,
            "");
  EXPECT_EQ(scan(Provider::github, "push",
                 R"({"repository":{"full_name":"a/one","full_name":null}})")
                .repository.value,
            "");
  EXPECT_EQ(scan(Provider::github, "push", R"({"ref":"refs/heads/a","ref":"refs/heads/b"})")
                .branch.value,
            "b");
}

TEST(PayloadScanTest, HugeStringsAreCut) {
  const std::string name(10 * 1024 * 1024, 'n');
  const PayloadScan s = scan_in_pieces(
      Provider::github, "push",
      R"({"repository":{"full_name":")" + name + R"("},"ref":"refs/heads/)" + name + R"("})",
      64 * 1024);
  EXPECT_EQ(s.status, Status::ok);
  EXPECT_EQ(s.repository.value, std::string(kMaxScannedValueBytes, 'n'));
  EXPECT_TRUE(s.repository.truncated);
  EXPECT_EQ(s.branch.value.size(), kMaxScannedValueBytes - std::string_view("refs/heads/").size());
  EXPECT_TRUE(s.branch.truncated);
  // Huge keys and other strings are skipped, not kept.
  const PayloadScan other = scan(
      Provider::github, "push",
      R"({")" + name + R"(":")" + name + R"(","repository":{"full_name":"acme/infra"}})");
  EXPECT_EQ(other.repository.value, "acme/infra");
  EXPECT_FALSE(other.repository.truncated);
}

TEST(PayloadScanTest, DepthIsLimited) {
  const auto nested = [](std::size_t depth) {
    return R"({"repository":{"full_name":"acme/infra"},"x":)" + std::string(depth - 1, '[') +
           std::string(depth - 1, ']') + "}";
  };
  EXPECT_EQ(scan(Provider::github, "push", nested(kMaxJsonDepth)).status, Status::ok);
  EXPECT_EQ(scan(Provider::github, "push", nested(kMaxJsonDepth + 1)).status, Status::invalid_json);
}

TEST(PayloadScanTest, RootMustBeAnObject) {
  for (const char* text : {"[1,2]", R"("acme/infra")", "7", "null", "[]"}) {
    EXPECT_EQ(scan(Provider::github, "push", text).status, Status::not_object) << text;
  }
}

TEST(PayloadScanTest, InvalidJsonIsReported) {
  for (const char* text : {"", "   ", "{", "not json", R"({"a":1}{)", R"({"a":1} x)",
                           "{\"ref\":\"\xff\"}", R"({"a":})", R"({"a" 1})", "{'a':1}"}) {
    EXPECT_EQ(scan(Provider::github, "push", text).status, Status::invalid_json) << text;
    EXPECT_EQ(scan_in_pieces(Provider::github, "push", text, 1).status, Status::invalid_json)
        << text;
  }
  // Found names do not survive an invalid text.
  const PayloadScan s = scan(Provider::github, "push", R"({"repository":{"full_name":"a/b"}})"
                                                          "}");
  EXPECT_EQ(s.status, Status::invalid_json);
  EXPECT_EQ(s.repository.value, "");
}

TEST(PayloadScanTest, IncrementalScannerStopsAtTheFirstInvalidPiece) {
  PayloadScanner scanner(Provider::github, "push");
  EXPECT_TRUE(scanner.write(R"({"repository":)"));
  EXPECT_FALSE(scanner.write(R"(})"));
  EXPECT_FALSE(scanner.write(R"({"full_name":"a/b"}})"));
  EXPECT_EQ(scanner.finish().status, Status::invalid_json);
}

// The scan must agree with the parse that follows verification, or the repository whose
// secrets verified could differ from the payload normalized. Mutated payloads (broken,
// duplicated keys, escapes), cut into random pieces, against boost::json::parse.
TEST(PayloadScanTest, AgreesWithTheFullParseOnMutatedPayloads) {
  namespace json = boost::json;
  const auto string_at = [](const json::value& root, std::initializer_list<const char*> path) {
    const json::value* v = &root;
    for (const char* key : path) {
      v = v->is_object() ? v->as_object().if_contains(key) : nullptr;
      if (v == nullptr) return std::string();
    }
    return v->is_string() ? std::string(v->get_string()) : std::string();
  };
  const std::vector<std::string> seeds{
      R"({"ref":"refs/heads/main","repository":{"full_name":"acme/infra","x":[{"full_name":"n"}]},)"
      R"("pull_request":{"base":{"ref":"dev"}}})",
      R"({"repository":{"full_name":"a\u002fb","full_name":"c/d"},"ref":"refs/heads/x","ref":"v"})",
      R"({"repository":{"full_name":"a"},"repository":null,"ref":"refs/heads/q"})",
      R"([{"repository":{"full_name":"a"}}])",
  };
  const std::string_view alphabet = R"({}[]":,ab\u0 refs/heads/full_namerepository1.e-)";
  std::mt19937 rng(20261202);
  const auto pick = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  for (int i = 0; i < 20000; ++i) {
    std::string text = seeds[pick(seeds.size())];
    for (std::size_t m = pick(4); m > 0 && !text.empty(); --m) {
      const std::size_t at = pick(text.size());
      switch (pick(3)) {
        case 0: text[at] = alphabet[pick(alphabet.size())]; break;
        case 1: text.erase(at, 1 + pick(3)); break;
        default: text.insert(at, 1, alphabet[pick(alphabet.size())]); break;
      }
    }
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t size = 1 + pick(8);
      pieces.push_back(std::string_view(text).substr(at, size));
      at += size;
    }
    const bool push = pick(2) == 0;
    const PayloadScan s =
        scan_payload(Provider::github, push ? "push" : "pull_request", pieces);
    boost::system::error_code ec;
    const json::value parsed = json::parse(text, ec, {}, options);
    const Status expected = ec                   ? Status::invalid_json
                            : !parsed.is_object() ? Status::not_object
                                                  : Status::ok;
    ASSERT_EQ(s.status, expected) << text;
    if (expected != Status::ok) continue;
    ASSERT_EQ(s.repository.value, string_at(parsed, {"repository", "full_name"})) << text;
    std::string branch = push ? string_at(parsed, {"ref"})
                              : string_at(parsed, {"pull_request", "base", "ref"});
    if (push) branch = branch.starts_with("refs/heads/") ? branch.substr(11) : "";
    ASSERT_EQ(s.branch.value, branch) << text;
  }
}

// The fields normalize() reads come from the same pass, typed as the parsed tree types them.
TEST(PayloadScanTest, KeepsTheRequestedFieldsWithTheirTypes) {
  constexpr std::string_view fields[] = {"a", "o.b", "o.n", "o.big", "o.d", "o.t", "o.z",
                                         "o.arr", "o.obj", "x.y.z", "missing"};
  const std::string_view text =
      R"({"a":"text","o":{"b":true,"n":-42,"big":18446744073709551615,"d":1.5,"t":"x\u00e9",)"
      R"("z":null,"arr":[{"z":1}],"obj":{}},"x":{"y":{"z":"deep"}}})";
  for (std::size_t size : {std::size_t{1}, std::size_t{3}, text.size()}) {
    std::vector<std::string_view> pieces;
    for (std::size_t at = 0; at < text.size(); at += size) pieces.push_back(text.substr(at, size));
    const PayloadScan s = scan_payload(Provider::github, "push", pieces, fields);
    ASSERT_EQ(s.status, Status::ok);
    using Type = ScannedValue::Type;
    EXPECT_EQ(s.field("a").type, Type::string);
    EXPECT_EQ(s.field("a").value, "text");
    EXPECT_EQ(s.field("o.b").type, Type::boolean);
    EXPECT_TRUE(s.field("o.b").boolean);
    EXPECT_EQ(s.field("o.n").type, Type::integer);
    EXPECT_EQ(s.field("o.n").integer, -42);
    EXPECT_EQ(s.field("o.big").type, Type::big_integer);
    EXPECT_EQ(s.field("o.d").type, Type::number);
    EXPECT_EQ(s.field("o.t").value, "x\xc3\xa9");
    EXPECT_EQ(s.field("o.z").type, Type::null);
    EXPECT_EQ(s.field("o.arr").type, Type::array);
    EXPECT_EQ(s.field("o.obj").type, Type::object);
    EXPECT_EQ(s.field("x.y.z").value, "deep");
    EXPECT_EQ(s.field("missing").type, Type::absent);
    EXPECT_THROW(s.field("not.scanned"), std::logic_error);
  }
}

// As in the parsed tree, the last of duplicate keys wins, also when an earlier one held the
// field deeper down, and nothing inside an array is on a path.
TEST(PayloadScanTest, FieldsFollowTheLastDuplicateKeyAndSkipArrays) {
  constexpr std::string_view fields[] = {"p.ref", "q.v"};
  const PayloadScan s =
      scan(Provider::github, "push",
           R"({"p":{"ref":"first"},"p":{"other":1},"q":[{"v":"in-array"}],"q":{"v":2},"q":{"v":3}})",
           fields);
  EXPECT_EQ(s.field("p.ref").type, ScannedValue::Type::absent);
  EXPECT_EQ(s.field("q.v").type, ScannedValue::Type::integer);
  EXPECT_EQ(s.field("q.v").integer, 3);
}

}  // namespace
}  // namespace gitopsd::receiver
