#!/usr/bin/env bash
# KRaft Apache Kafka on loopback, for tests and local runs: one node, or a cluster of N.
#   broker.sh start   [--dir DIR] [--port PORT] [--version V] [--clean]
#                     format DIR (first time, or always with --clean), start, wait, print bootstrap;
#                     a restart on the same DIR keeps its data, its cluster id, its port and its
#                     Kafka version (another --version formats DIR afresh, as another --port does)
#   broker.sh stop    [--dir DIR]                 stop the broker started in DIR
#   broker.sh status  [--dir DIR]                 print bootstrap and exit 0 if it answers
#   broker.sh resolve [--version V]               resolve V's jars now (scripts/setup.sh)
# A cluster: `start --nodes N` (N > 1) formats DIR/node1..N (each laid out as a single node's
# DIR; DIR/nodes holds N), each a combined broker and controller (node.id K, a static quorum
# of all N) on client port PORT+K-1 (default 9092..; 0 picks free ports), with replication 3
# (at most N) and min.insync.replicas 2. It prints the bootstrap list 127.0.0.1:p1,...,pN once
# every node answers. On a DIR that holds a cluster, --nodes may be left out:
#   start  starts the nodes that are not running (data kept) and waits for all of them;
#   stop   stops all nodes; status prints the list and exits 0 only when all answer;
#   --node K makes start, stop and status act on node K alone (start and status print its address).
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
nodes=
node=
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --clean) clean=true; shift ;;
    --nodes) nodes=$2; shift 2 ;;
    --node) node=$2; shift 2 ;;
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

# `count` loopback ports, distinct, none of them in the rest of the arguments, all free a moment
# ago (held open together, so no port is handed out twice).
free_ports() {
  python3 - "$@" <<'PY'
import socket, sys
count, taken = int(sys.argv[1]), set(sys.argv[2:])
held = []
while len(held) < count:
    s = socket.socket(); s.bind(("127.0.0.1", 0))
    if str(s.getsockname()[1]) in taken: continue
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
}
free_port() { free_ports 1; }

# server.properties of node $1 (listening on $3, controller on $4) in a quorum of voters $2,
# in $dir; $5 replicas for internal and new topics, of which 2 must be in sync when $5 > 1.
write_properties() {
  local id=$1 voters=$2 p=$3 cp=$4 replicas=$5 isr=1 default_replication=
  if [ "$replicas" -gt 1 ]; then isr=2; default_replication="default.replication.factor=$replicas"$'\n'; fi
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$p,CONTROLLER://127.0.0.1:$cp
advertised.listeners=PLAINTEXT://127.0.0.1:$p
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
${default_replication}auto.create.topics.enable=true
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$isr
min.insync.replicas=$isr
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
}

# Formats $dir/data for cluster id $1 (server.properties written) and records port and version.
format_dir() {
  local cp log; cp=$(classpath "$version"); log=$(logging_options "$version")
  java "$log" -Dkafka.logs.dir="$dir" -cp "$cp" kafka.tools.StorageTool format -t "$1" \
       -c "$dir/server.properties" >"$dir/format.log" 2>&1 || die "format failed: $(cat "$dir/format.log")"
  echo "$port" > "$dir/port"
  echo "$version" > "$dir/version"
}

new_cluster_id() {
  local cp log; cp=$(classpath "$version"); log=$(logging_options "$version")
  java "$log" -Dkafka.logs.dir="$dir" -cp "$cp" kafka.tools.StorageTool random-uuid \
    || die "StorageTool random-uuid failed; see $dir/broker.log"
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
  write_properties 1 "1@127.0.0.1:$cport" "$port" "$cport" 1
  rm -rf "$dir/data" "$dir/broker.log" "$dir/version"
  format_dir "$(new_cluster_id)"
  launch
}

launch() { spawn; await 60; started; }

