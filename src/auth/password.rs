//! Mosquitto's password file: one `username:hash` a line, as
//! `mosquitto_passwd` writes it, read once and checked in constant time.
//!
//! Two hash forms are read, the two Mosquitto writes:
//!
//! - `$7$<iterations>$<base64 salt>$<base64 hash>`: PBKDF2-HMAC-SHA512 of the
//!   password, 64 bytes (Mosquitto 2.0 on; `mosquitto_passwd` writes 101
//!   iterations);
//! - `$6$<base64 salt>$<base64 hash>`: SHA-512 of the password followed by the
//!   salt (Mosquitto 1.x).
//!
//! The salt is 12 or 64 bytes, as Mosquitto requires. Blank lines and lines
//! starting with `#` are skipped. Anything else is an error naming its line:
//! a file the broker cannot read in full is refused whole, never half-used.
//! New entries ([`PasswordEntry::pbkdf2`]) are `$7$` with
//! [`PASSWORD_ITERATIONS_DEFAULT`] iterations, which Mosquitto reads too.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use crate::limits::{PASSWORD_ITERATIONS_DEFAULT, PASSWORD_ITERATIONS_MAX};

/// Bytes of a SHA-512 digest, the stored hash of both forms.
const HASH_BYTES: usize = 64;

/// The salt lengths Mosquitto reads and writes, bytes.
const SALT_BYTES_ALLOWED: [usize; 2] = [12, 64];

/// One user's stored password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordEntry {
    kind: HashKind,
    salt: Vec<u8>,
    hash: [u8; HASH_BYTES],
}

// The hash and salt stay out of logs.
impl fmt::Debug for PasswordEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordEntry")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HashKind {
    /// `$6$`: SHA-512 of password then salt.
    Sha512,
    /// `$7$`: PBKDF2-HMAC-SHA512 with this many iterations.
    Pbkdf2Sha512 { iterations: u32 },
}

/// Why a password file (or one entry) was refused: the 1-based line, and what
/// is wrong with it. The runtime adds the file's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordError {
    /// 1-based line of the file.
    pub line: usize,
    /// What is wrong, for the operator.
    pub reason: String,
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for PasswordError {}

impl PasswordEntry {
    /// A new `$7$` entry for `password` with `salt` (12 or 64 random bytes)
    /// and `iterations` rounds of PBKDF2-HMAC-SHA512.
    ///
    /// # Panics
    ///
    /// When the salt is not 12 or 64 bytes, or `iterations` is outside
    /// 1..=[`PASSWORD_ITERATIONS_MAX`]: the caller picks both.
    pub fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> PasswordEntry {
        assert!(
            SALT_BYTES_ALLOWED.contains(&salt.len()),
            "a salt of 12 or 64 bytes"
        );
        assert!((1..=PASSWORD_ITERATIONS_MAX).contains(&iterations));
        let kind = HashKind::Pbkdf2Sha512 { iterations };
        PasswordEntry {
            kind,
            salt: salt.to_vec(),
            hash: digest(kind, password, salt),
        }
    }

    /// A new `$7$` entry with [`PASSWORD_ITERATIONS_DEFAULT`] iterations.
    pub fn new(password: &[u8], salt: &[u8]) -> PasswordEntry {
        PasswordEntry::pbkdf2(password, salt, PASSWORD_ITERATIONS_DEFAULT)
    }

    /// Parses the hash part of a line (after `username:`).
    pub fn parse(text: &str) -> Result<PasswordEntry, String> {
        let parts: Vec<&str> = text.split('$').collect();
        let (kind, salt, hash) = match parts.as_slice() {
            ["", "7", iterations, salt, hash] => {
                let iterations: u32 = iterations
                    .parse()
                    .map_err(|_| format!("`{iterations}` is not an iteration count"))?;
                if !(1..=PASSWORD_ITERATIONS_MAX).contains(&iterations) {
                    return Err(format!(
                        "{iterations} iterations is outside 1..={PASSWORD_ITERATIONS_MAX}"
                    ));
                }
                (HashKind::Pbkdf2Sha512 { iterations }, *salt, *hash)
            }
            ["", "6", salt, hash] => (HashKind::Sha512, *salt, *hash),
            _ => {
                return Err(
                    "not a `$7$<iterations>$<salt>$<hash>` or `$6$<salt>$<hash>` entry \
                     (write entries with `shardmq passwd` or `mosquitto_passwd`)"
                        .to_owned(),
                )
            }
        };
        let salt = STANDARD
            .decode(salt)
            .map_err(|error| format!("salt is not base64: {error}"))?;
        if !SALT_BYTES_ALLOWED.contains(&salt.len()) {
            return Err(format!("salt is {} bytes, not 12 or 64", salt.len()));
        }
        let hash = STANDARD
            .decode(hash)
            .map_err(|error| format!("hash is not base64: {error}"))?;
        let hash: [u8; HASH_BYTES] = hash
            .try_into()
            .map_err(|hash: Vec<u8>| format!("hash is {} bytes, not {HASH_BYTES}", hash.len()))?;
        Ok(PasswordEntry { kind, salt, hash })
    }

