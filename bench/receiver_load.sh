#!/usr/bin/env bash
# Load benchmark (not a test) for gitopsd-receiver, with adnanh/webhook as the baseline.
# See bench/README.md.
#
#   bench/receiver_load.sh [--receiver PATH] [--duration SECS] [--connections N]
#                          [--threads N] [--warmup SECS] [--timeout SECS]
#                          [--baseline-only | --receiver-only] [--keep]
#
# 1. generates a ~7 KB signed GitHub push payload (bench/gen_payload.py);
# 2. starts a real Kafka broker (deploy/kafka/broker.sh) and gitopsd-receiver on it;
#    runs wrk against POST /hooks/github, counting only 202 (published, acks=all) as acknowledged;
# 3. stops both, starts adnanh/webhook (hook `github` running /bin/true behind a
#    payload-hmac-sha256 rule) and runs the same wrk load with the same payload,
#    counting 2xx as acknowledged;
# 4. prints a summary (req/s, p50/p99, CPU µs per answer) and PASS/MISS against the targets
#    (>= 10x baseline, p99 < 25 ms, <= 40 µs CPU per answer).
# Exit status: 0 when the benchmark ran (even on MISS), non-zero when something failed to run.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

receiver="$root/build/receiver/gitopsd-receiver"
duration=20
connections=64
threads=2
warmup=3
timeout=5
baseline_only=0
receiver_only=0
keep=0

prog=receiver_load
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --receiver) receiver=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --baseline-only) baseline_only=1; shift ;;
    --receiver-only) receiver_only=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
for v in duration connections threads warmup timeout; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "--$v must be a whole number, got '${!v}'"
done
[ "$duration" -ge 1 ] || die "--duration must be at least 1"
[ "$baseline_only" = 1 ] && [ "$receiver_only" = 1 ] && die "--baseline-only and --receiver-only exclude each other"
[ "$threads" -ge 1 ] && [ "$connections" -ge "$threads" ] || die "--connections must be >= --threads >= 1"

for tool in wrk curl python3 openssl; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install $tool)"
done
webhook_bin=$(command -v webhook || true)
[ -n "$webhook_bin" ] || [ "$receiver_only" = 1 ] || die "webhook not found (apt-get install webhook)"
if [ "$baseline_only" = 0 ]; then
  [ -x "$receiver" ] || die "receiver binary not found or not executable: $receiver (build it, or pass --receiver PATH)"
  receiver=$(cd "$(dirname "$receiver")" && pwd)/$(basename "$receiver")
fi

tmp=$(mktemp -d /tmp/gitopsd-bench.XXXXXX)
receiver_pid=""
webhook_pid=""
broker_started=0

