# Helpers that scripts/browser-test.sh and scripts/conformance.sh source: messages, and a
# `sesame run` server on 127.0.0.1 with its own temporary SQLite database.

step() {
    printf '\n==> %s\n' "$*"
}

fail() {
    echo "error: $*" >&2
    exit 1
}

SERVER_PID=""
SERVER_URL=""
SERVER_DIR=""

# Creates the temporary directory of the server and points SESAME_DATABASE_URL at a SQLite
# file in it. Unsets every other SESAME_* variable of the caller, and `sesame` commands run in
# that empty directory, so no .env file is read either. Call it before any `sesame` command.
prepare_server_dir() {
    local variable
    for variable in $(compgen -e | grep '^SESAME_' || true); do
        unset "$variable"
    done
    SERVER_DIR=$(mktemp -d)
    export SESAME_DATABASE_URL="sqlite://$SERVER_DIR/sesame.db"
    export SESAME_LOG=info
    export NO_PROXY=127.0.0.1,localhost
    trap stop_server EXIT
}

# Runs `SESAME ARGUMENT...` in the server's directory.
# Usage: run_sesame SESAME ARGUMENT...
run_sesame() {
    local sesame=$1
    shift
    (cd "$SERVER_DIR" && "$sesame" "$@")
}

# Starts `sesame run --port 0`, waits up to 30 s for the URL it prints and sets SERVER_URL
# and SERVER_PID. The server's log goes to LOG_FILE.
# Usage: start_server SESAME LOG_FILE
start_server() {
    local sesame=$1 log_file=$2
    step "Starting sesame run --port 0"
    # Created first, because the background shell opens it only after this one reads it.
    : >"$SERVER_DIR/stdout.log"
    (cd "$SERVER_DIR" && exec "$sesame" run --host 127.0.0.1 --port 0) >"$SERVER_DIR/stdout.log" 2>"$log_file" &
    SERVER_PID=$!

    for _ in $(seq 1 300); do
        SERVER_URL=$(sed -n 's/^Open Sesame is running at //p' "$SERVER_DIR/stdout.log")
        [[ -n "$SERVER_URL" ]] && break
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$log_file" >&2
            fail "sesame run exited before it printed its URL; its log is above"
        fi
        sleep 0.1
    done
    [[ -n "$SERVER_URL" ]] || fail "sesame run did not print its URL within 30 s; see $log_file"
    [[ "$SERVER_URL" == http://127.0.0.1:* ]] || fail "unexpected server URL $SERVER_URL"
    echo "server at $SERVER_URL"
}

# Stops the server, if one runs, and removes its directory.
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
    if [[ -n "$SERVER_DIR" ]]; then
        rm -rf "$SERVER_DIR"
        SERVER_DIR=""
    fi
}
