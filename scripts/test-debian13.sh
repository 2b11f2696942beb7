#!/usr/bin/env bash
# Proves gitopsd on Debian 13 (trixie) from any Debian host: a minimal trixie chroot
# (debootstrap, reused when already complete), a clean copy of this checkout's git-tracked
# files, then inside it the README's set-up (scripts/setup.sh) and the release and packager suites of
# scripts/test.sh: a build with warnings as errors, the unit tests and the integration tests
# against a real Kafka broker. Prints the time of each phase. Runs as root (or re-runs itself
# with sudo). The chroot shares the host's network (the tests pick free ports) and has its own
# /tmp.
#   GITOPSD_TRIXIE_ROOT    the chroot directory (default /var/tmp/gitopsd-trixie)
#   GITOPSD_DEBIAN_MIRROR  the Debian mirror (default http://deb.debian.org/debian)
#   GITOPSD_MAVEN_REPO     a Maven repository copied in first so the broker's jars are not all
#                          downloaded again (default ~/.m2/repository, skipped when missing)
#   GITOPSD_REQUIRE_GITEA  passed in (1: the Gitea tests fail rather than skip without Gitea)
# The host's Gitea (deploy/gitea/gitea.sh binary: static, so it runs on trixie too) is copied
# into the chroot's cache, so its set-up need not build it again.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env=PATH,GITOPSD_TRIXIE_ROOT,GITOPSD_DEBIAN_MIRROR,GITOPSD_MAVEN_REPO,GITOPSD_CACHE_DIR,GITOPSD_REQUIRE_GITEA "$0" "$@"; fi

root=${GITOPSD_TRIXIE_ROOT:-/var/tmp/gitopsd-trixie}
mirror=${GITOPSD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
maven_repo=${GITOPSD_MAVEN_REPO:-$HOME/.m2/repository}
case "$root" in
  /?*) root=${root%/} ;;
  *) echo "test-debian13.sh: GITOPSD_TRIXIE_ROOT must be an absolute path other than /" >&2; exit 2 ;;
esac
ready=$root/.gitopsd-debootstrap-complete   # written once debootstrap has succeeded
checkout=/root/gitopsd                      # where the copy lives inside the chroot

started=$(date +%s)
phase_started=$started
timings=()
phase_done() {
  local now
  now=$(date +%s)
  timings+=("$(printf '%-12s %5d s' "$1" $((now - phase_started)))")
  echo "test-debian13.sh: $1 took $((now - phase_started)) s"
  phase_started=$now
}
print_timings() {
  printf '%s\n' "${timings[@]}"
  printf '%-12s %5d s\n' total $(($(date +%s) - started))
}

# Everything mounted below the chroot, deepest first.
mounts_below_root() { findmnt -rn -o TARGET | awk -v r="$root/" 'index($0, r) == 1' | sort -r; }

# Processes whose root is the chroot (a broker or sshd a failed test left running) would keep
# its mounts busy; only this script starts processes there.
stop_chroot_processes() {
  local pid link
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    link=$(readlink "/proc/$pid/root" 2>/dev/null) || continue
    if [ "$link" = "$root" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
}

unmount_all() {
  local target
  stop_chroot_processes
  while read -r target; do
    [ -n "$target" ] || continue
    umount "$target" 2>/dev/null || umount -l "$target" || echo "test-debian13.sh: cannot unmount $target" >&2
  done < <(mounts_below_root)
}

finish() {
  local rc=$?
  unmount_all
  if [ ${#timings[@]} -gt 0 ]; then print_timings; fi
  if [ "$rc" -eq 0 ]; then echo "test-debian13.sh: passed on Debian 13"; else echo "test-debian13.sh: FAILED ($rc)" >&2; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# Mounts a previous run could not remove (it was killed) go first, so nothing is deleted
# through them.
unmount_all

# 1. A minimal trixie, reused when a previous run completed it.
if [ ! -f "$ready" ] || ! grep -qx 'VERSION_ID="13"' "$root/etc/os-release" 2>/dev/null; then
  if ! command -v debootstrap >/dev/null; then
    echo "test-debian13.sh: installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  fi
  rm -rf --one-file-system "$root"
  debootstrap --variant=minbase trixie "$root" "$mirror"
  touch "$ready"
fi
phase_done debootstrap

# 2. The chroot's kernel file systems, its own /tmp, the host's name servers, and the checkout.
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs tmpfs "$root/dev/shm"
mount -t tmpfs tmpfs "$root/tmp"
cp /etc/resolv.conf "$root/etc/resolv.conf"
rm -rf --one-file-system "$root$checkout"
mkdir -p "$root$checkout"
# The tracked files as they are in the work tree (uncommitted edits included), nothing the host
# built or resolved (build*/, deploy/kafka/libs).
git -C "$here" ls-files -z | tar -C "$here" --null -T - --ignore-failed-read -cf - | tar -C "$root$checkout" -xf -
if [ -d "$maven_repo" ]; then
  mkdir -p "$root/root/.m2/repository"
  cp -a "$maven_repo/." "$root/root/.m2/repository/"
fi
if gitea=$("$here/deploy/gitea/gitea.sh" binary 2>/dev/null); then
  # .../gitea/VERSION/gitea into the chroot's default cache (HOME=/root there).
  install -D -m 0755 "$gitea" "$root/root/.cache/gitopsd/gitea/$(basename "$(dirname "$gitea")")/gitea"
fi
phase_done prepare

in_chroot() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb GITOPSD_REQUIRE_GITEA="${GITOPSD_REQUIRE_GITEA:-}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd $checkout && $1"
}

# 3. The README's set-up, then the release suite.
in_chroot ./scripts/setup.sh
phase_done setup
in_chroot 'GITOPSD_TEST_SUITES="release packager" ./scripts/test.sh'
phase_done test-release-packager
