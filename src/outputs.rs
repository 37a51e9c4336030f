//! Every file flowc writes for a person (the campaign report, the responses file, the page,
//! the preview page) goes through here, so that one set of rules holds for all of them:
//!
//! - `-` is standard output.
//! - A regular file (or a new name) is written whole or not at all: into a temporary file
//!   created new beside it (a unique name, `O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK`: whatever a
//!   directory holds at any name, a planted link or named pipe, is never followed, waited on or
//!   removed), then renamed over it. A file created new cannot be one of the command's inputs.
//! - A device or a named pipe, or a link to one (`/dev/null`, `/dev/stdout` on a terminal or a
//!   pipe), is written into as it is, never replaced: opened without blocking (a pipe nobody
//!   reads is refused at once) and without creating or truncating anything.
//! - A symbolic link to a regular file is refused: replacing it would drop the link, writing
//!   its target would write wherever a planted link points. The message names the target.
//!
//! The files a campaign writes must also never be one of the files it reads (template, data,
//! key file, journal, event store): `--report contacts.csv` would otherwise replace the contact
//! list. Files are compared by identity (device and inode, so links and `..` do not hide one),
//! or, for an output not yet created, by canonical path. Each output's directory is tried for
//! writing before anything is sent, not after the campaign.

use std::ffi::OsString;
use std::io::{self, Read as _, Seek as _, Write};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("the {output} `{path}` is the {input} `{input_path}`: writing it would destroy the {input}")]
    SameAsInput {
        output: &'static str,
        path: String,
        input: &'static str,
        input_path: String,
    },
    #[error("the {output} `{path}` holds the {input} the campaign was sent from (the journal records its content): writing it would destroy the {input}")]
    HoldsInput {
        output: &'static str,
        path: String,
        input: &'static str,
    },
    #[error("the report `{path}` is the journal or one of its files (`-wal`, `.mirror`)")]
    JournalIsReport { path: String },
    #[error("the {first} and the {second} are the same file `{path}`")]
    Clash {
        first: &'static str,
        second: &'static str,
        path: String,
    },
    #[error("the {first} and the {second} would both go to standard output (`-`)")]
    BothOnStdout { first: &'static str, second: &'static str },
    #[error("cannot write the {output} `{path}`: {reason}")]
    NotWritable {
        output: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "the report `{path}` belongs to another journal, `{journal}`: replacing it would lose that campaign's report"
    )]
    OtherJournal {
        path: String,
        journal: String,
        /// This journal's own report, named after it.
        own: String,
    },
}

impl OutputError {
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            OutputError::OtherJournal { own, .. } => Some(format!(
                "leave out --report (`flowc report`: --out) to write this journal's own report `{own}`, or name another file"
            )),
            OutputError::BothOnStdout { .. } => Some("name a file for one of them".to_owned()),
            _ => None,
        }
    }
}

/// `-`: standard output.
pub(crate) fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Where an output goes, decided from what is at its path now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    Stdout,
    /// A device or a named pipe, or a link to one: written into as it is.
    Direct(PathBuf),
    /// A regular file or a new name: a temporary file renamed over it.
    Replace(PathBuf),
}

fn refused(reason: String) -> io::Error {
    io::Error::other(reason)
}

/// Where `path` is written, or why it is not (the error's text is the reason, to follow
/// "cannot write the report `PATH`: ").
pub(crate) fn destination(path: &Path) -> io::Result<Destination> {
    if is_stdout(path) {
        return Ok(Destination::Stdout);
    }
    let link = match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Destination::Replace(path.to_owned())),
        Err(error) => return Err(error),
        Ok(link) => link,
    };
    let is_link = link.file_type().is_symlink();
    let metadata = if is_link {
        match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let target = std::fs::read_link(path).unwrap_or_default();
                return Err(refused(format!(
                    "it is a symbolic link to `{}`, which does not exist; flowc does not write through links: name the file itself",
                    target.display()
                )));
            }
            Err(error) => return Err(error),
        }
    } else {
        link
    };
    decide(Kind::of(metadata.file_type()), is_link)
        .map(|direct| match direct {
            true => Destination::Direct(path.to_owned()),
            false => Destination::Replace(path.to_owned()),
        })
        .map_err(|reason| match reason {
            Refusal::LinkToFile => {
                let target = std::fs::canonicalize(path).unwrap_or_default();
                refused(format!(
                    "it is a symbolic link to the file `{}`; flowc neither writes through a link nor replaces one: name the file itself, or - for standard output",
                    target.display()
                ))
            }
            Refusal::Kind(kind) => refused(format!("it is {}{}", kind.name(), kind.why_refused())),
        })
}

