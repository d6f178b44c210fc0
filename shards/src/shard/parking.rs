//! Parking idle connections: a connection quiet for `idle_park_ms` (or, on a
//! crowded shard, a new one quiet right after its CONNACK) gives up its task
//! and its glommio stream (a task allocation and the stream's I/O
//! source, together about 760 bytes), keeping only its socket, which one epoll
//! set per shard watches. Most of what an idle connection held is then gone;
//! its `Connection` and session stay as they are.
//!
//! A parked connection comes back (a new stream and task, in the state it
//! left) when its socket has something to read, peer closing included, or
//! when the shard has something for it: a packet to send, a close, a release.
//! A watcher thread per shard blocks in `epoll_wait` over the parked sockets
//! (registered one-shot, so each reports once) and writes the connection ids
//! it finds to a socket pair whose other end the shard reads like any stream;
//! what the shard itself wants back goes through a local queue. Both end in
//! [`Shard::unpark`]. Coming back costs about what accepting did, and adds
//! the watcher's wake-up (tens of microseconds) to the first packet.
//!
//! Only a connection with nothing in flight parks: no unread or unwritten
//! bytes, no held output, not closing, its client's side still open.
//!
//! The same watcher tells the shard when its listening sockets have
//! connections waiting (registered one-shot, re-armed by the accept loop once
//! it found nothing more to accept), so an idle shard sleeps until a client
//! comes instead of polling its listeners: on this VM every timed wake-up of
//! an idle executor costs tens of microseconds of CPU (a membarrier that
//! interrupts the other shards' CPUs, and two context switches).

use std::cell::RefCell;
use std::io::{self, Write};
use std::net::TcpStream as StdTcpStream;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Arc;

use ahash::AHashMap as HashMap;
use bytes::BytesMut;
use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use shardmq::limits;
use socket2::SockRef;

use super::{Connection, Shard};
use crate::listener::Listener;
use crate::transport::TransportLayer;
use crate::wake::Notify;

/// The epoll data of the watcher's own end of the socket pair: it reports
/// only when the shard closed its end, which stops the watcher.
const DOORBELL: u64 = u64::MAX;

/// The epoll data of the shard's listening sockets: a connection waits to be
/// accepted. Connection ids count up from 0 and never come near it.
const ACCEPT_READY: u64 = u64::MAX - 1;

/// Events one `epoll_wait` of the watcher takes at most.
const WATCH_BATCH: usize = 256;

/// The unpark requests of one shard's own making, shared with its parked
/// connections (see [`Connection::wake_task`]).
#[derive(Debug, Default)]
pub struct UnparkQueue {
    ids: RefCell<Vec<u64>>,
    notify: Notify,
}

impl UnparkQueue {
    /// Asks for connection `id` to come back.
    pub fn request(&self, id: u64) {
        self.ids.borrow_mut().push(id);
        self.notify.notify();
    }
}

/// What a parked connection's task gave up, kept in the connection itself
/// (the shard's connection table finds it by id).
#[derive(Debug)]
pub struct ParkedSocket {
    socket: StdTcpStream,
    transport: TransportLayer,
    /// Where to ask for the connection back.
    pub queue: Rc<UnparkQueue>,
}

/// One shard's epoll set watching parked sockets, its queue of unpark
/// requests, and the parked connections closed by the shard (no longer in
/// its connection table until their task runs once more and ends).
pub struct ParkingLot {
    epoll: Arc<Epoll>,
    queue: Rc<UnparkQueue>,
    closed: RefCell<HashMap<u64, Rc<Connection>>>,
    /// Set when a watched listener has a connection waiting, or when the
    /// shard stops.
    accept_ready: Notify,
}

/// The shard's end of the socket pair, over which the watcher reports ids.
/// glommio's `TcpStream` is its one stream over a socket it is given; it
/// reads a Unix stream socket the same way.
pub struct Doorbell {
    stream: TcpStream,
}

