"""A hostile group member for the test suite (issue 11).

A *member* is a real device of the group: it holds the group key and its
own valid signing key, and may run modified software. Nothing it writes is
caught by signatures, the envelope or the chain: every event below is
validly signed by its device and sealed with the group key. What it can
still choose is every field of its own events: the clock (hlc), the
frontier (what it claims to have held when it wrote), seq and prev, the
type, the payload bytes and their size, and the name its join announcement
gives. This module writes such events as a modified client would, from the
documented format alone (docs/format.md: event hash, signature, wire form,
segment plaintext, envelope, commits and refs), and puts them on a medium:
a folder (a stick) or a `.bundle` file, which a victim imports with
`mutual sync`. It never calls libmutual, so the tests built on it show what
any member's software can make an honest device hold.

The event encoding comes from tools/make_vectors.py and the envelope
header from tools/make_envelope_vectors.py (PyNaCl, hashlib): the same
independent implementation the committed format vectors are generated with.
Commits and refs are written with stock `git fast-import` (fixed arguments,
no shell, fixed identity and dates) exactly as "Commits" says: one tree
entry `segment`, at most one parent, author and committer
`mutual <mutual@invalid>` at time 0 +0000, message `segment <a>..<b>\\n`.

Two ways to get a member:

    group = Group.from_store(store)                     # the group id and key
    m = HostileMember.from_store(store)                 # go on with that device's log
    s = HostileMember.new_device(group, name="sybil",   # a fresh device: new key,
                                 seed=bytes(32))        # seq 1 its join announcement

`from_store` reads device.key and group.key (docs/format.md, "Key files")
and the device's head (seq, hash, the highest hlc held, what it holds of the
others, and the commit of its last exported segment) from the store's
`mutual.db`, opened read-only with sqlite3. The store must have synced all
its events to a medium first (its last event is in a segment), and must not
be used with `mutual` afterwards: its log now diverges from what the hostile
member wrote under its key (its next sync would be a fork).

Writing events (queued; nothing touches a medium until `write`):

    m.entity_put("post", "p1", {"status": "gone"}, hlc=2**63 - 1)
    m.event("pantry.note", {"n": 1}, frontier=[(dev_bytes, 10**9)])
    m.event("x.y", b'{"raw":1}', hlc=hlc_of(ms), signed=False)
    m.write(stick_folder)          # or m.write("/path/x.bundle")
    write_medium(target, [m] + sybils)   # many devices in one git run

Every keyword of `event`: `hlc` (default: max(wall clock, highest hlc held
+ 1), as an honest device), `frontier` (a list of (device key, seq), sorted
here; default: what the member holds), `frontier_raw` (the encoded entries
as bytes, unsorted or duplicated if wanted), `seq` and `prev` (default: the
next of the chain), `signed` (the last event of each segment is always
signed, as the format requires of an exporter).
"""

import hashlib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

from nacl.bindings import (crypto_aead_xchacha20poly1305_ietf_decrypt,
                           crypto_aead_xchacha20poly1305_ietf_encrypt)
from nacl.signing import SigningKey

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import make_envelope_vectors as envelope  # noqa: E402  (the envelope header)
import make_vectors as evfmt  # noqa: E402  (event encoding, hash, signature, wire)

SEGMENT_MAGIC = b"mutual.segment.v1\n"  # 18 bytes
assert len(SEGMENT_MAGIC) == 18
ENVELOPE_VERSION = 1
ZERO_HASH = bytes(32)
HLC_MAX = 2 ** 63 - 1  # the largest clock an event may carry
SEQ_MAX = 2 ** 63 - 1
SEGMENT_EVENTS_MAX = 1000  # what an honest exporter puts in one segment
SEGMENT_BYTES_MAX = 4 * 1024 * 1024
GIT_TIMEOUT = 600  # seconds: a hang guard for each git process
REF_PREFIX = "refs/mutual/v1/devices/"
FIXED_CONFIG = ("[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"
                "[pack]\n\tdeltaCacheSize = 1\n")


# ------------------------------------------------------------------ clocks

def hlc_of(ms, counter=0):
    """A hybrid logical clock: (milliseconds since 1970 << 16) | counter."""
    return (ms << 16) | counter


def now_hlc():
    return hlc_of(int(time.time() * 1000))


def hlc_ms(hlc):
    return hlc >> 16


