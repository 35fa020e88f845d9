//! A scripted IKEv2 initiator built only from the public codec and crypto: it sets up an IKE SA
//! with a responder `Endpoint` (IKE_SA_INIT with AES-GCM-256 / PRF-HMAC-SHA256 / X25519 and no
//! NAT detection, then IKE_AUTH with PSK and one ESP CHILD SA) and can then send any
//! INFORMATIONAL request, well-formed or not, from any path, and read the decrypted answer.
//! The engine's own initiator never sends malformed MOBIKE notifies; this one does.

use std::net::Ipv4Addr;
use std::time::Instant;

use ikev2::crypto::{
    psk_auth, CipherSuite, Direction, EncrAlg, IkeSaKeys, IkeSuite, KeyExchange, PrfAlg,
    SignedOctets, SkCipher,
};
use ikev2::wire::{
    self, AddressRange, AuthMethod, Authentication, EncrId, EsnId, ExchangeType, Flags, IdType,
    Identification, IkeHeader, Message, Nonce, Notify, NotifyType, Payload, PayloadBody,
    PayloadType, PrfId, Proposal, ProtocolId, SealBuffer, SecurityAssociation, TrafficSelector,
    TrafficSelectors, Transform, TransformId,
};
use ikev2::{Endpoint, Path, Transmit};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

/// The identity the scripted initiator authenticates as (matches the test server's
/// `*.eseg.test`).
pub const SCRIPTED_ID: &[u8] = b"scripted.eseg.test";

/// One decrypted answer of the responder.
pub struct Reply {
    /// Where the responder sent it (its view: local = responder, remote = us).
    pub path: Path,
    /// The decrypted inner payload chain and the type of its first payload.
    pub first: PayloadType,
    pub plaintext: Vec<u8>,
}

impl Reply {
    /// The notifies of the answer: type and data.
    pub fn notifies(&self) -> Vec<(NotifyType, Vec<u8>)> {
        wire::parse_chain(self.first, &self.plaintext)
            .unwrap()
            .into_iter()
            .filter_map(|p| match p.body {
                PayloadBody::Notify(n) => Some((n.notify_type, n.data.to_vec())),
                _ => None,
            })
            .collect()
    }

    /// The data of the first notify of `kind`.
    pub fn notify(&self, kind: NotifyType) -> Option<Vec<u8>> {
        self.notifies()
            .into_iter()
            .find_map(|(t, data)| (t == kind).then_some(data))
    }
}

/// An established IKE SA on the initiator side, driven by hand.
pub struct Scripted {
    pub spi_i: u64,
    pub spi_r: u64,
    rng: ChaCha20Rng,
    outbound: SkCipher,
    inbound: SkCipher,
    next_id: u32,
    /// The IKE_AUTH answer.
    pub auth_reply: Reply,
}

