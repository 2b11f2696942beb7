#include "gitopsd/worker/mirror.hpp"

#include <git2.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>

#include "fetch_callbacks.hpp"
#include "fetch_timeouts.hpp"
#include "git_url.hpp"
#include "libgit2_support.hpp"
#include "repository_lock.hpp"
#include "trusted_cas.hpp"
#include "tree_diff.hpp"

namespace gitopsd::worker {
namespace {

std::optional<std::string> read_token(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!token.empty() && token.back() == '\n') token.pop_back();
  if (!token.empty() && token.back() == '\r') token.pop_back();
  return token;
}

}  // namespace

void init_libgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Bounds that hold whatever the number of repositories: the object cache (256 MiB by
    // default, shared by every open repository), the pack windows mapped at once (8 GiB by
    // default on 64-bit) and the pack files kept open. Mirrors are open only during their
    // batch (Mirror::release), so these only matter for large repositories fetched at once.
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, static_cast<ssize_t>(64) << 20);
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, static_cast<size_t>(256) << 20);
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, static_cast<size_t>(128));
    // Only a mirror's own config counts: no system, global or XDG gitconfig of whoever runs
    // the worker changes what it fetches (and opening a mirror looks for none of them).
    for (const auto level : {GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL,
                             GIT_CONFIG_LEVEL_PROGRAMDATA})
      git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, "");
    load_trusted_cas();
    install_fetch_timeouts();
  });
}

struct Mirror::Impl {
  Repository repository;
  std::string directory;
  // Open only while the reconciler uses it (see release()); opened again on demand.
  mutable RepoPtr repo{nullptr};
  std::optional<std::string> tip;

  // The repository handle, opened if released; null when it cannot be (`error` says why).
  git_repository* handle(std::string* error = nullptr) const {
    if (!repo) {
      git_repository* raw = nullptr;
      if (git_repository_open_bare(&raw, directory.c_str()) != 0) {
        if (error) *error = "cannot open mirror " + directory + ": " + last_error_text();
        return nullptr;
      }
      repo.reset(raw);
    }
    return repo.get();
  }

  TreePtr subtree(const std::string& commit, const std::string& path, std::string* error) const {
    auto oid = parse_oid(commit);
    if (!oid) {
      if (error) *error = "not a commit id: " + commit;
      return TreePtr(nullptr);
    }
    git_repository* r = handle(error);
    if (r == nullptr) return TreePtr(nullptr);
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, r, &*oid) != 0) {
      if (error) *error = "commit " + commit + " not in mirror: " + last_error_text();
      return TreePtr(nullptr);
    }
    CommitPtr c(raw_commit);
    git_tree* raw_tree = nullptr;
    if (git_commit_tree(&raw_tree, c.get()) != 0) {
      if (error) *error = "tree of " + commit + ": " + last_error_text();
      return TreePtr(nullptr);
    }
    TreePtr root(raw_tree);
    std::string rel = path;
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    while (rel.rfind("./", 0) == 0) rel.erase(0, 2);
    if (rel.empty() || rel == ".") return root;
    git_tree_entry* raw_entry = nullptr;
    if (git_tree_entry_bypath(&raw_entry, root.get(), rel.c_str()) != 0) {
      if (error) *error = "path " + path + " not in " + commit;
      return TreePtr(nullptr);
    }
    TreeEntryPtr entry(raw_entry);
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) {
      if (error) *error = "path " + path + " in " + commit + " is not a directory";
      return TreePtr(nullptr);
    }
    git_tree* raw_sub = nullptr;
    if (git_tree_lookup(&raw_sub, r, git_tree_entry_id(entry.get())) != 0) {
      if (error) *error = "tree " + path + ": " + last_error_text();
      return TreePtr(nullptr);
    }
    return TreePtr(raw_sub);
  }
};

Mirror::Mirror(const Repository& repository, const std::string& state_dir)
    : impl_(std::make_unique<Impl>()) {
  init_libgit2();
  impl_->repository = repository;
  impl_->directory =
      (std::filesystem::path(state_dir) / "mirrors" / (repository.name + ".git")).string();
  std::error_code ec;
  std::filesystem::create_directories(impl_->directory, ec);
  if (ec)
    throw std::runtime_error("cannot create mirror " + impl_->directory + ": " + ec.message());
  // Workers sharing state_dir may set up the same mirror at the same moment: git's
  // config.lock would fail all but one.
  const auto setup_lock =
      RepositoryLock::acquire(state_dir, repository.name, RepositoryLock::Scope::mirror_setup);
  git_repository* raw = nullptr;
  int rc = git_repository_open_bare(&raw, impl_->directory.c_str());
  if (rc != 0) rc = git_repository_init(&raw, impl_->directory.c_str(), 1);
  if (rc != 0)
    throw std::runtime_error("cannot open mirror " + impl_->directory + ": " + last_error_text());
  impl_->repo.reset(raw);
  git_oid oid;
  const std::string ref = "refs/heads/" + repository.branch;
  if (git_reference_name_to_id(&oid, raw, ref.c_str()) == 0) impl_->tip = oid_hex(oid);
  release();
}

