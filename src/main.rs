use std::process::ExitCode;

// Rows are allocated on one thread and freed on another; glibc's allocator serialises that on
// an arena lock, mimalloc does not (render of 1M rows: see CONTRIBUTING.md, design notes).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flowc::cli::Cli::parse();
    let status = flowc::commands::run(cli.into_command());
    ExitCode::from(status as u8)
}
