#include "gitopsd/cli.hpp"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>

namespace gitopsd {

std::variant<DaemonOptions, int> parse_daemon_options(int argc, char** argv, const char* name,
                                                      const char* summary, bool with_instance) {
  DaemonOptions options;
  auto usage = [&](std::ostream& out) {
    out << "usage: " << name << " [--config PATH] [--check-config] [--log-level LEVEL]"
        << (with_instance ? " [--instance N]" : "") << "\n"
        << summary << "\n\n"
        << "  --config PATH      configuration file (default " << kDefaultConfigPath << ")\n"
        << "  --check-config     validate the configuration and exit (0 valid, 2 invalid)\n";
    if (with_instance) {
      out << "  --instance N       instance N (1..1000) of several on this host, as in\n"
          << "                     gitopsd-worker@N: the admin endpoint listens on port + N - 1\n";
    }
    out << "  --log-level LEVEL  trace .. off (default: the config's log_level, info)\n"
        << "  --version          print the version and exit\n";
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--config") {
      const char* v = value();
      if (!v) { usage(std::cerr); return 2; }
      options.config_path = v;
    } else if (arg.starts_with("--config=")) {
      options.config_path = std::string(arg.substr(9));
    } else if (arg == "--check-config") {
      options.check_config = true;
    } else if (arg == "--log-level") {
      const char* v = value();
      if (!v) { usage(std::cerr); return 2; }
      if (!is_log_level(v)) {
        std::cerr << name << ": unknown log level '" << v << "': expected " << kLogLevelChoices
                  << "\n";
        return 2;
      }
      options.log_level = v;
    } else if (arg == "--instance" && with_instance) {
      const char* v = value();
      char* end = nullptr;
      unsigned long n = v ? std::strtoul(v, &end, 10) : 0;
      if (!v || *v == '\0' || *end != '\0' || n < 1 || n > 1000) {
        std::cerr << name << ": --instance needs a number from 1 to 1000\n";
        return 2;
      }
      options.instance = static_cast<unsigned>(n);
    } else if (arg == "--version") {
      std::cout << name << " " << GITOPSD_VERSION << "\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << name << ": unknown argument '" << arg << "'\n";
      usage(std::cerr);
      return 2;
    }
  }
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

sigset_t block_stop_signals(bool and_hangup) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  if (and_hangup) sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace gitopsd