Mirror::~Mirror() = default;

void Mirror::release() { impl_->repo.reset(); }

std::variant<std::string, GitError> Mirror::fetch(std::chrono::milliseconds timeout) {
  const Repository& repository = impl_->repository;
  FetchTimeoutScope fetch_timeout(timeout);
  FetchContext ctx;
  ctx.repository = &repository;
  ctx.url = parse_git_url(repository.url);
  ctx.timeout = timeout;
  ctx.progressed();
  const std::string url = redact_url(repository.url);
  if (repository.credentials.token_file) {
    auto token = read_token(*repository.credentials.token_file);
    if (!token) {
      return GitError{
          "fetch " + url + ": cannot read token_file " + *repository.credentials.token_file, false};
    }
    ctx.token = std::move(*token);
  }
  if (is_ssh_scheme(ctx.url.scheme) && !repository.credentials.known_hosts) {
    return GitError{"fetch " + url + ": no known_hosts configured for ssh host " + ctx.url.host,
                    false};
  }

  std::string open_error;
  git_repository* repo = impl_->handle(&open_error);
  if (repo == nullptr) return GitError{"fetch " + url + ": " + open_error, true};
  // An anonymous remote on the configured URL, made for this fetch: a named one is read from
  // the mirror's config and url.*.insteadOf applied, both through libgit2's config regex,
  // whose PCRE2 match data libgit2 1.5 never frees (about 120 KiB per call: 0.5 MB per
  // repository and resync, measured). The URL is the config's, rewritten by nothing.
  git_remote_create_options remote_options;
  git_remote_create_options_init(&remote_options, GIT_REMOTE_CREATE_OPTIONS_VERSION);
  remote_options.repository = repo;
  remote_options.flags =
      GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
  git_remote* raw_remote = nullptr;
  if (git_remote_create_with_opts(&raw_remote, repository.url.c_str(), &remote_options) != 0)
    return GitError{"fetch " + url + ": " + last_error_text(), false};
  RemotePtr remote(raw_remote);

  git_remote_callbacks callbacks = fetch_callbacks(ctx);
  git_proxy_options proxy;
  git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);

  git_error_clear();
  int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, &proxy, nullptr);
  if (rc != 0) return classify_fetch_error(rc, ctx, "connect");
  ctx.progressed();

  // The tip is what the host advertises now; the download then brings exactly that commit.
  const std::string ref = "refs/heads/" + repository.branch;
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  if ((rc = git_remote_ls(&heads, &count, remote.get())) != 0) return classify_fetch_error(rc, ctx, "list");
  std::optional<git_oid> advertised;
  for (size_t i = 0; i < count; ++i) {
    if (ref == heads[i]->name) advertised = heads[i]->oid;
  }
  if (!advertised) {
    git_remote_disconnect(remote.get());
    return GitError{"fetch " + url + ": branch " + repository.branch + " not found", false};
  }
  git_oid local;
  if (git_reference_name_to_id(&local, repo, ref.c_str()) == 0 &&
      git_oid_equal(&local, &*advertised) != 0) {
    // The mirror has the tip already (the usual resync): no pack to negotiate, and the host
    // served one ref listing.
    git_remote_disconnect(remote.get());
    impl_->tip = oid_hex(*advertised);
    return *impl_->tip;
  }

  git_fetch_options opts;
  git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
  opts.callbacks = callbacks;
  opts.prune = GIT_FETCH_NO_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  opts.update_fetchhead = 0;
  std::string refspec = "+" + ref + ":" + ref;
  char* refspec_ptr = refspec.data();
  git_strarray refspecs{&refspec_ptr, 1};
  if ((rc = git_remote_download(remote.get(), &refspecs, &opts)) != 0)
    return classify_fetch_error(rc, ctx, "fetch");
  git_remote_disconnect(remote.get());

  {
    // The branch moves to the advertised tip, now in the mirror (libgit2 checks the object
    // exists before it writes the ref).
    git_reference* raw_ref = nullptr;
    if (git_reference_create(&raw_ref, repo, ref.c_str(), &*advertised, 1,
                             "gitopsd fetch") != 0)
      return GitError{"fetch " + url + ": cannot update " + ref + ": " + last_error_text(), true};
    ReferencePtr created(raw_ref);
  }
  impl_->tip = oid_hex(*advertised);
  return *impl_->tip;
}

std::optional<std::string> Mirror::tip() const { return impl_->tip; }

