#!/usr/bin/python3
"""Check tests/resources/vectors/event-v1.txt, the fixed test vectors of
format version 1 of a libmutual event, with Python alone (hashlib + PyNaCl):

  - the file is exactly what tools/make_vectors.py generates, so it cannot
    silently drift from its inputs;
  - every derived value in it re-derives from the inputs in the file
    (code written here, separately from the generator);
  - signatures verify with PyNaCl, and each prev is the previous hash;
  - docs/format.md quotes the file verbatim, once the docs carry the
    marker line "<!-- vectors:event-v1 -->" (skipped until then).

and tests/resources/vectors/envelope-newer.txt, the envelope of medium
versions 2 and later (the one check this version makes on a newer medium's
objects):

  - the file is exactly what tools/make_envelope_vectors.py generates;
  - every header, associated data and envelope re-derives from the inputs in
    the file, with PyNaCl and with a small pure-Python XChaCha20-Poly1305
    written here (so not only libsodium vouches for the bytes); accepted
    vectors open, rejected ones fail for the reason they give;
  - the rejected vectors are the promised changes of vector 1 (another ref,
    another group id, one ciphertext byte, a version-1 header);
  - docs/format.md quotes the file verbatim in the fenced block right after
    the marker line "<!-- vectors:envelope-newer -->" (required).

and tests/resources/vectors/key-box-v1.txt, the sealed key box and the key
commitment:

  - the file is exactly what tools/make_key_vectors.py generates;
  - each device's Ed25519 and X25519 public keys re-derive from its seed;
    accepted boxes open with PyNaCl's crypto_box_seal_open to the key whose
    commitment (recomputed here with hashlib) is the one listed; rejected
    ones either do not open or commit to something else;
  - a box of PyNaCl's own randomized crypto_box_seal opens alike;
  - docs/format.md quotes the file after "<!-- vectors:key-box-v1 -->".

tests/library/test_vectors.c checks libmutual itself against the same files.

Usage: /usr/bin/python3 tests/library/test_vectors.py [VECTOR_FILE] [--envelope FILE]
           [--key-box FILE] [--docs FORMAT_MD] [unittest options]
(Debian's python3 with python3-nacl.)
"""

import hashlib
import importlib.util
import os
import re
import struct
import sys
import unittest

try:
    from nacl.bindings import (crypto_aead_xchacha20poly1305_ietf_decrypt,
                               crypto_aead_xchacha20poly1305_ietf_encrypt, crypto_box_seal,
                               crypto_box_seal_open, crypto_sign_ed25519_pk_to_curve25519,
                               crypto_sign_ed25519_sk_to_curve25519, crypto_sign_seed_keypair)
    from nacl.exceptions import BadSignatureError, CryptoError
    from nacl.signing import SigningKey, VerifyKey
