#!/usr/bin/env bash
# Throughput of two gitopsd-receivers against one, on a three-node Kafka cluster (a benchmark,
# not a test). See bench/README.md.
#
#   bench/cluster_receivers.sh [--receiver PATH] [--gitopsctl PATH] [--duration SECS]
#                              [--connections N] [--warmup SECS] [--partitions N]
#                              [--version V] [--keep]
#
# 1. starts a three-node KRaft cluster (deploy/kafka/broker.sh start --nodes 3) and creates the
#    topics with `gitopsctl init-topics --replication 3` (min.insync.replicas=2);
# 2. starts two receivers with the same config;
# 3. "1 receiver": two wrk processes (--connections split between them) both POST signed
#    pushes to receiver A; "2 receivers": the same two wrk processes, one per receiver, as a
#    load balancer would spread them. Only 202 (published, acks=all) counts as acknowledged;
# 4. prints req/s, p50/p99 (the worse of the two wrk processes), the CPU the receivers and
#    the brokers used, how busy the machine was, each broker's RSS, and the ratio 2:1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
prog=cluster_receivers
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

receiver="$root/build/receiver/gitopsd-receiver"
gitopsctl="$root/build/ctl/gitopsctl"
duration=20
connections=64
warmup=3
partitions=6
version=
keep=0

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --receiver) receiver=$2; shift 2 ;;
    --gitopsctl) gitopsctl=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --partitions) partitions=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
for v in duration connections warmup partitions; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "--$v must be a whole number, got '${!v}'"
done
[ "$duration" -ge 1 ] && [ "$connections" -ge 2 ] || die "--duration must be >= 1 and --connections >= 2"
for tool in wrk curl python3 openssl; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install $tool)"
done
[ -x "$receiver" ] || die "receiver binary not found: $receiver (build it, or pass --receiver PATH)"
[ -x "$gitopsctl" ] || die "gitopsctl not found: $gitopsctl (build it, or pass --gitopsctl PATH)"

tmp=$(mktemp -d /tmp/gitopsd-cluster-bench.XXXXXX)
pids=()   # receivers A and B
cluster_started=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do stop_pid "$pid" gitopsd-receiver; done
  [ "$cluster_started" = 0 ] || "$root/deploy/kafka/broker.sh" stop --dir "$tmp/kafka" >&2 || true
  if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then
    echo "$prog: logs and files kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

broker_pids() { cat "$tmp"/kafka/node*/broker.pid; }

# "receivers-cpu-ticks brokers-cpu-ticks busy-jiffies all-jiffies" right now.
snapshot() {
  local r=0 b=0 pid
  for pid in "${pids[@]}"; do r=$(( r + $(cpu_ticks "$pid") )); done
  for pid in $(broker_pids); do b=$(( b + $(cpu_ticks "$pid") )); done
  echo "$r $b $(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)"
}

# wrk_to URL OUT SECS [--latency]: one wrk process with half the connections.
wrk_to() {
  wrk -t1 -c$(( connections / 2 )) -d"$3s" --timeout 5s ${4:-} -s "$here/github_push.lua" "$1" \
      -- "$tmp/payload.json" "$tmp/signature" "$(nonce)" 202 >"$2" 2>&1
}

# run_phase NAME URL1 URL2: warm-up, then the measured run of two wrk processes side by side;
# leaves $tmp/NAME.1.bench, NAME.2.bench and NAME.cpu (snapshots before and after).
run_phase() {
  local name=$1 u1=$2 u2=$3 w1 w2
  if [ "$warmup" -gt 0 ]; then
    log "$name: warm-up ${warmup}s"
    wrk_to "$u1" "$tmp/$name.warmup1.out" "$warmup" & w1=$!
    wrk_to "$u2" "$tmp/$name.warmup2.out" "$warmup" & w2=$!
    wait "$w1" && wait "$w2" || die "wrk warm-up of $name failed"
  fi
  log "$name: 2 x wrk -t1 -c$(( connections / 2 )) -d${duration}s ($u1, $u2)"
  snapshot >"$tmp/$name.cpu"
  wrk_to "$u1" "$tmp/$name.1.out" "$duration" --latency & w1=$!
  wrk_to "$u2" "$tmp/$name.2.out" "$duration" --latency & w2=$!
  wait "$w1" && wait "$w2" || die "wrk run of $name failed: $(cat "$tmp/$name".?.out)"
  snapshot >>"$tmp/$name.cpu"
  for i in 1 2; do
    grep '^BENCH ' "$tmp/$name.$i.out" | tail -1 | sed 's/^BENCH //' >"$tmp/$name.$i.bench"
    [ -s "$tmp/$name.$i.bench" ] || die "wrk printed no BENCH line (see $tmp/$name.$i.out)"
  done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || die "a receiver died during $name"; done
}

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
make_payload

