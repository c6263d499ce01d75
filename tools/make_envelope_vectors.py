#!/usr/bin/python3
"""Generate tests/resources/vectors/envelope-newer.txt: fixed test vectors
for the outer envelope of every medium version after 1 (envelope version
byte 2 and later), the one thing of a newer medium this version checks
before it keeps or forwards it.

This is an independent implementation in Python, written from the
description (docs/format.md, "Envelope") with PyNaCl's binding of
libsodium's crypto_aead_xchacha20poly1305_ietf_encrypt. It never calls
libmutual: the point of the vectors is that two implementations agree. Every
input, nonces included, is fixed and the AEAD is deterministic given them,
so running this again must give the same bytes (tests/library/test_vectors.py
checks that).

Usage (Debian's python3 with python3-nacl):
    /usr/bin/python3 tools/make_envelope_vectors.py            # rewrite the file
    /usr/bin/python3 tools/make_envelope_vectors.py --stdout   # print it instead
    /usr/bin/python3 tools/make_envelope_vectors.py --check    # exit 1 if it differs
"""

import os
import struct
import sys

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt
from nacl.signing import SigningKey

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vectorfile  # noqa: E402  (the command line both generators share)

MAGIC = b"mseg"
HEADER_SIZE = 4 + 1 + 4 + 24  # magic | version | key id | nonce
TAG_SIZE = 16

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTOR_FILE = os.path.join(ROOT, "tests", "resources", "vectors", "envelope-newer.txt")

# ------------------------------------------------------------------ inputs

GROUP_KEY = bytes(range(0x60, 0x80))  # the group key (32)
OTHER_GROUP_KEY = bytes(range(0x80, 0xA0))  # another group's key
GROUP_ID = bytes(range(0xA0, 0xB0))  # the group id (16)
OTHER_GROUP_ID = bytes(range(0xB0, 0xC0))
# Device keys in ref names: the Ed25519 public keys of the seeds the event
# vectors use (event-v1.txt's device and its peer_a).
DEVICE = bytes(SigningKey(bytes(range(0x00, 0x20))).verify_key)
OTHER_DEVICE = bytes(SigningKey(bytes(range(0x20, 0x40))).verify_key)
NONCE_2 = bytes(range(0xC0, 0xD8))  # 24 bytes each
NONCE_9 = bytes(range(0xD8, 0xF0))
NONCE_1 = bytes(range(0xF0, 0xFF)) + bytes(range(0x00, 0x09))
PLAINTEXT_2 = b"an object of medium version 2: opaque to version 1, never parsed"
PLAINTEXT_9 = b""  # the shortest envelope there is: header and tag only


def ref(version, device):
    return "refs/mutual/v%d/devices/%s" % (version, device.hex())


# --------------------------------------------------------------- the format


def header(version, key_id, nonce):
    """The 33 header bytes: "mseg" | version u8 | key id u32 (big-endian) | nonce."""
    assert 0 <= version <= 255 and len(nonce) == 24
    out = MAGIC + struct.pack(">BI", version, key_id) + nonce
    assert len(out) == HEADER_SIZE
    return out


def associated_data(hdr, group_id, ref_name):
    """header (33) | group id (16) | the full ref name, ASCII, no NUL."""
    assert len(hdr) == HEADER_SIZE and len(group_id) == 16
    r = ref_name.encode("ascii")
    assert b"\0" not in r
    return hdr + group_id + r


def seal(version, key_id, nonce, plaintext, group_id, ref_name, key):
    hdr = header(version, key_id, nonce)
    ad = associated_data(hdr, group_id, ref_name)
    ct = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)
    assert len(ct) == len(plaintext) + TAG_SIZE
    return hdr + ct


# ------------------------------------------------------------------ vectors