except ImportError:  # pragma: no cover
    sys.stderr.write("test_vectors.py needs PyNaCl: run it with /usr/bin/python3 "
                     "(Debian's python3-nacl)\n")
    sys.exit(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTOR_FILE = os.path.join(ROOT, "tests", "resources", "vectors", "event-v1.txt")
GENERATOR = os.path.join(ROOT, "tools", "make_vectors.py")
DOCS = os.path.join(ROOT, "docs", "format.md")
DOCS_MARKER = "<!-- vectors:event-v1 -->"
ENVELOPE_FILE = os.path.join(ROOT, "tests", "resources", "vectors", "envelope-newer.txt")
ENVELOPE_GENERATOR = os.path.join(ROOT, "tools", "make_envelope_vectors.py")
ENVELOPE_MARKER = "<!-- vectors:envelope-newer -->"
KEY_BOX_FILE = os.path.join(ROOT, "tests", "resources", "vectors", "key-box-v1.txt")
KEY_BOX_GENERATOR = os.path.join(ROOT, "tools", "make_key_vectors.py")
KEY_BOX_MARKER = "<!-- vectors:key-box-v1 -->"

TOP_KEYS = ["format", "seed", "public_key", "peer_a_seed", "peer_a_public_key",
            "peer_b_seed", "peer_b_public_key"]
EVENT_KEYS = ["event", "seq", "hlc", "type", "payload", "payload_digest", "prev",
              "frontier_input", "frontier", "header", "hash", "signed",
              "sig_message", "signature", "wire"]
HEX_KEYS = {"seed", "public_key", "peer_a_seed", "peer_a_public_key", "peer_b_seed",
            "peer_b_public_key", "payload_digest", "prev", "frontier", "header",
            "hash", "sig_message", "signature", "wire"}


def parse(raw, block_key="event", hex_keys=HEX_KEYS):
    """The line format, strictly: returns (top dict, [block dict]), a block
    starting at each `block_key` line (an event's, by default)."""
    text = raw.decode("utf-8")  # strict: raises on bad UTF-8
    if "\r" in text:
        raise ValueError("carriage return in the file: line ends must be \\n")
    if not text.endswith("\n"):
        raise ValueError("the file must end with a newline")
    top, events, cur = {}, [], None
    for no, line in enumerate(text[:-1].split("\n"), 1):
        if line == "" or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or (value and not value.startswith(" ")):
            raise ValueError("line %d is not 'key: value': %r" % (no, line))
        value = value[1:]
        if key == block_key:
            cur = {}
            events.append(cur)
        block = top if cur is None else cur
        if key in block:
            raise ValueError("line %d repeats key %r" % (no, key))
        if key in hex_keys and value != value.lower():
            raise ValueError("line %d: hex must be lowercase" % no)
        block[key] = bytes.fromhex(value) if key in hex_keys else value
    return top, events


def b2b(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def u64(v):
    return v.to_bytes(8, "big")


def load_generator(path=GENERATOR, name="make_vectors"):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class EventVectorsV1(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(VECTOR_FILE, "rb") as f:
            cls.raw = f.read()
        cls.top, cls.events = parse(cls.raw)

    def test_layout(self):
        self.assertEqual(list(self.top), TOP_KEYS)
        self.assertEqual(self.top["format"], "1")
        self.assertEqual(len(self.events), 3)
        for i, ev in enumerate(self.events, 1):
            with self.subTest(event=i):
                self.assertEqual(list(ev), EVENT_KEYS)
                self.assertEqual(ev["event"], str(i))
                self.assertEqual(ev["seq"], str(i))

    def test_file_is_what_the_generator_makes(self):
        gen = load_generator().render().encode("utf-8")
        self.assertTrue(gen == self.raw,
                        "%s differs from the output of tools/make_vectors.py; "
                        "regenerate it with /usr/bin/python3 tools/make_vectors.py "
                        "(and explain why the vectors changed)" % VECTOR_FILE)

    def test_fixed_inputs(self):
        # The inputs promised in the docs, so the vectors stay reproducible.
        self.assertEqual(self.top["seed"], bytes(range(0x00, 0x20)))
        self.assertEqual(self.top["peer_a_seed"], bytes(range(0x20, 0x40)))
        self.assertEqual(self.top["peer_b_seed"], bytes(range(0x40, 0x60)))
        hlc0 = 1767225600000 << 16  # 2026-01-01T00:00:00Z
        want = [(hlc0, "mutual.group.create", '{"group":"Food pantry","name":"laptop"}',
                 "", "1"),
                (hlc0 + 1, "pantry.stock.in", '{"item":"rice","qty":5,"unit":"kg"}',
                 "peer_a=7 peer_b=3", "0"),
                (hlc0 + 2, "pantry.stock.out", '{"item":"caf\u00e9","qty":2}', "", "1")]
        for ev, (hlc, type_, payload, frontier_in, signed) in zip(self.events, want):
            with self.subTest(event=ev["event"]):
                self.assertEqual(int(ev["hlc"]), hlc)
                self.assertEqual(ev["type"], type_)
                self.assertEqual(ev["payload"], payload)
                self.assertEqual(ev["frontier_input"], frontier_in)
                self.assertEqual(ev["signed"], signed)
        self.assertIn(b"caf\xc3\xa9", self.events[2]["wire"])

    def test_public_keys(self):
        for name in ("", "peer_a_", "peer_b_"):
            with self.subTest(key=name + "public_key"):
                pk = bytes(SigningKey(self.top[name + "seed"]).verify_key)
                self.assertEqual(self.top[name + "public_key"], pk)

    def rederive(self, ev, prev):
        """Every derived field of `ev` from its inputs, as the file spells it."""
        device = self.top["public_key"]
        payload = ev["payload"].encode("utf-8")
        digest = b2b(payload)
        entries = []
        for item in ev["frontier_input"].split():
            name, _, seq = item.partition("=")
            entries.append(self.top[name + "_public_key"] + u64(int(seq)))
        entries.sort(key=lambda e: e[:32])
        frontier = b"".join(entries)
        type_ = ev["type"].encode("ascii")
        header = b"".join([b"mutual.event.v1\n", device, u64(int(ev["seq"])),
                           u64(int(ev["hlc"])), bytes([len(type_)]), type_, digest,
                           prev, struct.pack(">I", len(entries)), frontier])
        h = b2b(header)
        sig_message = sig = b""
        tail = b"\x00"
        if ev["signed"] == "1":
            sig_message = b"mutual.sig.v1\n" + h
            sig = SigningKey(self.top["seed"]).sign(sig_message).signature
            tail = b"\x01" + sig
        wire = header + struct.pack(">I", len(payload)) + payload + tail
        return {"payload_digest": digest, "prev": prev, "frontier": frontier,
                "header": header, "hash": h, "sig_message": sig_message,
                "signature": sig, "wire": wire}

    def test_rederive_every_value(self):
        prev = bytes(32)
        for ev in self.events:
            got = self.rederive(ev, prev)
            for field, value in got.items():
                with self.subTest(event=ev["event"], field=field):
                    self.assertEqual(ev[field].hex(), value.hex())
            prev = got["hash"]

    def test_chain(self):
        self.assertEqual(self.events[0]["prev"], bytes(32))
        for before, ev in zip(self.events, self.events[1:]):
            with self.subTest(event=ev["event"]):
                self.assertEqual(ev["prev"], before["hash"])
                self.assertEqual(int(ev["seq"]), int(before["seq"]) + 1)
                self.assertGreater(int(ev["hlc"]), int(before["hlc"]))
        self.assertEqual(self.events[-1]["signed"], "1",
                         "the last event must be signed to cover the chain")

    def test_signatures(self):
        vk = VerifyKey(self.top["public_key"])
        for ev in self.events:
            with self.subTest(event=ev["event"]):
                if ev["signed"] == "0":
                    self.assertEqual(ev["signature"], b"")
                    self.assertEqual(ev["sig_message"], b"")
                    continue
                self.assertEqual(len(ev["signature"]), 64)
                msg = b"mutual.sig.v1\n" + ev["hash"]
                self.assertEqual(len(msg), 46)
                self.assertEqual(ev["sig_message"], msg)
                vk.verify(msg, ev["signature"])  # raises if bad
                bad = bytearray(msg)
                bad[-1] ^= 1
                with self.assertRaises(BadSignatureError):
                    vk.verify(bytes(bad), ev["signature"])
                with self.assertRaises(BadSignatureError):
                    VerifyKey(self.top["peer_a_public_key"]).verify(msg, ev["signature"])

    def test_wire_decodes(self):
        # A small decoder of the wire form, separate from the encoder above.
        for ev in self.events:
            with self.subTest(event=ev["event"]):
                w = ev["wire"]
                self.assertEqual(w[:16], b"mutual.event.v1\n")
                self.assertEqual(w[16:48], self.top["public_key"])
                seq, hlc, tlen = struct.unpack(">QQB", w[48:65])
                self.assertEqual((seq, hlc), (int(ev["seq"]), int(ev["hlc"])))
                p = 65 + tlen
                self.assertEqual(w[65:p].decode("ascii"), ev["type"])
                self.assertEqual(w[p:p + 32], ev["payload_digest"])
                self.assertEqual(w[p + 32:p + 64], ev["prev"])
                (n,) = struct.unpack(">I", w[p + 64:p + 68])
                p += 68
                self.assertEqual(w[p:p + 40 * n], ev["frontier"])
                p += 40 * n
                self.assertEqual(w[:p], ev["header"])
                (plen,) = struct.unpack(">I", w[p:p + 4])
                self.assertEqual(w[p + 4:p + 4 + plen], ev["payload"].encode("utf-8"))
                p += 4 + plen
                self.assertEqual(w[p], int(ev["signed"]))
                self.assertEqual(w[p + 1:], ev["signature"])
                self.assertEqual(len(w), p + 1 + (64 if ev["signed"] == "1" else 0))

    def test_docs_quote_the_vectors(self):
        if not os.path.exists(DOCS):
            self.skipTest("docs/format.md does not exist yet")
        with open(DOCS, "rb") as f:
            docs = f.read()
        lines = docs.split(b"\n")
        if DOCS_MARKER.encode() not in lines:
            self.skipTest("docs/format.md has no line %r yet" % DOCS_MARKER)
        after = b"\n".join(lines[lines.index(DOCS_MARKER.encode()) + 1:])
        self.assertTrue(self.raw in after,
                        "docs/format.md does not quote %s verbatim (after the marker "
                        "%r): copy the file's content into it again"
                        % (os.path.relpath(VECTOR_FILE, ROOT), DOCS_MARKER))


# ------------------------------------------------- envelope of versions >= 2

ENV_TOP_KEYS = ["format"]
ENV_KEYS = ["vector", "expect", "error", "version", "key_id", "group_key", "group_id",
            "ref", "nonce", "plaintext", "header", "associated_data", "envelope"]
ENV_HEX_KEYS = {"group_key", "group_id", "nonce", "plaintext", "header",
                "associated_data", "envelope"}
ENV_HEADER = 33  # "mseg" (4) | version u8 | key id u32 | nonce (24)
AEAD_TAG = 16


def _rotl32(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _chacha_rounds(state):
    """ChaCha20's 20 rounds (RFC 8439, 2.3) of 16 words, without the final add."""
    x = list(state)
    for _ in range(10):
        for a, b, c, d in ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
                           (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14)):
            x[a] = (x[a] + x[b]) & 0xFFFFFFFF
            x[d] = _rotl32(x[d] ^ x[a], 16)
            x[c] = (x[c] + x[d]) & 0xFFFFFFFF
            x[b] = _rotl32(x[b] ^ x[c], 12)
            x[a] = (x[a] + x[b]) & 0xFFFFFFFF
            x[d] = _rotl32(x[d] ^ x[a], 8)
            x[c] = (x[c] + x[d]) & 0xFFFFFFFF
            x[b] = _rotl32(x[b] ^ x[c], 7)
    return x


_SIGMA = list(struct.unpack("<4I", b"expand 32-byte k"))


def _chacha20_block(key, counter, nonce12):
    state = _SIGMA + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce12))
    x = _chacha_rounds(state)
    return struct.pack("<16I", *[(a + b) & 0xFFFFFFFF for a, b in zip(x, state)])


def _poly1305(key, msg):
    """RFC 8439, 2.5."""
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:32], "little")
    p, acc = (1 << 130) - 5, 0
    for i in range(0, len(msg), 16):
        acc = (acc + int.from_bytes(msg[i:i + 16] + b"\x01", "little")) * r % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def xchacha20poly1305_encrypt(key, nonce, plaintext, ad):
    """XChaCha20-Poly1305-IETF (draft-irtf-cfrg-xchacha: HChaCha20 subkey,
    then RFC 8439's AEAD): ciphertext | 16-byte tag. Pure Python, slow, for
    a few small vectors only."""
    assert len(key) == 32 and len(nonce) == 24
    h = _chacha_rounds(_SIGMA + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce[:16])))
    subkey = struct.pack("<8I", *(h[0:4] + h[12:16]))
    nonce12 = bytes(4) + nonce[16:]
    otk = _chacha20_block(subkey, 0, nonce12)[:32]
    stream = b"".join(_chacha20_block(subkey, 1 + i, nonce12)
                      for i in range((len(plaintext) + 63) // 64))
    ct = bytes(a ^ b for a, b in zip(plaintext, stream))

    def pad16(b):
        return b + bytes(-len(b) % 16)
    mac = pad16(ad) + pad16(ct) + struct.pack("<QQ", len(ad), len(ct))
    return ct + _poly1305(otk, mac)


class EnvelopeVectorsNewer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(ENVELOPE_FILE, "rb") as f:
            cls.raw = f.read()
        cls.top, cls.vectors = parse(cls.raw, "vector", ENV_HEX_KEYS)

    def test_layout(self):
        self.assertEqual(list(self.top), ENV_TOP_KEYS)
        self.assertEqual(self.top["format"], "envelope-newer")
        self.assertGreaterEqual(len(self.vectors), 6)
        for i, v in enumerate(self.vectors, 1):
            with self.subTest(vector=i):
                self.assertEqual(list(v), ENV_KEYS)
                self.assertEqual(v["vector"], str(i))
                self.assertIn((v["expect"], v["error"]),
                              [("accept", ""), ("reject", "MUTUAL_EVERIFY"),
                               ("reject", "MUTUAL_EINVALID")])
                self.assertEqual(str(int(v["version"])), v["version"])
                self.assertEqual(str(int(v["key_id"])), v["key_id"])
                self.assertEqual((len(v["group_key"]), len(v["group_id"]), len(v["nonce"])),
                                 (32, 16, 24))
                self.assertTrue(v["ref"].startswith("refs/") and v["ref"].isascii())

    def test_file_is_what_the_generator_makes(self):
        gen = load_generator(ENVELOPE_GENERATOR, "make_envelope_vectors").render().encode("utf-8")
        self.assertTrue(gen == self.raw,
                        "%s differs from the output of tools/make_envelope_vectors.py; "
                        "regenerate it with /usr/bin/python3 tools/make_envelope_vectors.py "
                        "(and explain why the vectors changed)" % ENVELOPE_FILE)

    def test_pure_python_aead_known_answer(self):
        # draft-irtf-cfrg-xchacha-03, A.3.1: its published tag, and PyNaCl's bytes.
        pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one "
              b"tip for the future, sunscreen would be it.")
        ad, key, nonce = bytes.fromhex("50515253c0c1c2c3c4c5c6c7"), bytes(range(0x80, 0xA0)), \
            bytes(range(0x40, 0x58))
        got = xchacha20poly1305_encrypt(key, nonce, pt, ad)
        self.assertEqual(got[-16:].hex(), "c0875924c1c7987947deafd8780acf49")
        self.assertEqual(got, crypto_aead_xchacha20poly1305_ietf_encrypt(pt, ad, nonce, key))

    def test_fixed_inputs(self):
        accepted = [v for v in self.vectors if v["expect"] == "accept"]
        self.assertEqual([v["version"] for v in accepted], ["2", "9"])
        device = bytes(SigningKey(bytes(range(0x00, 0x20))).verify_key).hex()
        for v, nonce, key_id in zip(accepted, (range(0xC0, 0xD8), range(0xD8, 0xF0)),
                                    (1, 0x0A0B0C0D)):
            with self.subTest(vector=v["vector"]):
                self.assertEqual(v["group_key"], bytes(range(0x60, 0x80)))
                self.assertEqual(v["group_id"], bytes(range(0xA0, 0xB0)))
                self.assertEqual(v["nonce"], bytes(nonce))
                self.assertEqual(int(v["key_id"]), key_id)
                self.assertEqual(v["ref"], "refs/mutual/v%s/devices/%s" % (v["version"], device))
        self.assertEqual(accepted[1]["plaintext"], b"")
        self.assertEqual(len(accepted[1]["envelope"]), ENV_HEADER + AEAD_TAG)

    def test_rederive_every_value(self):
        for v in self.vectors:
            with self.subTest(vector=v["vector"]):
                env, key, nonce = v["envelope"], v["group_key"], v["nonce"]
                version, key_id = int(v["version"]), int(v["key_id"])
                header = b"mseg" + bytes([version]) + key_id.to_bytes(4, "big") + nonce
                self.assertEqual(v["header"].hex(), header.hex())
                self.assertEqual(env[:ENV_HEADER].hex(), header.hex())
                ref = v["ref"].encode("ascii")
                self.assertNotIn(b"\0", ref)
                ad = header + v["group_id"] + ref
                self.assertEqual(v["associated_data"].hex(), ad.hex())
                sealed = header + xchacha20poly1305_encrypt(key, nonce, v["plaintext"], ad)
                self.assertEqual(sealed, header + crypto_aead_xchacha20poly1305_ietf_encrypt(
                    v["plaintext"], ad, nonce, key))
                if v["expect"] == "accept":
                    self.assertGreaterEqual(version, 2)
                    self.assertEqual(env.hex(), sealed.hex())
                    self.assertEqual(crypto_aead_xchacha20poly1305_ietf_decrypt(
                        env[ENV_HEADER:], ad, nonce, key), v["plaintext"])
                elif v["error"] == "MUTUAL_EVERIFY":
                    # A well-formed newer envelope that does not authenticate.
                    self.assertGreaterEqual(version, 2)
                    self.assertGreaterEqual(len(env), ENV_HEADER + AEAD_TAG)
                    self.assertNotEqual(env, sealed)
                    with self.assertRaises(CryptoError):
                        crypto_aead_xchacha20poly1305_ietf_decrypt(env[ENV_HEADER:], ad, nonce, key)
                else:
                    # Not a newer envelope. Here it is authentic by the rule,
                    # so only its version can be the reason it is refused.
                    self.assertLess(version, 2)
                    self.assertEqual(env.hex(), sealed.hex())

    def test_the_promised_negatives(self):
        first = self.vectors[0]
        self.assertEqual((first["expect"], first["version"]), ("accept", "2"))
        rejected = [v for v in self.vectors if v["expect"] == "reject"]
        same = ("group_key", "group_id", "ref", "envelope")

        def changed(v):
            return {k for k in same if v[k] != first[k]}

        kinds = set()
        for v in rejected:
            if changed(v) == {"ref"}:
                kinds.add("another ref")
            elif changed(v) == {"group_id"}:
                kinds.add("another group id")
            elif changed(v) == {"envelope"} and len(v["envelope"]) == len(first["envelope"]):
                diff = [i for i, (a, b) in enumerate(zip(v["envelope"], first["envelope"])) if a != b]
                if len(diff) == 1 and diff[0] >= ENV_HEADER:
                    kinds.add("a ciphertext byte")
            if v["version"] == "1" and v["error"] == "MUTUAL_EINVALID":
                kinds.add("a version-1 header")
        self.assertEqual(kinds, {"another ref", "another group id", "a ciphertext byte",
                                 "a version-1 header"})

    def test_docs_quote_the_vectors(self):
        assert_docs_quote(self, self.raw, ENVELOPE_FILE, ENVELOPE_MARKER)


def assert_docs_quote(test, raw, path, marker):
    """docs/format.md carries `marker` once, then a fenced block quoting `raw`."""
    test.assertTrue(os.path.exists(DOCS), "%s does not exist" % DOCS)
    with open(DOCS, "rb") as f:
        lines = f.read().split(b"\n")
    test.assertEqual(lines.count(marker.encode()), 1,
                     "docs/format.md must carry the line %r exactly once, followed by a fenced "
                     "block quoting %s" % (marker, os.path.relpath(path, ROOT)))
    after = b"\n".join(lines[lines.index(marker.encode()) + 1:])
    test.assertTrue(after.startswith(b"```\n" + raw + b"```\n"),
                    "docs/format.md does not quote %s verbatim in the fenced block right after the "
                    "marker %r: copy the file's content into it again" % (os.path.relpath(path, ROOT), marker))


KEY_BOX_KEYS = ["vector", "expect", "error", "device_seed", "device_pk", "device_x25519_pk", "group_id",
                "key_id", "group_key", "box", "commitment"]
KEY_BOX_HEX_KEYS = {"device_seed", "device_pk", "device_x25519_pk", "group_id", "group_key", "box",
                    "commitment"}


def key_commit(group_id, key_id, key):
    """docs/format.md, "Sealed key box": written again from the text."""
    return b2b(b"mutual.key.commit.v1\n" + group_id + struct.pack(">I", key_id) + key)


class KeyBoxVectorsV1(unittest.TestCase):
    """The sealed key box and key commitment, re-derived with PyNaCl."""

    @classmethod
    def setUpClass(cls):
        with open(KEY_BOX_FILE, "rb") as f:
            cls.raw = f.read()
        cls.top, cls.vectors = parse(cls.raw, "vector", KEY_BOX_HEX_KEYS)

    def open_box(self, v):
        """The key the box holds for its device, or None."""
        pk, sk = crypto_sign_seed_keypair(v["device_seed"])
        try:
            return crypto_box_seal_open(v["box"], crypto_sign_ed25519_pk_to_curve25519(pk),
                                        crypto_sign_ed25519_sk_to_curve25519(sk))
        except CryptoError:
            return None

    def test_layout(self):
        self.assertEqual(self.top, {"format": "key-box-v1"})
        self.assertGreaterEqual(len(self.vectors), 6)
        for i, v in enumerate(self.vectors, 1):
            with self.subTest(vector=i):
                self.assertEqual(list(v), KEY_BOX_KEYS)
                self.assertEqual(v["vector"], str(i))
                self.assertIn((v["expect"], v["error"]), [("accept", ""), ("reject", "MUTUAL_EVERIFY")])
                self.assertEqual(str(int(v["key_id"])), v["key_id"])
                self.assertLess(int(v["key_id"]), 2 ** 32)
                self.assertEqual([len(v[k]) for k in ("device_seed", "group_id", "group_key", "box",
                                                      "commitment")], [32, 16, 32, 80, 32])

    def test_file_is_what_the_generator_makes(self):
        gen = load_generator(KEY_BOX_GENERATOR, "make_key_vectors").render().encode("utf-8")
        self.assertTrue(gen == self.raw,
                        "%s differs from the output of tools/make_key_vectors.py; regenerate it with "
                        "/usr/bin/python3 tools/make_key_vectors.py (and explain why the vectors changed)"
                        % KEY_BOX_FILE)

    def test_derived_keys(self):
        for i, v in enumerate(self.vectors, 1):
            with self.subTest(vector=i):
                pk, _ = crypto_sign_seed_keypair(v["device_seed"])
                self.assertEqual(pk, v["device_pk"])
                self.assertEqual(crypto_sign_ed25519_pk_to_curve25519(pk), v["device_x25519_pk"])

    def test_every_verdict(self):
        kinds = set()
        for i, v in enumerate(self.vectors, 1):
            with self.subTest(vector=i):
                key = self.open_box(v)
                committed = key is not None and key_commit(v["group_id"], int(v["key_id"]), key) == v["commitment"]
                self.assertEqual(v["expect"] == "accept", key == v["group_key"] and committed)
                if v["expect"] == "accept":
                    continue
                if key is None:
                    kinds.add("does not open")
                elif key_commit(v["group_id"], int(v["key_id"]), key) != v["commitment"]:
                    kinds.add("another commitment")
        self.assertEqual(kinds, {"does not open", "another commitment"})

    def test_libsodium_seal_opens_alike(self):
        """A box of PyNaCl's own (randomized) crypto_box_seal opens the same
        way: the generator's fixed-ephemeral boxes are sealed boxes."""
        v = self.vectors[0]
        box = crypto_box_seal(v["group_key"], v["device_x25519_pk"])
        self.assertEqual(len(box), 80)
        self.assertEqual(self.open_box(dict(v, box=box)), v["group_key"])

    def test_docs_quote_the_vectors(self):
        assert_docs_quote(self, self.raw, KEY_BOX_FILE, KEY_BOX_MARKER)


class GroupIdVector(unittest.TestCase):
    """docs/format.md, "Group id": the example group id, recomputed here
    with hashlib from the description alone (test_roles.c checks
    mutual__group_id_bind against the same bytes)."""

    def test_example(self):
        with open(DOCS, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"salt `00 01 \.\. 0f` give the group id `([0-9a-f]{32})`", text)
        self.assertIsNotNone(m, "docs/format.md lost its group id example")
        want = hashlib.blake2b(b"mutual.group.v1\n" + bytes(range(32)) + bytes(range(16)),
                               digest_size=32).digest()[:16]
        self.assertEqual(m.group(1), want.hex())


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and not args[0].startswith("-"):
        VECTOR_FILE = os.path.abspath(args.pop(0))
    for flag in ("--envelope", "--key-box", "--docs"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                sys.exit("%s needs a file" % flag)
            path = os.path.abspath(args[i + 1])
            del args[i:i + 2]
            if flag == "--envelope":
                ENVELOPE_FILE = path
            elif flag == "--key-box":
                KEY_BOX_FILE = path
            else:
                DOCS = path
    unittest.main(argv=sys.argv[:1] + args, verbosity=2)
