#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for
# user postgres, as the service and the tests expect by default. On a fresh
# Debian machine it installs the server with apt, creates a cluster if none
# exists, and starts it. Does nothing when a server already answers.
set -euo pipefail

answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if answers; then
  exit 0
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "postgres.sh: installing PostgreSQL with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$version" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  pg_createcluster --locale C.UTF-8 --encoding UTF8 "$version" main >/dev/null
fi

# Local development and CI only: trust connections from this machine.
hba=/etc/postgresql/$version/main/pg_hba.conf
if ! grep -q '^# gatehouse: trust local' "$hba"; then
  tmp=$(mktemp)
  {
    echo '# gatehouse: trust local connections (development and CI machine)'
    echo 'local   all all                trust'
    echo 'host    all all 127.0.0.1/32   trust'
    echo 'host    all all ::1/128        trust'
    cat "$hba"
  } >"$tmp"
  cat "$tmp" >"$hba"
  rm -f "$tmp"
fi

echo "postgres.sh: starting PostgreSQL $version" >&2
pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload

for _ in $(seq 1 60); do
  if answers; then
    exit 0
  fi
  sleep 0.5
done
echo "postgres.sh: PostgreSQL did not come up on 127.0.0.1:5432" >&2
exit 1
