#!/usr/bin/env python3
"""Builds SK payload bodies for AES-CBC + HMAC-SHA2 with Python's `cryptography` package, as an
independent implementation of RFC 7296 §3.14 / RFC 4868 to check `SkCipher` against.

Body = IV || AES-CBC(plaintext || zero padding || pad length) || HMAC(prefix || IV || ciphertext)
truncated to half the hash length. Output lines `name = hex`, one group per suite; run once:

    make_cbc_hmac_vectors.py > cbc-hmac-sk.txt
"""
import hashlib
import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SUITES = [
    # (name, AES key length, hash, integrity key length, ICV length)
    ("aes128_sha256", 16, hashlib.sha256, 32, 16),
    ("aes256_sha384", 32, hashlib.sha384, 48, 24),
    ("aes256_sha512", 32, hashlib.sha512, 64, 32),
]

PLAINTEXT = bytes.fromhex("2900000c010000000a000001") + b"example payload chain, 41 bytes long"


def ike_prefix(body_len):
    """An IKE header (SPIs, SK first, IKE_AUTH request, message ID 1) and the SK header."""
    total = 28 + 4 + body_len
    header = bytes.fromhex("0102030405060708" "1112131415161718") + bytes([46, 0x20, 35, 0x08])
    header += (1).to_bytes(4, "big") + total.to_bytes(4, "big")
    return header + bytes([35, 0]) + (4 + body_len).to_bytes(2, "big")


def main():
    for index, (name, key_len, digest, integ_len, icv_len) in enumerate(SUITES):
        encr_key = bytes(range(0x40 + index, 0x40 + index + key_len))
        integ_key = bytes(range(0x80 + index, 0x80 + index + integ_len))
        iv = bytes(range(0xC0 + index, 0xD0 + index))
        pad_len = 15 - len(PLAINTEXT) % 16
        padded = PLAINTEXT + bytes(pad_len) + bytes([pad_len])
        encryptor = Cipher(algorithms.AES(encr_key), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        prefix = ike_prefix(len(iv) + len(ciphertext) + icv_len)
        icv = hmac.new(integ_key, prefix + iv + ciphertext, digest).digest()[:icv_len]
        print(f"{name}_encr_key = {encr_key.hex()}")
        print(f"{name}_integ_key = {integ_key.hex()}")
        print(f"{name}_prefix = {prefix.hex()}")
        print(f"{name}_plaintext = {PLAINTEXT.hex()}")
        print(f"{name}_body = {(iv + ciphertext + icv).hex()}")


if __name__ == "__main__":
    main()
