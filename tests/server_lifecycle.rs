//! The `sesame run` process and its settings: CORS headers for browser clients, pruning at
//! start-up, and draining requests in flight on SIGTERM.

mod common;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{backend_tests, http_client, send, wait_until, Reply, TestApp, TestEnv, LONG_AGO, PASSWORD};
use reqwest::Method;
use serde_json::json;

const ALLOWED_ORIGIN: &str = "https://chat.example.com";

/// Logins sent at once before SIGTERM. The server hashes one password per core at a time, so
/// most of them are still queued when the first one finishes.
const CONCURRENT_LOGINS: usize = 8;

/// Maximum time for the server to exit after SIGTERM once the logins have finished. It is
/// shorter than the server's 30-second grace period, so a server that only stops when the
/// grace period runs out fails the test.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// Maximum time for the start-up pruning to log its result.
const PRUNE_TIMEOUT: Duration = Duration::from_secs(15);

/// Maximum time for one login to finish.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends a CORS preflight for `POST /api/tokens/token` from `origin`.
fn preflight(app: &TestApp, origin: &str) -> Reply {
    let request = app
        .request(Method::OPTIONS, "/api/tokens/token")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type");
    app.send(request)
}

/// Returns the comma-separated values of a header as a set, in lower case.
fn header_set(reply: &Reply, name: &str) -> BTreeSet<String> {
    let value = reply
        .header(name)
        .unwrap_or_else(|| panic!("{name} is missing; headers: {:?}", reply.headers));
    value.split(',').map(|item| item.trim().to_ascii_lowercase()).collect()
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// Returns the names of the response's `access-control-*` headers.
fn cors_headers(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .keys()
        .map(|name| name.as_str().to_string())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

/// A login's status and the moment its response arrived.
struct Finished {
    status: u16,
    at: Instant,
}

/// Opens a connection to the server, waits at `start`, then logs in as alice. The connection
/// is open before the login starts, so the server has accepted it before SIGTERM.
fn log_in_after_barrier(url: String, start: &Barrier) -> Finished {
    let client = http_client();
    let warm_up = send(client.get(format!("{url}/livez")));
    assert_eq!(warm_up.status, 200, "{}", warm_up.text);
    start.wait();

    let body = json!({ "username": "alice", "password": PASSWORD });
    let reply = send(client.post(format!("{url}/api/users/create_token")).json(&body));
    Finished {
        status: reply.status,
        at: Instant::now(),
    }
}

backend_tests! {
    fn cors_preflight_allowed_origin(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]);

        let reply = preflight(&app, ALLOWED_ORIGIN);

        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED_ORIGIN));
        assert_eq!(reply.header("access-control-allow-credentials"), None);
        assert_eq!(header_set(&reply, "access-control-allow-methods"), set_of(&["delete", "get", "post", "put"]));
        assert_eq!(
            header_set(&reply, "access-control-allow-headers"),
            set_of(&["authorization", "content-type", "x-request-id"])
        );
        assert_eq!(reply.header("access-control-max-age"), Some("3600"));
    }

    fn cors_request_allowed_origin(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]);
        let (_, token) = app.user_with_token("alice");

        let reply = app.send(app.request(Method::GET, "/api/tokens").bearer_auth(&token).header("origin", ALLOWED_ORIGIN));

        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED_ORIGIN));
        assert_eq!(reply.header("access-control-allow-credentials"), None);
        assert_eq!(
            header_set(&reply, "access-control-expose-headers"),
            set_of(&["retry-after", "www-authenticate", "x-request-id"])
        );
    }

    fn cors_preflight_other_origin_400(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN)]);

        let reply = preflight(&app, "https://other.example.org");

        reply.assert_detail(400, "Origin is not allowed to make this request");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(cors_headers(&reply), Vec::<String>::new());
    }

    fn cors_wildcard_allows_any_origin(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_CORS_ALLOWED_ORIGINS", "*")]);

        for origin in [ALLOWED_ORIGIN, "https://other.example.org", "http://localhost:3000"] {
            let reply = preflight(&app, origin);
            assert_eq!(reply.status, 200, "origin {origin}: {}", reply.text);
            assert_eq!(reply.header("access-control-allow-origin"), Some("*"), "origin {origin}");
            assert_eq!(reply.header("access-control-allow-credentials"), None, "origin {origin}");
        }
    }

    fn cors_unset_sends_no_headers(backend) {
        let app = TestApp::start(backend);

        let preflight = preflight(&app, ALLOWED_ORIGIN);
        let simple = app.send(app.request(Method::GET, "/livez").header("origin", ALLOWED_ORIGIN));

        preflight.assert_detail(405, "Method Not Allowed");
        assert_eq!(cors_headers(&preflight), Vec::<String>::new());
        simple.assert(200, json!({ "status": "ok" }));
        assert_eq!(cors_headers(&simple), Vec::<String>::new());
    }

    fn start_up_prunes_old_rows(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");
        let (_, live) = env.create_token("alice");
        let (_, expired) = env.create_token("alice");
        let (_, revoked) = env.create_token("alice");
        env.set_token_time("expires_at", &expired, LONG_AGO);
        let changed = env.db().execute(&format!(
            "UPDATE tokens SET revoked = TRUE, revoked_at = '{LONG_AGO}' WHERE token_id = '{revoked}'"
        ));
        assert_eq!(changed, 1);
        env.insert_login_attempt("mallory", LONG_AGO);

        let app = TestApp::start_in(env, &[]);

        let logged = wait_until(PRUNE_TIMEOUT, || app.logs().contains("pruned old rows tokens=2 login_attempts=1"));
        assert!(logged, "no pruning line in the server log:\n{}", app.logs());
        let remaining = app.env.db().strings("SELECT token_id AS value FROM tokens");
        assert_eq!(remaining, [live]);
        assert_eq!(app.env.db().count("login_attempts"), 0);
    }

    fn sigterm_finishes_logins_in_flight(backend) {
        // Every login is for alice, so the limit must allow that many attempts at once.
        let mut app = TestApp::start_with(backend, &[("SESAME_MAX_LOGIN_ATTEMPTS", "100")]);
        app.env.create_user("alice");
        let start = Arc::new(Barrier::new(CONCURRENT_LOGINS));
        let (finished_sender, finished) = mpsc::channel();
        let clients: Vec<_> = (0..CONCURRENT_LOGINS)
            .map(|_| {
                let (url, start, sender) = (app.url.clone(), Arc::clone(&start), finished_sender.clone());
                thread::spawn(move || {
                    let login = log_in_after_barrier(url, &start);
                    let _ = sender.send(login);
                })
            })
            .collect();

        let first = finished.recv_timeout(LOGIN_TIMEOUT).expect("no login finished");
        let signalled_at = Instant::now();
        app.terminate();
        let mut logins = vec![first];
        logins.extend((1..CONCURRENT_LOGINS).map(|_| finished.recv_timeout(LOGIN_TIMEOUT).expect("a login did not finish")));
        for client in clients {
            client.join().expect("a client thread panicked");
        }
        let status = app.wait_for_exit(EXIT_TIMEOUT);

        let statuses: Vec<u16> = logins.iter().map(|login| login.status).collect();
        assert_eq!(statuses, [200; CONCURRENT_LOGINS]);
        let after_signal = logins.iter().filter(|login| login.at > signalled_at).count();
        assert!(after_signal > 0, "every login finished before SIGTERM, so none was in flight");
        let status = status.unwrap_or_else(|| panic!("the server still runs {EXIT_TIMEOUT:?} after SIGTERM"));
        assert_eq!(status.code(), Some(0), "exit status; log:\n{}", app.logs());
        assert!(app.logs().lines().any(|line| line.ends_with(" server stopped")), "log:\n{}", app.logs());
        assert_eq!(app.env.db().count("tokens"), CONCURRENT_LOGINS as i64);
    }
}
