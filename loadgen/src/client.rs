//! The task behind one connection: set up, wait for the start, then one loop
//! that reads whatever arrived, lets the role answer it and send what is due,
//! and flushes everything queued in one write.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;
use glommio::sync::Semaphore;
use shardmq::protocol::{Disconnect, DisconnectProperties, Packet, ReasonCode};

use crate::connection::{Connection, Incoming};
use crate::context::ShardContext;
use crate::error::ProtocolViolation;
use crate::plan::ClientPlan;
use crate::publisher::Publisher;
use crate::setup::establish;
use crate::subscriber::Subscriber;

/// What a connection does, with the state the shard reads at the end.
#[derive(Debug)]
pub enum Role {
    /// Publishes.
    Publisher(Publisher),
    /// Receives.
    Subscriber(Subscriber),
    /// Holds the connection open.
    Idle,
}

/// The gates a client passes on its way: `ready` gets one unit once setup
/// succeeded or failed; `start` is opened by the shard when the run begins.
pub struct Gates {
    /// Signalled once per client after setup.
    pub ready: Rc<Semaphore>,
    /// Acquired (one unit) before the run loop.
    pub start: Rc<Semaphore>,
}

/// Why the run loop ended.
enum End {
    /// The role is done (a publisher that sent and had everything acknowledged).
    Finished,
    /// The connection broke or the broker misbehaved; already counted.
    Failed,
}

/// Sets up the connection of `plan` no earlier than `not_before_ns`, then runs it.
pub async fn run(
    ctx: Rc<ShardContext>,
    plan: ClientPlan,
    not_before_ns: u64,
    role: Rc<RefCell<Role>>,
    gates: Gates,
) {
    let now_ns = ctx.now_ns();
    if not_before_ns > now_ns {
        glommio::timer::sleep(Duration::from_nanos(not_before_ns - now_ns)).await;
    }
    let established = {
        let _permit = ctx.handshakes.acquire_permit(1).await;
        establish(&ctx, &plan).await
    };
    gates.ready.signal(1);
    let (mut connection, granted) = match established {
        Ok(established) => established,
        Err(failure) => {
            failure.count(&mut ctx.stats.borrow_mut().errors);
            finish_role(&ctx, &role);
            return;
        }
    };
    {
        let mut stats = ctx.stats.borrow_mut();
        stats.connections_up += 1;
        stats.connections_established += 1;
    }
    if gates.start.acquire(1).await.is_err() {
        return;
    }
    let now_ns = ctx.now_ns();
    let start_ns = ctx.start_ns.get();
    if start_ns > now_ns {
        glommio::timer::sleep(Duration::from_nanos(start_ns - now_ns)).await;
    }
    if let Role::Publisher(publisher) = &mut *role.borrow_mut() {
        publisher.start(&ctx, granted.receive_maximum);
    }
    let end = run_loop(&ctx, &mut connection, &role).await;
    ctx.stats.borrow_mut().connections_up -= 1;
    finish_role(&ctx, &role);
    if matches!(end, End::Finished) {
        connection.queue(&Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::Success,
            properties: DisconnectProperties::default(),
        }));
        // The run does not depend on the broker reading this.
        let _ = connection.close().await;
    }
}

fn finish_role(ctx: &ShardContext, role: &RefCell<Role>) {
    if let Role::Publisher(publisher) = &mut *role.borrow_mut() {
        publisher.finish(ctx);
    }
}

enum Wake {
    Read(std::io::Result<usize>),
    Timer,
}

async fn run_loop(ctx: &ShardContext, connection: &mut Connection, role: &RefCell<Role>) -> End {
    let keep_alive_ns = u64::from(ctx.scenario.keep_alive_s) * 1_000_000_000;
    let mut last_write_ns = ctx.now_ns();
    loop {
        let now_ns = ctx.now_ns();
        let role_deadline_ns = match &*role.borrow() {
            Role::Publisher(publisher) => publisher.next_deadline_ns(ctx, now_ns),
            _ => None,
        };
        let ping_deadline_ns = (keep_alive_ns > 0).then_some(last_write_ns + keep_alive_ns);
        let deadline_ns = match (role_deadline_ns, ping_deadline_ns) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let wake = match deadline_ns {
            Some(deadline_ns) => {
                let wait = Duration::from_nanos(deadline_ns.saturating_sub(now_ns));
                future::or(async { Wake::Read(connection.read_more().await) }, async {
                    // A timer already due is ready without yielding; a
                    // publisher that is behind must still let the shard's
                    // other tasks run between its batches.
                    if wait.is_zero() {
                        future::yield_now().await;
                    } else {
                        glommio::timer::sleep(wait).await;
                    }
                    Wake::Timer
                })
                .await
            }
            None => Wake::Read(connection.read_more().await),
        };
        let now_ns = ctx.now_ns();
        if let Wake::Read(result) = wake {
            if !matches!(result, Ok(read) if read > 0) {
                ctx.stats.borrow_mut().errors.connection_lost += 1;
                return End::Failed;
            }
            if let Err(end) = handle_packets(ctx, connection, role, now_ns) {
                return end;
            }
        }
        let finished = match &mut *role.borrow_mut() {
            Role::Publisher(publisher) => {
                publisher.send_due(ctx, connection, now_ns);
                publisher.is_finished()
            }
            _ => false,
        };
        if finished {
            return match connection.flush().await {
                Ok(()) => End::Finished,
                Err(_) => End::Failed,
            };
        }
        if keep_alive_ns > 0
            && connection.queued_len() == 0
            && now_ns >= last_write_ns + keep_alive_ns
        {
            connection.queue(&Packet::PingReq);
        }
        if connection.wants_flush() {
            if connection.flush().await.is_err() {
                ctx.stats.borrow_mut().errors.connection_lost += 1;
                return End::Failed;
            }
            last_write_ns = now_ns;
        }
    }
}

fn handle_packets(
    ctx: &ShardContext,
    connection: &mut Connection,
    role: &RefCell<Role>,
    now_ns: u64,
) -> Result<(), End> {
    let mut role = role.borrow_mut();
    loop {
        let packet = match connection.next_incoming() {
            Ok(Some(Incoming::Publish(publish))) => {
                let handled = match &mut *role {
                    Role::Subscriber(subscriber) => {
                        subscriber.on_publish(ctx, connection, publish, now_ns)
                    }
                    Role::Publisher(_) | Role::Idle => Err(ProtocolViolation),
                };
                if handled.is_err() {
                    ctx.stats.borrow_mut().errors.protocol_errors += 1;
                }
                continue;
            }
            Ok(Some(Incoming::Packet(packet))) => packet,
            Ok(None) => return Ok(()),
            Err(_) => {
                ctx.stats.borrow_mut().errors.protocol_errors += 1;
                return Err(End::Failed);
            }
        };
        if let Packet::Disconnect(disconnect) = packet {
            ctx.stats
                .borrow_mut()
                .errors
                .disconnected_by_broker
                .add(disconnect.reason_code);
            return Err(End::Failed);
        }
        let handled = match &mut *role {
            Role::Publisher(publisher) => publisher.on_packet(ctx, connection, packet, now_ns),
            Role::Subscriber(subscriber) => subscriber.on_packet(ctx, connection, packet, now_ns),
            Role::Idle => match packet {
                Packet::PingResp => Ok(()),
                _ => Err(ProtocolViolation),
            },
        };
        if handled.is_err() {
            ctx.stats.borrow_mut().errors.protocol_errors += 1;
        }
    }
}
