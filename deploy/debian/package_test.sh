#!/usr/bin/env bash
# Installs a gitopsd .deb (make_deb.sh makes it) with dpkg -i, checks files, user, directories,
# units (systemd-analyze verify on the installed units) and `gitopsctl dev --help` (gitopsctl
# execs the packaged gitopsctl-dev), loads the shipped example config,
# then purges the package and checks that nothing is left behind. Needs root and changes the
# machine: CI and throw-away machines only; scripts/test.sh's packager suite runs it.
# Usage: package_test.sh DEB. Exit 77 (with the reason on stdout) when it cannot run here.
set -euo pipefail
deb=$1
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root to dpkg -i / --purge the package"
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed (scripts/setup.sh installs it)"
if dpkg-query -W -f='${Status}' gitopsd 2>/dev/null | grep -q 'installed'; then
  skip "a gitopsd package is installed on this machine already; not touching it"
fi
if getent passwd gitopsd >/dev/null || [ -e /var/lib/gitopsd ] || [ -e /etc/gitopsd ]; then
  skip "a gitopsd user, /var/lib/gitopsd or /etc/gitopsd exists already; not touching it"
fi

fail() { echo "FAIL: $*"; exit 1; }
installed=0
cleanup() { if [ "$installed" = 1 ]; then dpkg --purge gitopsd >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

echo "== dpkg -i"
installed=1
dpkg -i "$deb"
for f in /usr/bin/gitopsd-receiver /usr/bin/gitopsd-worker /usr/bin/gitopsd-notifier /usr/bin/gitopsctl \
         /usr/libexec/gitopsd/gitopsctl-dev; do
  [ -x "$f" ] || fail "$f missing or not executable"
done
# /lib/systemd/system on Debian 12, /usr/lib/systemd/system on 13 (GITOPSD_SYSTEMD_UNIT_DIR).
units=$(dirname "$(dpkg -L gitopsd | grep '/gitopsd-receiver\.service$')")
for f in "$units/gitopsd-receiver.service" "$units/gitopsd-worker@.service" "$units/gitopsd-notifier.service" \
         /usr/share/doc/gitopsd/copyright /usr/share/doc/gitopsd/examples/targets.conf.example \
         /usr/share/doc/gitopsd/examples/kubectl.yaml /usr/share/doc/gitopsd/examples/gitopsd-alerts.yml; do
  [ -f "$f" ] || fail "$f missing"
done
[ ! -e /usr/share/doc/gitopsd/examples/dev.yaml ] || fail "dev.yaml is for gitopsctl dev, not the package"
for f in /usr/lib/gitopsd/tofu-apply /usr/lib/gitopsd/tofu-plan /usr/lib/gitopsd/ansible-check; do
  [ -x "$f" ] || fail "$f missing or not executable (the exec examples name it)"
done
grep -qx 'ExecStart=/usr/bin/gitopsd-receiver --config /etc/gitopsd/gitopsd.yaml' "$units/gitopsd-receiver.service" ||
  fail "receiver unit does not run /usr/bin/gitopsd-receiver"
grep -qx 'ExecStart=/usr/bin/gitopsd-worker --config /etc/gitopsd/gitopsd.yaml --instance %i' "$units/gitopsd-worker@.service" ||
  fail "worker unit does not run /usr/bin/gitopsd-worker"
grep -qx 'ExecStart=/usr/bin/gitopsd-notifier --config /etc/gitopsd/gitopsd.yaml' "$units/gitopsd-notifier.service" ||
  fail "notifier unit does not run /usr/bin/gitopsd-notifier"
dpkg-query -W -f='${Conffiles}\n' gitopsd | grep -q '/etc/gitopsd/gitopsd.yaml' || fail "gitopsd.yaml is not a conffile"
[ "$(stat -c '%U:%G %a' /etc/gitopsd/gitopsd.yaml)" = "root:gitopsd 640" ] || fail "gitopsd.yaml: $(stat -c '%U:%G %a' /etc/gitopsd/gitopsd.yaml)"

getent passwd gitopsd >/dev/null || fail "no gitopsd user"
uid=$(id -u gitopsd)
[ "$uid" -lt 1000 ] || fail "gitopsd is not a system user (uid $uid)"
[ "$(getent passwd gitopsd | cut -d: -f7)" = /usr/sbin/nologin ] || fail "gitopsd has a login shell"
[ "$(stat -c '%U:%G %a' /var/lib/gitopsd)" = "gitopsd:gitopsd 750" ] || fail "/var/lib/gitopsd: $(stat -c '%U:%G %a' /var/lib/gitopsd)"
[ "$(stat -c '%U:%G %a' /etc/gitopsd/secrets)" = "root:gitopsd 750" ] || fail "/etc/gitopsd/secrets: $(stat -c '%U:%G %a' /etc/gitopsd/secrets)"

echo "== gitopsctl dev --help"
# gitopsctl execs /usr/libexec/gitopsd/gitopsctl-dev (nothing sits next to it in /usr/bin); the
# usage text is gitopsctl-dev's own.
out=$(/usr/bin/gitopsctl dev --help 2>&1) || fail "gitopsctl dev --help: exit $?: $out"
echo "$out" | grep -qF 'Usage: gitopsctl dev [OPTIONS]' || fail "gitopsctl dev --help printed no usage: $out"
echo "$out" | grep -q -- '--log-level' || fail "gitopsctl dev --help lists no options: $out"
echo ok

echo "== systemd-analyze verify (installed units)"
out=$(systemd-analyze verify "$units/gitopsd-receiver.service" "$units/gitopsd-worker@1.service" \
      "$units/gitopsd-notifier.service" 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "verify: $out"
echo ok

echo "== the shipped example config"
# As shipped it names an unset variable, so the services refuse to start until configured...
set +e
out=$(runuser -u gitopsd -- /usr/bin/gitopsctl check-config --config /etc/gitopsd/gitopsd.yaml 2>&1); rc=$?
set -e
echo "$out"
[ "$rc" -eq 2 ] || fail "check-config on the unconfigured example: exit $rc, want 2"
echo "$out" | grep -q "environment variable 'GITOPSD_EXAMPLE_SECRET' is unset or empty" || fail "unclear error"
# ...and with it set, the loader takes every line of it (as the gitopsd user, as under systemd).
runuser -u gitopsd -- env GITOPSD_EXAMPLE_SECRET=example /usr/bin/gitopsctl check-config --config /etc/gitopsd/gitopsd.yaml ||
  fail "the example config does not load"

echo "== dpkg --purge"
touch /var/lib/gitopsd/leftover /etc/gitopsd/secrets/leftover
dpkg --purge gitopsd
installed=0
for f in /usr/bin/gitopsd-receiver /usr/bin/gitopsd-worker /usr/bin/gitopsd-notifier /usr/bin/gitopsctl \
         /usr/libexec/gitopsd "$units/gitopsd-receiver.service" "$units/gitopsd-worker@.service" \
         "$units/gitopsd-notifier.service" /usr/share/doc/gitopsd \
         /etc/gitopsd /var/lib/gitopsd; do
  [ ! -e "$f" ] || fail "$f left behind"
done
! getent passwd gitopsd >/dev/null || fail "gitopsd user left behind"
! getent group gitopsd >/dev/null || fail "gitopsd group left behind"
! dpkg-statoverride --list /etc/gitopsd/gitopsd.yaml >/dev/null || fail "statoverride left behind"
echo "PASS"
