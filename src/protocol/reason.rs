//! MQTT 5 reason codes, and their mapping to MQTT 3.x CONNACK return codes.

/// Defines [`ReasonCode`] and its wire values from one table.
macro_rules! reason_codes {
    ($($name:ident = $code:literal,)*) => {
        /// An MQTT 5 reason code (spec section 2.4). MQTT 3.x packets use the subset they know.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[allow(missing_docs)] // the names are the specification's
        pub enum ReasonCode {
            /// 0x00: Success, Normal disconnection, Granted QoS 0.
            #[default]
            Success,
            $($name,)*
        }

        impl ReasonCode {
            /// The wire value.
            pub fn code(self) -> u8 {
                match self {
                    ReasonCode::Success => 0x00,
                    $(ReasonCode::$name => $code,)*
                }
            }

            /// Parses a wire value; `None` for values the specification does not define.
            pub fn from_code(v: u8) -> Option<ReasonCode> {
                match v {
                    0x00 => Some(ReasonCode::Success),
                    $($code => Some(ReasonCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

reason_codes! {
    GrantedQoS1 = 0x01,
    GrantedQoS2 = 0x02,
    DisconnectWithWillMessage = 0x04,
    NoMatchingSubscribers = 0x10,
    NoSubscriptionExisted = 0x11,
    ContinueAuthentication = 0x18,
    ReAuthenticate = 0x19,
    UnspecifiedError = 0x80,
    MalformedPacket = 0x81,
    ProtocolError = 0x82,
    ImplementationSpecificError = 0x83,
    UnsupportedProtocolVersion = 0x84,
    ClientIdentifierNotValid = 0x85,
    BadUserNameOrPassword = 0x86,
    NotAuthorized = 0x87,
    ServerUnavailable = 0x88,
    ServerBusy = 0x89,
    Banned = 0x8A,
    ServerShuttingDown = 0x8B,
    BadAuthenticationMethod = 0x8C,
    KeepAliveTimeout = 0x8D,
    SessionTakenOver = 0x8E,
    TopicFilterInvalid = 0x8F,
    TopicNameInvalid = 0x90,
    PacketIdentifierInUse = 0x91,
    PacketIdentifierNotFound = 0x92,
    ReceiveMaximumExceeded = 0x93,
    TopicAliasInvalid = 0x94,
    PacketTooLarge = 0x95,
    MessageRateTooHigh = 0x96,
    QuotaExceeded = 0x97,
    AdministrativeAction = 0x98,
    PayloadFormatInvalid = 0x99,
    RetainNotSupported = 0x9A,
    QoSNotSupported = 0x9B,
    UseAnotherServer = 0x9C,
    ServerMoved = 0x9D,
    SharedSubscriptionsNotSupported = 0x9E,
    ConnectionRateExceeded = 0x9F,
    MaximumConnectTime = 0xA0,
    SubscriptionIdentifiersNotSupported = 0xA1,
    WildcardSubscriptionsNotSupported = 0xA2,
}

impl ReasonCode {
    /// True for codes >= 0x80, which report a failure.
    pub fn is_error(self) -> bool {
        self.code() >= 0x80
    }

    /// The MQTT 3.1/3.1.1 CONNACK return code that best reports this reason
    /// (spec 3.1.1 table 3.1): 1 protocol version, 2 identifier rejected, 3 server
    /// unavailable, 4 bad user name or password, 5 not authorized.
    pub fn v3_connack_code(self) -> u8 {
        use ReasonCode::*;
        match self {
            Success => 0,
            UnsupportedProtocolVersion => 1,
            ClientIdentifierNotValid => 2,
            BadUserNameOrPassword | BadAuthenticationMethod => 4,
            NotAuthorized | Banned => 5,
            _ => 3,
        }
    }

    /// The reason code a 3.x CONNACK return code stands for.
    pub fn from_v3_connack_code(v: u8) -> Option<ReasonCode> {
        use ReasonCode::*;
        Some(match v {
            0 => Success,
            1 => UnsupportedProtocolVersion,
            2 => ClientIdentifierNotValid,
            3 => ServerUnavailable,
            4 => BadUserNameOrPassword,
            5 => NotAuthorized,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for v in 0..=255u8 {
            if let Some(r) = ReasonCode::from_code(v) {
                assert_eq!(r.code(), v);
            }
        }
        assert_eq!(ReasonCode::from_code(0x03), None);
    }
}
