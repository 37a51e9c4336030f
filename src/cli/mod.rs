//! The command line as clap sees it. These types stop here: [`Cli::into_command`] turns them
//! into the plain option structs the commands take.

mod man;
mod options;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::diagnostic::Format;
use crate::secret::Secret;

const RENDER_EXAMPLES: &str = "\
Examples:
  # The request body for the template's example values
  flowc render templates/service-booking.yaml

  # ... with a value of your own
  flowc render templates/service-booking.yaml --var name='Tom & Jerry'

  # One compact body per contact (NDJSON), in row order
  flowc render templates/service-booking.yaml --data contacts.csv > out.ndjson

  # CSV from standard input
  cat contacts.csv | flowc render templates/service-booking.yaml --data -";

const CHECK_EXAMPLES: &str = "\
Examples:
  # Every template under templates/ (what CI runs)
  flowc check

  # Some templates
  flowc check templates/lead-capture.yaml other/templates/

  # The pre-flight of a campaign: every row of the contacts file, nothing sent
  flowc check templates/service-booking.yaml --data contacts.csv

  # Fields separated by `|` (a comma, semicolon or tab is found in the header)
  flowc check templates/service-booking.yaml --data export.csv --delimiter '|'";

const SEND_EXAMPLES: &str = "\
Examples:
  export KALEYRA_SID=HXAP16XXXXXX97IN KALEYRA_REGION=in
  export KALEYRA_WHATSAPP_NUMBER=+9180XXXXXXXX
  export KALEYRA_API_KEY=...        # or --api-key-file ~/.config/kaleyra.key

  # Everything but the HTTP calls: validation, the summary and the report
  flowc send templates/service-booking.yaml --data contacts.csv --dry-run

  # The campaign, at 50 messages a second
  flowc send templates/service-booking.yaml --data contacts.csv --rate 50

  # After Ctrl-C, a crash or a top-up, the same command resumes
  flowc send templates/service-booking.yaml --data contacts.csv --rate 50 --yes";

const TEST_EXAMPLES: &str = "\
Examples:
  # Compare every template's bodies with its snapshots (what CI runs)
  flowc test

  # Walk through new and changed bodies, one key each (no Enter):
  # a accept, r reject, s skip, A accept all the rest, q quit
  flowc test --review

  # Accept them all (scripts); remove snapshots no template produces
  flowc test --accept --prune";

const INIT_EXAMPLES: &str = "\
Examples:
  # A new repository in a new directory
  flowc init flow-templates && cd flow-templates

  # Here, in a new git repository (init replaces no file, not even a README.md)
  mkdir flow-templates && cd flow-templates && git init && flowc init

  # Then set the Actions variable FLOWC_GIT to flowc's repository URL, and:
  $EDITOR templates/example.yaml && flowc test --review
  git add . && git commit";

const PREVIEW_EXAMPLES: &str = "\
Examples:
  # Writes service-booking.preview.html in the working directory, and says so
  flowc preview templates/service-booking.yaml

  # Other values, another file
  flowc preview templates/service-booking.yaml --var name='Zoë' --out zoe.html

  # Row 7 of a contacts file (CSV: the header is row 1)
  flowc preview templates/service-booking.yaml --data contacts.csv --row 7

  # To standard output, for another program
  flowc preview templates/service-booking.yaml --out - | wc -c";

const RECEIVE_EXAMPLES: &str = "\
Examples:
  # On this machine only, behind a reverse proxy that terminates TLS
  openssl rand -hex 32 > callback.token
  flowc receive --token-file callback.token

  # Straight from the internet, with TLS and HTTP Basic (the same user:password
  # as in the provider's callback profile)
  flowc receive --listen 0.0.0.0:8443 --basic-auth-file callback.basic \\
    --tls-cert /etc/flowc/fullchain.pem --tls-key /etc/flowc/privkey.pem \\
    --store /var/lib/flowc/events.sqlite

  # Read what arrived (while it runs)
  sqlite3 flowc-events.sqlite \\
    'SELECT status, count(*) FROM statuses GROUP BY status'";

