//! IKEv2 cryptography: PRF and prf+, key derivation, key exchange, SK protection, PSK AUTH.
