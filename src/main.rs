use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sesame::cli::Cli::parse();

    match sesame::cli::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(sesame::cli::exit_code(&error))
        }
    }
}
