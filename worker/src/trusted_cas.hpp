// The CAs HTTPS git hosts are verified against.
#pragma once

namespace gitopsd::worker {

// Points libgit2's TLS at OpenSSL's SSL_CERT_FILE / SSL_CERT_DIR when either is set (a
// private CA), else at the system bundle: libgit2's TLS backend may have no default. Once per
// process, after git_libgit2_init; throws std::runtime_error when libgit2 refuses them.
void load_trusted_cas();

}  // namespace gitopsd::worker