# ------------------------------------------------------------ key files

def read_device_seed(store):
    """The 32-byte Ed25519 seed of DIR/device.key ("mutual-device-key 1")."""
    with open(os.path.join(store, "device.key")) as f:
        lines = f.read().split("\n")
    if lines[0] != "mutual-device-key 1":
        raise ValueError("%s/device.key is not a version 1 key file" % store)
    seed = bytes.fromhex(lines[1])
    if len(seed) != 32:
        raise ValueError("%s/device.key holds no 32-byte seed" % store)
    return seed


def read_group_key(store):
    """(key id, 32-byte key) of DIR/group.key ("mutual-group-key 1")."""
    with open(os.path.join(store, "group.key")) as f:
        lines = f.read().split("\n")
    if lines[0] != "mutual-group-key 1":
        raise ValueError("%s/group.key is not a version 1 key file" % store)
    key_id, key_hex = lines[1].split(" ")
    key = bytes.fromhex(key_hex)
    if len(key) != 32:
        raise ValueError("%s/group.key holds no 32-byte key" % store)
    return int(key_id), key


def open_db(store):
    """The store's mutual.db, read-only (never written by this module)."""
    path = os.path.abspath(os.path.join(store, "mutual.db"))
    return sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True)


class Group:
    """What a member knows of its group: the id (16 bytes) and the key."""

    def __init__(self, group_id, key_id, key):
        assert len(group_id) == 16 and len(key) == 32
        self.group_id, self.key_id, self.key = group_id, key_id, key

    @property
    def id_hex(self):
        return self.group_id.hex()

    @classmethod
    def from_store(cls, store):
        key_id, key = read_group_key(store)
        db = open_db(store)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'group_id'").fetchone()
        finally:
            db.close()
        if not row:
            raise ValueError("%s/mutual.db names no group id" % store)
        return cls(bytes(row[0]), key_id, key)

    def repo_name(self):
        """The repository of this group in a folder medium."""
        return "mutual-%s.git" % self.id_hex


# ------------------------------------------------------------- the format

