//! `sesame revoke-tokens`: all tokens or one, text and JSON output, and the errors. The
//! tokens come from a running server, and each check uses them against it afterwards.

mod common;

use common::{backend_tests, CliOutput, TestApp};
use serde_json::{json, Value};

fn revoke_tokens(app: &TestApp, args: &[&str], stdin: Option<&str>) -> CliOutput {
    let mut full = vec!["revoke-tokens"];
    full.extend_from_slice(args);
    app.env.run(&full, stdin)
}

backend_tests! {
    fn revokes_all_tokens(backend) {
        let app = TestApp::start(backend);
        let (_, first) = app.user_with_token("alice");
        let second = app.token("alice");

        let output = revoke_tokens(&app, &["--username", "alice"], None);

        assert_eq!(output.assert_success(), "Revoked 2 tokens of user 'alice'\n");
        assert_eq!(output.stderr, "");
        app.get("/api/workspaces", &first).assert_invalid_token();
        app.get("/api/workspaces", &second).assert_invalid_token();
    }

    fn revokes_one_token_from_flag_or_stdin(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice");

        for from_stdin in [false, true] {
            let revoked = app.token("alice");
            let kept = app.token("alice");

            let output = if from_stdin {
                revoke_tokens(&app, &["--username", "alice", "--token", "-"], Some(&format!("{revoked}\n")))
            } else {
                revoke_tokens(&app, &["--username", "alice", "--token", &revoked], None)
            };

            assert_eq!(output.assert_success(), "Revoked 1 token of user 'alice'\n", "from stdin: {from_stdin}");
            app.get("/api/workspaces", &revoked).assert_invalid_token();
            assert_eq!(app.token_status(&kept), 200, "from stdin: {from_stdin}");
        }
    }

    fn json_output_counts_revoked(backend) {
        let app = TestApp::start(backend);
        let (user_id, _) = app.user_with_token("alice");
        app.token("alice");

        let output = revoke_tokens(&app, &["--username", "alice", "--json"], None);

        let printed: Value = serde_json::from_str(output.assert_success()).expect("stdout is JSON");
        assert_eq!(printed, json!({ "username": "alice", "user_id": user_id, "revoked": 2 }));
    }

    fn json_output_for_one_token(backend) {
        let app = TestApp::start(backend);
        let (user_id, token) = app.user_with_token("alice");

        let output = revoke_tokens(&app, &["--username", "alice", "--token", &token, "--json"], None);

        let printed: Value = serde_json::from_str(output.assert_success()).expect("stdout is JSON");
        assert_eq!(printed, json!({ "username": "alice", "user_id": user_id, "revoked": 1 }));
    }

    fn revoked_tokens_not_counted_again(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        revoke_tokens(&app, &["--username", "alice"], None).assert_success();

        let all = revoke_tokens(&app, &["--username", "alice"], None);
        let single = revoke_tokens(&app, &["--username", "alice", "--token", &token], None);

        assert_eq!(all.assert_success(), "Revoked 0 tokens of user 'alice'\n");
        assert_eq!(single.assert_success(), "Revoked 0 tokens of user 'alice'\n");
    }

    fn username_matched_in_any_case(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        let output = revoke_tokens(&app, &["--username", "ALICE"], None);

        output.assert_success();
        app.get("/api/workspaces", &token).assert_invalid_token();
    }

    fn foreign_or_unknown_token_rejected(backend) {
        let app = TestApp::start(backend);
        let (_, alices) = app.user_with_token("alice");
        let (_, bobs) = app.user_with_token("bob");
        let unknown = format!("ses_{}", "A".repeat(43));

        for token in [bobs.as_str(), unknown.as_str()] {
            let output = revoke_tokens(&app, &["--username", "alice", "--token", token], None);
            let message = "the token does not belong to user 'alice'; check the token and the username";
            output.assert_case(&format!("token {token}"), 1, message);
        }
        let output = revoke_tokens(&app, &["--username", "alice", "--token", "ses_malformed"], None);
        let message = "the token is not a sesame token: tokens start with ses_ and are 47 characters long";
        output.assert_case("malformed token", 2, message);
        assert_eq!(app.token_status(&alices), 200);
        assert_eq!(app.token_status(&bobs), 200);
    }

    fn unknown_user_rejected(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        let output = revoke_tokens(&app, &["--username", "nobody"], None);

        output.assert_error(1, "user 'nobody' not found; check the spelling");
        assert_eq!(app.token_status(&token), 200);
    }

    fn empty_token_flag_rejected(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        let output = revoke_tokens(&app, &["--username", "alice", "--token", ""], None);

        output.assert_error(2, "--token is empty; leave it out to revoke every token");
        assert_eq!(app.token_status(&token), 200);
    }

    fn missing_username_is_usage_error(backend) {
        let app = TestApp::start(backend);

        let output = revoke_tokens(&app, &[], None);

        assert_eq!(output.code, 2, "{}", output.stderr);
        assert!(output.stderr.contains("--username <NAME>"), "{}", output.stderr);
    }
}
