#!/usr/bin/env python3
"""Merge-to-applied latency of gitopsd (a benchmark, not a test).

Starts a real Kafka broker (deploy/kafka/broker.sh), `git daemon` serving a repository, and
the real gitopsd-receiver and gitopsd-worker. Then:
  1. N commits, each pushed and followed by its signed GitHub webhook, spaced so they do not
     coalesce; latency = webhook sent -> `applied` result for that commit seen on Kafka, for a
     `files` target on a warm mirror. p50/p99.
  2. Baseline, same changes: what users script today, `git clone --depth 1` of the repository
     and copying the subtree into place. p50/p99 and the ratio.
  3. One file changed in a repository of 1,000 and of 50,000 files: webhook -> applied
     (fetch + apply), and the ratio between the two.
Usage: bench/apply_latency.py [--commits N] [--build DIR]
"""
import argparse, hashlib, hmac, json, os, shutil, socket, statistics, subprocess, sys, tempfile, threading, time, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "bench-secret"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def free_port_range(count):
    """The first of `count` consecutive free ports (--instance N listens on admin port + N - 1)."""
    while True:
        first = free_port()
        if first + count > 65536:
            continue
        try:
            for p in range(first + 1, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return first
        except OSError:
            continue


def run(*argv, cwd=None, quiet=True):
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL if quiet else None, stderr=subprocess.DEVNULL if quiet else None)


def git(repo, *args):
    run("git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args, cwd=repo)


def rev(repo):
    return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=repo, text=True).strip()


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close(); return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Results:
    """Follows the results topic with kcat; records when each (repository, commit) was applied."""

    def __init__(self, bootstrap, topic):
        self.seen = {}
        self.workers = {}  # (repository, commit) -> the worker id ("host:pid") that applied it
        self.cond = threading.Condition()
        self.argv = ["kcat", "-b", bootstrap, "-t", topic, "-C", "-u", "-q", "-f", "%s\n"]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        # kcat exits while the topic does not exist yet (the worker creates it): start it again.
        while True:
            proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for line in proc.stdout:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("status") == "applied":
                    with self.cond:
                        self.seen.setdefault((r["repository"], r["commit"]), time.monotonic())
                        self.workers.setdefault((r["repository"], r["commit"]), r["worker"])
                        self.cond.notify_all()
            proc.wait()
            time.sleep(0.2)

    def wait(self, repository, commit, timeout=120):
        end = time.monotonic() + timeout
        with self.cond:
            while (repository, commit) not in self.seen:
                left = end - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"no applied result for {repository} {commit}")
                self.cond.wait(left)
            return self.seen[(repository, commit)]


def webhook(port, full_name, before, after):
    body = json.dumps({"ref": "refs/heads/main", "before": before, "after": after, "forced": False, "deleted": False,
                       "repository": {"full_name": full_name, "clone_url": f"https://github.com/{full_name}.git"},
                       "sender": {"login": "bench"}}).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    req = (f"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n"
           f"X-GitHub-Delivery: {uuid.uuid4()}\r\nX-Hub-Signature-256: sha256={sig}\r\nContent-Length: {len(body)}\r\n"
           f"Connection: close\r\n\r\n").encode() + body
    sent = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(req)
        answer = s.recv(4096).decode(errors="replace")
    if " 202 " not in answer.split("\r\n")[0]:
        raise SystemExit("webhook not accepted: " + answer.split("\r\n")[0])
    return sent


def make_repo(root, name, files):
    work = os.path.join(root, name)
    os.makedirs(os.path.join(work, "site"))
    run("git", "init", "-q", "-b", "main", cwd=work)
    for i in range(files):
        d = os.path.join(work, "site", f"d{i // 1000}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n")
    git(work, "add", "-A"); git(work, "commit", "-qm", "initial")
    bare = os.path.join(root, "served", name + ".git")
    run("git", "init", "-q", "--bare", "-b", "main", bare)
    git(work, "remote", "add", "origin", bare); git(work, "push", "-q", "origin", "main")
    return work


def change(work, n, path="site/d0/f0.txt"):
    with open(os.path.join(work, path), "w") as f:
        f.write(f"change {n}\n")
    git(work, "commit", "-qam", f"change {n}"); git(work, "push", "-q", "origin", "main")


