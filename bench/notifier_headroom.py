#!/usr/bin/env python3
"""Headroom of gitopsd-notifier: does it keep up with 1,000 results/s to a local sink? (a
benchmark, not a test)

Starts a real Kafka broker, a small local HTTP sink (this file with --sink: asyncio, answers
every POST with 204 and remembers when each `webhook-id` arrived) and gitopsd-notifier with one
`webhook` sink to it (signed, `on: [applied]`) and no repository API. Then:
  1. baseline: the sink alone under `wrk` for --baseline-secs, one new connection per request
     (as the notifier sends) and kept-alive: what the sink itself can take;
  2. for each rate in --rates: gitopsd.result.v1 records (`applied`) published at that rate for
     --duration seconds, paced every 10 ms. Reported: notifications received per second at the
     sink over the window, delivered/offered, end-to-end delay p50/p99 (record's Kafka
     CreateTime -> sink receipt, matched by webhook-id = topic-partition-offset), the
     notifier's CPU % and RSS, and at the window's end the records not yet read (offered - read)
     and gitopsd_notifier_records_in_flight. Between rates it waits for the backlog to drain.
Usage: bench/notifier_headroom.py [--rates 1000,2000] [--duration 30] [--build DIR] [--keep]
"""
import argparse, asyncio, base64, json, os, re, shutil, subprocess, sys, tempfile, time, urllib.request

import apply_latency as al
import notify_common as nc

REPOSITORY = "infra"


# ---- the sink (a process of its own: `notifier_headroom.py --sink PORT`) ---------------------

class SinkProtocol(asyncio.Protocol):
    """HTTP/1.1 just enough for a POST with Content-Length, keep-alive or close. GET /receipts
    answers {"count": POSTs, "receipts": {webhook-id: unix seconds}} since the last one."""

    receipts, count = {}, 0

    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1")
            length = re.search(r"(?im)^content-length:\s*(\d+)", head)
            total = head_end + 4 + (int(length.group(1)) if length else 0)
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            now = time.time()
            if not head.startswith("GET /receipts"):
                SinkProtocol.count += 1
            webhook_id = re.search(r"(?im)^webhook-id:\s*(\S+)", head)
            if webhook_id:
                SinkProtocol.receipts.setdefault(webhook_id.group(1), now)
            close = re.search(r"(?im)^connection:\s*close", head) is not None
            if head.startswith("GET /receipts"):
                body = json.dumps({"count": SinkProtocol.count, "receipts": SinkProtocol.receipts}).encode()
                SinkProtocol.receipts, SinkProtocol.count = {}, 0
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                     + str(len(body)).encode() + b"\r\n\r\n" + body)
            else:
                self.transport.write(b"HTTP/1.1 204 No Content\r\n" + (b"Connection: close\r\n" if close else b"")
                                     + b"\r\n")
            if close:
                self.transport.close()
                return


def serve_sink(port):
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(SinkProtocol, "127.0.0.1", port, backlog=1024))
    print("sink ready", flush=True)
    loop.run_until_complete(server.serve_forever())


