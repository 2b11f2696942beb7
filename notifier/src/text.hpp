// Text from outside (a result's message, a command's output) made fit for a Git host's
// description, a chat message or a JSON body: valid UTF-8, bounded, without control characters
// where one line is wanted. Pure functions.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

namespace gitopsd::notifier {

enum class Controls {
  keep,               // as they are (a JSON writer escapes them)
  to_space,           // every C0 and C1 control character and DEL becomes a space: one line
  to_space_but_lines  // the same, except '\n' (an output tail keeps its lines)
};

// `text` as valid UTF-8: each byte that does not start a valid sequence (a stray continuation
// byte, an overlong form, a surrogate, past U+10FFFF, cut short) becomes U+FFFD. Longer than
// `max_chars` code points, it keeps max_chars - 1 of them and ends in "…".
std::string clean_utf8(std::string_view text, Controls controls,
                       std::size_t max_chars = std::numeric_limits<std::size_t>::max());

// The last `max_bytes` bytes of `text` at most, starting at a UTF-8 sequence's first byte.
std::string_view utf8_tail(std::string_view text, std::size_t max_bytes);

}  // namespace gitopsd::notifier
