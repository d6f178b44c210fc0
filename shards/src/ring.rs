//! The cross-shard mesh: one bounded SPSC ring per ordered pair of shards.
//!
//! Rings are glommio `shared_channel`s. A producer never blocks its caller:
//! [`Mesh::push`] tries the ring and, when it is full, keeps the item in a local
//! outbox that a pump task drains in order. A consumer only reads its rings and
//! works locally, it never awaits another shard, which is what keeps a full mesh
//! free of deadlocks.
//!
//! Each outbox is bounded by `limits::RING_OUTBOX_MAX`. When one reaches
//! `limits::RING_OUTBOX_PUBLISH_MAX` the mesh is congested: the shard's
//! publishers stop before their next packet (see [`Mesh::poll_uncongested`]),
//! and its timers, hand-offs and lost connections wait too, so publishes wait
//! upstream. What still arrives past that depth comes from the packet being
//! handled (its publish, retained update, subscription changes and barrier) or
//! from the ring consumer (barrier answers, which must not wait), and uses the
//! reserve up to `limits::RING_OUTBOX_MAX`. An item that may wait
//! ([`RingItem::may_wait`]: a publish or retained update) is never queued past
//! the bound: should a path still bring one, it is dropped and counted. A
//! replication message (subscription change, barrier, hand-off) past the bound
//! is still queued, since dropping it would split the replicas or lose a
//! client, and counted. The counts are the shard's own
//! ([`ShardCounters`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};
use glommio::{GlommioError, ResourceType};
use shardmq::limits;

use crate::stats::ShardCounters;
use crate::wake::{Notify, WaitList};

/// What the mesh needs to know of an item to bound its outboxes.
pub trait RingItem {
    /// True for an item its producer can hold back while the mesh is
    /// congested (a publish); false for one that must go through.
    fn may_wait(&self) -> bool;
}

/// The unconnected ring ends of one shard, moved to its thread at start-up.
pub struct RingEnds<T: Send + 'static> {
    index: usize,
    senders: Vec<Option<SharedSender<T>>>,
    receivers: Vec<Option<SharedReceiver<T>>>,
}

/// Builds the full mesh for `shards` shards: element `i` holds shard `i`'s ends.
pub fn mesh_ends<T: Send + 'static>(shards: usize) -> Vec<RingEnds<T>> {
    let mut ends: Vec<RingEnds<T>> = (0..shards)
        .map(|index| RingEnds {
            index,
            senders: (0..shards).map(|_| None).collect(),
            receivers: (0..shards).map(|_| None).collect(),
        })
        .collect();
    for from in 0..shards {
        for to in 0..shards {
            if from != to {
                let (sender, receiver) = shared_channel::new_bounded(limits::RING_CAPACITY);
                ends[from].senders[to] = Some(sender);
                ends[to].receivers[from] = Some(receiver);
            }
        }
    }
    ends
}

/// One destination's ring plus the local outbox in front of it.
struct Outbox<T: Send + 'static> {
    sender: ConnectedSender<T>,
    queue: RefCell<VecDeque<T>>,
    pump_busy: Cell<bool>,
    pump_wake: Notify,
}

/// This shard's producing side of the mesh.
pub struct Mesh<T: Send + 'static> {
    index: usize,
    outboxes: Vec<Option<Rc<Outbox<T>>>>,
    congested_waiters: WaitList,
    /// The shard's counters, where the mesh counts what it drops or queues
    /// past its bound.
    counters: Arc<ShardCounters>,
}

/// A connected ring to read from, with the shard it comes from.
pub struct Inbound<T: Send + 'static> {
    /// The producing shard.
    pub from: usize,
    /// The ring.
    pub receiver: ConnectedReceiver<T>,
}

