"""What the notifier benches and scale.py share: a broker with the topics made, gitopsd.result.v1
records produced with librdkafka (confluent-kafka; CreateTime timestamps, read from the delivery
reports), the notifier started, a daemon's /metrics and /proc figures. Helpers of the other
benches (free_port, percentile, stop) come from apply_latency."""
import datetime, json, os, subprocess, time, urllib.request, uuid

import apply_latency as al

ROOT = al.ROOT


def start_broker(tmp):
    """A fresh broker in tmp/kafka on a free port; its bootstrap address."""
    return subprocess.check_output([os.path.join(ROOT, "deploy/kafka/broker.sh"), "start", "--dir",
                                    os.path.join(tmp, "kafka"), "--port", "0"], text=True, timeout=300).strip()


def binary(build, path):
    """build/path (a build tree: ctl/gitopsctl), else build/<its name> (a directory of binaries)."""
    for candidate in (os.path.join(build, path), os.path.join(build, os.path.basename(path))):
        if os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit(f"no {path} in {build} (nor {os.path.basename(path)}): build it or give its directory")


def init_topics(build, config, partitions=1, gitopsctl=None):
    """The five topics, `partitions` each, as `gitopsctl init-topics` makes them (a consumer
    learns of a topic made after it subscribed only at its next metadata refresh)."""
    subprocess.run([gitopsctl or binary(build, "ctl/gitopsctl"), "init-topics", "--config", config,
                    "--partitions", str(partitions), "--replication", "1", "--timeout", "60s"],
                   check=True, stdout=subprocess.DEVNULL, timeout=120)


def timestamp(t=None):
    """RFC 3339 UTC with milliseconds, as gitopsd writes them."""
    t = datetime.datetime.now(datetime.timezone.utc) if t is None else t
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def result_json(repository, target, commit, status="applied", message="bench"):
    """A gitopsd.result.v1 (schemas/result.v1.json) as a worker publishes it, on one line."""
    now = timestamp()
    return json.dumps({"schema": "gitopsd.result.v1", "event_id": str(uuid.uuid4()), "repository": repository,
                       "target": target, "commit": commit, "status": status, "rollback": False, "attempt": 1,
                       "worker": "bench:1", "started_at": now, "finished_at": now, "duration_ms": 0,
                       "message": message, "output_tail": ""}, separators=(",", ":"))


class Producer:
    """A librdkafka producer (confluent-kafka): records get their CreateTime when produced, and
    each delivery report gives (partition, offset, timestamp) to `placed`. linger_ms is the
    batching delay (0 for a latency run)."""

    def __init__(self, bootstrap, topic, linger_ms=0):
        self.topic = topic
        self.producer = librdkafka_producer(bootstrap, linger_ms)
        self.placed = {}  # key -> (partition, offset, CreateTime in Unix ms)
        self.by_place = {}  # (partition, offset) -> CreateTime in Unix ms
        self.failed = 0

    def send(self, key, value, tag=None):
        """Produces `value`; `tag` (default the key) names it in `placed`."""
        tag = key if tag is None else tag

        def report(error, message):
            if error is not None:
                self.failed += 1
                return
            ts = message.timestamp()[1]
            self.placed[tag] = (message.partition(), message.offset(), ts)
            self.by_place[(message.partition(), message.offset())] = ts
        while True:
            try:
                self.producer.produce(self.topic, value=value, key=key, on_delivery=report)
                break
            except BufferError:  # the local queue is full: let deliveries drain
                self.producer.poll(0.01)
        self.producer.poll(0)

    def wait(self, tag, timeout=30):
        """The CreateTime (Unix ms) of the record tagged `tag`, once its delivery is reported."""
        end = time.time() + timeout
        while tag not in self.placed:
            if time.time() > end:
                raise SystemExit(f"record {tag} not delivered within {timeout} s")
            self.producer.poll(0.005)
        return self.placed[tag][2]

    def flush(self, timeout=60):
        if self.producer.flush(timeout) > 0 or self.failed:
            raise SystemExit(f"records not delivered: {len(self.producer)} queued, {self.failed} failed")


def confluent_kafka():
    try:
        import confluent_kafka as module
    except ImportError:
        raise SystemExit("this bench needs confluent-kafka: apt-get install python3-confluent-kafka (scripts/setup.sh "
                         "does; it is /usr/bin/python3's, not a pyenv or venv python's)")
    return module


def librdkafka_producer(bootstrap, linger_ms):
    return confluent_kafka().Producer({"bootstrap.servers": bootstrap, "linger.ms": linger_ms, "acks": "all",
                                     "queue.buffering.max.messages": 1000000})


def kafka_yaml(bootstrap):
    return f"""kafka:
  brokers: "{bootstrap}"
"""


def start_notifier(build, config, tmp, admin_port, log_level="info"):
    """gitopsd-notifier on `config`, logging to tmp/notifier.log; returns once /readyz answers."""
    log = open(os.path.join(tmp, "notifier.log"), "w")
    proc = subprocess.Popen([os.path.join(build, "notifier/gitopsd-notifier"), "--config", config,
                             "--log-level", log_level], stderr=log, stdout=log)
    end = time.time() + 60
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"gitopsd-notifier exited ({proc.returncode}); see {tmp}/notifier.log")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=1).status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("gitopsd-notifier not ready within 60 s")


def metrics(admin_port):
    """The notifier's /metrics as {'name{labels}': value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def cpu_seconds(pid):
    """utime + stime of all the process's threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_mib(pid, field):
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM: the peak RSS) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid):
    return status_mib(pid, "VmRSS")


def ms(seconds):
    return f"{seconds * 1000:7.1f} ms"
