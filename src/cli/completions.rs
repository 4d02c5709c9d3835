use clap::CommandFactory;

use super::{write_stdout, Cli};

/// Shells that `sesame completions` writes a script for.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Install the script where your shell loads completions, for example:
  bash: sesame completions bash > ~/.local/share/bash-completion/completions/sesame
  zsh:  sesame completions zsh > ~/.zfunc/_sesame   (with ~/.zfunc in $fpath before compinit)
  fish: sesame completions fish > ~/.config/fish/completions/sesame.fish")]
pub struct Args {
    /// Shell to write the completion script for
    #[arg(value_enum)]
    shell: Shell,
}

/// Writes the completion script for every command and option on stdout.
pub fn run(args: &Args) -> Result<(), anyhow::Error> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // clap_complete panics when its writer fails, so the script is built in memory first.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "sesame", &mut script);
    write_stdout(&script)
}
