//! Runs scripts/browser-test.sh, which drives the sign-in page in headless Chromium against
//! the `sesame` binary that Cargo built for this test. The script installs Debian's chromium
//! and chromium-driver when they are missing (as root) and selenium from PyPI; the test fails,
//! and is never skipped, when it cannot.

use std::path::Path;
use std::process::Command;

/// Path of the binary under test, built by Cargo for the integration tests.
const SESAME: &str = env!("CARGO_BIN_EXE_sesame");

/// First bytes of every PNG file.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

#[test]
fn sign_in_page_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshot = root.join("target/browser/signed-in.png");

    let output = Command::new("bash")
        .arg(root.join("scripts/browser-test.sh"))
        .arg(SESAME)
        .current_dir(root)
        .output()
        .expect("failed to run bash scripts/browser-test.sh");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser-test.sh failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("browser test passed"),
        "browser-test.sh did not report success:\n{stdout}\n{stderr}"
    );

    let png = std::fs::read(&screenshot).unwrap_or_else(|error| panic!("{}: {error}", screenshot.display()));
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "{} is not a PNG file",
        screenshot.display()
    );
}
