#include "git_url.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace gitopsd::worker {

GitUrl parse_git_url(const std::string& url) {
  GitUrl parts;
  auto scheme_end = url.find("://");
  std::string authority;
  if (scheme_end == std::string::npos) {
    // scp-like: [user@]host:path
    auto colon = url.find(':');
    if (colon == std::string::npos) return parts;
    parts.scheme = "ssh";
    authority = url.substr(0, colon);
    auto at = authority.rfind('@');
    if (at != std::string::npos) {
      parts.user = authority.substr(0, at);
      authority = authority.substr(at + 1);
    }
    parts.host = authority;
    return parts;
  }
  parts.scheme = url.substr(0, scheme_end);
  std::transform(parts.scheme.begin(), parts.scheme.end(), parts.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto start = scheme_end + 3;
  auto slash = url.find('/', start);
  authority = url.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
  auto at = authority.rfind('@');
  if (at != std::string::npos) {
    auto userinfo = authority.substr(0, at);
    parts.user = userinfo.substr(0, userinfo.find(':'));
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    parts.host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < authority.size() && authority[close + 1] == ':')
      parts.port = std::atoi(authority.c_str() + close + 2);
  } else {
    auto colon = authority.rfind(':');
    parts.host = authority.substr(0, colon);
    if (colon != std::string::npos) parts.port = std::atoi(authority.c_str() + colon + 1);
  }
  return parts;
}

bool is_ssh_scheme(const std::string& scheme) {
  return scheme == "ssh" || scheme == "ssh+git" || scheme == "git+ssh";
}

std::string redact_url(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto start = scheme + 3;
  auto slash = url.find('/', start);
  auto at = url.rfind('@', slash == std::string::npos ? std::string::npos : slash);
  if (at == std::string::npos || at < start) return url;
  auto userinfo = url.substr(start, at - start);
  auto colon = userinfo.find(':');
  if (colon == std::string::npos) return url;  // a bare user name (ssh) is not a secret
  return url.substr(0, start) + userinfo.substr(0, colon) + "@" + url.substr(at + 1);
}

std::string redact_secret(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos))
    text.replace(pos, secret.size(), "***");
  return text;
}

}  // namespace gitopsd::worker
