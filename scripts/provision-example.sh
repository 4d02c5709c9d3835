#!/usr/bin/env bash
# Provisions users and a service token as a deployment script would, on a temporary SQLite
# database, and checks the result over HTTP:
#   1. import users from a CSV file with `sesame import-users`,
#   2. create a token for the service account with `sesame tokens create --json`,
#   3. start `sesame run --port 0` and read the URL it prints,
#   4. create and list workspaces with that token,
#   5. revoke the token and check that the server rejects it,
#   6. stop the server with SIGTERM.
#
# Usage: scripts/provision-example.sh [SESAME_BINARY]   (default: target/debug/sesame)
# Needs bash, curl and sed. Every request goes to 127.0.0.1, and the temporary directory is
# removed on exit. Exit code 0 means every step worked.

set -euo pipefail

fail() {
    echo "error: $*" >&2
    exit 1
}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sesame=${1:-$repo_root/target/debug/sesame}
case $sesame in
    /*) ;;
    *) sesame=$PWD/$sesame ;;
esac
if [ ! -x "$sesame" ]; then
    echo "error: $sesame is not an executable file; run cargo build or pass the binary's path" >&2
    exit 2
fi
command -v curl > /dev/null || fail "curl is not installed; install it to run this example"

workdir=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2> /dev/null || true
        wait "$server_pid" 2> /dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT

# Use the temporary database only: drop the caller's SESAME_* variables, and work in the
# temporary directory so that no .env file is read.
for name in $(compgen -e); do
    case $name in
        SESAME_*) unset "$name" ;;
    esac
done
export SESAME_DATABASE_URL="sqlite://$workdir/sesame.db"
cd "$workdir"

echo "== Importing users"
cat > users.csv << 'CSV'
username,password
alice@example.com,alice-correct-horse
"Smith, Bob",bob-battery-staple
deploy-bot,bot-long-random-secret
CSV
"$sesame" import-users users.csv
"$sesame" users list

echo "== Creating a token for deploy-bot"
token_json=$("$sesame" tokens create --username deploy-bot --title "provisioning example" --expires-in 60 --json)
token=$(printf '%s\n' "$token_json" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || fail "tokens create --json printed no token"
# A header file keeps the token out of the process list.
(umask 077 && printf 'Authorization: Bearer %s\n' "$token" > auth.header)

echo "== Starting the server"
# The files exist before the server starts, because the background shell opens them only
# after this one has moved on to reading server.out.
: > server.out
: > server.log
"$sesame" run --port 0 > server.out 2> server.log &
server_pid=$!
url=
for _ in $(seq 1 100); do
    url=$(sed -n 's/^Open Sesame is running at //p' server.out)
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2> /dev/null || fail "the server exited; its log: $(cat server.log)"
    sleep 0.1
done
[ -n "$url" ] || fail "the server printed no URL within 10 seconds; its log: $(cat server.log)"
case $url in
    http://127.0.0.1:*) echo "Server at $url" ;;
    *) fail "the server URL $url is not on 127.0.0.1" ;;
esac

# Prints the HTTP status of a request to the server and leaves the body in body.json.
request() {
    curl --silent --show-error --max-time 10 --output body.json --write-out '%{http_code}' -H @auth.header "$@"
}

echo "== Using the token"
status=$(request "$url/api/workspaces")
[ "$status" = 200 ] || fail "GET /api/workspaces returned $status: $(cat body.json)"
[ "$(cat body.json)" = "[]" ] || fail "a new user should have no workspaces, got $(cat body.json)"

status=$(request -X POST -H 'Content-Type: application/json' --data '{"title": "Deploys"}' "$url/api/workspaces")
[ "$status" = 201 ] || fail "POST /api/workspaces returned $status: $(cat body.json)"

status=$(request "$url/api/workspaces")
[ "$status" = 200 ] || fail "GET /api/workspaces returned $status: $(cat body.json)"
grep -q '"title":"Deploys"' body.json || fail "the new workspace is not listed: $(cat body.json)"
echo "The token lists the new workspace"

echo "== Revoking the token"
printf '%s\n' "$token" | "$sesame" revoke-tokens --username deploy-bot --token -
status=$(request "$url/api/workspaces")
[ "$status" = 401 ] || fail "a revoked token got $status instead of 401"
echo "The server rejects the revoked token"

echo "== Stopping the server"
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=
[ "$server_status" = 0 ] || fail "the server exited with status $server_status after SIGTERM"
echo "Provisioning example finished"
