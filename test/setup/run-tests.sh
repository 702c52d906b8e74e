#!/usr/bin/env bash
# The test command (`npm test`): makes sure the servers the integration tests start are
# installed, builds the package (the CLI tests run the built `onex`), then runs vitest.
# Each integration test starts its own nats-server / etcd on free loopback ports. Debian's
# chromium is the real browser test/reference-site drives (puppeteer-core downloads none).
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v jq >/dev/null 2>&1 || need+=(jq)
# fonts-liberation is only a Recommends of chromium; without a font the screenshots show boxes.
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-liberation)
# The keygen fault tests make a file immutable and mount a small tmpfs in a namespace of their own.
command -v chattr >/dev/null 2>&1 || need+=(e2fsprogs)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "run-tests: missing ${need[*]}; install them (apt-get install -y ${need[*]}) or run as root" >&2
    exit 1
  fi
  echo "run-tests: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
for bin in nats-server etcd openssl jq chromium chattr unshare; do
  command -v "$bin" >/dev/null 2>&1 || { echo "run-tests: $bin is still missing after install" >&2; exit 1; }
done

npm run build --silent
exec npx vitest run "$@"