impl<T: RingItem + Send + 'static> RingEnds<T> {
    /// Connects every ring of this shard concurrently (each connect waits for the
    /// peer, so connecting one after another would deadlock the mesh). The
    /// mesh counts on the shard's `counters`.
    pub async fn connect(self, counters: Arc<ShardCounters>) -> (Rc<Mesh<T>>, Vec<Inbound<T>>) {
        let shard_count = self.senders.len();
        let mut sender_tasks = Vec::new();
        for (to, sender) in self.senders.into_iter().enumerate() {
            if let Some(sender) = sender {
                sender_tasks.push((to, glommio::spawn_local(sender.connect())));
            }
        }
        let mut receiver_tasks = Vec::new();
        for (from, receiver) in self.receivers.into_iter().enumerate() {
            if let Some(receiver) = receiver {
                receiver_tasks.push((from, glommio::spawn_local(receiver.connect())));
            }
        }
        let mut outboxes: Vec<Option<Rc<Outbox<T>>>> = Vec::new();
        for (to, task) in sender_tasks {
            while outboxes.len() < to {
                outboxes.push(None);
            }
            outboxes.push(Some(Rc::new(Outbox {
                sender: task.await,
                queue: RefCell::new(VecDeque::new()),
                pump_busy: Cell::new(false),
                pump_wake: Notify::default(),
            })));
        }
        while outboxes.len() < shard_count {
            outboxes.push(None);
        }
        let mut inbound = Vec::new();
        for (from, task) in receiver_tasks {
            inbound.push(Inbound {
                from,
                receiver: task.await,
            });
        }
        let mesh = Rc::new(Mesh {
            index: self.index,
            outboxes,
            congested_waiters: WaitList::default(),
            counters,
        });
        for outbox in mesh.outboxes.iter().flatten() {
            glommio::spawn_local(pump(Rc::clone(&mesh), Rc::clone(outbox))).detach();
        }
        (mesh, inbound)
    }
}

/// Drains one outbox into its ring, in order, waiting for ring space as needed.
async fn pump<T: RingItem + Send + 'static>(mesh: Rc<Mesh<T>>, outbox: Rc<Outbox<T>>) {
    loop {
        outbox.pump_wake.wait().await;
        loop {
            let item = outbox.queue.borrow_mut().pop_front();
            let Some(item) = item else { break };
            outbox.pump_busy.set(true);
            let sent = outbox.sender.send(item).await;
            outbox.pump_busy.set(false);
            if sent.is_err() {
                // The peer shard is gone (shutdown); nothing will read this ring again.
                mesh.counters.ring_items_dropped.add(1);
                outbox.queue.borrow_mut().clear();
            }
            if !mesh.is_congested() {
                mesh.congested_waiters.wake_all();
            }
        }
        mesh.congested_waiters.wake_all();
    }
}

