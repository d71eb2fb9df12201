//! Decode and encode errors.
//!
//! Every [`DecodeError`] variant is one kind of violation. Its message names the normative
//! statement of the specification it breaks where there is one (MQTT 5.0 numbering unless the
//! rule exists only in 3.1.1), and [`DecodeError::reason_code`] gives the reason code the
//! server reports it with (in a CONNACK before the connection is accepted, in a DISCONNECT
//! after; MQTT 3.x clients are simply disconnected).

use super::reason::ReasonCode;

/// Why a byte sequence is not an acceptable MQTT packet.
///
/// `packet_type` fields hold the 4-bit control packet type (1 = CONNECT … 15 = AUTH).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    // ----- malformed packets (0x81) -----
    /// The control packet type is 0, or 15 (AUTH) on an MQTT 3.x connection (section 2.1.2).
    #[error("packet type {0} is reserved")]
    ReservedPacketType(u8),
    /// The fixed header flags are not the ones the packet type requires.
    #[error("[MQTT-2.1.3-1] invalid fixed header flags {flags:#06b} for {}", packet_name(*.packet_type))]
    InvalidHeaderFlags {
        /// The packet type.
        packet_type: u8,
        /// The low four bits of the first byte.
        flags: u8,
    },
    /// A Variable Byte Integer (such as the Remaining Length) uses more than four bytes
    /// (section 1.5.5).
    #[error("variable byte integer longer than 4 bytes")]
    VarIntTooLong,
    /// A Variable Byte Integer does not use the minimum number of bytes.
    #[error("[MQTT-1.5.5-1] variable byte integer not minimally encoded")]
    VarIntNotMinimal,
    /// A PUBLISH has both QoS bits set.
    #[error("[MQTT-3.3.1-4] PUBLISH with QoS 3")]
    PublishQos3,
    /// A QoS 0 PUBLISH has its DUP flag set.
    #[error("[MQTT-3.3.1-2] DUP flag set on a QoS 0 PUBLISH")]
    DupWithQos0,
    /// A UTF-8 Encoded String is not valid UTF-8.
    #[error("[MQTT-1.5.4-1] string is not well-formed UTF-8")]
    InvalidUtf8,
    /// A UTF-8 Encoded String contains the null character.
    #[error("[MQTT-1.5.4-2] string contains U+0000")]
    NullCharacter,
    /// A field runs past the end of the packet (or of its property section).
    #[error("packet truncated: a field runs past the remaining length")]
    Truncated,
    /// Bytes are left over after the packet's last field.
    #[error("unexpected bytes after the last field of the packet")]
    TrailingBytes,
    /// A Property Length is larger than what is left of the packet (section 2.2.2.1).
    #[error("property length exceeds the remaining length")]
    PropertiesOverrun,
    /// A property identifier that the specification does not define (section 2.2.2.2).
    #[error("unknown property identifier {0:#04x}")]
    UnknownProperty(u8),
    /// A property that this packet type may not carry (section 2.2.2.2).
    #[error("property {id:#04x} is not allowed in {}", packet_name(*.packet_type))]
    PropertyNotAllowed {
        /// The property identifier.
        id: u8,
        /// The packet type.
        packet_type: u8,
    },
    /// The reserved bit 0 of the CONNECT flags is set.
    #[error("[MQTT-3.1.2-3] CONNECT reserved flag is set")]
    ConnectReservedFlag,
    /// Will QoS is not 0 while the Will Flag is 0.
    #[error("[MQTT-3.1.2-11] Will QoS set without a will")]
    WillQosWithoutWill,
    /// Will Retain is set while the Will Flag is 0.
    #[error("[MQTT-3.1.2-13] Will Retain set without a will")]
    WillRetainWithoutWill,
    /// Will QoS is 3.
    #[error("[MQTT-3.1.2-12] Will QoS 3")]
    WillQos3,
    /// Bits 7-1 of the CONNACK acknowledge flags are not 0.
    #[error("[MQTT-3.2.2-1] CONNACK reserved flags are set")]
    ConnAckReservedFlags,
    /// MQTT 3.x SUBSCRIBE: a requested QoS byte has one of its upper six bits set, or is 3.
    #[error("[MQTT-3-8.3-4] invalid requested QoS byte")]
    V3RequestedQosInvalid,
    /// MQTT 5 SUBSCRIBE: the reserved bits 7-6 of the subscription options are set.
    #[error("[MQTT-3.8.3-5] subscription options reserved bits are set")]
    SubscriptionOptionsReserved,
    /// A reason (or 3.x return) code the packet type does not define.
    #[error("{}reason code {code:#04x} is not valid in {}", reason_code_label(*.packet_type), packet_name(*.packet_type))]
    InvalidReasonCode {
        /// The packet type.
        packet_type: u8,
        /// The code received.
        code: u8,
    },

    // ----- protocol errors (0x82) -----
    /// The first packet on a connection is not CONNECT.
    #[error("[MQTT-3.1.0-1] first packet is not CONNECT")]
    FirstPacketNotConnect,
    /// A second CONNECT on the same connection.
    #[error("[MQTT-3.1.0-2] second CONNECT on a connection")]
    SecondConnect,
    /// A packet identifier of 0 where a non-zero one is required.
    #[error("[MQTT-2.2.1-3] packet identifier 0")]
    PacketIdZero,
    /// A property that may appear once appears more than once.
    #[error("property {0:#04x} included more than once")]
    DuplicateProperty(u8),
    /// A byte property outside its range (a boolean not 0 or 1, Maximum QoS not 0 or 1, a
    /// Payload Format Indicator not 0 or 1).
    #[error("property {id:#04x} has an invalid value")]
    InvalidPropertyValue {
        /// The property identifier.
        id: u8,
    },
    /// Receive Maximum is 0 (section 3.1.2.11.3 / 3.2.2.3.3).
    #[error("Receive Maximum is 0")]
    ZeroReceiveMaximum,
    /// Maximum Packet Size is 0 (section 3.1.2.11.4 / 3.2.2.3.6).
    #[error("Maximum Packet Size is 0")]
    ZeroMaximumPacketSize,
    /// Subscription Identifier is 0 (section 3.3.2.3.8 / 3.8.2.1.2).
    #[error("Subscription Identifier is 0")]
    ZeroSubscriptionIdentifier,
    /// Authentication Data without an Authentication Method (section 3.1.2.11.10).
    #[error("Authentication Data without Authentication Method")]
    AuthDataWithoutMethod,
    /// MQTT 3.x CONNECT: the Password Flag is set but not the User Name Flag.
    #[error("[MQTT-3.1.2-22] password flag set without user name flag")]
    PasswordWithoutUsername,
    /// A SUBSCRIBE with no topic filter.
    #[error("[MQTT-3.8.3-3] SUBSCRIBE without topic filters")]
    SubscribeWithoutFilters,
    /// An UNSUBSCRIBE with no topic filter.
    #[error("[MQTT-3.10.3-2] UNSUBSCRIBE without topic filters")]
    UnsubscribeWithoutFilters,
    /// MQTT 5 SUBSCRIBE: Maximum QoS 3 in the subscription options (section 3.8.3.1).
    #[error("subscription requests QoS 3")]
    SubscriptionQos3,
    /// MQTT 5 SUBSCRIBE: Retain Handling 3 (section 3.8.3.1).
    #[error("subscription Retain Handling 3")]
    RetainHandling3,
    /// MQTT 5 SUBSCRIBE: No Local set on a shared subscription.
    #[error("[MQTT-3.8.3-4] No Local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// An empty topic name (in MQTT 5 it is allowed only with a Topic Alias).
    #[error("[MQTT-4.7.3-1] empty topic name")]
    EmptyTopicName,
    /// An empty topic filter in SUBSCRIBE or UNSUBSCRIBE.
    #[error("[MQTT-4.7.3-1] empty topic filter")]
    EmptyTopicFilter,
    /// A Response Topic containing a wildcard character.
    #[error("[MQTT-3.3.2-14] Response Topic contains a wildcard")]
    ResponseTopicWildcard,
    /// A CONNACK with a failure code has Session Present set.
    #[error("[MQTT-3.2.2-6] Session Present set in a refusing CONNACK")]
    SessionPresentWithError,

    // ----- others -----
    /// A topic name (PUBLISH or will topic) contains `+` or `#` (0x90).
    #[error("[MQTT-3.3.2-2] topic name contains a wildcard")]
    TopicNameWildcard,
    /// A Topic Alias of 0 (0x94).
    #[error("[MQTT-3.3.2-8] Topic Alias 0")]
    ZeroTopicAlias,
    /// The packet is larger than the maximum the receiver accepts (0x95).
    #[error("packet of {size} bytes exceeds the maximum packet size {max}")]
    PacketTooLarge {
        /// Total size of the packet, fixed header included.
        size: usize,
        /// The limit.
        max: u32,
    },
    /// CONNECT with a protocol name or level this server does not speak (0x84). Reported as
    /// soon as the protocol name and level are read, so the session can answer with a
    /// CONNACK.
    #[error("[MQTT-3.1.2-2] unsupported protocol name or level {0}")]
    UnsupportedProtocolVersion(u8),
}

