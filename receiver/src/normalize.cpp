#include "gitopsd/receiver/normalize.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace gitopsd::receiver {

namespace {

constexpr std::string_view kBranchPrefix = "refs/heads/";
constexpr std::string_view kTagPrefix = "refs/tags/";
const std::string kZeroCommit(40, '0');

using Type = ScannedValue::Type;

// Typed reads of a payload's scanned fields, remembering the first one that is missing or
// wrong; its path is what a 400 names.
class Fields {
 public:
  explicit Fields(const PayloadScan& scan) : scan_(scan) {}

  std::string str(std::string_view path) {
    const ScannedValue& v = scan_.field(path);
    if (v.type == Type::absent || v.type == Type::null) return fail(path, "missing", std::string());
    if (v.type != Type::string) return fail(path, "is not a string", std::string());
    if (v.truncated) {
      return fail(path, "is longer than " + std::to_string(kMaxScannedValueBytes) + " bytes",
                  std::string());
    }
    return v.value;
  }
  // Informational fields (who pushed) fall back along `paths` and may all be absent.
  std::string first_str(std::initializer_list<std::string_view> paths) const {
    for (const std::string_view p : paths) {
      const ScannedValue& v = scan_.field(p);
      if (v.type == Type::string && !v.value.empty() && !v.truncated) return v.value;
    }
    return {};
  }
  // Absent or null reads as false (GitHub sends `"forced": null` at times).
  bool flag(std::string_view path) {
    const ScannedValue& v = scan_.field(path);
    if (v.type == Type::absent || v.type == Type::null) return false;
    if (v.type != Type::boolean) return fail(path, "is not a boolean", false);
    return v.boolean;
  }
  std::int64_t integer(std::string_view path) {
    const ScannedValue& v = scan_.field(path);
    if (v.type == Type::absent || v.type == Type::null) return fail(path, "missing", std::int64_t{0});
    if (v.type != Type::integer) return fail(path, "is not an integer", std::int64_t{0});
    return v.integer;
  }
  // A commit id: 40 hex digits, returned lowercase.
  std::string commit(std::string_view path) {
    std::string s = str(path);
    if (!ok()) return s;
    if (s.size() != 40 ||
        !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; })) {
      return fail(path, "is not a 40-hex commit id", std::string());
    }
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  }
  bool has(std::string_view path) const {
    const Type type = scan_.field(path).type;
    return type != Type::absent && type != Type::null;
  }
  bool ok() const { return error_.empty(); }
  Malformed malformed() const { return Malformed{error_}; }

 private:
  // Records the problem and returns `fallback`, so callers read on and report the first.
  template <class T>
  T fail(std::string_view path, std::string_view what, T fallback) {
    if (error_.empty()) error_ = "field '" + std::string(path) + "' " + std::string(what);
    return fallback;
  }

  const PayloadScan& scan_;
  std::string error_;
};

Ignored not_tracked(std::string_view branch) {
  return Ignored{"branch " + std::string(branch) + " is not tracked"};
}

Event base_event(Provider provider, const Repository& repository, EventKind kind) {
  Event e;
  e.provider = event_provider(provider);
  e.repository = repository.name;
  e.branch = repository.branch;
  e.kind = kind;
  return e;
}

// Where a provider keeps the fields every event carries.
struct Layout {
  std::string_view full_name;
  std::string_view clone_url;
};
constexpr Layout kGithubLayout{"repository.full_name", "repository.clone_url"};
constexpr Layout kGitlabLayout{"project.path_with_namespace", "project.git_http_url"};

Normalized finish(Fields& f, Event e, const Layout& layout) {
  e.full_name = f.str(layout.full_name);
  e.clone_url = f.str(layout.clone_url);
  if (!f.ok()) return f.malformed();
  return e;
}

// GitHub `push`, Gitea `push`, GitLab `Push Hook`: same shape, different sender fields.
Normalized normalize_push(Fields& f, Provider provider, const Repository& repository,
                          const Layout& layout, std::initializer_list<std::string_view> sender) {
  const std::string ref = f.str("ref");
  if (!f.ok()) return f.malformed();
  if (ref.starts_with(kTagPrefix)) return Ignored{"tag"};
  if (!ref.starts_with(kBranchPrefix)) return Ignored{"ref " + ref + " is not a branch"};
  const std::string_view branch = std::string_view(ref).substr(kBranchPrefix.size());
  if (branch != repository.branch) return not_tracked(branch);
  // GitLab and Gitea say "deleted" only through an all-zero `after`.
  if (f.flag("deleted") || f.first_str({"after"}) == kZeroCommit) {
    return Ignored{"branch deletion"};
  }

  Event e = base_event(provider, repository, EventKind::push);
  e.before = f.commit("before");
  e.after = f.commit("after");
  e.forced = f.flag("forced");
  e.sender = f.first_str(sender);
  return finish(f, std::move(e), layout);
}