def sink_receipts(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/receipts", timeout=30) as answer:
        return json.loads(answer.read())


# ---- the driver --------------------------------------------------------------------------------

def wrk_rate(port, secs, close, body_file):
    """Requests/s wrk gets from the sink: POSTs of the notification's size, 1 thread, 4 connections."""
    script = os.path.join(os.path.dirname(body_file), "post.lua")
    with open(script, "w") as f:
        f.write(f'wrk.method = "POST"\nlocal f = io.open("{body_file}")\nwrk.body = f:read("*a")\nf:close()\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                + ('wrk.headers["Connection"] = "close"\n' if close else ""))
    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{secs}s", "-s", script, f"http://127.0.0.1:{port}/hook"],
                         capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Socket errors: (.*)", out)
    rate = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
    answered, counted = int(re.search(r"(\d+) requests in", out).group(1)), sink_receipts(port)["count"]
    if counted < answered:  # the sink must have seen every request wrk counts
        raise SystemExit(f"the sink counted {counted} requests, wrk {answered}")
    return rate, errors.group(1) if errors else "none"


def run_rate(producer, rate, duration, sink_port, admin, notifier_pid, offered_before):
    """Publishes `rate` results/s for `duration` s; the window's figures."""
    record = nc.result_json(REPOSITORY, "web", "a" * 40)
    cpu0, started = nc.cpu_seconds(notifier_pid), time.time()
    sent = 0
    while (elapsed := time.time() - started) < duration:
        while sent < int(elapsed * rate):  # what is due by now, every 10 ms
            producer.send(REPOSITORY, record, tag=offered_before + sent)
            sent += 1
        time.sleep(0.01)
    ended = time.time()
    cpu = (nc.cpu_seconds(notifier_pid) - cpu0) / (ended - started)
    producer.flush()
    m = nc.metrics(admin)
    read = m.get('gitopsd_notifier_records_total{topic="gitopsd.results",outcome="read"}', 0)
    in_flight = m.get("gitopsd_notifier_records_in_flight", 0)
    rss = nc.rss_mib(notifier_pid)
    window = sink_receipts(sink_port)["receipts"]
    in_window = sum(1 for t in window.values() if t <= ended)
    # Then the backlog drains (not counted in the window's rate), so every delay is known.
    receipts = dict(window)
    deadline = time.time() + max(60, 3 * duration)
    while len(receipts) < sent and time.time() < deadline:
        time.sleep(0.5)
        receipts.update(sink_receipts(sink_port)["receipts"])
    delays = []
    for webhook_id, t in receipts.items():
        _, partition, offset = webhook_id.rsplit("-", 2)
        created = producer.by_place.get((int(partition), int(offset)))
        if created is not None:
            delays.append(t - created / 1000)
    return {"rate": rate, "sent": sent, "secs": ended - started, "in_window": in_window, "received": len(receipts),
            "delays": delays, "cpu": cpu, "rss": rss, "unread": offered_before + sent - read, "in_flight": in_flight,
            "drained": time.time() - ended}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="1000", help="results/s to offer, comma-separated, in turn")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--baseline-secs", type=int, default=10)
    ap.add_argument("--build", default=os.path.join(al.ROOT, "build"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, config)")
    ap.add_argument("--sink", type=int, help=argparse.SUPPRESS)  # run as the sink on this port
    args = ap.parse_args()
    if args.sink:
        return serve_sink(args.sink)
    tmp = tempfile.mkdtemp(prefix="gitopsd-headroom-bench-")
    procs = []
    try:
        sink_port, admin = al.free_port(), al.free_port()
        sink = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--sink", str(sink_port)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(sink)
        sink.stdout.readline()
        body_file = os.path.join(tmp, "notification.json")
        with open(body_file, "w") as f:  # about the size of the notification the notifier sends
            f.write(json.dumps({"schema": "gitopsd.notification.v1", "id": "gitopsd.results-0-123456",
                                "repository": REPOSITORY, "target": "web", "commit": "a" * 40, "status": "applied",
                                "rollback": False, "event_id": "x" * 36, "message": "bench", "output_tail": "",
                                "link": "", "at": nc.timestamp()}))
        print(f"1. baseline: the sink alone under wrk, {args.baseline_secs} s each", flush=True)
        close_rate, close_errors = wrk_rate(sink_port, args.baseline_secs, True, body_file)
        alive_rate, _ = wrk_rate(sink_port, args.baseline_secs, False, body_file)
        sink_receipts(sink_port)

        bootstrap = nc.start_broker(tmp)
        for name, text in (("secret", "bench-webhook-secret-0123456789"),
                           ("whsec", "whsec_" + base64.b64encode(b"a 32-byte signing key for bench!").decode())):
            with open(os.open(os.path.join(tmp, name), os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(text + "\n")
        config = os.path.join(tmp, "gitopsd.yaml")
        with open(config, "w") as f:
            f.write(nc.kafka_yaml(bootstrap) + f"""notify:
  admin_listen: "127.0.0.1:{admin}"
  sinks:
    - {{name: bench, type: webhook, url: "http://127.0.0.1:{sink_port}/hook", secret: {{file: {tmp}/whsec}},
       on: [applied]}}
repositories:
  - name: {REPOSITORY}
    provider: github
    match: acme/{REPOSITORY}
    url: https://github.com/acme/{REPOSITORY}.git
    secrets: [{{file: {tmp}/secret}}]
    targets:
      - {{name: web, path: web, apply: {{type: files, dest: {tmp}/web}}}}
""")
        nc.init_topics(args.build, config)
        notifier = nc.start_notifier(args.build, config, tmp, admin, log_level="warn")
        procs.insert(0, notifier)
        producer = nc.Producer(bootstrap, "gitopsd.results", linger_ms=5)
        producer.send(REPOSITORY, nc.result_json(REPOSITORY, "web", "a" * 40), tag="warm-up")
        producer.flush()
        while not sink_receipts(sink_port)["receipts"]:
            time.sleep(0.1)
        offered = 1
        runs = []
        for rate in [int(r) for r in args.rates.split(",")]:
            print(f"2. {rate} results/s for {args.duration:g} s", flush=True)
            runs.append(run_rate(producer, rate, args.duration, sink_port, admin, notifier.pid, offered))
            offered += runs[-1]["sent"]

        print(f"\nsink alone (wrk, 4 connections): {close_rate:,.0f} req/s with a new connection per request "
              f"(socket errors: {close_errors}), {alive_rate:,.0f} req/s kept alive")
        for r in runs:
            delivered = r["in_window"] / r["secs"]
            offered_rate = r["sent"] / r["secs"]
            delays = r["delays"] or [float("nan")]
            print(f"offered {offered_rate:,.0f}/s for {r['secs']:.1f} s: received at the sink {delivered:,.0f}/s "
                  f"(delivered/offered {delivered / offered_rate:.2f}, {delivered / close_rate:.2f} of the sink's "
                  f"new-connection capacity)")
            print(f"  delay published -> received: p50 {nc.ms(al.percentile(delays, 50))}  "
                  f"p99 {nc.ms(al.percentile(delays, 99))}  max {nc.ms(max(delays))}")
            print(f"  notifier: CPU {r['cpu'] * 100:.0f}% of a core, RSS {r['rss']:.0f} MiB; at the window's end "
                  f"{r['unread']:,.0f} records not yet read, {r['in_flight']:,.0f} in flight; all {r['received']:,} "
                  f"of {r['sent']:,} received {r['drained']:.1f} s after the window")
    finally:
        al.stop(procs, os.path.join(tmp, "kafka"))
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
