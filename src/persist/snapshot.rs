//! The snapshot file: a fixed header that says what the file is and guards its
//! payload, then the rkyv archive of the records.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "SHMQSNAP"
//!      8     4  format version, u32 little-endian
//!     12     4  kind, u32 LE: 1 sessions, 2 retained messages
//!     16     8  payload length in bytes, u64 LE
//!     24     4  CRC-32 of the payload, u32 LE
//!     28     4  zero (pads the payload to a 16-byte boundary)
//!     32     -  payload: rkyv archive of a Vec<SessionSnapshot> or Vec<MessageRecord>
//! ```
//!
//! The checksum is verified before rkyv looks at the payload, and rkyv validates
//! every pointer, length, string and enum before anything is read from it, so a
//! corrupt file is an error, never a crash. The runtime writes the bytes of
//! [`encode_snapshot`] atomically (temp file, fsync, rename, fsync directory).

use std::fmt;

use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::vec::ArchivedVec;

use super::capture::LiveSessions;
use super::checksum::checksum;
use super::schema::{
    ArchivedMessageRecord, ArchivedSessionSnapshot, MessageRecord, SessionSnapshot,
};
use crate::session::Session;

/// The first 8 bytes of every snapshot file.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"SHMQSNAP";

/// The snapshot format this build writes, and the newest it reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

/// Bytes before the payload.
pub const SNAPSHOT_HEADER_LEN: usize = 32;

/// The alignment rkyv needs for zero-copy access to the payload.
const PAYLOAD_ALIGNMENT: usize = 16;

const _: () = assert!(SNAPSHOT_HEADER_LEN % PAYLOAD_ALIGNMENT == 0);
const _: () = assert!(AlignedVec::<PAYLOAD_ALIGNMENT>::ALIGNMENT == PAYLOAD_ALIGNMENT);

/// What a snapshot file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotKind {
    /// The sessions of one shard.
    Sessions,
    /// The retained messages, one per topic.
    Retained,
}

impl SnapshotKind {
    fn code(self) -> u32 {
        match self {
            SnapshotKind::Sessions => 1,
            SnapshotKind::Retained => 2,
        }
    }

    fn from_code(code: u32) -> Option<SnapshotKind> {
        match code {
            1 => Some(SnapshotKind::Sessions),
            2 => Some(SnapshotKind::Retained),
            _ => None,
        }
    }
}

impl fmt::Display for SnapshotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SnapshotKind::Sessions => "sessions",
            SnapshotKind::Retained => "retained messages",
        })
    }
}

/// The records of one snapshot file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotContents {
    /// Sessions, in no particular order.
    Sessions(Vec<SessionSnapshot>),
    /// Retained messages, one per topic.
    Retained(Vec<MessageRecord>),
}

impl SnapshotContents {
    /// The kind of file these records make.
    pub fn kind(&self) -> SnapshotKind {
        match self {
            SnapshotContents::Sessions(_) => SnapshotKind::Sessions,
            SnapshotContents::Retained(_) => SnapshotKind::Retained,
        }
    }
}

