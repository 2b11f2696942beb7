#include "libgit2_support.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace gitopsd::worker {

std::string oid_hex(const git_oid& oid) {
  std::array<char, GIT_OID_HEXSZ + 1> buf{};
  git_oid_tostr(buf.data(), buf.size(), &oid);
  return std::string(buf.data());
}

std::optional<git_oid> parse_oid(const std::string& hex) {
  if (hex.size() != GIT_OID_HEXSZ) return std::nullopt;
  if (!std::all_of(hex.begin(), hex.end(),
                   [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }))
    return std::nullopt;
  git_oid oid;
  if (git_oid_fromstr(&oid, hex.c_str()) != 0) return std::nullopt;
  return oid;
}

std::string last_error_text() {
  const git_error* e = git_error_last();
  return e != nullptr && e->message != nullptr ? std::string(e->message)
                                               : std::string("unknown error");
}

}  // namespace gitopsd::worker
