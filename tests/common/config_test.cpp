#include "gitopsd/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>

#include "self_signed.hpp"

namespace gitopsd {
namespace {

using namespace std::chrono_literals;

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A minimal valid repository; lines 1-6, so tests append from line 7 on.
constexpr const char* kInfra = R"(repositories:
  - name: infra
    provider: github
    match: acme/infra
    url: https://example.com/infra.git
    secrets: [{file: @DIR@/secret}]
)";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gitopsd-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    config_path_ = dir_ + "/gitopsd.yaml";
    write("secret", "hook-secret\n");
    const SelfSigned tls = make_self_signed();
    write("cert.pem", tls.certificate);
    write("key.pem", tls.private_key);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `content` to a file in the test's directory, @DIR@ replaced by that directory.
  std::string write(const std::string& name, std::string content) {
    for (std::size_t at; (at = content.find("@DIR@")) != std::string::npos;) {
      content.replace(at, 5, dir_);
    }
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  Config load(const std::string& yaml) { return load_config(write("gitopsd.yaml", yaml)); }
  std::string error_of(const std::string& yaml) {
    try {
      load(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no ConfigError for:\n" << yaml;
    return {};
  }
  // Asserts the error's "file:line:column: " prefix and a part of its message.
  void expect_error(const std::string& yaml, const std::string& line_column,
                    const std::string& message) {
    const std::string error = error_of(yaml);
    EXPECT_THAT(error, StartsWith(config_path_ + ":" + line_column + ": "));
    EXPECT_THAT(error, HasSubstr(message));
  }
  // The warnings of a config that loads.
  std::vector<std::string> warnings_of(const std::string& yaml) { return load(yaml).warnings; }
  // A one-repository config with one files target at `dest`; dest sits at line 9, column 36.
  std::string files_target(const std::string& dest) {
    return std::string(kInfra) + "    targets:\n      - name: web\n        apply: {type: files, dest: " +
           dest + "}\n";
  }
  // A one-repository config cloning `url`, which sits at line 5, column 10.
  std::string repository_at(const std::string& url) {
    return "repositories:\n  - name: infra\n    provider: github\n    match: acme/infra\n"
           "    url: " + url + "\n    secrets: [{file: @DIR@/secret}]\n";
  }
  // The value of the secret read from `content` by a one-repository config.
  std::string secret_from(const std::string& content) {
    write("secret", content);
    return load(kInfra).repositories.at(0).secrets.at(0).value;
  }

  std::string dir_;
  std::string config_path_;
};

TEST_F(ConfigTest, LoadsEveryKeyOfAFullConfig) {
  setenv("GITOPSD_TEST_ROTATED_SECRET", "rotated-secret", 1);
  const Config c = load(R"(kafka:
  brokers: "b1:9092,b2:9092"
  topics: {events: e, results: r, state: s, dlq: d}
  properties: {security.protocol: SASL_SSL, linger.ms: 5, enable.idempotence: true}
receiver:
  listen: "[::1]:8443"
  admin_listen: "127.0.0.1:0"
  tls: {cert_file: @DIR@/cert.pem, key_file: @DIR@/key.pem}
  max_body_bytes: 25MiB
  header_timeout: 250ms
  body_timeout: 45s
  idle_timeout: 2m
  dedupe_window: 1h30m
  publish_timeout: 7s
  threads: 4
worker:
  group_id: team-workers
  state_dir: @DIR@/state
  admin_listen: "0.0.0.0:19465"
  apply_timeout: 20m
  max_attempts: 7
  resync_interval: 1d
  max_parallel_fetches: 32
repositories:
  - name: infra
    provider: github
    match: acme/infra
    url: https://github.com/acme/infra.git
    branch: production
    secrets: [{file: @DIR@/secret}, {env: GITOPSD_TEST_ROTATED_SECRET}]
    credentials: {token_file: /etc/gitopsd/token}
    targets:
      - name: web
        path: envs/prod/web
        apply: {type: files, dest: /srv/web, after: [systemctl, reload, nginx]}
      - name: cluster
        path: k8s/prod
        apply: {type: exec, command: [kubectl, apply, --server-side, -f, .],
                diff: [kubectl, diff, -f, .], drift_exit_codes: [1, 3]}
        self_heal: false
  - name: apps.v2_x-y
    provider: gitlab
    match: group/sub/apps
    url: ssh://git@gitlab.example.com/group/sub/apps.git
    secrets: [{file: @DIR@/secret}]
    credentials: {ssh_key_file: /etc/gitopsd/id_ed25519, known_hosts: /etc/gitopsd/known_hosts}
    targets: []
  - name: forge
    provider: gitea
    match: acme/infra
    url: https://gitea.example.com/acme/infra.git
    secrets:
      - env: GITOPSD_TEST_ROTATED_SECRET
    targets:
      - name: root
        apply: {type: exec, command: [make, deploy]}
)");
  unsetenv("GITOPSD_TEST_ROTATED_SECRET");

  EXPECT_EQ(c.path, config_path_);
  EXPECT_EQ(c.kafka.brokers, "b1:9092,b2:9092");
  EXPECT_EQ(c.kafka.topics.events, "e");
  EXPECT_EQ(c.kafka.topics.results, "r");
  EXPECT_EQ(c.kafka.topics.state, "s");
  EXPECT_EQ(c.kafka.topics.dlq, "d");
  EXPECT_EQ(c.kafka.properties, (std::map<std::string, std::string>{
                                    {"security.protocol", "SASL_SSL"},
                                    {"linger.ms", "5"},
                                    {"enable.idempotence", "true"}}));

  EXPECT_EQ(c.receiver.listen.host, "::1");
  EXPECT_EQ(c.receiver.listen.port, 8443);
  EXPECT_EQ(c.receiver.listen.to_string(), "[::1]:8443");
  EXPECT_EQ(c.receiver.admin_listen.to_string(), "127.0.0.1:0");
  ASSERT_TRUE(c.receiver.tls.has_value());
  EXPECT_EQ(c.receiver.tls->cert_file, dir_ + "/cert.pem");
  EXPECT_EQ(c.receiver.tls->key_file, dir_ + "/key.pem");
  EXPECT_EQ(c.receiver.max_body_bytes, 25u * 1024 * 1024);
  EXPECT_EQ(c.receiver.header_timeout, 250ms);
  EXPECT_EQ(c.receiver.body_timeout, 45s);
  EXPECT_EQ(c.receiver.idle_timeout, 2min);
  EXPECT_EQ(c.receiver.dedupe_window, 90min);
  EXPECT_EQ(c.receiver.publish_timeout, 7s);
  EXPECT_EQ(c.receiver.threads, 4u);

  EXPECT_EQ(c.worker.group_id, "team-workers");
  EXPECT_EQ(c.worker.state_dir, dir_ + "/state");
  EXPECT_EQ(c.worker.admin_listen.to_string(), "0.0.0.0:19465");
  EXPECT_EQ(c.worker.apply_timeout, 20min);
  EXPECT_EQ(c.worker.max_attempts, 7u);
  EXPECT_EQ(c.worker.resync_interval, 24h);
  EXPECT_EQ(c.worker.max_parallel_fetches, 32u);

  ASSERT_EQ(c.repositories.size(), 3u);
  const Repository& infra = c.repositories[0];
  EXPECT_EQ(infra.name, "infra");
  EXPECT_EQ(infra.provider, Provider::github);
  EXPECT_EQ(infra.match, "acme/infra");
  EXPECT_EQ(infra.url, "https://github.com/acme/infra.git");
  EXPECT_EQ(infra.branch, "production");
  ASSERT_EQ(infra.secrets.size(), 2u);
  EXPECT_EQ(infra.secrets[0].value, "hook-secret");
  EXPECT_EQ(infra.secrets[0].origin, "file " + dir_ + "/secret");
  EXPECT_EQ(infra.secrets[1].value, "rotated-secret");
  EXPECT_EQ(infra.secrets[1].origin, "env GITOPSD_TEST_ROTATED_SECRET");
  EXPECT_EQ(infra.credentials.token_file, "/etc/gitopsd/token");
  EXPECT_FALSE(infra.credentials.ssh_key_file.has_value());
  ASSERT_EQ(infra.targets.size(), 2u);
  EXPECT_EQ(infra.targets[0].name, "web");
  EXPECT_EQ(infra.targets[0].path, "envs/prod/web");
  EXPECT_TRUE(infra.targets[0].self_heal);
  const auto& files = std::get<FilesApply>(infra.targets[0].apply);
  EXPECT_EQ(files.dest, "/srv/web");
  EXPECT_EQ(files.after, (std::vector<std::string>{"systemctl", "reload", "nginx"}));
  EXPECT_EQ(infra.targets[1].name, "cluster");
  EXPECT_EQ(infra.targets[1].path, "k8s/prod");
  EXPECT_FALSE(infra.targets[1].self_heal);
  const auto& exec = std::get<ExecApply>(infra.targets[1].apply);
  EXPECT_EQ(exec.command,
            (std::vector<std::string>{"kubectl", "apply", "--server-side", "-f", "."}));
  EXPECT_EQ(exec.diff, (std::vector<std::string>{"kubectl", "diff", "-f", "."}));
  EXPECT_EQ(exec.drift_exit_codes, (std::vector<int>{1, 3}));

  const Repository& apps = c.repositories[1];
  EXPECT_EQ(apps.name, "apps.v2_x-y");
  EXPECT_EQ(apps.provider, Provider::gitlab);
  EXPECT_EQ(apps.branch, "main");
  EXPECT_FALSE(apps.credentials.token_file.has_value());
  EXPECT_EQ(apps.credentials.ssh_key_file, "/etc/gitopsd/id_ed25519");
  EXPECT_EQ(apps.credentials.known_hosts, "/etc/gitopsd/known_hosts");
  EXPECT_TRUE(apps.targets.empty());

  const Repository& forge = c.repositories[2];
  EXPECT_EQ(forge.provider, Provider::gitea);
  EXPECT_EQ(forge.secrets.at(0).value, "rotated-secret");
  ASSERT_EQ(forge.targets.size(), 1u);
  EXPECT_EQ(forge.targets[0].path, "");
  EXPECT_TRUE(forge.targets[0].self_heal);
  const auto& make = std::get<ExecApply>(forge.targets[0].apply);
  EXPECT_EQ(make.command, (std::vector<std::string>{"make", "deploy"}));
  EXPECT_TRUE(make.diff.empty());
  EXPECT_EQ(make.drift_exit_codes, (std::vector<int>{1}));
}

TEST_F(ConfigTest, UsesDefaultsWhenSectionsAreAbsent) {
  for (const std::string yaml : {"", "# nothing but a comment\n", "repositories: []\n"}) {
    const Config c = load(yaml);
    EXPECT_EQ(c.kafka.brokers, "localhost:9092");
    EXPECT_EQ(c.kafka.topics.events, "gitopsd.events");
    EXPECT_EQ(c.kafka.topics.results, "gitopsd.results");
    EXPECT_EQ(c.kafka.topics.state, "gitopsd.state");
    EXPECT_EQ(c.kafka.topics.dlq, "gitopsd.dlq");
    EXPECT_TRUE(c.kafka.properties.empty());
    EXPECT_EQ(c.receiver.listen.to_string(), "0.0.0.0:8080");
    EXPECT_EQ(c.receiver.admin_listen.to_string(), "127.0.0.1:9464");
    EXPECT_FALSE(c.receiver.tls.has_value());
    EXPECT_EQ(c.receiver.max_body_bytes, 26214400u);
    EXPECT_EQ(c.receiver.header_timeout, 10s);
    EXPECT_EQ(c.receiver.body_timeout, 30s);
    EXPECT_EQ(c.receiver.idle_timeout, 60s);
    EXPECT_EQ(c.receiver.dedupe_window, 1h);
    EXPECT_EQ(c.receiver.publish_timeout, 5s);
    EXPECT_EQ(c.receiver.threads, 0u);
    EXPECT_EQ(c.worker.group_id, "gitopsd-workers");
    EXPECT_EQ(c.worker.state_dir, "/var/lib/gitopsd");
    EXPECT_EQ(c.worker.admin_listen.to_string(), "127.0.0.1:9465");
    EXPECT_EQ(c.worker.apply_timeout, 10min);
    EXPECT_EQ(c.worker.max_attempts, 5u);
    EXPECT_EQ(c.worker.resync_interval, 3min);
    EXPECT_EQ(c.worker.max_parallel_fetches, 8u);
    EXPECT_TRUE(c.repositories.empty());
  }
}

TEST_F(ConfigTest, RemovesOneTrailingNewlineFromSecretFile) {
  EXPECT_EQ(secret_from("s3cret\n"), "s3cret");
  EXPECT_EQ(secret_from("s3cret\n\n"), "s3cret\n");
  EXPECT_EQ(secret_from("s3cret\r\n"), "s3cret");
  EXPECT_EQ(secret_from("s3cret"), "s3cret");
}

TEST_F(ConfigTest, AcceptsSameMatchOnAnotherBranch) {
  const Config c = load(std::string(kInfra) + R"(  - name: infra-staging
    provider: github
    match: acme/infra
    url: https://example.com/infra.git
    branch: staging
    secrets: [{file: @DIR@/secret}]
)");
  ASSERT_EQ(c.repositories.size(), 2u);
  EXPECT_EQ(c.repositories[1].branch, "staging");
}

TEST_F(ConfigTest, FormatsListenAddressesAndProviders) {
  EXPECT_EQ((ListenAddress{"0.0.0.0", 8080}).to_string(), "0.0.0.0:8080");
  EXPECT_EQ((ListenAddress{"::1", 443}).to_string(), "[::1]:443");
  EXPECT_EQ(provider_name(Provider::github), "github");
  EXPECT_EQ(provider_name(Provider::gitlab), "gitlab");
  EXPECT_EQ(provider_name(Provider::gitea), "gitea");
}

TEST_F(ConfigTest, RejectsUnknownTopLevelKey) {
  expect_error("kafka:\n  brokers: localhost:9092\ncolour: blue\n", "3:1",
               "unknown key 'colour' at top level");
}

TEST_F(ConfigTest, RejectsUnknownNestedKey) {
  expect_error("receiver:\n  listen: \"0.0.0.0:8080\"\n  foo: 1\n", "3:3",
               "unknown key 'foo' in receiver");
}

TEST_F(ConfigTest, RejectsUnknownKeyInTargetApply) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: web
        apply:
          type: files
          dst: /srv/web
)",
               "11:11", "unknown key 'dst' in repositories[0].targets[0].apply");
}

