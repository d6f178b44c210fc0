//! The journal: an append-only log of [`JournalRecord`]s between two snapshots.
//!
//! ```text
//! record = length (u32 LE) | crc (u32 LE) | kind (u8) | body
//! ```
//!
//! `length` counts the kind byte and the body, `crc` is the CRC-32 of the same
//! bytes, and the body is the rkyv archive of the record. A record is at most
//! [`JOURNAL_RECORD_MAX`] bytes long, so a corrupt length cannot make a reader
//! allocate or skip gigabytes.
//!
//! [`JournalWriter`] appends records to a buffer the runtime owns: one batch of
//! records, one write, one fsync. [`JournalReader`] reads them back in order and
//! stops at the first record that is incomplete (a write cut short by a crash) or
//! corrupt, reporting how many bytes before it are good: the runtime logs a
//! warning, truncates the file there and keeps everything before.

use std::fmt;

use rkyv::rancor;
use rkyv::util::AlignedVec;

use super::checksum::checksum;
use super::record::JournalRecord;
use crate::limits::JOURNAL_RECORD_MAX;

/// Bytes of `length` and `crc` before a record's kind byte.
pub const JOURNAL_RECORD_HEADER_LEN: usize = 8;

/// A record that cannot be appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalWriteError {
    /// The record is longer than [`JOURNAL_RECORD_MAX`]: nothing was appended.
    TooLarge {
        /// Kind byte and body, bytes.
        length: usize,
    },
    /// rkyv could not archive the record (its 32-bit offsets overflowed).
    Unencodable(String),
}

impl fmt::Display for JournalWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalWriteError::TooLarge { length } => write!(
                f,
                "journal record of {length} bytes exceeds the limit of {JOURNAL_RECORD_MAX}"
            ),
            JournalWriteError::Unencodable(detail) => {
                write!(f, "journal record cannot be archived: {detail}")
            }
        }
    }
}

impl std::error::Error for JournalWriteError {}

/// Encodes records into the caller's buffer, reusing one scratch buffer for the
/// archive so appending allocates nothing once the scratch has grown.
#[derive(Debug, Default)]
pub struct JournalWriter {
    scratch: AlignedVec,
    /// A fresh CRC-32 state, cloned per record: making a new one detects the CPU's
    /// features every time.
    crc: crc32fast::Hasher,
}

impl JournalWriter {
    /// A writer with an empty scratch buffer.
    pub fn new() -> JournalWriter {
        JournalWriter::default()
    }

    /// Appends `record` to `out`; returns the bytes appended. A record too large
    /// leaves `out` as it was.
    pub fn append(
        &mut self,
        record: &JournalRecord,
        out: &mut Vec<u8>,
    ) -> Result<usize, JournalWriteError> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let serialized = rkyv::api::high::to_bytes_in::<_, rancor::Error>(record, scratch);
        let body = serialized.map_err(|error| JournalWriteError::Unencodable(error.to_string()))?;
        let length = 1 + body.len();
        if length > JOURNAL_RECORD_MAX {
            self.scratch = body;
            return Err(JournalWriteError::TooLarge { length });
        }
        let kind = record.kind();
        let mut hasher = self.crc.clone();
        hasher.update(&[kind]);
        hasher.update(&body);
        out.reserve(JOURNAL_RECORD_HEADER_LEN + length);
        out.extend_from_slice(&(length as u32).to_le_bytes());
        out.extend_from_slice(&hasher.finalize().to_le_bytes());
        out.push(kind);
        out.extend_from_slice(&body);
        self.scratch = body;
        Ok(JOURNAL_RECORD_HEADER_LEN + length)
    }
}

/// Where a journal stops being readable, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Torn {
    /// Bytes from the start of the journal that hold complete, valid records:
    /// truncate the file to this length.
    pub valid_up_to: usize,
    /// What is wrong with the record that starts there.
    pub reason: TornReason,
}

impl fmt::Display for Torn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "journal unreadable from byte {}: {}; the records before it are kept",
            self.valid_up_to, self.reason
        )
    }
}

impl std::error::Error for Torn {}

