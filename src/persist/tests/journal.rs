//! The journal: records round-trip in order, and a cut or damaged journal keeps
//! every record before the damage.

use proptest::collection::vec;
use proptest::prelude::*;

use super::strategies::journal_record;
use crate::limits::JOURNAL_RECORD_MAX;
use crate::persist::*;

/// The journal of `records`, and the offset each record starts at (plus the end).
fn journal_of(records: &[JournalRecord]) -> (Vec<u8>, Vec<usize>) {
    let mut writer = JournalWriter::new();
    let mut bytes = Vec::new();
    let mut offsets = vec![0];
    for record in records {
        let appended = writer.append(record, &mut bytes).expect("a small record");
        assert_eq!(bytes.len(), offsets.last().copied().unwrap_or(0) + appended);
        offsets.push(bytes.len());
    }
    (bytes, offsets)
}

/// Reads a journal to its end: the good records and the tear, if any.
fn read_all(bytes: &[u8]) -> (Vec<JournalRecord>, Option<Torn>) {
    let mut records = Vec::new();
    for item in JournalReader::new(bytes) {
        match item {
            Ok(record) => records.push(record),
            Err(torn) => return (records, Some(torn)),
        }
    }
    (records, None)
}

proptest! {
    #[test]
    fn records_written_are_read_back_in_order(records in vec(journal_record(), 0..8)) {
        let (bytes, _) = journal_of(&records);
        prop_assert_eq!(read_all(&bytes), (records, None));
    }

    #[test]
    fn a_cut_journal_keeps_every_record_before_the_cut(
        records in vec(journal_record(), 1..8),
        index in any::<prop::sample::Index>(),
    ) {
        let (bytes, offsets) = journal_of(&records);
        let cut = index.index(bytes.len());
        let (read, torn) = read_all(&bytes[..cut]);
        let whole = offsets.iter().filter(|offset| **offset <= cut).count() - 1;
        prop_assert_eq!(&read[..], &records[..whole]);
        if cut == offsets[whole] {
            prop_assert_eq!(torn, None);
        } else {
            let torn = torn.expect("a record cut short is reported");
            prop_assert_eq!(torn.valid_up_to, offsets[whole]);
        }
    }

    #[test]
    fn a_flipped_byte_is_detected_and_the_records_before_it_kept(
        records in vec(journal_record(), 1..8),
        index in any::<prop::sample::Index>(),
        flip in 1..=u8::MAX,
    ) {
        let (mut bytes, offsets) = journal_of(&records);
        let position = index.index(bytes.len());
        bytes[position] ^= flip;
        let damaged = offsets.iter().filter(|offset| **offset <= position).count() - 1;
        let (read, torn) = read_all(&bytes);
        prop_assert_eq!(&read[..], &records[..damaged]);
        let torn = torn.expect("the damaged record is reported");
        prop_assert_eq!(torn.valid_up_to, offsets[damaged]);
    }

    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..512)) {
        let (_, torn) = read_all(&bytes);
        if let Some(torn) = torn {
            prop_assert!(torn.valid_up_to <= bytes.len());
        }
    }

    #[test]
    fn a_valid_frame_around_arbitrary_bytes_never_panics(
        kind in any::<u8>(),
        body in vec(any::<u8>(), 0..256),
    ) {
        let mut framed = vec![kind];
        framed.extend_from_slice(&body);
        let mut bytes = (framed.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&checksum(&framed).to_le_bytes());
        bytes.extend_from_slice(&framed);
        let _ = read_all(&bytes);
    }
}

#[test]
fn a_length_beyond_the_record_limit_is_not_trusted() {
    let mut bytes = ((JOURNAL_RECORD_MAX + 1) as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0; 12]);
    let (read, torn) = read_all(&bytes);
    assert!(read.is_empty());
    assert_eq!(
        torn,
        Some(Torn {
            valid_up_to: 0,
            reason: TornReason::BadLength {
                length: JOURNAL_RECORD_MAX as u32 + 1,
            },
        })
    );
}

#[test]
fn a_zeroed_tail_stops_the_reader_after_the_last_record() {
    let record = JournalRecord::SessionEnded {
        client_id: "sensor".to_owned(),
    };
    let (mut bytes, offsets) = journal_of(std::slice::from_ref(&record));
    bytes.extend_from_slice(&[0; 64]);
    let (read, torn) = read_all(&bytes);
    assert_eq!(read, vec![record]);
    assert_eq!(
        torn,
        Some(Torn {
            valid_up_to: offsets[1],
            reason: TornReason::BadLength { length: 0 },
        })
    );
}

#[test]
fn a_kind_byte_that_disagrees_with_the_body_is_corruption() {
    let record = JournalRecord::SessionEnded {
        client_id: "sensor".to_owned(),
    };
    let (mut bytes, _) = journal_of(&[record]);
    bytes[JOURNAL_RECORD_HEADER_LEN] = 3;
    let framed = bytes[JOURNAL_RECORD_HEADER_LEN..].to_vec();
    bytes[4..8].copy_from_slice(&checksum(&framed).to_le_bytes());
    let (read, torn) = read_all(&bytes);
    assert!(read.is_empty());
    assert_eq!(
        torn.map(|torn| torn.reason),
        Some(TornReason::KindMismatch {
            kind: 3,
            body_kind: 4,
        })
    );
}

#[test]
fn a_record_above_the_limit_is_refused_and_appends_nothing() {
    let record = JournalRecord::RetainedCleared {
        topic_name: "x".repeat(JOURNAL_RECORD_MAX),
    };
    let mut bytes = vec![1, 2, 3];
    let result = JournalWriter::new().append(&record, &mut bytes);
    assert!(matches!(result, Err(JournalWriteError::TooLarge { .. })));
    assert_eq!(bytes, vec![1, 2, 3]);
}
