#!/usr/bin/env bash
# deploy/examples/bin/ansible-check against the real ansible-playbook: a playbook on
# localhost that manages one file. Drift (the file missing or edited) exits 1, a converged
# host exits 0, a broken playbook exits above 1, never 0 or 1.
set -euo pipefail
check=$(realpath "${1:?usage: ansible_check_test.sh PATH/TO/ansible-check}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export ANSIBLE_LOCAL_TEMP=$work/tmp ANSIBLE_REMOTE_TEMP=$work/tmp HOME=$work
printf 'localhost ansible_connection=local ansible_python_interpreter=%s\n' "$(command -v python3)" >inventory.ini
cat >site.yml <<YAML
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.copy: {dest: "$work/managed.txt", content: "from git\n", mode: "0644"}
YAML
expect() {  # expect CODE DESCRIPTION ARGS...
  local want=$1 what=$2; shift 2
  set +e; "$check" "$@" >out.log 2>&1; local got=$?; set -e
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: $what: exit $got, want $want"; cat out.log; exit 1
  fi
  echo "ok: $what (exit $got)"
}
expect 1 "file missing is drift" -i inventory.ini site.yml
ansible-playbook -i inventory.ini site.yml >/dev/null
expect 0 "converged host is no drift" -i inventory.ini site.yml
echo "edited by hand" >managed.txt
expect 1 "edited file is drift" -i inventory.ini site.yml
grep -q -- '-edited by hand' out.log || { echo "FAIL: the diff is not in the output"; cat out.log; exit 1; }
echo "- hosts: [" >broken.yml
set +e; "$check" -i inventory.ini broken.yml >out.log 2>&1; got=$?; set -e
if [ "$got" -le 1 ]; then echo "FAIL: broken playbook exit $got"; cat out.log; exit 1; fi
echo "ok: broken playbook is an error (exit $got)"
