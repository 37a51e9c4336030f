//! How the commands that go over many rows (`check`, `render`, `send`) print findings: through
//! the library's [`Digest`], so that a fault repeated in a thousand rows is shown in full once,
//! then counted, and summed up at the end. Tools that asked for JSON get every finding.

use std::cell::RefCell;
use std::ops::Deref;

use crate::diagnostic::{Finding, Format, Printer};
use crate::findings::Digest;

pub(crate) struct Reporter<'a> {
    printer: &'a Printer,
    /// `None`: every finding in full.
    digest: Option<RefCell<Digest>>,
}

impl<'a> Reporter<'a> {
    /// Every finding in full.
    pub(crate) fn every(printer: &'a Printer) -> Reporter<'a> {
        Reporter { printer, digest: None }
    }

    /// One finding of each kind in full, at most `max_full` in all; the rest counted.
    pub(crate) fn grouping(printer: &'a Printer, max_full: usize) -> Reporter<'a> {
        Reporter {
            printer,
            digest: (printer.format() != Format::Json).then(|| RefCell::new(Digest::new(max_full))),
        }
    }

    pub(crate) fn print(&self, finding: &Finding) {
        let full = self
            .digest
            .as_ref()
            .is_none_or(|digest| digest.borrow_mut().admit(finding));
        if full {
            self.printer.print(finding);
        }
    }

    /// Sums up the findings not shown in full since the last summary, if there were any.
    pub(crate) fn summarize(&self) {
        let Some(digest) = &self.digest else {
            return;
        };
        let lines = digest.borrow_mut().summary();
        for line in lines {
            self.printer.note(&line);
        }
    }
}

/// Notes and the output format are the printer's own.
impl Deref for Reporter<'_> {
    type Target = Printer;

    fn deref(&self) -> &Printer {
        self.printer
    }
}
