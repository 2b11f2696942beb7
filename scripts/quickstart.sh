#!/usr/bin/env bash
# Builds gitopsd, starts a local Kafka broker (deploy/kafka/broker.sh) and runs
# gitopsd-receiver in the foreground on a demo config, then shows how to send it a signed
# webhook (scripts/send-webhook.sh). Ctrl-C stops the receiver; the broker is stopped too.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
work=${GITOPSD_QUICKSTART_DIR:-/tmp/gitopsd-quickstart}
mkdir -p "$work"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target gitopsd-receiver

bootstrap=$(deploy/kafka/broker.sh start --dir "$work/kafka" --port 0)
trap 'deploy/kafka/broker.sh stop --dir "$work/kafka"' EXIT

[ -s "$work/secret" ] || { umask 077; head -c 24 /dev/urandom | base64 > "$work/secret"; }
cat > "$work/gitopsd.yaml" <<YAML
kafka:
  brokers: "$bootstrap"
receiver:
  listen: "127.0.0.1:8080"
  admin_listen: "127.0.0.1:9464"
repositories:
  - name: demo
    provider: github
    match: acme/demo
    url: https://github.com/acme/demo.git
    branch: main
    secrets: [{file: $work/secret}]
    targets:
      - name: site
        path: site
        apply: {type: files, dest: $work/site}
YAML

cat <<MSG

gitopsd-receiver is starting on http://127.0.0.1:8080 (metrics: http://127.0.0.1:9464/metrics)
Kafka broker: $bootstrap   config: $work/gitopsd.yaml

In another terminal, send a signed GitHub push webhook and watch it arrive on Kafka:
  scripts/send-webhook.sh --secret-file $work/secret http://127.0.0.1:8080/hooks/github
  kcat -b $bootstrap -t gitopsd.events -C -e -f '%k %s\n'

MSG
build/receiver/gitopsd-receiver --config "$work/gitopsd.yaml"
