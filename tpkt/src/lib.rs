//! TPKT' framing for IKE and ESP over TCP (3GPP TR 33.830 clause 8.5.2.2).
#![forbid(unsafe_code)]