TEST_F(ConfigTest, TakesALogLevelAndRejectsAnUnknownOne) {
  EXPECT_EQ(load("").log_level, "info");
  EXPECT_EQ(load("log_level: debug\n").log_level, "debug");
  EXPECT_EQ(load("log_level: \"off\"\n").log_level, "off");
  expect_error("log_level: loud\n", "1:12",
               "log_level: unknown log level 'loud': expected trace, debug, info, warn, error, "
               "critical or off");
  expect_error("log_level: [info]\n", "1:12", "log_level: expected a string, got a list");
}

TEST_F(ConfigTest, RejectsDuplicateKey) {
  expect_error("worker:\n  max_attempts: 3\n  max_attempts: 4\n", "3:3",
               "duplicate key 'max_attempts' in worker");
}

TEST_F(ConfigTest, RejectsMappingWhereStringExpected) {
  expect_error("kafka:\n  brokers: {host: localhost}\n", "2:12",
               "kafka.brokers: expected a string, got a mapping");
}

TEST_F(ConfigTest, RefusesEmbeddedBrokersWhereAClusterIsNeeded) {
  const std::string path = write("gitopsd.yaml", "kafka:\n  brokers: embedded\n");
  EXPECT_EQ(load_config(path).kafka.brokers, "embedded");
  EXPECT_EQ(load_config(path, BrokerUse::embedded).kafka.brokers, "embedded");
  try {
    load_config(path, BrokerUse::cluster);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), StartsWith(path + ":2:12: kafka.brokers: 'embedded' is only for"));
    EXPECT_THAT(e.what(), HasSubstr("run: gitopsctl dev --config " + path));
  }
}

