#include "gitopsd/log.hpp"

#include <gtest/gtest.h>

#include <string>

namespace gitopsd {
namespace {

TEST(LogQuoteTest, PlainValueIsOnlyQuoted) {
  EXPECT_EQ(log_quote("push"), "\"push\"");
  EXPECT_EQ(log_quote(""), "\"\"");
  EXPECT_EQ(log_quote("Merge Request Hook"), "\"Merge Request Hook\"");
}

TEST(LogQuoteTest, QuoteAndBackslashCannotEndTheField) {
  EXPECT_EQ(log_quote(R"(push" status=202 outcome=queued x=")"),
            R"("push\" status=202 outcome=queued x=\"")");
  EXPECT_EQ(log_quote(R"(a\" b)"), R"("a\\\" b")");
  EXPECT_EQ(log_quote("\\"), R"("\\")");
}

TEST(LogQuoteTest, ControlAndNonAsciiBytesAreHexEscaped) {
  EXPECT_EQ(log_quote("a\nb\rc\td"), R"("a\x0ab\x0dc\x09d")");
  EXPECT_EQ(log_quote(std::string("\0\x1b[31m\x7f", 7)), R"("\x00\x1b[31m\x7f")");
  // UTF-8 too: a right-to-left override (U+202E) could make a line read differently.
  EXPECT_EQ(log_quote("\xe2\x80\xae" "x\xff"), R"("\xe2\x80\xaex\xff")");
}

TEST(LogQuoteTest, LongValueIsCutWithAnEllipsis) {
  EXPECT_EQ(log_quote(std::string(kLogValueMaxBytes, 'a')),
            "\"" + std::string(kLogValueMaxBytes, 'a') + "\"");
  const std::string quoted = log_quote(std::string(16 * 1024, 'b'));
  EXPECT_EQ(quoted, "\"" + std::string(kLogValueMaxBytes, 'b') + "\u2026\"");
  // The cap applies to the value's bytes; escaping may grow them at most fourfold.
  EXPECT_LE(log_quote(std::string(16 * 1024, '\n')).size(), 4 * kLogValueMaxBytes + 5);
}

}  // namespace
}  // namespace gitopsd
