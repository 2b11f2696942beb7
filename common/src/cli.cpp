#include "gitopsd/cli.hpp"

#include <cstring>
#include <iostream>

namespace gitopsd {

std::variant<DaemonOptions, int> parse_daemon_options(int argc, char** argv, const char* name,
                                                      const char* summary) {
  DaemonOptions options;
  auto usage = [&](std::ostream& out) {
    out << "usage: " << name << " [--config PATH] [--check-config] [--log-level LEVEL]\n"
        << summary << "\n\n"
        << "  --config PATH      configuration file (default " << kDefaultConfigPath << ")\n"
        << "  --check-config     validate the configuration and exit (0 valid, 2 invalid)\n"
        << "  --log-level LEVEL  trace, debug, info, warn, error (default info)\n"
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
      options.log_level = v;
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

std::optional<Config> load_config_or_report(const std::string& path, BrokerUse use) {
  try {
    return load_config(path, use);
  } catch (const ConfigError& e) {
    std::cerr << e.what() << "\n";
    return std::nullopt;
  }
}

sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace gitopsd
