//! Prints the median time of one Argon2id verification with sesame's parameters, in
//! milliseconds, for `scripts/bench.sh` to compare a login against. By default glibc reuses
//! the 19 MiB work area of the previous hash. With `MALLOC_MMAP_THRESHOLD_=1048576` every hash
//! maps a fresh work area, as the `sesame` binary does (see `tune_allocator` in src/main.rs).
//!
//! Usage: `cargo run --release --example argon2_timing [ROUNDS]` (default 15 rounds).

use std::time::Instant;

use sesame::auth::password::{hash_password, verify_password};
use sesame::auth::Password;

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|arg| arg.parse().ok()).unwrap_or(15);
    let password = Password::new("benchmark password".to_string()).expect("a valid password");
    let phc = hash_password(&password);

    let mut millis: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            assert!(verify_password(&password, &phc));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    millis.sort_by(f64::total_cmp);

    println!("{:.2}", millis[millis.len() / 2]);
}
