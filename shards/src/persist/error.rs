//! Why persisted state could not be opened: a message naming the file and what
//! to do about it. The binary exits with code 2 on any of them.

use std::fmt;
use std::path::Path;

/// A data directory that cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistError {
    message: String,
}

impl PersistError {
    /// An error with a message the operator can act on.
    pub fn new(message: impl Into<String>) -> PersistError {
        PersistError {
            message: message.into(),
        }
    }

    /// An operating-system error on `path`.
    pub fn io(path: &Path, doing: &str, error: std::io::Error) -> PersistError {
        PersistError::new(format!("{doing} {}: {error}", path.display()))
    }

    /// A file whose content is wrong; `--recover` moves such files aside.
    pub fn damaged(path: &Path, problem: impl fmt::Display) -> PersistError {
        PersistError::new(format!(
            "{}: {problem} (start with --recover to move damaged files aside and \
             start from what can be read)",
            path.display()
        ))
    }
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PersistError {}
