// `gitopsctl check-config` and the daemons judge a config file alike: a file the daemons
// refuse (exit 2, "file:line:column: what is wrong") gets the same message and exit code from
// gitopsctl, and the warnings of a file they take are printed the same way by all three.
// The command lines of all three (CLI11): a bad argument is exit 2 with what was wrong, help
// and version are exit 0.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace gitopsd {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

namespace fs = std::filesystem;

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CheckConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "gitopsd-check-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    secret_ = write("secret", "0123456789abcdef-webhook\n", 0600);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content, mode_t mode = 0644) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    chmod(path.c_str(), mode);
    return path;
  }
  // `argv` (no shell words in it), stdout and stderr to files; a daemon that took the file
  // would run on, so it is stopped after 20 s (and the test fails on its exit code).
  Outcome run(const std::vector<std::string>& argv) {
    std::string command = "timeout 20";
    for (const std::string& arg : argv) command += " '" + arg + "'";
    command += " >'" + dir_ + "/out' 2>'" + dir_ + "/err' </dev/null";
    const int status = std::system(command.c_str());
    return Outcome{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(dir_ + "/out"),
               read_text(dir_ + "/err")};
  }
  // A config with one repository (its url on line 8); `kafka` goes into the kafka section
  // (after line 2), `extra` at the end (from line 12 when `kafka` is empty).
  std::string config(const std::string& kafka, const std::string& extra,
                     const std::string& url = "https://example.com/r.git",
                     const std::string& dest = "/srv/www",
                     const std::string& brokers = "127.0.0.1:1") {
    return write("gitopsd.yaml", "kafka:\n  brokers: \"" + brokers + "\"\n" + kafka +
                                     "repositories:\n  - name: infra\n    provider: github\n"
                                     "    match: acme/infra\n    secrets: [{file: " + secret_ +
                                     "}]\n    url: " + url +
                                     "\n    targets:\n      - name: web\n"
                                     "        apply: {type: files, dest: " + dest + "}\n" + extra);
  }

  std::string dir_;
  std::string secret_;
};

TEST_F(CheckConfigTest, DaemonsAndGitopsctlRefuseTheSameFilesAlike) {
  write("garbage.pem", "not a certificate\n");
  struct Case {
    std::string kafka, extra, url = "https://example.com/r.git", dest = "/srv/www";
    std::string brokers = "127.0.0.1:1";
    std::string message;  // a part of what every program must print
  };
  const Case cases[] = {
      {.extra = "worker:\n  resync_interval: 999999d\n",
       .message = ":13:20: worker.resync_interval: must be at most 7d"},
      {.extra = "receiver:\n  publish_timeout: 30d\n",
       .message = ":13:20: receiver.publish_timeout: must be at most 5m"},
      {.kafka = "  properties: {sasl.pasword: x}\n",
       .message = ":3:16: unknown kafka property 'sasl.pasword'"},
      {.kafka = "  properties: {max.in.flight: 10}\n",
       .message = ":3:15: kafka.properties: librdkafka refuses these properties for the "
                  "receiver's producer"},
      {.extra = "receiver:\n  tls: {cert_file: " + dir_ + "/garbage.pem, key_file: " + secret_ + "}\n",
       .message = "receiver.tls.cert_file: '" + dir_ + "/garbage.pem' is not a PEM certificate chain"},
      {.url = "https://deploy:hunter2@example.com/r.git",
       .message = ":8:10: repositories[0].url: the url has a password in it"},
      {.dest = "/var/lib/gitopsd/www",
       .message = ":11:36: repositories[0].targets[0].apply.dest: '/var/lib/gitopsd/www' is "
                  "inside worker.state_dir"},
      // The units check with the daemons' --check-config; gitopsctl judges alike, so a dev
      // config is not "ok" for a daemon it would then fail to start.
      {.brokers = "embedded", .message = ":2:12: kafka.brokers: 'embedded' is only for `gitopsctl dev`"},
      // The notifier's keys, which the other daemons read too (one file for all three).
      {.extra = "notify:\n  max_backoff: 2h\n", .message = ":13:16: notify.max_backoff: must be at most 1h"},
      {.extra = "notify:\n  sinks:\n    - {name: audit, type: webhook, url: \"http://audit.example.com/\", "
                "secret: {file: " + secret_ + "}, on: [failed]}\n",
       .message = "notify.sinks[0].url: 'http://audit.example.com/' is plain http to a host that is not "
                  "loopback"},
  };
  for (const Case& c : cases) {
    const std::string path = config(c.kafka, c.extra, c.url, c.dest, c.brokers);
    const Outcome ctl = run({GITOPSCTL_BIN, "check-config", "--config", path});
    EXPECT_EQ(ctl.exit_code, 2) << c.message;
    EXPECT_THAT(ctl.err, StartsWith(path + ":")) << c.message;
    EXPECT_THAT(ctl.err, HasSubstr(c.message));
    EXPECT_THAT(ctl.err, ::testing::Not(HasSubstr("hunter2")));
    for (const char* daemon : {GITOPSD_RECEIVER_BIN, GITOPSD_WORKER_BIN, GITOPSD_NOTIFIER_BIN}) {
      for (const bool check_only : {true, false}) {
        std::vector<std::string> argv = {daemon, "--config", path};
        if (check_only) argv.push_back("--check-config");
        const Outcome d = run(argv);
        EXPECT_EQ(d.exit_code, 2) << daemon << ": " << c.message;
        EXPECT_EQ(d.err, ctl.err) << daemon;
      }
    }
  }
}