impl Scripted {
    /// Runs IKE_SA_INIT and IKE_AUTH against `server` on `path` (the server's view of it),
    /// offering MOBIKE_SUPPORTED when `mobike`.
    pub fn establish(server: &mut Endpoint, now: Instant, path: Path, mobike: bool) -> Self {
        let mut rng = ChaCha20Rng::from_seed([9; 32]);
        let spi_i = rng.next_u64() | 1;
        let ke = KeyExchange::generate(ikev2::crypto::DhGroup::Curve25519, &mut rng);
        let mut ni = vec![0; 32];
        rng.fill_bytes(&mut ni);
        let x25519 = wire::DhGroup::Curve25519;
        let ike_sa = SecurityAssociation {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::Ike,
                spi: &[],
                transforms: vec![
                    Transform::with_key_length(TransformId::Encryption(EncrId::AesGcm16), 256),
                    Transform::new(TransformId::Prf(PrfId::HmacSha2_256)),
                    Transform::new(TransformId::KeyExchange(x25519)),
                ],
            }],
        };
        let init = vec![
            PayloadBody::Sa(ike_sa),
            PayloadBody::Ke(wire::KeyExchange {
                group: x25519,
                data: ke.public_value(),
            }),
            PayloadBody::Nonce(Nonce { data: &ni }),
        ];
        let header = IkeHeader::new(
            spi_i,
            0,
            ExchangeType::IkeSaInit,
            Flags::new(true, false),
            0,
        );
        let init_request = Message::new(header, init.into_iter().map(Payload::from).collect())
            .emit()
            .unwrap();
        server.handle_datagram(now, path, &init_request);
        let answer = server.poll_transmit().expect("IKE_SA_INIT answered");
        let response = Message::parse(&answer.data).unwrap();
        let spi_r = response.header.spi_r;
        let mut ke_r = None;
        let mut nr = None;
        for payload in &response.payloads {
            match &payload.body {
                PayloadBody::Ke(k) => ke_r = Some(k.data.to_vec()),
                PayloadBody::Nonce(n) => nr = Some(n.data.to_vec()),
                _ => {}
            }
        }
        let nr = nr.expect("Nr");
        let shared = ke.agree(&ke_r.expect("KEr")).unwrap();
        let suite = IkeSuite {
            prf: PrfAlg::HmacSha256,
            cipher: CipherSuite::new(EncrAlg::AesGcm16_256, None).unwrap(),
        };
        let keys = IkeSaKeys::derive(&suite, &shared, &ni, &nr, spi_i, spi_r).unwrap();
        let mut id_body = vec![u8::from(IdType::Fqdn), 0, 0, 0];
        id_body.extend_from_slice(SCRIPTED_ID);
        let auth = psk_auth(
            suite.prf,
            &super::psk(),
            &SignedOctets {
                real_message: &init_request,
                peer_nonce: &nr,
                sk_p: keys.sk_p(Direction::InitiatorToResponder),
                id_payload_body: &id_body,
            },
        );
        let mut scripted = Scripted {
            spi_i,
            spi_r,
            outbound: keys
                .sk_cipher(&suite, Direction::InitiatorToResponder)
                .unwrap(),
            inbound: keys
                .sk_cipher(&suite, Direction::ResponderToInitiator)
                .unwrap(),
            rng,
            next_id: 1,
            auth_reply: Reply {
                path,
                first: PayloadType::NoNext,
                plaintext: Vec::new(),
            },
        };
        let any = TrafficSelectors {
            selectors: vec![TrafficSelector::Ipv4(AddressRange::any_protocol(
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::BROADCAST,
            ))],
        };
        let esp_spi = [0x0a, 0x0b, 0x0c, 0x0d];
        let mut auth_bodies = vec![
            PayloadBody::IdI(Identification {
                id_type: IdType::Fqdn,
                data: SCRIPTED_ID,
            }),
            PayloadBody::Auth(Authentication {
                method: AuthMethod::SharedKeyMic,
                data: auth.expose(),
            }),
        ];
        if mobike {
            auth_bodies.push(PayloadBody::Notify(Notify::new(
                NotifyType::MobikeSupported,
                &[],
            )));
        }
        auth_bodies.extend([
            PayloadBody::Sa(SecurityAssociation {
                proposals: vec![Proposal {
                    number: 1,
                    protocol: ProtocolId::Esp,
                    spi: &esp_spi,
                    transforms: vec![
                        Transform::with_key_length(TransformId::Encryption(EncrId::AesGcm16), 256),
                        Transform::new(TransformId::Esn(EsnId::NoEsn)),
                    ],
                }],
            }),
            PayloadBody::TsI(any.clone()),
            PayloadBody::TsR(any),
        ]);
        scripted.auth_reply = scripted
            .exchange(server, now, path, ExchangeType::IkeAuth, auth_bodies)
            .expect("IKE_AUTH answered");
        scripted
    }

    /// Protects `bodies` as our next request of `exchange` (the message ID advances).
    pub fn request(&mut self, exchange: ExchangeType, bodies: Vec<PayloadBody<'_>>) -> Vec<u8> {
        let payloads: Vec<Payload<'_>> = bodies.into_iter().map(Payload::from).collect();
        let (first, plaintext) = wire::encode_chain(&payloads).unwrap();
        self.request_raw(exchange, first, &plaintext)
    }

    /// Protects an inner payload chain given as bytes (to send malformed payloads).
    pub fn request_raw(
        &mut self,
        exchange: ExchangeType,
        first: PayloadType,
        plaintext: &[u8],
    ) -> Vec<u8> {
        let id = self.next_id;
        self.next_id += 1;
        let header = IkeHeader::new(
            self.spi_i,
            self.spi_r,
            exchange,
            Flags::new(true, false),
            id,
        );
        let sealed_len = self.outbound.sealed_len(plaintext.len());
        let mut buffer = SealBuffer::new(&header, first, wire::Envelope::Sk, sealed_len).unwrap();
        let (prefix, body) = buffer.parts_mut();
        let sealed = self
            .outbound
            .seal(prefix, plaintext, &mut self.rng)
            .unwrap();
        body.copy_from_slice(&sealed);
        buffer.into_bytes()
    }

    /// Decrypts an answer of the responder.
    pub fn open(&self, transmit: &Transmit) -> Reply {
        let message = Message::parse(&transmit.data).unwrap();
        let parts = message.protected_parts(&transmit.data).unwrap();
        let plaintext = self
            .inbound
            .open(parts.authenticated_prefix, parts.body)
            .unwrap();
        Reply {
            path: transmit.path,
            first: parts.first_inner,
            plaintext,
        }
    }

    /// Sends `bodies` as a request of `exchange` from `path` and returns the decrypted answer,
    /// if the responder sent one.
    pub fn exchange(
        &mut self,
        server: &mut Endpoint,
        now: Instant,
        path: Path,
        exchange: ExchangeType,
        bodies: Vec<PayloadBody<'_>>,
    ) -> Option<Reply> {
        let data = self.request(exchange, bodies);
        self.send(server, now, path, &data)
    }

    /// Hands `data` to the responder as arriving on `path`; returns its decrypted answer.
    pub fn send(
        &self,
        server: &mut Endpoint,
        now: Instant,
        path: Path,
        data: &[u8],
    ) -> Option<Reply> {
        server.handle_datagram(now, path, data);
        let answer = server.poll_transmit()?;
        assert!(server.poll_transmit().is_none(), "one answer per request");
        Some(self.open(&answer))
    }
}