TEST_F(ConfigTest, DevRefusesAnyBrokersButEmbedded) {
  for (const auto& [yaml, line_column, message] :
       {std::tuple{"kafka:\n  brokers: \"localhost:9092\"\n", "2:12",
                   "kafka.brokers: `gitopsctl dev` runs its own broker and needs 'embedded', "
                   "got 'localhost:9092'"},
        std::tuple{"kafka:\n  topics: {events: e}\n", "2:3", "kafka: missing required key 'brokers'"},
        std::tuple{"worker:\n  max_attempts: 3\n", "1:1", "missing required key 'kafka'"},
        std::tuple{"", "1:1", "missing required key 'kafka'"}}) {
    const std::string path = write("gitopsd.yaml", yaml);
    try {
      load_config(path, BrokerUse::embedded);
      ADD_FAILURE() << "no ConfigError for:\n" << yaml;
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), StartsWith(path + ":" + line_column + ": ")) << yaml;
      EXPECT_THAT(e.what(), HasSubstr(message)) << yaml;
    }
    EXPECT_NO_THROW(load_config(path, BrokerUse::cluster)) << yaml;
  }
}

TEST_F(ConfigTest, RejectsNonMappingDocument) {
  expect_error("- kafka\n", "1:1", "top level: expected a mapping, got a list");
}

TEST_F(ConfigTest, RejectsEmptySectionAtItsKey) {
  expect_error("receiver: {}\nworker:\n", "2:1", "worker: expected a mapping, got null");
}

TEST_F(ConfigTest, RejectsSeveralDocuments) {
  expect_error("worker: {}\n---\nreceiver: {}\n", "3:1", "expected one YAML document");
}

// Found by fuzz_config (fuzz/corpus/config/regression-stray-comma): YAML::LoadAll never
// returned on a ',' outside a flow collection and took all memory; the daemons hung at start.
TEST_F(ConfigTest, RejectsStrayCommaInsteadOfHanging) {
  expect_error(",", "1:1", "unexpected token");
  expect_error("  ,\n", "1:3", "unexpected token");
}

TEST_F(ConfigTest, RejectsStringForMaxAttempts) {
  expect_error("worker:\n  max_attempts: lots\n", "2:17",
               "worker.max_attempts: expected an integer from 1 to 100, got 'lots'");
}

TEST_F(ConfigTest, RejectsMaxAttemptsOutOfRange) {
  expect_error("worker:\n  max_attempts: 0\n", "2:17",
               "expected an integer from 1 to 100, got '0'");
}