impl ParkingLot {
    /// The lot of shard `index` and its doorbell, with the watcher thread
    /// started; an error when the epoll set, the socket pair or the thread
    /// could not be made (the shard then never parks).
    pub fn start(index: usize) -> io::Result<(ParkingLot, Doorbell)> {
        let epoll = Arc::new(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?);
        let (shard_end, watcher_end) = UnixStream::pair()?;
        epoll.add(
            &watcher_end,
            EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP, DOORBELL),
        )?;
        let watched = Arc::clone(&epoll);
        std::thread::Builder::new()
            .name(format!("shardmq-park-{index}"))
            .stack_size(limits::PARK_WATCHER_STACK_BYTES)
            .spawn(move || watch(&watched, watcher_end))?;
        shard_end.set_nonblocking(true)?;
        let stream = TcpStream::from(socket2::Socket::from(shard_end));
        let lot = ParkingLot {
            epoll,
            queue: Rc::new(UnparkQueue::default()),
            closed: RefCell::new(HashMap::new()),
            accept_ready: Notify::default(),
        };
        Ok((lot, Doorbell { stream }))
    }

    /// Watches `listeners` for connections to accept, once each until
    /// [`ParkingLot::rearm_listeners`]; an error leaves the shard to poll them.
    pub fn watch_listeners(&self, listeners: &[Listener]) -> io::Result<()> {
        for listener in listeners {
            self.epoll.add(&listener.socket, listener_interest())?;
        }
        Ok(())
    }

    /// Watches `listeners` again, once each. A connection that came in since
    /// they were last drained is reported at once.
    pub fn rearm_listeners(&self, listeners: &[Listener]) -> io::Result<()> {
        for listener in listeners {
            self.epoll
                .modify(&listener.socket, &mut listener_interest())?;
        }
        Ok(())
    }

    /// Waits until a watched listener has a connection waiting, or until
    /// [`ParkingLot::wake_accept`].
    pub async fn listeners_ready(&self) {
        self.accept_ready.wait().await;
    }

    /// Ends the accept loop's wait (the shard is stopping).
    pub fn wake_accept(&self) {
        self.accept_ready.notify();
    }
}

fn listener_interest() -> EpollEvent {
    EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLONESHOT, ACCEPT_READY)
}

/// The watcher thread: reports the id of every parked socket that became
/// readable (or closed) until the shard closes its end of the pair.
fn watch(epoll: &Epoll, mut doorbell: UnixStream) {
    let mut events = vec![EpollEvent::empty(); WATCH_BATCH];
    let mut ids = Vec::with_capacity(WATCH_BATCH * 8);
    loop {
        let count = match epoll.wait(&mut events, -1) {
            Ok(count) => count,
            Err(Errno::EINTR) => continue,
            Err(error) => {
                tracing::error!(%error, "parked connections can no longer be watched");
                return;
            }
        };
        ids.clear();
        for event in &events[..count] {
            if event.data() == DOORBELL {
                return;
            }
            ids.extend_from_slice(&event.data().to_le_bytes());
        }
        // Blocking: should the shard fall behind, the watcher waits for it.
        if doorbell.write_all(&ids).is_err() {
            return;
        }
    }
}

impl Shard {
    /// Parks `connection`, whose task is about to end: its socket (a
    /// duplicate of `stream`'s) is then watched by the lot. The transport
    /// back when it cannot be parked.
    pub(super) fn park(
        &self,
        connection: &Rc<Connection>,
        stream: &TcpStream,
        transport: TransportLayer,
    ) -> Result<(), TransportLayer> {
        let Some(lot) = &self.parking else {
            return Err(transport);
        };
        let socket = match SockRef::from(stream).try_clone() {
            Ok(socket) => StdTcpStream::from(socket),
            Err(error) => {
                tracing::debug!(connection = connection.id, peer = %connection.peer, %error, "cannot park");
                return Err(transport);
            }
        };
        let interest = EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLONESHOT;
        if let Err(error) = lot
            .epoll
            .add(&socket, EpollEvent::new(interest, connection.id))
        {
            tracing::debug!(connection = connection.id, peer = %connection.peer, %error, "cannot park");
            return Err(transport);
        }
        connection.park_socket(ParkedSocket {
            socket,
            transport,
            queue: Rc::clone(&lot.queue),
        });
        self.stats.parks.add(1);
        tracing::trace!(connection = connection.id, peer = %connection.peer, "parked");
        Ok(())
    }

