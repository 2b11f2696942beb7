#include "trusted_cas.hpp"

#include <git2.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "libgit2_support.hpp"

namespace gitopsd::worker {
namespace {
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";  // Debian, Ubuntu
constexpr const char* kSystemCaDir = "/etc/ssl/certs";
}  // namespace

void load_trusted_cas() {
  const char* file = std::getenv("SSL_CERT_FILE");
  const char* dir = std::getenv("SSL_CERT_DIR");
  if (file == nullptr && dir == nullptr) {
    std::error_code ec;
    if (std::filesystem::exists(kSystemCaBundle, ec)) file = kSystemCaBundle;
    if (std::filesystem::is_directory(kSystemCaDir, ec)) dir = kSystemCaDir;
  }
  if ((file != nullptr || dir != nullptr) &&
      git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, dir) != 0)
    throw std::runtime_error("cannot load the trusted CA certificates: " + last_error_text());
}

}  // namespace gitopsd::worker
