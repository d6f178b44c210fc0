//! [`Counter`]: a count written by one thread and read by any, the unit every
//! statistic of the broker is kept in.

use std::sync::atomic::{AtomicU64, Ordering};

/// A count that only one thread ever adds to (a shard's, for what its
/// sessions and connections do), and any thread may read.
///
/// With a single writer a relaxed load and a store are enough: the count is
/// never raced, and a read-modify-write instruction would cost a full memory
/// barrier per event, while one shared by several writers would also bounce
/// its cache line between their cores. A reader on another thread sees a
/// value the writer stored, never a torn one; it may be a little behind.
///
/// ```
/// use shardmq::counter::Counter;
///
/// let drops = Counter::default();
/// drops.add(2);
/// drops.add(1);
/// assert_eq!(drops.get(), 3);
/// ```
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds `count`. Only the counter's one writing thread calls this: two
    /// writers would lose each other's additions.
    pub fn add(&self, count: u64) {
        self.0.store(self.get() + count, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_reader_on_another_thread_sees_every_addition_after_the_writer_joined() {
        let counter = Arc::new(Counter::default());
        let writer = {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                for count in 1..=100 {
                    counter.add(count);
                }
            })
        };
        writer.join().unwrap();
        let reader = std::thread::spawn(move || counter.get());
        assert_eq!(reader.join().unwrap(), 5050);
    }

    #[test]
    fn adding_nothing_leaves_the_count_as_it_was() {
        let counter = Counter::default();
        counter.add(0);
        assert_eq!(counter.get(), 0);
        counter.add(7);
        counter.add(0);
        assert_eq!(counter.get(), 7);
    }
}