/// What is at a path, as far as writing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Directory,
    /// A disk or a partition: writing into it destroys what it holds.
    BlockDevice,
    /// A terminal, `/dev/null`…: written into as it is.
    CharDevice,
    Fifo,
    Socket,
}

impl Kind {
    pub(crate) fn of(kind: std::fs::FileType) -> Kind {
        if kind.is_dir() {
            Kind::Directory
        } else if kind.is_block_device() {
            Kind::BlockDevice
        } else if kind.is_char_device() {
            Kind::CharDevice
        } else if kind.is_fifo() {
            Kind::Fifo
        } else if kind.is_socket() {
            Kind::Socket
        } else {
            Kind::File
        }
    }

    /// "a block device", to follow "it is" or "`PATH` is".
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::File => "a file",
            Kind::Directory => "a directory",
            Kind::BlockDevice => "a block device (a disk or a partition)",
            Kind::CharDevice => "a character device",
            Kind::Fifo => "a named pipe",
            Kind::Socket => "a socket",
        }
    }

    fn why_refused(self) -> &'static str {
        match self {
            Kind::BlockDevice => ": flowc never writes over one; name a file, or - for standard output",
            _ => "",
        }
    }
}

enum Refusal {
    LinkToFile,
    Kind(Kind),
}

/// Whether an output at a path of this kind is written into as it is (`true`), replaced by a
/// new file (`false`), or refused.
fn decide(kind: Kind, is_link: bool) -> Result<bool, Refusal> {
    match kind {
        Kind::File if is_link => Err(Refusal::LinkToFile),
        Kind::File => Ok(false),
        Kind::CharDevice | Kind::Fifo => Ok(true),
        Kind::Directory | Kind::BlockDevice | Kind::Socket => Err(Refusal::Kind(kind)),
    }
}

/// An output being written; [`Output::finish`] puts it in place. Dropped unfinished, it leaves
/// nothing behind but what was already written into a device or a pipe.
pub(crate) struct Output {
    sink: Sink,
}

enum Sink {
    /// Standard output; `closed` once its reader went away (`| head`): the rest is dropped,
    /// as a reader's choice, not a failure.
    Stdout { out: io::Stdout, closed: bool },
    /// `stalled` once its reader read nothing for [`crate::limits::MAX_OUTPUT_STALL`]: what
    /// follows (a buffered writer's last flush) fails at once rather than wait again.
    Direct { file: std::fs::File, stalled: bool },
    Replace {
        file: std::fs::File,
        temporary: PathBuf,
        path: PathBuf,
        done: bool,
    },
}

impl Output {
    /// Opens `path` for writing as [`destination`] decides.
    pub(crate) fn create(path: &Path) -> io::Result<Output> {
        let sink = match destination(path)? {
            Destination::Stdout => Sink::Stdout {
                out: io::stdout(),
                closed: false,
            },
            Destination::Direct(path) => Sink::Direct {
                file: open_direct(&path)?,
                stalled: false,
            },
            Destination::Replace(path) => {
                let (temporary, file) = create_beside(&path, "partial", 0o666)?;
                Sink::Replace {
                    file,
                    temporary,
                    path,
                    done: false,
                }
            }
        };
        Ok(Output { sink })
    }