def encode_payload(payload):
    """bytes as given; str as UTF-8; anything else as compact JSON."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def padded(payload, size, field="pad"):
    """`payload` (a dict) with a string member `field` added so that its
    compact JSON is exactly `size` bytes (the payload "size" a member picks)."""
    base = dict(payload)
    base[field] = ""
    n = size - len(encode_payload(base))
    if n < 0:
        raise ValueError("payload is already %d bytes, more than %d" % (size - n, size))
    base[field] = "x" * n
    out = encode_payload(base)
    assert len(out) == size
    return base


def encode_frontier_entries(entries):
    """[(device key, seq)] -> the sorted encoding (docs/format.md's rule).
    tools/make_vectors.py's encode_frontier, joined once: its `out +=` loop
    is quadratic, 10 s for a 65,536-entry frontier."""
    entries = sorted(((bytes(d), int(s)) for d, s in entries), key=lambda e: e[0])
    if len(entries) <= 64:
        return evfmt.encode_frontier(entries)
    for dev, seq in entries:
        assert len(dev) == 32 and seq >= 1
    return b"".join(dev + struct.pack(">Q", seq) for dev, seq in entries)


def encode_header(device, seq, hlc, type_, digest, prev, frontier):
    """The hashed encoding. tools/make_vectors.py's, unless a member picks a
    type length that tool refuses to encode (0, or over 128 bytes)."""
    t = type_.encode("ascii") if isinstance(type_, str) else bytes(type_)
    if 1 <= len(t) <= 128:
        return evfmt.encode_header(device, seq, hlc, t.decode("latin-1"), digest, prev, frontier)
    return (evfmt.EVENT_MAGIC + device + struct.pack(">QQB", seq, hlc, len(t) & 0xFF) + t +
            digest + prev + struct.pack(">I", len(frontier) // 40) + frontier)


class Event:
    """One event as written: every field, its hash and its wire form."""

    def __init__(self, device, seq, hlc, type_, payload, prev, frontier, signature):
        self.device, self.seq, self.hlc, self.type = device, seq, hlc, type_
        self.payload, self.prev, self.frontier, self.signature = payload, prev, frontier, signature
        self.digest = evfmt.blake2b256(payload)
        self.header = encode_header(device, seq, hlc, type_, self.digest, prev, frontier)
        self.hash = evfmt.blake2b256(self.header)

    @property
    def id(self):
        """The event id as `mutual` prints it: <device hex>:<seq>."""
        return "%s:%d" % (self.device.hex(), self.seq)

    @property
    def frontier_entries(self):
        return [(self.frontier[i:i + 32], struct.unpack(">Q", self.frontier[i + 32:i + 40])[0])
                for i in range(0, len(self.frontier), 40)]

    def sign(self, signing_key):
        self.signature = signing_key.sign(evfmt.sig_message(self.hash)).signature

    def wire(self):
        return evfmt.encode_wire(self.header, self.payload, self.signature)


def decode_wire(buf, pos=0):
    """(fields dict, next position) of the wire event at buf[pos:]. For
    reading back what a trusted medium holds (a member's own log): the
    checks are asserts, not a hostile-input decoder."""
    start = pos
    assert buf[pos:pos + 16] == evfmt.EVENT_MAGIC, "not an event of format version 1"
    pos += 16
    device = buf[pos:pos + 32]
    seq, hlc, tlen = struct.unpack(">QQB", buf[pos + 32:pos + 49])
    pos += 49
    type_ = buf[pos:pos + tlen].decode("ascii")
    pos += tlen
    digest, prev = buf[pos:pos + 32], buf[pos + 32:pos + 64]
    (n,) = struct.unpack(">I", buf[pos + 64:pos + 68])
    pos += 68
    frontier = buf[pos:pos + 40 * n]
    pos += 40 * n
    header = buf[start:pos]
    (plen,) = struct.unpack(">I", buf[pos:pos + 4])
    payload = buf[pos + 4:pos + 4 + plen]
    pos += 4 + plen
    signed = buf[pos]
    pos += 1
    sig = None
    if signed:
        sig = buf[pos:pos + 64]
        pos += 64
    assert evfmt.blake2b256(payload) == digest
    return {"device": device, "seq": seq, "hlc": hlc, "type": type_, "payload": payload,
            "prev": prev, "frontier": frontier, "hash": evfmt.blake2b256(header),
            "signature": sig}, pos


def segment_plaintext(group, device, first_seq, wires):
    """"mutual.segment.v1\\n" | group id | device | first seq | count | events."""
    return (SEGMENT_MAGIC + group.group_id + device + struct.pack(">QI", first_seq, len(wires)) +
            b"".join(wires))


def nonce_for(device, plaintext):
    """A fixed nonce per (device, plaintext): deterministic runs, and never
    one nonce for two plaintexts under the group key."""
    return hashlib.blake2b(b"hostile_member nonce" + device + plaintext, digest_size=24).digest()


def seal_segment(group, device, plaintext, nonce=None):
    """The version 1 envelope: "mseg" | 1 | key id | nonce | XChaCha20-Poly1305
    of zlib(segment), associated data = header | group id | device key."""
    nonce = nonce or nonce_for(device, plaintext)
    hdr = envelope.header(ENVELOPE_VERSION, group.key_id, nonce)
    ad = hdr + group.group_id + device
    return hdr + crypto_aead_xchacha20poly1305_ietf_encrypt(zlib.compress(plaintext), ad, nonce, group.key)


def open_segment(group, device, blob):
    """The plaintext of a version 1 envelope (a trusted medium's)."""
    hdr = blob[:envelope.HEADER_SIZE]
    assert hdr[:4] == envelope.MAGIC and hdr[4] == ENVELOPE_VERSION
    nonce = hdr[9:]
    plain = zlib.decompress(crypto_aead_xchacha20poly1305_ietf_decrypt(
        blob[envelope.HEADER_SIZE:], hdr + group.group_id + device, nonce, group.key))
    assert plain[:18] == SEGMENT_MAGIC and plain[18:34] == group.group_id and plain[34:66] == device
    return plain


def segment_events(plain):
    """The events (decode_wire dicts) of a segment plaintext."""
    first_seq, count = struct.unpack(">QI", plain[66:78])
    pos, out = 78, []
    for _ in range(count):
        ev, pos = decode_wire(plain, pos)
        out.append(ev)
    assert pos == len(plain) and (not out or out[0]["seq"] == first_seq)
    return out


# ------------------------------------------------------------------- git

GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG_GLOBAL", "GIT_NAMESPACE")


def git_env():
    """Stock git with no user or system config and the fixed identity and
    date of a segment commit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_") and k not in GIT_ENV_DROP}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null", LC_ALL="C", LANG="C",
               GIT_AUTHOR_NAME="mutual", GIT_AUTHOR_EMAIL="mutual@invalid", GIT_AUTHOR_DATE="@0 +0000",
               GIT_COMMITTER_NAME="mutual", GIT_COMMITTER_EMAIL="mutual@invalid",
               GIT_COMMITTER_DATE="@0 +0000")
    return env


def git(repo, *args, data=None, check=True):
    """Stock git on the bare repository `repo`: no pager, no fsmonitor."""
    r = subprocess.run(["git", "-c", "core.pager=cat", "-c", "core.fsmonitor=", "--git-dir=" + repo] + list(args),
                       input=data if data is not None else b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=git_env(), timeout=GIT_TIMEOUT)
    if check and r.returncode != 0:
        raise RuntimeError("git %s: %s" % (" ".join(args[:3]), r.stderr.decode("utf-8", "replace")))
    return r


def init_repo(repo):
    """A bare repository shaped as libmutual makes one on a stick."""
    for d in ("objects/pack", "objects/info", "refs/heads", "refs/tags"):
        os.makedirs(os.path.join(repo, d), exist_ok=True)
    with open(os.path.join(repo, "HEAD"), "w") as f:
        f.write("ref: refs/heads/master\n")
    with open(os.path.join(repo, "config"), "w") as f:
        f.write(FIXED_CONFIG)


def ref_tip(repo, ref):
    r = git(repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}", check=False)
    return r.stdout.decode().strip() if r.returncode == 0 else None


def has_commit(repo, oid):
    return git(repo, "cat-file", "-e", oid + "^{commit}", check=False).returncode == 0


def segment_blob(repo, commit):
    return git(repo, "cat-file", "blob", commit + ":segment").stdout


def read_log(target, group, device):
    """Every event of `device` on a trusted medium (folder or bundle), in
    seq order, as decode_wire dicts: to check what a member wrote."""
    with _Medium(target, group) as repo:
        tip = ref_tip(repo, REF_PREFIX + device.hex())
        chain = []
        while tip:
            chain.append(tip)
            r = git(repo, "rev-parse", "--verify", "--quiet", tip + "^1", check=False)
            tip = r.stdout.decode().strip() if r.returncode == 0 else None
        out = []
        for c in reversed(chain):
            out += segment_events(open_segment(group, device, segment_blob(repo, c)))
        return out


class _Medium:
    """The repository to write into: a folder's own, or for a bundle a
    temporary one holding the bundle's refs, re-bundled on close."""

    def __init__(self, target, group, write=False):
        self.target, self.group, self.write, self.tmp = target, group, write, None

    def __enter__(self):
        if self.target.endswith(".bundle"):
            self.tmp = tempfile.mkdtemp(prefix="hostile-member-")
            self.repo = os.path.join(self.tmp, "repo.git")
            init_repo(self.repo)
            if os.path.exists(self.target):
                git(self.repo, "fetch", "--quiet", "--no-tags", self.target, "+refs/mutual/*:refs/mutual/*")
        else:
            self.repo = os.path.join(self.target, self.group.repo_name())
            if not os.path.isdir(self.repo):
                if not self.write:
                    raise FileNotFoundError(self.repo)
                init_repo(self.repo)
        return self.repo

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.tmp and self.write and exc_type is None:
                part = self.target + ".tmp-hostile"
                git(self.repo, "bundle", "create", "--quiet", "--version=2", part, "--all")
                os.replace(part, self.target)
        finally:
            if self.tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------- members

class HostileMember:
    """A device of the group under the control of modified software."""

    def __init__(self, group, seed, head_seq=0, head_hash=ZERO_HASH, last_hlc=0, held=None,
                 parent=None, source_store=None):
        self.group = group
        self.key = SigningKey(seed)
        self.device = bytes(self.key.verify_key)
        self.head_seq, self.head_hash, self.last_hlc = head_seq, head_hash, last_hlc
        self.held = dict(held or {})  # what it holds of the others: device key -> highest seq
        self.parent = parent  # hex id of its last segment commit on the medium, or None
        self.source_store = source_store  # the store whose sync.git holds `parent`
        self.pending = []  # events written, not yet on a medium
        self.written = []  # every event written, on a medium or not

    @property
    def device_hex(self):
        return self.device.hex()

    @property
    def ref(self):
        return REF_PREFIX + self.device_hex

    # -- making one

    @classmethod
    def from_store(cls, store):
        """Go on with the log of the device of `store`: its keys from the key
        files, its head from mutual.db (read-only). Every event of that
        device must already be in a segment (sync the store first)."""
        group = Group.from_store(store)
        seed = read_device_seed(store)
        device = bytes(SigningKey(seed).verify_key)
        db = open_db(store)
        try:
            head = db.execute("SELECT seq, hash FROM events WHERE device = ? ORDER BY seq DESC LIMIT 1",
                              (device,)).fetchone()
            (last_hlc,) = db.execute("SELECT coalesce(max(hlc), 0) FROM events").fetchone()
            held = {bytes(d): s for d, s in db.execute(
                "SELECT device, max(seq) FROM events WHERE device != ? GROUP BY device", (device,))}
            seg = db.execute("SELECT last_seq, commit_id FROM segments WHERE device = ? "
                             "ORDER BY last_seq DESC LIMIT 1", (device,)).fetchone()
        finally:
            db.close()
        if not head:
            raise ValueError("%s holds no event of its own device" % store)
        if not seg or seg[0] != head[0]:
            raise ValueError("%s holds events of its own up to seq %d, its segments end at %s: "
                             "sync it to a medium first" % (store, head[0], seg[0] if seg else "none"))
        return cls(group, seed, head_seq=head[0], head_hash=bytes(head[1]), last_hlc=last_hlc, held=held,
                   parent=bytes(seg[1]).hex(), source_store=store)

    @classmethod
    def new_device(cls, group, name="sybil", seed=None, invited_by=None, hlc=None, payload=None,
                   frontier=None):
        """A fresh device of `group` (a sybil): a new signing key (from
        `seed`, 32 bytes, for a deterministic run), its log starting with a
        `mutual.device.join` announcing `name`. `invited_by` is a device key
        (bytes or hex; default: all zeros); `payload` replaces the
        announcement's payload entirely."""
        m = cls(group, seed if seed is not None else os.urandom(32))
        if isinstance(invited_by, bytes):
            invited_by = invited_by.hex()
        if payload is None:
            payload = {"invited_by": invited_by or "00" * 32, "name": name}
        m.event("mutual.device.join", payload, hlc=hlc, frontier=frontier or [])
        return m

    # -- writing events

    def next_hlc(self):
        """What an honest device would stamp: max(wall clock, highest held + 1)."""
        return max(now_hlc(), self.last_hlc + 1)

    def frontier(self, extra=None):
        """What this member holds of the others (with `extra` entries on top),
        as an honest frontier: [(device, seq)] never naming itself."""
        f = dict(self.held)
        f.update(extra or {})
        f.pop(self.device, None)
        return sorted(f.items())

    def event(self, type_, payload, hlc=None, frontier=None, frontier_raw=None, seq=None, prev=None,
              signed=True):
        """Queue one event; returns it (an Event). See the module docstring."""
        payload = encode_payload(payload)
        if seq is None:
            seq = self.head_seq + 1
        if prev is None:
            prev = self.head_hash if seq == self.head_seq + 1 else ZERO_HASH
        if hlc is None:
            hlc = self.next_hlc()
        if frontier_raw is None:
            frontier_raw = encode_frontier_entries(self.frontier() if frontier is None else frontier)
        ev = Event(self.device, seq, hlc, type_, payload, prev, frontier_raw, None)
        if signed:
            ev.sign(self.key)
        self.pending.append(ev)
        self.written.append(ev)
        self.head_seq, self.head_hash = seq, ev.hash
        self.last_hlc = max(self.last_hlc, hlc if hlc <= HLC_MAX else 0)
        return ev

    def entity_put(self, kind, id_, fields, **kw):
        return self.event("mutual.entity.put", {"kind": kind, "id": id_, "fields": fields}, **kw)

    def entity_delete(self, kind, id_, **kw):
        return self.event("mutual.entity.del", {"kind": kind, "id": id_}, **kw)

    def counter_add(self, key, delta, **kw):
        return self.event("mutual.counter.add", '{"key":%s,"delta":%s}' % (json.dumps(key), delta), **kw)

    def saw(self, device, seq):
        """Note that this member now holds `device` up to `seq` (its next
        default frontier names it)."""
        self.held[device] = max(self.held.get(device, 0), seq)

    # -- segments and commits

    def segments(self, max_events=SEGMENT_EVENTS_MAX, max_bytes=SEGMENT_BYTES_MAX):
        """The pending events cut as an exporter would: [(first seq, last
        seq, envelope)], each segment's last event signed."""
        out, run, size = [], [], 0
        for ev in self.pending:
            w = len(ev.wire())
            if run and (len(run) >= max_events or size + w > max_bytes):
                out.append(self._seal(run))
                run, size = [], 0
            run.append(ev)
            size += w
        if run:
            out.append(self._seal(run))
        return out

    def _seal(self, run):
        if run[-1].signature is None:
            run[-1].sign(self.key)
        plain = segment_plaintext(self.group, self.device, run[0].seq, [e.wire() for e in run])
        return run[0].seq, run[-1].seq, seal_segment(self.group, self.device, plain)

    def write(self, target, **kw):
        """Put the pending events on `target` (a folder, or a FILE.bundle)."""
        return write_medium(target, [self], **kw)


def write_medium(target, members, force=False, max_events=SEGMENT_EVENTS_MAX):
    """Put every member's pending events on `target` in one `git
    fast-import` run: a folder medium's `mutual-<group id>.git` (made if
    missing) or a bundle (rewritten with every ref it had). Each member's
    new commits continue its last one; `force` lets a ref move backwards
    (a member writing over its own log). Returns {device hex: tip commit}."""
    members = [m for m in members if m.pending]
    if not members:
        return {}
    group = members[0].group
    assert all(m.group.group_id == group.group_id for m in members)
    with _Medium(target, group, write=True) as repo:
        for m in members:  # a continued log's earlier commits, from the member's own store
            if m.parent and not has_commit(repo, m.parent):
                src = os.path.join(m.source_store or "", "sync.git")
                if not m.source_store or not has_commit(src, m.parent):
                    raise ValueError("commit %s of %s is on neither the medium nor its store"
                                     % (m.parent, m.device_hex))
                git(repo, "fetch", "--quiet", "--no-tags", os.path.abspath(src), "+%s:%s" % (m.ref, m.ref))
                if ref_tip(repo, m.ref) != m.parent:
                    raise ValueError("%s's store has exported more than its db says" % m.device_hex)
        stream, mark = [b"feature done\n"], 0
        for m in members:
            parent = m.parent
            for first, last, blob in m.segments(max_events=max_events):
                mark += 1
                msg = b"segment %d..%d\n" % (first, last)
                stream.append(b"commit %s\nmark :%d\n" % (m.ref.encode(), mark))
                stream.append(b"author mutual <mutual@invalid> 0 +0000\n"
                              b"committer mutual <mutual@invalid> 0 +0000\n")
                stream.append(b"data %d\n%s" % (len(msg), msg))
                if parent:
                    stream.append(b"from %s\n" % parent.encode())
                stream.append(b"deleteall\nM 100644 inline segment\ndata %d\n" % len(blob))
                stream.append(blob)
                stream.append(b"\n\n")
                parent = ":%d" % mark
        stream.append(b"done\n")
        args = ["fast-import", "--quiet", "--done"] + (["--force"] if force else [])
        git(repo, *args, data=b"".join(stream))
        refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX).stdout.decode()
        tips = dict(line.split(" ") for line in refs.splitlines())
        out = {}
        for m in members:
            m.parent = tips[m.ref]
            m.pending = []
            out[m.device_hex] = m.parent
        return out


# ----------------------------------------------------------- what a store holds

def db_size(store):
    """The bytes of the store's database: page_count * page_size, read
    through a read-only connection (so it counts what is still in the WAL)."""
    db = open_db(store)
    try:
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
    finally:
        db.close()
    return pages * size


def device_key(store):
    """The public key (32 bytes) of the device of `store`."""
    return bytes(SigningKey(read_device_seed(store)).verify_key)


def random_devices(rng, n):
    """`n` distinct made-up 32-byte device keys from random.Random `rng`,
    sorted as a frontier must be."""
    keys = set()
    while len(keys) < n:
        keys.add(rng.getrandbits(256).to_bytes(32, "big"))
    return sorted(keys)