    /// Brings connection `id` back, if it is parked: a new stream over its
    /// socket and a new task.
    pub(super) fn unpark(self: &Rc<Self>, id: u64) {
        let Some(lot) = &self.parking else {
            return;
        };
        let connection = self.connections.get(id);
        let Some(connection) = connection.or_else(|| lot.closed.borrow_mut().remove(&id)) else {
            return;
        };
        let Some(parked) = connection.unpark_socket() else {
            return;
        };
        if let Err(error) = lot.epoll.delete(&parked.socket) {
            tracing::debug!(connection = id, peer = %connection.peer, %error, "epoll delete failed");
        }
        tracing::trace!(connection = id, peer = %connection.peer, "unparked");
        self.stats.unparks.add(1);
        let stream = TcpStream::from(socket2::Socket::from(parked.socket));
        self.spawn_task(connection, stream, parked.transport, BytesMut::new(), false);
    }

    /// Takes `connection`, closed by the shard, out of the connection table;
    /// when it is parked the lot keeps it until its task, asked back by the
    /// close, has run.
    pub(super) fn forget_connection(&self, connection: &Rc<Connection>) {
        self.connections.detach(connection.id);
        if let (Some(lot), true) = (&self.parking, connection.is_parked()) {
            lot.closed
                .borrow_mut()
                .insert(connection.id, Rc::clone(connection));
        }
    }
}

/// Unparks the connections the shard's own work asked back.
pub async fn serve_requests(shard: Rc<Shard>) {
    let Some(lot) = &shard.parking else {
        return;
    };
    let queue = Rc::clone(&lot.queue);
    loop {
        queue.notify.wait().await;
        let ids = std::mem::take(&mut *queue.ids.borrow_mut());
        for id in ids {
            tracing::trace!(id, "unpark requested");
            shard.unpark(id);
        }
    }
}

/// Unparks the connections the watcher reports, until the shard stops.
pub async fn serve_doorbell(shard: Rc<Shard>, mut doorbell: Doorbell) {
    let mut buffer = [0u8; WATCH_BATCH * 8];
    let mut pending = Vec::new();
    loop {
        let count = match doorbell.stream.read(&mut buffer).await {
            Ok(0) => return,
            Ok(count) => count,
            Err(error) => {
                tracing::error!(shard = shard.index, %error, "parking doorbell failed");
                return;
            }
        };
        pending.extend_from_slice(&buffer[..count]);
        let whole = pending.len() - pending.len() % 8;
        for id in pending[..whole].chunks_exact(8) {
            let id = u64::from_le_bytes(id.try_into().expect("eight bytes"));
            if id == ACCEPT_READY {
                if let Some(lot) = &shard.parking {
                    lot.accept_ready.notify();
                }
                continue;
            }
            tracing::trace!(id, "socket ready");
            shard.unpark(id);
        }
        pending.drain(..whole);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::ConnectionLimit;
    use crate::transport::TransportKind;
    use glommio::LocalExecutorBuilder;
    use std::net::TcpListener as StdTcpListener;

    /// The watcher's next report; a missing one fails the test rather than
    /// hanging it.
    async fn next_report(doorbell: &mut Doorbell) -> u64 {
        let mut id = [0u8; 8];
        glommio::timer::timeout(std::time::Duration::from_secs(30), async {
            doorbell
                .stream
                .read_exact(&mut id)
                .await
                .map_err(Into::into)
        })
        .await
        .expect("the watcher reports");
        u64::from_le_bytes(id)
    }

    #[test]
    fn a_waiting_connection_is_reported_when_watched_and_again_when_rearmed() {
        LocalExecutorBuilder::default()
            .spawn(|| async {
                let (lot, mut doorbell) = ParkingLot::start(0).expect("the lot starts");
                let socket = StdTcpListener::bind("127.0.0.1:0").unwrap();
                socket.set_nonblocking(true).unwrap();
                let address = socket.local_addr().unwrap();
                let listeners = [Listener {
                    socket,
                    transport: TransportKind::Tcp,
                    limit: ConnectionLimit::default(),
                }];
                let listener = &listeners[0].socket;
                lot.watch_listeners(&listeners).unwrap();
                let _first = StdTcpStream::connect(address).unwrap();
                assert_eq!(next_report(&mut doorbell).await, ACCEPT_READY);
                listener.accept().expect("the first connection waits");
                // Came in while the listener was not armed: re-arming reports it.
                let _second = StdTcpStream::connect(address).unwrap();
                lot.rearm_listeners(&listeners).unwrap();
                assert_eq!(next_report(&mut doorbell).await, ACCEPT_READY);
                listener.accept().expect("the second connection waits");
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
