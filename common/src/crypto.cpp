#include "gitopsd/crypto.hpp"

#include "gitopsd/c_handle.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace gitopsd {
namespace {

const unsigned char* bytes_of(std::string_view s) {
  // OpenSSL wants non-null pointers even for empty input.
  static const unsigned char kEmpty = 0;
  return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// EVP_EncodeBlock/DecodeBlock take int lengths; bodies are far smaller, but chunking keeps
// the functions correct for any input. Multiples of 3 (encode) and 4 (decode) bytes.
constexpr std::size_t kEncodeChunk = 3 * 1024 * 1024;
constexpr std::size_t kDecodeChunk = 4 * 1024 * 1024;

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
  // One HMAC-SHA256 context per thread, its algorithm and digest fetched once: the one-shot
  // HMAC() fetches both by name on every call, a seventh of its time over a 7 KB webhook
  // (bench/decide_bench.cpp). Each call only sets the key.
  using MacPtr = CHandle<EVP_MAC, EVP_MAC_free>;
  using MacCtxPtr = CHandle<EVP_MAC_CTX, EVP_MAC_CTX_free>;
  thread_local const MacCtxPtr ctx = [] {
    const MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    MacCtxPtr made(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                                 OSSL_PARAM_construct_end()};
    if (made && EVP_MAC_CTX_set_params(made.get(), params) != 1) made.reset();
    return made;
  }();
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  std::size_t out_len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), bytes_of(key), key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx.get(), bytes_of(data), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return {reinterpret_cast<const char*>(out.data()), out_len};
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_digit(hex[i]);
    const int lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t pos = 0; pos < bytes.size(); pos += kEncodeChunk) {
    const std::string_view chunk = bytes.substr(pos, kEncodeChunk);
    std::string buf((chunk.size() + 2) / 3 * 4 + 1, '\0');  // + NUL written by OpenSSL
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(buf.data()), bytes_of(chunk),
                                  static_cast<int>(chunk.size()));
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // EVP_DecodeBlock skips surrounding whitespace, needs padded input and returns the padding
  // as zero bytes; validate strictly here so only canonical alphabet input is accepted.
  std::string padded(text);
  if (padded.size() % 4 == 1) return std::nullopt;
  while (padded.size() % 4 != 0) padded.push_back('=');  // unpadded input is common in secrets
  std::size_t padding = 0;
  for (std::size_t i = 0; i < padded.size(); ++i) {
    const char c = padded[i];
    if (c == '=') {
      ++padding;
    } else if (!is_base64_char(c) || padding > 0) {
      return std::nullopt;  // foreign character, or data after padding
    }
  }
  if (padding > 2) return std::nullopt;

  std::string out;
  out.reserve(padded.size() / 4 * 3);
  for (std::size_t pos = 0; pos < padded.size(); pos += kDecodeChunk) {
    const std::string_view chunk = std::string_view(padded).substr(pos, kDecodeChunk);
    std::string buf(chunk.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()), bytes_of(chunk),
                                  static_cast<int>(chunk.size()));
    if (n < 0) return std::nullopt;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  // The padding decoded to zero bytes: drop them. erase, not resize: GCC 14 at -O3 cannot
  // tell that this resize shrinks and warns of a huge allocation (-Walloc-size-larger-than).
  out.erase(out.size() - padding);
  return out;
}

std::optional<std::string> standard_webhook_signature(std::string_view signing_key,
                                                      std::string_view id,
                                                      std::string_view timestamp,
                                                      std::string_view body) {
  constexpr std::string_view kPrefix = "whsec_";
  if (!signing_key.starts_with(kPrefix)) return std::nullopt;
  const auto key = base64_decode(signing_key.substr(kPrefix.size()));
  if (!key || key->empty()) return std::nullopt;
  std::string content;
  content.reserve(id.size() + timestamp.size() + body.size() + 2);
  content.append(id).append(".").append(timestamp).append(".").append(body);
  return "v1," + base64_encode(hmac_sha256(*key, content));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Lengths are not secret (a MAC's length is public); contents are.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_uuid() {
  // The receiver makes one per webhook: random bytes are drawn 64 ids at a time per thread
  // (one RAND_bytes call, whose fork check is a getpid() syscall each time). Event ids are
  // published, never secret; they only need to be unpredictable and unique (no gitopsd process
  // forks without exec, so no two processes share a pool).
  constexpr std::size_t kIdsPerDraw = 64;
  thread_local std::array<unsigned char, 16 * kIdsPerDraw> pool{};
  thread_local std::size_t used = pool.size();
  if (used == pool.size()) {
    if (RAND_bytes(pool.data(), static_cast<int>(pool.size())) != 1) {
      throw std::runtime_error("RAND_bytes failed");
    }
    used = 0;
  }
  unsigned char* b = pool.data() + used;
  used += 16;
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  std::size_t at = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    if (at == 8 || at == 13 || at == 18 || at == 23) ++at;
    id[at++] = kHex[b[i] >> 4];
    id[at++] = kHex[b[i] & 0xf];
  }
  std::fill_n(b, 16, 0);  // drawn once
  return id;
}

std::string format_timestamp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  std::array<char, 40> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf.data();
}

}  // namespace gitopsd
