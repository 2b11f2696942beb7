// The example configurations under deploy/examples/ are loaded by the real config loader, so
// an example that no longer matches the loader fails here instead of on an operator's host.
// Their secrets and credentials live under /etc/gitopsd/; the test points that prefix at a
// temporary directory holding a placeholder for every file the example names (for a .pem
// file, a certificate and its key, since the loader parses TLS files).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "gitopsd/config.hpp"
#include "self_signed.hpp"

namespace gitopsd {
namespace {

namespace fs = std::filesystem;

const std::string kExamples = GITOPSD_SOURCE_DIR "/deploy/examples";

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "gitopsd-examples-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    etc_ = pattern;
    setenv("GITOPSD_TOOLS_SECRET", "placeholder", 1);
  }
  void TearDown() override {
    fs::remove_all(etc_);
    unsetenv("GITOPSD_TOOLS_SECRET");
  }

  // Loads deploy/examples/NAME with /etc/gitopsd/ moved to the temporary directory.
  Config load(const std::string& name) {
    std::string text = read_text(kExamples + "/" + name);
    EXPECT_FALSE(text.empty()) << name;
    static const std::regex kEtcPath(R"(/etc/gitopsd/([A-Za-z0-9_./-]+))");
    for (std::sregex_iterator it(text.begin(), text.end(), kEtcPath), end; it != end; ++it) {
      fs::path file = fs::path(etc_) / (*it)[1].str();
      fs::create_directories(file.parent_path());
      std::ofstream(file) << (file.extension() == ".pem" ? tls_.certificate + tls_.private_key
                                                         : "placeholder\n");
    }
    text = std::regex_replace(text, std::regex("/etc/gitopsd/"), etc_ + "/");
    return parse_config(text, name, BrokerUse::cluster);
  }

  std::string etc_;
  const SelfSigned tls_ = make_self_signed();
};

TEST_F(ExamplesTest, EveryExampleLoads) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(kExamples)) {
    if (entry.path().extension() == ".yaml" && entry.path().filename() != "dev.yaml") {
      names.insert(entry.path().filename().string());
    }
  }
  // The set the README promises: one per provider, one per kind of exec target.
  EXPECT_EQ(names, (std::set<std::string>{"ansible.yaml", "gitea.yaml", "github.yaml",
                                          "gitlab.yaml", "kubectl.yaml", "script.yaml",
                                          "terraform.yaml"}));
  for (const auto& name : names) {
    try {
      Config config = load(name);
      EXPECT_FALSE(config.repositories.empty()) << name;
      for (const auto& repository : config.repositories) {
        EXPECT_FALSE(repository.targets.empty()) << name << ": " << repository.name;
      }
    } catch (const ConfigError& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

// The commented config the .deb installs as /etc/gitopsd/gitopsd.yaml.
TEST_F(ExamplesTest, PackagedConfigLoads) {
  setenv("GITOPSD_EXAMPLE_SECRET", "placeholder", 1);
  try {
    Config config = load_config(GITOPSD_SOURCE_DIR "/deploy/debian/gitopsd.yaml", BrokerUse::cluster);
    EXPECT_FALSE(config.repositories.empty());
  } catch (const ConfigError& e) {
    ADD_FAILURE() << e.what();
  }
  unsetenv("GITOPSD_EXAMPLE_SECRET");
}

TEST_F(ExamplesTest, ProvidersAreTheOnesTheirFilesAreNamedAfter) {
  EXPECT_EQ(load("github.yaml").repositories.at(0).provider, Provider::github);
  EXPECT_EQ(load("gitlab.yaml").repositories.at(0).provider, Provider::gitlab);
  EXPECT_EQ(load("gitea.yaml").repositories.at(0).provider, Provider::gitea);
  EXPECT_EQ(load("gitea.yaml").repositories.at(0).secrets.size(), 2u) << "shows a rotation";
  // Each shows where its host's commit-status API is (README: Commit statuses and notifications).
  EXPECT_EQ(load("github.yaml").repositories.at(0).api->url, "https://api.github.com");
  EXPECT_EQ(load("gitlab.yaml").repositories.at(0).api->url, "https://gitlab.example.com/api/v4");
  EXPECT_EQ(load("gitea.yaml").repositories.at(0).api->url, "https://git.example.com/api/v1");
}

// What makes each exec example right: the diff command's exit code that means drift.
TEST_F(ExamplesTest, ExecExamplesReadTheirToolsDriftExitCode) {
  auto exec_of = [&](const std::string& name) {
    return std::get<ExecApply>(load(name).repositories.at(0).targets.at(0).apply);
  };
  auto kubectl = exec_of("kubectl.yaml");
  EXPECT_THAT(kubectl.command, ::testing::IsSupersetOf({"apply", "--server-side"}));
  EXPECT_THAT(kubectl.diff, ::testing::Contains("diff"));
  EXPECT_EQ(kubectl.drift_exit_codes, std::vector<int>{1});  // kubectl diff: 1 = differences

  auto tofu = exec_of("terraform.yaml");
  EXPECT_EQ(tofu.diff, std::vector<std::string>{"/usr/lib/gitopsd/tofu-plan"});
  EXPECT_EQ(tofu.drift_exit_codes, std::vector<int>{2});  // plan -detailed-exitcode: 2 = changes

  auto ansible = exec_of("ansible.yaml");
  EXPECT_EQ(ansible.diff.at(0), "/usr/lib/gitopsd/ansible-check");
  EXPECT_EQ(ansible.drift_exit_codes, std::vector<int>{1});
  // The wrappers the examples name are the ones in deploy/examples/bin.
  for (const char* wrapper : {"tofu-apply", "tofu-plan", "ansible-check"}) {
    auto perms = fs::status(kExamples + "/bin/" + wrapper).permissions();
    EXPECT_NE(perms & fs::perms::owner_exec, fs::perms::none) << wrapper;
  }
}

}  // namespace
}  // namespace gitopsd