TEST_F(ConfigTest, RejectsMaxParallelFetchesOutOfRange) {
  expect_error("worker:\n  max_parallel_fetches: 0\n", "2:25",
               "worker.max_parallel_fetches: expected an integer from 1 to 256, got '0'");
  expect_error("worker:\n  max_parallel_fetches: 257\n", "2:25",
               "expected an integer from 1 to 256, got '257'");
}

TEST_F(ConfigTest, RejectsNonBooleanSelfHeal) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: web
        apply: {type: files, dest: /srv/web}
        self_heal: sometimes
)",
               "10:20", "repositories[0].targets[0].self_heal: expected true or false");
}

TEST_F(ConfigTest, RejectsRepositoryWithoutUrl) {
  expect_error(R"(repositories:
  - name: infra
    provider: github
    match: acme/infra
    secrets: [{file: @DIR@/secret}]
)",
               "2:5", "missing required key 'url' in repositories[0]");
}

TEST_F(ConfigTest, RejectsTargetWithoutApply) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: web
        path: web
)",
               "8:9", "missing required key 'apply' in repositories[0].targets[0]");
}

TEST_F(ConfigTest, RejectsUnknownProvider) {
  expect_error(R"(repositories:
  - name: infra
    provider: bitbucket
)",
               "3:15",
               "repositories[0].provider: expected github, gitlab or gitea, got 'bitbucket'");
}

TEST_F(ConfigTest, RejectsRepositoryNameWithSlash) {
  expect_error("repositories:\n  - name: acme/infra\n", "2:11",
               "repositories[0].name: 'acme/infra' may only contain letters, digits, '.', '_' "
               "and '-'");
}

TEST_F(ConfigTest, RejectsDuplicateRepositoryNames) {
  expect_error(std::string(kInfra) + R"(  - name: infra
    provider: gitlab
    match: acme/other
    url: https://example.com/other.git
    secrets: [{file: @DIR@/secret}]
)",
               "7:11", "duplicate repository name 'infra'");
}

TEST_F(ConfigTest, RejectsDuplicateTargetNames) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: web
        apply: {type: files, dest: /srv/web}
      - name: web
        apply: {type: files, dest: /srv/web2}
)",
               "10:15", "duplicate target name 'web'");
}

TEST_F(ConfigTest, RejectsDuplicateProviderMatchBranch) {
  expect_error(std::string(kInfra) + R"(  - name: infra-copy
    provider: github
    match: acme/infra
    url: https://example.com/copy.git
    branch: main
    secrets: [{file: @DIR@/secret}]
)",
               "7:5",
               "provider github, match 'acme/infra' and branch 'main' are already used by "
               "repository 'infra'");
}

TEST_F(ConfigTest, RejectsUnreadableSecretFile) {
  expect_error(R"(repositories:
  - name: infra
    provider: github
    match: acme/infra
    url: https://example.com/infra.git
    secrets:
      - file: @DIR@/missing
)",
               "7:9", "cannot read secret file '" + dir_ + "/missing': No such file or directory");
}

// /dev/zero or a FIFO as a secret would hang the loader (and the daemon's start) instead of
// failing it.
TEST_F(ConfigTest, RejectsSecretFileThatIsNotARegularFile) {
  for (const std::string path : {"/dev/zero", "@DIR@"}) {
    expect_error(R"(repositories:
  - name: infra
    provider: github
    match: acme/infra
    url: https://example.com/infra.git
    secrets:
      - file: )" + path + "\n",
                 "7:9", "not a regular file");
  }
}

TEST_F(ConfigTest, RejectsEmptySecretFile) {
  write("secret", "\n");
  expect_error(kInfra, "6:15", "secret file '" + dir_ + "/secret' is empty");
}

TEST_F(ConfigTest, RejectsUnsetEnvSecret) {
  unsetenv("GITOPSD_TEST_UNSET_VARIABLE");
  expect_error(R"(repositories:
  - name: infra
    provider: github
    match: acme/infra
    url: https://example.com/infra.git
    secrets: [{env: GITOPSD_TEST_UNSET_VARIABLE}]
)",
               "6:15", "environment variable 'GITOPSD_TEST_UNSET_VARIABLE' is unset or empty");
}

TEST_F(ConfigTest, RejectsSecretWithBothFileAndEnv) {
  expect_error(R"(repositories:
  - name: infra
    provider: github
    match: acme/infra
    url: https://example.com/infra.git
    secrets: [{file: @DIR@/secret, env: HOME}]
)",
               "6:15", "repositories[0].secrets[0]: expected exactly one of 'file' or 'env'");
}

TEST_F(ConfigTest, RejectsEmptySecretsList) {
  expect_error(R"(repositories:
  - name: infra
    provider: github
    match: acme/infra
    url: https://example.com/infra.git
    secrets: []
)",
               "6:14", "repositories[0].secrets: needs at least one secret");
}

TEST_F(ConfigTest, RejectsBadDuration) {
  expect_error("receiver:\n  header_timeout: abc\n", "2:19",
               "receiver.header_timeout: invalid duration 'abc'");
}

TEST_F(ConfigTest, RejectsDurationWithoutUnit) {
  expect_error("worker:\n  apply_timeout: 600\n", "2:18",
               "worker.apply_timeout: invalid duration '600': missing unit");
}

TEST_F(ConfigTest, RejectsZeroDuration) {
  expect_error("receiver:\n  idle_timeout: 0s\n", "2:17",
               "receiver.idle_timeout: must be greater than 0");
}

TEST_F(ConfigTest, RejectsBadSize) {
  expect_error("receiver:\n  max_body_bytes: 25XB\n", "2:19",
               "receiver.max_body_bytes: invalid size '25XB'");
}

TEST_F(ConfigTest, RejectsListenPortOutOfRange) {
  expect_error("receiver:\n  listen: \"0.0.0.0:70000\"\n", "2:11",
               "receiver.listen: '0.0.0.0:70000' is not host:port: port must be a number from 0 "
               "to 65535");
}

TEST_F(ConfigTest, RejectsListenWithoutHost) {
  expect_error("worker:\n  admin_listen: \":9465\"\n", "2:17",
               "worker.admin_listen: ':9465' is not host:port: empty host");
}

TEST_F(ConfigTest, RejectsIpv6ListenWithoutBrackets) {
  expect_error("receiver:\n  listen: \"::1:8080\"\n", "2:11", "write IPv6 addresses in brackets");
}

