#include "known_hosts.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstring>
#include <fstream>
#include <sstream>

#include "gitopsd/crypto.hpp"

namespace gitopsd::worker {
namespace {

// One known_hosts host pattern against "host" or "[host]:port": a hashed entry
// ("|1|salt|hash", HMAC-SHA1 of the name keyed by the salt) or a plain name.
bool host_pattern_matches(const std::string& pattern, const std::string& name) {
  if (pattern.rfind("|1|", 0) == 0) {
    auto sep = pattern.find('|', 3);
    if (sep == std::string::npos) return false;
    auto salt = base64_decode(std::string_view(pattern).substr(3, sep - 3));
    auto hash = base64_decode(std::string_view(pattern).substr(sep + 1));
    if (!salt || !hash) return false;
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned mac_len = 0;
    if (HMAC(EVP_sha1(), salt->data(), static_cast<int>(salt->size()),
             reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac.data(),
             &mac_len) == nullptr)
      return false;
    return hash->size() == mac_len && std::memcmp(hash->data(), mac.data(), mac_len) == 0;
  }
  return pattern == name;
}

}  // namespace

bool known_hosts_lists(const std::string& known_hosts, const std::string& host, int port,
                       const std::string& key) {
  std::ifstream in(known_hosts);
  if (!in) return false;
  const std::string name =
      port == 0 || port == 22 ? host : "[" + host + "]:" + std::to_string(port);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string hosts, type, b64;
    if (!(fields >> hosts >> type >> b64)) continue;
    if (hosts.empty() || hosts[0] == '#' || hosts[0] == '@') continue;  // comments, markers
    bool host_match = false;
    std::stringstream list(hosts);
    std::string pattern;
    while (std::getline(list, pattern, ','))
      host_match = host_match || host_pattern_matches(pattern, name);
    if (!host_match) continue;
    auto decoded = base64_decode(b64);
    if (decoded && *decoded == key) return true;
  }
  return false;
}

}  // namespace gitopsd::worker
