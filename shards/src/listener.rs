//! Listening sockets: one per configured address on every shard (SO_REUSEPORT),
//! and the per-shard accept loop. Each listener carries the transport its
//! connections speak, from which an accepted connection's layer is made.
//!
//! The sockets are std sockets made with socket2 rather than glommio listeners:
//! an accepted `std::net::TcpStream` is `Send` and can be duplicated safely with
//! `try_clone`, which is what lets a connection move to its home shard after
//! CONNECT without any `unsafe` file-descriptor handling. glommio cannot wait
//! on such a socket, so the shard's epoll watcher (see the parking lot) tells
//! the accept loop when one has connections waiting. The loop accepts at most
//! `limits::ACCEPT_BATCH_MAX` connections per listener per turn; when the
//! listeners cannot be watched, or while accepting fails, it polls them every
//! `limits::ACCEPT_IDLE_POLL_MS` instead.
//!
//! A listener's `max_connections` holds over every shard: its sockets share
//! one [`ConnectionLimit`], a count of its open connections that the accept
//! loop raises (an [`Admission`]) and that drops when the connection ends.
//! One atomic read-modify-write per connection, never per message.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shardmq::limits;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::transport::TransportKind;

/// Why a listening address could not be bound.
#[derive(Debug)]
pub struct BindError {
    /// The configured address.
    pub address: SocketAddr,
    /// What the OS said.
    pub error: io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.address, self.error)
    }
}

impl std::error::Error for BindError {}

/// A configured listening address and the transport its connections speak.
#[derive(Debug, Clone)]
pub struct ListenSpec {
    /// Where to listen.
    pub address: SocketAddr,
    /// What the accepted connections speak.
    pub transport: TransportKind,
    /// Connections open at once over every shard; `None` is unlimited.
    pub max_connections: Option<usize>,
}

/// A listener's `max_connections`, shared by its sockets on every shard.
#[derive(Debug, Clone, Default)]
pub struct ConnectionLimit(Option<Arc<OpenCount>>);

/// The connections a limited listener has open, and how many it may.
#[derive(Debug)]
struct OpenCount {
    open: AtomicUsize,
    max: usize,
}

impl ConnectionLimit {
    /// A limit of `max` connections; `None` is no limit, and costs nothing.
    pub fn new(max: Option<usize>) -> ConnectionLimit {
        ConnectionLimit(max.map(|max| {
            Arc::new(OpenCount {
                open: AtomicUsize::new(0),
                max,
            })
        }))
    }

    /// Counts one more connection, unless the listener has its maximum open:
    /// `None` then, and the connection is to be closed.
    pub fn admit(&self) -> Option<Admission> {
        let Some(count) = &self.0 else {
            return Some(Admission(None));
        };
        count
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < count.max).then_some(open + 1)
            })
            .ok()
            .map(|_| Admission(Some(Arc::clone(count))))
    }
}

/// One connection counted against its listener's limit, for as long as the
/// connection lives (it travels with it to its home shard and into its
/// `Connection`); dropping it frees the place.
#[derive(Debug, Default)]
pub struct Admission(Option<Arc<OpenCount>>);

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(count) = &self.0 {
            let before = count.open.fetch_sub(1, Ordering::AcqRel);
            assert!(before > 0, "an admission is released once");
        }
    }
}

/// One listening socket of a shard.
#[derive(Debug)]
pub struct Listener {
    /// The socket.
    pub socket: TcpListener,
    /// What its connections speak.
    pub transport: TransportKind,
    /// The listener's limit, shared with its sockets on the other shards.
    pub limit: ConnectionLimit,
}

/// The listeners of every shard: `per_shard[s]` holds one listener per address.
pub struct BoundListeners {
    /// The addresses actually bound (port 0 resolved), in configuration order.
    pub local_addrs: Vec<SocketAddr>,
    /// Each shard's own listeners.
    pub per_shard: Vec<Vec<Listener>>,
}

/// Binds every address once per shard. With port 0 the first socket picks the
/// port and the others bind that same port.
pub fn bind_all(specs: &[ListenSpec], shards: usize) -> Result<BoundListeners, BindError> {
    let mut per_shard: Vec<Vec<Listener>> = (0..shards).map(|_| Vec::new()).collect();
    let mut local_addrs = Vec::with_capacity(specs.len());
    for spec in specs {
        let address = spec.address;
        let limit = ConnectionLimit::new(spec.max_connections);
        let first = bind_one(address).map_err(|error| BindError { address, error })?;
        let resolved = first
            .local_addr()
            .map_err(|error| BindError { address, error })?;
        local_addrs.push(resolved);
        per_shard[0].push(Listener {
            socket: first,
            transport: spec.transport.clone(),
            limit: limit.clone(),
        });
        for listeners in per_shard.iter_mut().skip(1) {
            listeners.push(Listener {
                socket: bind_one(resolved).map_err(|error| BindError { address, error })?,
                transport: spec.transport.clone(),
                limit: limit.clone(),
            });
        }
    }
    Ok(BoundListeners {
        local_addrs,
        per_shard,
    })
}

