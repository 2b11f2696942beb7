#!/usr/bin/env bash
# Single-node KRaft Apache Kafka on loopback, for tests and local runs.
#   broker.sh start  [--dir DIR] [--port PORT] [--clean]
#                    format DIR (first time, or always with --clean), start, wait, print bootstrap;
#                    a restart on the same DIR keeps its data, its cluster id and its port
#   broker.sh stop   [--dir DIR]                 stop the broker started in DIR
#   broker.sh status [--dir DIR]                 print bootstrap and exit 0 if it answers
# Jars come from deploy/kafka/pom.xml (`mvn dependency:copy-dependencies`), resolved on first use.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-}; shift || true
dir=${GITOPSD_KAFKA_DIR:-/tmp/gitopsd-kafka}
port=
clean=false
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --clean) clean=true; shift ;;
    *) echo "broker.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

die() { echo "broker.sh: $*" >&2; exit 1; }

ensure_jars() {
  if ! ls "$here"/libs/kafka_2.13-*.jar >/dev/null 2>&1; then
    command -v mvn >/dev/null || die "mvn not found: run scripts/setup.sh first"
    echo "broker.sh: resolving Kafka jars with Maven (first run only)" >&2
    mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies >&2 || die "mvn could not resolve Kafka"
  fi
}

classpath() { printf '%s:' "$here"/libs/*.jar; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Answers when a TCP connect to the port succeeds and the broker has logged that it started.
answers() {
  local p=$1
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || return 1
  grep -q 'started (kafka.server.KafkaRaftServer)' "$dir/broker.log" 2>/dev/null
}

pid_alive() { [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; }

start() {
  if pid_alive; then
    p=$(cat "$dir/port")
    answers "$p" && { echo "127.0.0.1:$p"; return 0; }
  fi
  ensure_jars
  command -v java >/dev/null || die "java not found: run scripts/setup.sh first"
  if $clean; then rm -rf "$dir"; fi
  mkdir -p "$dir"
  # Without --port a restart keeps the port it had; a first start takes Kafka's 9092.
  if [ -z "$port" ]; then port=$(cat "$dir/port" 2>/dev/null || echo 9092); fi
  if [ -f "$dir/data/meta.properties" ] && [ -f "$dir/port" ] && { [ "$port" = 0 ] || [ "$port" = "$(cat "$dir/port")" ]; }; then
    port=$(cat "$dir/port")
    launch
    return
  fi
  if [ "$port" = 0 ]; then port=$(free_port); fi
  cport=$(free_port)
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
  cat > "$dir/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/broker.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
L4J
  rm -rf "$dir/data" "$dir/broker.log"
  local cp; cp=$(classpath)
  java -cp "$cp" kafka.tools.StorageTool format -t "$(java -Dlog4j.configuration="file:$dir/log4j.properties" -Dkafka.logs.dir="$dir" -cp "$cp" kafka.tools.StorageTool random-uuid)" \
       -c "$dir/server.properties" >"$dir/format.log" 2>&1 || die "format failed: $(cat "$dir/format.log")"
  echo "$port" > "$dir/port"
  launch
}

launch() {
  local cp; cp=$(classpath)
  : > "$dir/broker.log"
  setsid java -Xms256m -Xmx${GITOPSD_KAFKA_HEAP:-768m} -XX:+UseG1GC -Djava.awt.headless=true \
       -Dkafka.logs.dir="$dir" -Dlog4j.configuration="file:$dir/log4j.properties" \
       -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/broker.pid"
  for _ in $(seq 1 600); do
    if answers "$port"; then echo "127.0.0.1:$port"; return 0; fi
    pid_alive || die "broker exited during start; see $dir/broker.log and $dir/stdout.log: $(tail -5 "$dir/stdout.log" 2>/dev/null)"
    sleep 0.1
  done
  die "broker did not answer on 127.0.0.1:$port within 60 s; see $dir/broker.log"
}

stop() {
  pid_alive || { rm -f "$dir/broker.pid"; return 0; }
  local pid; pid=$(cat "$dir/broker.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/broker.pid"
}

status() {
  pid_alive || { echo "stopped" >&2; exit 1; }
  local p; p=$(cat "$dir/port")
  answers "$p" || { echo "not answering" >&2; exit 1; }
  echo "127.0.0.1:$p"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: broker.sh start|stop|status [--dir DIR] [--port PORT]" >&2; exit 2 ;;
esac
