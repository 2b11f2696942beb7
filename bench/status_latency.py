#!/usr/bin/env python3
"""Status latency of gitopsd-notifier against a real Gitea (a benchmark, not a test).

Starts a real Kafka broker (deploy/kafka/broker.sh), a real Gitea (deploy/gitea/gitea.sh) with
one repository holding a commit per change, and gitopsd-notifier with `repositories[].api` on
that Gitea (one target, `web`). Then, for N changes, it publishes a gitopsd.result.v1
(`applied`) for the change's commit on gitopsd.results and measures from the record's Kafka
timestamp (CreateTime: when it was published) to the `success` status of context
`gitopsd/web` being visible in Gitea's API (GET /repos/{owner}/{repo}/commits/{sha}/statuses,
polled every --poll-ms):
  1. one at a time: the next result is published once the last status is visible;
  2. burst: all N results published at once (statuses of one repository are set in order,
     one at a time, so the last one waits for all the others);
  3. baseline, same Gitea, same repository: a direct POST of the status plus GETs until it is
     visible, what the host itself costs. The figures are also given as ratios to it.
Usage: bench/status_latency.py [--changes N] [--build DIR] [--poll-ms MS] [--keep]
"""
import argparse, http.client, json, os, shutil, subprocess, tempfile, time

import apply_latency as al
import notify_common as nc

OWNER, NAME, TARGET = "gitopsd", "site", "web"


