#!/usr/bin/env python3
"""Generate a realistic ~7 KB GitHub `push` webhook payload and its signature.

    gen_payload.py --out PAYLOAD.json --secret-file SECRET [--sig-out SIG] [--seed N]

Writes the raw body (compact JSON, as GitHub sends it) to --out and prints
`sha256=<hex HMAC-SHA256(secret, body)>` on stdout (and to --sig-out if given).
The secret file is read whole with one trailing newline removed, like the
receiver does. The payload is deterministic for a given seed.
"""
import argparse
import hashlib
import hmac
import json
import random
import sys

OWNER = "acme"
REPO = "infra"
FULL = f"{OWNER}/{REPO}"
API = f"https://api.github.com/repos/{FULL}"
HTML = f"https://github.com/{FULL}"


def sha(rng):
    return "%040x" % rng.getrandbits(160)


def user(login, uid, kind="User"):
    api = f"https://api.github.com/users/{login}"
    return {
        "name": login, "email": None, "login": login, "id": uid,
        "node_id": "MDQ6VXNlcj%07d" % uid,
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "", "url": api, "html_url": f"https://github.com/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": kind, "user_view_type": "public", "site_admin": False,
    }


def repository(pushed_at):
    owner = user(OWNER, 81273645, "Organization")
    del owner["name"], owner["email"]
    return {
        "id": 634958210, "node_id": "R_kgDOJdiWgg", "name": REPO,
        "full_name": FULL, "private": True, "owner": owner,
        "html_url": HTML, "description": "Declared state of acme's production infrastructure",
        "fork": False, "url": HTML,
        "forks_url": f"{API}/forks", "keys_url": f"{API}/keys{{/key_id}}",
        "hooks_url": f"{API}/hooks", "tags_url": f"{API}/tags",
        "branches_url": f"{API}/branches{{/branch}}",
        "commits_url": f"{API}/commits{{/sha}}",
        "compare_url": f"{API}/compare/{{base}}...{{head}}",
        "contents_url": f"{API}/contents/{{+path}}",
        "pulls_url": f"{API}/pulls{{/number}}",
        "issues_url": f"{API}/issues{{/number}}",
        "created_at": 1683021345, "updated_at": "2026-11-20T09:14:51Z",
        "pushed_at": pushed_at,
        "git_url": f"git://github.com/{FULL}.git",
        "ssh_url": f"git@github.com:{FULL}.git",
        "clone_url": f"{HTML}.git", "svn_url": HTML, "homepage": None,
        "size": 2871, "stargazers_count": 0, "watchers_count": 0,
        "language": "HCL", "has_issues": True, "has_projects": False,
        "has_downloads": True, "has_wiki": False, "has_pages": False,
        "has_discussions": False, "forks_count": 0, "mirror_url": None,
        "archived": False, "disabled": False, "open_issues_count": 3,
        "license": None, "allow_forking": False, "is_template": False,
        "web_commit_signoff_required": False, "topics": ["gitops", "infrastructure"],
        "visibility": "private", "forks": 0, "open_issues": 3, "watchers": 0,
        "default_branch": "main", "stargazers": 0, "master_branch": "main",
        "organization": OWNER, "custom_properties": {},
    }


COMMITS = [
    ("web: raise nginx worker_connections to 4096",
     [], ["envs/prod/web/nginx.conf", "envs/prod/web/upstreams.conf"], []),
    ("cluster: add PodDisruptionBudget for api",
     ["k8s/prod/api/pdb.yaml"], ["k8s/prod/api/kustomization.yaml"], []),
    ("web: new TLS chain for www.acme.example",
     ["envs/prod/web/tls/www.acme.example.chain.pem"],
     ["envs/prod/web/sites/www.acme.example.conf"],
     ["envs/prod/web/tls/www.acme.example.old.pem"]),
    ("Merge pull request #412 from acme/ops/rotate-db-replica\n\nRotate db replica to new node pool",
     [], ["k8s/prod/db/statefulset.yaml", "k8s/prod/db/values.yaml", "terraform/prod/nodepools.tf"], []),
]


def build(seed):
    rng = random.Random(seed)
    before = sha(rng)
    authors = [("Jane Doe", "jdoe"), ("Ravi Patel", "rpatel"), ("Mona Lisa Octocat", "octocat")]
    commits = []
    for i, (msg, added, modified, removed) in enumerate(COMMITS):
        cid = sha(rng)
        name, login = authors[i % len(authors)]
        person = {"name": name, "email": f"{login}@acme.example", "username": login}
        commits.append({
            "id": cid, "tree_id": sha(rng), "distinct": True, "message": msg,
            "timestamp": "2026-11-23T13:%02d:%02d+01:00" % (40 + 3 * i, rng.randrange(60)),
            "url": f"{HTML}/commit/{cid}",
            "author": person,
            "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"}
            if msg.startswith("Merge pull request") else person,
            "added": added, "removed": removed, "modified": modified,
        })
    after = commits[-1]["id"]
    pusher_name, pusher_login = authors[2]
    body = {
        "ref": "refs/heads/main", "before": before, "after": after,
        "repository": repository(1795956401),
        "pusher": {"name": pusher_login, "email": f"{pusher_login}@acme.example"},
        "sender": user(pusher_login, 583231),
        "created": False, "deleted": False, "forced": False, "base_ref": None,
        "compare": f"{HTML}/compare/{before[:12]}...{after[:12]}",
        "commits": commits, "head_commit": commits[-1],
    }
    del body["sender"]["name"], body["sender"]["email"]
    return json.dumps(body, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--secret-file", required=True)
    ap.add_argument("--sig-out")
    ap.add_argument("--seed", type=int, default=20261123)
    a = ap.parse_args()
    with open(a.secret_file, "rb") as f:
        secret = f.read()
    if secret.endswith(b"\n"):
        secret = secret[:-1]
    body = build(a.seed)
    with open(a.out, "wb") as f:
        f.write(body)
    sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    if a.sig_out:
        with open(a.sig_out, "w") as f:
            f.write(sig + "\n")
    print(sig)
    print(f"gen_payload: {len(body)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
