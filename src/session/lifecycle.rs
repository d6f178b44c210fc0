//! How a connection ends and what follows: DISCONNECT, keep-alive timeout,
//! protocol errors, takeover and lost connections; then the will (with its delay)
//! and the session expiry.

use std::sync::Arc;

use super::message::Message;
use super::{Action, Change, Session, TimerKind, Violation};
use crate::protocol::{Disconnect, DisconnectProperties, Packet, ReasonCode};

impl Session {
    /// The connection ended without a DISCONNECT from the client (socket closed,
    /// read error, malformed packet): the will is published (after its delay) and
    /// the session expiry starts. Does nothing if the session is not connected,
    /// e.g. after it emitted [`Action::Close`] itself.
    pub fn connection_lost(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        if self.connection.is_some() {
            self.end_connection(true, now_ms, actions);
        }
    }

    /// Another connection with the same client id arrived: the actions (DISCONNECT
    /// 0x8E under v5, then Close) are for the *old* connection. The will is
    /// published now when it has no delay; a delayed will is left to
    /// [`Session::connect`], which cancels it on resume and publishes it on Clean
    /// Start. No timer is armed: `connect` follows at once.
    pub fn taken_over(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        if self.connection.is_none() {
            return;
        }
        self.send_disconnect(ReasonCode::SessionTakenOver, actions);
        actions.push(Action::Close {
            reason_code: ReasonCode::SessionTakenOver,
            violation: None,
        });
        self.detach_connection();
        actions.push(Action::CancelTimer(TimerKind::KeepAlive));
        let will_delay_s = self.will_delay_s();
        if will_delay_s == 0 {
            self.publish_will(now_ms, actions);
        } else {
            self.state.will_at_ms = Some(now_ms + u64::from(will_delay_s) * 1000);
        }
    }

    /// The server ends the connection: a packet failed to decode (pass the
    /// codec error's reason code, e.g. 0x81 Malformed Packet or 0x95 Packet too
    /// large), the server shuts down (0x8B), an administrator kicks the client
    /// (0x98)... Sends DISCONNECT with `reason_code` (v5 only), then Close; the will
    /// is published and the session expiry starts. Does nothing if not connected.
    pub fn close(&mut self, reason_code: ReasonCode, now_ms: u64, actions: &mut Vec<Action>) {
        if self.connection.is_some() {
            self.end_with(reason_code, None, now_ms, actions);
        }
    }

    /// The client broke a rule: DISCONNECT with its reason code (v5 only, 3.x
    /// just closes), Close naming the rule, and the will.
    pub(crate) fn protocol_violation(
        &mut self,
        violation: Violation,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        self.end_with(violation.reason_code(), Some(violation), now_ms, actions);
    }

    /// DISCONNECT with `reason_code` (v5 only), Close, and the will.
    fn end_with(
        &mut self,
        reason_code: ReasonCode,
        violation: Option<Violation>,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        self.send_disconnect(reason_code, actions);
        actions.push(Action::Close {
            reason_code,
            violation,
        });
        self.end_connection(true, now_ms, actions);
    }

    /// DISCONNECT from the client: the will is discarded only on 0x00 (Normal
    /// disconnection) [MQTT-3.1.2-10], which is what every 3.x DISCONNECT means; any
    /// other v5 code, 0x04 (Disconnect with Will Message) first of all, publishes it.
    /// v5 may change the Session Expiry Interval, but not from 0 (3.14.2.2.2).
    pub(crate) fn handle_disconnect(
        &mut self,
        disconnect: Disconnect,
        now_ms: u64,
        actions: &mut Vec<Action>,
    ) {
        if let Some(interval_s) = disconnect.properties.session_expiry_interval_s {
            if self.state.session_expiry_interval_s == 0 && interval_s != 0 {
                let violation = Violation::SessionExpiryIntervalFromZero;
                self.protocol_violation(violation, now_ms, actions);
                return;
            }
            self.state.session_expiry_interval_s =
                interval_s.min(self.config.session_expiry_interval_max_s);
        }
        let publish_will =
            self.state.protocol_version.is_v5() && disconnect.reason_code != ReasonCode::Success;
        actions.push(Action::Close {
            reason_code: disconnect.reason_code,
            violation: None,
        });
        self.end_connection(publish_will, now_ms, actions);
    }

    /// The KeepAlive timer fired: close with 0x8D if no packet arrived within 1.5
    /// times the Keep Alive, else re-arm for the new deadline.
    pub(crate) fn keep_alive_timer(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        let Some(connection) = &self.connection else {
            return;
        };
        if connection.keep_alive_timeout_ms == 0 {
            return;
        }
        let deadline_ms = connection.last_packet_ms + connection.keep_alive_timeout_ms;
        if now_ms < deadline_ms {
            actions.push(Action::ArmTimer {
                timer: TimerKind::KeepAlive,
                at_ms: deadline_ms,
            });
            return;
        }
        self.protocol_violation(Violation::KeepAliveTimeout, now_ms, actions);
    }

    /// The WillDelay timer fired: publish the will if it is due.
    pub(crate) fn will_delay_timer(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        match self.state.will_at_ms {
            Some(at_ms) if self.connection.is_none() && now_ms >= at_ms => {
                let had_will = self.state.will.is_some();
                self.publish_will(now_ms, actions);
                if had_will {
                    self.journal(|| Change::WillPublished, actions);
                }
            }
            Some(at_ms) if self.connection.is_none() => actions.push(Action::ArmTimer {
                timer: TimerKind::WillDelay,
                at_ms,
            }),
            _ => {}
        }
    }

