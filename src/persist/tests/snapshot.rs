//! The snapshot file: records round-trip, and every kind of damage is reported
//! as what it is.

use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use rkyv::util::AlignedVec;

use super::strategies::{disconnected_session, message, WALL_CLOCK_MS};
use crate::persist::*;
use crate::session::{Session, SessionConfig};

fn sessions_file(contents: &SnapshotContents) -> AlignedVec {
    encode_snapshot(contents).expect("a small snapshot encodes")
}

fn sample_sessions() -> SnapshotContents {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let sessions = vec(disconnected_session(), 3)
        .new_tree(&mut runner)
        .expect("a sample")
        .current();
    SnapshotContents::Sessions(sessions)
}

proptest! {
    #[test]
    fn live_sessions_encode_to_the_bytes_of_their_records(
        snapshots in vec(disconnected_session(), 0..4),
        now_ms in 0..1_000_000u64,
    ) {
        let wall_clock_ms = WALL_CLOCK_MS + now_ms;
        let sessions: Vec<Session> = snapshots
            .into_iter()
            .map(|snapshot| {
                let config = SessionConfig::default();
                Session::from_snapshot(snapshot, &Arc::new(config.clone()), &Arc::default(), now_ms, wall_clock_ms, &mut Vec::new())
                    .expect("a valid snapshot")
            })
            .collect();
        let records = sessions
            .iter()
            .map(|session| session.to_snapshot(now_ms, wall_clock_ms))
            .collect();
        let live = encode_sessions_snapshot(&sessions, now_ms, wall_clock_ms).expect("encodes");
        let from_records = sessions_file(&SnapshotContents::Sessions(records));
        prop_assert_eq!(&live[..], &from_records[..]);
    }

    #[test]
    fn sessions_written_and_read_back_are_equal(sessions in vec(disconnected_session(), 0..4)) {
        let contents = SnapshotContents::Sessions(sessions);
        let file = sessions_file(&contents);
        prop_assert_eq!(decode_snapshot(&file), Ok(contents));
    }

    #[test]
    fn retained_messages_written_and_read_back_are_equal(messages in vec(message(), 0..4)) {
        let contents = SnapshotContents::Retained(messages);
        let file = sessions_file(&contents);
        prop_assert_eq!(decode_snapshot(&file), Ok(contents));
    }

    #[test]
    fn a_misaligned_snapshot_still_decodes(sessions in vec(disconnected_session(), 1..3)) {
        let contents = SnapshotContents::Sessions(sessions);
        let file = sessions_file(&contents);
        let mut shifted = AlignedVec::<16>::new();
        shifted.extend_from_slice(&[0]);
        shifted.extend_from_slice(&file);
        prop_assert_eq!(decode_snapshot(&shifted[1..]), Ok(contents));
    }

    #[test]
    fn a_flipped_payload_byte_is_a_checksum_mismatch(
        index in any::<prop::sample::Index>(),
        flip in 1..=u8::MAX,
    ) {
        let mut file = sessions_file(&sample_sessions());
        let position = SNAPSHOT_HEADER_LEN + index.index(file.len() - SNAPSHOT_HEADER_LEN);
        file[position] ^= flip;
        let result = decode_snapshot(&file);
        let is_checksum_error = matches!(result, Err(SnapshotError::ChecksumMismatch { .. }));
        prop_assert!(is_checksum_error, "{:?}", result);
    }

    #[test]
    fn a_cut_snapshot_is_reported_truncated(index in any::<prop::sample::Index>()) {
        let file = sessions_file(&sample_sessions());
        let cut = SNAPSHOT_MAGIC.len() + index.index(file.len() - SNAPSHOT_MAGIC.len());
        let result = decode_snapshot(&file[..cut]);
        let is_truncated = matches!(result, Err(SnapshotError::Truncated { .. }));
        prop_assert!(is_truncated, "{:?}", result);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        let _ = decode_snapshot(&bytes);
        let mut file = SNAPSHOT_MAGIC.to_vec();
        file.extend_from_slice(&bytes);
        let _ = decode_snapshot(&file);
    }

    #[test]
    fn a_valid_header_over_arbitrary_payload_never_panics(payload in vec(any::<u8>(), 0..512)) {
        for kind in [1u32, 2] {
            let mut file = AlignedVec::<16>::new();
            file.extend_from_slice(&SNAPSHOT_MAGIC);
            file.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
            file.extend_from_slice(&kind.to_le_bytes());
            file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
            file.extend_from_slice(&checksum(&payload).to_le_bytes());
            file.extend_from_slice(&[0; 4]);
            file.extend_from_slice(&payload);
            let _ = decode_snapshot(&file);
            let _ = access_sessions(&file);
            let _ = access_retained(&file);
        }
    }
}

