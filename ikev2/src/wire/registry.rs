//! IANA "IKEv2 Parameters" registries used by the payloads, as open enums.
//!
//! Values from RFC 7296 §3 and the IANA registry
//! <https://www.iana.org/assignments/ikev2-parameters/ikev2-parameters.xhtml>.
//! Transform IDs are in [`super::transform_ids`], notify types in [`super::notify_type`].

use super::enum_macro::open_enum;

open_enum! {
    /// Payload type, the "Next Payload" value of the IKE header and of every generic payload
    /// header (<https://www.rfc-editor.org/rfc/rfc7296#section-3.2>).
    pub enum PayloadType(u8) {
        /// No next payload: ends a payload chain.
        NoNext = 0,
        /// Security Association (SA).
        Sa = 33,
        /// Key Exchange (KE).
        Ke = 34,
        /// Identification - Initiator (IDi).
        IdI = 35,
        /// Identification - Responder (IDr).
        IdR = 36,
        /// Certificate (CERT).
        Cert = 37,
        /// Certificate Request (CERTREQ).
        CertReq = 38,
        /// Authentication (AUTH).
        Auth = 39,
        /// Nonce (Ni, Nr).
        Nonce = 40,
        /// Notify (N).
        Notify = 41,
        /// Delete (D).
        Delete = 42,
        /// Vendor ID (V).
        VendorId = 43,
        /// Traffic Selector - Initiator (TSi).
        TsI = 44,
        /// Traffic Selector - Responder (TSr).
        TsR = 45,
        /// Encrypted and Authenticated (SK).
        Sk = 46,
        /// Configuration (CP).
        Cp = 47,
        /// Extensible Authentication (EAP).
        Eap = 48,
        /// Encrypted and Authenticated Fragment (SKF), RFC 7383 §2.5.
        Skf = 53,
    }
}

open_enum! {
    /// Exchange type of the IKE header (<https://www.rfc-editor.org/rfc/rfc7296#section-3.1>).
    pub enum ExchangeType(u8) {
        /// IKE_SA_INIT.
        IkeSaInit = 34,
        /// IKE_AUTH.
        IkeAuth = 35,
        /// CREATE_CHILD_SA.
        CreateChildSa = 36,
        /// INFORMATIONAL.
        Informational = 37,
        /// IKE_SESSION_RESUME (RFC 5723).
        IkeSessionResume = 38,
        /// IKE_INTERMEDIATE (RFC 9242).
        IkeIntermediate = 43,
    }
}

open_enum! {
    /// Security protocol identifier of proposals, notifies and deletes
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.3.1>).
    pub enum ProtocolId(u8) {
        /// No protocol: notifies that concern no SA send 0.
        Unspecified = 0,
        /// IKE.
        Ike = 1,
        /// AH.
        Ah = 2,
        /// ESP.
        Esp = 3,
    }
}

open_enum! {
    /// Identification type (<https://www.rfc-editor.org/rfc/rfc7296#section-3.5>).
    pub enum IdType(u8) {
        /// A single four-octet IPv4 address.
        Ipv4Addr = 1,
        /// A fully-qualified domain name string.
        Fqdn = 2,
        /// A fully-qualified RFC 822 email address string.
        Rfc822Addr = 3,
        /// A single sixteen-octet IPv6 address.
        Ipv6Addr = 5,
        /// The binary DER encoding of an ASN.1 X.500 Distinguished Name.
        DerAsn1Dn = 9,
        /// The binary DER encoding of an ASN.1 X.509 GeneralName.
        DerAsn1Gn = 10,
        /// An opaque octet stream for vendor-specific information.
        KeyId = 11,
        /// Fibre Channel name (RFC 4595).
        FcName = 12,
        /// The NULL identity (RFC 7619).
        Null = 13,
    }
}

open_enum! {
    /// Authentication method of the AUTH payload
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.8>).
    pub enum AuthMethod(u8) {
        /// RSA digital signature (PKCS#1 v1.5 with SHA-1).
        RsaDigitalSignature = 1,
        /// Shared key message integrity code.
        SharedKeyMic = 2,
        /// DSS digital signature.
        DssDigitalSignature = 3,
        /// ECDSA with SHA-256 on the P-256 curve (RFC 4754).
        EcdsaSha256P256 = 9,
        /// ECDSA with SHA-384 on the P-384 curve (RFC 4754).
        EcdsaSha384P384 = 10,
        /// ECDSA with SHA-512 on the P-521 curve (RFC 4754).
        EcdsaSha512P521 = 11,
        /// Generic secure password authentication method (RFC 6467).
        GenericSecurePassword = 12,
        /// NULL authentication (RFC 7619).
        NullAuthentication = 13,
        /// Digital signature with the algorithm in the data (RFC 7427).
        DigitalSignature = 14,
    }
}

