#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, broker+controller) for development, tests and the demo.
# The broker's jars come from Maven Central once and are cached outside the work tree;
# data and logs live in an ignored folder of the checkout. Every command is idempotent.
# Besides plaintext on $port, a SASL_PLAINTEXT listener on $sasl_port takes SCRAM-SHA-512
# logins of the development user below (for the Kafka security tests; never a real secret).
#
#   deploy/local/kafka.sh up       fetch (once), format (once), start, wait until it accepts clients
#   deploy/local/kafka.sh down     stop cleanly (SIGTERM, then SIGKILL after a grace period)
#   deploy/local/kafka.sh status   exit 0 when the broker is running
#   deploy/local/kafka.sh reset    stop and delete all data
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache=${DUANKA_CACHE_DIR:-$HOME/.cache/duanka}
libs="$cache/kafka-$kafka_version/libs"
home=${DUANKA_KAFKA_HOME:-$root/.local/kafka}
port=${DUANKA_KAFKA_PORT:-9092}
controller_port=${DUANKA_KAFKA_CONTROLLER_PORT:-9093}
sasl_port=${DUANKA_KAFKA_SASL_PORT:-9094}
scram_user=duanka-dev
scram_password=duanka-dev-password
conf="$home/conf"
data="$home/data"
logs="$home/logs"
pidfile="$home/kafka.pid"
java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dkafka.logs.dir=$logs" "-Dlog4j2.configurationFile=$conf/log4j2.properties")

log() { echo "kafka: $*" >&2; }

running() {
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

accepting() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

fetch() {
  if [[ -f "$libs/.complete" ]]; then return; fi
  log "fetching Apache Kafka $kafka_version from Maven Central into $libs (once)"
  rm -rf "$libs" && mkdir -p "$libs"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs"
  touch "$libs/.complete"
}

configure() {
  mkdir -p "$conf" "$data" "$logs"
  cat >"$conf/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sasl_port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
log.cleaner.dedupe.buffer.size=1048577
PROPS
  cat >"$conf/log4j2.properties" <<'PROPS'
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
PROPS
  if [[ ! -f "$data/meta.properties" ]]; then
    local cluster_id
    cluster_id=$(java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool random-uuid | tail -n1)
    java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$conf/server.properties" >"$logs/format.log" 2>&1
  fi
}

up() {
  if running && accepting; then log "already running on 127.0.0.1:$port"; return; fi
  if accepting; then
    log "something else already listens on 127.0.0.1:$port; refusing to start a second broker"
    exit 1
  fi
  fetch
  configure
  if ! running; then
    nohup java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$conf/server.properties" \
      >"$logs/kafka.out" 2>&1 &
    echo $! >"$pidfile"
  fi
  for _ in $(seq 1 120); do
    if accepting; then
      ensure_scram_user
      log "ready on 127.0.0.1:$port, SCRAM on $sasl_port (logs: $logs)"
      return
    fi
    if ! running; then log "broker exited; see $logs/kafka.out and $logs/server.log"; exit 1; fi
    sleep 0.5
  done
  log "not accepting connections after 60 s; see $logs/server.log"
  exit 1
}

ensure_scram_user() {
  if [[ -f "$data/.scram-user" ]]; then return; fi
  java "${java_opts[@]}" -cp "$libs/*" kafka.admin.ConfigCommand \
    --bootstrap-server "127.0.0.1:$port" --alter --entity-type users --entity-name "$scram_user" \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$scram_password]" \
    >>"$logs/scram.log" 2>&1
  touch "$data/.scram-user"
}

down() {
  if ! running; then rm -f "$pidfile"; log "not running"; return; fi
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    if ! kill -0 "$pid" 2>/dev/null; then rm -f "$pidfile"; log "stopped"; return; fi
    sleep 0.5
  done
  log "no clean shutdown after 30 s; killing"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) running && accepting ;;
  reset) down; rm -rf "$home" ;;
  *) echo "usage: $0 up|down|status|reset" >&2; exit 2 ;;
esac