/// Why a snapshot file cannot be read; the message says what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// The file does not start with [`SNAPSHOT_MAGIC`].
    NotASnapshot,
    /// The file was written in a format this build does not know.
    NewerFormat {
        /// The format version in the file.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// Format version 0, which no shardmq writes.
    UnknownFormat,
    /// The header names a kind this build does not know.
    UnknownKind(u32),
    /// The file is shorter than its header says.
    Truncated {
        /// Bytes the header (or the header itself) calls for.
        expected_len: u64,
        /// Bytes present.
        actual_len: u64,
    },
    /// The file has bytes after the payload its header describes.
    TrailingBytes {
        /// Bytes the header calls for.
        expected_len: u64,
        /// Bytes present.
        actual_len: u64,
    },
    /// The payload does not match its checksum.
    ChecksumMismatch {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the payload as read.
        computed: u32,
    },
    /// The payload passed its checksum but is not a valid archive of its kind.
    Invalid(String),
    /// The records are too large for one archive (rkyv's 32-bit offsets).
    TooLarge(String),
    /// Zero-copy access needs the buffer 16-byte aligned (read it into an `AlignedVec`).
    Misaligned,
    /// Zero-copy access asked for one kind, the file holds another.
    WrongKind {
        /// The kind asked for.
        expected: SnapshotKind,
        /// The kind in the file.
        found: SnapshotKind,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::NotASnapshot => f.write_str(
                "not a shardmq snapshot (bad magic); move the file out of the data directory",
            ),
            SnapshotError::NewerFormat { found, supported } => write!(
                f,
                "written by a newer shardmq: format {found}, this build reads up to \
                 {supported}; run the newer shardmq or move the file away"
            ),
            SnapshotError::UnknownFormat => f.write_str(
                "format version 0, which no shardmq writes; move the file out of the data directory",
            ),
            SnapshotError::UnknownKind(code) => write!(
                f,
                "unknown snapshot kind {code}; the file was written by another build"
            ),
            SnapshotError::Truncated {
                expected_len,
                actual_len,
            } => write!(
                f,
                "truncated: {expected_len} bytes expected, {actual_len} present; the write \
                 was cut short, remove the file to start from the journal alone"
            ),
            SnapshotError::TrailingBytes {
                expected_len,
                actual_len,
            } => write!(
                f,
                "{actual_len} bytes where the header describes {expected_len}; the file was \
                 changed after it was written"
            ),
            SnapshotError::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the \
                 file is corrupt; restore it from a backup or remove it"
            ),
            SnapshotError::Invalid(detail) => write!(
                f,
                "payload is not a valid snapshot ({detail}); restore it from a backup or remove it"
            ),
            SnapshotError::TooLarge(detail) => write!(
                f,
                "the state is too large for one snapshot ({detail}); lower the queue or \
                 session limits"
            ),
            SnapshotError::Misaligned => {
                f.write_str("snapshot buffer is not 16-byte aligned; read it into an AlignedVec")
            }
            SnapshotError::WrongKind { expected, found } => {
                write!(
                    f,
                    "expected a snapshot of {expected}, the file holds {found}"
                )
            }
        }
    }
}

impl std::error::Error for SnapshotError {}

/// The bytes of a snapshot file holding `contents`: header, then the aligned
/// payload. The buffer is aligned, so the payload can be accessed in place.
pub fn encode_snapshot(contents: &SnapshotContents) -> Result<AlignedVec, SnapshotError> {
    match contents {
        SnapshotContents::Sessions(sessions) => encode_with(SnapshotKind::Sessions, |buffer| {
            rkyv::api::high::to_bytes_in::<_, rancor::Error>(sessions, buffer)
        }),
        SnapshotContents::Retained(messages) => encode_with(SnapshotKind::Retained, |buffer| {
            rkyv::api::high::to_bytes_in::<_, rancor::Error>(messages, buffer)
        }),
    }
}

/// The bytes of the sessions snapshot of `sessions` as of `now_ms` (their clock)
/// and `wall_clock_ms`: the bytes [`encode_snapshot`] makes of their records, made
/// without holding more than one record at a time.
pub fn encode_sessions_snapshot(
    sessions: &[Session],
    now_ms: u64,
    wall_clock_ms: u64,
) -> Result<AlignedVec, SnapshotError> {
    let live = LiveSessions {
        sessions,
        now_ms,
        wall_clock_ms,
    };
    encode_with(SnapshotKind::Sessions, |buffer| {
        rkyv::api::high::to_bytes_in::<_, rancor::Error>(&live, buffer)
    })
}

