//! UDP sockets for IKE (500) and NAT-T (4500).
