#!/usr/bin/env python3
"""Extracts the known-answer values of one real strongSwan 5.9.8 exchange into a hex text file.

Input: the capture and both daemons' level-4 logs of a PSK / Curve25519 / AES-GCM-16-256 /
HMAC-SHA2-256 PRF handshake (right = initiator/client, left = responder/gateway). Output: lines
`name = hex` read by ikev2/tests/crypto_strongswan_kat.rs. Run once by hand:

    extract_strongswan_vectors.py <vector dir> > strongswan-5.9.8-psk-x25519-aes256gcm.txt

The tests never read the original files; this script only documents where each value came from.
"""
import re
import struct
import sys

HEADER = re.compile(r"\] (?:<[^>]*> )?(.*?) => (\d+) bytes @")
ROW = re.compile(r"\] (?:<[^>]*> )?\s*\d+: ((?:[0-9A-F]{2} )+)")


def log_dumps(path):
    """Every hex dump of the log as (label, bytes), in order."""
    dumps, current = [], None
    for line in open(path):
        match = HEADER.search(line)
        if match:
            current = [match.group(1).strip(), int(match.group(2)), bytearray()]
            dumps.append(current)
            continue
        match = ROW.search(line)
        if match and current is not None:
            current[2] += bytes.fromhex(match.group(1).replace(" ", ""))
    for label, length, data in dumps:
        assert len(data) == length, (label, length, len(data))
    return [(label, bytes(data)) for label, _, data in dumps]


def udp_payloads(path):
    """UDP payloads of an Ethernet/IPv4 pcap, in capture order."""
    data = open(path, "rb").read()
    assert struct.unpack("<I", data[:4])[0] == 0xA1B2C3D4
    assert struct.unpack("<I", data[20:24])[0] == 1, "Ethernet link type"
    offset, payloads = 24, []
    while offset < len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[offset : offset + 16])
        frame = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        ip = frame[14:]
        assert ip[0] >> 4 == 4 and ip[9] == 17, "IPv4/UDP"
        udp = ip[(ip[0] & 0x0F) * 4 :]
        length = struct.unpack(">H", udp[4:6])[0]
        payloads.append(udp[8:length])
    return payloads


def only(dumps, label):
    values = [data for name, data in dumps if name == label]
    assert len(values) >= 1, label
    return values


def main(directory):
    right = log_dumps(f"{directory}/handshake-right.log")
    left = log_dumps(f"{directory}/handshake-left.log")
    packets = udp_payloads(f"{directory}/handshake.pcap")
    out = []

    def emit(name, data):
        out.append(f"{name} = {data.hex()}")

    # Messages on the wire. IKE_AUTH went to port 4500: strip the 4-byte non-ESP marker.
    emit("ike_sa_init_request", packets[0])
    emit("ike_sa_init_response", packets[1])
    assert packets[2][:4] == b"\0\0\0\0" and packets[3][:4] == b"\0\0\0\0"
    emit("ike_auth_request", packets[2][4:])
    emit("ike_auth_response", packets[3][4:])
    emit("esp_initiator_to_responder", packets[4])
    emit("esp_responder_to_initiator", packets[5])

    # Key derivation, as both daemons logged it (they agree).
    seed = only(right, "seed")[0]
    emit("ni", seed[:32])
    emit("nr", seed[32:])
    for label, name in [
        ("shared Diffie Hellman secret", "shared_secret"),
        ("SKEYSEED", "skeyseed"),
        ("Sk_d secret", "sk_d"),
        ("Sk_ei secret", "sk_ei"),
        ("Sk_er secret", "sk_er"),
        ("Sk_pi secret", "sk_pi"),
        ("Sk_pr secret", "sk_pr"),
    ]:
        value = only(right, label)[0]
        if label != "SKEYSEED":
            assert only(left, label)[0] == value, label
        emit(name, value)

    # PSK AUTH: the initiator's values come first in both logs.
    ids, octets = only(right, "IDx'"), only(right, "octets = message + nonce + prf(Sk_px, IDx')")
    auths = only(right, "AUTH = prf(prf(secret, keypad), octets)")
    emit("psk", only(right, "secret")[0])
    emit("prf_psk_key_pad", only(right, "prf(secret, keypad)")[0])
    emit("id_i_body", ids[0])
    emit("id_r_body", ids[1])
    emit("signed_octets_i", octets[0])
    emit("signed_octets_r", octets[1])
    emit("auth_i", auths[0])
    emit("auth_r", auths[1])

    # SK payload plaintexts: the responder decrypted the request, encrypted the response.
    emit("ike_auth_request_plaintext", only(left, "plain")[0])
    emit("ike_auth_response_plaintext", only(left, "plain")[1])

    # CHILD_SA ESP keys.
    emit("esp_encr_key_i2r", only(right, "encryption initiator key")[0])
    emit("esp_encr_key_r2i", only(right, "encryption responder key")[0])
    assert only(left, "encryption initiator key")[0] == only(right, "encryption initiator key")[0]

    # NAT detection inputs and hashes from both sides.
    chunks = only(right, "natd_chunk") + only(left, "natd_chunk")
    hashes = only(right, "natd_hash") + only(left, "natd_hash")
    for index, (chunk, digest) in enumerate(zip(chunks, hashes)):
        emit(f"natd_input_{index}", chunk)
        emit(f"natd_hash_{index}", digest)

    print("# strongSwan 5.9.8, PSK, CURVE_25519, AES_GCM_16_256, PRF_HMAC_SHA2_256, ESP AES_GCM_16_256")
    print("# Extracted by extract_strongswan_vectors.py from handshake.pcap and both level-4 logs.")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