open_enum! {
    /// Certificate encoding of CERT and CERTREQ payloads
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.6>).
    pub enum CertEncoding(u8) {
        /// PKCS #7 wrapped X.509 certificate.
        Pkcs7X509 = 1,
        /// PGP certificate.
        Pgp = 2,
        /// DNS signed key.
        DnsSignedKey = 3,
        /// X.509 certificate - signature.
        X509Signature = 4,
        /// Kerberos token.
        KerberosToken = 6,
        /// Certificate revocation list (CRL).
        Crl = 7,
        /// Authority revocation list (ARL).
        Arl = 8,
        /// SPKI certificate.
        Spki = 9,
        /// X.509 certificate - attribute.
        X509Attribute = 10,
        /// Raw RSA key (deprecated).
        RawRsaKey = 11,
        /// Hash and URL of X.509 certificate.
        HashAndUrlX509Cert = 12,
        /// Hash and URL of X.509 bundle.
        HashAndUrlX509Bundle = 13,
        /// OCSP content (RFC 4806).
        OcspContent = 14,
        /// Raw public key (RFC 7670).
        RawPublicKey = 15,
    }
}

open_enum! {
    /// Traffic selector type (<https://www.rfc-editor.org/rfc/rfc7296#section-3.13.1>).
    pub enum TsType(u8) {
        /// A range of IPv4 addresses.
        Ipv4AddrRange = 7,
        /// A range of IPv6 addresses.
        Ipv6AddrRange = 8,
        /// A range of Fibre Channel addresses (RFC 4595).
        FcAddrRange = 9,
        /// A security label (RFC 9478).
        SecLabel = 10,
    }
}

open_enum! {
    /// Configuration payload type (<https://www.rfc-editor.org/rfc/rfc7296#section-3.15>).
    pub enum CfgType(u8) {
        /// CFG_REQUEST.
        Request = 1,
        /// CFG_REPLY.
        Reply = 2,
        /// CFG_SET.
        Set = 3,
        /// CFG_ACK.
        Ack = 4,
    }
}

open_enum! {
    /// Configuration attribute type, 15 bits
    /// (<https://www.rfc-editor.org/rfc/rfc7296#section-3.15.1>).
    pub enum ConfigAttributeType(u16) {
        /// INTERNAL_IP4_ADDRESS.
        InternalIp4Address = 1,
        /// INTERNAL_IP4_NETMASK.
        InternalIp4Netmask = 2,
        /// INTERNAL_IP4_DNS.
        InternalIp4Dns = 3,
        /// INTERNAL_IP4_NBNS.
        InternalIp4Nbns = 4,
        /// INTERNAL_IP4_DHCP.
        InternalIp4Dhcp = 6,
        /// APPLICATION_VERSION.
        ApplicationVersion = 7,
        /// INTERNAL_IP6_ADDRESS.
        InternalIp6Address = 8,
        /// INTERNAL_IP6_DNS.
        InternalIp6Dns = 10,
        /// INTERNAL_IP6_DHCP.
        InternalIp6Dhcp = 12,
        /// INTERNAL_IP4_SUBNET.
        InternalIp4Subnet = 13,
        /// SUPPORTED_ATTRIBUTES.
        SupportedAttributes = 14,
        /// INTERNAL_IP6_SUBNET.
        InternalIp6Subnet = 15,
        /// P_CSCF_IP4_ADDRESS (RFC 7651).
        PCscfIp4Address = 20,
        /// P_CSCF_IP6_ADDRESS (RFC 7651).
        PCscfIp6Address = 21,
        /// INTERNAL_DNS_DOMAIN (RFC 8598).
        InternalDnsDomain = 25,
        /// The private-use P-CSCF IPv4 attribute that 3GPP devices sent before RFC 7651.
        LegacyPCscfIp4Address = 16389,
        /// The private-use P-CSCF IPv6 attribute that 3GPP devices sent before RFC 7651.
        LegacyPCscfIp6Address = 16390,
    }
}
