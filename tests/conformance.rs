//! Runs scripts/conformance.sh, which checks the responses of the `sesame` binary that Cargo
//! built for this test against its own OpenAPI document with Schemathesis. The script installs
//! schemathesis from PyPI into a virtualenv under target/; the test fails, and is never
//! skipped, when it cannot.

use std::path::Path;
use std::process::Command;

/// Path of the binary under test, built by Cargo for the integration tests.
const SESAME: &str = env!("CARGO_BIN_EXE_sesame");

#[test]
fn api_matches_openapi_document() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let output = Command::new("bash")
        .arg(root.join("scripts/conformance.sh"))
        .arg(SESAME)
        .current_dir(root)
        .output()
        .expect("failed to run bash scripts/conformance.sh");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "conformance.sh failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("conformance run passed"),
        "conformance.sh did not report success:\n{stdout}\n{stderr}"
    );
}