def stop(procs, broker_dir):
    """Stops the processes (SIGTERM, SIGKILL after 30 s), then the broker."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    subprocess.run([os.path.join(ROOT, "deploy/kafka/broker.sh"), "stop", "--dir", broker_dir],
                   stdout=subprocess.DEVNULL)


def write_config(tmp, bootstrap, port, aport, wport, repositories, properties=""):
    """A gitopsd.yaml in `tmp` for one receiver and one worker; `repositories` is its list's YAML
    (two-space indented items), `properties` kafka.properties' entries in YAML flow style."""
    config = os.path.join(tmp, "gitopsd.yaml")
    with open(config, "w") as f:
        f.write(f"""kafka:
  brokers: "{bootstrap}"
  properties: {{{properties}}}
receiver:
  listen: "127.0.0.1:{port}"
  admin_listen: "127.0.0.1:{aport}"
worker:
  state_dir: {tmp}/state
  admin_listen: "127.0.0.1:{wport}"
  resync_interval: 1h
repositories:
{repositories}""")
    return config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=40)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gitopsd-bench-")
    procs = []
    broker_dir = os.path.join(tmp, "kafka")
    try:
        bootstrap = subprocess.check_output([os.path.join(ROOT, "deploy/kafka/broker.sh"), "start", "--dir", broker_dir, "--port", "0"], text=True).strip()
        print(f"broker {bootstrap}; building repositories (1,000 and 50,000 files)...", flush=True)
        os.makedirs(os.path.join(tmp, "served"))
        small = make_repo(tmp, "small", 1000)
        large = make_repo(tmp, "large", 50000)
        gport = free_port()
        procs.append(subprocess.Popen(["git", "daemon", "--reuseaddr", f"--base-path={tmp}/served", "--export-all",
                                       "--listen=127.0.0.1", f"--port={gport}", f"{tmp}/served"],
                                      stderr=subprocess.DEVNULL))
        wait_port(gport)
        with open(os.path.join(tmp, "secret"), "w") as f:
            f.write(SECRET)
        port, aport, wport = free_port(), free_port(), free_port()
        repos = "".join(f"""  - {{name: {n}, provider: github, match: acme/{n}, url: "git://127.0.0.1:{gport}/{n}.git",
     secrets: [{{file: {tmp}/secret}}], targets: [{{name: site, path: site, apply: {{type: files, dest: {tmp}/dest-{n}}}}}]}}
""" for n in ("small", "large"))
        config = write_config(tmp, bootstrap, port, aport, wport, repos)
        log = open(os.path.join(tmp, "daemons.log"), "w")
        procs.append(subprocess.Popen([os.path.join(args.build, "receiver/gitopsd-receiver"), "--config", config, "--log-level", "warn"], stderr=log))
        procs.append(subprocess.Popen([os.path.join(args.build, "worker/gitopsd-worker"), "--config", config, "--log-level", "warn"], stderr=log))
        wait_port(port)
        results = Results(bootstrap, "gitopsd.results")

        # Warm-up: first apply of both repositories (clones the mirrors, writes every file).
        for name, work in (("small", small), ("large", large)):
            webhook(port, f"acme/{name}", "0" * 40, rev(work))
            results.wait(name, rev(work), timeout=600)

        print(f"1. merge -> applied, {args.commits} commits to a 1,000-file repository (warm mirror)", flush=True)
        gitopsd = []
        for n in range(args.commits):
            before = rev(small)
            change(small, n, f"site/d0/f{n % 1000}.txt")
            after = rev(small)
            sent = webhook(port, "acme/small", before, after)
            gitopsd.append(results.wait("small", after) - sent)

        print("2. baseline: git clone --depth 1 + copy the subtree, same changes", flush=True)
        baseline = []
        dest = os.path.join(tmp, "baseline-dest")
        for n in range(args.commits):
            change(small, 1000 + n, f"site/d0/f{n % 1000}.txt")
            started = time.monotonic()
            checkout = os.path.join(tmp, "baseline-clone")
            shutil.rmtree(checkout, ignore_errors=True)
            run("git", "clone", "-q", "--depth", "1", "--branch", "main", f"git://127.0.0.1:{gport}/small.git", checkout)
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(os.path.join(checkout, "site"), dest)
            baseline.append(time.monotonic() - started)
        # Keep gitopsd's state in step (not measured).
        webhook(port, "acme/small", "0" * 40, rev(small)); results.wait("small", rev(small))

        print("3. one file changed: fetch + apply for 1,000 and 50,000 files", flush=True)
        sizes = {}
        for name, work in (("small", small), ("large", large)):
            times = []
            for n in range(5):
                before = rev(work)
                change(work, 5000 + n)
                after = rev(work)
                sent = webhook(port, f"acme/{name}", before, after)
                times.append(results.wait(name, after, timeout=600) - sent)
            sizes[name] = statistics.median(times)

        ms = lambda s: f"{s * 1000:8.1f} ms"
        p50, p99 = percentile(gitopsd, 50), percentile(gitopsd, 99)
        b50, b99 = percentile(baseline, 50), percentile(baseline, 99)
        print("\nmerge -> applied (files target, warm mirror), %d commits" % args.commits)
        print(f"  gitopsd (webhook -> applied result): p50 {ms(p50)}  p99 {ms(p99)}")
        print(f"  baseline (clone --depth 1 + copy):   p50 {ms(b50)}  p99 {ms(b99)}")
        print(f"  ratio baseline/gitopsd p50: {b50 / p50:.2f}x")
        print(f"  target p50 < 250 ms: {'PASS' if p50 < 0.25 else 'MISS'}; p99 < 1 s: {'PASS' if p99 < 1 else 'MISS'}")
        print("one file changed, webhook -> applied (median of 5)")
        print(f"  1,000 files: {ms(sizes['small'])}   50,000 files: {ms(sizes['large'])}   ratio {sizes['large'] / sizes['small']:.2f}x")
        print(f"  target 50,000 within 2x of 1,000: {'PASS' if sizes['large'] < 2 * sizes['small'] else 'MISS'}")
    finally:
        stop(procs, broker_dir)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