TEST_F(CheckConfigTest, DaemonsAndGitopsctlPrintTheSameWarnings) {
  write("secret", "short\n", 0644);
  const std::string path = config("", "");
  const Outcome ctl = run({GITOPSCTL_BIN, "check-config", "--config", path});
  EXPECT_EQ(ctl.exit_code, 0);
  EXPECT_EQ(ctl.out, path + ": ok (1 repositories, 2 warnings)\n");
  EXPECT_THAT(ctl.err, HasSubstr(path + ":7:15: repositories[0].secrets[0]: '" + secret_ +
                                 "' holds a secret and is open to others (mode 0644)"));
  EXPECT_THAT(ctl.err, HasSubstr(path + ":7:15: repositories[0].secrets[0]: secret file '" +
                                 secret_ + "' is shorter than 16 bytes"));
  for (const char* daemon : {GITOPSD_RECEIVER_BIN, GITOPSD_WORKER_BIN, GITOPSD_NOTIFIER_BIN}) {
    const Outcome d = run({daemon, "--config", path, "--check-config"});
    EXPECT_EQ(d.exit_code, 0) << daemon;
    EXPECT_EQ(d.out, ctl.out) << daemon;
    EXPECT_EQ(d.err, ctl.err) << daemon;
  }
}

// A file the check takes can still fail to start the worker: its state_dir cannot hold the
// mirrors. It says why and exits 1 at once (not 2: the file is fine), rather than run on.
TEST_F(CheckConfigTest, WorkerThatCannotCreateItsMirrorsExitsOneAndSaysWhy) {
  const std::string state_dir = write("state", "a file where the state directory should be\n");
  const std::string path =
      config("", "worker:\n  state_dir: " + state_dir + "\n  admin_listen: \"127.0.0.1:0\"\n");
  EXPECT_EQ(run({GITOPSD_WORKER_BIN, "--config", path, "--check-config"}).exit_code, 0);
  const auto start = std::chrono::steady_clock::now();
  const Outcome worker = run({GITOPSD_WORKER_BIN, "--config", path});
  EXPECT_EQ(worker.exit_code, 1) << worker.err;
  EXPECT_THAT(worker.err,
              HasSubstr("cannot start: cannot create mirror " + state_dir + "/mirrors/infra.git"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

class CommandLineTest : public CheckConfigTest {};

TEST_F(CommandLineTest, BadArgumentsAreExitTwoAndSayWhatIsWrong) {
  const struct {
    std::vector<std::string> argv;
    std::string message;
  } cases[] = {
      {{GITOPSCTL_BIN}, "gitopsctl: A subcommand is required"},
      {{GITOPSCTL_BIN, "deploy"}, "gitopsctl: unknown command 'deploy'"},
      {{GITOPSCTL_BIN, "status", "--bogus"}, "--bogus"},
      {{GITOPSCTL_BIN, "init-topics", "--partitions", "0", "--replication", "1"},
       "--partitions: needs a number from 1 to 1000000"},
      {{GITOPSCTL_BIN, "init-topics", "--partitions", "2"},
       "--partitions and --replication are required"},
      {{GITOPSCTL_BIN, "events", "--since", "soon"}, "--since: invalid duration 'soon'"},
      {{GITOPSCTL_BIN, "sync"}, "REPO is required"},
      {{GITOPSCTL_BIN, "sync", "infra", "--wait-timeout", "x"}, "--wait-timeout: invalid duration"},
      {{GITOPSCTL_BIN, "dlq"}, "A subcommand is required"},
      {{GITOPSCTL_BIN, "dlq", "replay", "--id", "0:1", "--all"}, "--id excludes --all"},
      {{GITOPSCTL_BIN, "dlq", "replay"}, "give either --id ID or --all"},
      {{GITOPSCTL_BIN, "sign", "--secret-file", "s", "--provider", "bitbucket", "body.json"},
       "--provider: bitbucket not in {github,gitlab,gitea}"},
      {{GITOPSCTL_BIN, "sign", "--provider", "github"}, "--secret-file is required"},
      {{GITOPSCTL_BIN, "dev", "--bogus"}, "gitopsctl dev: The following argument was not expected: --bogus"},
      {{GITOPSD_WORKER_BIN, "--instance", "0"}, "gitopsd-worker: --instance: needs a number from 1 to 1000"},
      {{GITOPSD_WORKER_BIN, "--log-level", "loud"}, "unknown log level 'loud'"},
      {{GITOPSD_RECEIVER_BIN, "--instance", "2"}, "--instance"},  // only the worker has instances
      {{GITOPSD_RECEIVER_BIN, "--config"}, "--config: 1 required TEXT missing"},
  };
  for (const auto& c : cases) {
    const Outcome o = run(c.argv);
    EXPECT_EQ(o.exit_code, 2) << c.argv.back() << ": " << o.err;
    EXPECT_THAT(o.err, HasSubstr(c.message)) << c.argv.back();
    EXPECT_EQ(o.out, "") << c.argv.back();
  }
}

TEST_F(CommandLineTest, HelpAndVersionAreExitZero) {
  const Outcome help = run({GITOPSCTL_BIN, "--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* command : {"check-config", "dev", "sign", "init-topics", "status", "events",
                              "dlq", "sync"}) {
    EXPECT_THAT(help.out, HasSubstr("\n  " + std::string(command) + " ")) << command;
  }
  // `gitopsctl dev --help` is gitopsctl-dev's own help: gitopsctl found and ran it.
  const Outcome dev = run({GITOPSCTL_BIN, "dev", "--help"});
  EXPECT_EQ(dev.exit_code, 0) << dev.err;
  EXPECT_THAT(dev.out, HasSubstr("Usage: gitopsctl dev [OPTIONS]"));
  EXPECT_THAT(dev.out, HasSubstr("--log-level"));
  for (const char* daemon : {GITOPSD_RECEIVER_BIN, GITOPSD_WORKER_BIN, GITOPSD_NOTIFIER_BIN}) {
    const Outcome version = run({daemon, "--version"});
    EXPECT_EQ(version.exit_code, 0) << daemon;
    EXPECT_THAT(version.out, HasSubstr(" 0.")) << daemon;
    EXPECT_EQ(run({daemon, "--help"}).exit_code, 0) << daemon;
  }
}

}  // namespace
}  // namespace gitopsd