const REPORT_EXAMPLES: &str = "\
Examples:
  # A campaign's report with what the callbacks said (also while receive runs)
  flowc report contacts.journal.sqlite --events flowc-events.sqlite
  #   10,000 accepted → 9,120 sent → 8,700 delivered → 5,100 read
  #   → 1,240 completed the Flow; 880 failed (131047 outside the 24-hour
  #   window: 700, 131026 undeliverable: 180)

  # The Flow answers, one column per question, and a page to share
  flowc report contacts.journal.sqlite --events flowc-events.sqlite \\
    --responses answers.csv --html report.html

  # The report on standard output
  flowc report contacts.journal.sqlite --events flowc-events.sqlite --out -";

/// The version, with the version of the embedded rules.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (flow-message schema 1)");

#[derive(Debug, Parser)]
#[command(
    name = "flowc",
    version = VERSION,
    about = "Compile, check and send WhatsApp Flow messages (Kaleyra WhatsApp API v2) from YAML templates",
    after_help = crate::exit::codes_text()
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
    /// Send a campaign: one message per data row, rate-limited, retrying, resumable
    ///
    /// Every row is rendered and validated first; invalid rows are reported and never sent.
    /// Each row is recorded in a journal before its request leaves and after its answer, so
    /// running the same command again after Ctrl-C, a crash, a low balance or a wrong key
    /// resumes: accepted rows are never sent twice.
    #[command(after_help = SEND_EXAMPLES)]
    Send(Box<SendArgs>),
    /// Compare each template's bodies (examples and fixtures) with their stored snapshots
    ///
    /// For templates/NAME.yaml, the cases are its examples and every entry of
    /// templates/NAME.fixtures.yaml (a list of `name:` and `vars:`); snapshots are kept in
    /// templates/__snapshots__/NAME@CASE.snap (insta's format). A new or changed body fails the
    /// run and is written as NAME@CASE.snap.new, pending review.
    #[command(after_help = TEST_EXAMPLES)]
    Test(TestArgs),
    /// Write an HTML page showing the message as WhatsApp draws it, with its JSON body,
    /// warnings and errors (self-contained: no network assets)
    #[command(after_help = PREVIEW_EXAMPLES)]
    Preview(PreviewArgs),
    /// Create a template repository: an example template, a fixture, their snapshots, a CI
    /// workflow and a README
    ///
    /// Writes templates/example.yaml, templates/example.fixtures.yaml, their snapshots under
    /// templates/__snapshots__/, schemas/template.schema.json, .github/workflows/flowc.yml,
    /// README.md and a .gitignore for preview pages. Refuses, writing nothing, when any of them
    /// but .gitignore exists or when a symbolic link lies on the way to one of them; a .gitignore
    /// already there is left as it is (init says the line to add).
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Receive the provider's callbacks (statuses, replies, Flow answers) and store them
    ///
    /// A long-running HTTP server: each callback is answered 200 only after it is committed to
    /// the store (a SQLite file in WAL mode, or PostgreSQL, which several receivers share), so
    /// a crash loses nothing the provider was told is stored; while the store cannot be
    /// reached, callbacks are answered 503 with Retry-After. The same event delivered twice is
    /// stored once; a body it cannot read is answered 400 and still kept raw. Authentication
    /// (--basic-auth-file or --token-file) is required except on a loopback address. GET
    /// /healthz answers without authentication (503 when the store cannot be reached).
    /// SIGTERM or Ctrl-C stops it gracefully (exit 0).
    #[command(after_help = RECEIVE_EXAMPLES)]
    Receive(ReceiveArgs),
    /// Write a campaign's report with what became of each message: delivered, read, failed
    /// (with Meta's code, in words), the Flow completed
    ///
    /// Reads the journal `flowc send` kept and the callbacks `flowc receive` stored (both
    /// read-only, so it runs while the receiver runs; while a send runs on the journal, the
    /// report shows the campaign as that run last wrote it down, and says so). Callbacks are matched to rows by the `--track` key, the
    /// message id, the Flow's `flow_token` or the message a reply answers; those that match no
    /// row are counted. Prints the funnel: accepted → sent → delivered → read → completed the
    /// Flow, and the failures by code.
    #[command(after_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    ///
    /// For example: flowc completions bash > ~/.local/share/bash-completion/completions/flowc
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): every command, option and example on one page
    ///
    /// For example: flowc man > ~/.local/share/man/man1/flowc.1 && man flowc
    Man,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Template files or directories to search for *.yaml / *.yml
    #[arg(default_value = "templates")]
    paths: Vec<PathBuf>,
    /// Walk through the pending snapshots, showing each diff; answer each with one key: a accept,
    /// r reject, s skip, A accept all the rest, q quit (from a pipe: the same keys, whitespace ignored)
    #[arg(long, conflicts_with = "accept")]
    review: bool,
    /// Accept every new and changed snapshot
    #[arg(long)]
    accept: bool,
    /// Remove snapshots that no template or fixture produces any more
    #[arg(long)]
    prune: bool,
    /// How findings are written: human, json or github
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
}

