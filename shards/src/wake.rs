//! Small single-threaded wake-up primitives used inside one shard.
//!
//! [`Notify`] wakes one waiting task (a ring's pump); [`WakerSlot`] holds the
//! waker of the one task that polls a condition itself (a connection's task);
//! [`WaitList`] parks any number of tasks until a condition holds (publishers
//! waiting for a full ring to drain). All are `!Send` on purpose: a shard never
//! shares them.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

/// A wake-up flag for one waiting task; notifications before the wait are kept.
#[derive(Debug, Default)]
pub struct Notify {
    notified: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    /// Sets the flag and wakes the waiter, if one is parked.
    pub fn notify(&self) {
        self.notified.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Waits until notified, then clears the flag.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.notified.replace(false) {
                return Poll::Ready(());
            }
            *self.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// The waker of one task that re-checks its own condition whenever it runs, so
/// it needs no flag: a wake-up only asks it to look again.
#[derive(Debug, Default)]
pub struct WakerSlot {
    waker: RefCell<Option<Waker>>,
}

impl WakerSlot {
    /// Wakes `waker`'s task at the next [`WakerSlot::wake`].
    pub fn register(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        if !slot.as_ref().is_some_and(|parked| parked.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// Wakes the registered task, if any, once.
    pub fn wake(&self) {
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Forgets the registered task without waking it.
    pub fn clear(&self) {
        self.waker.borrow_mut().take();
    }
}

/// Tasks parked until some shard-local condition holds.
#[derive(Debug, Default)]
pub struct WaitList {
    wakers: RefCell<Vec<Waker>>,
}

impl WaitList {
    /// Ready when `ready()` holds; otherwise parks the task of `cx` (once, however
    /// often it polls) until the next [`WaitList::wake_all`].
    pub fn poll_until(&self, cx: &Context<'_>, ready: impl Fn() -> bool) -> Poll<()> {
        if ready() {
            return Poll::Ready(());
        }
        let mut wakers = self.wakers.borrow_mut();
        if !wakers.iter().any(|parked| parked.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Waits until `ready()` holds, re-checked at each [`WaitList::wake_all`].
    pub async fn wait_until(&self, ready: impl Fn() -> bool) {
        poll_fn(|cx| self.poll_until(cx, &ready)).await
    }

    /// Wakes every parked task so it re-checks its condition.
    pub fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for waker in wakers {
            waker.wake();
        }
    }
}
