#!/usr/bin/env bash
# Installs every build and test dependency of gitopsd on Debian 12 or 13, resolves
# the Apache Kafka broker the tests run and builds the Gitea they run. Idempotent; run as root (or it re-runs itself with sudo).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "setup: installing packages needs root: run this as root, or install and set up sudo" >&2
    exit 1
  fi
  exec sudo --preserve-env=PATH,GITOPSD_CACHE_DIR,GITOPSD_GITEA_VERSION "$0" "$@"
fi

# The distribution's own packages, by release: the Boost with Boost.JSON and Boost.URL (Debian
# 12's default libboost-dev is 1.74, which has neither), the clang whose libFuzzer scripts/fuzz.sh
# uses, and the Java the Kafka broker runs on. go_suite: where Debian's golang-go is recent
# enough to build Gitea with (1.21 or later, see below): Debian 12's own is 1.19.
release=$(. /etc/os-release && echo "${ID:-}:${VERSION_ID:-}:${PRETTY_NAME:-unknown}")
go_suite=
case "${release%:*}" in
  debian:12) release_packages=(libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
               clang-14 libclang-rt-14-dev openjdk-17-jre-headless)
             go_suite=bookworm-backports ;;
  debian:13) release_packages=(libboost-dev libboost-json-dev libboost-url-dev
               clang-19 libclang-rt-19-dev openjdk-21-jre-headless) ;;
  # Ubuntu 24.04 has trixie's generation (Boost 1.83, libgit2 1.7, librdkafka 2.3); CI does
  # not run it.
  ubuntu:24.04) release_packages=(libboost-dev libboost-json-dev libboost-url-dev
                  clang-18 libclang-rt-18-dev openjdk-21-jre-headless) ;;
  *) echo "setup: ${release##*:} is not supported: gitopsd is built and tested on Debian 12" \
       "(bookworm) and Debian 13 (trixie), and set up on Ubuntu 24.04" >&2
     exit 1 ;;
esac
packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates python3
  openssh-server openssh-client
  "${release_packages[@]}"
  librdkafka-dev libgit2-dev libssl-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  maven kcat
  python3-jsonschema python3-confluent-kafka wrk webhook openssl
  prometheus ansible-core systemd lintian dpkg-dev
)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Kafka brokers' jars (deploy/kafka/libs/VERSION, git-ignored), resolved once from Maven
# Central: broker.sh's default 4.x, which the release suite tests, and 3.9.2, which the
# sanitizer suite tests. broker.sh resolves any other --version on first use.
"$here/deploy/kafka/broker.sh" resolve
"$here/deploy/kafka/broker.sh" resolve --version 3.9.2
# Files written as root for a non-root caller stay usable by them.
if [ -n "${SUDO_UID:-}" ]; then chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$here/deploy/kafka/libs"; fi

# Gitea, the real Git host of the tests that need a Git host's API and webhooks
# (tests/worker/gitea_gittest.cpp, the notifier's end-to-end test), built once from the Go module
# proxy by deploy/gitea/gitea.sh into ${GITOPSD_CACHE_DIR:-~/.cache/gitopsd}/gitea/VERSION (4 min
# cold on 2 idle cores, leaving 2.8 GB of Go caches in the builder's home); a later run finds it
# and takes no time. The build needs a go command of 1.21 or later: the machine's own (/usr/local/go
# or PATH), else Debian's golang-go (Debian 12: from bookworm-backports). When that Go is older
# than Gitea's go.mod wants, gitea.sh has it fetch the newer toolchain from the module proxy.
# Built as the caller, so it lands in their cache, which the tests read.
as_caller() {
  if [ -n "${SUDO_USER:-}" ]; then
    sudo -u "$SUDO_USER" -H --preserve-env=PATH,GITOPSD_CACHE_DIR,GITOPSD_GITEA_VERSION "$@"
  else
    "$@"
  fi
}
gitea=$here/deploy/gitea/gitea.sh
if ! as_caller "$gitea" binary >/dev/null 2>&1; then
  if ! "$gitea" go >/dev/null 2>&1; then
    echo "setup: installing Debian's golang-go${go_suite:+ from $go_suite} to build Gitea"
    export DEBIAN_FRONTEND=noninteractive
    if [ -n "$go_suite" ]; then
      echo "deb http://deb.debian.org/debian $go_suite main" > "/etc/apt/sources.list.d/$go_suite.list"
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends ${go_suite:+-t "$go_suite"} golang-go
  fi
  start=$SECONDS
  as_caller "$gitea" build >/dev/null
  echo "setup: built Gitea in $((SECONDS - start)) s"
fi
echo "setup: done"
