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

tests/test_vectors.c checks libmutual itself against the same file.

Usage: /usr/bin/python3 tests/test_vectors.py [VECTOR_FILE] [unittest options]
(Debian's python3 with python3-nacl.)
"""

import hashlib
import importlib.util
import os
import struct
import sys
import unittest

try:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import SigningKey, VerifyKey
except ImportError:  # pragma: no cover
    sys.stderr.write("test_vectors.py needs PyNaCl: run it with /usr/bin/python3 "
                     "(Debian's python3-nacl)\n")
    sys.exit(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTOR_FILE = os.path.join(ROOT, "tests", "resources", "vectors", "event-v1.txt")
GENERATOR = os.path.join(ROOT, "tools", "make_vectors.py")
DOCS = os.path.join(ROOT, "docs", "format.md")
DOCS_MARKER = "<!-- vectors:event-v1 -->"

TOP_KEYS = ["format", "seed", "public_key", "peer_a_seed", "peer_a_public_key",
            "peer_b_seed", "peer_b_public_key"]
EVENT_KEYS = ["event", "seq", "hlc", "type", "payload", "payload_digest", "prev",
              "frontier_input", "frontier", "header", "hash", "signed",
              "sig_message", "signature", "wire"]
HEX_KEYS = {"seed", "public_key", "peer_a_seed", "peer_a_public_key", "peer_b_seed",
            "peer_b_public_key", "payload_digest", "prev", "frontier", "header",
            "hash", "sig_message", "signature", "wire"}


def parse(raw):
    """The line format, strictly: returns (top dict, [event dict])."""
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
        if key == "event":
            cur = {}
            events.append(cur)
        block = top if cur is None else cur
        if key in block:
            raise ValueError("line %d repeats key %r" % (no, key))
        if key in HEX_KEYS and value != value.lower():
            raise ValueError("line %d: hex must be lowercase" % no)
        block[key] = bytes.fromhex(value) if key in HEX_KEYS else value
    return top, events


def b2b(data):
    return hashlib.blake2b(data, digest_size=32).digest()


def u64(v):
    return v.to_bytes(8, "big")


def load_generator():
    spec = importlib.util.spec_from_file_location("make_vectors", GENERATOR)
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


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        VECTOR_FILE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