#[derive(Debug, Args)]
struct PreviewArgs {
    /// The template file (YAML)
    template: PathBuf,
    /// Set a variable: KEY=VALUE (repeatable)
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    vars: Vec<(String, String)>,
    /// Take the values from a row of this data file (with --row)
    #[arg(long, value_name = "FILE", requires = "row")]
    data: Option<PathBuf>,
    #[command(flatten)]
    delimiter: DelimiterArg,
    /// The row to preview, numbered as in error messages (CSV: the header is row 1)
    #[arg(long, value_name = "N", requires = "data")]
    row: Option<u64>,
    /// Write the page here (`-`: standard output) [default: NAME.preview.html in the working
    /// directory, for templates/NAME.yaml]. The template and the data file are never overwritten
    #[arg(long, value_name = "FILE.html")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ReceiveArgs {
    /// The address and port to listen on (port 0: any free port; the address is printed)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8787")]
    listen: std::net::SocketAddr,
    /// The event store: a SQLite file, created if missing, or a PostgreSQL database
    /// (postgres://USER@HOST:PORT/DATABASE), shared by several receivers
    #[arg(long, value_name = "PATH|URL", default_value = "flowc-events.sqlite")]
    store: PathBuf,
    /// The PostgreSQL store's password, from this file (else from the URL or PGPASSWORD)
    #[arg(long, value_name = "PATH")]
    store_password_file: Option<PathBuf>,
    /// Accept HTTP Basic credentials: a file with one `user:password` line
    #[arg(long, value_name = "PATH")]
    basic_auth_file: Option<PathBuf>,
    /// Accept a shared token (16 characters or more), sent as `Authorization: Bearer TOKEN` or
    /// `?token=TOKEN`: a file holding it (a final line break is ignored)
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key)
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A reply whose whole text is this word (any case) is recorded as an opt-out of its
    /// number (repeatable; replaces the defaults)
    #[arg(long = "opt-out-word", value_name = "WORD", default_values = crate::receive::parse::OptOutWords::DEFAULT)]
    opt_out_words: Vec<String>,
    /// Seconds a caller may take to send a request's headers, its body, or a TLS handshake
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    read_timeout: u64,
    /// Connections open at once at most (more wait to be accepted)
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_connections: u32,
    /// Seconds between the lines of counts on stderr
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    stats_interval: u64,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// The campaign's journal: the path given to `send --journal`, by default
    /// DATA_STEM.journal.sqlite beside the data file
    journal: PathBuf,
    /// The event store `flowc receive` writes (its --store): adds the columns delivery,
    /// delivery_code, delivery_error, delivered_at, read_at and replied_at
    #[arg(long, value_name = "STORE")]
    events: Option<PathBuf>,
    /// The password of a PostgreSQL --events store, from this file (else from the URL or
    /// PGPASSWORD)
    #[arg(long, value_name = "PATH", requires = "events")]
    events_password_file: Option<PathBuf>,
    /// Write the report here (`-`: standard output) [default: beside the journal, named after
    /// it as `flowc send` names it: NAME.journal.sqlite → NAME.report.csv]
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write one line per completed Flow (row, to, flow_token, replied_at and the answers):
    /// FILE.csv with a column per answer, or FILE.jsonl with the answers as JSON (`-`: JSON
    /// Lines on standard output)
    #[arg(long, value_name = "FILE", requires = "events")]
    responses: Option<PathBuf>,
    /// Write a self-contained HTML page: the funnel, failures by Meta code, delivery and reads
    /// over time, the Flow answers (`-`: standard output)
    #[arg(long, value_name = "FILE.html", requires = "events")]
    html: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The directory to create the repository in
    #[arg(default_value = ".")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// The template file (YAML)
    template: PathBuf,
    /// The contacts file (.csv, .tsv, .json, .jsonl, .ndjson, .yaml, .yml)
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    #[command(flatten)]
    delimiter: DelimiterArg,
    /// Set a variable for every row: KEY=VALUE (repeatable)
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    vars: Vec<(String, String)>,
    /// Kaleyra account SID
    #[arg(long, env = "KALEYRA_SID", value_name = "SID")]
    sid: Option<String>,
    /// Kaleyra API key (prefer the environment variable or --api-key-file: flags show in `ps`)
    #[arg(long, env = "KALEYRA_API_KEY", value_name = "KEY", hide_env_values = true, value_parser = parse_secret)]
    api_key: Option<Secret>,
    /// Read the API key from this file
    #[arg(long, value_name = "PATH", conflicts_with = "api_key")]
    api_key_file: Option<PathBuf>,
    /// The WhatsApp business number to send from (E.164)
    #[arg(long, env = "KALEYRA_WHATSAPP_NUMBER", value_name = "NUMBER")]
    from: Option<String>,
    /// API region: in, sg, eu or na
    #[arg(long, env = "KALEYRA_REGION", value_name = "REGION")]
    region: Option<String>,
    /// Replaces https://<api_domain> (tests, proxies); plain http only for loopback
    #[arg(long, env = "KALEYRA_BASE_URL", value_name = "URL")]
    base_url: Option<String>,
    /// Messages per second (0: no limit). The provider's tested capacity is 20/s; Meta allows a
    /// business number 80/s by default and up to 1,000/s when raised
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100_000))]
    rate: u32,
    /// Requests in flight at once [default: half the rate, at least 16 (256 without a limit): enough to keep the
    /// rate up at 500 ms of latency]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: Option<u32>,
    /// Attempts per row for failures where nothing was sent (no connection) or the provider said
    /// to try again (429, 503, WA500)
    #[arg(long, default_value_t = 5, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: u32,
    /// The first retry waits about this many milliseconds, each further one twice as long
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    retry_delay_ms: u64,
    /// Seconds to wait for an answer. A request with no answer in time may have reached the
    /// provider: its row is recorded `unknown` and not sent again (see --resend-unknown,
    /// --retry-ambiguous)
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// The journal (default: next to the data file, DATA_STEM.journal.sqlite)
    #[arg(long, value_name = "PATH")]
    journal: Option<PathBuf>,
    /// The report (`-`: standard output) [default: beside the journal, named after it:
    /// NAME.journal.sqlite → NAME.report.csv]. Another journal's report is never replaced
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// Do everything except the HTTP calls (no rate limit, no journal written)
    #[arg(long)]
    dry_run: bool,
    /// Send without asking for confirmation (required when stdin is not a terminal)
    #[arg(long, short = 'y')]
    yes: bool,
    /// Refuse to start while any row is invalid
    #[arg(long)]
    strict: bool,
    /// Start a new campaign, forgetting the journal's record of an earlier one
    #[arg(long)]
    restart: bool,
    /// Resume after the template (or a --var value) changed: the rows not yet sent go out with
    /// the changed template; rows already sent (accepted, unknown, failed) are never sent again,
    /// and the journal records which version each row got. A changed data file is still refused
    #[arg(long, conflicts_with = "restart")]
    changed_template: bool,
    /// Also send rows whose delivery is unknown (in flight when a run died, or no answer after
    /// the request was written): may duplicate
    #[arg(long)]
    resend_unknown: bool,
    /// Send rows whose number an earlier row already has (after normalisation); never two
    /// messages to one number within 6 seconds
    #[arg(long)]
    allow_duplicates: bool,
    /// Never send to the numbers in this file: one a line, or a CSV with a `phone`, `to` or
    /// `number` column (separators allowed, E.164 with `+`; 11 to 15 digits without `+`, as the
    /// receiver stores opt-outs, are read as international numbers)
    #[arg(long, value_name = "FILE")]
    exclude: Option<PathBuf>,
    /// The column of the --exclude CSV that holds the numbers
    #[arg(long, value_name = "COLUMN", requires = "exclude")]
    exclude_column: Option<String>,
    /// Send at most N rows in this run; the rest stay pending for the next (a canary first)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
    /// Reach at most N unique people in any 24 hours across runs of this campaign (Meta's
    /// messaging tiers: 250, 2,000, 10,000, 100,000); the rest stay pending
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    daily_limit: Option<u64>,
    /// Write a campaign-and-row key into this extra_info field of every message (ref, ref1 or
    /// ref2), so that the provider's callbacks can be matched to rows
    #[arg(long, value_name = "FIELD", value_enum)]
    track: Option<TrackArg>,
    /// The event store `flowc receive` writes: numbers that opted out are never sent (also when
    /// the STOP arrives during the run); Meta's throttles are obeyed (130429 halves the rate for
    /// a minute, 131048 stops); at the end the report gains what became of each message so far
    #[arg(long, value_name = "STORE")]
    events: Option<PathBuf>,
    /// The password of a PostgreSQL --events store, from this file (else from the URL or
    /// PGPASSWORD)
    #[arg(long, value_name = "PATH", requires = "events")]
    events_password_file: Option<PathBuf>,
    /// With --events: stop when more than this share of the latest 200 deliveries fail as
    /// undeliverable (131026) or outside the 24-hour window (131047)
    #[arg(long, value_name = "PERCENT", default_value = "20%", value_parser = parse_percent, requires = "events")]
    max_failure_rate: f64,
    /// Send only between these times (HH:MM-HH:MM, the end excluded, 24:00 the end of the day;
    /// may cross midnight); outside them sending pauses until the window opens
    #[arg(long, value_name = "HH:MM-HH:MM")]
    window: Option<String>,
    /// The time zone of --window (an IANA name such as Asia/Kolkata) [default: the machine's]
    #[arg(long, value_name = "ZONE", requires = "window")]
    tz: Option<String>,
    /// Outside the window, stop (resumably, exit 1) instead of waiting
    #[arg(long, requires = "window")]
    exit_outside_window: bool,
    /// Retry, in this run, requests that may have reached the provider (a dropped connection or
    /// a timeout after writing, a 502/504) instead of recording them `unknown`: may duplicate
    #[arg(long)]
    retry_ambiguous: bool,
    /// Log every attempt on stderr
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Show at most N findings in full. A finding repeated in other rows is shown once, then
    /// counted; what was not shown is summed up at the end, with row numbers
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_errors: usize,
}