# Starts the broker of $dir in the background, with heap $heap.
declare -A spawned  # the node dirs whose broker this run started
spawn() {
  spawned[$dir]=1
  local cp log; cp=$(classpath "$version"); log=$(logging_options "$version")
  : > "$dir/broker.log"
  setsid java -Xms256m -Xmx${GITOPSD_KAFKA_HEAP:-$heap} -XX:+UseG1GC -Djava.awt.headless=true \
       -Dkafka.logs.dir="$dir" "$log" \
       -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/broker.pid"
}

# Waits up to $1 seconds for the broker of $dir to answer on $port. A broker this run did not
# start may be on its way out (SIGKILLed a moment ago, its JVM still tearing down): once it is
# gone, it is started.
await() {
  for _ in $(seq 1 $(( $1 * 10 ))); do
    answers "$port" && return 0
    if ! pid_alive && [ -z "${spawned[$dir]:-}" ]; then spawn; continue; fi
    pid_alive || die "broker exited during start; see $dir/broker.log and $dir/stdout.log: $(tail -5 "$dir/stdout.log" 2>/dev/null)"
    sleep 0.1
  done
  die "broker did not answer on 127.0.0.1:$port within $1 s; see $dir/broker.log"
}

# The bootstrap address on stdout (scripts read it); which Kafka answers there on stderr.
started() {
  echo "broker.sh: Kafka $(cat "$dir/version") on 127.0.0.1:$port ($dir)" >&2
  echo "127.0.0.1:$port"
}

stop() { request_stop; await_stop; }

# SIGTERM (and SIGCONT, so a broker a test has SIGSTOPped handles it).
request_stop() {
  pid_alive || return 0
  kill -TERM "$(cat "$dir/broker.pid")" 2>/dev/null || true
  kill -CONT "$(cat "$dir/broker.pid")" 2>/dev/null || true
}

