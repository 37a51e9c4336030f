//! How the commands that go over many rows (`check`, `render`, `send`) show findings: through
//! the library's [`Digest`], so that a fault repeated in a thousand rows is shown in full once,
//! then counted, and summed up at the end. Tools that asked for JSON get every finding.
//!
//! [`Grouping`] stands in front of the [`Printer`] as an [`Emit`] of its own (typos' shape: a
//! counting layer over the one that prints), so that a finding sent through it is never printed
//! past the count by mistake; notes and lines go to the printer, named as such.

use std::cell::RefCell;

use crate::diagnostic::{Emit, Finding, Format, Printer};
use crate::findings::Digest;

pub(crate) struct Grouping<'a> {
    printer: &'a Printer,
    /// `None`: every finding in full.
    digest: Option<RefCell<Digest>>,
}

impl<'a> Grouping<'a> {
    /// Every finding in full.
    pub(crate) fn every(printer: &'a Printer) -> Grouping<'a> {
        Grouping { printer, digest: None }
    }

    /// One finding of each kind in full, at most `max_full` in all; the rest counted.
    pub(crate) fn new(printer: &'a Printer, max_full: usize) -> Grouping<'a> {
        Grouping {
            printer,
            digest: (printer.format() != Format::Json).then(|| RefCell::new(Digest::new(max_full))),
        }
    }

    /// The printer behind the grouping: for notes and lines, and for findings that must show
    /// whatever was counted before them (a run's fatal error).
    pub(crate) fn printer(&self) -> &'a Printer {
        self.printer
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

impl Emit for Grouping<'_> {
    fn emit(&self, finding: Finding) {
        let full = self
            .digest
            .as_ref()
            .is_none_or(|digest| digest.borrow_mut().admit(&finding));
        if full {
            self.printer.emit(finding);
        }
    }
}