#[derive(Debug, Args)]
struct RenderArgs {
    /// The template file (YAML)
    template: PathBuf,
    /// Set a variable: KEY=VALUE (repeatable). With --data, the value is used for every row
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    vars: Vec<(String, String)>,
    /// Render every row of this file (.csv, .tsv, .json, .jsonl, .ndjson, .yaml, .yml; - for CSV on stdin)
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    #[command(flatten)]
    delimiter: DelimiterArg,
    /// With --data, stop at the first bad row
    #[arg(long, requires = "data")]
    fail_fast: bool,
    /// Show at most N findings in full. A finding repeated in other rows is shown once, then
    /// counted; what was not shown is summed up at the end, with row numbers
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_errors: usize,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Template files or directories to search for *.yaml / *.yml
    #[arg(default_value = "templates")]
    paths: Vec<PathBuf>,
    /// Also render and validate every row of this data file (needs exactly one template)
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    #[command(flatten)]
    delimiter: DelimiterArg,
    /// Set a variable: KEY=VALUE (repeatable)
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    vars: Vec<(String, String)>,
    /// How findings are written: human (stderr), json (one object per finding on stdout) or
    /// github (workflow commands that annotate a pull request)
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    format: OutputFormat,
    /// Show at most N findings in full. A finding repeated in other rows is shown once, then
    /// counted; what was not shown is summed up at the end, with row numbers. --format json
    /// lists every finding
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_errors: usize,
}

