#!/usr/bin/env bash
# Tests the sign-in page in headless Chromium. It signs in, reads the token that the page
# shows, calls the API with it, revokes it from the page and checks that the API then
# rejects it. It also signs out with the page's button and checks that this revokes the
# token too.
#
# Usage: scripts/browser-test.sh [SESAME_BINARY]
#
# SESAME_BINARY defaults to target/debug/sesame; build it first with `cargo build`. The script
# installs Debian's chromium and chromium-driver with apt-get when they are missing (which
# needs root), and selenium from PyPI into a virtualenv under target/. The server, the
# browser and the WebDriver traffic stay on 127.0.0.1. Where `unshare --net` works (as root),
# they run in a network namespace of their own that has only a loopback interface.
#
# Output: target/browser/signed-in.png (a screenshot of the signed-in page) and the logs of
# the server and of chromedriver in target/browser/.
set -euo pipefail

SCRIPT=$(realpath "$0")
cd "$(dirname "$SCRIPT")/.."

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
OUTPUT_DIR=target/browser
VENV=target/browser-venv
USERNAME=browser-user
# Only for the throwaway database of this run.
PASSWORD='browser test password'

# shellcheck source=scripts/test-server.sh
source scripts/test-server.sh

# Creates the user, starts the server and runs the browser test against it.
run_test() {
    local sesame=$1
    prepare_server_dir
    # browser_test.py gives Selenium the paths of Debian's binaries, so Selenium Manager, which
    # can download drivers and browsers and send usage statistics, does not run. Should it run,
    # these settings keep it offline and without statistics.
    export SE_OFFLINE=true SE_AVOID_STATS=true

    step "Creating user $USERNAME"
    printf '%s\n' "$PASSWORD" | run_sesame "$sesame" create-user --username "$USERNAME" --password-stdin

    start_server "$sesame" "$OUTPUT_DIR/server.log"

    step "Driving headless Chromium"
    "$VENV/bin/python" scripts/browser_test.py \
        --url "$SERVER_URL" \
        --username "$USERNAME" \
        --password "$PASSWORD" \
        --chromium "$CHROMIUM" \
        --chromedriver "$CHROMEDRIVER" \
        --output-dir "$OUTPUT_DIR"
}

# Inside the network namespace, where the loopback interface starts down.
if [[ "${1:-}" == --in-namespace ]]; then
    shift
    ip link set lo up
    run_test "$@"
    exit
fi

SESAME=${1:-target/debug/sesame}
[[ -x "$SESAME" ]] || fail "$SESAME is not an executable; build it with 'cargo build' or pass its path"
SESAME=$(realpath "$SESAME")

step "Checking Chromium and ChromeDriver"
if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
    echo "chromium and chromium-driver are installed"
else
    [[ $(id -u) -eq 0 ]] || fail "chromium and chromium-driver are missing; install them as root: apt-get install chromium chromium-driver"
    echo "installing chromium and chromium-driver"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
fi
"$CHROMIUM" --version
"$CHROMEDRIVER" --version

step "Preparing selenium in $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check 'selenium>=4.20,<5'
"$VENV/bin/python" -c 'import selenium; print("selenium", selenium.__version__)'

mkdir -p "$OUTPUT_DIR"
rm -f "$OUTPUT_DIR/signed-in.png"

if unshare --net ip link set lo up 2>/dev/null; then
    echo "running the server and the browser in a network namespace with only a loopback interface"
    unshare --net bash "$SCRIPT" --in-namespace "$SESAME"
else
    echo "note: 'unshare --net' is not available here, so the test runs in the host's network;" \
        "Chromium's background networking is still turned off by its flags"
    run_test "$SESAME"
fi