/// A sessions snapshot file held in memory, aligned for in-place access: what a
/// shard restores from. Its sessions are read back one at a time
/// ([`SessionsFile::for_each_session`]), so the owned records of a whole shard
/// never exist at once, and the ones that do are made on the thread that turns
/// them into live sessions.
#[derive(Debug)]
pub struct SessionsFile(AlignedVec);

impl SessionsFile {
    /// The file of `sessions` (dropped once encoded).
    pub fn encode(sessions: Vec<SessionSnapshot>) -> Result<SessionsFile, SnapshotError> {
        encode_with(SnapshotKind::Sessions, |buffer| {
            rkyv::api::high::to_bytes_in::<_, rancor::Error>(&sessions, buffer)
        })
        .map(SessionsFile)
    }

    /// The bytes of the file.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Sessions in the file.
    pub fn len(&self) -> Result<usize, SnapshotError> {
        Ok(access_sessions(&self.0)?.len())
    }

    /// True when the file holds no session.
    pub fn is_empty(&self) -> Result<bool, SnapshotError> {
        Ok(self.len()? == 0)
    }

    /// Calls `restore` with each session, deserialized one at a time, in file order.
    pub fn for_each_session(
        &self,
        mut restore: impl FnMut(SessionSnapshot),
    ) -> Result<(), SnapshotError> {
        for archived in access_sessions(&self.0)?.iter() {
            let session = rkyv::deserialize::<SessionSnapshot, rancor::Error>(archived)
                .map_err(|error| SnapshotError::Invalid(error.to_string()))?;
            restore(session);
        }
        Ok(())
    }
}

/// A snapshot file of `kind` whose payload `serialize` appends to the buffer it
/// is given (which holds the header's room).
fn encode_with(
    kind: SnapshotKind,
    serialize: impl FnOnce(AlignedVec) -> Result<AlignedVec, rancor::Error>,
) -> Result<AlignedVec, SnapshotError> {
    let mut buffer = AlignedVec::new();
    buffer.extend_from_slice(&[0; SNAPSHOT_HEADER_LEN]);
    // rkyv's offsets are relative, so an archive written after the header reads
    // the same from a slice that starts at the payload.
    let mut buffer =
        serialize(buffer).map_err(|error| SnapshotError::TooLarge(error.to_string()))?;
    let payload = &buffer[SNAPSHOT_HEADER_LEN..];
    let header = header_bytes(kind, payload.len() as u64, checksum(payload));
    buffer[..SNAPSHOT_HEADER_LEN].copy_from_slice(&header);
    Ok(buffer)
}

