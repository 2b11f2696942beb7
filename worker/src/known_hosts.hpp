// SSH host key checking against an OpenSSH known_hosts file.
#pragma once

#include <string>

namespace gitopsd::worker {

// True when the file `known_hosts` lists `key` (the raw SSH wire-format blob) for host and
// port (0 or 22: the plain host name; else "[host]:port"). Plain and hashed ("|1|salt|hash")
// host names are understood; wildcards, negations and markers (@revoked…) are not, so such
// lines never match.
bool known_hosts_lists(const std::string& known_hosts, const std::string& host, int port,
                       const std::string& key);

}  // namespace gitopsd::worker
