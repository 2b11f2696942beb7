// Command-line handling the three binaries share: --config, --check-config, --log-level.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "gitopsd/config.hpp"

namespace gitopsd {

inline constexpr const char* kDefaultConfigPath = "/etc/gitopsd/gitopsd.yaml";

struct DaemonOptions {
  std::string config_path = kDefaultConfigPath;
  bool check_config = false;
  std::optional<std::string> log_level;  // --log-level: wins over the config's log_level
  // gitopsd-worker@N's N (--instance, 1..1000), 0 when not given: instances on one host share
  // the config file, so each serves its admin endpoint on admin_listen's port + N - 1.
  unsigned instance = 0;
};

// Parses argv; prints usage/version and returns an exit code when the process should end.
// `--instance N` is accepted only with `with_instance` (the worker).
std::variant<DaemonOptions, int> parse_daemon_options(int argc, char** argv, const char* name,
                                                      const char* summary,
                                                      bool with_instance = false);

// `address` for instance `instance` (see DaemonOptions::instance): the port moved up by
// instance - 1; port 0 (any free port) stays 0. Throws std::out_of_range past 65535.
ListenAddress instance_address(ListenAddress address, unsigned instance);

// Loads the config (kafka.brokers checked against `use`, see load_config); on error prints
// "file:line:column: message" to stderr and returns nullopt (the caller exits 2, the documented
// code for a bad config).
std::optional<Config> load_config_or_report(const std::string& path,
                                            BrokerUse use = BrokerUse::any);

inline constexpr int kExitBadConfig = 2;

// What `--check-config` and `gitopsctl check-config` print for a config that loaded: each
// warning on stderr, then "PATH: ok (N repositories)" on stdout. Returns 0, their exit code.
int report_valid_config(const Config& config);

}  // namespace gitopsd
