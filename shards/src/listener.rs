//! Listening sockets: one per configured address on every shard (SO_REUSEPORT),
//! and the per-shard accept loop.
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

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use shardmq::limits;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

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

/// The listeners of every shard: `per_shard[s]` holds one socket per address.
pub struct BoundListeners {
    /// The addresses actually bound (port 0 resolved), in configuration order.
    pub local_addrs: Vec<SocketAddr>,
    /// Each shard's own sockets.
    pub per_shard: Vec<Vec<TcpListener>>,
}

/// Binds every address once per shard. With port 0 the first socket picks the
/// port and the others bind that same port.
pub fn bind_all(addresses: &[SocketAddr], shards: usize) -> Result<BoundListeners, BindError> {
    let mut per_shard: Vec<Vec<TcpListener>> = (0..shards).map(|_| Vec::new()).collect();
    let mut local_addrs = Vec::with_capacity(addresses.len());
    for &address in addresses {
        let first = bind_one(address).map_err(|error| BindError { address, error })?;
        let resolved = first
            .local_addr()
            .map_err(|error| BindError { address, error })?;
        local_addrs.push(resolved);
        per_shard[0].push(first);
        for listeners in per_shard.iter_mut().skip(1) {
            listeners.push(bind_one(resolved).map_err(|error| BindError { address, error })?);
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

/// What one accept turn over a shard's listeners found.
pub struct AcceptTurn {
    /// Connections accepted, with their peer addresses.
    pub accepted: Vec<(TcpStream, SocketAddr)>,
    /// OS errors other than "nothing pending" (e.g. out of file descriptors).
    pub errors: Vec<io::Error>,
}

/// Accepts up to `limits::ACCEPT_BATCH_MAX` pending connections per listener.
pub fn accept_turn(listeners: &[TcpListener]) -> AcceptTurn {
    let mut turn = AcceptTurn {
        accepted: Vec::new(),
        errors: Vec::new(),
    };
    for listener in listeners {
        for _ in 0..limits::ACCEPT_BATCH_MAX {
            match listener.accept() {
                Ok((stream, peer)) => turn.accepted.push((stream, peer)),
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

    #[test]
    fn port_zero_binds_one_port_on_every_shard() {
        let bound = bind_all(&["127.0.0.1:0".parse().unwrap()], 3).unwrap();
        let port = bound.local_addrs[0].port();
        assert_ne!(port, 0);
        for listeners in &bound.per_shard {
            assert_eq!(listeners[0].local_addr().unwrap().port(), port);
        }
    }

    #[test]
    fn address_in_use_by_a_plain_socket_is_named_in_the_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let error = match bind_all(&[address], 1) {
            Err(error) => error,
            Ok(_) => panic!("binding a taken address succeeded"),
        };
        assert!(error.to_string().contains(&address.to_string()), "{error}");
    }

    #[test]
    fn accept_turn_returns_pending_connections_and_then_nothing() {
        let bound = bind_all(&["127.0.0.1:0".parse().unwrap()], 1).unwrap();
        let _client = std::net::TcpStream::connect(bound.local_addrs[0]).unwrap();
        let mut accepted = 0;
        while accepted == 0 {
            accepted += accept_turn(&bound.per_shard[0]).accepted.len();
        }
        assert_eq!(accepted, 1);
        assert!(accept_turn(&bound.per_shard[0]).accepted.is_empty());
    }
}
