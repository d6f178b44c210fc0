//! The broker-wide stop request: set once from any thread (a signal handler's
//! thread, the broker handle, a failed journal), waited for by the shards.
//!
//! A shard waits for it beside its timers, so an idle shard sleeps until it
//! has something to do or is asked to stop, instead of checking a flag on a
//! short period. The waker of a shard's task is woken from the requesting
//! thread, which glommio turns into a wake-up of that shard's executor.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};

/// A stop request: once made, it stays made.
#[derive(Debug, Default)]
pub struct StopSignal {
    requested: AtomicBool,
    waiting: Mutex<Vec<Waker>>,
}

impl StopSignal {
    /// Asks for the stop and wakes every waiting task.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
        let waiting = std::mem::take(&mut *self.lock());
        for waker in waiting {
            waker.wake();
        }
    }

    /// True once a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Returns once a stop was asked for.
    pub async fn requested(&self) {
        poll_fn(|cx| {
            if self.is_requested() {
                return Poll::Ready(());
            }
            {
                let mut waiting = self.lock();
                if !waiting.iter().any(|parked| parked.will_wake(cx.waker())) {
                    waiting.push(cx.waker().clone());
                }
            }
            // A request made before the waker was stored took the list
            // before it held this waker; the flag it set is seen here.
            if self.is_requested() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Waker>> {
        // A panic while holding the list leaves it usable: wakers only.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Wake};

    /// A waker that remembers being woken.
    struct Woken(AtomicBool);

    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_request_from_another_thread_wakes_the_waiting_task() {
        let woken = Arc::new(Woken(AtomicBool::new(false)));
        let waker = Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);
        let signal = Arc::new(StopSignal::default());
        let mut wait = pin!(signal.requested());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        let requester = Arc::clone(&signal);
        std::thread::spawn(move || requester.request())
            .join()
            .unwrap();
        assert!(woken.0.load(Ordering::SeqCst));
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn a_request_made_before_the_wait_is_seen_at_once() {
        let signal = StopSignal::default();
        signal.request();
        futures_lite::future::block_on(signal.requested());
        assert!(signal.is_requested());
    }
}
