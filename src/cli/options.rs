//! The parsed command line becomes a command with plain option structs: clap's types stop here.

use clap::CommandFactory;

use crate::cli::{default_concurrency, man, Cli, CliCommand, TrackArg};
use crate::send::account::AccountSettings;

use crate::commands::{
    CheckOptions, Command, InitOptions, PreviewOptions, ReceiveOptions, RenderOptions, ReportOptions, SendOptions,
    TestOptions,
};

impl Cli {
    pub fn into_command(self) -> Command {
        match self.command {
            CliCommand::Render(args) => Command::Render(RenderOptions {
                template: args.template,
                vars: args.vars,
                data: args.data,
                delimiter: args.delimiter.delimiter,
                columns: args.delimiter.columns,
                fail_fast: args.fail_fast,
                max_errors: args.max_errors,
            }),
            CliCommand::Send(args) => Command::Send(Box::new(SendOptions {
                template: args.template,
                data: args.data,
                delimiter: args.delimiter.delimiter,
                columns: args.delimiter.columns,
                vars: args.vars,
                account: AccountSettings {
                    sid: args.sid,
                    api_key: args.api_key,
                    api_key_file: args.api_key_file,
                    from: args.from,
                    region: args.region,
                    base_url: args.base_url,
                },
                rate: args.rate,
                concurrency: args
                    .concurrency
                    .map_or_else(|| default_concurrency(args.rate), |n| n as usize),
                max_attempts: args.max_attempts,
                retry_delay: std::time::Duration::from_millis(args.retry_delay_ms),
                timeout: std::time::Duration::from_secs(args.timeout),
                journal: args.journal,
                report: args.report,
                dry_run: args.dry_run,
                yes: args.yes,
                strict: args.strict,
                restart: args.restart,
                changed_template: args.changed_template,
                resend_unknown: args.resend_unknown,
                retry_ambiguous: args.retry_ambiguous,
                allow_duplicates: args.allow_duplicates,
                exclude: args.exclude,
                exclude_column: args.exclude_column,
                limit: args.limit,
                daily_limit: args.daily_limit,
                track: args.track.map(TrackArg::field),
                events: args.events,
                events_password_file: args.events_password_file,
                max_failure_rate: args.max_failure_rate,
                window: args.window,
                tz: args.tz,
                exit_outside_window: args.exit_outside_window,
                verbose: args.verbose,
                max_errors: args.max_errors,
            })),
            CliCommand::Test(args) => Command::Test(TestOptions {
                paths: args.paths,
                review: args.review,
                accept: args.accept,
                prune: args.prune,
                format: args.format.into(),
            }),
            CliCommand::Init(args) => Command::Init(InitOptions { dir: args.dir }),
            CliCommand::Receive(args) => Command::Receive(ReceiveOptions {
                listen: args.listen,
                store: args.store,
                store_password_file: args.store_password_file,
                basic_auth_file: args.basic_auth_file,
                token_file: args.token_file,
                tls: args.tls_cert.zip(args.tls_key),
                opt_out_words: args.opt_out_words,
                read_timeout: std::time::Duration::from_secs(args.read_timeout),
                max_connections: args.max_connections as usize,
                stats_interval: std::time::Duration::from_secs(args.stats_interval),
            }),
            CliCommand::Report(args) => Command::Report(ReportOptions {
                journal: args.journal,
                events: args.events,
                events_password_file: args.events_password_file,
                out: args.out,
                responses: args.responses,
                html: args.html,
            }),
            CliCommand::Preview(args) => Command::Preview(PreviewOptions {
                template: args.template,
                vars: args.vars,
                data: args.data,
                delimiter: args.delimiter.delimiter,
                columns: args.delimiter.columns,
                row: args.row,
                out: args.out,
            }),
            CliCommand::Completions { shell } => {
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut Cli::command(), "flowc", &mut script);
                Command::Print(script)
            }
            CliCommand::Man => Command::Print(man::manual()),
            CliCommand::Check(args) => Command::Check(CheckOptions {
                paths: args.paths,
                data: args.data,
                delimiter: args.delimiter.delimiter,
                columns: args.delimiter.columns,
                vars: args.vars,
                format: args.format.into(),
                max_errors: args.max_errors,
            }),
        }
    }
}
