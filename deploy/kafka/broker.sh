#!/usr/bin/env bash
# Single-node KRaft Apache Kafka on loopback, for tests and local runs.
#   broker.sh start   [--dir DIR] [--port PORT] [--version V] [--clean]
#                     format DIR (first time, or always with --clean), start, wait, print bootstrap;
#                     a restart on the same DIR keeps its data, its cluster id, its port and its
#                     Kafka version (another --version formats DIR afresh, as another --port does)
#   broker.sh stop    [--dir DIR]                 stop the broker started in DIR
#   broker.sh status  [--dir DIR]                 print bootstrap and exit 0 if it answers
#   broker.sh resolve [--version V]               resolve V's jars now (scripts/setup.sh)
# V is the Kafka release: --version, else $GITOPSD_KAFKA_VERSION, else the newest 4.x below.
# 3.9.x works as well (the sanitizer suite runs on it). Jars come from deploy/kafka/pom.xml
# (`mvn dependency:copy-dependencies`) into deploy/kafka/libs/V, resolved on first use.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
default_version=4.4.0
cmd=${1:-}; shift || true
dir=${GITOPSD_KAFKA_DIR:-/tmp/gitopsd-kafka}
port=
version=${GITOPSD_KAFKA_VERSION:-}
clean=false
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --clean) clean=true; shift ;;
    *) echo "broker.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

die() { echo "broker.sh: $*" >&2; exit 1; }

# Kafka 4 logs through log4j2, Kafka 3 through log4j 1 (reload4j): each has its own Maven
# profile (deploy/kafka/pom.xml), config file and JVM option.
major() { echo "${1%%.*}"; }

check_version() {
  [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--version wants a release such as $default_version, not '$1'"
  case "$1" in 3.9.*|4.*) ;; *) die "Kafka $1 is not supported: use 3.9.x or 4.x" ;; esac
}

libs() { echo "$here/libs/$1"; }

ensure_jars() {
  local v=$1
  [ -f "$(libs "$v")/kafka_2.13-$v.jar" ] && return 0
  command -v mvn >/dev/null || die "mvn not found: run scripts/setup.sh first"
  echo "broker.sh: resolving Kafka $v jars with Maven (first use only)" >&2
  local profile=(); [ "$(major "$v")" = 3 ] && profile=(-P kafka3)
  mvn -q -B -f "$here/pom.xml" "${profile[@]}" -Dkafka.version="$v" dependency:copy-dependencies >&2 \
    || die "mvn could not resolve Kafka $v"
}

classpath() { printf '%s:' "$(libs "$1")"/*.jar; }

# Writes the logging config for Kafka $1 into $dir and prints the JVM options that select it.
# Both write "[time] LEVEL message (logger)" to $dir/broker.log, which answers() reads.
logging_options() {
  if [ "$(major "$1")" = 3 ]; then
    cat > "$dir/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${kafka.logs.dir}/broker.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
L4J
    echo "-Dlog4j.configuration=file:$dir/log4j.properties"
  else
    cat > "$dir/log4j2.xml" <<'L4J2'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration>
  <Appenders>
    <File name="file" fileName="${sys:kafka.logs.dir}/broker.log">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
L4J2
    echo "-Dlog4j2.configurationFile=$dir/log4j2.xml"
  fi
}

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
  # Without --version a restart keeps the version DIR has; a first start takes the default.
  [ -n "$version" ] || version=$(cat "$dir/version" 2>/dev/null || echo "$default_version")
  check_version "$version"
  if pid_alive; then
    if [ "$version" = "$(cat "$dir/version" 2>/dev/null)" ]; then
      port=$(cat "$dir/port")
      answers "$port" && { started; return 0; }
    else
      stop
    fi
  fi
  ensure_jars "$version"
  command -v java >/dev/null || die "java not found: run scripts/setup.sh first"
  if $clean; then rm -rf "$dir"; fi
  mkdir -p "$dir"
  # Without --port a restart keeps the port it had; a first start takes Kafka's 9092.
  if [ -z "$port" ]; then port=$(cat "$dir/port" 2>/dev/null || echo 9092); fi
  if [ -f "$dir/data/meta.properties" ] && [ -f "$dir/port" ] && { [ "$port" = 0 ] || [ "$port" = "$(cat "$dir/port")" ]; } \
     && [ "$version" = "$(cat "$dir/version" 2>/dev/null)" ]; then
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
  rm -rf "$dir/data" "$dir/broker.log" "$dir/version"
  local cp log; cp=$(classpath "$version"); log=$(logging_options "$version")
  local cluster_id; cluster_id=$(java "$log" -Dkafka.logs.dir="$dir" -cp "$cp" kafka.tools.StorageTool random-uuid) \
    || die "StorageTool random-uuid failed; see $dir/broker.log"
  java "$log" -Dkafka.logs.dir="$dir" -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" \
       -c "$dir/server.properties" >"$dir/format.log" 2>&1 || die "format failed: $(cat "$dir/format.log")"
  echo "$port" > "$dir/port"
  echo "$version" > "$dir/version"
  launch
}

launch() {
  local cp log; cp=$(classpath "$version"); log=$(logging_options "$version")
  : > "$dir/broker.log"
  setsid java -Xms256m -Xmx${GITOPSD_KAFKA_HEAP:-768m} -XX:+UseG1GC -Djava.awt.headless=true \
       -Dkafka.logs.dir="$dir" "$log" \
       -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/broker.pid"
  for _ in $(seq 1 600); do
    if answers "$port"; then started; return 0; fi
    pid_alive || die "broker exited during start; see $dir/broker.log and $dir/stdout.log: $(tail -5 "$dir/stdout.log" 2>/dev/null)"
    sleep 0.1
  done
  die "broker did not answer on 127.0.0.1:$port within 60 s; see $dir/broker.log"
}

# The bootstrap address on stdout (scripts read it); which Kafka answers there on stderr.
started() {
  echo "broker.sh: Kafka $(cat "$dir/version") on 127.0.0.1:$port ($dir)" >&2
  echo "127.0.0.1:$port"
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
  port=$(cat "$dir/port")
  answers "$port" || { echo "not answering" >&2; exit 1; }
  started
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  resolve) version=${version:-$default_version}; check_version "$version"; ensure_jars "$version" ;;
  *) echo "usage: broker.sh start|stop|status|resolve [--dir DIR] [--port PORT] [--version V] [--clean]" >&2; exit 2 ;;
esac