#[test]
fn a_snapshot_of_a_newer_format_names_both_versions() {
    let mut file = sessions_file(&sample_sessions());
    file[8..12].copy_from_slice(&(SNAPSHOT_FORMAT_VERSION + 1).to_le_bytes());
    let error = decode_snapshot(&file).expect_err("a newer format is refused");
    assert_eq!(
        error,
        SnapshotError::NewerFormat {
            found: SNAPSHOT_FORMAT_VERSION + 1,
            supported: SNAPSHOT_FORMAT_VERSION,
        }
    );
    assert!(error
        .to_string()
        .starts_with("written by a newer shardmq: format 2, this build reads up to 1"));
}

#[test]
fn a_snapshot_of_format_zero_is_refused() {
    let mut file = sessions_file(&sample_sessions());
    file[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(decode_snapshot(&file), Err(SnapshotError::UnknownFormat));
}

#[test]
fn a_file_without_the_magic_is_not_a_snapshot() {
    let mut file = sessions_file(&sample_sessions());
    file[0] = b'X';
    let error = decode_snapshot(&file).expect_err("bad magic is refused");
    assert_eq!(error, SnapshotError::NotASnapshot);
    assert!(error.to_string().starts_with("not a shardmq snapshot"));
    assert_eq!(decode_snapshot(b""), Err(SnapshotError::NotASnapshot));
}

#[test]
fn bytes_after_the_payload_are_reported() {
    let file = sessions_file(&sample_sessions());
    let mut longer = file.to_vec();
    longer.push(0);
    assert!(matches!(
        decode_snapshot(&longer),
        Err(SnapshotError::TrailingBytes { .. })
    ));
}

#[test]
fn a_flipped_header_length_is_reported_as_a_length_error() {
    let mut file = sessions_file(&sample_sessions());
    file[16] ^= 0x01;
    assert!(matches!(
        decode_snapshot(&file),
        Err(SnapshotError::Truncated { .. } | SnapshotError::TrailingBytes { .. })
    ));
}

#[test]
fn an_unknown_kind_is_reported() {
    let mut file = sessions_file(&sample_sessions());
    file[12..16].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(decode_snapshot(&file), Err(SnapshotError::UnknownKind(9)));
}

#[test]
fn sessions_are_readable_in_place_from_an_aligned_buffer() {
    let contents = sample_sessions();
    let file = sessions_file(&contents);
    let SnapshotContents::Sessions(sessions) = &contents else {
        unreachable!("sample_sessions makes sessions");
    };
    let archived = access_sessions(&file).expect("a valid snapshot");
    assert_eq!(archived.len(), sessions.len());
    for (archived, session) in archived.iter().zip(sessions) {
        assert_eq!(archived.client_id.as_str(), session.client_id);
        assert_eq!(archived.queue.len(), session.queue.len());
    }
    assert_eq!(
        access_retained(&file).map(|_| ()),
        Err(SnapshotError::WrongKind {
            expected: SnapshotKind::Retained,
            found: SnapshotKind::Sessions,
        })
    );
}

#[test]
fn in_place_access_refuses_a_misaligned_buffer() {
    let file = sessions_file(&sample_sessions());
    let mut shifted = AlignedVec::<16>::new();
    shifted.extend_from_slice(&[0]);
    shifted.extend_from_slice(&file);
    assert_eq!(
        access_sessions(&shifted[1..]).map(|_| ()),
        Err(SnapshotError::Misaligned)
    );
}
