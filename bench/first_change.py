#!/usr/bin/env python3
"""Webhook-to-file latency of the changes that follow a worker's start (a benchmark, not a test).

Starts a real Kafka broker (deploy/kafka/broker.sh), `git daemon` serving a 100-file repository,
gitopsd-receiver and gitopsd-worker on a fresh cluster (topics auto-created, as on a first run;
--init-topics runs `gitopsctl init-topics` first). Once the worker is ready it applies the first
commit, then N one-file changes, each pushed and followed by its signed GitHub webhook --gap
seconds after the previous one was written; latency = webhook sent -> the changed file's new
content seen in the target directory. Prints every change, then first, p50, p99 and max.
Target (issue 12): every change under 1 s including the first, p50 < 150 ms.
Usage: bench/first_change.py [--changes N] [--gap S] [--init-topics] [--build DIR]
       [--properties '"debug": "fetch,topic"' --log-level debug --keep]
"""
import argparse, os, shutil, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apply_latency as al  # noqa: E402  (the broker, repository and webhook helpers)


def wait_file(path, content, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path) as f:
                if f.read() == content:
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit(f"{path} never became {content!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--gap", type=float, default=0.5)
    ap.add_argument("--init-topics", action="store_true")
    ap.add_argument("--build", default=os.path.join(al.ROOT, "build"))
    ap.add_argument("--properties", default="", help="kafka.properties entries, YAML flow style")
    ap.add_argument("--log-level", default="info", help="the worker's")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (daemons.log)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gitopsd-first-change-")
    procs = []
    broker_dir = os.path.join(tmp, "kafka")
    try:
        bootstrap = subprocess.check_output([os.path.join(al.ROOT, "deploy/kafka/broker.sh"), "start", "--dir",
                                             broker_dir, "--port", "0"], text=True).strip()
        os.makedirs(os.path.join(tmp, "served"))
        work = al.make_repo(tmp, "small", 100)
        gport = al.free_port()
        procs.append(subprocess.Popen(["git", "daemon", "--reuseaddr", f"--base-path={tmp}/served", "--export-all",
                                       "--listen=127.0.0.1", f"--port={gport}", f"{tmp}/served"],
                                      stderr=subprocess.DEVNULL))
        al.wait_port(gport)
        secret = os.path.join(tmp, "secret")
        with open(secret, "w") as f:
            f.write(al.SECRET)
        os.chmod(secret, 0o600)
        port, aport, wport = al.free_port(), al.free_port(), al.free_port()
        dest = os.path.join(tmp, "dest")
        config = al.write_config(tmp, bootstrap, port, aport, wport, f"""\
  - {{name: small, provider: github, match: acme/small, url: "git://127.0.0.1:{gport}/small.git",
     secrets: [{{file: {secret}}}], targets: [{{name: site, path: site, apply: {{type: files, dest: {dest}}}}}]}}
""", args.properties)
        if args.init_topics:
            subprocess.run([os.path.join(args.build, "ctl/gitopsctl"), "init-topics", "--config", config,
                            "--partitions", "4", "--replication", "1"], check=True, stdout=subprocess.DEVNULL)
        log = open(os.path.join(tmp, "daemons.log"), "w")
        procs.append(subprocess.Popen([os.path.join(args.build, "receiver/gitopsd-receiver"), "--config", config,
                                       "--log-level", "warn"], stderr=log))
        procs.append(subprocess.Popen([os.path.join(args.build, "worker/gitopsd-worker"), "--config", config,
                                       "--log-level", args.log_level], stderr=log))
        al.wait_port(port)
        al.wait_port(wport)
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{wport}/readyz", timeout=1).status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        sent = al.webhook(port, "acme/small", "0" * 40, al.rev(work))
        print(f"first commit applied {wait_file(os.path.join(dest, 'd0/f0.txt'), 'file 0' + chr(10)) - sent:.3f} s "
              "after its webhook", flush=True)
        latencies = []
        for n in range(args.changes):
            time.sleep(args.gap)
            before = al.rev(work)
            path = f"site/d0/f{n % 100}.txt"
            al.change(work, n, path)
            sent = al.webhook(port, "acme/small", before, al.rev(work))
            latencies.append(wait_file(os.path.join(dest, path[len("site/"):]), f"change {n}\n") - sent)
            print(f"change {n}: {latencies[-1] * 1000:.1f} ms", flush=True)
        ms = lambda s: f"{s * 1000:.1f} ms"
        print(f"first {ms(latencies[0])}  p50 {ms(al.percentile(latencies, 50))}  "
              f"p99 {ms(al.percentile(latencies, 99))}  max {ms(max(latencies))}")
        print(f"target every change < 1 s: {'PASS' if max(latencies) < 1 else 'MISS'}; "
              f"p50 < 150 ms: {'PASS' if al.percentile(latencies, 50) < 0.15 else 'MISS'}")
    finally:
        al.stop(procs, broker_dir)
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