def vectors():
    """[(comment, fields)]: fields in file order. For every vector, `header`
    is the envelope's first 33 bytes (version, key_id and nonce are read from
    it) and `associated_data` is what a checker builds from that header and
    the group_id and ref it is given; `plaintext` is what the envelope was
    sealed from (for a changed envelope: before the change)."""
    out = []

    def add(comment, expect, error, env, key, group_id, ref_name, plaintext):
        version, key_id = struct.unpack(">BI", env[4:9])
        hdr = env[:HEADER_SIZE]
        out.append((comment, [
            ("expect", expect), ("error", error), ("version", str(version)),
            ("key_id", str(key_id)), ("group_key", key.hex()), ("group_id", group_id.hex()),
            ("ref", ref_name), ("nonce", env[9:HEADER_SIZE].hex()), ("plaintext", plaintext.hex()),
            ("header", hdr.hex()), ("associated_data", associated_data(hdr, group_id, ref_name).hex()),
            ("envelope", env.hex()),
        ]))

    ref2, ref9 = ref(2, DEVICE), ref(9, DEVICE)
    env2 = seal(2, 1, NONCE_2, PLAINTEXT_2, GROUP_ID, ref2, GROUP_KEY)
    env9 = seal(9, 0x0A0B0C0D, NONCE_9, PLAINTEXT_9, GROUP_ID, ref9, GROUP_KEY)

    add("Version 2, key id 1: authentic under its ref.",
        "accept", "", env2, GROUP_KEY, GROUP_ID, ref2, PLAINTEXT_2)
    add("Version 9, key id 0x0a0b0c0d (big-endian), empty plaintext: the\n"
        "shortest envelope, 33 + 16 = 49 bytes. Authentic under its ref.",
        "accept", "", env9, GROUP_KEY, GROUP_ID, ref9, PLAINTEXT_9)
    add("Vector 1's envelope under another device's ref name: the ref is in\n"
        "the associated data, so it does not authenticate.",
        "reject", "MUTUAL_EVERIFY", env2, GROUP_KEY, GROUP_ID, ref(2, OTHER_DEVICE), PLAINTEXT_2)
    add("Vector 1's envelope checked as another group's (another group id).",
        "reject", "MUTUAL_EVERIFY", env2, GROUP_KEY, OTHER_GROUP_ID, ref2, PLAINTEXT_2)
    flipped = bytearray(env2)
    flipped[HEADER_SIZE] ^= 0x01  # the first ciphertext byte (byte 33)
    add("Vector 1's envelope with its first ciphertext byte (byte 33) XOR 0x01.",
        "reject", "MUTUAL_EVERIFY", bytes(flipped), GROUP_KEY, GROUP_ID, ref2, PLAINTEXT_2)
    bumped = bytearray(env2)
    bumped[4] = 3  # the version byte: the header is in the associated data
    add("Vector 1's envelope with its version byte changed from 2 to 3: the\n"
        "header is in the associated data, so it does not authenticate.",
        "reject", "MUTUAL_EVERIFY", bytes(bumped), GROUP_KEY, GROUP_ID, ref2, PLAINTEXT_2)
    add("Vector 1's envelope checked with another group key.",
        "reject", "MUTUAL_EVERIFY", env2, OTHER_GROUP_KEY, GROUP_ID, ref2, PLAINTEXT_2)
    env1 = seal(1, 1, NONCE_1, PLAINTEXT_2, GROUP_ID, ref2, GROUP_KEY)
    add("A version-1 header, sealed by the rule above (so the AEAD alone would\n"
        "accept it): version 1 is not a newer envelope and its objects do not\n"
        "use this associated data, so it is refused as invalid, not checked.",
        "reject", "MUTUAL_EINVALID", env1, GROUP_KEY, GROUP_ID, ref2, PLAINTEXT_2)
    return out

# ------------------------------------------------------------------ output

HEADER_COMMENT = """\
# libmutual envelope of medium versions 2 and later: fixed test vectors.
#
# GENERATED by tools/make_envelope_vectors.py, an independent implementation
# in Python (PyNaCl's crypto_aead_xchacha20poly1305_ietf_encrypt). It is
# never produced by libmutual. Do not edit by hand: change the generator and
# rerun it. tests/library/test_vectors.py re-derives every value with Python;
# tests/library/test_vectors.c (--envelope) checks libmutual's
# mutual__envelope_check_newer and mutual__envelope_version against it.
#
# Every medium version after 1 keeps the outer envelope, so that version 1
# can authenticate a newer medium's objects before it keeps or forwards
# them, without reading them:
#   envelope   = "mseg" (4) | version u8 (>= 2) | key id u32 | nonce (24)
#                | ciphertext
#   ciphertext = XChaCha20-Poly1305-IETF(group key, nonce, plaintext,
#                associated data = the 33 header bytes | group id (16)
#                | the full name of the ref the object is found under,
#                ASCII, no NUL)
# The plaintext is opaque (never decompressed or parsed). Version 1 itself
# uses other associated data (see docs/format.md, "Envelope"); a version 1
# or 0 envelope is not a newer one and is refused as invalid.
#
# Syntax: as event-v1.txt. Blank lines and lines starting with '#' are
# ignored. Every other line is "key: value", the value being everything
# after ": " to the end of the line (a line "key:" has an empty value). The
# file is UTF-8 with "\\n" line ends. Byte strings are lowercase hex;
# integers are decimal. A line "vector: N" starts the block of vector N;
# lines before the first one are about the whole file.
#
# Each vector (all integers big-endian):
#   expect           accept: mutual__envelope_check_newer returns 0;
#                    reject: it returns `error`
#   error            MUTUAL_EVERIFY (does not authenticate) or MUTUAL_EINVALID
#                    (not an envelope of version >= 2); empty for accept
#   version, key_id  bytes 4 and 5..8 of the envelope;
#                    mutual__envelope_version returns `version`
#   group_key        the 32-byte key the checker is given
#   group_id         the 16-byte group id the checker is given
#   ref              the ref name the checker is given
#   nonce            bytes 9..32 of the envelope
#   plaintext        what the envelope was sealed from (before any change
#                    the vector's comment describes)
#   header           the envelope's first 33 bytes
#   associated_data  header | group_id | ref, as the checker builds it
#   envelope         the object
# An accepted vector's envelope is header | ciphertext, ciphertext (16 bytes
# longer than the plaintext) being the AEAD of plaintext with group_key,
# nonce and associated_data.
"""


def render():
    return vectorfile.render_blocks(HEADER_COMMENT, "envelope-newer", vectors())


def main(argv):
    return vectorfile.main(argv, render, VECTOR_FILE, "tools/make_envelope_vectors.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
