#!/usr/bin/python3
"""Generate tests/resources/vectors/key-box-v1.txt: fixed test vectors for
the sealed key box (a group key sealed to one device) and the key
commitment (docs/format.md, "Sealed key box").

This is an independent implementation in Python, written from the
description with PyNaCl's bindings of libsodium: crypto_sign_seed_keypair,
crypto_sign_ed25519_pk_to_curve25519 and crypto_box, and hashlib's
BLAKE2b. It never calls libmutual.

crypto_box_seal draws a fresh ephemeral key pair for every box, so its
boxes differ at each run. To keep this file reproducible, the generator
builds each box the way crypto_box_seal does, but from a fixed ephemeral
seed: ephemeral pair = crypto_box_seed_keypair(seed), nonce =
BLAKE2b-192(ephemeral pk | recipient pk), box = ephemeral pk |
crypto_box(key, nonce, recipient pk, ephemeral sk). Every such box is
checked to open with PyNaCl's crypto_box_seal_open, and so is a box of
PyNaCl's own crypto_box_seal (tests/library/test_vectors.py), so these are
libsodium's sealed boxes; the C test opens them with libmutual.

Usage (Debian's python3 with python3-nacl):
    /usr/bin/python3 tools/make_key_vectors.py            # rewrite the file
    /usr/bin/python3 tools/make_key_vectors.py --stdout   # print it instead
    /usr/bin/python3 tools/make_key_vectors.py --check    # exit 1 if it differs
"""

import hashlib
import os
import struct
import sys

from nacl.bindings import (crypto_box, crypto_box_seal_open, crypto_box_seed_keypair,
                           crypto_sign_ed25519_pk_to_curve25519, crypto_sign_ed25519_sk_to_curve25519,
                           crypto_sign_seed_keypair)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vectorfile  # noqa: E402  (the command line the generators share)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTOR_FILE = os.path.join(ROOT, "tests", "resources", "vectors", "key-box-v1.txt")

BOX_SIZE = 80  # ephemeral X25519 pk (32) | Poly1305 tag (16) | key (32)
COMMIT_DOMAIN = b"mutual.key.commit.v1\n"

# ------------------------------------------------------------------ inputs

SEED = bytes(range(0x00, 0x20))  # the recipient device's Ed25519 seed (event-v1.txt's device)
OTHER_SEED = bytes(range(0x20, 0x40))  # another device (event-v1.txt's peer_a)
GROUP_ID = bytes(range(0xA0, 0xB0))  # 16 bytes
GROUP_KEY = bytes(range(0x60, 0x80))  # the group key sealed (32)
KEY_ID = 0x0A0B0C0D
EPHEMERAL_1 = bytes(range(0x40, 0x60))  # ephemeral seeds, one per box
EPHEMERAL_2 = bytes(range(0xC0, 0xE0))


# --------------------------------------------------------------- the format


def device(seed):
    """(Ed25519 pk, Ed25519 sk = seed | pk, X25519 pk, X25519 sk) of a seed."""
    pk, sk = crypto_sign_seed_keypair(seed)
    return pk, sk, crypto_sign_ed25519_pk_to_curve25519(pk), crypto_sign_ed25519_sk_to_curve25519(sk)


def seal(key, recipient_x25519_pk, ephemeral_seed):
    """crypto_box_seal with a fixed ephemeral key pair."""
    epk, esk = crypto_box_seed_keypair(ephemeral_seed)
    nonce = hashlib.blake2b(epk + recipient_x25519_pk, digest_size=24).digest()
    box = epk + crypto_box(key, nonce, recipient_x25519_pk, esk)
    assert len(box) == BOX_SIZE
    return box


def commit(group_id, key_id, key):
    """BLAKE2b-256("mutual.key.commit.v1\\n" | group id (16) | key id u32 BE | key (32))."""
    assert len(group_id) == 16 and len(key) == 32
    return hashlib.blake2b(COMMIT_DOMAIN + group_id + struct.pack(">I", key_id) + key, digest_size=32).digest()


# ------------------------------------------------------------------ vectors


