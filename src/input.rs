//! Opening the files a user names, so that no path can hang a run or fill its memory.
//!
//! A path may name something that is not a file: a named pipe (`mkfifo contacts.csv`, or one
//! named `*.yaml` in a checked directory) blocks an ordinary `open` until a writer comes,
//! forever in CI; `/dev/zero` reads without end. Files are therefore opened without blocking
//! and refused unless they are regular files, and files read whole are read up to a limit.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::words;

/// A file that could not be read, as every layer says it: what it is to the run, where it is,
/// and why (wrapped by each layer's error, so that the words are the same everywhere).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {what} `{path}`: {reason}")]
pub struct Unreadable {
    /// `data file`, `template`, `the exclude list`, `the event store`…
    pub what: &'static str,
    pub path: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    #[error("{}", io_reason(.0))]
    Io(#[from] io::Error),
    #[error("it is {0}, not a regular file")]
    NotAFile(&'static str),
    #[error("it is larger than {}, the limit for {what}", words::size(*limit))]
    TooLarge { limit: u64, what: &'static str },
    #[error("it is not UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
}

impl InputError {
    /// Whether the file does not exist (optional files such as fixtures may be absent).
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, InputError::Io(error) if error.kind() == io::ErrorKind::NotFound)
    }
}

/// Opens a regular file for reading; anything else is refused without waiting on it.
pub(crate) fn open(path: &Path) -> Result<File, InputError> {
    let file = open_without_blocking(path)?;
    // The type is read from the open file, not the path, so it cannot change in between.
    let file_type = file.metadata()?.file_type();
    if file_type.is_file() {
        Ok(file)
    } else {
        Err(InputError::NotAFile(describe(&file_type)))
    }
}

/// The whole text of a regular file of at most `limit` bytes; `what` names the file's role
/// in the message ("a template").
pub(crate) fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String, InputError> {
    let file = open(path)?;
    let too_large = InputError::TooLarge { limit, what };
    if file.metadata()?.len() > limit {
        return Err(too_large);
    }
    // The file may grow after its size was read: never read more than the limit and a byte.
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large);
    }
    String::from_utf8(bytes).map_err(|error| InputError::NotUtf8(error.utf8_error().valid_up_to()))
}

#[cfg(unix)]
fn open_without_blocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK makes opening a named pipe return at once; reads from a regular file
    // ignore it.
    File::options().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}

#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(unix)]
fn describe(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a named pipe (FIFO)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn describe(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// An I/O error as a short reason: "no such file", "permission denied".
pub(crate) fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "it is a directory".to_owned(),
        _ => error.to_string(),
    }
}