    /// True when `password` hashes to this entry; the comparison takes the
    /// same time wherever the hashes differ.
    pub fn verify(&self, password: &[u8]) -> bool {
        let computed = digest(self.kind, password, &self.salt);
        computed.ct_eq(&self.hash).into()
    }

    /// The entry as `mosquitto_passwd` writes it, without `username:`.
    pub fn encode(&self) -> String {
        let salt = STANDARD.encode(&self.salt);
        let hash = STANDARD.encode(self.hash);
        match self.kind {
            HashKind::Sha512 => format!("$6${salt}${hash}"),
            HashKind::Pbkdf2Sha512 { iterations } => format!("$7${iterations}${salt}${hash}"),
        }
    }
}

fn digest(kind: HashKind, password: &[u8], salt: &[u8]) -> [u8; HASH_BYTES] {
    let mut out = [0u8; HASH_BYTES];
    match kind {
        HashKind::Sha512 => {
            let mut hasher = Sha512::new();
            hasher.update(password);
            hasher.update(salt);
            out.copy_from_slice(&hasher.finalize());
        }
        HashKind::Pbkdf2Sha512 { iterations } => {
            pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
        }
    }
    out
}

/// A whole password file: users and their hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PasswordFile {
    users: ahash::AHashMap<Box<str>, PasswordEntry>,
}

impl PasswordFile {
    /// Parses a password file's text; the first bad line refuses it.
    pub fn parse(text: &str) -> Result<PasswordFile, PasswordError> {
        let mut users = ahash::AHashMap::new();
        for (index, line) in text.lines().enumerate() {
            let error = |reason: String| PasswordError {
                line: index + 1,
                reason,
            };
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((username, hash)) = line.split_once(':') else {
                return Err(error(
                    "no `:` between user name and password hash".to_owned(),
                ));
            };
            if username.is_empty() {
                return Err(error("empty user name".to_owned()));
            }
            let entry = PasswordEntry::parse(hash).map_err(error)?;
            if users.insert(Box::from(username), entry).is_some() {
                return Err(error(format!("user `{username}` appears twice")));
            }
        }
        Ok(PasswordFile { users })
    }

    /// True when `username` is in the file and `password` is its password.
    /// An unknown user costs one default-strength hash too, so that timing
    /// does not tell which user names exist.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        match self.users.get(username) {
            Some(entry) => entry.verify(password),
            None => {
                let kind = HashKind::Pbkdf2Sha512 {
                    iterations: PASSWORD_ITERATIONS_DEFAULT,
                };
                let _ = digest(kind, password, &[0; 12]);
                false
            }
        }
    }

    /// The entry of `username`, if any.
    pub fn entry(&self, username: &str) -> Option<&PasswordEntry> {
        self.users.get(username)
    }

    /// Users in the file.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the file has no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// The text of a password file with `username`'s line replaced by