def vectors():
    """[(comment, fields)] in file order."""
    out = []
    pk, sk, xpk, xsk = device(SEED)
    other_pk, other_sk, other_xpk, other_xsk = device(OTHER_SEED)

    def add(comment, expect, error, seed, box, key_id, commitment):
        dpk, _, dxpk, _ = device(seed)
        out.append((comment, [
            ("expect", expect), ("error", error), ("device_seed", seed.hex()),
            ("device_pk", dpk.hex()), ("device_x25519_pk", dxpk.hex()), ("group_id", GROUP_ID.hex()),
            ("key_id", str(key_id)), ("group_key", GROUP_KEY.hex()), ("box", box.hex()),
            ("commitment", commitment.hex()),
        ]))

    box1 = seal(GROUP_KEY, xpk, EPHEMERAL_1)
    box2 = seal(GROUP_KEY, other_xpk, EPHEMERAL_2)
    good = commit(GROUP_ID, KEY_ID, GROUP_KEY)
    assert crypto_box_seal_open(box1, xpk, xsk) == GROUP_KEY
    assert crypto_box_seal_open(box2, other_xpk, other_xsk) == GROUP_KEY

    add("The group key sealed to the device of seed 00..1f; it opens with\n"
        "that device's key, and the commitment is the key's.",
        "accept", "", SEED, box1, KEY_ID, good)
    add("The same key sealed to the device of seed 20..3f (its own box).",
        "accept", "", OTHER_SEED, box2, KEY_ID, good)
    add("Vector 2's box, opened by the device of seed 00..1f: a box for\n"
        "another device does not open.",
        "reject", "MUTUAL_EVERIFY", SEED, box2, KEY_ID, good)
    flipped = bytearray(box1)
    flipped[40] ^= 0x01  # a byte of the tag
    add("Vector 1's box with byte 40 (in the Poly1305 tag) XOR 0x01.",
        "reject", "MUTUAL_EVERIFY", SEED, bytes(flipped), KEY_ID, good)
    flipped = bytearray(box1)
    flipped[0] ^= 0x01  # the ephemeral public key
    add("Vector 1's box with byte 0 (in the ephemeral public key) XOR 0x01.",
        "reject", "MUTUAL_EVERIFY", SEED, bytes(flipped), KEY_ID, good)
    add("Vector 1's box, whose key opens, checked against the commitment for\n"
        "key id 1 while the rotation names key id 0x0a0b0c0d: a box moved\n"
        "from another rotation is caught by the commitment.",
        "reject", "MUTUAL_EVERIFY", SEED, box1, KEY_ID, commit(GROUP_ID, 1, GROUP_KEY))
    other_group = bytes(range(0xB0, 0xC0))
    add("Vector 1's box checked against the commitment made for another\n"
        "group id (b0..bf).",
        "reject", "MUTUAL_EVERIFY", SEED, box1, KEY_ID, commit(other_group, KEY_ID, GROUP_KEY))
    return out

# ------------------------------------------------------------------ output

HEADER_COMMENT = """\
# libmutual sealed key box and key commitment, version 1: fixed test vectors.
#
# GENERATED by tools/make_key_vectors.py, an independent implementation in
# Python (PyNaCl's bindings of libsodium, hashlib's BLAKE2b). It is never
# produced by libmutual. Do not edit by hand: change the generator and rerun
# it. tests/library/test_vectors.py re-derives every value with Python;
# tests/library/test_vectors.c (--key-box) checks libmutual's
# mutual__x25519_public, mutual__key_box_open and mutual__key_commit_check
# against it.
#
# A rotation carries the new group key once per remaining device, sealed to
# the device's X25519 key, which is derived from its Ed25519 key (never
# announced):
#   x25519 pk  = crypto_sign_ed25519_pk_to_curve25519(device pk)
#   x25519 sk  = crypto_sign_ed25519_sk_to_curve25519(device seed | pk)
#   box        = crypto_box_seal(group key (32), x25519 pk)          80 bytes
#              = ephemeral pk (32) | crypto_box(key, nonce, x25519 pk,
#                ephemeral sk) (48), nonce = BLAKE2b-192(ephemeral pk |
#                x25519 pk)
#   commitment = BLAKE2b-256("mutual.key.commit.v1\\n" (21) | group id (16)
#                | key id u32 big-endian | group key (32))          32 bytes
# A box is accepted when crypto_box_seal_open opens it with the device's
# X25519 key pair AND the key it holds has the commitment the rotation
# names for (group id, key id).
#
# Syntax: as event-v1.txt. Blank lines and lines starting with '#' are
# ignored. Every other line is "key: value". Byte strings are lowercase
# hex; integers are decimal. A line "vector: N" starts the block of
# vector N; lines before the first one are about the whole file.
#
# Each vector:
#   expect            accept: the box opens to group_key and the commitment
#                     matches; reject: one of them fails with `error`
#   error             MUTUAL_EVERIFY; empty for accept
#   device_seed       the Ed25519 seed of the device opening the box
#   device_pk         its Ed25519 public key
#   device_x25519_pk  its derived X25519 public key
#   group_id          the group id (16 bytes) the commitment is checked for
#   key_id            the key id the commitment is checked for
#   group_key         the key that was sealed (32 bytes)
#   box               the sealed box (80 bytes)
#   commitment        the commitment the rotation names
"""


def render():
    return vectorfile.render_blocks(HEADER_COMMENT, "key-box-v1", vectors())


def main(argv):
    return vectorfile.main(argv, render, VECTOR_FILE, "tools/make_key_vectors.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
