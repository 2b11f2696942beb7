#!/usr/bin/env bash
# Installs every build and test dependency of gitopsd on Debian 12 (bookworm) and resolves
# the Apache Kafka broker the tests run. Idempotent; run as root (or it re-runs itself with sudo).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "setup: installing packages needs root: run this as root, or install and set up sudo" >&2
    exit 1
  fi
  exec sudo --preserve-env=PATH "$0" "$@"
fi

packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates python3
  openssh-server openssh-client
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  librdkafka-dev libgit2-dev libssl-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  openjdk-17-jre-headless maven kcat
  python3-jsonschema wrk webhook openssl
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
echo "setup: done"
