//! TLS (1.2 and 1.3, rustls with the ring provider): a `rustls::ServerConnection`
//! driven sans-I/O.
//!
//! Wire bytes received go to rustls (`read_tls`, `process_new_packets`) and
//! the plaintext it decrypts is drained into the connection's plaintext
//! buffer at once, so rustls never holds more than one record received.
//! Packets are encoded into a staging buffer of the layer's own and sealed by
//! writing them into rustls and taking its records out (`write_tls`) into the
//! wire buffer, in pieces of at most `limits::TLS_BUFFER_LIMIT_BYTES`, the
//! bound on what rustls buffers. A handshake flight, an alert and the
//! `close_notify` leave the same way. A TLS error (an alert, garbage, a
//! failed certificate check) ends the connection; the alert rustls queued
//! for it is written on the way out, and any plaintext sealed after that is
//! dropped.

use std::io::{Read, Write};

use bytes::{BufMut, BytesMut};
use bytestring::ByteString;
use rustls::ServerConnection;
use shardmq::limits;

use super::tls_config::subject_common_name;
use super::{Transport, TransportError, WireOut};

/// The TLS layer of one connection.
pub struct Tls {
    session: ServerConnection,
    /// The batch encoded for sealing.
    staging: BytesMut,
    /// rustls reported an error: nothing more is read or sealed but the
    /// alert it queued.
    failed: bool,
    /// The `close_notify` was asked for.
    closed: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("handshaking", &self.session.is_handshaking())
            .field("failed", &self.failed)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// A layer over a fresh rustls server state.
    pub fn new(mut session: ServerConnection) -> Tls {
        session.set_buffer_limit(Some(limits::TLS_BUFFER_LIMIT_BYTES));
        Tls {
            session,
            staging: BytesMut::new(),
            failed: false,
            closed: false,
        }
    }

    /// The subject CN of the certificate the client presented and rustls
    /// verified; `None` without one, or when it names no CN.
    pub fn peer_common_name(&self) -> Option<ByteString> {
        let leaf = self.session.peer_certificates()?.first()?;
        subject_common_name(leaf)
    }

    fn fail(
        &mut self,
        error: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> TransportError {
        self.failed = true;
        self.staging.clear();
        TransportError::new("tls", error)
    }

    /// Moves every decrypted byte rustls holds to `plaintext`.
    fn drain_plaintext(
        &mut self,
        pending: usize,
        plaintext: &mut BytesMut,
    ) -> Result<(), TransportError> {
        if pending == 0 {
            return Ok(());
        }
        let start = plaintext.len();
        plaintext.resize(start + pending, 0);
        if let Err(error) = self.session.reader().read_exact(&mut plaintext[start..]) {
            plaintext.truncate(start);
            return Err(self.fail(error));
        }
        Ok(())
    }

    /// Takes every TLS record rustls has to send into `wire`.
    fn take_records(&mut self, wire: &mut WireOut) -> Result<(), TransportError> {
        let mut out = (&mut wire.bytes).writer();
        while self.session.wants_write() {
            // Writing into memory fails only if the process runs out of it.
            self.session
                .write_tls(&mut out)
                .map_err(|error| TransportError::new("tls", error))?;
        }
        Ok(())
    }
}

impl Transport for Tls {
    fn receive(&mut self, wire: &[u8], plaintext: &mut BytesMut) -> Result<(), TransportError> {
        if self.failed {
            return Err(TransportError::new("tls", "the layer failed before"));
        }
        let mut rest = wire;
        while !rest.is_empty() {
            // rustls takes what fits in its buffer of one record; the loop
            // feeds it the rest once that record is processed.
            let taken = match self.session.read_tls(&mut rest) {
                Ok(taken) => taken,
                Err(error) => return Err(self.fail(error)),
            };
            let state = match self.session.process_new_packets() {
                Ok(state) => state,
                Err(error) => return Err(self.fail(error)),
            };
            self.drain_plaintext(state.plaintext_bytes_to_read(), plaintext)?;
            if taken == 0 {
                // rustls wants no more input (after the peer's close_notify):
                // what follows is not TLS this connection can read.
                return Err(self.fail("bytes after the peer's close_notify"));
            }
        }
        Ok(())
    }

    fn plaintext_buffer<'a>(&'a mut self, _wire: &'a mut WireOut) -> &'a mut BytesMut {
        &mut self.staging
    }

    fn seal(&mut self, wire: &mut WireOut) -> Result<(), TransportError> {
        if self.failed || self.closed {
            self.staging.clear();
        }
        let batch = self.staging.split();
        for piece in batch.chunks(limits::TLS_BUFFER_LIMIT_BYTES) {
            let mut piece = piece;
            while !piece.is_empty() {
                let written = match self.session.writer().write(piece) {
                    Ok(written) => written,
                    Err(error) => return Err(self.fail(error)),
                };
                if written == 0 {
                    return Err(self.fail("rustls took no plaintext with its buffer empty"));
                }
                piece = &piece[written..];
                self.take_records(wire)?;
            }
        }
        // Give the staging buffer its allocation back for the next batch.
        self.staging = batch;
        self.staging.clear();
        self.take_records(wire)
    }

    fn wants_write(&self) -> bool {
        self.session.wants_write()
    }

    fn close(&mut self) {
        if !std::mem::replace(&mut self.closed, true) && !self.failed {
            self.session.send_close_notify();
        }
    }

    fn is_handshaking(&self) -> bool {
        self.session.is_handshaking()
    }

    fn can_park(&self) -> bool {
        // A parked connection keeps its rustls state (keys, and a partial
        // record if the client stopped mid-record: it is not lost, the
        // state moves with the socket); what must not wait is a record to
        // send or plaintext to seal.
        !self.failed
            && !self.session.is_handshaking()
            && !self.session.wants_write()
            && self.staging.is_empty()
    }

    fn name(&self) -> &'static str {
        "tls"
    }
}

#[cfg(test)]
mod tests;
