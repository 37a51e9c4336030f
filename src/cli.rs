//! The command line as clap sees it. These types stop here: [`Cli::into_command`] turns them
//! into the plain option structs the commands take.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{CheckOptions, Command, RenderOptions};

const RENDER_EXAMPLES: &str = "\
Examples:
  # The request body for the template's example values
  flowc render templates/service-booking.yaml

  # ... with some values of your own
  flowc render templates/service-booking.yaml --var name='Tom & Jerry' --var phone=+14155550100

  # One compact body per contact (NDJSON), in row order
  flowc render templates/service-booking.yaml --data contacts.csv > bodies.ndjson

  # CSV from standard input
  cat contacts.csv | flowc render templates/service-booking.yaml --data -";

const CHECK_EXAMPLES: &str = "\
Examples:
  # Every template under templates/ (what CI runs)
  flowc check

  # Some templates
  flowc check templates/lead-capture.yaml other/templates/

  # The pre-flight of a campaign: every row of the contacts file, nothing sent
  flowc check templates/service-booking.yaml --data contacts.csv";

#[derive(Debug, Parser)]
#[command(
    name = "flowc",
    version,
    about = "Compile, check and send WhatsApp Flow messages (Kaleyra WhatsApp API v2) from YAML templates",
    after_help = "Exit codes: 0 ok, 1 invalid template or data, 2 usage error (bad arguments, unreadable file)."
)]
pub struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Debug, Subcommand)]
enum CliCommand {
    /// Print the exact request body a template produces
    ///
    /// Without --data, renders with each variable's `example` (or `default`), overridden by
    /// --var, and prints one pretty JSON body. With --data, renders every row and prints one
    /// compact JSON body per line (NDJSON) in row order; bad rows are reported on stderr and
    /// left out.
    #[command(after_help = RENDER_EXAMPLES)]
    Render(RenderArgs),
    /// Check templates (and optionally a data file) without sending anything
    ///
    /// Parses each template, checks that every variable it uses is declared, renders it with
    /// its examples and validates the body against the schema. With --data, also renders and
    /// validates every row of the data file.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct RenderArgs {
    /// The template file (YAML)
    template: PathBuf,
    /// Set a variable: KEY=VALUE (repeatable). With --data, the value is used for every row
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    vars: Vec<(String, String)>,
    /// Render every row of this file (.csv, .json, .jsonl, .ndjson, .yaml, .yml; - for CSV on stdin)
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// With --data, stop at the first bad row
    #[arg(long, requires = "data")]
    fail_fast: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Template files or directories to search for *.yaml / *.yml
    #[arg(default_value = "templates")]
    paths: Vec<PathBuf>,
    /// Also render and validate every row of this data file (needs exactly one template)
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Set a variable: KEY=VALUE (repeatable)
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    vars: Vec<(String, String)>,
}

fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, found `{text}`")),
    }
}

impl Cli {
    pub fn into_command(self) -> Command {
        match self.command {
            CliCommand::Render(args) => Command::Render(RenderOptions {
                template: args.template,
                vars: args.vars,
                data: args.data,
                fail_fast: args.fail_fast,
            }),
            CliCommand::Check(args) => Command::Check(CheckOptions {
                paths: args.paths,
                data: args.data,
                vars: args.vars,
            }),
        }
    }
}
