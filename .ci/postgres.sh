#!/usr/bin/env bash
# A throwaway PostgreSQL server for the distributed tests (tests/test_distributed.py).
#
#   .ci/postgres.sh start DIR   start a server whose files all live in DIR (an empty
#                               folder) and print its SQLAlchemy URL on stdout
#   .ci/postgres.sh stop DIR    stop that server and delete DIR
#
# The server listens on 127.0.0.1 only, on a free port, with a random password; its
# socket, data and log stay in DIR. Run as root, it runs as the `postgres` user (initdb
# refuses root); when no server binaries are found and apt-get is available, the Debian
# package `postgresql` is installed first. Typical use:
#
#   dir="$(mktemp -d)"; trap '.ci/postgres.sh stop "$dir"' EXIT
#   export ORS_TEST_POSTGRES_URL="$(.ci/postgres.sh start "$dir")"
set -euo pipefail

die() {
    echo "postgres.sh: $*" >&2
    exit 1
}

# Folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/<version>/bin
# (Debian keeps them off PATH), else wherever PATH finds initdb.
find_bindir() {
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null \
        | sort -V | tail -n 1)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    elif command -v initdb >/dev/null; then
        dirname "$(command -v initdb)"
    fi
}

# Run a command as the server's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local dir="$1" bindir port password
    [[ -d "$dir" ]] || die "start: $dir is not a folder; pass an empty folder (mktemp -d)."
    [[ -z "$(ls -A "$dir")" ]] || die "start: $dir is not empty; pass an empty folder."
    bindir="$(find_bindir)"
    if [[ -z "$bindir" ]]; then
        command -v apt-get >/dev/null \
            || die "no PostgreSQL server found (initdb) and no apt-get to install one."
        echo "postgres.sh: installing the Debian package postgresql" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            postgresql >&2
        bindir="$(find_bindir)"
        [[ -n "$bindir" ]] || die "postgresql was installed but initdb was not found."
    fi
    if [[ "$(id -u)" == 0 ]]; then
        id postgres >/dev/null 2>&1 \
            || die "running as root but there is no user postgres to own the server."
        chown postgres "$dir"
    fi
    chmod 700 "$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    # Written by the owner so that initdb can read it; deleted right after.
    as_owner bash -c 'umask 077 && cat > "$1"' _ "$dir/pwfile" <<<"$password"
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data (log above)."; }
    rm -f "$dir/pwfile"
    # fsync off: the data is thrown away at the end, durability buys nothing here.
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=100" \
        start >&2 \
        || { cat "$dir/server.log" >&2; die "the server in $dir/data did not start (log above)."; }
    echo "$bindir" >"$dir/bindir"
    echo "postgresql+psycopg2://postgres:$password@127.0.0.1:$port/postgres"
}

stop() {
    local dir="$1"
    [[ -d "$dir" ]] || return 0
    if [[ -f "$dir/bindir" && -d "$dir/data" ]]; then
        as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
start | stop)
    [[ $# == 2 ]] || die "usage: $0 start|stop DIR"
    "$1" "$2"
    ;;
*)
    die "usage: $0 start|stop DIR (got: ${*:-nothing})"
    ;;
esac
