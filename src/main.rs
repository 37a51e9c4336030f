use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flowc::cli::Cli::parse();
    let status = flowc::commands::run(cli.into_command());
    ExitCode::from(status as u8)
}