    /// Flushes and puts the file in place (renamed over what was at its path).
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.flush()?;
        let Sink::Replace {
            file,
            temporary,
            path,
            done,
        } = &mut self.sink
        else {
            return Ok(());
        };
        file.sync_all()?;
        // Something put at the path while the file was written (a link, a pipe) stays as it is.
        if let Ok(now) = std::fs::symlink_metadata(&*path) {
            if !now.file_type().is_file() {
                return Err(refused(
                    "a link, a directory, a device or a named pipe was put at its name while it was written; left as it is"
                        .to_owned(),
                ));
            }
        }
        std::fs::rename(&*temporary, &*path)?;
        *done = true;
        // The rename is durable once the directory is.
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if let Ok(directory) = std::fs::File::open(directory) {
            let _ = directory.sync_all();
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.sink {
            Sink::Stdout { closed: true, .. } => Ok(buf.len()),
            Sink::Stdout { out, closed } => match out.write(buf) {
                Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                    *closed = true;
                    Ok(buf.len())
                }
                other => other,
            },
            // Opened without blocking: a full pipe answers "would block"; wait for its reader,
            // but not for one that never reads.
            Sink::Direct { file, stalled } => {
                let since = std::time::Instant::now();
                loop {
                    match file.write(buf) {
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                            if *stalled || since.elapsed() >= crate::limits::MAX_OUTPUT_STALL {
                                *stalled = true;
                                return Err(refused(format!(
                                    "its reader has read nothing for {} seconds; the rest was not written",
                                    crate::limits::MAX_OUTPUT_STALL.as_secs()
                                )));
                            }
                            std::thread::sleep(std::time::Duration::from_millis(2));
                        }
                        other => return other,
                    }
                }
            }
            Sink::Replace { file, .. } => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Stdout { out, closed } => match out.flush() {
                Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                    *closed = true;
                    Ok(())
                }
                other => other,
            },
            Sink::Direct { file, .. } | Sink::Replace { file, .. } => file.flush(),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Sink::Replace {
            temporary, done: false, ..
        } = &self.sink
        {
            let _ = std::fs::remove_file(temporary);
        }
    }
}

/// Writes `bytes` to `path` whole, as [`Output`] does.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut output = Output::create(path)?;
    output.write_all(bytes)?;
    output.finish()
}

/// A device or a named pipe opened for writing: never created, truncated or waited on (a pipe
/// opened before the run, see [`hold_pipe`], is the one written).
fn open_direct(path: &Path) -> io::Result<std::fs::File> {
    {
        let mut held = HELD_PIPES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(index) = held.iter().position(|(held, _)| held == path) {
            return Ok(held.swap_remove(index).1);
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ENXIO) => {
                refused("it is a named pipe with no reader; start its reader first, or name a file".to_owned())
            }
            _ => error,
        })
}

