// gitopsctl-dev: what `gitopsctl dev` runs (gitopsctl execs it, adding --gitopsctl with its own
// path). A program of its own so that gitopsctl links no receiver, worker or git code.
#include <CLI/CLI.hpp>
#include <iostream>

#include "gitopsd/ctl/dev.hpp"
#include "gitopsd/log.hpp"

int main(int argc, char** argv) {
  gitopsd::ctl::DevOptions options;
  CLI::App app{
      "try gitopsd on this machine: an embedded Kafka broker (in memory), the receiver, a\n"
      "worker and a notifier in this one process, on a config whose kafka.brokers is \"embedded\" (default\n"
      "deploy/examples/dev.yaml, whose repository and secret scripts/quickstart.sh creates);\n"
      "prints how to push a change and send its webhook, logs to stderr, runs until\n"
      "SIGINT/SIGTERM (exit 0; 2 for a config it cannot use)",
      "gitopsctl dev"};
  app.add_option("--config", options.config_path, "configuration file")->capture_default_str();
  app.add_option("--log-level", options.log_level, "trace .. off")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](const std::string& level) {
            return gitopsd::is_log_level(level) ? std::string() : "unknown log level '" + level + "'";
          },
          "LEVEL"));
  app.add_option("--notify-url", options.notify_url,
                 "also post every outcome to this URL, as JSON signed per Standard Webhooks "
                 "(the signing key is printed)")
      ->check(CLI::Validator(
          [](const std::string& url) {
            return url.starts_with("http://") || url.starts_with("https://")
                       ? std::string()
                       : "'" + url + "' is not an http:// or https:// URL";
          },
          "URL"));
  app.add_option("--gitopsctl", options.gitopsctl, "the gitopsctl the printed steps run")
      ->group("");  // set by gitopsctl, not by people
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::cerr << "gitopsctl dev: " << e.what() << "\nRun 'gitopsctl dev --help' for the options.\n";
    return 2;
  }
  return gitopsd::ctl::run_dev(options, std::cout);
}
