//! The printer: findings and notes to standard error in the chosen format, and the outputs a
//! run wrote, tracked so that a failure can say what it left behind.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::diagnostic::excerpt::View;
use crate::diagnostic::{Emit, Finding};

/// How findings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// For people: miette's report on stderr, with the source line.
    #[default]
    Human,
    /// For tools: one JSON object per finding on stdout.
    Json,
    /// For GitHub Actions: workflow commands on stdout, so a pull request shows each finding
    /// on its line.
    Github,
}

/// The one writer of a run's output: findings and notes to stderr, findings for tools and
/// status lines to stdout. It remembers the first write to stdout that failed, so that output
/// lost to a full disk is not taken for success; a closed pipe (`flowc check | head`) is the
/// reader's choice and is not remembered.
pub(crate) struct Printer {
    handler: GraphicalReportHandler,
    format: Format,
    lost_output: OnceLock<String>,
}

impl Printer {
    pub(crate) fn for_stderr() -> Printer {
        Printer::with_format(Format::Human)
    }

    pub(crate) fn with_format(format: Format) -> Printer {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let theme = if colour {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::none()
        };
        Printer {
            handler: GraphicalReportHandler::new_themed(theme)
                .with_wrap_lines(false)
                .with_show_related_as_nested(true),
            format,
            lost_output: OnceLock::new(),
        }
    }

    pub(crate) fn format(&self) -> Format {
        self.format
    }

    pub(crate) fn render(&self, finding: &Finding) -> String {
        let view = View::new(finding);
        let mut out = String::new();
        if self.handler.render_report(&mut out, &view).is_err() {
            out = format!("{}\n", view.headline);
        }
        out
    }

    /// A finding for people on stderr, whatever the format: for when stdout is what failed.
    pub(crate) fn print_on_stderr(&self, finding: &Finding) {
        let text = self.render(finding);
        // stderr may be closed too; there is nowhere left to report that.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// A plain line on standard error (summaries, progress).
    pub(crate) fn note(&self, line: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// A line on standard output.
    pub(crate) fn line(&self, line: &str) {
        let written = writeln!(std::io::stdout().lock(), "{line}");
        self.track_output(written);
    }

    /// Bytes on standard output, as they are.
    pub(crate) fn write_out(&self, bytes: &[u8]) {
        let mut stdout = std::io::stdout().lock();
        let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
        self.track_output(written);
    }

    /// Remembers a failed write to stdout made elsewhere (a command's own buffered writer).
    pub(crate) fn track_output(&self, written: std::io::Result<()>) {
        if let Err(error) = written {
            if error.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = self.lost_output.set(error.to_string());
            }
        }
    }

    /// Why stdout could not be written, if a write to it failed other than by a closed pipe.
    pub(crate) fn lost_output(&self) -> Option<&str> {
        self.lost_output.get().map(String::as_str)
    }
}

impl Emit for Printer {
    /// Every finding in full, in the chosen format.
    fn emit(&self, finding: Finding) {
        match self.format {
            Format::Human => self.print_on_stderr(&finding),
            Format::Json => self.line(&finding.to_json().to_string()),
            Format::Github => self.line(&finding.to_github()),
        }
    }
}
