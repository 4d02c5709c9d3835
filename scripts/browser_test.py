"""Drive the sign-in page of a running sesame server in headless Chromium.

scripts/browser-test.sh starts the server and runs this script with the server's URL and a
user's credentials. The script talks to chromedriver with selenium, and to the API with
urllib, all on 127.0.0.1. It exits non-zero with a message on the first failed check.
"""

import argparse
import json
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

TOKEN_PATTERN = re.compile(r"^ses_[A-Za-z0-9_-]{43}$")

# Maximum time for the page to react to one action, in seconds. A login costs one Argon2
# verification, well under a second even in a debug build.
WAIT_SECONDS = 30

# Chromium flags: headless, no sandbox (the test runs as root), and no network traffic of
# Chromium's own (updates, sync, metrics, safe browsing) beside the page's.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-default-browser-check",
    "--no-pings",
    "--window-size=1280,900",
]


class CheckFailed(Exception):
    """A failed check of the test. The message names the check and what the page showed."""


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def api_status(url, token):
    """Return the status and headers of GET /api/workspaces with the bearer token."""
    request = urllib.request.Request(f"{url}/api/workspaces", headers={"Authorization": f"Bearer {token}"})
    # No proxy, whatever the environment sets, because the server is on 127.0.0.1.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=WAIT_SECONDS) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