TEST_F(ConfigTest, RejectsTlsWithoutKeyFile) {
  expect_error("receiver:\n  tls:\n    cert_file: @DIR@/cert.pem\n", "3:5",
               "missing required key 'key_file' in receiver.tls");
}

TEST_F(ConfigTest, RejectsUnreadableTlsFile) {
  expect_error("receiver:\n  tls: {cert_file: @DIR@/nope.pem, key_file: @DIR@/key.pem}\n", "2:20",
               "receiver.tls.cert_file: cannot read '" + dir_ +
                   "/nope.pem': No such file or directory");
}

TEST_F(ConfigTest, RejectsSshKeyFileWithoutKnownHosts) {
  expect_error(std::string(kInfra) + "    credentials: {ssh_key_file: /etc/gitopsd/id}\n", "7:18",
               "missing required key 'known_hosts' (needed with ssh_key_file)");
}

TEST_F(ConfigTest, RejectsTokenFileWithSshKeyFile) {
  expect_error(std::string(kInfra) +
                   "    credentials: {token_file: /t, ssh_key_file: /id, known_hosts: /k}\n",
               "7:18", "token_file and ssh_key_file exclude each other");
}

TEST_F(ConfigTest, RejectsTargetPathWithDotDot) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: web
        path: envs/../../etc
        apply: {type: files, dest: /srv/web}
)",
               "9:15", "repositories[0].targets[0].path: 'envs/../../etc' must not contain '..'");
}

TEST_F(ConfigTest, RejectsAbsoluteTargetPath) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: web
        path: /etc
        apply: {type: files, dest: /srv/web}
)",
               "9:15", "'/etc' must be relative to the repository root");
}

TEST_F(ConfigTest, RejectsRelativeFilesDest) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: web
        apply: {type: files, dest: srv/web}
)",
               "9:36", "repositories[0].targets[0].apply.dest: 'srv/web' must be an absolute path");
}

TEST_F(ConfigTest, RejectsUnknownApplyType) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: web
        apply: {type: shell, command: [make]}
)",
               "9:23",
               "repositories[0].targets[0].apply.type: expected files or exec, got 'shell'");
}

TEST_F(ConfigTest, RejectsExecApplyWithoutCommand) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: cluster
        apply: {type: exec, diff: [kubectl, diff, -f, .]}
)",
               "9:16", "missing required key 'command' in repositories[0].targets[0].apply");
}

TEST_F(ConfigTest, RejectsShellStringAsCommand) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: cluster
        apply: {type: exec, command: "kubectl apply -f ."}
)",
               "9:38", "repositories[0].targets[0].apply.command: expected an argv list");
}

TEST_F(ConfigTest, RejectsDriftExitCodeOutOfRange) {
  expect_error(std::string(kInfra) + R"(    targets:
      - name: cluster
        apply: {type: exec, command: [kubectl, apply], drift_exit_codes: [1, 256]}
)",
               "9:78", "drift_exit_codes[1]: expected an integer from 0 to 255, got '256'");
}

TEST_F(ConfigTest, RejectsYamlSyntaxError) {
  // A mis-indented key; yaml-cpp reports where the mapping should have ended.
  expect_error("kafka:\n  brokers: a\n topics: b\n", "3:2", "end of map not found");
}

TEST_F(ConfigTest, RejectsNonexistentConfigFile) {
  try {
    load_config(dir_ + "/absent.yaml");
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), (dir_ + "/absent.yaml: cannot read: No such file or directory").c_str());
  }
}

TEST_F(ConfigTest, ParseConfigNamesTheGivenFile) {
  try {
    parse_config("worker:\n  bogus: 1\n", "inline.yaml");
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "inline.yaml:2:3: unknown key 'bogus' in worker");
  }
  EXPECT_EQ(parse_config("", "inline.yaml").path, "inline.yaml");
}

TEST_F(ConfigTest, NeverPutsSecretValuesInErrors) {
  const std::string file_secret = "ZZ-distinctive-file-secret-42";
  const std::string env_secret = "ZZ-distinctive-env-secret-43";
  const std::string secret_path = write("secret", file_secret + "\n");
  setenv("GITOPSD_TEST_ENV_SECRET", env_secret.c_str(), 1);
  const std::string repo = std::string(kInfra) + R"(  - name: infra
    provider: gitlab
    match: acme/other
    url: https://example.com/other.git
    secrets: [{env: GITOPSD_TEST_ENV_SECRET}]
)";
  std::vector<std::string> errors = {
      error_of(repo),
      error_of(std::string(kInfra) + "    colour: " + "blue\n"),
      error_of("receiver:\n  tls: {cert_file: @DIR@/secret, key_file: @DIR@/missing}\n"),
  };
  for (const std::string& content : {file_secret, "key: [" + file_secret}) {
    write("secret", content);
    try {
      load_config(secret_path);
      ADD_FAILURE() << "no ConfigError";
    } catch (const ConfigError& e) {
      errors.push_back(e.what());
    }
  }
  unsetenv("GITOPSD_TEST_ENV_SECRET");
  for (const std::string& error : errors) {
    EXPECT_FALSE(error.empty());
    EXPECT_THAT(error, Not(HasSubstr(file_secret)));
    EXPECT_THAT(error, Not(HasSubstr(env_secret)));
  }
}

// Item 8: no duration builds a timer that overflows or that librdkafka refuses.
TEST_F(ConfigTest, RejectsEachDurationAboveItsBound) {
  const std::tuple<std::string, std::string, std::string, std::string> cases[] = {
      {"receiver", "header_timeout", "6m", "5m"},   {"receiver", "body_timeout", "11m", "10m"},
      {"receiver", "idle_timeout", "61m", "1h"},    {"receiver", "dedupe_window", "8d", "7d"},
      {"receiver", "publish_timeout", "30d", "5m"}, {"worker", "apply_timeout", "25h", "1d"},
      {"worker", "resync_interval", "999999d", "7d"}};
  for (const auto& [section, key, value, bound] : cases) {
    // The value follows "  key: " on line 2.
    expect_error(section + ":\n  " + key + ": " + value + "\n",
                 "2:" + std::to_string(key.size() + 5),
                 section + "." + key + ": must be at most " + bound);
  }
}

