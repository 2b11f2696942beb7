#!/usr/bin/python3
"""What N repositories cost gitopsd-worker when nothing changes (a benchmark, not a test; issue 15).

Starts a real Kafka broker (deploy/kafka/broker.sh), `git daemon` serving N tiny bare repositories
(one commit, site/index.html; all share it), `gitopsctl init-topics` (--partitions each) and W
gitopsd-worker processes (--instance 1..W, one config, one shared state_dir), one `files` target
per repository. No receiver: every apply comes from the workers' own resync.
  1. warm-up: seconds from the workers' start until every target's dest/index.html exists (the
     first resync applies every repository; today's worker runs it one resync_interval after
     its start);
  2. --cycles quiet intervals, each exactly resync_interval long, nothing changing: per worker
     CPU seconds (utime + stime, /proc/<pid>/stat) and peak RSS (VmHWM); results and poll events
     published (by their Kafka CreateTime, read with librdkafka); the Git host's connections
     (each "Connection from" line git daemon --verbose writes, timestamped as read): total,
     mean per second, most in any one second, and most/mean;
  3. a push with no webhook: a commit written into one bare repository; seconds until its dest
     file has the new content (target: within one interval).
Usage: bench/scale.py [--repos N] [--workers W] [--interval 3m] [--partitions 12] [--cycles 1]
       [--build DIR | --worker-bin PATH --ctl-bin PATH] [--extra-worker-config 'KEY: VALUE']
       [--json FILE] [--keep]
"""
import argparse, collections, json, math, os, random, shutil, signal, subprocess, sys, tempfile, threading, time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apply_latency as al  # noqa: E402  (free ports, stop)
import notify_common as nc  # noqa: E402  (broker, topics, binaries, /proc and /metrics figures)

SECRET = "scale-bench-secret-0123456789"  # 16 bytes or more: no warning per repository
CONTENT = "hello\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@example.com"}
# Targets of issue 15 (10,000 repositories, 2 workers, resync_interval 3m).
TARGET_RSS_MB, TARGET_CPU_S, TARGET_BURST = 300, 5.0, 2.0


def say(text):
    """A progress line, with the wall-clock time to set beside the daemons' logs."""
    print(time.strftime("%H:%M:%S ") + text)