fn header_bytes(kind: SnapshotKind, payload_len: u64, payload_checksum: u32) -> [u8; 32] {
    let mut header = [0; SNAPSHOT_HEADER_LEN];
    header[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
    header[8..12].copy_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    header[12..16].copy_from_slice(&kind.code().to_le_bytes());
    header[16..24].copy_from_slice(&payload_len.to_le_bytes());
    header[24..28].copy_from_slice(&payload_checksum.to_le_bytes());
    header
}

/// Reads a snapshot file into owned records, checking header, length, checksum
/// and archive. `bytes` need not be aligned (a misaligned payload is copied once).
pub fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotContents, SnapshotError> {
    let (kind, payload) = checked_payload(bytes)?;
    let mut aligned = AlignedVec::<PAYLOAD_ALIGNMENT>::new();
    let payload = if is_aligned(payload) {
        payload
    } else {
        aligned.extend_from_slice(payload);
        &aligned[..]
    };
    let invalid = |error: rancor::Error| SnapshotError::Invalid(error.to_string());
    Ok(match kind {
        SnapshotKind::Sessions => SnapshotContents::Sessions(
            rkyv::from_bytes::<Vec<SessionSnapshot>, rancor::Error>(payload).map_err(invalid)?,
        ),
        SnapshotKind::Retained => SnapshotContents::Retained(
            rkyv::from_bytes::<Vec<MessageRecord>, rancor::Error>(payload).map_err(invalid)?,
        ),
    })
}

/// Validated, zero-copy access to the sessions of a snapshot file read into an
/// aligned buffer (an `AlignedVec`, or the output of [`encode_snapshot`]).
pub fn access_sessions(
    bytes: &[u8],
) -> Result<&ArchivedVec<ArchivedSessionSnapshot>, SnapshotError> {
    let payload = aligned_payload_of(bytes, SnapshotKind::Sessions)?;
    rkyv::access::<ArchivedVec<ArchivedSessionSnapshot>, rancor::Error>(payload)
        .map_err(|error| SnapshotError::Invalid(error.to_string()))
}

/// Validated, zero-copy access to the retained messages of a snapshot file read
/// into an aligned buffer.
pub fn access_retained(bytes: &[u8]) -> Result<&ArchivedVec<ArchivedMessageRecord>, SnapshotError> {
    let payload = aligned_payload_of(bytes, SnapshotKind::Retained)?;
    rkyv::access::<ArchivedVec<ArchivedMessageRecord>, rancor::Error>(payload)
        .map_err(|error| SnapshotError::Invalid(error.to_string()))
}

fn aligned_payload_of(bytes: &[u8], expected: SnapshotKind) -> Result<&[u8], SnapshotError> {
    let (found, payload) = checked_payload(bytes)?;
    if found != expected {
        return Err(SnapshotError::WrongKind { expected, found });
    }
    if !is_aligned(payload) {
        return Err(SnapshotError::Misaligned);
    }
    Ok(payload)
}

fn is_aligned(payload: &[u8]) -> bool {
    payload.as_ptr() as usize % PAYLOAD_ALIGNMENT == 0
}

/// The kind and the payload of a file whose header, length and checksum are right.
fn checked_payload(bytes: &[u8]) -> Result<(SnapshotKind, &[u8]), SnapshotError> {
    let actual_len = bytes.len() as u64;
    if bytes.len() < SNAPSHOT_MAGIC.len() || bytes[..SNAPSHOT_MAGIC.len()] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::NotASnapshot);
    }
    let Some(header) = bytes.get(..SNAPSHOT_HEADER_LEN) else {
        return Err(SnapshotError::Truncated {
            expected_len: SNAPSHOT_HEADER_LEN as u64,
            actual_len,
        });
    };
    let version = u32::from_le_bytes(header_field(header, 8));
    if version == 0 {
        return Err(SnapshotError::UnknownFormat);
    }
    if version > SNAPSHOT_FORMAT_VERSION {
        return Err(SnapshotError::NewerFormat {
            found: version,
            supported: SNAPSHOT_FORMAT_VERSION,
        });
    }
    let kind_code = u32::from_le_bytes(header_field(header, 12));
    let kind = SnapshotKind::from_code(kind_code).ok_or(SnapshotError::UnknownKind(kind_code))?;
    let payload_len = u64::from_le_bytes(header_field(header, 16));
    let stored = u32::from_le_bytes(header_field(header, 24));
    let expected_len = payload_len.saturating_add(SNAPSHOT_HEADER_LEN as u64);
    if actual_len < expected_len {
        return Err(SnapshotError::Truncated {
            expected_len,
            actual_len,
        });
    }
    if actual_len > expected_len {
        return Err(SnapshotError::TrailingBytes {
            expected_len,
            actual_len,
        });
    }
    let payload = &bytes[SNAPSHOT_HEADER_LEN..];
    let computed = checksum(payload);
    if computed != stored {
        return Err(SnapshotError::ChecksumMismatch { stored, computed });
    }
    Ok((kind, payload))
}

/// The `N` header bytes at `offset`; the header is [`SNAPSHOT_HEADER_LEN`] long.
fn header_field<const N: usize>(header: &[u8], offset: usize) -> [u8; N] {
    let mut field = [0; N];
    field.copy_from_slice(&header[offset..offset + N]);
    field
}
