//! The bytes a connection has received and not yet taken: what the socket
//! (or a transport layer decoding it) fills and the MQTT framing reads.

/// Bytes read and not yet taken, `bytes[start..end]`. `bytes` is
/// zero-filled only as it grows, so a read does not clear the space it reads
/// into.
#[derive(Debug, Default)]
pub struct ReadBuffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuffer {
    /// The bytes read and not yet taken.
    pub fn unread(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// Takes the first `len` unread bytes, if that many are there.
    pub fn take(&mut self, len: usize) -> Option<&[u8]> {
        if self.end - self.start < len {
            return None;
        }
        self.start += len;
        Some(&self.bytes[self.start - len..self.start])
    }

    /// Drops the first `len` unread bytes, which must be there.
    pub fn consume(&mut self, len: usize) {
        assert!(len <= self.end - self.start, "consuming bytes not read");
        self.start += len;
    }

    /// `len` writable bytes after the unread ones, to be filled and then
    /// marked with [`filled`](ReadBuffer::filled); the unread bytes are moved
    /// to the front first when that makes the room.
    pub fn room(&mut self, len: usize) -> &mut [u8] {
        if self.bytes.len() - self.end < len {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.bytes.len() - self.end < len {
                self.bytes.resize(self.end + len, 0);
            }
        } else if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        &mut self.bytes[self.end..self.end + len]
    }

    /// Marks the first `len` bytes of the last [`room`](ReadBuffer::room) as read.
    pub fn filled(&mut self, len: usize) {
        assert!(self.end + len <= self.bytes.len(), "filled past the room");
        self.end += len;
    }

    /// Appends `bytes` after the unread ones.
    pub fn put(&mut self, bytes: &[u8]) {
        self.room(bytes.len()).copy_from_slice(bytes);
        self.filled(bytes.len());
    }

    /// Bytes held, read or not: what this buffer costs.
    pub fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_buffer_keeps_unread_bytes_in_order_as_it_makes_room() {
        let mut buffer = ReadBuffer::default();
        let mut expected = std::collections::VecDeque::new();
        let mut next = 0u8;
        let mut most_unread = 0;
        for round in 0..200usize {
            let room_len = 1 + round % 37;
            most_unread = most_unread.max(expected.len());
            let room = buffer.room(room_len);
            assert_eq!(room.len(), room_len);
            let filled = room_len.saturating_sub(round % 3);
            for byte in &mut room[..filled] {
                *byte = next;
                expected.push_back(next);
                next = next.wrapping_add(1);
            }
            buffer.filled(filled);
            let take = (round * 7) % 23;
            let taken = buffer.take(take).map(<[u8]>::to_vec);
            if take <= expected.len() {
                let want: Vec<u8> = expected.drain(..take).collect();
                assert_eq!(taken, Some(want));
            } else {
                assert_eq!(taken, None);
            }
            assert!(buffer.unread().iter().eq(expected.iter()));
        }
        // Room is made by moving the unread bytes, not by growing forever.
        assert!(buffer.capacity() <= most_unread + 37);
    }

    #[test]
    fn put_appends_after_the_unread_bytes() {
        let mut buffer = ReadBuffer::default();
        buffer.put(b"hello ");
        buffer.consume(2);
        buffer.put(b"world");
        assert_eq!(buffer.unread(), b"llo world");
    }
}
