#!/usr/bin/env bash
# Checks the running API against its own OpenAPI document with Schemathesis: no response may
# be a server error, and every status code, content type, header and body must match the
# document.
#
# Usage: scripts/conformance.sh [SESAME_BINARY]
#
# SESAME_BINARY defaults to target/debug/sesame; build it first with `cargo build`. The script
# installs schemathesis from PyPI into a virtualenv under target/, starts `sesame run` on a
# temporary SQLite database with one user, and runs Schemathesis against
# http://127.0.0.1:PORT/openapi.json with a bearer token of that user. The number of test
# cases per operation is bounded (CONFORMANCE_MAX_EXAMPLES, 100 by default), so that the run
# takes a few minutes at most.
#
# Output: the server log and Schemathesis's JUnit reports in target/conformance/.
set -euo pipefail

cd "$(dirname "$0")/.."

OUTPUT_DIR=target/conformance
VENV=target/conformance-venv
MAX_EXAMPLES=${CONFORMANCE_MAX_EXAMPLES:-100}
# Not the username and password of the document's examples, which Schemathesis sends too: a
# request that signs in with them must fail, not revoke the token of the run.
USERNAME=conformance-user
PASSWORD='conformance test password'
# The checks of responses against the document. CONFORMANCE_CHECKS=all adds checks that
# report known, deliberate differences: 403 (not 401) for a missing Authorization header,
# 405 without an Allow header, and a body with both token and token_id, which the document
# cannot rule out.
CHECKS=${CONFORMANCE_CHECKS:-not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,response_headers_conformance}

# shellcheck source=scripts/test-server.sh
source scripts/test-server.sh

SESAME=${1:-target/debug/sesame}
[[ -x "$SESAME" ]] || fail "$SESAME is not an executable; build it with 'cargo build' or pass its path"
SESAME=$(realpath "$SESAME")

step "Preparing schemathesis in $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'schemathesis>=4.0,<5'
SCHEMATHESIS=$(realpath "$VENV/bin/schemathesis")
"$SCHEMATHESIS" --version

mkdir -p "$OUTPUT_DIR"
prepare_server_dir
# Schemathesis mints a token per test case of POST /api/tokens/token, and the default cap of
# 100 live tokens would then revoke the token of the run.
export SESAME_MAX_TOKENS_PER_USER=100000

step "Creating user $USERNAME and two tokens"
printf '%s\n' "$PASSWORD" | run_sesame "$SESAME" create-user --username "$USERNAME" --password-stdin
# One token for most operations, and one for POST /api/tokens/revoke, which revokes every
# token of the caller when the body names none.
TOKEN=$(run_sesame "$SESAME" tokens create --username "$USERNAME" --title conformance)
REVOKE_TOKEN=$(run_sesame "$SESAME" tokens create --username "$USERNAME" --title conformance-revoke)

start_server "$SESAME" "$OUTPUT_DIR/server.log"

# Runs Schemathesis with a bearer token and writes the JUnit report junit-NAME.xml. Further
# arguments, such as an operation filter, go to `schemathesis run`. It runs in OUTPUT_DIR,
# where Schemathesis and Hypothesis keep their caches.
# Usage: run_schemathesis NAME TOKEN [ARGUMENT...]
run_schemathesis() {
    local name=$1 token=$2
    shift 2
    step "Schemathesis: $name"
    (
        cd "$OUTPUT_DIR"
        "$SCHEMATHESIS" run "$SERVER_URL/openapi.json" \
            --checks "$CHECKS" \
            --max-examples "$MAX_EXAMPLES" \
            --seed 1 \
            --workers 2 \
            --request-timeout 30 \
            --generation-database none \
            --header "Authorization: Bearer $token" \
            --report junit \
            --report-junit-path "junit-$name.xml" \
            --no-color \
            "$@"
    )
}

status=0
run_schemathesis most-operations "$TOKEN" --exclude-operation-id revoke_tokens || status=$?
run_schemathesis revoke-operation "$REVOKE_TOKEN" --include-operation-id revoke_tokens || status=$?

if ((status != 0)); then
    fail "Schemathesis found responses that do not match the OpenAPI document; see the output above and $OUTPUT_DIR/server.log"
fi
echo "conformance run passed"
