//! Why `flowc init` wrote nothing (or stopped): the error its file writing ends with, apart
//! from the command so that `exit.rs` can say the status it ends the run with.

use std::io;
use std::path::PathBuf;

/// Why init wrote nothing (or stopped): each variant names the path in the way.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InitError {
    #[error("refusing to write through the symbolic link `{}`", .link.display())]
    Link { link: PathBuf },
    #[error("refusing to overwrite {}", match .paths.as_slice() {
        [path] => path.display().to_string(),
        paths => format!("{} files that exist", paths.len()),
    })]
    Exists { paths: Vec<PathBuf> },
    #[error("cannot write {}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl InitError {
    pub(crate) fn help(&self) -> Option<&'static str> {
        match self {
            InitError::Link { .. } => Some(
                "init writes templates/, flows/, schemas/, .github/workflows/ and README.md and follows no links: \
                 remove the link, or name a new directory: flowc init DIR",
            ),
            InitError::Exists { .. } => {
                Some("run `flowc init` in an empty directory, or name a new one: flowc init DIR")
            }
            InitError::Io { .. } => None,
        }
    }
}
