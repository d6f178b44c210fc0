//! `shardmq passwd`: adds, updates or deletes a user of a Mosquitto password
//! file, as `mosquitto_passwd` does. New entries are `$7$` (PBKDF2-SHA512)
//! with `limits::PASSWORD_ITERATIONS_DEFAULT` iterations and a random
//! 12-byte salt, which Mosquitto reads too. Every other line is kept as it
//! was; the file is replaced atomically (temporary file, fsync, rename) and
//! a new one is readable by its owner only.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use shardmq::auth::password::update_file_text;
use shardmq::auth::{PasswordEntry, PasswordFile};
use shardmq::limits::PASSWORD_SALT_BYTES;

/// What to do to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswdChange {
    /// Set `user`'s password (adding the user when it is new).
    Set {
        /// The password.
        password: String,
    },
    /// Remove the user.
    Delete,
}

/// Applies `change` for `user` to the password file at `path`; `create`
/// starts a new file (replacing one that exists).
pub fn update(path: &Path, user: &str, change: &PasswdChange, create: bool) -> Result<(), String> {
    if user.is_empty() || user.contains([':', '\n', '\r']) {
        return Err(format!(
            "user name `{user}`: must be non-empty, without `:` or line breaks"
        ));
    }
    let text = if create {
        String::new()
    } else {
        fs::read_to_string(path).map_err(|error| {
            format!(
                "{}: cannot read it: {error} (use -c to create it)",
                path.display()
            )
        })?
    };
    // Refuse to rewrite a file the broker would refuse.
    PasswordFile::parse(&text).map_err(|error| format!("{}: {error}", path.display()))?;
    let entry = match change {
        PasswdChange::Set { password } => {
            if password.is_empty() {
                return Err("empty password".to_owned());
            }
            let mut salt = [0u8; PASSWORD_SALT_BYTES];
            getrandom::getrandom(&mut salt)
                .map_err(|error| format!("cannot draw a random salt: {error}"))?;
            Some(PasswordEntry::new(password.as_bytes(), &salt))
        }
        PasswdChange::Delete => None,
    };
    let (updated, found) = update_file_text(&text, user, entry.as_ref());
    if entry.is_none() && !found {
        return Err(format!("user `{user}` is not in {}", path.display()));
    }
    write_atomically(path, &updated)
}

fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let temporary = temporary_path(path);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        if let Ok(metadata) = fs::metadata(path) {
            file.set_permissions(metadata.permissions())?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    written.map_err(|error| {
        let _ = fs::remove_file(&temporary);
        format!("{}: cannot write it: {error}", path.display())
    })
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_added_updated_and_deleted_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        let set = |password: &str| PasswdChange::Set {
            password: password.to_owned(),
        };
        assert!(update(&path, "alice", &set("one"), false).is_err());
        update(&path, "alice", &set("one"), true).unwrap();
        update(&path, "bob", &set("two"), false).unwrap();
        update(&path, "alice", &set("three"), false).unwrap();
        let file = PasswordFile::parse(&fs::read_to_string(&path).unwrap()).unwrap();
        assert!(file.verify("alice", b"three") && file.verify("bob", b"two"));
        assert!(!file.verify("alice", b"one"));
        update(&path, "alice", &PasswdChange::Delete, false).unwrap();
        let file = PasswordFile::parse(&fs::read_to_string(&path).unwrap()).unwrap();
        assert!(file.entry("alice").is_none() && file.entry("bob").is_some());
        let error = update(&path, "alice", &PasswdChange::Delete, false).unwrap_err();
        assert!(error.contains("not in"), "{error}");
        assert!(update(&path, "a:b", &set("x"), false).is_err());
    }
}
