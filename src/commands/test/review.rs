//! `flowc test --review`: one pending snapshot at a time, its diff, and a single key to answer.
//!
//! On a terminal the key is read in raw mode, so no Enter is needed (console, which indicatif
//! already brings into the tree). From a pipe, keys are read one character at a time with
//! whitespace ignored, so a script can answer `rsA` or `r\ns\nA\n` alike; the end of input
//! leaves the remaining snapshots pending.

use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;

use super::{accept, accepted_path, colour, diff};
use crate::diagnostic::{Emit, Finding, Printer};
use crate::snapshot;

/// What a review did.
#[derive(Debug, Default)]
pub(super) struct Reviewed {
    pub(super) accepted: usize,
    pub(super) rejected: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Accept,
    Reject,
    Skip,
    AcceptRest,
    Quit,
}

const PROMPT: &str = "accept (a), reject (r), skip (s), accept all the rest (A), quit (q)? ";

impl Answer {
    fn from_key(key: char) -> Option<Answer> {
        match key {
            'a' => Some(Answer::Accept),
            'r' => Some(Answer::Reject),
            's' => Some(Answer::Skip),
            'A' => Some(Answer::AcceptRest),
            'q' => Some(Answer::Quit),
            _ => None,
        }
    }
}

/// Where the answers come from.
enum Keys {
    Terminal(console::Term),
    Piped(io::Stdin),
}

impl Keys {
    fn open() -> Keys {
        // Raw mode needs the person to be at the terminal the prompts go to.
        if io::stdin().is_terminal() && io::stderr().is_terminal() {
            Keys::Terminal(console::Term::stderr())
        } else {
            Keys::Piped(io::stdin())
        }
    }

    /// The next key, or `None` at the end of input (or when the terminal cannot be read).
    fn next(&mut self) -> Option<char> {
        match self {
            Keys::Terminal(term) => {
                let key = term.read_char().ok()?;
                // Raw mode does not echo: show the answer so the transcript reads as it was.
                eprintln!("{}", key.escape_debug());
                Some(key)
            }
            Keys::Piped(stdin) => loop {
                let key = read_utf8_char(stdin)?;
                if !key.is_whitespace() {
                    return Some(key);
                }
            },
        }
    }
}

/// One UTF-8 character from a byte stream; an invalid sequence reads as U+FFFD.
fn read_utf8_char(input: &mut impl Read) -> Option<char> {
    let mut buffer = [0_u8; 4];
    input.read_exact(&mut buffer[..1]).ok()?;
    let len = match buffer[0] {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => return Some(char::REPLACEMENT_CHARACTER),
    };
    input.read_exact(&mut buffer[1..len]).ok()?;
    Some(
        std::str::from_utf8(&buffer[..len])
            .ok()
            .and_then(|text| text.chars().next())
            .unwrap_or(char::REPLACEMENT_CHARACTER),
    )
}

/// Walks the pending snapshots, asking for each.
pub(super) fn review(pending: &[PathBuf], printer: &Printer) -> Reviewed {
    let mut keys = Keys::open();
    let mut reviewed = Reviewed::default();
    let mut accept_rest = false;
    for (index, path) in pending.iter().enumerate() {
        let target = accepted_path(path);
        let answer = if accept_rest {
            Answer::Accept
        } else {
            let old = snapshot::read(&target).ok().flatten().unwrap_or_default();
            let new = snapshot::read(path).ok().flatten().unwrap_or_default();
            eprintln!("\n[{}/{}] {}", index + 1, pending.len(), target.display());
            eprint!("{}", diff(&old, &new, colour()));
            match ask(&mut keys) {
                Some(answer) => answer,
                None => break,
            }
        };
        match answer {
            Answer::Accept | Answer::AcceptRest => {
                accept_rest |= answer == Answer::AcceptRest;
                if accept(path, printer) {
                    reviewed.accepted += 1;
                }
            }
            Answer::Reject => match std::fs::remove_file(path) {
                Ok(()) => {
                    reviewed.rejected += 1;
                    printer.note(&format!("rejected {}", path.display()));
                }
                Err(error) => printer.emit(Finding::error(format!("cannot remove {}: {error}", path.display()))),
            },
            Answer::Skip => {}
            Answer::Quit => break,
        }
    }
    reviewed
}

/// Prompts until a known key is pressed; `None` at the end of input.
fn ask(keys: &mut Keys) -> Option<Answer> {
    loop {
        eprint!("{PROMPT}");
        let _ = io::stderr().flush();
        let key = keys.next()?;
        match Answer::from_key(key) {
            Some(answer) => return Some(answer),
            None => eprintln!("unknown key `{}`: press a, r, s, A or q", key.escape_debug()),
        }
    }
}
