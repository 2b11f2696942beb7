#!/usr/bin/env bash
# Sends a signed GitHub push webhook for repository acme/demo, branch main.
# usage: send-webhook.sh --secret-file FILE [--repo acme/demo] [--branch main] [--after SHA] URL
# Without --after the commit id is random (the receiver accepts it; a worker refuses it as
# not on the branch).
set -euo pipefail
secret_file= repo=acme/demo branch=main url= after=
while [ $# -gt 0 ]; do
  case "$1" in
    --secret-file) secret_file=$2; shift 2 ;;
    --repo) repo=$2; shift 2 ;;
    --branch) branch=$2; shift 2 ;;
    --after) after=$2; shift 2 ;;
    *) url=$1; shift ;;
  esac
done
[ -n "$secret_file" ] && [ -n "$url" ] || { echo "usage: $0 --secret-file FILE URL" >&2; exit 2; }
[ -n "$after" ] || after=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
before=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
body=$(printf '{"ref":"refs/heads/%s","before":"%s","after":"%s","forced":false,"deleted":false,"created":false,"repository":{"full_name":"%s","clone_url":"https://github.com/%s.git"},"pusher":{"name":"octocat"},"sender":{"login":"octocat"}}' \
  "$branch" "$before" "$after" "$repo" "$repo")
secret=$(cat "$secret_file")
secret=${secret%$'\n'}
signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
curl -sS -i -X POST "$url" \
  -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
  -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" \
  -H "X-Hub-Signature-256: sha256=$signature" --data-binary "$body"
echo