/// `--delimiter` and `--column`, shared by the commands that read a data file.
#[derive(Debug, Args)]
struct DelimiterArg {
    /// The field separator of a CSV data file: one character, or `tab` [default: read from the
    /// header line: comma, semicolon or tab, whichever it holds most; a .tsv file: tab]
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter, requires = "data")]
    delimiter: Option<u8>,
    /// Read a variable from a column (or key) of another name: --column phone="Phone Number"
    /// (repeatable) [default: the column named as the variable]
    #[arg(long = "column", value_name = "VAR=COLUMN", value_parser = parse_assignment, requires = "data")]
    columns: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Human,
    Json,
    Github,
}

impl From<OutputFormat> for Format {
    fn from(format: OutputFormat) -> Format {
        match format {
            OutputFormat::Human => Format::Human,
            OutputFormat::Json => Format::Json,
            OutputFormat::Github => Format::Github,
        }
    }
}

/// Enough requests in flight to keep `rate` per second going at 500 ms of latency.
fn default_concurrency(rate: u32) -> usize {
    match rate {
        0 => 256,
        rate => (rate as usize).div_ceil(2).clamp(16, 1024),
    }
}

/// Keeps the key in a [`Secret`] from the moment it is read, so no `Debug` can show it.
fn parse_secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text.to_owned()))
}

fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ => match text.as_bytes() {
            [byte] if !matches!(byte, b'"' | b'\n' | b'\r') && byte.is_ascii() => Ok(*byte),
            _ => Err(format!(
                "expected one character (such as , ; |) or `tab`, found `{text}`"
            )),
        },
    }
}

fn parse_assignment(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, found `{text}`")),
    }
}

/// `--track`'s values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TrackArg {
    Ref,
    Ref1,
    Ref2,
}

impl TrackArg {
    fn field(self) -> crate::send::campaign::TrackField {
        match self {
            TrackArg::Ref => crate::send::campaign::TrackField::Ref,
            TrackArg::Ref1 => crate::send::campaign::TrackField::Ref1,
            TrackArg::Ref2 => crate::send::campaign::TrackField::Ref2,
        }
    }
}

/// `20%` or `20` (percent), or `0.2`: a share between 0 and 1.
fn parse_percent(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let (number, percent) = match trimmed.strip_suffix('%') {
        Some(number) => (number.trim(), true),
        None => (trimmed, false),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage (write e.g. 20%)"))?;
    let share = if percent || value > 1.0 { value / 100.0 } else { value };
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!("`{text}` is not between 0% and 100%"))
    }
}
