// The parts of a repository URL the fetch needs (scheme, user, host, port), and keeping
// secrets out of messages: a URL's password and a token are never shown.
#pragma once

#include <string>

namespace gitopsd::worker {

struct GitUrl {
  std::string scheme;  // "ssh", "https", "git", ... ("ssh" for scp-like "user@host:path")
  std::string user;
  std::string host;
  int port = 0;  // 0 = default
};

// "scheme://[user[:password]@]host[:port]/path" or scp-like "[user@]host:path".
GitUrl parse_git_url(const std::string& url);

bool is_ssh_scheme(const std::string& scheme);

// "scheme://user:secret@host/..." -> "scheme://user@host/..." so no password reaches a message.
std::string redact_url(const std::string& url);

// `text` with every occurrence of `secret` replaced by "***".
std::string redact_secret(std::string text, const std::string& secret);

}  // namespace gitopsd::worker
