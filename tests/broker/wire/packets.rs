//! The packets the tests send and read, encoded and parsed by hand from the
//! MQTT 3.1.1 and 5.0 texts (the section of each rule in its comment), never
//! by shardmq's codec. Only what the tests use is here; anything else the
//! broker sends is reported as an unexpected packet.

use super::{packet, read_variable_byte_integer, string, variable_byte_integer};

/// Protocol level of MQTT 3.1 (3.1, "MQIsdp").
pub const V3_1: u8 = 3;
/// Protocol level of MQTT 3.1.1 (3.1.2.2).
pub const V3_1_1: u8 = 4;
/// Protocol level of MQTT 5.0 (3.1.2.2).
pub const V5: u8 = 5;

/// Property identifiers used here (5.0, 2.2.2.2, table 2-4).
pub mod property {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
}

/// Reason codes the tests expect (5.0, 2.4, table 2-6), and the 3.1 and
/// 3.1.1 CONNACK return codes (3.2.2.3).
pub mod reason {
    pub const SUCCESS: u8 = 0x00;
    pub const RETURN_UNACCEPTABLE_PROTOCOL_VERSION: u8 = 0x01;
    pub const RETURN_IDENTIFIER_REJECTED: u8 = 0x02;
    pub const MALFORMED_PACKET: u8 = 0x81;
    pub const PROTOCOL_ERROR: u8 = 0x82;
    pub const BAD_AUTHENTICATION_METHOD: u8 = 0x8C;
    pub const RETURN_BAD_USER_NAME_OR_PASSWORD: u8 = 0x04;
    pub const RETURN_NOT_AUTHORIZED: u8 = 0x05;
    pub const BAD_USER_NAME_OR_PASSWORD: u8 = 0x86;
    pub const NOT_AUTHORIZED: u8 = 0x87;
    pub const FAILURE: u8 = 0x80;
    pub const SERVER_SHUTTING_DOWN: u8 = 0x8B;
    pub const KEEP_ALIVE_TIMEOUT: u8 = 0x8D;
    pub const SESSION_TAKEN_OVER: u8 = 0x8E;
    pub const RECEIVE_MAXIMUM_EXCEEDED: u8 = 0x93;
    pub const PACKET_TOO_LARGE: u8 = 0x95;
    pub const PAYLOAD_FORMAT_INVALID: u8 = 0x99;
}

/// How a property's value is encoded (2.2.2.2, table 2-4).
enum Kind {
    Byte,
    TwoByteInteger,
    FourByteInteger,
    VariableByteInteger,
    /// A UTF-8 Encoded String or Binary Data: two bytes of length, then it.
    Bytes,
    StringPair,
}

fn kind(identifier: u8) -> Kind {
    match identifier {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => Kind::Byte,
        0x13 | 0x21 | 0x22 | 0x23 => Kind::TwoByteInteger,
        0x02 | 0x11 | 0x18 | 0x27 => Kind::FourByteInteger,
        0x0B => Kind::VariableByteInteger,
        0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => Kind::Bytes,
        0x26 => Kind::StringPair,
        other => panic!("property identifier {other:#04x} is not in table 2-4"),
    }
}

/// One property's value; its encoding follows from its identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Integer(u32),
    Bytes(Vec<u8>),
    Pair(Vec<u8>, Vec<u8>),
}

/// A 5.0 property list (2.2.2), in the order sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties(pub Vec<(u8, Value)>);

impl Properties {
    /// Adds an integer property (Byte, Two or Four Byte Integer, or Variable
    /// Byte Integer, as its identifier says).
    pub fn with_integer(mut self, identifier: u8, value: u32) -> Properties {
        self.0.push((identifier, Value::Integer(value)));
        self
    }

    /// Adds a UTF-8 Encoded String property.
    pub fn with_text(mut self, identifier: u8, value: &str) -> Properties {
        self.0
            .push((identifier, Value::Bytes(value.as_bytes().to_vec())));
        self
    }

    /// The first value of integer property `identifier`.
    pub fn integer(&self, identifier: u8) -> Option<u32> {
        self.integers(identifier).into_iter().next()
    }

    /// Every value of integer property `identifier`, in order.
    pub fn integers(&self, identifier: u8) -> Vec<u32> {
        self.0
            .iter()
            .filter_map(|(id, value)| match value {
                Value::Integer(integer) if *id == identifier => Some(*integer),
                _ => None,
            })
            .collect()
    }

    /// The value of string property `identifier`.
    pub fn text(&self, identifier: u8) -> Option<String> {
        self.0.iter().find_map(|(id, value)| match value {
            Value::Bytes(bytes) if *id == identifier => {
                Some(String::from_utf8(bytes.clone()).expect("a UTF-8 Encoded String"))
            }
            _ => None,
        })
    }

