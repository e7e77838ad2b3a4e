#!/usr/bin/env bash
# Makes sure a NATS server with JetStream answers on 127.0.0.1:4222, as the
# bus tests (and `gatehouse worker`) expect by default. On a fresh Debian
# machine it installs Debian's nats-server package and starts it in the
# background with JetStream storage under /var/lib/gatehouse-nats. Does
# nothing when a server already answers (set NATS_URL to use another).
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }

if [ -n "${NATS_URL:-}" ] || answers; then
  exit 0
fi

bin=$(command -v nats-server || true)
if [ -z "$bin" ] && [ -x /usr/sbin/nats-server ]; then bin=/usr/sbin/nats-server; fi
if [ -z "$bin" ]; then
  echo "nats.sh: installing nats-server with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq nats-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nats-server >/dev/null; }
  bin=$(command -v nats-server || echo /usr/sbin/nats-server)
fi

mkdir -p /var/lib/gatehouse-nats
start-stop-daemon --start --oknodo --background --exec "$bin" -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/gatehouse-nats -l /var/log/gatehouse-nats.log

for _ in $(seq 1 100); do
  if answers; then exit 0; fi
  sleep 0.1
done
echo "nats.sh: nats-server did not start; see /var/log/gatehouse-nats.log" >&2
exit 1
