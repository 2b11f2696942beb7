#!/usr/bin/env bash
# Gitea on loopback, for tests and local runs: a real Git host with an API, webhooks and
# commit statuses.
#   gitea.sh build  [--version V]    build Gitea V from the Go module proxy into the cache (first
#                                    time only); print the binary's path
#   gitea.sh binary [--version V]    print the cached binary's path; exit 1 when it is not built
#   gitea.sh go                      print the go command build uses; exit 1 when there is none
#                                    it can use (none, or one older than 1.21)
#   gitea.sh start  --dir DIR [--port PORT|0] [--version V]
#                                    first start: write DIR/app.ini (SQLite in DIR), migrate,
#                                    create admin user gitopsd, write an all-scopes token to
#                                    DIR/token (0600); then start `gitea web`, wait until the API
#                                    answers and print http://127.0.0.1:PORT. A restart on the
#                                    same DIR keeps its data, its port, its token and its version.
#   gitea.sh stop   --dir DIR        stop the Gitea started in DIR
#   gitea.sh status --dir DIR        print the base URL and exit 0 if the API answers
# DIR/admin holds "user password" of the admin user. V is --version, else $GITOPSD_GITEA_VERSION,
# else the default below. The binary is cached at ${GITOPSD_CACHE_DIR:-~/.cache/gitopsd}/gitea/V/gitea.
set -euo pipefail

default_version=1.27.3
cmd=${1:-}; shift || true
dir=
port=
version=${GITOPSD_GITEA_VERSION:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    *) echo "gitea.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

die() { echo "gitea.sh: $*" >&2; exit 1; }

cache=${GITOPSD_CACHE_DIR:-$HOME/.cache/gitopsd}/gitea
binary() { echo "$cache/$1/gitea"; }