    /// The property length as a Variable Byte Integer, then each identifier
    /// and value (2.2.2.1, 2.2.2.2).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (identifier, value) in &self.0 {
            body.extend(variable_byte_integer(usize::from(*identifier)));
            match (kind(*identifier), value) {
                (Kind::Byte, Value::Integer(integer)) => {
                    body.push(u8::try_from(*integer).expect("a Byte property fits a byte"))
                }
                (Kind::TwoByteInteger, Value::Integer(integer)) => body.extend(
                    u16::try_from(*integer)
                        .expect("a Two Byte Integer fits")
                        .to_be_bytes(),
                ),
                (Kind::FourByteInteger, Value::Integer(integer)) => {
                    body.extend(integer.to_be_bytes())
                }
                (Kind::VariableByteInteger, Value::Integer(integer)) => {
                    body.extend(variable_byte_integer(*integer as usize))
                }
                (Kind::Bytes, Value::Bytes(bytes)) => body.extend(binary(bytes)),
                (Kind::StringPair, Value::Pair(name, value)) => {
                    body.extend(binary(name));
                    body.extend(binary(value));
                }
                _ => panic!("property {identifier:#04x} given a value of another type"),
            }
        }
        let mut bytes = variable_byte_integer(body.len());
        bytes.extend(body);
        bytes
    }
}

/// Binary Data (1.5.6): two bytes of length, big-endian, then the bytes.
fn binary(bytes: &[u8]) -> Vec<u8> {
    let length = u16::try_from(bytes.len()).expect("binary data the wire can carry");
    let mut encoded = length.to_be_bytes().to_vec();
    encoded.extend_from_slice(bytes);
    encoded
}

/// A will (3.1.2.5 to 3.1.2.7, payload 3.1.3.2 to 3.1.3.4).
#[derive(Clone, Debug)]
pub struct Will {
    pub topic_name: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub properties: Properties,
}

impl Will {
    /// A will on `topic_name` at QoS 1, without RETAIN or properties.
    pub fn new(topic_name: &str, payload: &[u8]) -> Will {
        Will {
            topic_name: topic_name.to_owned(),
            payload: payload.to_vec(),
            qos: 1,
            properties: Properties::default(),
        }
    }
}

/// A CONNECT (3.1).
#[derive(Clone, Debug)]
pub struct Connect {
    pub level: u8,
    pub client_id: String,
    pub clean_start: bool,
    pub keep_alive_s: u16,
    pub properties: Properties,
    pub will: Option<Will>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

impl Connect {
    /// A CONNECT at `level` for `client_id` with Clean Start and no Keep Alive.
    pub fn new(level: u8, client_id: &str) -> Connect {
        Connect {
            level,
            client_id: client_id.to_owned(),
            clean_start: true,
            keep_alive_s: 0,
            properties: Properties::default(),
            will: None,
            username: None,
            password: None,
        }
    }

    /// A 5.0 CONNECT without Clean Start whose session outlives the
    /// connection by `session_expiry_interval_s`.
    pub fn persistent(client_id: &str, session_expiry_interval_s: u32) -> Connect {
        Connect {
            clean_start: false,
            properties: Properties::default()
                .with_integer(property::SESSION_EXPIRY_INTERVAL, session_expiry_interval_s),
            ..Connect::new(V5, client_id)
        }
    }

    /// The packet: 0x10; protocol name ("MQIsdp" at level 3, 3.1; "MQTT"
    /// otherwise, 3.1.2.1), level, Connect Flags (3.1.2.3: bit 1 Clean Start,
    /// bit 2 Will Flag, bits 3-4 Will QoS), Keep Alive (3.1.2.10), under 5.0
    /// the properties (3.1.2.11); then the payload (3.1.3): client id, the
    /// will's properties (5.0), topic and payload, User Name and Password
    /// (flags bits 7 and 6).
    pub fn encode(&self) -> Vec<u8> {
        let mut rest = string(if self.level == V3_1 { "MQIsdp" } else { "MQTT" });
        let mut flags = u8::from(self.clean_start) << 1;
        if let Some(will) = &self.will {
            flags |= 0x04 | will.qos << 3;
        }
        flags |= u8::from(self.username.is_some()) << 7 | u8::from(self.password.is_some()) << 6;
        rest.extend([self.level, flags]);
        rest.extend(self.keep_alive_s.to_be_bytes());
        if self.level == V5 {
            rest.extend(self.properties.encode());
        }
        rest.extend(string(&self.client_id));
        if let Some(will) = &self.will {
            if self.level == V5 {
                rest.extend(will.properties.encode());
            }
            rest.extend(string(&will.topic_name));
            rest.extend(binary(&will.payload));
        }
        if let Some(username) = &self.username {
            rest.extend(string(username));
        }
        if let Some(password) = &self.password {
            rest.extend(binary(password));
        }
        packet(0x10, &rest)
    }
}

/// A PUBLISH (3.3), as sent or as received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: u8,
    pub retain: bool,
    pub topic_name: String,
    pub packet_id: Option<u16>,
    pub properties: Properties,
    pub payload: Vec<u8>,
}