log "starting a three-node Kafka cluster"
cluster_started=1
bootstrap=$("$root/deploy/kafka/broker.sh" start --dir "$tmp/kafka" --nodes 3 --port 0 ${version:+--version "$version"}) \
  || die "the Kafka cluster did not start"
log "cluster: $bootstrap"

read -r -a ports <<<"$(python3 -c 'import socket
s=[socket.socket() for _ in range(4)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')"
receiver_config "$tmp/gitopsd-a.yaml" "${ports[0]}" "${ports[1]}"
receiver_config "$tmp/gitopsd-b.yaml" "${ports[2]}" "${ports[3]}"
"$gitopsctl" init-topics --partitions "$partitions" --replication 3 --config "$tmp/gitopsd-a.yaml" >&2 \
  || die "gitopsctl init-topics failed"

urls=()
for n in a b; do
  i=${#pids[@]}
  "$receiver" --config "$tmp/gitopsd-$n.yaml" >"$tmp/receiver-$n.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:${ports[2*i+1]}/healthz" 30 "${pids[i]}" "gitopsd-receiver $n" \
    || die "gitopsd-receiver $n did not come up: $(tail -20 "$tmp/receiver-$n.log")"
  urls+=("http://127.0.0.1:${ports[2*i]}/hooks/github")
  ok=0
  for try in $(seq 1 60); do
    [ "$(post "${urls[i]}" "$signature" "bench-check-$(nonce)-$try")" = 202 ] && { ok=1; break; }
    sleep 1
  done
  [ "$ok" = 1 ] || die "gitopsd-receiver $n never answered 202: $(cat "$tmp/last_body"); $(tail -20 "$tmp/receiver-$n.log")"
done
log "receivers a and b answer 202 to a signed push"

run_phase one "${urls[0]}" "${urls[0]}"
run_phase two "${urls[0]}" "${urls[1]}"
for k in 1 2 3; do
  echo "$k $(awk '/^VmRSS/{print $2}' "/proc/$(cat "$tmp/kafka/node$k/broker.pid")/status")" >>"$tmp/rss"
done

python3 - "$tmp" "$payload_bytes" "$duration" "$connections" "$partitions" "$(nproc)" "$loadavg_start" <<'PY'
import os, sys
tmp, size, dur, conns, parts, cores, loadavg = sys.argv[1:]
tck = os.sysconf("SC_CLK_TCK")

def bench(name, i):
    with open(os.path.join(tmp, f"{name}.{i}.bench")) as f:
        return {k: (v if k == "statuses" else float(v)) for k, v in (x.split("=", 1) for x in f.read().split())}

def phase(name):
    runs = [bench(name, 1), bench(name, 2)]
    with open(os.path.join(tmp, name + ".cpu")) as f:
        before, after = ([int(x) for x in line.split()] for line in f.read().splitlines())
    d = [a - b for a, b in zip(after, before)]
    return {
        "rps": sum(r["ack"] / (r["duration_us"] / 1e6) for r in runs),
        "p50": max(r["p50_us"] for r in runs) / 1000, "p99": max(r["p99_us"] for r in runs) / 1000,
        "errors": int(sum(r["not_ack"] + r["socket_errors"] for r in runs)),
        "statuses": " ".join(r["statuses"] for r in runs),
        "receivers_cpu": d[0] / tck, "brokers_cpu": d[1] / tck, "busy": d[2] / d[3] if d[3] else 0,
    }

one, two = phase("one"), phase("two")
print()
print(f"receivers on a 3-node cluster: {int(size)} B signed GitHub push, {conns} connections "
      f"(2 wrk x {int(conns)//2}), {dur} s, events topic RF 3 / min.insync.replicas 2 / {parts} partitions, "
      f"{cores} cores (load average before: {loadavg})")
print(f"{'receivers':<10} {'202 req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
      f"{'receivers CPU s':>16} {'brokers CPU s':>14} {'machine busy':>13}  statuses")
for label, p in (("1", one), ("2", two)):
    print(f"{label:<10} {p['rps']:>10.1f} {p['p50']:>8.2f} {p['p99']:>8.2f} {p['errors']:>7} "
          f"{p['receivers_cpu']:>16.1f} {p['brokers_cpu']:>14.1f} {p['busy']*100:>12.0f}%  {p['statuses']}")
print(f"ratio 2:1 (202 req/s): {two['rps'] / one['rps']:.2f}")
with open(os.path.join(tmp, "rss")) as f:
    print("broker RSS after the runs: " + ", ".join(f"node {k} {int(kib)//1024} MiB" for k, kib in
                                                     (line.split() for line in f)))
PY