bool Mirror::is_ancestor_or_same(const std::string& commit, const std::string& descendant) const {
  auto a = parse_oid(commit);
  auto d = parse_oid(descendant);
  if (!a || !d) return false;
  git_repository* repo = impl_->handle();
  if (repo == nullptr) return false;
  git_commit* raw = nullptr;
  if (git_commit_lookup(&raw, repo, &*a) != 0) return false;
  CommitPtr ca(raw);
  if (git_commit_lookup(&raw, repo, &*d) != 0) return false;
  CommitPtr cd(raw);
  if (git_oid_equal(&*a, &*d) != 0) return true;
  return git_graph_descendant_of(repo, &*d, &*a) == 1;
}

std::optional<std::string> Mirror::subtree_id(const std::string& commit,
                                              const std::string& path) const {
  auto tree = impl_->subtree(commit, path, nullptr);
  if (!tree) return std::nullopt;
  return oid_hex(*git_tree_id(tree.get()));
}

std::variant<std::vector<TreeFile>, GitError> Mirror::list_files(const std::string& commit,
                                                                 const std::string& path) const {
  std::string error;
  auto tree = impl_->subtree(commit, path, &error);
  if (!tree) return GitError{error, false};
  std::vector<TreeFile> files;
  auto walker = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
    auto* out = static_cast<std::vector<TreeFile>*>(payload);
    FileKind kind;
    switch (git_tree_entry_filemode(entry)) {
      case GIT_FILEMODE_BLOB:
        kind = FileKind::regular;
        break;
      case GIT_FILEMODE_BLOB_EXECUTABLE:
        kind = FileKind::executable;
        break;
      case GIT_FILEMODE_LINK:
        kind = FileKind::symlink;
        break;
      default:
        return 0;  // trees are descended; submodules (commits) are skipped
    }
    out->push_back(TreeFile{std::string(root) + git_tree_entry_name(entry), kind,
                            oid_hex(*git_tree_entry_id(entry))});
    return 0;
  };
  if (git_tree_walk(tree.get(), GIT_TREEWALK_PRE, walker, &files) != 0)
    return GitError{"walk " + path + " at " + commit + ": " + last_error_text(), false};
  std::sort(files.begin(), files.end(),
            [](const TreeFile& a, const TreeFile& b) { return a.path < b.path; });
  return files;
}

std::variant<std::vector<std::string>, GitError> Mirror::changed_paths(
    const std::string& old_tree, const std::string& new_tree) const {
  std::string error;
  git_repository* repo = impl_->handle(&error);
  if (repo == nullptr) return GitError{error, true};
  auto lookup = [repo](const std::string& id, std::string& why) {
    auto oid = parse_oid(id);
    git_tree* raw = nullptr;
    if (!oid || git_tree_lookup(&raw, repo, &*oid) != 0) {
      why = "tree " + id + " not in mirror";
      return TreePtr(nullptr);
    }
    return TreePtr(raw);
  };
  auto a = lookup(old_tree, error);
  auto b = a ? lookup(new_tree, error) : TreePtr(nullptr);
  if (!a || !b) return GitError{error, false};
  std::vector<std::string> paths;
  if (!diff_trees(repo, a.get(), b.get(), "", paths))
    return GitError{"compare trees " + old_tree + " and " + new_tree + ": " + last_error_text(),
                    false};
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

std::variant<std::uint64_t, GitError> Mirror::blob_size(const std::string& blob_id) const {
  auto oid = parse_oid(blob_id);
  if (!oid) return GitError{"not a blob id: " + blob_id, false};
  std::string error;
  git_repository* repo = impl_->handle(&error);
  if (repo == nullptr) return GitError{error, true};
  git_odb* raw_odb = nullptr;
  if (git_repository_odb(&raw_odb, repo) != 0)
    return GitError{"object database: " + last_error_text(), false};
  OdbPtr odb(raw_odb);
  std::size_t size = 0;
  git_object_t type = GIT_OBJECT_INVALID;
  if (git_odb_read_header(&size, &type, odb.get(), &*oid) != 0)
    return GitError{"blob " + blob_id + ": " + last_error_text(), false};
  if (type != GIT_OBJECT_BLOB) return GitError{"not a blob: " + blob_id, false};
  return static_cast<std::uint64_t>(size);
}

std::variant<BlobData, GitError> Mirror::read_blob(const std::string& blob_id) const {
  auto oid = parse_oid(blob_id);
  if (!oid) return GitError{"not a blob id: " + blob_id, false};
  std::string error;
  git_repository* repo = impl_->handle(&error);
  if (repo == nullptr) return GitError{error, true};
  git_blob* raw = nullptr;
  if (git_blob_lookup(&raw, repo, &*oid) != 0)
    return GitError{"blob " + blob_id + ": " + last_error_text(), false};
  std::shared_ptr<const git_blob> blob(raw, [](const git_blob* b) {
    git_blob_free(const_cast<git_blob*>(b));
  });
  const auto* data = static_cast<const char*>(git_blob_rawcontent(blob.get()));
  return BlobData{std::string_view(data, static_cast<std::size_t>(git_blob_rawsize(blob.get()))),
                  std::move(blob)};
}

const std::string& Mirror::directory() const { return impl_->directory; }

}  // namespace gitopsd::worker
