#!/usr/bin/env python3
"""How soon repositories apply again after a worker crashes or restarts (a benchmark, not a test).

Starts a real Kafka broker (deploy/kafka/broker.sh), `git daemon` serving 4 repositories (one per
partition of a 4-partition events topic), gitopsd-receiver and two gitopsd-worker processes in one
group. Each scenario has topics and a group of its own.
  i.  takeover: SIGKILL the worker owning a repository, then push + webhook at once; seconds from
      the kill to that commit's `applied` result (from the other worker). librdkafka's defaults
      (session.timeout.ms 45000, heartbeat.interval.ms 3000, set in kafka.properties) against
      gitopsd's (10000 / 1000).
  ii. restart: SIGKILL or SIGTERM worker 2 and start it again at once, then push + webhook for a
      repository it owned; seconds from the signal to `applied`, who applied it, and how many
      rebalance steps worker 1 took part in meanwhile (gitopsd_consumer_rebalances_total): with
      static membership (--instance N, group.instance.id) against without (dynamic).
Usage: bench/rebalance.py [--rounds N] [--build DIR] [--keep]
"""
import argparse, os, re, shutil, signal, statistics, subprocess, sys, tempfile, time, urllib.request, zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apply_latency as al  # noqa: E402  (the broker, repository and webhook helpers)
import notify_common as nc  # noqa: E402  (init_topics)

PARTITIONS = 4
LIBRDKAFKA_DEFAULTS = '"session.timeout.ms": "45000", "heartbeat.interval.ms": "3000"'


def repository_names():
    """One name per partition: librdkafka's consistent partitioner is CRC-32 of the key."""
    names, used = [], set()
    for i in range(1000):
        name = f"repo{i}"
        if zlib.crc32(name.encode()) % PARTITIONS not in used:
            used.add(zlib.crc32(name.encode()) % PARTITIONS)
            names.append(name)
        if len(names) == PARTITIONS:
            return names


def metrics(port):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return ""


def metric(page, series):
    m = re.search(r"^" + re.escape(series) + r" (\S+)$", page, re.M)
    return float(m.group(1)) if m else 0.0


def rebalance_steps(port):
    page = metrics(port)
    return sum(metric(page, f'gitopsd_consumer_rebalances_total{{change="{c}"}}') for c in ("assigned", "revoked"))


class Scenario:
    """One receiver and two workers on topics and a group of their own."""

    def __init__(self, env, name, static, properties=""):
        self.env, self.static, self.name = env, static, name
        tmp = os.path.join(env.tmp, name)
        os.makedirs(tmp)
        self.base = al.free_port_range(2)  # the admin ports of --instance 1 and 2
        self.port, aport = al.free_port(), al.free_port()
        topics = f"{{events: {name}.events, results: {name}.results, state: {name}.state, dlq: {name}.dlq}}"
        self.configs = []
        for n in (1, 2):
            # --instance N serves admin on the port + N - 1: one config for both, as on a host.
            admin = self.base if static else self.base + n - 1
            config = al.write_config(tmp, env.bootstrap, self.port, aport, admin, env.repositories, properties)
            with open(config) as f:
                text = f.read().replace("kafka:\n", f"kafka:\n  topics: {topics}\n", 1)
                text = text.replace("worker:\n", f"worker:\n  group_id: {name}\n", 1)
            path = os.path.join(tmp, f"worker{n}.yaml")
            with open(path, "w") as f:
                f.write(text)
            self.configs.append(path)
        nc.init_topics(env.build, self.configs[0], PARTITIONS)
        self.log = open(os.path.join(tmp, "daemons.log"), "w")
        self.receiver = self.spawn(["receiver/gitopsd-receiver", "--config", self.configs[0], "--log-level", "warn"])
        al.wait_port(self.port)
        self.results = al.Results(env.bootstrap, f"{name}.results")
        self.workers = {}
        self.start_worker(1)
        self.wait_partitions({1: PARTITIONS})
        self.start_worker(2)
        self.wait_partitions({1: 2, 2: 2})
        self.owners = self.round()

    def spawn(self, argv):
        return subprocess.Popen([os.path.join(self.env.build, argv[0])] + argv[1:], stderr=self.log)

    def admin(self, n):
        return self.base + n - 1

    def start_worker(self, n):
        argv = ["worker/gitopsd-worker", "--config", self.configs[n - 1], "--log-level", "warn"]
        if self.static:
            argv += ["--instance", str(n)]
        self.workers[n] = self.spawn(argv)
        self.env.procs.append(self.workers[n])

    def wait_partitions(self, want, timeout=180):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(metric(metrics(self.admin(n)), "gitopsd_consumer_partitions") == c for n, c in want.items()):
                return time.monotonic()
            time.sleep(0.05)
        raise SystemExit(f"{self.name}: partitions never became {want}")

    def push(self, repo):
        work = self.env.work[repo]
        before = al.rev(work)
        self.env.changes += 1
        al.change(work, self.env.changes)
        return before, al.rev(work)

    def round(self):
        """A change to every repository; who applied each (repository -> worker number)."""
        commits = {repo: self.push(repo) for repo in self.env.work}
        for repo, (before, after) in commits.items():
            al.webhook(self.port, f"acme/{repo}", before, after)
        return {repo: self.worker_of(repo, after) for repo, (_, after) in commits.items()}

    def worker_of(self, repo, commit, timeout=180):
        self.results.wait(repo, commit, timeout)
        pid = int(self.results.workers[(repo, commit)].rsplit(":", 1)[1])
        return next((n for n, p in self.workers.items() if p.pid == pid), 0)

    def stop(self):
        for p in list(self.workers.values()) + [self.receiver]:
            p.terminate()
        for p in list(self.workers.values()) + [self.receiver]:
            try:
                p.wait(40)
            except subprocess.TimeoutExpired:
                p.kill()