# Waits up to 30 s for the broker to exit, then SIGKILLs it.
await_stop() {
  pid_alive || { rm -f "$dir/broker.pid"; return 0; }
  local pid; pid=$(cat "$dir/broker.pid")
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

# ---- a cluster of N nodes in $root/node1..N ($dir points at the node being acted on)

root=$dir
heap=768m
node_count() { cat "$root/nodes" 2>/dev/null; }

# The nodes a command acts on: --node K, else all.
selected() { if [ -n "$node" ]; then echo "$node"; else seq 1 "$(node_count)"; fi; }

# Runs "$@" with $dir and $port set to node K ($1).
on_node() {
  local k=$1; shift
  dir=$root/node$k; port=$(cat "$dir/port" 2>/dev/null || true)
  "$@"
}

bootstrap_of() {
  local k list=
  for k in "$@"; do list+="${list:+,}127.0.0.1:$(cat "$root/node$k/port")"; done
  echo "$list"
}

# True when $root holds a formatted cluster of $nodes nodes of Kafka $version whose ports
# --port (if given and not 0) does not change.
cluster_formatted() {
  [ "$(node_count)" = "$nodes" ] || return 1
  local k
  for k in $(seq 1 "$nodes"); do
    [ -f "$root/node$k/data/meta.properties" ] && [ -f "$root/node$k/port" ] || return 1
    [ "$(cat "$root/node$k/version" 2>/dev/null)" = "$version" ] || return 1
  done
  [ -z "$port" ] || [ "$port" = 0 ] || [ "$port" = "$(cat "$root/node1/port")" ]
}

# Stops whatever runs in $root (a cluster, or a single broker) and formats a fresh cluster.
cluster_format() {
  cluster_stop_all
  dir=$root; stop
  if $clean; then rm -rf "$root"; else rm -rf "$root"/node[1-9]* "$root/nodes" "$root/data" "$root/port" "$root/version"; fi
  local base=${port:-$(cat "$root/node1/port" 2>/dev/null || echo 9092)} clients controllers voters= k id
  if [ "$base" = 0 ]; then
    read -r -a clients <<< "$(free_ports "$nodes")"
  else
    read -r -a clients <<< "$(seq -s ' ' "$base" $(( base + nodes - 1 )))"
  fi
  read -r -a controllers <<< "$(free_ports "$nodes" "${clients[@]}")"
  for k in $(seq 1 "$nodes"); do
    voters+="${voters:+,}$k@127.0.0.1:${controllers[k-1]}"
    mkdir -p "$root/node$k"
  done
  dir=$root/node1; id=$(new_cluster_id)
  for k in $(seq 1 "$nodes"); do
    dir=$root/node$k; port=${clients[k-1]}
    write_properties "$k" "$voters" "$port" "${controllers[k-1]}" $(( nodes < 3 ? nodes : 3 ))
    format_dir "$id"
  done
  echo "$nodes" > "$root/nodes"
}

cluster_start() {
  [ -n "$version" ] || version=$(cat "$root/node1/version" 2>/dev/null || echo "$default_version")
  check_version "$version"
  ensure_jars "$version"
  command -v java >/dev/null || die "java not found: run scripts/setup.sh first"
  heap=384m
  if $clean || ! cluster_formatted; then
    [ -z "$node" ] || die "--node $node: $root holds no $nodes-node cluster of Kafka $version to start a node of"
    cluster_format
  fi
  # A node of a static quorum finishes starting only once a majority runs: start every
  # process first, then wait for each.
  local k
  for k in $(selected); do on_node "$k" eval 'pid_alive || spawn'; done
  for k in $(selected); do on_node "$k" await 120; done
  for k in $(selected); do
    echo "broker.sh: Kafka $version node $k on 127.0.0.1:$(cat "$root/node$k/port") ($root/node$k)" >&2
  done
  bootstrap_of $(selected)
}

cluster_stop_all() {
  [ -n "$(node_count)" ] || return 0
  local k
  for k in $(seq 1 "$(node_count)"); do on_node "$k" request_stop; done
  for k in $(seq 1 "$(node_count)"); do on_node "$k" await_stop; done
}

cluster_stop() {
  local k
  for k in $(selected); do on_node "$k" request_stop; done
  for k in $(selected); do on_node "$k" await_stop; done
}

cluster_status() {
  local k ok=true
  for k in $(selected); do
    dir=$root/node$k; port=$(cat "$dir/port")
    if ! pid_alive; then echo "node $k: stopped" >&2; ok=false
    elif ! answers "$port"; then echo "node $k: not answering" >&2; ok=false; fi
  done
  $ok || exit 1
  bootstrap_of $(selected)
}

# A cluster when --nodes asks for more than one node, or DIR already holds one (made by --nodes).
if [ -n "$nodes" ]; then
  [[ $nodes =~ ^[1-9][0-9]*$ ]] || die "--nodes wants a count such as 3, not '$nodes'"
  if [ "$nodes" = 1 ] && [ -n "$(node_count)" ] && ! $clean; then
    die "$root holds a $(node_count)-node cluster: stop it and start with --clean for one node"
  fi
fi
cluster=false
if [ -n "$nodes" ] && [ "$nodes" != 1 ]; then cluster=true
elif [ -z "$nodes" ] && [ -n "$(node_count)" ]; then cluster=true; nodes=$(node_count); fi
if [ -n "$node" ]; then
  $cluster || die "--node needs a DIR that holds a cluster (started with --nodes N)"
  [[ $node =~ ^[1-9][0-9]*$ ]] && [ "$node" -le "$nodes" ] || die "--node wants 1..$nodes, not '$node'"
  ! $clean || die "--clean wipes the whole cluster: leave out --node"
fi
if [ "$nodes" = 1 ] && $clean && [ -n "$(node_count)" ]; then cluster_stop_all; rm -rf "$root"; fi

case "$cmd" in
  start) if $cluster; then cluster_start; else start; fi ;;
  stop) if $cluster; then cluster_stop; else stop; fi ;;
  status) if $cluster; then cluster_status; else status; fi ;;
  resolve) version=${version:-$default_version}; check_version "$version"; ensure_jars "$version" ;;
  *) echo "usage: broker.sh start|stop|status|resolve [--dir DIR] [--port PORT] [--version V] [--clean] [--nodes N] [--node K]" >&2; exit 2 ;;
esac