def start_browser(chromium, chromedriver, output_dir, profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})

    # An explicit driver path keeps Selenium Manager from looking for a driver or a browser.
    service = Service(executable_path=chromedriver, log_output=str(output_dir / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


def wait_for(driver, condition, description):
    try:
        return WebDriverWait(driver, WAIT_SECONDS).until(condition)
    except TimeoutException:
        error = driver.find_element(By.ID, "error").text
        status = driver.find_element(By.ID, "status").text
        raise CheckFailed(f"timed out waiting for {description} (error region: {error!r}, status region: {status!r})")


def visible(element_id):
    return expected_conditions.visibility_of_element_located((By.ID, element_id))


def sign_in(driver, username, password, title=""):
    """Fill in the sign-in form and submit it."""
    wait_for(driver, lambda d: d.find_element(By.ID, "sign-in-fields").is_enabled(), "the script to enable the form")
    for element_id, value in [("username", username), ("password", password), ("token-title", title)]:
        field = driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(value)
    driver.find_element(By.ID, "sign-in-button").click()


def read_new_token(driver):
    """Wait for the page to show a new token and return it."""
    wait_for(driver, visible("new-token"), "the new token")
    token = driver.find_element(By.ID, "token-value").get_attribute("value")
    check(TOKEN_PATTERN.match(token or ""), f"the page shows {token!r}, which is not a token")
    return token


def token_rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#token-rows tr")


def is_expected_401(entry):
    """Whether a console entry is one of the 401 responses that the test provokes."""
    return entry["source"] == "network" and "status of 401" in entry["message"]


def check_no_console_errors(driver):
    """Fail on any error the page logged, such as a Content-Security-Policy violation or a
    missing file, except the 401 responses that the test provokes."""
    errors = [
        entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and not is_expected_401(entry)
    ]
    check(not errors, f"the browser console has errors: {json.dumps(errors, indent=2)}")


def check_token_kept_out_of_urls_and_local_storage(driver, token):
    check(token not in driver.current_url, "the token appears in the page's URL")
    local = driver.execute_script("return JSON.stringify(window.localStorage);")
    check(token not in local, "the token is in localStorage")
    cookies = json.dumps(driver.get_cookies())
    check(token not in cookies, "the token is in a cookie")


def test_wrong_password(driver, url, username):
    print("wrong password: the page shows the API's error")
    driver.get(f"{url}/")
    sign_in(driver, username, "not the password")
    wait_for(
        driver,
        expected_conditions.text_to_be_present_in_element((By.ID, "error"), "Invalid username or password"),
        "the error message of a failed sign-in",
    )
    check(driver.find_element(By.ID, "error").get_attribute("role") == "alert", "the error region is not role=alert")
    check(not driver.find_element(By.ID, "session").is_displayed(), "the page shows a session after a failed sign-in")


def test_sign_in_and_revoke(driver, url, username, password, output_dir):
    print("sign in: the page shows a token that the API accepts")
    driver.get(f"{url}/")
    sign_in(driver, username, password, title="Browser test")
    token = read_new_token(driver)
    wait_for(driver, lambda d: len(token_rows(d)) == 1, "one row in the list of tokens")

    row = token_rows(driver)[0]
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    check(cells[0] == "Browser test", f"the token's title cell is {cells[0]!r}")
    check(cells[4] == "Active", f"the token's status cell is {cells[4]!r}")
    check_token_kept_out_of_urls_and_local_storage(driver, token)

    driver.find_element(By.ID, "copy-token").click()
    wait_for(
        driver,
        lambda d: "copied" in d.find_element(By.ID, "status").text or "selected" in d.find_element(By.ID, "status").text,
        "the copy button to copy or select the token",
    )

    screenshot = output_dir / "signed-in.png"
    check(driver.save_screenshot(str(screenshot)), f"failed to save {screenshot}")
    print(f"saved {screenshot}")

    status, _ = api_status(url, token)
    check(status == 200, f"GET /api/workspaces with the page's token returned {status}, expected 200")

    print("revoke from the list: the page signs out and the API rejects the token")
    row.find_element(By.CSS_SELECTOR, "button.revoke").click()
    wait_for(driver, visible("sign-in"), "the page to sign out after its own token was revoked")
    error = driver.find_element(By.ID, "error").text
    check("signed out" in error, f"the error region shows {error!r} after the page's token was revoked")
    session_token = driver.execute_script("return window.sessionStorage.getItem('sesame.session');")
    check(session_token is None, "the page kept its session in sessionStorage after the token was revoked")

    status, headers = api_status(url, token)
    check(status == 401, f"GET /api/workspaces with the revoked token returned {status}, expected 401")
    check(headers.get("WWW-Authenticate") == "Bearer", f"the 401 has WWW-Authenticate {headers.get('WWW-Authenticate')!r}")


def test_sign_out(driver, url, username, password):
    print("sign out: the button revokes the page's token")
    driver.get(f"{url}/")
    sign_in(driver, username, password)
    token = read_new_token(driver)

    # A reload keeps the session of this tab, but does not show the token again.
    driver.refresh()
    wait_for(driver, visible("session"), "the session to survive a reload")
    check(not driver.find_element(By.ID, "new-token").is_displayed(), "the token is shown again after a reload")
    wait_for(driver, lambda d: len(token_rows(d)) == 2, "two rows in the list of tokens")

    driver.find_element(By.ID, "sign-out").click()
    wait_for(driver, visible("sign-in"), "the sign-in form after signing out")
    status_text = driver.find_element(By.ID, "status").text
    check("signed out" in status_text, f"the status region shows {status_text!r} after signing out")

    status, _ = api_status(url, token)
    check(status == 401, f"GET /api/workspaces after signing out returned {status}, expected 401")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="base URL of the server, such as http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--chromium", required=True, help="path of the Chromium binary")
    parser.add_argument("--chromedriver", required=True, help="path of the chromedriver binary")
    parser.add_argument("--output-dir", required=True, type=Path, help="folder for the screenshot and logs")
    args = parser.parse_args()

    if not args.url.startswith("http://127.0.0.1:"):
        sys.exit(f"error: the server URL must be on 127.0.0.1, got {args.url}")
    args.output_dir.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sesame-chromium-") as profile_dir:
        driver = start_browser(args.chromium, args.chromedriver, args.output_dir, profile_dir)
        try:
            test_wrong_password(driver, args.url, args.username)
            test_sign_in_and_revoke(driver, args.url, args.username, args.password, args.output_dir)
            test_sign_out(driver, args.url, args.username, args.password)
            check_no_console_errors(driver)
        except CheckFailed as failure:
            driver.save_screenshot(str(args.output_dir / "failure.png"))
            sys.exit(f"error: {failure} (screenshot: {args.output_dir / 'failure.png'})")
        finally:
            driver.quit()

    print(f"browser test passed in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