def seconds(text):
    """A config duration (90s, 3m, 1h) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[:-len(unit)].isdigit():
            return int(text[:-len(unit)]) * units[unit]
    raise SystemExit(f"--interval {text!r}: expected a duration such as 90s, 3m or 1h")


def git(cwd, *args, stdin=None):
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def commit(bare, content, parent=None):
    """Writes a commit holding site/index.html = content into `bare` and moves main to it."""
    blob = git(bare, "hash-object", "-w", "--stdin", stdin=content)
    site = git(bare, "mktree", stdin=f"100644 blob {blob}\tindex.html\n")
    root = git(bare, "mktree", stdin=f"040000 tree {site}\tsite\n")
    sha = git(bare, "commit-tree", root, "-m", "change" if parent else "initial", *(["-p", parent] if parent else []))
    git(bare, "update-ref", "refs/heads/main", sha, *([parent] if parent else []))
    return sha


def make_repositories(tmp, served, names):
    """One template bare repository (no hooks, loose objects), hard-linked N times: git never
    writes a file in place (new objects, `ref.lock` renamed over the ref), so a commit into one
    copy leaves the others alone."""
    template = os.path.join(tmp, "template.git")
    git(tmp, "init", "-q", "--bare", "--template=", "-b", "main", template)
    commit(template, CONTENT)

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:  # EMLINK: a file system's links per inode run out
            shutil.copy2(src, dst)
    for name in names:
        shutil.copytree(template, os.path.join(served, name + ".git"), copy_function=link)


class GitHost:
    """git daemon on the served directory; remembers when each connection's log line was read."""

    def __init__(self, served, log_path):
        self.port = al.free_port()
        self.proc = subprocess.Popen(
            ["git", "daemon", "--export-all", f"--base-path={served}", "--reuseaddr", "--enable=receive-pack",
             "--verbose", "--log-destination=stderr", "--listen=127.0.0.1", f"--port={self.port}", served],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.log_path = log_path
        self.connections = []  # time.time() of each "Connection from" line
        self.tail = collections.deque(maxlen=30)
        threading.Thread(target=self._read, daemon=True).start()
        al.wait_port(self.port)

    def _read(self):
        # git daemon sets stderr fully buffered and flushes each line: one write per line, so the
        # lines of concurrent connections (each its own process) never interleave.
        with open(self.log_path, "wb") as log:
            for line in self.proc.stderr:
                now = time.time()
                if b"] Connection from " in line:
                    self.connections.append(now)
                self.tail.append(line.decode(errors="replace").rstrip())
                log.write(line)

    def between(self, start, end):
        return [t for t in self.connections if start <= t < end]


class TopicReader:
    """Reads the topics from their beginning (librdkafka, no group): (CreateTime in s, record)."""

    def __init__(self, bootstrap, topics):
        ck = nc.confluent_kafka()
        self.consumer = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "scale-bench",
                                     "enable.auto.commit": False, "enable.partition.eof": False})
        metadata = self.consumer.list_topics(timeout=30)
        self.partitions = []
        for topic in topics:
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                raise SystemExit(f"topic {topic} not found")
            self.partitions += [ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in metadata.topics[topic].partitions]
        self.consumer.assign(self.partitions)
        # The high watermarks come from a consumer of their own: on the reading one each query
        # waits behind the fetch long-polls (about 0.5 s per partition).
        self.watermarks = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "scale-bench"})
        self.records = {topic: [] for topic in topics}
        self.next_offset = {}  # (topic, partition) -> the offset after the last one read
        self.last_read = {topic: time.time() for topic in topics}
        self.stopped = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while not self.stopped.is_set():
                for m in self.consumer.consume(1000, 0.2):
                    if m.error() is not None:
                        continue
                    self.next_offset[(m.topic(), m.partition())] = m.offset() + 1
                    try:
                        record = json.loads(m.value())
                    except ValueError:
                        continue
                    self.records[m.topic()].append((m.timestamp()[1] / 1000, record))
                    self.last_read[m.topic()] = time.time()
        except Exception as e:  # reported by the main thread
            self.error = e

    def between(self, topic, start, end):
        return [r for t, r in self.records[topic] if start <= t < end]

    def catch_up(self, timeout=60):
        """Returns once everything published so far has been read."""
        end = time.time() + timeout
        high = {}
        for tp in self.partitions:
            high[(tp.topic, tp.partition)] = self.watermarks.get_watermark_offsets(tp, timeout=10, cached=False)[1]
        while time.time() < end:
            if self.error:
                raise SystemExit(f"reading Kafka failed: {self.error}")
            if all(self.next_offset.get(key, 0) >= h for key, h in high.items()):
                return
            time.sleep(0.1)
        raise SystemExit(f"the topics were not read to their end within {timeout} s")

    def close(self):
        self.stopped.set()
        self.thread.join(10)
        self.consumer.close()
        self.watermarks.close()