    /// The SessionExpiry timer fired: end the session if it is due.
    pub(crate) fn session_expiry_timer(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        match self.state.expires_at_ms {
            Some(at_ms) if self.connection.is_none() && now_ms >= at_ms => {
                self.end_session(now_ms, actions);
            }
            Some(at_ms) if self.connection.is_none() => actions.push(Action::ArmTimer {
                timer: TimerKind::SessionExpiry,
                at_ms,
            }),
            _ => {}
        }
    }

    fn send_disconnect(&self, reason_code: ReasonCode, actions: &mut Vec<Action>) {
        if self.state.protocol_version.is_v5() {
            actions.push(Action::Send(Packet::Disconnect(Disconnect {
                reason_code,
                properties: DisconnectProperties::default(),
            })));
        }
    }

    /// Detaches the connection, then handles the will and the session expiry. QoS 0
    /// messages still queued (behind QoS 1/2 waiting for the inflight window) are
    /// dropped (and counted) unless QoS 0 is queued for offline clients.
    fn end_connection(&mut self, publish_will: bool, now_ms: u64, actions: &mut Vec<Action>) {
        self.detach_connection();
        if !self.config.queue_qos0 {
            let removed = self.state.queue.remove_qos0() as u64;
            self.count_dropped(removed, |stats| &mut stats.dropped_qos0_offline);
        }
        // What a reading client was sent unbounded now waits for an absent one.
        self.state
            .queue
            .enforce(&self.config, &mut self.state.stats, &self.meters.drop_tally);
        actions.push(Action::CancelTimer(TimerKind::KeepAlive));
        if !publish_will {
            self.state.will = None;
        }
        let session_expiry_interval_s = self.state.session_expiry_interval_s;
        if session_expiry_interval_s == 0 {
            self.end_session(now_ms, actions);
            return;
        }
        let will_delay_s = self.will_delay_s();
        if will_delay_s == 0 {
            self.publish_will(now_ms, actions);
        } else if will_delay_s < session_expiry_interval_s {
            let at_ms = now_ms + u64::from(will_delay_s) * 1000;
            self.state.will_at_ms = Some(at_ms);
            actions.push(Action::ArmTimer {
                timer: TimerKind::WillDelay,
                at_ms,
            });
        } else {
            // The session ends first; end_session publishes the will then.
            self.state.will_at_ms = Some(u64::MAX);
        }
        if session_expiry_interval_s != u32::MAX {
            let at_ms = now_ms + u64::from(session_expiry_interval_s) * 1000;
            self.state.expires_at_ms = Some(at_ms);
            actions.push(Action::ArmTimer {
                timer: TimerKind::SessionExpiry,
                at_ms,
            });
        }
        self.journal(|| Change::Disconnected, actions);
    }

    /// Forgets the connection; the flows left in flight and the queue stop
    /// counting against the shard's budgets until the client is back.
    fn detach_connection(&mut self) {
        self.connection = None;
        self.state.inflight.detach();
        self.state.queue.detach();
    }

    /// The runtime saw the connected client make no progress (nothing written
    /// to its socket) for its stall timeout while messages waited for it: a
    /// subscriber that is stuck, not one that is slow for a moment. Its queue
    /// leaves the shard's delivery budget, so that it holds neither the
    /// publishers nor the other subscribers hostage, and keeps from now on to
    /// the bounds an offline session keeps to (`max_queued_messages`,
    /// `max_queued_bytes`, `queue_full_policy`): what is past them now is
    /// dropped and counted as a full queue drops it. True when the session was
    /// connected and not already stalled.
    pub fn subscriber_stalled(&mut self) -> bool {
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        if connection.stalled {
            return false;
        }
        connection.stalled = true;
        self.state.queue.detach();
        self.state
            .queue
            .enforce(&self.config, &mut self.state.stats, &self.meters.drop_tally);
        true
    }

    /// A stalled client made progress again: its queue counts against the
    /// shard's delivery budget again, and is no longer held to its bounds.
    pub fn subscriber_progressed(&mut self) {
        if let Some(connection) = self.connection.as_mut() {
            if connection.stalled {
                connection.stalled = false;
                self.state.queue.attach();
            }
        }
    }

    /// True while messages wait in the queue for a connected client that is
    /// not stalled: what counts against the shard's delivery budget.
    pub fn holds_backlog(&self) -> bool {
        self.state.queue.is_counted() && !self.state.queue.is_empty()
    }

    /// True while the client is connected and reported stalled.
    pub fn is_stalled(&self) -> bool {
        self.connection
            .as_ref()
            .is_some_and(|connection| connection.stalled)
    }

    /// The session is over: publish a will still pending, then [`Action::EndSession`].
    fn end_session(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        if self.state.will_at_ms.is_some() {
            actions.push(Action::CancelTimer(TimerKind::WillDelay));
        }
        self.publish_will(now_ms, actions);
        self.state.expires_at_ms = None;
        self.journal(|| Change::Ended, actions);
        actions.push(Action::EndSession);
    }

    /// The Will Delay Interval of the stored will, seconds (0 under 3.x or without one).
    fn will_delay_s(&self) -> u32 {
        self.state
            .will
            .as_ref()
            .and_then(|will| will.properties.will_delay_interval_s)
            .unwrap_or(0)
    }

    /// Publishes the stored will, if any, and forgets it.
    pub(crate) fn publish_will(&mut self, now_ms: u64, actions: &mut Vec<Action>) {
        self.state.will_at_ms = None;
        if let Some(will) = self.state.will.take() {
            let message = Message::from_will(*will, self.state.client_id.clone(), now_ms);
            actions.push(Action::Publish {
                message: Arc::new(message),
                inbound_qos2: None,
            });
        }
    }
}