impl DecodeError {
    /// The reason code that reports this error.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            ReservedPacketType(_)
            | InvalidHeaderFlags { .. }
            | VarIntTooLong
            | VarIntNotMinimal
            | PublishQos3
            | DupWithQos0
            | InvalidUtf8
            | NullCharacter
            | Truncated
            | TrailingBytes
            | PropertiesOverrun
            | UnknownProperty(_)
            | PropertyNotAllowed { .. }
            | ConnectReservedFlag
            | WillQosWithoutWill
            | WillRetainWithoutWill
            | WillQos3
            | ConnAckReservedFlags
            | V3RequestedQosInvalid
            | SubscriptionOptionsReserved
            | InvalidReasonCode { .. } => ReasonCode::MalformedPacket,
            FirstPacketNotConnect
            | SecondConnect
            | PacketIdZero
            | DuplicateProperty(_)
            | InvalidPropertyValue { .. }
            | ZeroReceiveMaximum
            | ZeroMaximumPacketSize
            | ZeroSubscriptionIdentifier
            | AuthDataWithoutMethod
            | PasswordWithoutUsername
            | SubscribeWithoutFilters
            | UnsubscribeWithoutFilters
            | SubscriptionQos3
            | RetainHandling3
            | NoLocalOnSharedSubscription
            | EmptyTopicName
            | EmptyTopicFilter
            | ResponseTopicWildcard
            | SessionPresentWithError => ReasonCode::ProtocolError,
            TopicNameWildcard => ReasonCode::TopicNameInvalid,
            ZeroTopicAlias => ReasonCode::TopicAliasInvalid,
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            UnsupportedProtocolVersion(_) => ReasonCode::UnsupportedProtocolVersion,
        }
    }

    /// The identifier of the normative statement this error violates, such as
    /// `"MQTT-3.3.1-4"`, where the specification has one.
    pub fn spec_ref(&self) -> Option<&'static str> {
        use DecodeError::*;
        Some(match self {
            InvalidHeaderFlags { .. } => "MQTT-2.1.3-1",
            VarIntNotMinimal => "MQTT-1.5.5-1",
            PublishQos3 => "MQTT-3.3.1-4",
            DupWithQos0 => "MQTT-3.3.1-2",
            InvalidUtf8 => "MQTT-1.5.4-1",
            NullCharacter => "MQTT-1.5.4-2",
            ConnectReservedFlag => "MQTT-3.1.2-3",
            WillQosWithoutWill => "MQTT-3.1.2-11",
            WillRetainWithoutWill => "MQTT-3.1.2-13",
            WillQos3 => "MQTT-3.1.2-12",
            ConnAckReservedFlags => "MQTT-3.2.2-1",
            V3RequestedQosInvalid => "MQTT-3-8.3-4",
            SubscriptionOptionsReserved => "MQTT-3.8.3-5",
            InvalidReasonCode { packet_type, .. } => return reason_code_ref(*packet_type),
            FirstPacketNotConnect => "MQTT-3.1.0-1",
            SecondConnect => "MQTT-3.1.0-2",
            PacketIdZero => "MQTT-2.2.1-3",
            PasswordWithoutUsername => "MQTT-3.1.2-22",
            SubscribeWithoutFilters => "MQTT-3.8.3-3",
            UnsubscribeWithoutFilters => "MQTT-3.10.3-2",
            NoLocalOnSharedSubscription => "MQTT-3.8.3-4",
            EmptyTopicName | EmptyTopicFilter => "MQTT-4.7.3-1",
            ResponseTopicWildcard => "MQTT-3.3.2-14",
            SessionPresentWithError => "MQTT-3.2.2-6",
            TopicNameWildcard => "MQTT-3.3.2-2",
            ZeroTopicAlias => "MQTT-3.3.2-8",
            UnsupportedProtocolVersion(_) => "MQTT-3.1.2-2",
            ReservedPacketType(_)
            | VarIntTooLong
            | Truncated
            | TrailingBytes
            | PropertiesOverrun
            | UnknownProperty(_)
            | PropertyNotAllowed { .. }
            | DuplicateProperty(_)
            | InvalidPropertyValue { .. }
            | ZeroReceiveMaximum
            | ZeroMaximumPacketSize
            | ZeroSubscriptionIdentifier
            | AuthDataWithoutMethod
            | SubscriptionQos3
            | RetainHandling3
            | PacketTooLarge { .. } => return None,
        })
    }
}

