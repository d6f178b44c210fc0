//! Checksums of persisted bytes: the CRC-32 guarding snapshot payloads and journal
//! records, and the fingerprint a journal uses to name a queued message.
//!
//! CRC-32 (IEEE) through `crc32fast`, which uses the CPU's carry-less multiply: it
//! catches every burst error up to 32 bits, torn writes and flipped bytes, which is
//! what a checksum here is for (it is not a defence against forgery).

/// CRC-32 of `bytes`.
pub fn checksum(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// A stable 64-bit fingerprint of a message's topic, publisher and payload: the
/// same message (as far as delivery order can tell) has the same fingerprint in
/// every run and build. Lengths are hashed too, so parts cannot shift into each other.
pub fn message_fingerprint(topic_name: &str, publisher: &str, payload: &[u8]) -> u64 {
    let mut topic_hasher = crc32fast::Hasher::new();
    topic_hasher.update(&(topic_name.len() as u64).to_le_bytes());
    topic_hasher.update(topic_name.as_bytes());
    let mut content_hasher = crc32fast::Hasher::new();
    content_hasher.update(&(publisher.len() as u64).to_le_bytes());
    content_hasher.update(publisher.as_bytes());
    content_hasher.update(&(payload.len() as u64).to_le_bytes());
    content_hasher.update(payload);
    (u64::from(topic_hasher.finalize()) << 32) | u64::from(content_hasher.finalize())
}
