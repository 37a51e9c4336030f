//! Why `flowc send` sends nothing this time, decided before any request leaves (the status each
//! ends the run with is in `exit.rs`).

/// A send that ends before its first request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotSent {
    #[error("flowc send needs a data file, not standard input")]
    DataFromStdin,
    #[error("--strict: {}; nothing sent", crate::words::count(*invalid, "invalid row", "invalid rows"))]
    Strict { invalid: u64 },
    /// Rows to send, but no account (a dry run goes on without one; a real run is refused
    /// earlier, when the account is resolved).
    #[error("no account to send with")]
    NoAccount,
    #[error("{path} changed after its pre-flight; nothing sent")]
    DataChanged { path: String },
    #[error("refusing to send without confirmation: standard input is not a terminal")]
    NoTerminal,
    /// The person answered no.
    #[error("nothing sent")]
    Declined,
    /// Outside the `--window` with `--exit-outside-window`.
    #[error("outside the sending window: nothing sent")]
    OutsideWindow,
    /// `--outside-window` names who gets the template by the event store, which it needs.
    #[error("--outside-window needs --events: who wrote to the business in the last 24 hours is read from the event store `flowc receive` writes; nothing sent")]
    WindowWithoutEvents,
    /// `--outside-window` pairs a Flow message with a template message.
    #[error("--outside-window names the approved template message sent to people outside their 24-hour window, beside an interactive Flow message; nothing sent")]
    OutsideWindowKinds,
    /// The two messages of an `--outside-window` campaign name different recipients.
    #[error("the Flow message goes to `{flow}` and the --outside-window template to `{template}`: each row must reach one person, whichever message it gets; nothing sent")]
    OutsideWindowRecipient { flow: String, template: String },
}

impl NotSent {
    pub(crate) fn help(&self) -> Option<String> {
        let help = match self {
            NotSent::DataFromStdin => "the file is read twice (pre-flight, then sending) and resuming reads it again",
            NotSent::Strict { .. } => "fix the rows reported above, or run without --strict to send the valid ones",
            NotSent::DataChanged { .. } => "run the command again once the file is no longer being edited",
            NotSent::NoTerminal => "pass --yes to send without asking (scripts, CI)",
            NotSent::OutsideWindowRecipient { .. } => "write the same `to` in both (e.g. `to: \"{{phone}}\"`)",
            NotSent::OutsideWindowKinds => {
                "give the interactive Flow message first and the template message (`type: template`) after --outside-window"
            }
            NotSent::WindowWithoutEvents => {
                "add --events STORE (the --store of `flowc receive`), or leave out --outside-window to send everyone the Flow message"
            }
            NotSent::NoAccount | NotSent::Declined | NotSent::OutsideWindow => return None,
        };
        Some(help.to_owned())
    }
}