/// What is wrong with a journal record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TornReason {
    /// Fewer bytes than a record header: a write cut short.
    ShortHeader {
        /// Bytes left.
        available: usize,
    },
    /// The length is 0 (no kind byte) or above [`JOURNAL_RECORD_MAX`].
    BadLength {
        /// The length read.
        length: u32,
    },
    /// Fewer bytes than the length says: a write cut short.
    ShortRecord {
        /// The length read.
        length: u32,
        /// Bytes left after the header.
        available: usize,
    },
    /// The record does not match its CRC.
    ChecksumMismatch {
        /// The CRC stored.
        stored: u32,
        /// The CRC of the bytes read.
        computed: u32,
    },
    /// The body is not a valid archive of a record.
    Undecodable(String),
    /// The kind byte does not match the body.
    KindMismatch {
        /// The kind byte.
        kind: u8,
        /// The kind of the decoded body.
        body_kind: u8,
    },
}

impl fmt::Display for TornReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TornReason::ShortHeader { available } => {
                write!(f, "incomplete record header ({available} bytes)")
            }
            TornReason::BadLength { length } => {
                write!(f, "record length {length} outside 1..={JOURNAL_RECORD_MAX}")
            }
            TornReason::ShortRecord { length, available } => {
                write!(f, "incomplete record ({available} of {length} bytes)")
            }
            TornReason::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            TornReason::Undecodable(detail) => write!(f, "undecodable record ({detail})"),
            TornReason::KindMismatch { kind, body_kind } => {
                write!(f, "kind byte {kind} but a body of kind {body_kind}")
            }
        }
    }
}

/// Reads the records of a journal in order: `Ok` for each good record, then, if
/// the journal does not end exactly after one, a single `Err(Torn)` and nothing more.
#[derive(Debug)]
pub struct JournalReader<'a> {
    bytes: &'a [u8],
    offset: usize,
    finished: bool,
    scratch: AlignedVec,
}

impl<'a> JournalReader<'a> {
    /// A reader over a whole journal.
    pub fn new(bytes: &'a [u8]) -> JournalReader<'a> {
        JournalReader {
            bytes,
            offset: 0,
            finished: false,
            scratch: AlignedVec::new(),
        }
    }

    /// Bytes of complete, valid records read so far.
    pub fn valid_up_to(&self) -> usize {
        self.offset
    }

    /// The record at the current offset and its length, or why it is unreadable.
    fn read_record(&mut self) -> Result<(JournalRecord, usize), TornReason> {
        let rest = &self.bytes[self.offset..];
        if rest.len() < JOURNAL_RECORD_HEADER_LEN {
            return Err(TornReason::ShortHeader {
                available: rest.len(),
            });
        }
        let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let stored = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if length == 0 || length as usize > JOURNAL_RECORD_MAX {
            return Err(TornReason::BadLength { length });
        }
        let available = rest.len() - JOURNAL_RECORD_HEADER_LEN;
        let Some(framed) = rest[JOURNAL_RECORD_HEADER_LEN..].get(..length as usize) else {
            return Err(TornReason::ShortRecord { length, available });
        };
        let computed = checksum(framed);
        if computed != stored {
            return Err(TornReason::ChecksumMismatch { stored, computed });
        }
        let kind = framed[0];
        // The body sits at an arbitrary offset of the file; rkyv reads aligned data.
        self.scratch.clear();
        self.scratch.extend_from_slice(&framed[1..]);
        let record = rkyv::from_bytes::<JournalRecord, rancor::Error>(&self.scratch)
            .map_err(|error| TornReason::Undecodable(error.to_string()))?;
        let body_kind = record.kind();
        if body_kind != kind {
            return Err(TornReason::KindMismatch { kind, body_kind });
        }
        Ok((record, JOURNAL_RECORD_HEADER_LEN + length as usize))
    }
}

impl Iterator for JournalReader<'_> {
    type Item = Result<JournalRecord, Torn>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished || self.offset == self.bytes.len() {
            return None;
        }
        match self.read_record() {
            Ok((record, record_len)) => {
                self.offset += record_len;
                Some(Ok(record))
            }
            Err(reason) => {
                self.finished = true;
                Some(Err(Torn {
                    valid_up_to: self.offset,
                    reason,
                }))
            }
        }
    }
}
