#!/usr/bin/env bash
# Builds gitopsd and runs it locally: a Kafka broker (deploy/kafka/broker.sh), the receiver and
# a worker on a demo config whose repository is a local git repository and whose target is a
# directory. Shows how to push a change and send the signed webhook that gets it applied.
# Ctrl-C stops everything.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
work=${GITOPSD_QUICKSTART_DIR:-/tmp/gitopsd-quickstart}
mkdir -p "$work"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target gitopsd-receiver gitopsd-worker gitopsctl

bootstrap=$(deploy/kafka/broker.sh start --dir "$work/kafka" --port 0)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  deploy/kafka/broker.sh stop --dir "$work/kafka"
}
trap cleanup EXIT

# The demo repository: a work tree to edit and a bare repository it pushes to (the "Git host").
if [ ! -d "$work/demo.git" ]; then
  git init -q --bare -b main "$work/demo.git"
  git init -q -b main "$work/repo"
  mkdir -p "$work/repo/site"
  echo '<h1>hello from gitopsd</h1>' > "$work/repo/site/index.html"
  git -C "$work/repo" add -A
  git -C "$work/repo" -c user.name=demo -c user.email=demo@example.com commit -qm "first page"
  git -C "$work/repo" remote add origin "$work/demo.git"
  git -C "$work/repo" push -q -u origin main
fi
[ -s "$work/secret" ] || { umask 077; head -c 24 /dev/urandom | base64 > "$work/secret"; }
cat > "$work/gitopsd.yaml" <<YAML
kafka:
  brokers: "$bootstrap"
receiver:
  listen: "127.0.0.1:8080"
  admin_listen: "127.0.0.1:9464"
worker:
  state_dir: $work/state
  admin_listen: "127.0.0.1:9465"
  resync_interval: 1m
repositories:
  - name: demo
    provider: github
    match: acme/demo
    url: $work/demo.git
    branch: main
    secrets: [{file: $work/secret}]
    targets:
      - name: site
        path: site
        apply: {type: files, dest: $work/site}
YAML

build/receiver/gitopsd-receiver --config "$work/gitopsd.yaml" 2> "$work/receiver.log" & pids+=($!)
build/workers/gitopsd-worker --config "$work/gitopsd.yaml" 2> "$work/worker.log" & pids+=($!)

cat <<MSG

gitopsd is running: receiver http://127.0.0.1:8080 (metrics :9464), worker (metrics :9465),
Kafka $bootstrap. Logs: $work/receiver.log, $work/worker.log. Config: $work/gitopsd.yaml

Change the site, push it, and send the webhook GitHub would send:
  cd $work/repo && echo '<h1>changed</h1>' > site/index.html && git commit -qam change && git push -q
  $here/scripts/send-webhook.sh --secret-file $work/secret --after \$(git -C $work/repo rev-parse HEAD) http://127.0.0.1:8080/hooks/github
  cat $work/site/index.html
Watch the outcome: kcat -b $bootstrap -t gitopsd.results -C -f '%k %s\n'
(Without the webhook, the worker's resync applies the push within a minute.) Ctrl-C stops it all.

MSG
wait