impl Publish {
    /// A PUBLISH of `payload` to `topic_name` at `qos`, with `packet_id`
    /// when `qos` is 1 or 2.
    pub fn new(topic_name: &str, payload: impl Into<Vec<u8>>, qos: u8) -> Publish {
        Publish {
            qos,
            topic_name: topic_name.to_owned(),
            packet_id: (qos > 0).then_some(1),
            payload: payload.into(),
            ..Publish::default()
        }
    }

    /// The packet: 0x30 with DUP in bit 3, QoS in bits 1-2 and RETAIN in bit
    /// 0 (3.3.1); topic name, packet id for QoS 1 and 2 (3.3.2.2), under 5.0
    /// the properties (3.3.2.3), then the payload (3.3.3).
    pub fn encode(&self, level: u8) -> Vec<u8> {
        let first_byte = 0x30 | u8::from(self.dup) << 3 | self.qos << 1 | u8::from(self.retain);
        let mut rest = string(&self.topic_name);
        if let Some(packet_id) = self.packet_id {
            rest.extend(packet_id.to_be_bytes());
        }
        if level == V5 {
            rest.extend(self.properties.encode());
        }
        rest.extend_from_slice(&self.payload);
        packet(first_byte, &rest)
    }
}

/// SUBSCRIBE (3.8): 0x82 (flags 0b0010, 3.8.1), packet id, under 5.0 the
/// properties (3.8.2.1), then each filter and its options byte, the maximum
/// QoS in bits 0-1 (3.8.3.1).
pub fn subscribe(
    level: u8,
    packet_id: u16,
    filters: &[(&str, u8)],
    properties: &Properties,
) -> Vec<u8> {
    let mut rest = packet_id.to_be_bytes().to_vec();
    if level == V5 {
        rest.extend(properties.encode());
    }
    for (topic_filter, qos) in filters {
        rest.extend(string(topic_filter));
        rest.push(*qos);
    }
    packet(0x82, &rest)
}

/// PUBACK (3.4, 0x40), PUBREC (3.5, 0x50), PUBREL (3.6, 0x62: flags 0b0010)
/// or PUBCOMP (3.7, 0x70) with only the packet id: under 5.0 that means
/// reason code 0x00 and no properties (3.4.2.1).
pub fn ack(first_byte: u8, packet_id: u16) -> Vec<u8> {
    packet(first_byte, &packet_id.to_be_bytes())
}

pub const PUBACK: u8 = 0x40;
pub const PUBREC: u8 = 0x50;
pub const PUBREL: u8 = 0x62;
pub const PUBCOMP: u8 = 0x70;

/// PINGREQ (3.12): two bytes.
pub const PINGREQ: [u8; 2] = [0xC0, 0x00];

/// DISCONNECT (3.14) with no Remaining Length: under 5.0, reason code 0x00
/// (Normal disconnection) and no properties (3.14.2.1).
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// The answer of a PUBACK, PUBREC, PUBREL or PUBCOMP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub packet_id: u16,
    pub reason_code: u8,
    pub properties: Properties,
}

/// A CONNACK's fields (3.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub reason_code: u8,
    pub properties: Properties,
}

/// What the broker sent, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(Ack),
    PubRec(Ack),
    PubRel(Ack),
    PubComp(Ack),
    SubAck {
        packet_id: u16,
        reason_codes: Vec<u8>,
    },
    PingResp,
    Disconnect {
        reason_code: u8,
        properties: Properties,
    },
}

