// Fuzz target: the configuration loader, parse_config() over YAML text. Its contract is that
// anything wrong is a ConfigError ("file:line:column: ..."), which the daemons turn into exit
// code 2; any other exception escaping is a crash here. The loader reads the files a config
// names (secrets, TLS, credentials), so the harness provides readable ones where the seeds
// point: kDir/secret, token, cert.pem, key.pem, ssh_key and known_hosts, and the variable
// GITOPSD_FUZZ_SECRET.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gitopsd/config.hpp"

namespace {
constexpr const char* kDir = "/tmp/gitopsd-fuzz-config";
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mkdir(kDir, 0700);
  for (const char* name : {"secret", "token", "cert.pem", "key.pem", "ssh_key", "known_hosts"}) {
    std::FILE* f = std::fopen((std::string(kDir) + "/" + name).c_str(), "w");
    if (f == nullptr) std::abort();
    std::fputs("fuzz-secret-of-24-bytes!\n", f);
    std::fclose(f);
  }
  setenv("GITOPSD_FUZZ_SECRET", "fuzz-secret-of-24-bytes!", 1);
  spdlog::set_level(spdlog::level::off);  // warnings (weak secrets, ...) are not findings
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)gitopsd::parse_config(text, "fuzz.yaml");
  } catch (const gitopsd::ConfigError&) {
  }
  return 0;
}
