#include "gitopsd/cli.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>

namespace gitopsd {

std::variant<DaemonOptions, int> parse_daemon_options(int argc, char** argv, const char* name,
                                                      const char* summary, bool with_instance) {
  DaemonOptions options;
  CLI::App app{summary, name};
  app.set_version_flag("--version", std::string(name) + " " + GITOPSD_VERSION);
  app.add_option("--config", options.config_path, "configuration file")->capture_default_str();
  app.add_flag("--check-config", options.check_config,
               "validate the configuration and exit (0 valid, 2 invalid)");
  std::string log_level;
  auto* log_level_option = app.add_option("--log-level", log_level,
                 "trace .. off (default: the config's log_level, info)")
      ->check(CLI::Validator(
          [](const std::string& level) {
            return is_log_level(level) ? std::string()
                                       : "unknown log level '" + level + "': expected " +
                                             std::string(kLogLevelChoices);
          },
          "LEVEL"));
  if (with_instance) {
    app.add_option("--instance", options.instance,
                   "instance N (1..1000) of several on this host, as in gitopsd-worker@N: the "
                   "admin endpoint listens on port + N - 1")
        ->check(CLI::Validator(
            [](const std::string& text) {
              const bool number = !text.empty() && text.size() <= 4 &&
                                  text.find_first_not_of("0123456789") == std::string::npos &&
                                  std::stoul(text) >= 1 && std::stoul(text) <= 1000;
              return number ? std::string() : std::string("needs a number from 1 to 1000");
            },
            "N"));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::cerr << name << ": " << e.what() << "\nRun '" << name << " --help' for the options.\n";
    return 2;
  }
  if (log_level_option->count() > 0) options.log_level = log_level;
  return options;
}

ListenAddress instance_address(ListenAddress address, unsigned instance) {
  if (address.port == 0 || instance <= 1) return address;
  const unsigned port = address.port + instance - 1;
  if (port > 65535) {
    throw std::out_of_range("admin port " + std::to_string(address.port) + " + instance " +
                            std::to_string(instance) + " - 1 is above 65535");
  }
  address.port = static_cast<std::uint16_t>(port);
  return address;
}

std::optional<Config> load_config_or_report(const std::string& path, BrokerUse use) {
  try {
    return load_config(path, use);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return std::nullopt;
  }
}

int report_valid_config(const Config& config) {
  for (const std::string& warning : config.warnings) std::cerr << warning << "\n";
  std::cout << config.path << ": ok (" << config.repositories.size() << " repositories";
  if (!config.warnings.empty()) std::cout << ", " << config.warnings.size() << " warnings";
  std::cout << ")\n";
  return 0;
}

}  // namespace gitopsd