impl<T: RingItem + Send + 'static> Mesh<T> {
    /// Sends `item` to shard `to` without waiting; order per destination is kept.
    pub fn push(&self, to: usize, item: T) {
        let outbox = self.outboxes[to]
            .as_ref()
            .expect("a shard pushes only to other shards");
        let queued = outbox.queue.borrow().len();
        if queued >= limits::RING_OUTBOX_MAX {
            if item.may_wait() {
                self.counters.ring_publishes_dropped.add(1);
                tracing::debug!(to, queued, "outbox full; publish dropped");
                return;
            }
            self.counters.ring_messages_over_capacity.add(1);
            tracing::debug!(
                to,
                queued,
                "outbox full; replication message queued past it"
            );
        }
        if !outbox.pump_busy.get() && queued == 0 {
            match outbox.sender.try_send(item) {
                Ok(()) => return,
                Err(GlommioError::WouldBlock(ResourceType::Channel(item))) => {
                    outbox.queue.borrow_mut().push_back(item)
                }
                Err(_) => {
                    // The peer shard is gone (shutdown); nothing will read this ring again.
                    self.counters.ring_items_dropped.add(1);
                    return;
                }
            }
        } else {
            outbox.queue.borrow_mut().push_back(item);
        }
        outbox.pump_wake.notify();
    }

    /// Sends an item made by `make` to every other shard.
    pub fn broadcast_with(&self, make: impl Fn() -> T) {
        for to in 0..self.outboxes.len() {
            if to != self.index {
                self.push(to, make());
            }
        }
    }

    /// True when some outbox is at `limits::RING_OUTBOX_PUBLISH_MAX`: no
    /// publish may be made until it drains.
    pub fn is_congested(&self) -> bool {
        self.outboxes
            .iter()
            .flatten()
            .any(|outbox| outbox.queue.borrow().len() >= limits::RING_OUTBOX_PUBLISH_MAX)
    }

    /// Ready when no outbox is congested; otherwise wakes the task of `cx` when
    /// one drains.
    pub fn poll_uncongested(&self, cx: &Context<'_>) -> Poll<()> {
        self.congested_waiters
            .poll_until(cx, || !self.is_congested())
    }

    /// Waits until no outbox is congested.
    pub async fn wait_uncongested(&self) {
        std::future::poll_fn(|cx| self.poll_uncongested(cx)).await
    }

    /// The longest outbox now, items.
    #[cfg(test)]
    fn deepest_outbox(&self) -> usize {
        self.outboxes
            .iter()
            .flatten()
            .map(|outbox| outbox.queue.borrow().len())
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::LocalExecutorBuilder;

    /// Test items: even numbers are publishes, odd ones replication messages.
    impl RingItem for usize {
        fn may_wait(&self) -> bool {
            self % 2 == 0
        }
    }

    #[test]
    fn items_past_ring_capacity_wait_in_the_outbox_and_arrive_in_order() {
        let total = limits::RING_CAPACITY * 3;
        let mut ends = mesh_ends::<usize>(2).into_iter();
        let (producer_ends, consumer_ends) = (ends.next().unwrap(), ends.next().unwrap());
        let (done_sender, done_receiver) = shared_channel::new_bounded::<()>(1);
        let producer = LocalExecutorBuilder::default()
            .spawn(move || async move {
                let done = done_receiver.connect().await;
                let (mesh, _inbound) = producer_ends.connect(Arc::default()).await;
                for item in 0..total {
                    mesh.push(1, item);
                }
                // The pumps drain the outbox while this task waits.
                done.recv().await;
            })
            .unwrap();
        let consumer = LocalExecutorBuilder::default()
            .spawn(move || async move {
                let done = done_sender.connect().await;
                let (_mesh, inbound) = consumer_ends.connect(Arc::default()).await;
                let ring = inbound.into_iter().next().unwrap();
                assert_eq!(ring.from, 0);
                let mut received = Vec::with_capacity(total);
                while received.len() < total {
                    received.push(ring.receiver.recv().await.unwrap());
                }
                done.send(()).await.unwrap();
                received
            })
            .unwrap();
        let received = consumer.join().unwrap();
        producer.join().unwrap();
        assert_eq!(received, (0..total).collect::<Vec<_>>());
    }

    #[test]
    fn outbox_never_queues_a_publish_past_its_bound_but_keeps_replication_messages() {
        let publishes = limits::RING_CAPACITY + limits::RING_OUTBOX_MAX + 10;
        let mut ends = mesh_ends::<usize>(2).into_iter();
        let (producer_ends, consumer_ends) = (ends.next().unwrap(), ends.next().unwrap());
        let (filled_sender, filled_receiver) = shared_channel::new_bounded::<()>(1);
        let (done_sender, done_receiver) = shared_channel::new_bounded::<()>(1);
        let producer = LocalExecutorBuilder::default()
            .spawn(move || async move {
                let filled = filled_sender.connect().await;
                let done = done_receiver.connect().await;
                let counters = Arc::new(ShardCounters::default());
                let (mesh, _inbound) = producer_ends.connect(Arc::clone(&counters)).await;
                let mut congested_at = None;
                for index in 0..publishes {
                    if congested_at.is_none() && mesh.is_congested() {
                        congested_at = Some(index);
                    }
                    mesh.push(1, 2 * index);
                    // The pump moves what fits into the ring while this yields.
                    glommio::executor().yield_now().await;
                }
                let outbox_after_publishes = mesh.deepest_outbox();
                mesh.push(1, 1);
                let counts = (
                    congested_at,
                    outbox_after_publishes,
                    mesh.deepest_outbox(),
                    counters.snapshot().ring_publishes_dropped,
                    counters.snapshot().ring_messages_over_capacity,
                );
                filled.send(()).await.unwrap();
                // The pump drains the outbox while this task waits.
                done.recv().await;
                counts
            })
            .unwrap();
        let consumer = LocalExecutorBuilder::default()
            .spawn(move || async move {
                let filled = filled_receiver.connect().await;
                let done = done_sender.connect().await;
                let (_mesh, inbound) = consumer_ends.connect(Arc::default()).await;
                filled.recv().await.unwrap();
                let ring = inbound.into_iter().next().unwrap();
                let mut received = Vec::new();
                while let Some(item) = ring.receiver.recv().await {
                    received.push(item);
                    if item == 1 {
                        break;
                    }
                }
                done.send(()).await.unwrap();
                received
            })
            .unwrap();
        let (congested_at, after_publishes, after_control, dropped, over) =
            producer.join().unwrap();
        let received = consumer.join().unwrap();
        // Past the full ring, the pump holds one item while it waits for space.
        let ahead_of_the_outbox = limits::RING_CAPACITY + 1;
        assert_eq!(
            congested_at,
            Some(ahead_of_the_outbox + limits::RING_OUTBOX_PUBLISH_MAX)
        );
        assert_eq!(after_publishes, limits::RING_OUTBOX_MAX);
        assert_eq!(dropped, 9);
        assert_eq!(after_control, limits::RING_OUTBOX_MAX + 1);
        assert_eq!(over, 1);
        let kept = ahead_of_the_outbox + limits::RING_OUTBOX_MAX;
        let mut expected: Vec<usize> = (0..kept).map(|index| 2 * index).collect();
        expected.push(1);
        assert_eq!(received, expected);
    }
}
