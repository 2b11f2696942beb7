# Shell helpers the load benchmarks share (sourced; $prog names the script in messages, $tmp
# is its temporary directory).

die() { echo "$prog: error: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
nonce() { python3 -c 'import secrets; print(secrets.token_hex(4))'; }

stop_pid() {   # stop_pid PID NAME: SIGTERM, wait up to 10 s, then SIGKILL
  local pid=$1 name=$2
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$prog: $name (pid $pid) did not stop on SIGTERM within 10 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# wait_http URL SECONDS PID NAME: until GET URL answers 200, the process being alive.
wait_http() {
  local url=$1 secs=$2 pid=$3 name=$4 code
  for _ in $(seq 1 $((secs * 10))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local st=0; wait "$pid" 2>/dev/null || st=$?
      echo "$prog: $name exited (status $st) before answering on $url" >&2
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null || true)
    [ "$code" = 200 ] && return 0
    sleep 0.1
  done
  echo "$prog: $name did not answer 200 on $url within $secs s (last: ${code:-none})" >&2
  return 1
}

# post URL SIGNATURE DELIVERY -> prints the HTTP status (000 when no answer)
post() {
  local url=$1 sig=$2 delivery=$3 hdr=()
  [ -n "$sig" ] && hdr=(-H "X-Hub-Signature-256: $sig")
  curl -s -o "$tmp/last_body" -w '%{http_code}' --max-time 10 \
       -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
       -H "X-GitHub-Delivery: $delivery" "${hdr[@]}" \
       --data-binary @"$tmp/payload.json" "$url" 2>/dev/null || true
}

# cpu_ticks PID: the CPU time the process has used, in clock ticks: utime + stime of all its
# threads, plus cutime + cstime of the children it has waited for (webhook's /bin/true).
cpu_ticks() {
  # Fields after the ")" that ends the command name: utime is the 12th, then stime, cutime, cstime.
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'
}

# make_payload: a ~7 KB GitHub push signed with a fresh secret, in $tmp/payload.json, $tmp/secret
# and $tmp/signature; sets secret, signature, payload_bytes and wrong_sig (a wrong signature).
make_payload() {
  printf '%s\n' "bench-secret-$(python3 -c 'import secrets; print(secrets.token_hex(16))')" >"$tmp/secret"
  chmod 600 "$tmp/secret"
  python3 "$here/gen_payload.py" --out "$tmp/payload.json" --secret-file "$tmp/secret" \
          --sig-out "$tmp/signature" >/dev/null 2>&1 || die "payload generation failed"
  secret=$(head -n1 "$tmp/secret")
  signature=$(cat "$tmp/signature")
  # Independent check of the signature with openssl.
  local check; check=$(openssl dgst -sha256 -hmac "$secret" -r <"$tmp/payload.json" | cut -d' ' -f1)
  [ "sha256=$check" = "$signature" ] || die "signature mismatch between python3 and openssl"
  payload_bytes=$(wc -c <"$tmp/payload.json")
  log "payload: $payload_bytes bytes, $signature"
  wrong_sig="sha256=$(printf '%s' "$check" | tr '0-9a-f' '1-9a-f0')"
}

# receiver_config FILE PORT ADMIN_PORT: a receiver on $bootstrap for GitHub repository
# acme/infra signed with $tmp/secret.
receiver_config() {
  cat >"$1" <<YAML
kafka:
  brokers: "$bootstrap"
receiver:
  listen: "127.0.0.1:$2"
  admin_listen: "127.0.0.1:$3"
repositories:
  - name: infra
    provider: github
    match: acme/infra
    url: https://github.com/acme/infra.git
    branch: main
    secrets: [{file: $tmp/secret}]
    targets:
      - name: web
        path: web
        apply: {type: files, dest: /tmp/x}
YAML
}
