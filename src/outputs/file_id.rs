//! Which file a path is (device and inode, else its canonical path), so that an output is never
//! one of the inputs by another name; and the side files a database has beside it.

use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use super::{is_stdout, Kind};

/// What identifies a file: its inode when it exists, else its canonical path.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Identity {
    Inode(u64, u64),
    Path(PathBuf),
}

pub(super) fn identity(path: &Path) -> Option<Identity> {
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