TEST_F(ConfigTest, AcceptsDurationsAtTheirBounds) {
  const Config c = load(R"(receiver:
  header_timeout: 5m
  body_timeout: 10m
  idle_timeout: 1h
  dedupe_window: 7d
  publish_timeout: 5m
worker:
  apply_timeout: 24h
  resync_interval: 168h
)");
  EXPECT_EQ(c.receiver.header_timeout, 5min);
  EXPECT_EQ(c.receiver.body_timeout, 10min);
  EXPECT_EQ(c.receiver.idle_timeout, 1h);
  EXPECT_EQ(c.receiver.dedupe_window, 168h);
  EXPECT_EQ(c.receiver.publish_timeout, 5min);
  EXPECT_EQ(c.worker.apply_timeout, 24h);
  EXPECT_EQ(c.worker.resync_interval, 168h);
}

// message.timeout.ms must exceed linger.ms (2 ms), or the producer is never created.
TEST_F(ConfigTest, RejectsPublishTimeoutBelowWhatTheProducerTakes) {
  expect_error("receiver:\n  publish_timeout: 2ms\n", "2:20",
               "receiver.publish_timeout: must be at least 100ms");
}

// The librdkafka part of these messages is matched by its stable words only: its wording may
// change between librdkafka 2.0 and 2.8.
TEST_F(ConfigTest, RejectsUnknownKafkaPropertyWithoutItsValue) {
  const std::string yaml = "kafka:\n  properties:\n    sasl.pasword: ZZ-distinctive-kafka-pass\n";
  expect_error(yaml, "3:5", "unknown kafka property 'sasl.pasword' in kafka.properties: ");
  EXPECT_THAT(error_of(yaml), HasSubstr("No such configuration property"));
  EXPECT_THAT(error_of(yaml), Not(HasSubstr("ZZ-distinctive-kafka-pass")));
}

TEST_F(ConfigTest, RejectsKafkaPropertyValueLibrdkafkaRefusesWithoutEchoingIt) {
  const std::string yaml = "kafka:\n  properties:\n    security.protocol: ZZ_distinctive_value\n";
  expect_error(yaml, "3:24",
               "kafka.properties.security.protocol: librdkafka refuses the value: Invalid value");
  EXPECT_THAT(error_of(yaml), HasSubstr("\"security.protocol\""));
  EXPECT_THAT(error_of(yaml), Not(HasSubstr("ZZ_distinctive_value")));
  expect_error("kafka:\n  properties: {linger.ms: soon}\n", "2:27",
               "kafka.properties.linger.ms: librdkafka refuses the value: Invalid value");
}

// Properties that are each fine but that librdkafka refuses next to the settings gitopsd
// forces (idempotence, acks=all, message.timeout.ms) when a daemon creates its client.
TEST_F(ConfigTest, RejectsKafkaPropertiesThatClashWithGitopsdsOwnSettings) {
  const std::string in_flight = "kafka:\n  properties:\n    max.in.flight: 10\n";
  expect_error(in_flight, "3:5",
               "kafka.properties: librdkafka refuses these properties for the receiver's "
               "producer (message.timeout.ms = receiver.publish_timeout, 5000; "
               "enable.idempotence=true, acks=all): ");
  EXPECT_THAT(error_of(in_flight), HasSubstr("`max.in.flight`"));
  const std::string linger = "kafka:\n  properties: {linger.ms: 6000}\n";
  expect_error(linger, "2:15",
               "for the receiver's producer (message.timeout.ms = receiver.publish_timeout, "
               "5000; enable.idempotence=true, acks=all): ");
  EXPECT_THAT(error_of(linger), HasSubstr("`linger.ms`"));
  const std::string worker_linger =
      "kafka:\n  properties: {linger.ms: 60000}\nreceiver:\n  publish_timeout: 2m\n";
  expect_error(worker_linger, "2:15",
               "for the worker's producer (message.timeout.ms = 30000; enable.idempotence=true, "
               "acks=all): ");
  EXPECT_THAT(error_of(worker_linger), HasSubstr("`linger.ms`"));
  const std::string fetch = "kafka:\n  properties: {fetch.max.bytes: 100000000, "
                            "receive.message.max.bytes: 1000000}\n";
  expect_error(fetch, "2:15", "for the worker's consumer: ");
  EXPECT_THAT(error_of(fetch), HasSubstr("`receive.message.max.bytes`"));
  // Each fine alone; together the group would drop the worker between its heartbeats.
  expect_error("kafka:\n  properties: {heartbeat.interval.ms: 12000}\n", "2:15",
               "for the worker's consumer: heartbeat.interval.ms (12000) must be below "
               "session.timeout.ms (10000)");
}

// librdkafka loads the TLS files a property names when the client is created.
TEST_F(ConfigTest, RejectsKafkaTlsFileThatDoesNotLoad) {
  expect_error("kafka:\n  properties:\n    security.protocol: ssl\n    ssl.ca.location: " + dir_ +
                   "/no-ca.pem\n",
               "3:5", "kafka.properties: librdkafka refuses these properties for the receiver's "
                      "producer");
  EXPECT_THAT(error_of("kafka:\n  properties:\n    security.protocol: ssl\n    ssl.ca.location: " +
                       dir_ + "/no-ca.pem\n"),
              HasSubstr("ssl.ca.location failed"));
}

TEST_F(ConfigTest, RejectsTopicNameKafkaRefuses) {
  expect_error("kafka:\n  topics: {events: \"bad topic\"}\n", "2:20",
               "kafka.topics.events: 'bad topic' is not a Kafka topic name");
}

TEST_F(ConfigTest, RejectsTlsCertificateThatIsNotPem) {
  write("garbage.pem", "not a certificate\n");
  expect_error("receiver:\n  tls:\n    cert_file: @DIR@/garbage.pem\n    key_file: @DIR@/key.pem\n",
               "3:16",
               "receiver.tls.cert_file: '" + dir_ + "/garbage.pem' is not a PEM certificate chain: ");
}

TEST_F(ConfigTest, RejectsTlsKeyThatIsNotPem) {
  write("garbage.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  expect_error("receiver:\n  tls:\n    cert_file: @DIR@/cert.pem\n    key_file: @DIR@/garbage.pem\n",
               "4:15",
               "receiver.tls.key_file: '" + dir_ +
                   "/garbage.pem' is not a PEM private key without a passphrase: ");
}

