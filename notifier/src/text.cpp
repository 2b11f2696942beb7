#include "text.hpp"

#include <cstdint>

namespace gitopsd::notifier {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026

bool is_continuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence at the start of `s` (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), and its code point; 0 when there is none.
std::size_t sequence_length(std::string_view s, std::uint32_t& code_point) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) {
    code_point = b0;
    return 1;
  }
  // Leading byte: how many bytes, the smallest code point that needs that many, its own bits.
  std::size_t length = 0;
  std::uint32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2;
    min = 0x80;
    code_point = b0 & 0x1Fu;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3;
    min = 0x800;
    code_point = b0 & 0x0Fu;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4;
    min = 0x10000;
    code_point = b0 & 0x07u;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (!is_continuation(b)) return 0;
    code_point = (code_point << 6) | (b & 0x3Fu);
  }
  if (code_point < min || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return length;
}

bool is_control(std::uint32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

}  // namespace

std::string clean_utf8(std::string_view text, Controls controls, std::size_t max_chars) {
  std::string out;
  if (max_chars == 0) return out;
  out.reserve(text.size());
  std::size_t chars = 0;
  std::size_t cut_at = 0;  // out's size after max_chars - 1 code points
  while (!text.empty()) {
    if (chars == max_chars) {
      out.resize(cut_at);
      out += kEllipsis;
      return out;
    }
    if (chars + 1 == max_chars) cut_at = out.size();
    std::uint32_t code_point = 0;
    const std::size_t length = sequence_length(text, code_point);
    if (length == 0) {
      out += kReplacement;
      text.remove_prefix(1);
    } else {
      const bool to_space = is_control(code_point) &&
                            (controls == Controls::to_space ||
                             (controls == Controls::to_space_but_lines && code_point != '\n'));
      if (to_space) {
        out += ' ';
      } else {
        out.append(text.substr(0, length));
      }
      text.remove_prefix(length);
    }
    ++chars;
  }
  return out;
}

std::string_view utf8_tail(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  text = text.substr(text.size() - max_bytes);
  // At most 3 continuation bytes belong to a sequence cut off at the front.
  for (int i = 0; i < 3 && !text.empty() && is_continuation(static_cast<unsigned char>(text[0]));
       ++i) {
    text.remove_prefix(1);
  }
  return text;
}

}  // namespace gitopsd::notifier
