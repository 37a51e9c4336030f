//! Writing an output whole or not at all, into a device or a pipe as it is, and never through
//! a link (the rules in [`super`]'s opening): what is at a path decides how it is written.

use std::ffi::OsString;
use std::io::{self, Read as _, Seek as _, Write};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use super::is_stdout;

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
        .map(|direct| if direct { Destination::Direct(path.to_owned()) } else { Destination::Replace(path.to_owned()) })
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

/// Named pipes opened for writing before anything was sent, kept open until their output is
/// written: a pipe with no reader is refused then, not after the campaign, and its reader sees
/// no end of file in between (closing a probe would end a `cat` reading it).
static HELD_PIPES: std::sync::Mutex<Vec<(PathBuf, std::fs::File)>> = std::sync::Mutex::new(Vec::new());

/// Opens `path` now if it is a named pipe (refused at once when it has no reader), and keeps it
/// for [`Output::create`].
pub(super) fn hold_pipe(path: &Path) -> io::Result<()> {
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

/// A file created new beside `path`, under a name no one can have planted a link or a pipe at
/// in advance (random; created exclusively, never following a link, never blocking).
/// `mode`: the new file's permissions (before the umask).
pub(super) fn create_beside(path: &Path, what: &str, mode: u32) -> io::Result<(PathBuf, std::fs::File)> {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

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
}