/// A file created new beside `path`, under a name no one can have planted a link or a pipe at
/// in advance (random; created exclusively, never following a link, never blocking).
/// `mode`: the new file's permissions (before the umask).
fn create_beside(path: &Path, what: &str, mode: u32) -> io::Result<(PathBuf, std::fs::File)> {
    let name = path
        .file_name()
        .ok_or_else(|| refused("it does not name a file".to_owned()))?;
    let mut last = None;
    for _ in 0..16 {
        let mut temporary = OsString::from(name);
        temporary.push(format!(".{:016x}.{what}", fastrand::u64(..)));
        let temporary = path.with_file_name(temporary);
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&temporary)
        {
            Ok(file) => return Ok((temporary, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

/// A working file for an output written in two passes (the responses CSV: its columns are
/// known only at the end), removed when dropped. Beside the output when it is a file, else in
/// the system's temporary directory (a device's directory takes no files).
pub(crate) struct Scratch {
    path: PathBuf,
    file: std::fs::File,
}

impl Scratch {
    pub(crate) fn for_output(output: &Path) -> io::Result<Scratch> {
        let beside = match destination(output)? {
            Destination::Replace(path) => path,
            Destination::Stdout | Destination::Direct(_) => std::env::temp_dir().join("flowc-output"),
        };
        // Only its owner reads it: it holds people's answers, maybe in a shared directory.
        let (path, file) = create_beside(&beside, "scratch", 0o600)?;
        Ok(Scratch { path, file })
    }

    pub(crate) fn file(&mut self) -> &mut std::fs::File {
        &mut self.file
    }

    /// What was written, read from the start.
    pub(crate) fn reader(&mut self) -> io::Result<impl io::Read + '_> {
        self.file.rewind()?;
        Ok((&self.file).take(u64::MAX))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What identifies a file: its inode when it exists, else its canonical path.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    Inode(u64, u64),
    Path(PathBuf),
}

fn identity(path: &Path) -> Option<Identity> {
    if is_stdout(path) {
        return None;
    }
    if let Ok(metadata) = std::fs::metadata(path) {
        return Some(Identity::Inode(metadata.dev(), metadata.ino()));
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path.file_name()?;
    Some(Identity::Path(std::fs::canonicalize(parent).ok()?.join(name)))
}

/// Whether two paths name the same file (existing, or to be created).
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (identity(a), identity(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The files SQLite keeps beside a database.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

fn side_file(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Why SQLite must not open `database`: something other than a file at one of the names it
/// writes beside it (a link planted at `-wal` would have SQLite write wherever it points).
/// The text follows "the … `PATH` cannot be opened: ".
pub(crate) fn planted_beside(database: &Path) -> Option<String> {
    SIDE_FILES.iter().find_map(|suffix| {
        let side = side_file(database, suffix);
        let metadata = std::fs::symlink_metadata(&side).ok()?;
        let kind = metadata.file_type();
        let what = if kind.is_symlink() {
            let target = std::fs::read_link(&side).unwrap_or_default();
            format!("a symbolic link to `{}`", target.display())
        } else if kind.is_file() {
            return None;
        } else {
            Kind::of(kind).name().to_owned()
        };
        Some(format!(
            "`{}` beside it is {what}; SQLite writes its `{suffix}` file there, and flowc never writes through a link or into a device: remove it (a database's `{suffix}` is a plain file)",
            side.display()
        ))
    })
}

/// The `-wal` and `-shm` files SQLite may create beside a database that is only read (a
/// journal copied without them, a file refused as a store): noted before it is opened, removed
/// after it is closed if this command created them and they hold nothing, so that reading a
/// file leaves nothing behind.
pub(crate) struct SideFiles {
    wal: PathBuf,
    shm: PathBuf,
    /// Whether each was absent when noted.
    wal_absent: bool,
    shm_absent: bool,
}

impl SideFiles {
    pub(crate) fn note(database: &Path) -> SideFiles {
        let wal = side_file(database, "-wal");
        let shm = side_file(database, "-shm");
        SideFiles {
            wal_absent: std::fs::symlink_metadata(&wal).is_err(),
            shm_absent: std::fs::symlink_metadata(&shm).is_err(),
            wal,
            shm,
        }
    }

    /// Once every connection to the database is closed: an empty `-wal` created since
    /// [`SideFiles::note`], and then a `-shm` created since (it only indexes the `-wal`), are
    /// removed. A `-wal` that holds something is left: it is part of the database.
    pub(crate) fn remove_created(self) {
        let empty_file = |path: &Path| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0);
        if self.wal_absent && empty_file(&self.wal) {
            let _ = std::fs::remove_file(&self.wal);
        }
        let wal_left = std::fs::symlink_metadata(&self.wal).is_ok();
        if self.shm_absent && !wal_left && std::fs::symlink_metadata(&self.shm).is_ok_and(|m| m.is_file()) {
            let _ = std::fs::remove_file(&self.shm);
        }
    }
}

/// Whether `path` is a regular file whose SHA-256 is `hex`: how a report knows the campaign's
/// data file and template by content wherever they are now (a folder copied or moved, a
/// journal written before flowc recorded its inputs' paths).
pub(crate) fn has_digest(path: &Path, hex: &str) -> bool {
    use sha2::Digest as _;
    if !std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_file()) {
        return false;
    }
    let Ok(mut file) = crate::input::open(path) else {
        return false;
    };
    let mut hasher = sha2::Sha256::new();
    if io::copy(&mut file, &mut hasher).is_err() {
        return false;
    }
    let digest: String = hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
    digest == hex
}

/// `path` with `suffix` appended to its file name (`j.sqlite` → `j.sqlite-wal`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// A journal's report, named after it: `contacts.journal.sqlite` → `contacts.report.csv` (a dry
/// run: `contacts.dry-run.report.csv`) beside it; any other name gets `.report.csv` added.
pub(crate) fn default_report(journal: &Path, dry_run: bool) -> PathBuf {
    let name = journal
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".journal.sqlite").unwrap_or(&name);
    let suffix = if dry_run { "dry-run.report.csv" } else { "report.csv" };
    journal.with_file_name(format!("{stem}.{suffix}"))
}

/// A report belongs to the journal whose name it carries (see [`default_report`]):
/// `X.report.csv` to `X.journal.sqlite` (or to `X` when `X` ends in `.sqlite`) beside it.
/// Refuses to replace an existing report that belongs to a journal other than `journal`.
pub(crate) fn check_owner(report: &Path, journal: &Path, dry_run: bool) -> Result<(), OutputError> {
    if !matches!(destination(report), Ok(Destination::Replace(_))) || std::fs::symlink_metadata(report).is_err() {
        return Ok(());
    }
    let Some(name) = report.file_name().and_then(|name| name.to_str()) else {
        return Ok(());
    };
    let Some(stem) = name
        .strip_suffix(".dry-run.report.csv")
        .or_else(|| name.strip_suffix(".report.csv"))
    else {
        return Ok(());
    };
    let mut owners = vec![report.with_file_name(format!("{stem}.journal.sqlite"))];
    if stem.ends_with(".sqlite") {
        owners.push(report.with_file_name(stem));
    }
    let ours = identity(journal);
    for owner in owners {
        if std::fs::metadata(&owner).is_ok_and(|metadata| metadata.is_file()) && identity(&owner) != ours {
            return Err(OutputError::OtherJournal {
                path: report.display().to_string(),
                journal: owner.display().to_string(),
                own: default_report(journal, dry_run).display().to_string(),
            });
        }
    }
    Ok(())
}

/// Checks the outputs against the inputs; `journal` is `None` for a dry run.
pub fn check(inputs: &[(&'static str, &Path)], journal: Option<&Path>, report: &Path) -> Result<(), OutputError> {
    let not_writable = |error: io::Error| OutputError::NotWritable {
        output: "report",
        path: report.display().to_string(),
        reason: crate::input::io_reason(&error),
    };
    let mut outputs: Vec<(&'static str, PathBuf)> = Vec::new();
    if let Some(journal) = journal {
        outputs.push(("journal", journal.to_owned()));
        for suffix in ["-wal", "-shm", "-journal", ".mirror"] {
            outputs.push(("journal", with_suffix(journal, suffix)));
        }
    }
    outputs.push(("report", report.to_owned()));
    let inputs: Vec<(&'static str, &Path, Option<Identity>)> = inputs
        .iter()
        .map(|(role, path)| (*role, *path, identity(path)))
        .collect();
    for (output, path) in &outputs {
        let Some(id) = identity(path) else { continue };
        for (input, input_path, input_id) in &inputs {
            if input_id.as_ref() == Some(&id) {
                return Err(OutputError::SameAsInput {
                    output,
                    path: path.display().to_string(),
                    input,
                    input_path: input_path.display().to_string(),
                });
            }
        }
    }
    if let Some(journal) = journal {
        // The report must not land on the journal or one of its side files (SQLite deletes
        // `-wal` on close; a report over the mirror would make the journal unusable).
        let report_id = identity(report);
        for side in ["", "-wal", "-shm", "-journal", ".mirror"] {
            let side = identity(&with_suffix(journal, side));
            if side.is_some() && side == report_id {
                return Err(OutputError::JournalIsReport {
                    path: report.display().to_string(),
                });
            }
        }
    }
    match destination(report).map_err(not_writable)? {
        Destination::Replace(_) => probe_directory("report", report),
        Destination::Direct(path) => hold_pipe(&path).map_err(not_writable),
        // Standard output or a device: nothing is created or replaced.
        Destination::Stdout => Ok(()),
    }
}

/// Named pipes opened for writing before anything was sent, kept open until their output is
/// written: a pipe with no reader is refused then, not after the campaign, and its reader sees
/// no end of file in between (closing a probe would end a `cat` reading it).
static HELD_PIPES: std::sync::Mutex<Vec<(PathBuf, std::fs::File)>> = std::sync::Mutex::new(Vec::new());

/// Opens `path` now if it is a named pipe (refused at once when it has no reader), and keeps it
/// for [`Output::create`].
fn hold_pipe(path: &Path) -> io::Result<()> {
    if !std::fs::metadata(path)?.file_type().is_fifo() {
        return Ok(());
    }
    let file = open_direct(path)?;
    HELD_PIPES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((path.to_owned(), file));
    Ok(())
}

/// Checks files a command writes (`flowc report`: the report, the responses file, the page)
/// against the files it reads (the journal and the event store, with the files SQLite keeps
/// beside them, and the campaign's template and data file) and against each other, then tries
/// each one's directory.
pub(crate) fn check_distinct(
    inputs: &[(&'static str, &Path)],
    outputs: &[(&'static str, &Path)],
) -> Result<(), OutputError> {
    let mut read: Vec<(&'static str, PathBuf, Option<Identity>)> = Vec::new();
    for (role, path) in inputs {
        for suffix in ["", "-wal", "-shm", "-journal", ".mirror"] {
            let file = with_suffix(path, suffix);
            let id = identity(&file);
            read.push((role, file, id));
        }
    }
    let mut on_stdout: Option<&'static str> = None;
    let mut written: Vec<(&'static str, Identity)> = Vec::new();
    let mut files: Vec<(&'static str, &Path)> = Vec::new();
    for (output, path) in outputs {
        if is_stdout(path) {
            if let Some(first) = on_stdout {
                return Err(OutputError::BothOnStdout { first, second: output });
            }
            on_stdout = Some(output);
            continue;
        }
        if let Some(id) = identity(path) {
            if let Some((input, input_path, _)) = read.iter().find(|(_, _, input)| input.as_ref() == Some(&id)) {
                return Err(OutputError::SameAsInput {
                    output,
                    path: path.display().to_string(),
                    input,
                    input_path: input_path.display().to_string(),
                });
            }
            if let Some((first, _)) = written.iter().find(|(_, other)| *other == id) {
                return Err(OutputError::Clash {
                    first,
                    second: output,
                    path: path.display().to_string(),
                });
            }
            written.push((output, id));
        }
        let destination = destination(path).map_err(|error| OutputError::NotWritable {
            output,
            path: path.display().to_string(),
            reason: crate::input::io_reason(&error),
        })?;
        if matches!(destination, Destination::Replace(_)) {
            files.push((output, path));
        }
    }
    for (output, path) in files {
        probe_directory(output, path)?;
    }
    Ok(())
}

/// Creates and removes a file beside `path`, so that an unwritable directory is found now.
fn probe_directory(output: &'static str, path: &Path) -> Result<(), OutputError> {
    let not_writable = |error: std::io::Error| OutputError::NotWritable {
        output,
        path: path.display().to_string(),
        reason: crate::input::io_reason(&error),
    };
    let (probe, _) = create_beside(path, "probe", 0o600).map_err(not_writable)?;
    std::fs::remove_file(&probe).map_err(not_writable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo");
        assert!(status.success());
    }

    #[test]
    fn a_block_device_or_a_link_to_one_is_never_written() {
        assert!(matches!(
            decide(Kind::BlockDevice, false),
            Err(Refusal::Kind(Kind::BlockDevice))
        ));
        assert!(matches!(
            decide(Kind::BlockDevice, true),
            Err(Refusal::Kind(Kind::BlockDevice))
        ));
        assert!(matches!(decide(Kind::CharDevice, true), Ok(true)));
        assert!(matches!(decide(Kind::Fifo, false), Ok(true)));
        assert!(matches!(decide(Kind::File, false), Ok(false)));
        assert!(matches!(decide(Kind::File, true), Err(Refusal::LinkToFile)));
    }

    #[test]
    fn each_kind_of_path_has_its_destination() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file.csv");
        std::fs::write(&file, "old").expect("file");
        let pipe = dir.path().join("pipe");
        mkfifo(&pipe);
        let to_pipe = dir.path().join("to-pipe");
        std::os::unix::fs::symlink(&pipe, &to_pipe).expect("link");
        let to_file = dir.path().join("to-file");
        std::os::unix::fs::symlink(&file, &to_file).expect("link");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).expect("link");
        let new = dir.path().join("new.csv");
        assert_eq!(destination(Path::new("-")).expect("-"), Destination::Stdout);
        assert_eq!(destination(&file).expect("file"), Destination::Replace(file.clone()));
        assert_eq!(destination(&new).expect("new"), Destination::Replace(new.clone()));
        assert_eq!(destination(&pipe).expect("pipe"), Destination::Direct(pipe.clone()));
        assert_eq!(
            destination(&to_pipe).expect("link"),
            Destination::Direct(to_pipe.clone())
        );
        assert_eq!(
            destination(Path::new("/dev/null")).expect("null"),
            Destination::Direct(PathBuf::from("/dev/null"))
        );
        for refused in [&to_file, &dangling, &dir.path().to_path_buf()] {
            assert!(destination(refused).is_err(), "{}", refused.display());
        }
    }

    #[test]
    fn an_output_is_in_place_whole_once_finished_and_leaves_nothing_when_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("report.csv");
        std::fs::write(&path, "old").expect("file");
        let mut output = Output::create(&path).expect("create");
        output.write_all(b"new").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old", "not yet in place");
        drop(output);
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "old");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no leftover");
        let mut output = Output::create(&path).expect("create");
        output.write_all(b"new").expect("write");
        output.finish().expect("finish");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1, "no leftover");
    }

    #[test]
    fn a_named_pipe_put_at_the_name_while_writing_is_left_as_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("page.html");
        let mut output = Output::create(&path).expect("create");
        output.write_all(b"page").expect("write");
        mkfifo(&path);
        assert!(output.finish().is_err());
        use std::os::unix::fs::FileTypeExt as _;
        assert!(std::fs::symlink_metadata(&path).expect("pipe").file_type().is_fifo());
    }

    #[test]
    fn a_scratch_file_is_its_owners_alone_and_gone_when_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut scratch = Scratch::for_output(&dir.path().join("answers.csv")).expect("scratch");
        scratch.file().write_all(b"line\n").expect("write");
        let mut text = String::new();
        scratch
            .reader()
            .expect("reader")
            .read_to_string(&mut text)
            .expect("read");
        assert_eq!(text, "line\n");
        let path = scratch.path.clone();
        let mode = std::fs::metadata(&path).expect("scratch").mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(scratch);
        assert!(!path.exists());
    }

    #[test]
    fn a_report_is_named_after_its_journal() {
        let cases = [
            ("dir/contacts.journal.sqlite", false, "dir/contacts.report.csv"),
            ("dir/contacts.journal.sqlite", true, "dir/contacts.dry-run.report.csv"),
            ("trial.sqlite", false, "trial.sqlite.report.csv"),
        ];
        for (journal, dry_run, report) in cases {
            assert_eq!(default_report(Path::new(journal), dry_run), PathBuf::from(report));
        }
    }

    #[test]
    fn report_outputs_may_be_neither_an_input_nor_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("c.journal.sqlite");
        std::fs::write(&journal, "j").expect("journal");
        let store = dir.path().join("events.sqlite");
        std::fs::write(&store, "s").expect("store");
        let inputs = [("journal", journal.as_path()), ("event store", store.as_path())];
        let report = dir.path().join("c.report.csv");
        assert!(check_distinct(&inputs, &[("report", &report)]).is_ok());
        for output in [&journal, &store, &with_suffix(&store, "-wal")] {
            std::fs::write(with_suffix(&store, "-wal"), "w").expect("wal");
            assert!(
                matches!(
                    check_distinct(&inputs, &[("page", output)]),
                    Err(OutputError::SameAsInput { .. })
                ),
                "{}",
                output.display()
            );
        }
        std::fs::write(&report, "r").expect("report");
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&report, &link).expect("symlink");
        assert!(matches!(
            check_distinct(&inputs, &[("report", &report), ("page", &link)]),
            Err(OutputError::Clash { .. })
        ));
    }

    #[test]
    fn an_output_that_is_an_input_by_another_name_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("contacts.csv");
        std::fs::write(&data, "name\n").expect("data");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&data, &link).expect("symlink");
        let hard = dir.path().join("hard.csv");
        std::fs::hard_link(&data, &hard).expect("hard link");
        let dotted = dir.path().join("sub/../contacts.csv");
        std::fs::create_dir(dir.path().join("sub")).expect("sub");
        for report in [&data, &link, &hard, &dotted] {
            assert!(
                matches!(
                    check(&[("data file", &data)], None, report),
                    Err(OutputError::SameAsInput { .. })
                ),
                "{}",
                report.display()
            );
        }
        let journal = dir.path().join("contacts.csv-wal");
        assert!(check(
            &[("data file", &dir.path().join("contacts.csv-wal"))],
            Some(&data.with_extension("")),
            &dir.path().join("r.csv")
        )
        .is_ok());
        assert!(check(
            &[("data file", &journal)],
            Some(&dir.path().join("contacts.csv")),
            &dir.path().join("r.csv")
        )
        .is_err());
        assert!(check(
            &[("data file", &data)],
            Some(&dir.path().join("j")),
            &dir.path().join("r.csv")
        )
        .is_ok());
    }
}
