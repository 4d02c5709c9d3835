//! A PostgreSQL server that stops and starts again under a running `sesame run`: requests get
//! 503 while it is down and succeed again once it is back, with no restart of sesame.
//!
//! The test starts a private PostgreSQL cluster (initdb on a free port, owned by the
//! `postgres` system user), never the machine's shared one, so stopping it disturbs nothing.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

fn postgres_bin(tool: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let version = std::fs::read_dir(root)
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .max()
        .expect("a PostgreSQL version directory");
    version.join("bin").join(tool)
}

/// Runs a PostgreSQL tool as the `postgres` system user (initdb refuses to run as root).
fn as_postgres(tool: &str, args: &[&str]) {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(postgres_bin(tool))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("runuser runs");
    assert!(status.success(), "{tool} {args:?} failed");
}

struct PrivateCluster {
    directory: tempfile::TempDir,
    port: u16,
}

impl PrivateCluster {
    fn start() -> PrivateCluster {
        let directory = tempfile::Builder::new().prefix("sesame-pg-").tempdir().unwrap();
        let owner = Command::new("chown")
            .arg("postgres")
            .arg(directory.path())
            .status()
            .unwrap();
        assert!(owner.success());

        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = PrivateCluster { directory, port };
        let data = cluster.data_dir();
        as_postgres(
            "initdb",
            &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres"],
        );
        cluster.resume();
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.directory.path().join("data")
    }

    fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.directory.path().display()
        );
        let log = self.directory.path().join("server.log");
        let data = self.data_dir();
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        let data = self.data_dir();
        as_postgres("pg_ctl", &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(postgres_bin("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn sesame(cluster: &PrivateCluster, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SESAME_DATABASE_ADMIN_URL", cluster.url("postgres", "postgres"))
        .env("SESAME_DATABASE_URL", cluster.url("sesame", "postgres"))
        .current_dir(cluster.directory.path());
    command
}

fn get_status(client: &reqwest::blocking::Client, url: &str, token: &str) -> u16 {
    client.get(url).bearer_auth(token).send().unwrap().status().as_u16()
}

#[test]
fn outage_gives_503_then_recovers() {
    let cluster = PrivateCluster::start();
    assert!(sesame(&cluster, &["migrate"]).output().unwrap().status.success());

    let mut create = sesame(&cluster, &["create-user", "--username", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(PASSWORD.as_bytes()).unwrap();
    assert!(create.wait().unwrap().success());

    let mut server: Child = sesame(&cluster, &["run", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("Open Sesame is running at ")
        .unwrap()
        .to_string();

    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token: serde_json::Value = client
        .post(format!("{base}/api/users/create_token"))
        .json(&serde_json::json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let workspaces = format!("{base}/api/workspaces");
    assert_eq!(get_status(&client, &workspaces, &token), 200);

    cluster.stop();

    let down = client.get(&workspaces).bearer_auth(&token).send().unwrap();
    assert_eq!(down.status().as_u16(), 503);
    let body: serde_json::Value = down.json().unwrap();
    assert_eq!(body["detail"], "Database unavailable; try again shortly");
    assert_eq!(
        client.get(format!("{base}/readyz")).send().unwrap().status().as_u16(),
        503
    );
    assert_eq!(
        client.get(format!("{base}/livez")).send().unwrap().status().as_u16(),
        200
    );

    cluster.resume();

    // The pool reconnects on demand; allow a few attempts while stale connections are dropped.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = 0;
    while Instant::now() < deadline {
        status = get_status(&client, &workspaces, &token);
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(status, 200);
    assert_eq!(
        client.get(format!("{base}/readyz")).send().unwrap().status().as_u16(),
        200
    );

    let _ = server.kill();
    let _ = server.wait();
}
