use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sesame::cli::Cli::parse();

    tune_allocator();
    if !matches!(cli.command, sesame::cli::Command::Run(_)) {
        restore_default_sigpipe();
    }

    match sesame::cli::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(sesame::cli::exit_code(&error))
        }
    }
}

/// Makes glibc return large blocks to the system when they are freed. Each Argon2 hash
/// allocates 19 MiB. With glibc's default sliding mmap threshold, a block freed once is
/// afterwards carved from a per-thread heap and kept there. A server that hashed on several
/// threads, or a bulk import, would then keep tens or hundreds of MiB it no longer uses.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}

/// Lets an admin command whose output goes to a closed pipe (`sesame users list | head`)
/// exit quietly like other Unix tools, instead of panicking on the failed write. The server
/// keeps Rust's default of ignoring SIGPIPE, so a client that disconnects cannot kill it.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting a signal disposition to its default has no other effect, and no
    // other thread exists yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