fn bind_one(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(address))?;
    socket.listen(limits::LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// A connection accepted by a listener.
pub struct Accepted {
    /// The connection's socket.
    pub socket: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    /// What the listener's connections speak.
    pub transport: TransportKind,
    /// The listener's limit, which the connection is yet to be admitted by.
    pub limit: ConnectionLimit,
}

/// What one accept turn over a shard's listeners found.
pub struct AcceptTurn {
    /// Connections accepted.
    pub accepted: Vec<Accepted>,
    /// OS errors other than "nothing pending" (e.g. out of file descriptors).
    pub errors: Vec<io::Error>,
}

/// Accepts up to `limits::ACCEPT_BATCH_MAX` pending connections per listener.
pub fn accept_turn(listeners: &[Listener]) -> AcceptTurn {
    let mut turn = AcceptTurn {
        accepted: Vec::new(),
        errors: Vec::new(),
    };
    for listener in listeners {
        for _ in 0..limits::ACCEPT_BATCH_MAX {
            match listener.socket.accept() {
                Ok((socket, peer)) => turn.accepted.push(Accepted {
                    socket,
                    peer,
                    transport: listener.transport.clone(),
                    limit: listener.limit.clone(),
                }),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    turn.errors.push(error);
                    break;
                }
            }
        }
    }
    turn
}

/// The pause of an accept loop that found nothing pending.
pub fn idle_poll() -> Duration {
    Duration::from_millis(limits::ACCEPT_IDLE_POLL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_on(address: SocketAddr) -> ListenSpec {
        ListenSpec {
            address,
            transport: TransportKind::Tcp,
            max_connections: None,
        }
    }

    fn loopback_any_port() -> ListenSpec {
        tcp_on("127.0.0.1:0".parse().unwrap())
    }

    #[test]
    fn port_zero_binds_one_port_on_every_shard() {
        let bound = bind_all(&[loopback_any_port()], 3).unwrap();
        let port = bound.local_addrs[0].port();
        assert_ne!(port, 0);
        for listeners in &bound.per_shard {
            assert_eq!(listeners[0].socket.local_addr().unwrap().port(), port);
        }
    }

    #[test]
    fn address_in_use_by_a_plain_socket_is_named_in_the_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let error = match bind_all(&[tcp_on(address)], 1) {
            Err(error) => error,
            Ok(_) => panic!("binding a taken address succeeded"),
        };
        assert!(error.to_string().contains(&address.to_string()), "{error}");
    }

    #[test]
    fn a_limit_admits_its_maximum_and_frees_a_place_when_a_connection_ends() {
        let limit = ConnectionLimit::new(Some(2));
        let first = limit.admit().expect("the first is admitted");
        let _second = limit.admit().expect("the second is admitted");
        assert!(limit.admit().is_none(), "the third is over the limit");
        drop(first);
        assert!(limit.admit().is_some(), "a place was freed");
    }

    #[test]
    fn a_limit_holds_across_threads_as_across_shards() {
        let limit = ConnectionLimit::new(Some(100));
        let admitted: Vec<Vec<Admission>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| (0..50).filter_map(|_| limit.admit()).collect()))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(admitted.iter().map(Vec::len).sum::<usize>(), 100);
        drop(admitted);
        let again: Vec<Admission> = (0..100).filter_map(|_| limit.admit()).collect();
        assert_eq!(again.len(), 100, "every place came back");
    }

    #[test]
    fn no_limit_admits_everyone() {
        let limit = ConnectionLimit::new(None);
        let admitted: Vec<Admission> = (0..1000).filter_map(|_| limit.admit()).collect();
        assert_eq!(admitted.len(), 1000);
    }

    #[test]
    fn accept_turn_returns_pending_connections_and_then_nothing() {
        let bound = bind_all(&[loopback_any_port()], 1).unwrap();
        let _client = std::net::TcpStream::connect(bound.local_addrs[0]).unwrap();
        let mut accepted = Vec::new();
        while accepted.is_empty() {
            accepted = accept_turn(&bound.per_shard[0]).accepted;
        }
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].transport, TransportKind::Tcp);
        assert!(accept_turn(&bound.per_shard[0]).accepted.is_empty());
    }
}
