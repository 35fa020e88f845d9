//! Notify message types (<https://www.rfc-editor.org/rfc/rfc7296#section-3.10.1>): error types
//! below 16384, status types from 16384 on, plus those of the extensions eseg meets.

use super::enum_macro::open_enum;

open_enum! {
    /// Notify message type.
    pub enum NotifyType(u16) {
        /// UNSUPPORTED_CRITICAL_PAYLOAD; data is the one-octet payload type.
        UnsupportedCriticalPayload = 1,
        /// INVALID_IKE_SPI.
        InvalidIkeSpi = 4,
        /// INVALID_MAJOR_VERSION.
        InvalidMajorVersion = 5,
        /// INVALID_SYNTAX.
        InvalidSyntax = 7,
        /// INVALID_MESSAGE_ID; data is the four-octet message ID.
        InvalidMessageId = 9,
        /// INVALID_SPI; data is the SPI.
        InvalidSpi = 11,
        /// NO_PROPOSAL_CHOSEN.
        NoProposalChosen = 14,
        /// INVALID_KE_PAYLOAD; data is the two-octet accepted group.
        InvalidKePayload = 17,
        /// AUTHENTICATION_FAILED.
        AuthenticationFailed = 24,
        /// SINGLE_PAIR_REQUIRED.
        SinglePairRequired = 34,
        /// NO_ADDITIONAL_SAS.
        NoAdditionalSas = 35,
        /// INTERNAL_ADDRESS_FAILURE.
        InternalAddressFailure = 36,
        /// FAILED_CP_REQUIRED.
        FailedCpRequired = 37,
        /// TS_UNACCEPTABLE.
        TsUnacceptable = 38,
        /// INVALID_SELECTORS.
        InvalidSelectors = 39,
        /// UNACCEPTABLE_ADDRESSES (RFC 4555).
        UnacceptableAddresses = 40,
        /// UNEXPECTED_NAT_DETECTED (RFC 4555).
        UnexpectedNatDetected = 41,
        /// TEMPORARY_FAILURE.
        TemporaryFailure = 43,
        /// CHILD_SA_NOT_FOUND.
        ChildSaNotFound = 44,
        /// INITIAL_CONTACT.
        InitialContact = 16384,
        /// SET_WINDOW_SIZE; data is the four-octet window size.
        SetWindowSize = 16385,
        /// ADDITIONAL_TS_POSSIBLE.
        AdditionalTsPossible = 16386,
        /// IPCOMP_SUPPORTED.
        IpcompSupported = 16387,
        /// NAT_DETECTION_SOURCE_IP; data is a SHA-1 hash (RFC 7296 §2.23).
        NatDetectionSourceIp = 16388,
        /// NAT_DETECTION_DESTINATION_IP; data is a SHA-1 hash (RFC 7296 §2.23).
        NatDetectionDestinationIp = 16389,
        /// COOKIE; data is the cookie, 1 to 64 octets (RFC 7296 §2.6).
        Cookie = 16390,
        /// USE_TRANSPORT_MODE.
        UseTransportMode = 16391,
        /// HTTP_CERT_LOOKUP_SUPPORTED.
        HttpCertLookupSupported = 16392,
        /// REKEY_SA.
        RekeySa = 16393,
        /// ESP_TFC_PADDING_NOT_SUPPORTED.
        EspTfcPaddingNotSupported = 16394,
        /// NON_FIRST_FRAGMENTS_ALSO.
        NonFirstFragmentsAlso = 16395,
        /// MOBIKE_SUPPORTED (RFC 4555).
        MobikeSupported = 16396,
        /// ADDITIONAL_IP4_ADDRESS (RFC 4555).
        AdditionalIp4Address = 16397,
        /// ADDITIONAL_IP6_ADDRESS (RFC 4555).
        AdditionalIp6Address = 16398,
        /// NO_ADDITIONAL_ADDRESSES (RFC 4555).
        NoAdditionalAddresses = 16399,
        /// UPDATE_SA_ADDRESSES (RFC 4555).
        UpdateSaAddresses = 16400,
        /// COOKIE2 (RFC 4555).
        Cookie2 = 16401,
        /// NO_NATS_ALLOWED (RFC 4555).
        NoNatsAllowed = 16402,
        /// AUTH_LIFETIME (RFC 4478).
        AuthLifetime = 16403,
        /// MULTIPLE_AUTH_SUPPORTED (RFC 4739).
        MultipleAuthSupported = 16404,
        /// ANOTHER_AUTH_FOLLOWS (RFC 4739).
        AnotherAuthFollows = 16405,
        /// REDIRECT_SUPPORTED (RFC 5685).
        RedirectSupported = 16406,
        /// REDIRECT (RFC 5685).
        Redirect = 16407,
        /// REDIRECTED_FROM (RFC 5685).
        RedirectedFrom = 16408,
        /// EAP_ONLY_AUTHENTICATION (RFC 5998).
        EapOnlyAuthentication = 16417,
        /// CHILDLESS_IKEV2_SUPPORTED (RFC 6023).
        ChildlessIkev2Supported = 16418,
        /// QUICK_CRASH_DETECTION (RFC 6290).
        QuickCrashDetection = 16419,
        /// IKEV2_MESSAGE_ID_SYNC_SUPPORTED (RFC 6311).
        Ikev2MessageIdSyncSupported = 16420,
        /// IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED (RFC 6311).
        IpsecReplayCounterSyncSupported = 16421,
        /// IKEV2_MESSAGE_ID_SYNC (RFC 6311).
        Ikev2MessageIdSync = 16422,
        /// IPSEC_REPLAY_COUNTER_SYNC (RFC 6311).
        IpsecReplayCounterSync = 16423,
        /// IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383).
        Ikev2FragmentationSupported = 16430,
        /// SIGNATURE_HASH_ALGORITHMS (RFC 7427); data is a list of two-octet hash IDs.
        SignatureHashAlgorithms = 16431,
        /// INTERMEDIATE_EXCHANGE_SUPPORTED (RFC 9242).
        IntermediateExchangeSupported = 16438,
    }
}

impl NotifyType {
    /// First status type: values below are errors
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.10.1>).
    const FIRST_STATUS: u16 = 16384;

    /// Whether this is an error type (below 16384). An unrecognized error type in a response
    /// means the request failed; an unrecognized status type is ignored (RFC 7296 §3.10.1).
    pub fn is_error(self) -> bool {
        u16::from(self) < Self::FIRST_STATUS
    }
}