def takeover(env, name, properties, rounds):
    """i: seconds from SIGKILL of worker 2 to its repository's next commit applied."""
    s = Scenario(env, name, static=False, properties=properties)
    times = []
    try:
        for _ in range(rounds):
            repo = next(r for r, n in s.owners.items() if n == 2)
            before, after = s.push(repo)
            killed = time.monotonic()
            s.workers[2].kill(); s.workers[2].wait()
            al.webhook(s.port, f"acme/{repo}", before, after)
            s.results.wait(repo, after, 180)
            times.append(s.results.seen[(repo, after)] - killed)
            print(f"  {name}: SIGKILL -> {repo} applied by worker {s.worker_of(repo, after)} "
                  f"after {times[-1]:.1f} s", flush=True)
            s.start_worker(2)
            s.wait_partitions({1: 2, 2: 2})
            s.owners = s.round()
    finally:
        s.stop()
    return times


def restart(env, name, static, sig, rounds):
    """ii: seconds from the signal to worker 2 until its repository's next commit is applied."""
    s = Scenario(env, name, static=static)
    rows = []
    try:
        for _ in range(rounds):
            repo = next(r for r, n in s.owners.items() if n == 2)
            steps = rebalance_steps(s.admin(1))
            before, after = s.push(repo)
            signalled = time.monotonic()
            s.workers[2].send_signal(sig); s.workers[2].wait()
            s.start_worker(2)
            al.webhook(s.port, f"acme/{repo}", before, after)
            by = s.worker_of(repo, after)
            applied = s.results.seen[(repo, after)] - signalled
            settled = s.wait_partitions({1: 2, 2: 2}) - signalled
            time.sleep(1)  # a rebalance step still under way shows in worker 1's counter
            rows.append((applied, settled, rebalance_steps(s.admin(1)) - steps, by))
            print(f"  {name}: {signal.Signals(sig).name} + start -> {repo} applied by worker {by} after "
                  f"{applied:.1f} s; worker 2 owns 2 partitions after {settled:.1f} s; worker 1 rebalance "
                  f"steps {rows[-1][2]:.0f}", flush=True)
            s.owners = s.round()
    finally:
        s.stop()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(al.ROOT, "build"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (daemons.log)")
    args = ap.parse_args()

    class Env:
        pass
    env = Env()
    env.tmp = tempfile.mkdtemp(prefix="gitopsd-rebalance-")
    env.build, env.procs, env.changes = args.build, [], 0
    broker_dir = os.path.join(env.tmp, "kafka")
    git_daemon = []
    try:
        env.bootstrap = subprocess.check_output([os.path.join(al.ROOT, "deploy/kafka/broker.sh"), "start", "--dir",
                                                 broker_dir, "--port", "0"], text=True).strip()
        os.makedirs(os.path.join(env.tmp, "served"))
        names = repository_names()
        env.work = {n: al.make_repo(env.tmp, n, 10) for n in names}
        gport = al.free_port()
        git_daemon.append(subprocess.Popen(["git", "daemon", "--reuseaddr", f"--base-path={env.tmp}/served",
                                            "--export-all", "--listen=127.0.0.1", f"--port={gport}",
                                            f"{env.tmp}/served"], stderr=subprocess.DEVNULL))
        al.wait_port(gport)
        secret = os.path.join(env.tmp, "secret")
        with open(secret, "w") as f:
            f.write(al.SECRET)
        os.chmod(secret, 0o600)
        env.repositories = "".join(
            f"""  - {{name: {n}, provider: github, match: acme/{n}, url: "git://127.0.0.1:{gport}/{n}.git",
     secrets: [{{file: {secret}}}], targets: [{{name: site, path: site, apply: {{type: files, dest: {env.tmp}/dest-{n}}}}}]}}
""" for n in names)

        print("i. SIGKILL of worker 2 -> its repository's next commit applied by worker 1", flush=True)
        before = takeover(env, "takeover-librdkafka", LIBRDKAFKA_DEFAULTS, args.rounds)
        after = takeover(env, "takeover-gitopsd", "", args.rounds)
        print("ii. worker 2 restarted at once -> its repository's next commit applied", flush=True)
        restarts = {}
        for sig in (signal.SIGKILL, signal.SIGTERM):
            for static in (False, True):
                label = f"{'static' if static else 'dynamic'}-{signal.Signals(sig).name.lower()}"
                restarts[label] = restart(env, "restart-" + label, static, sig, args.rounds)

        med = lambda xs: f"median {statistics.median(xs):5.1f} s (min {min(xs):.1f}, max {max(xs):.1f})"
        print(f"\ni. takeover after SIGKILL, {args.rounds} rounds, kill -> applied by the other worker")
        print(f"  librdkafka defaults (session 45 s, heartbeat 3 s): {med(before)}")
        print(f"  gitopsd defaults    (session 10 s, heartbeat 1 s): {med(after)}")
        print(f"  target <= 15 s: {'PASS' if max(after) <= 15 else 'MISS'}")
        print(f"ii. restart of worker 2, {args.rounds} rounds (gitopsd defaults)")
        for label, rows in restarts.items():
            by = sorted({r[3] for r in rows})
            print(f"  {label:16} applied: {med([r[0] for r in rows])}; worker 2 owns 2 partitions again: "
                  f"{med([r[1] for r in rows])}; worker 1 rebalance steps: {[int(r[2]) for r in rows]}; "
                  f"applied by worker {by}")
    finally:
        al.stop(env.procs + git_daemon, broker_dir)
        if args.keep:
            print("kept", env.tmp)
        else:
            shutil.rmtree(env.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