stop_receiver() { stop_pid "$receiver_pid" gitopsd-receiver; receiver_pid=""; }
stop_webhook() { stop_pid "$webhook_pid" webhook; webhook_pid=""; }
stop_broker() {
  if [ "$broker_started" = 1 ]; then
    "$root/deploy/kafka/broker.sh" stop --dir "$tmp/kafka" >&2 || true
    broker_started=0
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_receiver
  stop_webhook
  stop_broker
  if [ "$keep" = 1 ] || [ "$rc" != 0 ]; then
    echo "receiver_load: logs and files kept in $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_wrk NAME URL ACK_MODE PID: warm-up (if any), then the measured run; leaves $tmp/NAME.bench
# and $tmp/NAME.cpu (the server's CPU seconds over the measured run).
run_wrk() {
  local name=$1 url=$2 mode=$3 pid=$4 ticks_before ticks_after
  if [ "$warmup" -gt 0 ]; then
    log "$name: warm-up ${warmup}s"
    wrk -t"$threads" -c"$connections" -d"${warmup}s" --timeout "${timeout}s" \
        -s "$here/github_push.lua" "$url" -- "$tmp/payload.json" "$tmp/signature" "$(nonce)" "$mode" \
        >"$tmp/$name.warmup.out" 2>&1 || die "wrk warm-up against $name failed: $(cat "$tmp/$name.warmup.out")"
  fi
  log "$name: wrk -t$threads -c$connections -d${duration}s POST $url"
  ticks_before=$(cpu_ticks "$pid")
  wrk -t"$threads" -c"$connections" -d"${duration}s" --timeout "${timeout}s" --latency \
      -s "$here/github_push.lua" "$url" -- "$tmp/payload.json" "$tmp/signature" "$(nonce)" "$mode" \
      >"$tmp/$name.out" 2>&1 || die "wrk against $name failed: $(cat "$tmp/$name.out")"
  ticks_after=$(cpu_ticks "$pid")
  python3 -c 'import os, sys; print((int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf("SC_CLK_TCK"))' \
          "$ticks_before" "$ticks_after" >"$tmp/$name.cpu"
  sed 's/^/    /' "$tmp/$name.out" >&2
  grep '^BENCH ' "$tmp/$name.out" | tail -1 | sed 's/^BENCH //' >"$tmp/$name.bench"
  [ -s "$tmp/$name.bench" ] || die "wrk printed no BENCH line for $name (see $tmp/$name.out)"
}

# ---------------------------------------------------------------- payload
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
make_payload

# ---------------------------------------------------------------- gitopsd-receiver
if [ "$baseline_only" = 0 ]; then
  log "starting Kafka broker"
  broker_started=1
  bootstrap=$("$root/deploy/kafka/broker.sh" start --dir "$tmp/kafka" --port 0) || die "Kafka broker did not start"
  bootstrap=$(printf '%s\n' "$bootstrap" | tail -1)
  log "broker: $bootstrap"

  rport=$(free_port); aport=$(free_port)
  while [ "$aport" = "$rport" ]; do aport=$(free_port); done
  mkdir -p "$tmp/apply"
  receiver_config "$tmp/gitopsd.yaml" "$rport" "$aport"
  log "starting $receiver (listen 127.0.0.1:$rport, admin 127.0.0.1:$aport)"
  "$receiver" --config "$tmp/gitopsd.yaml" >"$tmp/receiver.log" 2>&1 &
  receiver_pid=$!
  wait_http "http://127.0.0.1:$aport/healthz" 30 "$receiver_pid" gitopsd-receiver \
    || die "gitopsd-receiver did not come up; last log lines:
$(tail -20 "$tmp/receiver.log")"

  rurl="http://127.0.0.1:$rport/hooks/github"
  code=$(post "$rurl" "$wrong_sig" "bench-check-wrong-$(nonce)")
  [ "$code" = 401 ] || die "gitopsd-receiver answered $code (expected 401) to a wrong signature: $(cat "$tmp/last_body")"
  # The first publish creates the topic and the producer id: allow it some time.
  ok=0
  for i in $(seq 1 60); do
    code=$(post "$rurl" "$signature" "bench-check-$(nonce)-$i")
    if [ "$code" = 202 ]; then ok=1; break; fi
    kill -0 "$receiver_pid" 2>/dev/null || break
    sleep 1
  done
  [ "$ok" = 1 ] || die "gitopsd-receiver never answered 202 to a signed push (last: $code $(cat "$tmp/last_body" 2>/dev/null)); log:
$(tail -20 "$tmp/receiver.log")"
  log "gitopsd-receiver: wrong signature -> 401, signed push -> 202 $(cat "$tmp/last_body")"

  run_wrk gitopsd "$rurl" 202 "$receiver_pid"
  kill -0 "$receiver_pid" 2>/dev/null || die "gitopsd-receiver died during the run; log:
$(tail -20 "$tmp/receiver.log")"
  stop_receiver
  # Cross-check: every 202 must be a message on gitopsd.events (checks + warm-up + run).
  if command -v kcat >/dev/null; then
    acked=$(( 1 + $(sed -n 's/.* ack=\([0-9]*\) .*/\1/p' "$tmp/gitopsd.bench") ))
    if [ -f "$tmp/gitopsd.warmup.out" ]; then
      acked=$(( acked + $(grep '^BENCH ' "$tmp/gitopsd.warmup.out" | sed -n 's/.* ack=\([0-9]*\) .*/\1/p') ))
    fi
    in_kafka=$(kcat -C -b "$bootstrap" -t gitopsd.events -o beginning -e -q -f 'x\n' 2>"$tmp/kcat.err" | wc -l) \
      || in_kafka="?"
    echo "$acked $in_kafka" >"$tmp/kafka.check"
    if [ "$in_kafka" = "?" ] || [ "$in_kafka" -lt "$acked" ]; then
      echo "receiver_load: WARNING: gitopsd-receiver answered 202 $acked times but gitopsd.events holds $in_kafka messages ($(head -3 "$tmp/kcat.err"))" >&2
    else
      log "Kafka: gitopsd.events holds $in_kafka messages for $acked answers 202"
    fi
  fi
  stop_broker
fi

# ---------------------------------------------------------------- adnanh/webhook baseline
if [ "$receiver_only" = 0 ]; then
wport=$(free_port)
python3 - "$tmp/hooks.json" "$secret" <<'PY'
import json, sys
path, secret = sys.argv[1], sys.argv[2]
hooks = [{
    "id": "github",
    "execute-command": "/bin/true",
    "command-working-directory": "/",
    "response-message": "acknowledged",
    # default would be 200 "Hook rules were not satisfied." for a missing signature
    "trigger-rule-mismatch-http-response-code": 401,
    "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": secret,
                               "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
}]
with open(path, "w") as f:
    json.dump(hooks, f, indent=2)
PY
chmod 600 "$tmp/hooks.json"
log "starting $webhook_bin ($("$webhook_bin" -version 2>&1 | head -1)) on 127.0.0.1:$wport"
"$webhook_bin" -hooks "$tmp/hooks.json" -ip 127.0.0.1 -port "$wport" -http-methods POST \
  >"$tmp/webhook.log" 2>&1 &
webhook_pid=$!
wurl="http://127.0.0.1:$wport/hooks/github"
up=0
for _ in $(seq 1 100); do
  kill -0 "$webhook_pid" 2>/dev/null || break
  code=$(post "$wurl" "$signature" "bench-check-$(nonce)")
  [ "$code" != 000 ] && { up=1; break; }
  sleep 0.1
done
[ "$up" = 1 ] || die "webhook did not come up; log: $(tail -20 "$tmp/webhook.log")"
# The baseline must really verify the signature, or the comparison means nothing.
[[ $code == 2?? ]] && grep -q acknowledged "$tmp/last_body" \
  || die "webhook did not accept a correctly signed push (got $code: $(cat "$tmp/last_body"))"
code=$(post "$wurl" "$wrong_sig" "bench-check-wrong-$(nonce)")
[[ $code == 2?? ]] && die "webhook answered $code to a WRONG signature: the baseline does not verify; refusing to compare"
wcode_wrong=$code
code=$(post "$wurl" "" "bench-check-nosig-$(nonce)")
[[ $code == 2?? ]] && die "webhook answered $code to a push WITHOUT signature: the baseline does not verify; refusing to compare"
log "webhook: signed push -> 2xx, wrong signature -> $wcode_wrong, no signature -> $code"

run_wrk webhook "$wurl" 2xx "$webhook_pid"
kill -0 "$webhook_pid" 2>/dev/null || die "webhook died during the run"
stop_webhook
fi

# ---------------------------------------------------------------- summary
python3 - "$tmp" "$baseline_only" "$receiver_only" "$payload_bytes" "$duration" "$connections" "$threads" "$(nproc)" "$loadavg_start" <<'PY'
import os, sys
tmp, baseline_only, receiver_only, size, dur, conns, thr, cores, loadavg = sys.argv[1:]

def load(name):
    with open(os.path.join(tmp, name + ".bench")) as f:
        kv = dict(x.split("=", 1) for x in f.read().split())
    d = {k: (v if k == "statuses" else float(v)) for k, v in kv.items()}
    d["ack_rps"] = d["ack"] / (d["duration_us"] / 1e6)
    d["errors"] = int(d["not_ack"] + d["socket_errors"])
    # The server's CPU time over the measured run per answer wrk received (any status).
    with open(os.path.join(tmp, name + ".cpu")) as f:
        d["cpu_s"] = float(f.read())
    d["cpu_us"] = d["cpu_s"] * 1e6 / d["responses"] if d["responses"] else float("inf")
    return d

rows = []
if baseline_only == "0":
    rows.append(("gitopsd-receiver", "202", load("gitopsd")))
if receiver_only == "0":
    rows.append(("webhook (baseline)", "2xx", load("webhook")))

print()
print(f"receiver load benchmark: {int(size)} B signed GitHub push, {conns} connections, "
      f"{thr} wrk threads, {dur} s, {cores} cores (load average before: {loadavg})")
print(f"{'server':<20} {'ack':>4} {'ack req/s':>11} {'p50 ms':>9} {'p99 ms':>9} {'CPU µs/answer':>14} "
      f"{'errors':>8}  statuses / socket errors")
for name, ack, d in rows:
    sock = "c{:.0f} r{:.0f} w{:.0f} t{:.0f}".format(d["connect"], d["read"], d["write"], d["timeout"])
    print(f"{name:<20} {ack:>4} {d['ack_rps']:>11.1f} {d['p50_us']/1000:>9.2f} {d['p99_us']/1000:>9.2f} "
          f"{d['cpu_us']:>14.1f} {d['errors']:>8}  {d['statuses']} / {sock}")
if baseline_only == "0":
    g = rows[0][2]
    p99 = g["p99_us"] / 1000
    print(f"gitopsd-receiver CPU: {g['cpu_s']:.2f} s (utime+stime, all threads) over "
          f"{int(g['responses'])} answers = {g['cpu_us']:.1f} µs per answer")
    kc = os.path.join(tmp, "kafka.check")
    if os.path.exists(kc):
        acked, in_kafka = open(kc).read().split()
        print(f"gitopsd.events: {in_kafka} messages in Kafka for {acked} answers 202 "
              f"(checks + warm-up + run; requests in flight when wrk stops are published, not counted)")
    if receiver_only == "0":
        w = rows[1][2]
        ratio = g["ack_rps"] / w["ack_rps"] if w["ack_rps"] > 0 else float("inf")
        print(f"ratio gitopsd/webhook (acknowledged req/s): {ratio:.2f}x")
        print(f"target >= 10x baseline : {'PASS' if ratio >= 10 else 'MISS'} ({ratio:.2f}x)")
    print(f"target gitopsd p99 < 25 ms: {'PASS' if p99 < 25 else 'MISS'} ({p99:.2f} ms)")
    print(f"target gitopsd CPU <= 40 µs per answer: {'PASS' if g['cpu_us'] <= 40 else 'MISS'} "
          f"({g['cpu_us']:.1f} µs)")
else:
    print("gitopsd-receiver not measured (--baseline-only): no ratio, no PASS/MISS")
PY
