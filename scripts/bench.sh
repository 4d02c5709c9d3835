#!/usr/bin/env bash
# Measures sesame on this machine in one run and prints absolute figures next to the ratios
# the product targets are stated in. It covers the throughput and latency of GET /livez,
# authenticated GET /api/workspaces and the 401 path on SQLite and on PostgreSQL, and server
# memory after 100,000 authenticated requests. It also compares one login with one Argon2
# verification, and a bulk import with N hashes spread over every core.
#
# Usage: scripts/bench.sh            (from the repository root; needs root for apt-get only
#                                     when wrk is missing, and PostgreSQL on 127.0.0.1:5432)
# Tunables: BENCH_DURATION (seconds per load run, default 10), BENCH_CONNECTIONS (32),
#           BENCH_THREADS (2), BENCH_IMPORT_USERS (200).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
IMPORT_USERS=${BENCH_IMPORT_USERS:-200}
PG_HOST=127.0.0.1
PG_PORT=5432
PASSWORD='benchmark password'

step() { printf '\n== %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
    step "installing wrk"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

step "building the release binary"
(cd "$ROOT" && cargo build --release --locked --bin sesame --example argon2_timing 2>&1 | tail -n 1) >&2
BIN="$ROOT/target/release/sesame"
TIMING="$ROOT/target/release/examples/argon2_timing"

WORK=$(mktemp -d)
SERVER_PID=""
PG_DATABASE="sesame_bench_$$_$RANDOM"
PG_ROLE="sesame_bench_role_$$_$RANDOM"

cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    psql -qX -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c "DROP DATABASE IF EXISTS $PG_DATABASE WITH (FORCE)" >/dev/null 2>&1 || true
    psql -qX -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c "DROP ROLE IF EXISTS $PG_ROLE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# Starts `sesame run` on a free port with the given environment and sets SERVER_PID and URL.
start_server() {
    # Created first, because the background shell opens them only after this one reads them.
    : >"$WORK/server.out"
    : >"$WORK/server.err"
    env "$@" SESAME_LOG=warn "$BIN" run --port 0 >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        URL=$(sed -n 's/^Open Sesame is running at //p' "$WORK/server.out")
        [[ -n "$URL" ]] && return 0
        sleep 0.1
    done
    echo "error: the server did not start; its log:" >&2
    cat "$WORK/server.err" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

login() {
    curl -sf -X POST "$URL/api/users/create_token" -H 'Content-Type: application/json' \
        -d "{\"username\": \"$1\", \"password\": \"$PASSWORD\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
}

# Creates a user through the CLI, starts the server and creates 20 workspaces through the
# API; sets TOKEN.
seed() {
    printf '%s\n' "$PASSWORD" | env "$@" "$BIN" create-user --username bench --password-stdin >/dev/null
    start_server "$@"
    TOKEN=$(login bench)
    for i in $(seq 20); do
        curl -sf -X POST "$URL/api/workspaces" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -d "{\"title\": \"Workspace $i\", \"config\": {\"model\": \"llama-3-8b\", \"temperature\": 0.7, \"index\": $i}}" >/dev/null
    done
}

# Runs wrk and prints "requests_per_second p50_ms p99_ms total_requests non_2xx".
load() {
    local output
    output=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
    awk '
        function ms(value) {
            if (value ~ /us$/) return substr(value, 1, length(value) - 2) / 1000
            if (value ~ /ms$/) return substr(value, 1, length(value) - 2) + 0
            if (value ~ /s$/) return substr(value, 1, length(value) - 1) * 1000
            return value
        }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        / requests in / { total = $1 }
        /Non-2xx or 3xx responses/ { errors = $NF }
        END { printf "%.0f %.2f %.2f %d %d\n", rps, p50, p99, total, errors + 0 }
    ' <<<"$output"
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status"; }

# Benchmarks one backend; sets RESULT to "livez_rps workspaces_rps ws_p50 ws_p99 unauth_rps
# unauth_p99 rss_kib requests non_2xx".
bench_backend() {
    local token bad_token livez workspaces unauthorized served rss extra
    seed "$@"
    token=$TOKEN
    bad_token="ses_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | head -c 43)"

    livez=$(load "$URL/livez")
    workspaces=$(load -H "Authorization: Bearer $token" "$URL/api/workspaces")
    unauthorized=$(load -H "Authorization: Bearer $bad_token" "$URL/api/workspaces")

    # Memory is read after at least 100,000 authenticated requests on this server.
    served=$(awk '{ print $4 }' <<<"$workspaces")
    while (( served < 100000 )); do
        extra=$(load -H "Authorization: Bearer $token" "$URL/api/workspaces")
        served=$(( served + $(awk '{ print $4 }' <<<"$extra") ))
    done
    rss=$(rss_kib)
    stop_server

    read -r l_rps _ _ _ _ <<<"$livez"
    read -r w_rps w_p50 w_p99 _ w_errors <<<"$workspaces"
    read -r u_rps _ u_p99 _ _ <<<"$unauthorized"
    RESULT="$l_rps $w_rps $w_p50 $w_p99 $u_rps $u_p99 $rss $served $w_errors"
}

step "SQLite: seeding and loading (wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s per route)"
SQLITE_ENV=(SESAME_DATABASE_URL="sqlite://$WORK/bench.db")
bench_backend "${SQLITE_ENV[@]}"
read -r S_LIVEZ S_WS S_WS_P50 S_WS_P99 S_401 S_401_P99 S_RSS S_SERVED S_ERRORS <<<"$RESULT"

step "PostgreSQL: creating $PG_DATABASE, migrating, seeding and loading"
psql -qX -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $PG_DATABASE" >/dev/null
PG_ENV=(
    SESAME_DATABASE_URL="postgres://$PG_ROLE@$PG_HOST:$PG_PORT/$PG_DATABASE"
    SESAME_DATABASE_ADMIN_URL="postgres://postgres@$PG_HOST:$PG_PORT/$PG_DATABASE"
    SESAME_DATABASE_USER="$PG_ROLE"
)
env "${PG_ENV[@]}" "$BIN" migrate >/dev/null
bench_backend "${PG_ENV[@]}"
read -r P_LIVEZ P_WS P_WS_P50 P_WS_P99 P_401 P_401_P99 P_RSS P_SERVED P_ERRORS <<<"$RESULT"

step "login cost: 25 sequential logins against one Argon2 verification"
start_server "${SQLITE_ENV[@]}"
LOGIN_MS=$(for _ in $(seq 25); do
    curl -s -o /dev/null -w '%{time_total}\n' -X POST "$URL/api/users/create_token" -H 'Content-Type: application/json' \
        -d "{\"username\": \"bench\", \"password\": \"$PASSWORD\"}"
done | sort -n | awk '{ v[NR] = $1 * 1000 } END { printf "%.2f", v[int((NR + 1) / 2)] }')
stop_server
ARGON2_REUSED_MS=$("$TIMING" 15)
ARGON2_MS=$(MALLOC_MMAP_THRESHOLD_=1048576 "$TIMING" 15)

CORES=$(nproc)
IMPORT_MS="n/a"
if "$BIN" import-users --help >/dev/null 2>&1; then
    step "bulk import: $IMPORT_USERS users on $CORES cores"
    { echo "username,password"; for i in $(seq "$IMPORT_USERS"); do echo "import-user-$i,$PASSWORD $i"; done; } >"$WORK/users.csv"
    started=$(date +%s%N)
    env SESAME_DATABASE_URL="sqlite://$WORK/import.db" "$BIN" import-users "$WORK/users.csv" >/dev/null
    IMPORT_MS=$(( ($(date +%s%N) - started) / 1000000 ))
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else print "n/a" }'; }

cat <<REPORT

sesame benchmark: $(date -u +%Y-%m-%dT%H:%M:%SZ), $CORES cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s per route, server and wrk on the same machine

                               SQLite        PostgreSQL
GET /livez (req/s)             $(printf '%-13s %s' "$S_LIVEZ" "$P_LIVEZ")
GET /api/workspaces (req/s)    $(printf '%-13s %s' "$S_WS" "$P_WS")
  p50 / p99 (ms)               $(printf '%-13s %s' "$S_WS_P50/$S_WS_P99" "$P_WS_P50/$P_WS_P99")
  non-2xx responses            $(printf '%-13s %s' "$S_ERRORS" "$P_ERRORS")
  workspaces / livez           $(printf '%-13s %s' "$(ratio "$S_WS" "$S_LIVEZ")" "$(ratio "$P_WS" "$P_LIVEZ")")   (target: at least 30% on SQLite)
401 path (req/s, p99 ms)       $(printf '%-13s %s' "$S_401/$S_401_P99" "$P_401/$P_401_P99")
RSS after N auth requests      $(printf '%-13s %s' "$((S_RSS / 1024)) MiB" "$((P_RSS / 1024)) MiB")   (N = $S_SERVED / $P_SERVED; target: under 27 MiB)

login median                   $LOGIN_MS ms
one Argon2id verification      $ARGON2_MS ms   (fresh 19 MiB mapping, as the server runs; Argon2 share of a login: $(ratio "$ARGON2_MS" "$LOGIN_MS"))
  with a reused work area      $ARGON2_REUSED_MS ms   (login / this: $(ratio "$LOGIN_MS" "$ARGON2_REUSED_MS"))
bulk import of $IMPORT_USERS users        $IMPORT_MS ms   (N x one hash / cores = $(awk -v n="$IMPORT_USERS" -v a="$ARGON2_MS" -v c="$CORES" 'BEGIN { printf "%.0f", n * a / c }') ms)
PostgreSQL target: at least 8000 req/s with p99 under 10 ms on GET /api/workspaces
REPORT