// GitHub and Gitea `pull_request`: only a merged close into the tracked branch applies.
Normalized normalize_pull_request(Fields& f, Provider provider, const Repository& repository) {
  const std::string action = f.str("action");
  if (!f.ok()) return f.malformed();
  if (action != "closed") return Ignored{"pull request action " + action + " is not a merge"};
  if (!f.flag("pull_request.merged")) {
    return f.ok() ? Normalized{Ignored{"pull request closed without merge"}} : f.malformed();
  }
  const std::string base = f.str("pull_request.base.ref");
  if (!f.ok()) return f.malformed();
  if (base != repository.branch) return not_tracked(base);

  Event e = base_event(provider, repository, EventKind::merge);
  e.after = f.commit("pull_request.merge_commit_sha");
  e.before = f.commit("pull_request.base.sha");
  e.sender = f.first_str({"pull_request.merged_by.login", "sender.login"});
  MergeRequest mr;
  mr.number = f.integer("pull_request.number");
  mr.title = f.str("pull_request.title");
  mr.url = f.str("pull_request.html_url");
  mr.author = f.first_str({"pull_request.user.login"});
  e.merge_request = std::move(mr);
  return finish(f, std::move(e), kGithubLayout);
}

Normalized normalize_gitlab_merge(Fields& f, const Repository& repository) {
  const std::string action = f.str("object_attributes.action");
  if (!f.ok()) return f.malformed();
  if (action != "merge") return Ignored{"merge request action " + action + " is not a merge"};
  const std::string target = f.str("object_attributes.target_branch");
  if (!f.ok()) return f.malformed();
  if (target != repository.branch) return not_tracked(target);

  Event e = base_event(Provider::gitlab, repository, EventKind::merge);
  // A fast-forward merge creates no merge commit (merge_commit_sha is null); the target
  // then points at the squash commit, or at the source branch's last commit.
  // Any of them is safe: workers only accept a commit reachable from the fetched tip.
  std::string_view after_path = "object_attributes.merge_commit_sha";
  for (const std::string_view p :
       {"object_attributes.merge_commit_sha", "object_attributes.squash_commit_sha",
        "object_attributes.last_commit.id"}) {
    if (f.has(p)) {
      after_path = p;
      break;
    }
  }
  e.after = f.commit(after_path);  // none present: 400 naming merge_commit_sha
  // The hook does not carry the target branch's previous tip (`oldrev` is the source
  // branch's), so `before` is all zeros: unknown. Workers diff against what they applied.
  e.before = kZeroCommit;
  e.sender = f.first_str({"user.username"});
  MergeRequest mr;
  mr.number = f.integer("object_attributes.iid");
  mr.title = f.str("object_attributes.title");
  mr.url = f.str("object_attributes.url");
  mr.author = e.sender;  // the hook names only the acting user by login
  e.merge_request = std::move(mr);
  return finish(f, std::move(e), kGitlabLayout);
}

Ignored not_applied(std::string_view event_type) {
  return Ignored{"event " + std::string(event_type) + " is not applied"};
}

// The fields each payload kind is read from: what the scan keeps. Every path the functions
// above read must be here; PayloadScan::field() throws on one that is not.
constexpr std::string_view kPushFields[] = {
    "ref", "deleted", "after", "before", "forced", "sender.login", "pusher.login",
    "pusher.username", "pusher.name", "repository.full_name", "repository.clone_url"};
constexpr std::string_view kPullRequestFields[] = {
    "action", "pull_request.merged", "pull_request.base.ref", "pull_request.merge_commit_sha",
    "pull_request.base.sha", "pull_request.merged_by.login", "sender.login",
    "pull_request.number", "pull_request.title", "pull_request.html_url",
    "pull_request.user.login", "repository.full_name", "repository.clone_url"};
constexpr std::string_view kGitlabPushFields[] = {
    "ref", "deleted", "after", "before", "forced", "user_username",
    "project.path_with_namespace", "project.git_http_url"};
constexpr std::string_view kGitlabMergeFields[] = {
    "object_attributes.action", "object_attributes.target_branch",
    "object_attributes.merge_commit_sha", "object_attributes.squash_commit_sha",
    "object_attributes.last_commit.id", "user.username", "object_attributes.iid",
    "object_attributes.title", "object_attributes.url", "project.path_with_namespace",
    "project.git_http_url"};

}  // namespace

std::span<const std::string_view> normalize_fields(Provider provider, std::string_view event_type) {
  if (provider == Provider::gitlab) {
    if (event_type == "Push Hook") return kGitlabPushFields;
    if (event_type == "Merge Request Hook") return kGitlabMergeFields;
    return {};
  }
  if (event_type == "push") return kPushFields;
  if (event_type == "pull_request") return kPullRequestFields;
  return {};
}

Normalized normalize(Provider provider, std::string_view event_type, const PayloadScan& payload,
                     const Repository& repository) {
  Fields f(payload);
  if (provider == Provider::gitlab) {
    if (event_type == "Push Hook") {
      return normalize_push(f, provider, repository, kGitlabLayout, {"user_username"});
    }
    if (event_type == "Merge Request Hook") return normalize_gitlab_merge(f, repository);
    if (event_type == "Tag Push Hook") return Ignored{"tag"};
    return not_applied(event_type);
  }
  // GitHub and Gitea/Forgejo share event names and payload shapes.
  if (event_type == "push") {
    return normalize_push(f, provider, repository, kGithubLayout,
                          {"sender.login", "pusher.login", "pusher.username", "pusher.name"});
  }
  if (event_type == "pull_request") return normalize_pull_request(f, provider, repository);
  if (event_type == "ping") return Ignored{"ping"};
  return not_applied(event_type);
}

}  // namespace gitopsd::receiver
