#!/usr/bin/env bash
# with-postgres.sh COMMAND [ARG...]
#
# Runs COMMAND with AIOS_TEST_POSTGRES set to the URL of a throwaway
# PostgreSQL cluster: initdb in a temporary directory, postgres listening on
# 127.0.0.1 on a random free port (and on a socket in that directory only),
# trust authentication for the one user "aios". The cluster is stopped and
# its directory removed when COMMAND ends, however it ends; COMMAND's exit
# status is the script's.
#
# The server binaries are looked up on PATH, then under
# /usr/lib/postgresql/<version>/bin (where Debian's packages put them),
# newest version first. Without them, COMMAND runs with AIOS_TEST_POSTGRES
# unset, and the tests that need PostgreSQL skip saying so.
#
# initdb refuses to run as root: as root, the cluster is run as the user
# "postgres" (Debian's package creates it) or, failing that, "nobody".
#
# AIOS_PG_FSYNC=off (the default here: the cluster is thrown away) skips
# fsync; set AIOS_PG_FSYNC=on for durable commits, as for benchmarks.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
if [ -n "${AIOS_TEST_POSTGRES:-}" ]; then
  exec "$@" # already set: use that server
fi

bindir=""
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
  bindir=$(dirname "$(command -v initdb)")
else
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir=$d; break; fi
  done
fi
if [ -z "$bindir" ]; then
  echo "with-postgres: PostgreSQL server binaries not found (initdb, pg_ctl); running without AIOS_TEST_POSTGRES" >&2
  exec "$@"
fi

as=()
if [ "$(id -u)" -eq 0 ]; then
  user=postgres
  id "$user" >/dev/null 2>&1 || user=nobody
  as=(runuser -u "$user" --)
fi

tmp=$(mktemp -d)
[ ${#as[@]} -gt 0 ] && chown "$user" "$tmp"
stop() {
  "${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap stop EXIT

"${as[@]}" "$bindir/initdb" -D "$tmp/data" -U aios --auth=trust -E UTF8 --no-sync >"$tmp/initdb.log" 2>&1 ||
  { cat "$tmp/initdb.log" >&2; exit 1; }

fsync=${AIOS_PG_FSYNC:-off}
started=""
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  if "${as[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 30 \
      -o "-h 127.0.0.1 -p $port -k $tmp -c fsync=$fsync -c max_connections=300" start >/dev/null 2>&1; then
    started=1
    break
  fi
done
if [ -z "$started" ]; then
  echo "with-postgres: postgres did not start; its log:" >&2
  cat "$tmp/postgres.log" >&2
  exit 1
fi

export AIOS_TEST_POSTGRES="postgres://aios@127.0.0.1:$port/postgres?sslmode=disable"
echo "with-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (fsync=$fsync)" >&2
set +e
"$@"
rc=$?
set -e
exit $rc
