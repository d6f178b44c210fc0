//! Setting a connection up: TCP connect, the transport's handshakes (TLS,
//! WebSocket upgrade), CONNECT/CONNACK and, for subscribers,
//! SUBSCRIBE/SUBACK, bounded by a timeout.

use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use futures_lite::future;
use shardmq::protocol::{
    Connect, ConnectProperties, Packet, QoS, ReasonCode, Subscribe, SubscribeProperties,
    SubscriptionOptions,
};

use crate::connection::Connection;
use crate::context::ShardContext;
use crate::limits::{HANDSHAKE_TIMEOUT_S, INFLIGHT_MAX, MAXIMUM_PACKET_SIZE};
use crate::plan::{ClientPlan, RoleKind};
use crate::stats::ErrorCounts;

/// Why a connection could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupFailure {
    /// TCP connect failed or the socket closed before CONNACK/SUBACK.
    Connect,
    /// The TLS handshake or the WebSocket upgrade failed on what the broker
    /// sent (a certificate not trusted, an answer other than 101).
    Transport,
    /// No answer within the handshake timeout.
    Timeout,
    /// CONNACK refused the connection.
    Refused(ReasonCode),
    /// SUBACK refused the subscription.
    SubscribeRefused(ReasonCode),
    /// The broker answered with something else.
    Protocol,
}

impl SetupFailure {
    /// Counts this failure.
    pub fn count(self, errors: &mut ErrorCounts) {
        match self {
            SetupFailure::Connect => errors.connect_failed += 1,
            SetupFailure::Transport => errors.transport_failed += 1,
            SetupFailure::Timeout => errors.handshake_timeouts += 1,
            SetupFailure::Refused(code) => errors.connack_refused.add(code),
            SetupFailure::SubscribeRefused(code) => errors.subscribe_refused.add(code),
            SetupFailure::Protocol => errors.protocol_errors += 1,
        }
    }
}

/// What the broker granted in CONNACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Granted {
    /// The broker's Receive Maximum (65535 when it sent none).
    pub receive_maximum: u16,
    /// The highest QoS the broker accepts.
    pub maximum_qos: QoS,
}

/// Opens and sets up the connection of `plan`, within the handshake timeout.
pub async fn establish(
    ctx: &ShardContext,
    plan: &ClientPlan,
) -> Result<(Connection, Granted), SetupFailure> {
    let timeout = async {
        glommio::timer::sleep(Duration::from_secs(HANDSHAKE_TIMEOUT_S)).await;
        Err(SetupFailure::Timeout)
    };
    future::or(handshake(ctx, plan), timeout).await
}

async fn handshake(
    ctx: &ShardContext,
    plan: &ClientPlan,
) -> Result<(Connection, Granted), SetupFailure> {
    let scenario = &ctx.scenario;
    let mut connection = Connection::open(
        scenario.broker,
        plan.bind,
        scenario.protocol_version,
        &ctx.connector,
    )
    .map_err(|_| SetupFailure::Connect)?;
    connection
        .start()
        .await
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::InvalidData => SetupFailure::Transport,
            _ => SetupFailure::Connect,
        })?;
    if connection.tls_resumed() == Some(true) {
        ctx.stats.borrow_mut().tls_resumed += 1;
    }
    connection.queue(&Packet::Connect(Box::new(connect_packet(ctx, plan))));
    connection
        .flush()
        .await
        .map_err(|_| SetupFailure::Connect)?;
    // The write completes once TCP is connected and the transport started,
    // so this times CONNECT to CONNACK.
    let sent_ns = ctx.now_ns();
    let granted = match read_packet(&mut connection).await? {
        Packet::ConnAck(connack) if connack.reason_code.is_error() => {
            return Err(SetupFailure::Refused(connack.reason_code))
        }
        Packet::ConnAck(connack) => Granted {
            receive_maximum: connack.properties.receive_maximum.unwrap_or(INFLIGHT_MAX),
            maximum_qos: connack.properties.maximum_qos.unwrap_or(QoS::ExactlyOnce),
        },
        _ => return Err(SetupFailure::Protocol),
    };
    let connack_ns = ctx.now_ns() - sent_ns;
    {
        let mut stats = ctx.stats.borrow_mut();
        stats.latencies.connack.record_ns(connack_ns);
        stats.interval_connack.record_ns(connack_ns);
    }
    // Publishing above the broker's Maximum QoS would only get the connection
    // closed (3.2.2.3.4); count it as the refusal it is.
    if plan.role == RoleKind::Publisher && scenario.qos > granted.maximum_qos {
        return Err(SetupFailure::Refused(ReasonCode::QosNotSupported));
    }
    if plan.role == RoleKind::Subscriber {
        subscribe(ctx, plan, &mut connection).await?;
    }
    Ok((connection, granted))
}

fn connect_packet(ctx: &ShardContext, plan: &ClientPlan) -> Connect {
    let scenario = &ctx.scenario;
    Connect {
        protocol_version: scenario.protocol_version,
        clean_start: scenario.session_expiry_interval_s == 0,
        keep_alive_s: scenario.keep_alive_s,
        client_id: ByteString::from(plan.client_id.as_str()),
        will: None,
        username: scenario.username.as_deref().map(ByteString::from),
        password: scenario
            .password
            .as_ref()
            .map(|password| Bytes::copy_from_slice(password.as_bytes())),
        properties: ConnectProperties {
            receive_maximum: Some(INFLIGHT_MAX),
            maximum_packet_size: Some(MAXIMUM_PACKET_SIZE),
            session_expiry_interval_s: (scenario.session_expiry_interval_s > 0)
                .then_some(scenario.session_expiry_interval_s),
            ..ConnectProperties::default()
        },
    }
}

async fn subscribe(
    ctx: &ShardContext,
    plan: &ClientPlan,
    connection: &mut Connection,
) -> Result<(), SetupFailure> {
    const SUBSCRIBE_PACKET_ID: u16 = 1;
    let options = SubscriptionOptions {
        qos: ctx.scenario.qos,
        ..SubscriptionOptions::default()
    };
    connection.queue(&Packet::Subscribe(Subscribe {
        packet_id: SUBSCRIBE_PACKET_ID,
        properties: SubscribeProperties::default(),
        filters: vec![(ByteString::from(plan.topic.as_str()), options)],
    }));
    connection
        .flush()
        .await
        .map_err(|_| SetupFailure::Connect)?;
    loop {
        match read_packet(connection).await? {
            Packet::SubAck(suback) if suback.packet_id == SUBSCRIBE_PACKET_ID => {
                return match suback.reason_codes.first() {
                    Some(code) if !code.is_error() => Ok(()),
                    Some(&code) => Err(SetupFailure::SubscribeRefused(code)),
                    None => Err(SetupFailure::Protocol),
                };
            }
            // Retained messages may arrive before the SUBACK; nothing was
            // published yet, so they are not the run's.
            Packet::Publish(_) | Packet::PingResp => {}
            _ => return Err(SetupFailure::Protocol),
        }
    }
}

async fn read_packet(connection: &mut Connection) -> Result<Packet, SetupFailure> {
    loop {
        match connection.next_packet() {
            Ok(Some(packet)) => return Ok(packet),
            Ok(None) => {}
            Err(_) => return Err(SetupFailure::Protocol),
        }
        match connection.read_more().await {
            Ok(0) | Err(_) => return Err(SetupFailure::Connect),
            Ok(_) => {}
        }
    }
}