/// `username:entry` (appended when it had none), or removed when `entry` is
/// `None`; every other line, comments included, is kept as it was. Returns
/// the new text and whether `username` had a line.
pub fn update_file_text(
    text: &str,
    username: &str,
    entry: Option<&PasswordEntry>,
) -> (String, bool) {
    let mut out = String::with_capacity(text.len() + 160);
    let mut found = false;
    for line in text.lines() {
        let is_user = line
            .split_once(':')
            .is_some_and(|(name, _)| name == username && !line.starts_with('#'));
        if !is_user {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        found = true;
        if let Some(entry) = entry {
            out.push_str(&format!("{username}:{}\n", entry.encode()));
        }
    }
    if let (false, Some(entry)) = (found, entry) {
        out.push_str(&format!("{username}:{}\n", entry.encode()));
    }
    (out, found)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Written by Mosquitto 1.x's `mosquitto_passwd -U` for `lxy:123` and
    /// `lts:456` (SHA-512 of password then salt).
    const MOSQUITTO_1_FILE: &str = "\
lxy:$6$SPFacwqt9GCeQgIc$j8QVIonW3QPlcWwkbEBnTt7pDyyD6bPG2Vc0Qw9lx8rQenou0wrqQ+o9EiEZhZx3OhEuyaWzqD4hBU3Mgme3EA==
lts:$6$nqS7QQ4C8dEh0K0r$MhXYSGsFlO2FKAKiOVGDz5OEVdAC414rXS9IiyAQwRvIEjxmwJbiw5AbhjSpnD2lJK2S9ETJ64RU7LKZZbuy4g==
";

    /// Written by Mosquitto 2.0.11's `mosquitto_passwd -b` for `alice:secret`.
    const MOSQUITTO_2_LINE: &str = "alice:$7$101$lZ+/yBucoRc0AT2u$J6vytqlS39FB6iXFOgUYfd2uG8Csf4k/5XYj38CDdK0qSAFoDCW7gKIrDuDio3JbEXnmjqsTGcAuIV/6S1v9PA==";

    #[test]
    fn sha512_entries_of_mosquitto_1_verify_their_passwords_only() {
        let file = PasswordFile::parse(MOSQUITTO_1_FILE).unwrap();
        assert_eq!(file.len(), 2);
        assert!(file.verify("lxy", b"123"));
        assert!(file.verify("lts", b"456"));
        assert!(!file.verify("lxy", b"456"));
        assert!(!file.verify("nobody", b"123"));
    }

    #[test]
    fn pbkdf2_entry_of_mosquitto_2_verifies_its_password_only() {
        let file = PasswordFile::parse(MOSQUITTO_2_LINE).unwrap();
        assert!(file.verify("alice", b"secret"));
        assert!(!file.verify("alice", b"Secret"));
        assert!(!file.verify("alice", b""));
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = format!("# users\n\n   \n{MOSQUITTO_2_LINE}\r\n# end\n");
        assert_eq!(PasswordFile::parse(&text).unwrap().len(), 1);
    }

    #[test]
    fn malformed_lines_are_refused_naming_their_line() {
        let cases = [
            ("alice", "no `:`"),
            (":$6$SPFacwqt9GCeQgIc$AA==", "empty user name"),
            ("alice:secret", "not a `$7$"),
            ("alice:$7$x$lZ+/yBucoRc0AT2u$AA==", "iteration count"),
            ("alice:$7$0$lZ+/yBucoRc0AT2u$AA==", "outside"),
            ("alice:$6$!!!!$AA==", "salt is not base64"),
            ("alice:$6$AAAA$AA==", "salt is 3 bytes"),
            ("alice:$6$SPFacwqt9GCeQgIc$AA==", "hash is 1 bytes"),
        ];
        for (line, expected) in cases {
            let text = format!("# first\n{MOSQUITTO_2_LINE}\n{line}\n");
            let error = PasswordFile::parse(&text).unwrap_err();
            assert_eq!(error.line, 3, "{line}: {error}");
            assert!(error.to_string().contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn a_user_twice_is_refused() {
        let text = format!("{MOSQUITTO_2_LINE}\n{MOSQUITTO_2_LINE}\n");
        let error = PasswordFile::parse(&text).unwrap_err();
        assert_eq!(error.line, 2);
    }

    #[test]
    fn new_entries_are_pbkdf2_and_verify_after_a_round_trip() {
        let entry = PasswordEntry::pbkdf2(b"pw", &[7; 12], 1_000);
        let encoded = entry.encode();
        assert!(encoded.starts_with("$7$1000$"), "{encoded}");
        let parsed = PasswordEntry::parse(&encoded).unwrap();
        assert_eq!(parsed, entry);
        assert!(parsed.verify(b"pw"));
        assert!(!parsed.verify(b"pW"));
        // `PasswordEntry::new` (the default count, slow unoptimised) is
        // checked end to end: `shardmq passwd` writes `$7$210000$`.
        let long_salt = PasswordEntry::pbkdf2(b"pw", &[1; 64], 2);
        assert!(PasswordEntry::parse(&long_salt.encode())
            .unwrap()
            .verify(b"pw"));
    }

    #[test]
    fn updating_a_file_replaces_appends_and_deletes_one_user() {
        let entry = PasswordEntry::pbkdf2(b"new", &[3; 12], 10);
        let text = format!("# keep\n{MOSQUITTO_1_FILE}");
        let (replaced, found) = update_file_text(&text, "lxy", Some(&entry));
        assert!(found);
        let file = PasswordFile::parse(&replaced).unwrap();
        assert!(file.verify("lxy", b"new") && file.verify("lts", b"456"));
        assert!(replaced.starts_with("# keep\n"));
        let (appended, found) = update_file_text(&replaced, "bob", Some(&entry));
        assert!(!found);
        assert_eq!(PasswordFile::parse(&appended).unwrap().len(), 3);
        let (deleted, found) = update_file_text(&appended, "lxy", None);
        assert!(found);
        let file = PasswordFile::parse(&deleted).unwrap();
        assert!(file.entry("lxy").is_none() && file.entry("bob").is_some());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = PasswordFile::parse(&text);
        }

        #[test]
        fn arbitrary_entries_never_panic(
            iterations in "[0-9]{0,12}",
            salt in "[A-Za-z0-9+/=]{0,100}",
            hash in "[A-Za-z0-9+/=]{0,100}",
        ) {
            let _ = PasswordEntry::parse(&format!("$7${iterations}${salt}${hash}"));
            let _ = PasswordEntry::parse(&format!("$6${salt}${hash}"));
        }
    }
}
