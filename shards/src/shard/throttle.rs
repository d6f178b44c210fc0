//! Failed-authentication throttling, per source address: after
//! `AUTH_FAILURES_PER_SECOND_MAX` failures within one second, an address's
//! further CONNECTs are refused without a password check until the second
//! is over, so guessing passwords costs the guesser, not the broker.
//!
//! One per shard, like everything a shard owns; a CONNECT is checked on its
//! client id's home shard, so a guesser spreading client ids over the shards
//! gets the allowance once per shard. The map is bounded
//! (`AUTH_FAILURE_SOURCES_MAX`): when full, windows that are over are
//! dropped first, then the oldest. The map hashes with std's keyed SipHash:
//! its keys come from peers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

use shardmq::limits::{AUTH_FAILURES_PER_SECOND_MAX, AUTH_FAILURE_SOURCES_MAX};

/// Length of one counting window, ms.
const WINDOW_MS: u64 = 1_000;

#[derive(Clone, Copy, Debug)]
struct Window {
    started_ms: u64,
    failures: u32,
}

/// Failed authentications by source address, over the current second.
#[derive(Debug, Default)]
pub(super) struct AuthThrottle {
    sources: RefCell<HashMap<IpAddr, Window>>,
}

impl AuthThrottle {
    /// True when `source` failed too often in the window running at `now_ms`.
    pub(super) fn is_throttled(&self, source: IpAddr, now_ms: u64) -> bool {
        self.sources.borrow().get(&source).is_some_and(|window| {
            now_ms < window.started_ms + WINDOW_MS
                && window.failures >= AUTH_FAILURES_PER_SECOND_MAX
        })
    }

    /// Counts one failed authentication from `source` at `now_ms`.
    pub(super) fn failed(&self, source: IpAddr, now_ms: u64) {
        let mut sources = self.sources.borrow_mut();
        if sources.len() >= AUTH_FAILURE_SOURCES_MAX && !sources.contains_key(&source) {
            sources.retain(|_, window| now_ms < window.started_ms + WINDOW_MS);
            if sources.len() >= AUTH_FAILURE_SOURCES_MAX {
                let oldest = sources
                    .iter()
                    .min_by_key(|(_, window)| window.started_ms)
                    .map(|(address, _)| *address);
                if let Some(oldest) = oldest {
                    sources.remove(&oldest);
                }
            }
        }
        let window = sources.entry(source).or_insert(Window {
            started_ms: now_ms,
            failures: 0,
        });
        if now_ms >= window.started_ms + WINDOW_MS {
            *window = Window {
                started_ms: now_ms,
                failures: 0,
            };
        }
        window.failures += 1;
    }

    /// Source addresses tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.sources.borrow().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(index: u32) -> IpAddr {
        IpAddr::from(index.to_be_bytes())
    }

    #[test]
    fn a_source_is_throttled_after_its_allowance_until_the_second_is_over() {
        let throttle = AuthThrottle::default();
        for _ in 0..AUTH_FAILURES_PER_SECOND_MAX {
            assert!(!throttle.is_throttled(address(1), 100));
            throttle.failed(address(1), 100);
        }
        assert!(throttle.is_throttled(address(1), 100));
        assert!(throttle.is_throttled(address(1), 1_099));
        assert!(!throttle.is_throttled(address(2), 100));
        assert!(!throttle.is_throttled(address(1), 1_100));
        throttle.failed(address(1), 1_100);
        assert!(!throttle.is_throttled(address(1), 1_100));
    }

    #[test]
    fn the_map_stays_within_its_bound() {
        let throttle = AuthThrottle::default();
        for index in 0..(AUTH_FAILURE_SOURCES_MAX as u32 + 10) {
            throttle.failed(address(index), 0);
        }
        assert_eq!(throttle.len(), AUTH_FAILURE_SOURCES_MAX);
        // Windows that are over make room before any running one is dropped.
        throttle.failed(address(u32::MAX), 5_000);
        assert_eq!(throttle.len(), 1);
    }
}
