#include "gitopsd/crypto.hpp"

#include <gtest/gtest.h>

#include <set>

namespace gitopsd {
namespace {

using namespace std::chrono;

TEST(CryptoTest, HmacSha256MatchesGitHubPublishedVector) {
  EXPECT_EQ(to_hex(hmac_sha256("It's a Secret to Everybody", "Hello, World!")),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

TEST(CryptoTest, HmacSha256MatchesRfc4231Vector) {
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, HmacSha256AcceptsEmptyKeyAndData) {
  EXPECT_EQ(to_hex(hmac_sha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(CryptoTest, HexRoundTripsBinary) {
  const std::string bytes("\x00\x01\x7f\x80\xfe\xff", 6);
  EXPECT_EQ(to_hex(bytes), "00017f80feff");
  EXPECT_EQ(from_hex("00017f80feff"), bytes);
  EXPECT_EQ(from_hex("00017F80FEFF"), bytes);
  EXPECT_EQ(from_hex(""), "");
}

TEST(CryptoTest, FromHexRejectsOddLengthAndForeignCharacters) {
  EXPECT_FALSE(from_hex("abc"));
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_FALSE(from_hex("0x"));
  EXPECT_FALSE(from_hex(" a"));
}

TEST(CryptoTest, Base64MatchesRfc4648Vectors) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain) << encoded;
  }
}

TEST(CryptoTest, Base64DecodeKeepsZeroBytesAndStripsOnlyPadding) {
  const std::string bytes("\x00\xff\x00\x10", 4);
  EXPECT_EQ(base64_encode(bytes), "AP8AEA==");
  EXPECT_EQ(base64_decode("AP8AEA=="), bytes);
  EXPECT_EQ(base64_decode("AAAA"), std::string(3, '\0'));
}

TEST(CryptoTest, Base64DecodeAcceptsMissingPadding) {
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode("Zm8"), "fo");
}

TEST(CryptoTest, Base64DecodeRejectsMalformedInput) {
  EXPECT_FALSE(base64_decode("Z"));         // a lone sextet is not a byte
  EXPECT_FALSE(base64_decode("Zg=a"));      // data after padding
  EXPECT_FALSE(base64_decode("Z==="));      // too much padding
  EXPECT_FALSE(base64_decode("Zm9v\n"));    // whitespace
  EXPECT_FALSE(base64_decode(" Zm9v"));     // whitespace EVP_DecodeBlock would skip
  EXPECT_FALSE(base64_decode("Zm9v-_=="));  // URL-safe alphabet
}

TEST(CryptoTest, ConstantTimeEqualComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "xbc"));
  EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(CryptoTest, ConstantTimeEqualRefusesDifferentLengthsEvenWithEqualPrefix) {
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_FALSE(constant_time_equal("abcd", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_FALSE(constant_time_equal("secret", std::string("secret\0", 7)));
}

TEST(CryptoTest, RandomUuidIsVersion4AndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string id = random_uuid();
    ASSERT_EQ(id.size(), 36u);
    for (std::size_t j = 0; j < id.size(); ++j) {
      if (j == 8 || j == 13 || j == 18 || j == 23) {
        EXPECT_EQ(id[j], '-');
      } else {
        EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(id[j])) && !std::isupper(id[j])) << id;
      }
    }
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(CryptoTest, FormatTimestampIsRfc3339UtcWithMillis) {
  const sys_days day = 2026y / November / 23;
  EXPECT_EQ(format_timestamp(day + 13h + 123ms), "2026-11-23T13:00:00.123Z");
  EXPECT_EQ(format_timestamp(day + 23h + 59min + 59s + 999999us), "2026-11-23T23:59:59.999Z");
  EXPECT_EQ(format_timestamp(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(sys_days{2024y / February / 29} + 7h + 5min + 3s + 40ms),
            "2024-02-29T07:05:03.040Z");
}

TEST(CryptoTest, FormatTimestampRoundsDownBeforeEpoch) {
  EXPECT_EQ(format_timestamp(system_clock::time_point{} - 1ms), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace gitopsd