/// Why a packet cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The remaining length would exceed 268,435,455 bytes (section 2.1.4).
    #[error("remaining length {0} exceeds 268,435,455")]
    PacketTooLarge(usize),
    /// A UTF-8 string longer than 65,535 bytes (section 1.5.4).
    #[error("string of {0} bytes exceeds 65,535")]
    StringTooLong(usize),
    /// Binary data longer than 65,535 bytes (section 1.5.6).
    #[error("binary data of {0} bytes exceeds 65,535")]
    BinaryTooLong(usize),
    /// A Variable Byte Integer value (a Subscription Identifier) above 268,435,455.
    #[error("variable byte integer {0} exceeds 268,435,455")]
    VarIntTooLarge(u32),
    /// A QoS 1 or 2 PUBLISH without a packet identifier.
    #[error("QoS > 0 PUBLISH without a packet identifier")]
    MissingPacketId,
    /// A packet that does not exist in the target protocol version (AUTH in MQTT 3.x).
    #[error("{0} does not exist in MQTT 3.x")]
    NotInProtocol(&'static str),
}

/// The packet name for a 4-bit packet type.
fn packet_name(packet_type: u8) -> &'static str {
    const NAMES: [&str; 16] = [
        "reserved",
        "CONNECT",
        "CONNACK",
        "PUBLISH",
        "PUBACK",
        "PUBREC",
        "PUBREL",
        "PUBCOMP",
        "SUBSCRIBE",
        "SUBACK",
        "UNSUBSCRIBE",
        "UNSUBACK",
        "PINGREQ",
        "PINGRESP",
        "DISCONNECT",
        "AUTH",
    ];
    NAMES.get(usize::from(packet_type)).copied().unwrap_or("reserved")
}

/// The statement that lists the reason codes a packet type may carry.
fn reason_code_ref(packet_type: u8) -> Option<&'static str> {
    Some(match packet_type {
        2 => "MQTT-3.2.2-8",
        4 => "MQTT-3.4.2-1",
        5 => "MQTT-3.5.2-1",
        6 => "MQTT-3.6.2-1",
        7 => "MQTT-3.7.2-1",
        9 => "MQTT-3.9.3-2",
        11 => "MQTT-3.11.3-2",
        14 => "MQTT-3.14.2-1",
        15 => "MQTT-3.15.2-1",
        _ => return None,
    })
}

/// `"[MQTT-x.y.z-n] "` for [`DecodeError::InvalidReasonCode`]'s message.
fn reason_code_label(packet_type: u8) -> String {
    reason_code_ref(packet_type).map(|id| format!("[{id}] ")).unwrap_or_default()
}