TEST_F(ConfigTest, RejectsTlsKeyOfAnotherCertificate) {
  write("other-key.pem", make_self_signed().private_key);
  expect_error(
      "receiver:\n  tls:\n    cert_file: @DIR@/cert.pem\n    key_file: @DIR@/other-key.pem\n",
      "4:15",
      "receiver.tls.key_file: the private key in '" + dir_ +
          "/other-key.pem' does not match the certificate in '" + dir_ + "/cert.pem'");
}

// Item 9: the receiver compares match ignoring case, so the second would never verify.
TEST_F(ConfigTest, RejectsMatchThatDiffersOnlyByCase) {
  expect_error(std::string(kInfra) + R"(  - name: infra-upper
    provider: github
    match: Acme/Infra
    url: https://example.com/infra.git
    secrets: [{file: @DIR@/secret}]
)",
               "7:5",
               "provider github, match 'Acme/Infra' and branch 'main' are already used by "
               "repository 'infra' (as 'acme/infra'; the receiver compares match ignoring case)");
}

// A webhook names its branch, so the receiver still tells these apart (as for an exact match).
TEST_F(ConfigTest, AcceptsMatchDifferingByCaseOnAnotherBranch) {
  const Config c = load(std::string(kInfra) + R"(  - name: infra-staging
    provider: github
    match: ACME/infra
    url: https://example.com/infra.git
    branch: staging
    secrets: [{file: @DIR@/secret}]
)");
  EXPECT_EQ(c.repositories.size(), 2u);
}

// Item 10: an apply deletes what dest holds beyond the subtree.
TEST_F(ConfigTest, RejectsRootAndSystemDirectoriesAsFilesDest) {
  expect_error(files_target("/"), "9:36", "apply.dest: '/' is the root directory");
  expect_error(files_target("//./"), "9:36", "apply.dest: '/' is the root directory");
  for (const std::string dest : {"/etc", "/etc/", "/usr//lib/.", "/var", "/var/lib", "/tmp",
                                 "/lib64", "/boot", "/root", "/srv", "/usr/local", "/bin"}) {
    expect_error(files_target(dest), "9:36", "is a system directory");
  }
  expect_error(files_target("/home"), "9:36", "apply.dest: '/home' is a system directory");
  expect_error(files_target("/home/alice/"), "9:36",
               "apply.dest: '/home/alice' is a home directory");
  for (const std::string dest : {"/proc/sys/kernel", "/sys/fs/cgroup", "/dev/shm/site"}) {
    expect_error(files_target(dest), "9:36", "which is not a real filesystem");
  }
}

TEST_F(ConfigTest, AcceptsSubdirectoriesOfSystemDirectoriesAndNormalizesDest) {
  for (const std::string dest : {"/etc/nginx/conf.d", "/var/www", "/srv/www", "/opt/app",
                                 "/home/alice/site", "/var/lib/app", "/usr/share/nginx/html"}) {
    const Config c = load(files_target(dest));
    EXPECT_EQ(std::get<FilesApply>(c.repositories.at(0).targets.at(0).apply).dest, dest);
  }
  const Config c = load(files_target("/srv//www/./html/"));
  EXPECT_EQ(std::get<FilesApply>(c.repositories.at(0).targets.at(0).apply).dest, "/srv/www/html");
}

// Today a dest equal to state_dir deletes the mirrors on the first sync.
TEST_F(ConfigTest, RejectsFilesDestAtInsideOrAroundStateDir) {
  const std::string worker = "worker:\n  state_dir: @DIR@/state/\n";
  expect_error(files_target("@DIR@/state") + worker, "9:36",
               "apply.dest: '" + dir_ + "/state' is worker.state_dir '" + dir_ +
                   "/state', where the worker keeps its mirrors");
  expect_error(files_target("@DIR@/state/mirrors") + worker, "9:36",
               "apply.dest: '" + dir_ + "/state/mirrors' is inside worker.state_dir");
  expect_error(files_target("@DIR@") + worker, "9:36",
               "apply.dest: '" + dir_ + "' contains worker.state_dir");
  expect_error(files_target("/var/lib/gitopsd/www"), "9:36",
               "is inside worker.state_dir '/var/lib/gitopsd'");
}

TEST_F(ConfigTest, RejectsFilesDestsThatOverlap) {
  const std::string two_targets = std::string(kInfra) + R"(    targets:
      - name: a
        apply: {type: files, dest: /srv/www}
      - name: b
        apply: {type: files, dest: @B@}
)";
  const auto with_b = [&](const std::string& dest) {
    std::string yaml = two_targets;
    return yaml.replace(yaml.find("@B@"), 3, dest);
  };
  expect_error(with_b("/srv/www/static"), "11:36",
               "repositories[0].targets[1].apply.dest: '/srv/www/static' is inside the dest "
               "'/srv/www' of repositories[0].targets[0] (line 9)");
  expect_error(with_b("/srv"), "11:36", "'/srv' is a system directory");
  expect_error(with_b("/srv/www/"), "11:36", "'/srv/www' is the dest '/srv/www'");
  // Across repositories, even on different branches (one tree, two writers).
  expect_error(std::string(kInfra) + R"(    targets:
      - name: a
        apply: {type: files, dest: /srv/www/static}
  - name: staging
    provider: github
    match: acme/infra
    url: https://example.com/infra.git
    branch: staging
    secrets: [{file: @DIR@/secret}]
    targets:
      - name: a
        apply: {type: files, dest: /srv/www}
)",
               "18:36",
               "repositories[1].targets[0].apply.dest: '/srv/www' contains the dest "
               "'/srv/www/static' of repositories[0].targets[0] (line 9)");
  EXPECT_EQ(load(with_b("/srv/www2")).repositories.at(0).targets.size(), 2u);
}

// Item 11: the url reaches events, results and the DLQ.
TEST_F(ConfigTest, RejectsPasswordInUrlWithoutEchoingIt) {
  for (const std::string url : {"https://deploy:ZZ-distinctive-pass@github.com/acme/infra.git",
                                "ssh://git:ZZ-distinctive-pass@host/acme/infra.git",
                                "git:ZZ-distinctive-pass@host:acme/infra.git"}) {
    expect_error(repository_at(url), "5:10",
                 "repositories[0].url: the url has a password in it; take it out and put the "
                 "token in a file named by credentials: {token_file: ...}");
    EXPECT_THAT(error_of(repository_at(url)), Not(HasSubstr("ZZ-distinctive-pass")));
  }
}