/// A cursor over a packet's bytes after its Remaining Length.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, count: usize) -> &[u8] {
        assert!(self.bytes.len() >= count, "packet shorter than its fields");
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        taken
    }

    fn byte(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn two_byte_integer(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }

    fn variable_byte_integer(&mut self) -> usize {
        let (value, length) =
            read_variable_byte_integer(self.bytes).expect("a whole Variable Byte Integer");
        self.take(length);
        value
    }

    /// A UTF-8 Encoded String (1.5.4) or Binary Data (1.5.6).
    fn binary(&mut self) -> Vec<u8> {
        let length = usize::from(self.two_byte_integer());
        self.take(length).to_vec()
    }

    /// A property list (2.2.2).
    fn properties(&mut self) -> Properties {
        let length = self.variable_byte_integer();
        let mut list = Reader {
            bytes: self.take(length),
        };
        let mut properties = Vec::new();
        while !list.bytes.is_empty() {
            let identifier = u8::try_from(list.variable_byte_integer()).unwrap();
            let value = match kind(identifier) {
                Kind::Byte => Value::Integer(u32::from(list.byte())),
                Kind::TwoByteInteger => Value::Integer(u32::from(list.two_byte_integer())),
                Kind::FourByteInteger => {
                    Value::Integer(u32::from_be_bytes(list.take(4).try_into().unwrap()))
                }
                Kind::VariableByteInteger => Value::Integer(list.variable_byte_integer() as u32),
                Kind::Bytes => Value::Bytes(list.binary()),
                Kind::StringPair => Value::Pair(list.binary(), list.binary()),
            };
            properties.push((identifier, value));
        }
        Properties(properties)
    }

    /// 3.3: the flags of the first byte, topic name, packet id at QoS 1 and
    /// 2, under 5.0 properties, and the rest is payload.
    fn publish(&mut self, level: u8, first_byte: u8) -> Publish {
        let qos = first_byte >> 1 & 0x03;
        assert!(qos < 3, "QoS 3 is malformed [MQTT-3.3.1-4]");
        let topic_name = String::from_utf8(self.binary()).expect("a UTF-8 topic name");
        let packet_id = (qos > 0).then(|| self.two_byte_integer());
        let properties = if level == V5 {
            self.properties()
        } else {
            Properties::default()
        };
        Publish {
            dup: first_byte & 0x08 != 0,
            qos,
            retain: first_byte & 0x01 != 0,
            topic_name,
            packet_id,
            properties,
            payload: self.take(self.bytes.len()).to_vec(),
        }
    }

    /// A 5.0 reason code and properties that may be left out at the end of
    /// the packet (3.4.2.1, 3.14.2.1): absent, reason 0x00 and none.
    fn optional_reason_and_properties(&mut self) -> (u8, Properties) {
        let reason_code = if self.bytes.is_empty() {
            0
        } else {
            self.byte()
        };
        let properties = if self.bytes.is_empty() {
            Properties::default()
        } else {
            self.properties()
        };
        (reason_code, properties)
    }
}

impl Received {
    /// Parses a packet of the broker's at `level` from its first byte and
    /// what followed its Remaining Length.
    pub fn parse(level: u8, first_byte: u8, rest: &[u8]) -> Received {
        let mut reader = Reader { bytes: rest };
        let v5 = level == V5;
        let ack = |reader: &mut Reader| {
            let packet_id = reader.two_byte_integer();
            let (reason_code, properties) = if v5 {
                reader.optional_reason_and_properties()
            } else {
                (0, Properties::default())
            };
            Ack {
                packet_id,
                reason_code,
                properties,
            }
        };
        let received = match first_byte {
            // 3.2: Connect Acknowledge Flags (Session Present in bit 0), the
            // reason (return) code, under 5.0 properties.
            0x20 => {
                let flags = reader.byte();
                let reason_code = reader.byte();
                let properties = if v5 {
                    reader.properties()
                } else {
                    Properties::default()
                };
                Received::ConnAck(ConnAck {
                    session_present: flags & 0x01 != 0,
                    reason_code,
                    properties,
                })
            }
            0x30..=0x3F => Received::Publish(reader.publish(level, first_byte)),
            0x40 => Received::PubAck(ack(&mut reader)),
            0x50 => Received::PubRec(ack(&mut reader)),
            0x62 => Received::PubRel(ack(&mut reader)),
            0x70 => Received::PubComp(ack(&mut reader)),
            // 3.9: packet id, under 5.0 properties, a reason code a filter.
            0x90 => {
                let packet_id = reader.two_byte_integer();
                if v5 {
                    reader.properties();
                }
                let reason_codes = reader.take(reader.bytes.len()).to_vec();
                Received::SubAck {
                    packet_id,
                    reason_codes,
                }
            }
            0xD0 => Received::PingResp,
            // 3.14: under 5.0 a reason code and properties, both optional.
            0xE0 => {
                let (reason_code, properties) = if v5 {
                    reader.optional_reason_and_properties()
                } else {
                    (0, Properties::default())
                };
                Received::Disconnect {
                    reason_code,
                    properties,
                }
            }
            other => panic!("unexpected packet {other:#04x} {rest:02x?}"),
        };
        assert!(
            reader.bytes.is_empty(),
            "bytes left over in packet {first_byte:#04x}: {rest:02x?}"
        );
        received
    }
}