class Gitea:
    """The API of the Gitea in `dir`, on one kept-alive connection (the poller's)."""

    def __init__(self, base_url, token):
        self.base_url, self.token = base_url, token
        self.port = int(base_url.rsplit(":", 1)[1])
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def call(self, method, path, body=None, conn=None):
        conn = conn or self.conn
        conn.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None,
                     headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        answer = conn.getresponse()
        data = answer.read()
        if answer.status >= 300:
            raise SystemExit(f"Gitea: {method} {path}: {answer.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def visible(self, sha, state="success"):
        """Whether the commit shows `state` for context gitopsd/web."""
        statuses = self.call("GET", f"/repos/{OWNER}/{NAME}/commits/{sha}/statuses")
        return any(s.get("context") == f"gitopsd/{TARGET}" and s.get("status") == state for s in statuses)

    def wait_visible(self, sha, poll, timeout=60):
        """Polls until the status is visible; the time (time.time()) it was first seen."""
        end = time.time() + timeout
        while time.time() < end:
            if self.visible(sha):
                return time.time()
            time.sleep(poll)
        raise SystemExit(f"no success status on {sha} within {timeout} s")


def make_commits(tmp, push_url, count):
    """A repository with `count` commits pushed to Gitea in one push; their shas, oldest first."""
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    al.run("git", "init", "-q", "-b", "main", cwd=work)
    for n in range(count):
        with open(os.path.join(work, "change.txt"), "w") as f:
            f.write(f"change {n}\n")
        al.git(work, "add", "-A")
        al.git(work, "commit", "-qm", f"change {n}")
    al.git(work, "push", "-q", push_url, "HEAD:refs/heads/main")
    return subprocess.check_output(["git", "rev-list", "--reverse", "HEAD"], cwd=work, text=True).split()


def summary(name, values, baseline_p50=None):
    p50, p99 = al.percentile(values, 50), al.percentile(values, 99)
    line = f"  {name:<34} p50 {nc.ms(p50)}  p99 {nc.ms(p99)}  max {nc.ms(max(values))}"
    if baseline_p50:
        line += f"  (p50 {p50 / baseline_p50:.1f}x, p99 {p99 / baseline_p50:.1f}x the direct API p50)"
    print(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--build", default=os.path.join(al.ROOT, "build"))
    ap.add_argument("--poll-ms", type=float, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, config)")
    args = ap.parse_args()
    n, poll = args.changes, args.poll_ms / 1000
    tmp = tempfile.mkdtemp(prefix="gitopsd-status-bench-")
    gitea_dir = os.path.join(tmp, "gitea")
    procs = []
    try:
        bootstrap = nc.start_broker(tmp)
        base_url = subprocess.check_output([os.path.join(al.ROOT, "deploy/gitea/gitea.sh"), "start", "--dir",
                                            gitea_dir, "--port", "0"], text=True).strip()
        with open(os.path.join(gitea_dir, "token")) as f:
            token = f.read().strip()
        gitea = Gitea(base_url, token)
        gitea.call("POST", "/user/repos", {"name": NAME, "auto_init": False, "default_branch": "main"})
        port = base_url.rsplit(":", 1)[1]
        # Warm-up, one at a time, burst, baseline: each change its own commit.
        shas = make_commits(tmp, f"http://{OWNER}:{token}@127.0.0.1:{port}/{OWNER}/{NAME}.git", 1 + 3 * n)
        print(f"broker {bootstrap}; Gitea {base_url}; {len(shas)} commits pushed", flush=True)

        for name, text in (("token", token), ("secret", "bench-webhook-secret-0123456789")):
            with open(os.open(os.path.join(tmp, name), os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(text + "\n")
        admin = al.free_port()
        config = os.path.join(tmp, "gitopsd.yaml")
        with open(config, "w") as f:
            f.write(nc.kafka_yaml(bootstrap) + f"""notify:
  admin_listen: "127.0.0.1:{admin}"
repositories:
  - name: {NAME}
    provider: gitea
    match: {OWNER}/{NAME}
    url: {base_url}/{OWNER}/{NAME}.git
    secrets: [{{file: {tmp}/secret}}]
    api: {{url: "{base_url}/api/v1", token_file: {tmp}/token}}
    targets:
      - {{name: {TARGET}, path: web, apply: {{type: files, dest: {tmp}/web}}}}
""")
        nc.init_topics(args.build, config)
        procs.append(nc.start_notifier(args.build, config, tmp, admin))
        producer = nc.Producer(bootstrap, "gitopsd.results", linger_ms=0)

        def publish(sha):
            producer.send(NAME, nc.result_json(NAME, TARGET, sha), tag=sha)

        def latency(sha, seen):
            return seen - producer.wait(sha) / 1000

        warm, one, burst, direct = shas[0], shas[1:1 + n], shas[1 + n:1 + 2 * n], shas[1 + 2 * n:]
        publish(warm)
        producer.flush()
        gitea.wait_visible(warm, poll)

        print(f"1. one at a time: {n} results, each waiting for its status", flush=True)
        sequential = []
        for sha in one:
            publish(sha)
            sequential.append(latency(sha, gitea.wait_visible(sha, poll)))

        print(f"2. burst: {n} results published at once", flush=True)
        for sha in burst:
            publish(sha)
        producer.flush()
        # One lane per repository sets them in order: wait for each in turn.
        bursts = [latency(sha, gitea.wait_visible(sha, poll)) for sha in burst]

        print(f"3. baseline: a direct POST of the status + GETs until visible, {n} commits", flush=True)
        baseline = []
        for sha in direct:
            started = time.time()
            post = http.client.HTTPConnection("127.0.0.1", gitea.port, timeout=10)  # as the notifier: a new connection
            gitea.call("POST", f"/repos/{OWNER}/{NAME}/statuses/{sha}",
                       {"state": "success", "context": f"gitopsd/{TARGET}", "description": "bench"}, conn=post)
            post.close()
            baseline.append(gitea.wait_visible(sha, poll) - started)

        m = nc.metrics(admin)
        set_count = sum(v for k, v in m.items() if k.startswith("gitopsd_notifier_statuses_total") and 'outcome="set"' in k)
        b50 = al.percentile(baseline, 50)
        print(f"\nresult published (Kafka CreateTime) -> status visible in Gitea's API, {n} changes, "
              f"polled every {args.poll_ms:g} ms")
        summary("one at a time", sequential, b50)
        summary(f"burst of {n}", bursts, b50)
        summary("baseline: direct POST + GET", baseline)
        print(f"  statuses set by the notifier: {set_count:.0f} (expected {1 + 2 * n})")
    finally:
        al.stop(procs, os.path.join(tmp, "kafka"))
        subprocess.run([os.path.join(al.ROOT, "deploy/gitea/gitea.sh"), "stop", "--dir", gitea_dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
