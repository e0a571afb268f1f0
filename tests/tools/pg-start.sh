#!/bin/sh
# A throw-away PostgreSQL cluster for the tests (docs/store.md, "Running the contract suite").
#
#   tests/tools/pg-start.sh start DIR    make a cluster in DIR (new or empty), start it, print
#                                        its variables (below) and write them to DIR/env
#   tests/tools/pg-start.sh stop DIR     stop it (fast shutdown) and remove DIR
#   tests/tools/pg-start.sh halt DIR     stop the server only (fast shutdown; DIR kept)
#   tests/tools/pg-start.sh resume DIR   start a halted server again, on the same port
#   tests/tools/pg-start.sh run CMD ...  start one in a new temporary directory, run CMD with the
#                                        variables in its environment, stop and remove it (also
#                                        when CMD fails or the script is interrupted); CMD's
#                                        exit status. When PostgreSQL cannot start here, prints
#                                        one "SKIP: ..." line and exits 0 without running CMD
#
# Variables:
#   PG_URL       superuser (postgres, trust) over the unix socket in DIR:
#                postgresql:///postgres?host=DIR&port=PORT&user=postgres
#   PG_HOST, PG_PORT, PG_DIR
#   PG_TCP_URL   role attestd on 127.0.0.1:PORT, database attestd, password required
#                (scram-sha-256) and not in the URL: postgresql://attestd@127.0.0.1:PORT/attestd
#   PG_PASSWORD  that role's password (random); PG_PASSFILE a libpq passfile (0600) holding it
#
# The server listens on a unix socket in DIR and on 127.0.0.1 only, on a free port. PostgreSQL
# refuses to run as root: as root, DIR is given to the user `nobody` and initdb, pg_ctl and the
# server run as that user (runuser); otherwise they run as the caller. fsync is off: a test
# cluster, never for data that matters.
set -eu

die() {
    echo "pg-start: $*" >&2
    exit 1
}

pg_bin() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return
    fi
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
    done
    return 1
}

as_owner() { # run "$@" as the cluster's owner
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    dir=$1
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    bin=$(pg_bin) || die "no PostgreSQL server found (initdb, pg_ctl; Debian: postgresql)"
    chmod 0700 "$dir"
    if [ "$(id -u)" = 0 ]; then
        command -v runuser >/dev/null 2>&1 || die "running as root needs runuser"
        chown nobody "$dir"
        runuser -u nobody -- test -x "$dir" ||
            die "$dir cannot be reached by the user nobody (a parent directory is private)"
    fi
    port=$(free_port)
    pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -n 3 "$dir/initdb.log" | tr '\n' ' ')"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "$(server_opts "$dir" "$port")" \
        start >/dev/null 2>&1 || die "the server did not start: $(tail -n 3 "$dir/server.log" | tr '\n' ' ')"
    psql=$(command -v psql || echo "$bin/psql")
    "$psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE attestd LOGIN PASSWORD '$pw'" -c "CREATE DATABASE attestd OWNER attestd" \
        >/dev/null || die "creating the attestd role and database failed"
    umask 077
    printf '127.0.0.1:%s:attestd:attestd:%s\n' "$port" "$pw" >"$dir/passfile"
    # KEY='VALUE' lines: sourced by sh (values hold '&'), read by the Python tests
    cat >"$dir/env" <<EOF
PG_DIR='$dir'
PG_HOST='$dir'
PG_PORT='$port'
PG_URL='postgresql:///postgres?host=$dir&port=$port&user=postgres'
PG_TCP_URL='postgresql://attestd@127.0.0.1:$port/attestd'
PG_PASSWORD='$pw'
PG_PASSFILE='$dir/passfile'
EOF
    cat "$dir/env"
}

server_opts() { # the server's options for DIR and its port
    echo "-k $1 -p $2 -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
}

halt() {
    bin=$(pg_bin) || die "no PostgreSQL server found"
    as_owner "$bin/pg_ctl" -D "$1/data" -m fast -w -t 30 stop >/dev/null 2>&1 || die "stopping failed"
}

resume() {
    bin=$(pg_bin) || die "no PostgreSQL server found"
    port=$(sed -n "s/^PG_PORT='\(.*\)'$/\1/p" "$1/env")
    as_owner "$bin/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 30 -o "$(server_opts "$1" "$port")" \
        start >/dev/null 2>&1 || die "the server did not start again: $(tail -n 3 "$1/server.log" | tr '\n' ' ')"
}

stop() {
    dir=$1
    [ -d "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        bin=$(pg_bin) || true
        if ! as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
            pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$dir"
}

case "${1:-}" in
start)
    [ $# -eq 2 ] || die "usage: pg-start.sh start DIR"
    start "$2"
    ;;
stop)
    [ $# -eq 2 ] || die "usage: pg-start.sh stop DIR"
    stop "$2"
    ;;
halt | resume)
    [ $# -eq 2 ] || die "usage: pg-start.sh $1 DIR"
    "$1" "$2"
    ;;
run)
    shift
    [ $# -ge 1 ] || die "usage: pg-start.sh run CMD [ARG...]"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/att-pg-XXXXXX")
    trap 'stop "$dir"' EXIT
    trap 'exit 130' INT TERM
    if ! out=$(start "$dir" 2>&1); then
        echo "SKIP: PostgreSQL cannot start here: $(echo "$out" | tail -n 1)"
        exit 0
    fi
    set -a
    . "$dir/env"
    set +a
    rc=0
    "$@" || rc=$?
    exit $rc
    ;;
*)
    die "usage: pg-start.sh start DIR | stop DIR | halt DIR | resume DIR | run CMD [ARG...]"
    ;;
esac