check_version() {
  [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--version wants a release such as $default_version, not '$1'"
}

# The Go toolchain the module proxy serves (golang.org/toolchain, which the go command fetches
# itself when GOTOOLCHAIN names it) for a local Go older than Gitea's go.mod asks for. Only this
# version: the go command needs 1.21 or later to fetch it.
proxy_toolchain=go1.27.3

go_tool() {
  if command -v go >/dev/null; then command -v go
  elif [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go
  else return 1; fi
}

# Whether Go version $1 (1.26.4, go1.26.8) is at least $2.
version_at_least() {
  [ "$(printf '%s\n%s\n' "${1#go}" "${2#go}" | sort -V | head -1)" = "${2#go}" ]
}

# A go command build can use: any from 1.21 on, which fetches $proxy_toolchain when it is too old.
usable_go() {
  local go have
  go=$(go_tool) || die "go not found (looked on PATH and in /usr/local/go/bin)"
  have=$(GOTOOLCHAIN=local "$go" env GOVERSION) || die "$go env GOVERSION failed"
  version_at_least "$have" 1.21 || die "$go is $have: too old to fetch $proxy_toolchain (it needs 1.21)"
  echo "$go"
}

# Gitea's go.mod has replace directives, so `go install` refuses it: download the module's
# source, embed templates, options, public files and migration schemas (-tags bindata: no
# frontend build is needed for the API, git over HTTP and webhooks) and build a static binary.
build() {
  local v=$1 out go src work
  out=$(binary "$v")
  if [ -x "$out" ]; then echo "$out"; return 0; fi
  go=$(usable_go) || exit 1
  echo "gitea.sh: building Gitea $v from the Go module proxy (first time only; about 4 min on 2 idle cores)" >&2
  mkdir -p "$cache/$v"
  work=$(mktemp -d "$cache/$v/build.XXXXXX")
  # shellcheck disable=SC2064  # expand $work now: it is local
  trap "chmod -R u+w '$work' 2>/dev/null; rm -rf '$work'" EXIT
  src=$(cd "$work" && GOWORK=off "$go" mod download -json "code.gitea.io/gitea@v$v" \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir","")); sys.exit(1 if d.get("Error") else 0)') \
    || die "the Go module proxy has no code.gitea.io/gitea@v$v"
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  local wanted have toolchain=local
  wanted=$(awk '$1 == "go" { print $2; exit }' "$work/src/go.mod")
  have=$(GOTOOLCHAIN=local "$go" env GOVERSION)
  if ! version_at_least "$have" "$wanted"; then
    version_at_least "$proxy_toolchain" "$wanted" || die "Gitea $v needs Go $wanted, newer than $proxy_toolchain"
    toolchain=$proxy_toolchain
    echo "gitea.sh: $have is older than Go $wanted, which Gitea $v needs: building with $toolchain from the Go module proxy" >&2
  fi
  (
    cd "$work/src"
    export CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false GOTOOLCHAIN=$toolchain
    for d in modules/templates:templates modules/options:options modules/public:public \
             modules/migration:modules/migration/schemas; do
      (cd "${d%%:*}" && "$go" run ../../build/generate-bindata.go "../../${d#*:}" bindata.dat)
    done
    "$go" build -trimpath -tags bindata \
      -ldflags "-s -w -X main.Version=$v -X main.Tags=bindata" -o "$work/gitea" .
  ) >"$cache/$v/build.log" 2>&1 || die "building Gitea $v failed; see $cache/$v/build.log: $(tail -5 "$cache/$v/build.log")"
  mv "$work/gitea" "$out"
  echo "$out"
}

need_binary() {
  [ -x "$(binary "$1")" ] || die "Gitea $1 is not built: run '$0 build --version $1' (scripts/setup.sh does)"
}

# ---- one Gitea in $dir: app.ini, data/ (SQLite, queues), repositories/, log in gitea.log

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The command line of Gitea $version on $dir. It refuses to run as root unless told so twice:
# in the environment (here) and in app.ini.
gitea_argv() {
  argv=(env GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true GITEA_WORK_DIR="$dir" GITEA_CUSTOM="$dir/custom"
        "$(binary "$version")" --config "$dir/app.ini" --work-path "$dir")
}
gitea() { local argv; gitea_argv; "${argv[@]}" "$@"; }

# Written once: Gitea adds its generated secrets (INTERNAL_TOKEN, JWT secrets) to it on first
# run, and a restart must keep them. Everything lives in $dir; nothing is fetched from outside.
write_app_ini() {
  cat > "$dir/app.ini" <<INI
APP_NAME = gitopsd test Gitea
RUN_MODE = prod
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true
WORK_PATH = $dir

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $port
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:$port/
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
OFFLINE_MODE = true
APP_DATA_PATH = $dir/data

[database]
DB_TYPE = sqlite3
PATH = $dir/data/gitea.db

[repository]
ROOT = $dir/repositories

[security]
INSTALL_LOCK = true
; webhooks to gitopsd's receiver on 127.0.0.1 (1.27 still reads [webhook] too; 1.28 will not)
ALLOWED_HOST_LIST = loopback

[service]
DISABLE_REGISTRATION = true

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[log]
MODE = console
LEVEL = Info
ROOT_PATH = $dir/log
INI
}

# A port given on restart moves the same data to it.
set_port() {
  sed -i -e "s|^HTTP_PORT = .*|HTTP_PORT = $port|" -e "s|^ROOT_URL = .*|ROOT_URL = http://127.0.0.1:$port/|" "$dir/app.ini"
}

# First start of $dir: schema, admin user gitopsd with a generated password (DIR/admin) and an
# all-scopes API token (DIR/token, 0600).
initialise() {
  local password
  gitea migrate >"$dir/setup.log" 2>&1 || die "gitea migrate failed; see $dir/setup.log"
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  gitea admin user create --admin --username gitopsd --password "$password" \
      --email gitopsd@example.invalid --must-change-password=false >>"$dir/setup.log" 2>&1 \
    || die "creating the admin user failed; see $dir/setup.log"
  (umask 077; echo "gitopsd $password" > "$dir/admin")
  (umask 077; gitea admin user generate-access-token --username gitopsd --token-name gitopsd-tests \
      --scopes all --raw > "$dir/token.new" 2>>"$dir/setup.log") \
    || die "generating the access token failed; see $dir/setup.log"
  mv "$dir/token.new" "$dir/token"
}

url() { echo "http://127.0.0.1:$(cat "$dir/port")"; }

answers() { curl -fsS --max-time 2 -o /dev/null "$(url)/api/v1/version" 2>/dev/null; }

pid_alive() { [ -f "$dir/gitea.pid" ] && kill -0 "$(cat "$dir/gitea.pid")" 2>/dev/null; }

started() {
  echo "gitea.sh: Gitea $(cat "$dir/version") on $(url) ($dir; token in $dir/token)" >&2
  url
}

start() {
  [ -n "$dir" ] || die "start needs --dir DIR"
  # Without --version a restart keeps the version DIR has; a first start takes the default.
  [ -n "$version" ] || version=$(cat "$dir/version" 2>/dev/null || echo "$default_version")
  check_version "$version"
  need_binary "$version"
  command -v curl >/dev/null || die "curl not found: run scripts/setup.sh first"
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  if pid_alive && answers && { [ -z "$port" ] || [ "$port" = 0 ] || [ "$port" = "$(cat "$dir/port")" ]; } \
     && [ "$version" = "$(cat "$dir/version")" ]; then
    started; return 0
  fi
  stop
  if [ -f "$dir/token" ]; then
    # A restart: same data, and the port it had unless --port names another.
    if [ -n "$port" ] && [ "$port" != 0 ] && [ "$port" != "$(cat "$dir/port")" ]; then
      echo "$port" > "$dir/port"; set_port
    fi
    port=$(cat "$dir/port")
  else
    rm -rf "$dir/data" "$dir/repositories" "$dir/app.ini"
    if [ -z "$port" ]; then port=3000; elif [ "$port" = 0 ]; then port=$(free_port); fi
    echo "$port" > "$dir/port"
    write_app_ini
    initialise
  fi
  echo "$version" > "$dir/version"
  : > "$dir/gitea.log"
  local argv; gitea_argv
  setsid "${argv[@]}" web >"$dir/gitea.log" 2>&1 < /dev/null &
  echo $! > "$dir/gitea.pid"
  for _ in $(seq 1 600); do
    answers && { started; return 0; }
    pid_alive || die "gitea exited during start; see $dir/gitea.log: $(tail -5 "$dir/gitea.log")"
    sleep 0.1
  done
  die "gitea did not answer on $(url) within 60 s; see $dir/gitea.log"
}

# SIGTERM, up to 30 s for a clean exit, then SIGKILL.
stop() {
  [ -n "$dir" ] || die "stop needs --dir DIR"
  pid_alive || { rm -f "$dir/gitea.pid"; return 0; }
  local pid; pid=$(cat "$dir/gitea.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/gitea.pid"
}

status() {
  [ -n "$dir" ] || die "status needs --dir DIR"
  pid_alive || { echo "stopped" >&2; exit 1; }
  answers || { echo "not answering" >&2; exit 1; }
  started
}

case "$cmd" in
  build) version=${version:-$default_version}; check_version "$version"; build "$version" ;;
  binary) version=${version:-$default_version}; check_version "$version"; need_binary "$version"; binary "$version" ;;
  go) usable_go ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: gitea.sh build|binary|go|start|stop|status [--dir DIR] [--port PORT|0] [--version V]" >&2; exit 2 ;;
esac