TEST_F(ConfigTest, RejectsAnyUserInfoInHttpUrl) {
  for (const std::string url : {"https://ghp_ZZdistinctive@github.com/acme/infra.git",
                                "HTTP://deploy@example.com/infra.git"}) {
    expect_error(repository_at(url), "5:10", "repositories[0].url: the url has a user name in it");
    EXPECT_THAT(error_of(repository_at(url)), Not(HasSubstr("ZZdistinctive")));
  }
}

TEST_F(ConfigTest, AcceptsSshUserAndUrlsWithoutCredentials) {
  for (const std::string url :
       {"git@github.com:acme/infra.git", "ssh://git@gitlab.example.com:2222/acme/infra.git",
        "https://github.com/acme/infra.git", "https://example.com/acme/infra@v2.git",
        "file:///srv/git/infra.git", "/srv/git/infra.git"}) {
    EXPECT_EQ(load(repository_at(url)).repositories.at(0).url, url);
  }
}

// Item 12: weak secrets load, with a warning that names where they come from, never them.
TEST_F(ConfigTest, WarnsAboutSecretFileOthersCanRead) {
  const std::string secret = "ZZ-distinctive-long-enough-secret";
  const std::string path = write("secret", secret + "\n");
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  const std::vector<std::string> warnings = warnings_of(kInfra);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], StartsWith(config_path_ + ":6:15: repositories[0].secrets[0]: '" +
                                      path + "' holds a secret and is open to others (mode 0644)"));
  EXPECT_THAT(warnings[0], Not(HasSubstr(secret)));
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  EXPECT_THAT(warnings_of(kInfra), ::testing::IsEmpty());
  // Group access only for the group the package makes for the daemons (0640 root:gitopsd).
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_THAT(warnings_of(kInfra), ::testing::ElementsAre(HasSubstr("is open to its group")));
}

TEST_F(ConfigTest, WarnsAboutShortSecretsFromFileAndEnv) {
  const std::string path = write("secret", "Zq7#x\n");
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  setenv("GITOPSD_TEST_SHORT_SECRET", "Zq8#y", 1);
  const std::vector<std::string> warnings =
      warnings_of(std::string(kInfra) + R"(  - name: other
    provider: gitlab
    match: acme/other
    url: https://example.com/other.git
    secrets: [{env: GITOPSD_TEST_SHORT_SECRET}]
)");
  unsetenv("GITOPSD_TEST_SHORT_SECRET");
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0], config_path_ + ":6:15: repositories[0].secrets[0]: secret file '" + path +
                             "' is shorter than 16 bytes; use a random one, like `openssl rand "
                             "-hex 32`");
  EXPECT_THAT(warnings[1], StartsWith(config_path_ + ":11:15: repositories[1].secrets[0]: the "
                                                     "secret in environment variable "
                                                     "'GITOPSD_TEST_SHORT_SECRET' is shorter"));
  for (const std::string& warning : warnings) {
    EXPECT_THAT(warning, Not(HasSubstr("Zq7#x")));
    EXPECT_THAT(warning, Not(HasSubstr("Zq8#y")));
  }
  write("secret", "0123456789abcdef\n");  // 16 bytes
  EXPECT_THAT(warnings_of(kInfra), ::testing::IsEmpty());
}

TEST_F(ConfigTest, WarnsAboutTokenAndTlsKeyFilesOthersCanRead) {
  ASSERT_EQ(chmod(write("secret", "0123456789abcdef\n").c_str(), 0600), 0);
  ASSERT_EQ(chmod((dir_ + "/key.pem").c_str(), 0604), 0);
  ASSERT_EQ(chmod(write("token", "ghp_token\n").c_str(), 0666), 0);
  const std::vector<std::string> warnings = warnings_of(
      "receiver:\n  tls: {cert_file: @DIR@/cert.pem, key_file: @DIR@/key.pem}\n" +
      std::string(kInfra) + "    credentials: {token_file: @DIR@/token}\n");
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_THAT(warnings[0], HasSubstr("receiver.tls.key_file: '" + dir_ +
                                     "/key.pem' holds a secret and is open to others (mode 0604)"));
  EXPECT_THAT(warnings[1], StartsWith(config_path_ + ":9:31: repositories[0].credentials.token_file: '" +
                                      dir_ + "/token' holds a secret and is open to others (mode 0666)"));
}

TEST(DurationTest, ParsesUnitsAndCombinations) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("90s"), 90s);
  EXPECT_EQ(parse_duration("10m"), 10min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("2d"), 48h);
  EXPECT_EQ(parse_duration("1m30s500ms"), 90500ms);
  EXPECT_EQ(parse_duration("0s"), 0ms);
}

TEST(DurationTest, RejectsMissingUnitAndGarbage) {
  for (const char* text :
       {"", "90", "1h30", "abc", "-5s", "+5s", "1.5h", "10 s", " 10s", "5x", "h", "1H", "1hh"}) {
    EXPECT_THROW(parse_duration(text), std::invalid_argument) << text;
  }
}

TEST(DurationTest, RejectsOverflow) {
  EXPECT_THROW(parse_duration("99999999999999999999s"), std::invalid_argument);
  EXPECT_THROW(parse_duration("9223372036854775807s"), std::invalid_argument);
  EXPECT_THROW(parse_duration("9223372036854775807ms1ms"), std::invalid_argument);
}

TEST(SizeTest, ParsesPlainBytesAndSuffixes) {
  EXPECT_EQ(parse_size("26214400"), 26214400u);
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("10B"), 10u);
  EXPECT_EQ(parse_size("10KB"), 10'000u);
  EXPECT_EQ(parse_size("10MB"), 10'000'000u);
  EXPECT_EQ(parse_size("1GB"), 1'000'000'000u);
  EXPECT_EQ(parse_size("512KiB"), 512u * 1024);
  EXPECT_EQ(parse_size("25MiB"), 25u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB"), 1024u * 1024 * 1024);
}

TEST(SizeTest, RejectsNegativeOverflowAndGarbage) {
  for (const char* text : {"", "-1", "+1", "abc", "MiB", "10kb", "10 MiB", "1.5MiB", "10TiB",
                           "18446744073709551616", "18446744073709551615KiB"}) {
    EXPECT_THROW(parse_size(text), std::invalid_argument) << text;
  }
}

}  // namespace
}  // namespace gitopsd