class Bench:
    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.procs, self.logs = [], {}  # process -> its log file
        self.git_host = self.reader = None
        self.broker_dir = os.path.join(tmp, "kafka")
        self.load = open("/proc/loadavg").read().split()[0]

    def check_alive(self):
        """Stops the bench with the log tail of a daemon that has exited."""
        if self.reader and self.reader.error:
            raise SystemExit(f"reading Kafka failed: {self.reader.error}")
        for proc in self.procs:
            if proc.poll() is not None:
                path = self.logs.get(proc)
                if proc is self.git_host.proc:
                    tail = "\n".join(self.git_host.tail)
                else:
                    with open(path, errors="replace") as f:
                        tail = "".join(f.readlines()[-30:])
                raise SystemExit(f"{proc.args[0]} (pid {proc.pid}) exited with {proc.returncode}; "
                                 f"the end of {path} (--keep keeps it):\n{tail}")

    def sleep_until(self, when):
        while time.time() < when:
            self.check_alive()
            time.sleep(min(1.0, max(0.0, when - time.time())))

    def wait_for(self, what, condition, timeout, poll=0.5, fail=True):
        """time.time() once condition() holds; at the timeout, SystemExit (None if not `fail`)."""
        end = time.time() + timeout
        while time.time() < end:
            self.check_alive()
            if condition():
                return time.time()
            time.sleep(poll)
        if fail:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        return None

    def worker_metric(self, n, series):
        try:
            page = nc.metrics(self.admin + n - 1)
        except OSError:
            return None
        return page.get(series)

    def ready(self, n):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.admin + n - 1}/readyz", timeout=2).status == 200
        except OSError:
            return False

    # ---- set-up --------------------------------------------------------------------------------

    def setup(self):
        a = self.args
        width = max(5, len(str(a.repos)))
        self.names = [f"r{i:0{width}d}" for i in range(1, a.repos + 1)]
        served = os.path.join(self.tmp, "served")
        os.makedirs(served)
        started = time.time()
        make_repositories(self.tmp, served, self.names)
        say(f"{a.repos} repositories made in {time.time() - started:.1f} s")
        self.git_host = GitHost(served, os.path.join(self.tmp, "git-daemon.log"))
        self.procs.append(self.git_host.proc)
        self.logs[self.git_host.proc] = self.git_host.log_path

        bootstrap = nc.start_broker(self.tmp)
        self.dest = os.path.join(self.tmp, "dest")
        os.makedirs(self.dest)  # a `files` target makes its dest, not the dest's parent
        secret = os.path.join(self.tmp, "secret")
        with open(secret, "w") as f:
            f.write(SECRET)
        os.chmod(secret, 0o600)
        self.admin = al.free_port_range(a.workers)
        extra = "".join("  " + line + "\n" for snippet in a.extra_worker_config for line in snippet.splitlines())
        self.config = os.path.join(self.tmp, "gitopsd.yaml")
        with open(self.config, "w") as f:
            f.write(f"""kafka:
  brokers: "{bootstrap}"
worker:
  state_dir: {self.tmp}/state
  admin_listen: "127.0.0.1:{self.admin}"
  resync_interval: {a.interval}
{extra}repositories:
""")
            url = f"git://127.0.0.1:{self.git_host.port}"
            for n in self.names:
                f.write(f"""  - {{name: {n}, provider: github, match: acme/{n}, url: "{url}/{n}.git", branch: main, \
secrets: [{{file: {secret}}}], targets: [{{name: site, path: site, apply: {{type: files, dest: {self.dest}/{n}}}}}]}}
""")
        nc.init_topics(None, self.config, a.partitions, gitopsctl=a.ctl_bin)
        self.reader = TopicReader(bootstrap, ["gitopsd.results", "gitopsd.events"])

    def start_workers(self):
        a = self.args
        self.workers = []
        self.started = time.time()
        for n in range(1, a.workers + 1):
            path = os.path.join(self.tmp, f"worker{n}.log")
            log = open(path, "w")
            proc = subprocess.Popen([a.worker_bin, "--config", self.config, "--log-level", a.log_level,
                                     "--instance", str(n)], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            self.procs.append(proc)
            self.logs[proc] = path
            self.workers.append(proc)
        for n in range(1, a.workers + 1):
            self.wait_for(f"worker {n} /readyz", lambda: self.ready(n), 180, 0.2)
        ready = time.time() - self.started
        try:
            self.wait_for("the events topic's partitions assigned to the workers",
                          lambda: sum(self.worker_metric(n, "gitopsd_consumer_partitions") or 0
                                      for n in range(1, a.workers + 1)) == a.partitions, 120)
            owned = time.time() - self.started
            say(f"{a.workers} worker(s) ready {ready:.1f} s after their start, every partition owned after "
                f"{owned:.1f} s")
        except SystemExit as e:  # a worker without that gauge still runs the bench
            say(f"warning: {e}")

    # ---- measurements --------------------------------------------------------------------------

    def warm_up(self):
        """Seconds from the workers' start until every target's file exists."""
        missing = list(self.names)

        def applied():
            nonlocal missing
            missing = [n for n in missing if not os.path.exists(os.path.join(self.dest, n, "index.html"))]
            return not missing
        timeout = self.args.warmup_timeout or 2 * self.interval + 300 + self.args.repos * 0.5
        end, next_report = time.time() + timeout, time.time() + 30
        while not applied():
            self.check_alive()
            failed = next((r for _, r in self.reader.records["gitopsd.results"] if r.get("status") == "failed"), None)
            if failed:
                raise SystemExit(f"warm-up: {failed['repository']}/{failed['target']} failed: {failed.get('message')}")
            if time.time() > end:
                raise SystemExit(f"warm-up: {len(missing)} of {len(self.names)} targets not applied within {timeout:.0f} s")
            if time.time() > next_report:
                say(f"  warm-up: {len(self.names) - len(missing)}/{len(self.names)} applied after "
                    f"{time.time() - self.started:.0f} s")
                next_report += 30
            time.sleep(1)
        done = time.time()
        self.reader.catch_up()
        applies = [t for t, r in self.reader.records["gitopsd.results"] if r.get("status") == "applied"]
        conns = self.git_host.between(self.started, done)
        return {"seconds": done - self.started,
                "first_applied_s": (min(applies) - self.started) if applies else None,
                "last_applied_s": (max(applies) - self.started) if applies else None,
                "git_connections": len(conns)}

    def settle(self):
        """Waits until no result has been read for 5 s (the warm-up's last ones), at most one
        interval, so a cycle starts after the last burst rather than inside it."""
        end = time.time() + self.interval
        while time.time() < end and time.time() - self.reader.last_read["gitopsd.results"] < 5:
            self.check_alive()
            time.sleep(0.5)

    def cycle(self):
        """One quiet interval: its figures."""
        start = time.time()
        cpu0 = [nc.cpu_seconds(w.pid) for w in self.workers]
        self.sleep_until(start + self.interval)
        end = time.time()
        cpu = [nc.cpu_seconds(w.pid) - c for w, c in zip(self.workers, cpu0)]
        peak = [nc.status_mib(w.pid, "VmHWM") for w in self.workers]
        time.sleep(2)  # a record produced before `end` may still be in flight
        self.reader.catch_up()
        results = self.reader.between("gitopsd.results", start, end)
        events = self.reader.between("gitopsd.events", start, end)
        conns = self.git_host.between(start, end)
        per_second = [0] * math.ceil(end - start)
        for t in conns:
            per_second[int(t - start)] += 1
        mean = len(conns) / (end - start)
        busiest = max(per_second) if per_second else 0
        return {"seconds": end - start, "cpu_s": cpu, "peak_rss_mib": peak, "results": len(results),
                "results_by_status": dict(collections.Counter(r.get("status") for r in results)),
                "poll_events": sum(1 for r in events if r.get("kind") == "poll"),
                "git_connections": len(conns), "git_mean_per_s": mean, "git_max_in_a_second": busiest,
                "git_max_over_mean": busiest / mean if mean else None}

    def push(self):
        """A commit into one repository, no webhook: seconds until its dest has it."""
        name = random.choice(self.names)
        bare = os.path.join(self.tmp, "served", name + ".git")
        content = f"changed at {time.time()}\n"
        parent = git(bare, "rev-parse", "refs/heads/main")
        commit(bare, content, parent)
        pushed = time.time()
        path = os.path.join(self.dest, name, "index.html")
        timeout = 2 * self.interval + 300

        def changed():
            try:
                with open(path) as f:
                    return f.read() == content
            except OSError:
                return False
        applied = self.wait_for(f"the push to {name} applied", changed, timeout, 0.02, fail=False)
        return {"repository": name, "seconds": applied - pushed if applied else None}

    def run(self):
        a = self.args
        self.interval = seconds(a.interval)
        self.setup()
        self.start_workers()
        say(f"warm-up: waiting for the first resync to apply {a.repos} targets (resync_interval {a.interval})")
        warm = self.warm_up()
        say(f"  all applied {warm['seconds']:.1f} s after the workers started")
        self.settle()
        cycles = []
        for c in range(a.cycles):
            say(f"cycle {c + 1}/{a.cycles}: {a.interval} with nothing changing")
            c = self.cycle()
            cycles.append(c)
            say(f"  CPU {' / '.join(f'{x:.2f}' for x in c['cpu_s'])} s, results {c['results_by_status']}, "
                f"{c['poll_events']} poll events, {c['git_connections']} git connections "
                f"(most in a second {c['git_max_in_a_second']})")
        say("push with no webhook")
        pushed = self.push()
        peak = [nc.status_mib(w.pid, "VmHWM") for w in self.workers]
        return {"repos": a.repos, "workers": a.workers, "interval": a.interval, "interval_s": self.interval,
                "partitions": a.partitions, "worker_bin": a.worker_bin, "extra_worker_config": a.extra_worker_config,
                "load_average_before": self.load, "warm_up": warm, "cycles": cycles, "peak_rss_mib": peak,
                "push": pushed}

    def stop(self):
        if self.reader:
            try:
                self.reader.close()
            except Exception as e:
                print(f"warning: closing the Kafka reader: {e}")
        al.stop(self.procs, self.broker_dir)


def summary(r):
    mark = lambda ok: "PASS" if ok else "MISS"
    print(f"\nscale: {r['repos']} repositories, {r['workers']} worker(s), resync_interval {r['interval']}, "
          f"{r['partitions']} partitions; worker {r['worker_bin']}"
          + (f" with {'; '.join(r['extra_worker_config'])}" if r["extra_worker_config"] else "")
          + f"; load average before {r['load_average_before']}")
    w = r["warm_up"]
    first = f"{w['first_applied_s']:.1f}" if w["first_applied_s"] is not None else "?"
    last = f"{w['last_applied_s']:.1f}" if w["last_applied_s"] is not None else "?"
    print(f"warm-up: every target applied {w['seconds']:.1f} s after the workers started "
          f"(applied results from {first} s to {last} s; {w['git_connections']} git connections)")
    print(f"{'cycle':>5} | {'CPU s per worker':>18} | {'results':>7} | {'poll events':>11} | {'git conns':>9} | "
          f"{'mean/s':>7} | {'max in 1 s':>10} | {'max/mean':>8}")
    for i, c in enumerate(r["cycles"], 1):
        ratio = f"{c['git_max_over_mean']:.1f}" if c["git_max_over_mean"] is not None else "-"
        print(f"{i:>5} | {' / '.join(f'{x:.2f}' for x in c['cpu_s']):>18} | {c['results']:>7} | {c['poll_events']:>11} | "
              f"{c['git_connections']:>9} | {c['git_mean_per_s']:>7.2f} | {c['git_max_in_a_second']:>10} | {ratio:>8}")
    print(f"peak RSS (VmHWM) per worker: {' / '.join(f'{x:.0f} MiB' for x in r['peak_rss_mib'])}")
    p = r["push"]
    pushed = f"{p['seconds']:.1f} s" if p["seconds"] is not None else "not applied"
    print(f"push with no webhook ({p['repository']}): applied after {pushed} (interval {r['interval_s']:.0f} s)")
    cycles = r["cycles"]
    if cycles:
        cpu = max(x for c in cycles for x in c["cpu_s"])
        results = max(c["results"] for c in cycles)
        burst = max((c["git_max_over_mean"] or 0) for c in cycles)
        print("issue 15's targets (set for 10,000 repositories, 2 workers, 3m):")
        print(f"  peak RSS <= {TARGET_RSS_MB} MiB per worker: {mark(max(r['peak_rss_mib']) <= TARGET_RSS_MB)}; "
              f"CPU <= {TARGET_CPU_S:.0f} s per worker per interval: {mark(cpu <= TARGET_CPU_S)}; "
              f"0 results when nothing changed: {mark(results == 0)}; git connections max/mean <= "
              f"{TARGET_BURST:.0f}: {mark(burst <= TARGET_BURST)}; push applied within one interval: "
              f"{mark(p['seconds'] is not None and p['seconds'] <= r['interval_s'])}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repos", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--interval", default="3m", help="worker.resync_interval (90s, 3m, 1h)")
    ap.add_argument("--partitions", type=int, default=12, help="partitions of each topic (init-topics)")
    ap.add_argument("--cycles", type=int, default=1, help="quiet intervals measured")
    ap.add_argument("--build", default=os.path.join(al.ROOT, "build"),
                    help="a build tree (worker/gitopsd-worker, ctl/gitopsctl) or a directory of the binaries")
    ap.add_argument("--worker-bin", help="the gitopsd-worker to measure (default: from --build)")
    ap.add_argument("--ctl-bin", help="the gitopsctl for init-topics (default: from --build)")
    ap.add_argument("--extra-worker-config", action="append", default=[], metavar="YAML",
                    help="lines added to the config's worker section, e.g. 'max_parallel_fetches: 8' (repeatable)")
    ap.add_argument("--log-level", default="warn", help="the workers' (info logs a line per event)")
    ap.add_argument("--warmup-timeout", type=float, help="seconds (default 2 intervals + 300 s + 0.5 s per repository)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (config, logs, repositories)")
    args = ap.parse_args()
    if args.repos < 1 or args.workers < 1 or args.partitions < 1 or args.cycles < 0:
        ap.error("--repos, --workers and --partitions must be >= 1, --cycles >= 0")
    args.worker_bin = os.path.abspath(args.worker_bin or nc.binary(args.build, "worker/gitopsd-worker"))
    args.ctl_bin = os.path.abspath(args.ctl_bin or nc.binary(args.build, "ctl/gitopsctl"))
    for path in (args.worker_bin, args.ctl_bin):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"{path} is not an executable")
    # SIGTERM ends the bench as Ctrl-C does: through the `finally` that stops every daemon.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tmp = tempfile.mkdtemp(prefix="gitopsd-scale-")
    bench = Bench(args, tmp)
    try:
        report = bench.run()
    except KeyboardInterrupt:
        raise SystemExit("interrupted")
    finally:
        bench.stop()
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    summary(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
