"""libmutual for Python: an offline-first, signed, hash-chained event log per
device, synced through USB sticks, bundle files or git remotes.

    import mutual
    with mutual.Store.create("/tmp/pantry", group="Food pantry", device="laptop") as store:
        store.append("pantry.stock.in", {"item": "rice", "qty": 40})
        with store.batch() as b:        # one transaction, one fsync
            b.put("item", "rice", {"shelf": "A3"})
            b.add("rice-kg", "40")
        for event in store.events(type="pantry.stock.in"):
            print(event.seq, event.payload)
        for item in store.entities("item", where={"shelf": "A3"}, limit=50):
            print(item.id, item.fields, item.conflicts)
        store.sync("/media/stick")

Every C error is raised as a subclass of `mutual.Error` carrying the
library's one-line message.
"""
import ctypes
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from . import _lib as C
from ._lib import lib

__all__ = ["Store", "Batch", "Event", "Entity", "Write", "SyncStats", "Progress", "Error", "NotFound", "Exists", "Invalid", "ReadOnly",
           "Busy", "Corrupt", "VerifyFailed", "NewerVersion", "Refused", "Cancelled", "Forked", "NotAllowed", "version"]


class Error(Exception):
    """A libmutual failure: `code` is the C status, `message` its words."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(Error): pass          # noqa: E701  MUTUAL_ENOTFOUND
class Exists(Error): pass            # noqa: E701  MUTUAL_EEXISTS
class Invalid(Error): pass           # noqa: E701  MUTUAL_EINVALID
class ReadOnly(Error): pass          # noqa: E701  MUTUAL_EREADONLY
class Busy(Error): pass              # noqa: E701  MUTUAL_EBUSY
class Corrupt(Error): pass           # noqa: E701  MUTUAL_ECORRUPT
class VerifyFailed(Error): pass      # noqa: E701  MUTUAL_EVERIFY
class NewerVersion(Error): pass      # noqa: E701  MUTUAL_EVERSION
class Cancelled(Error): pass         # noqa: E701  MUTUAL_ECANCELLED
class Forked(Error): pass            # noqa: E701  MUTUAL_EFORK
class NotAllowed(Error): pass        # noqa: E701  MUTUAL_EPERM (not a coordinator, or removed)


class Refused(Error):
    """A sync completed but refused some device logs; `stats` has the figures."""

    def __init__(self, code: int, message: str, stats: "SyncStats"):
        super().__init__(code, message)
        self.stats = stats


_ERRORS = {-3: NotFound, -4: Exists, -5: Invalid, -6: ReadOnly, -7: Busy, -8: Corrupt, -9: VerifyFailed,
           -10: NewerVersion, -12: Cancelled, -13: Forked, -14: NotAllowed}


def _message() -> str:
    return (lib.mutual_error_last() or b"").decode("utf-8", "replace")


def _check(rc: int) -> int:
    if rc < 0:
        raise _ERRORS.get(rc, Error)(rc, _message())
    return rc


def _b(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8")


def _s(b: Optional[bytes]) -> str:
    return (b or b"").decode("utf-8", "replace")


def _take_string(out: ctypes.c_void_p) -> str:
    """A `char **out` the library allocated: copy it, then free it."""
    try:
        return ctypes.string_at(out.value).decode("utf-8")
    finally:
        lib.mutual_free(out)


def _format_id(eid: C.EventId) -> str:
    buf = ctypes.create_string_buffer(C.EVENT_ID_STRLEN)
    _check(lib.mutual_event_id_format(buf, len(buf), ctypes.byref(eid)))
    return buf.value.decode()


def _parse_id(text: str) -> C.EventId:
    eid = C.EventId()
    _check(lib.mutual_event_id_parse(ctypes.byref(eid), _b(text)))
    return eid


def version() -> str:
    """The C library's version."""
    return _s(lib.mutual_version())


_PENDING = {1: "waiting", 2: "held_back"}  # mutual_event_pending()


@dataclass(frozen=True)
class Event:
    """One event, copied out of the store."""
    id: str
    device: str
    seq: int
    hlc: int
    type: str
    payload: Dict[str, Any]
    device_name: str
    quarantined: bool
    device_shown: str  # the name to show: colliding names carry a key suffix (Store.device_shown)
    pending: str = ""  # "" applied, "waiting" for an event it names, "held_back" for its clock
    refused: bool = False  # its device was removed and it comes after the cut: kept, never applied

    @classmethod
    def _from(cls, ev: int, store: "Store") -> "Event":
        eid = lib.mutual_event_get_id(ev).contents
        device = bytes(eid.device).hex()
        return cls(id=_format_id(eid), device=device, seq=eid.seq, hlc=lib.mutual_event_hlc(ev),
                   type=_s(lib.mutual_event_type(ev)), payload=json.loads(_s(lib.mutual_event_payload(ev))),
                   device_name=_s(lib.mutual_event_device_name(ev)),
                   quarantined=bool(lib.mutual_event_quarantined(ev)), device_shown=store.device_shown(device),
                   pending=_PENDING.get(lib.mutual_event_pending(ev), ""),
                   refused=bool(lib.mutual_event_refused(ev)))


@dataclass(frozen=True)
class Write:
    """One write of an entity's field: the one that holds, or an open conflict."""
    device: str  # the writer's id, 64 hex
    seq: int
    hlc: int
    value: Any   # decoded from JSON

    @classmethod
    def _from(cls, w: C.FieldWrite) -> "Write":
        return cls(device=bytes(w.device).hex(), seq=w.seq, hlc=w.hlc, value=json.loads(_s(w.value)))

    def _state(self, with_value: bool) -> Dict[str, Any]:
        d = {"device": self.device, "hlc": self.hlc, "seq": self.seq}
        if with_value:
            d["value"] = self.value
        return d


@dataclass(frozen=True)
class Entity:
    """One entity of Store.entities(), copied out of the walk. `writers`
    and `conflicts` also hold the register "_deleted" (its delete; a
    delete concurrent with an edit is its conflict), as Store.state()."""
    kind: str
    id: str
    deleted: bool
    fields: Dict[str, Any]             # name -> value, decoded from JSON
    writers: Dict[str, Write]          # name -> the write that holds
    conflicts: Dict[str, List[Write]]  # name -> concurrent writes of other values, newest first (only names with any)
    cursor: str                        # give as `after=` to resume after this entity

    @classmethod
    def _from(cls, e: C.Entity) -> "Entity":
        fields = [e.fields[i] for i in range(e.n_fields)]
        writers: Dict[str, Write] = {}
        conflicts: Dict[str, List[Write]] = {}
        for f in fields + [e.deletion]:
            name = _s(f.name)
            writers[name] = Write._from(f.write)
            if f.n_conflicts:
                conflicts[name] = [Write._from(f.conflicts[i]) for i in range(f.n_conflicts)]
        # Decoded again, not shared with writers: a caller may change one.
        return cls(kind=_s(e.kind), id=_s(e.id), deleted=bool(e.deleted),
                   fields={_s(f.name): json.loads(_s(f.write.value)) for f in fields}, writers=writers,
                   conflicts=conflicts, cursor=_s(e.cursor))

    def as_state(self) -> Dict[str, Any]:
        """This entity as Store.state() shows it (one of its "entities")."""
        return {"conflicts": {n: [w._state(True) for w in ws] for n, ws in self.conflicts.items()},
                "deleted": self.deleted, "fields": dict(self.fields), "id": self.id,
                "writers": {n: w._state(False) for n, w in self.writers.items()}}


@dataclass(frozen=True)
class Progress:
    """A sync's progress: `phase` is exporting, receiving, importing or sending."""
    phase: str
    done: int
    total: int
    events_imported: int


@dataclass(frozen=True)
class SyncStats:
    events_sent: int
    events_received: int
    segments_sent: int
    segments_received: int
    devices_updated: int
    refused: int
    newer_format: int
    objects_received: int
    objects_sent: int
    segments_opened: int
    forks_found: int
    forked_devices: int
    future_events: int
    segments_without_key: int  # held back: sealed with a group key not received yet
    own_events_waiting: int  # this device's events not sent: no group key may seal them yet
    safe_to_remove: bool
    refusals: Tuple[Tuple[str, str], ...]

    @classmethod
    def _from(cls, st: C.SyncStats, refusals: List[Tuple[str, str]]) -> "SyncStats":
        fields = {name: getattr(st, name) for name, _ in C.SyncStats._fields_
                  if name not in ("version", "safe_to_remove", "first_refusal")}
        return cls(safe_to_remove=bool(st.safe_to_remove), refusals=tuple(refusals), **fields)


class Batch:
    """Writes gathered and committed as one transaction (Store.batch()).

    Each entry is checked when added (Invalid, and the batch unchanged);
    commit() writes them all as consecutive events, or none. As a context
    manager it commits on a normal exit and discards on an exception.
    After a commit `ids` holds the new events' ids. The Batch keeps its
    Store alive; closing twice is safe."""

    def __init__(self, store: "Store"):
        self._h: Optional[int] = None
        self.ids: List[str] = []
        h = ctypes.c_void_p()
        _check(lib.mutual_batch_new(ctypes.byref(h), store._handle))
        self._store = store
        self._h = h.value

    @property
    def _handle(self) -> int:
        if self._h is None:
            raise ValueError("the batch is closed")
        self._store._handle  # raises when the store was closed first
        return self._h

    def append(self, type: str, payload: Dict[str, Any]) -> None:
        """An app event, as Store.append() would write it."""
        _check(lib.mutual_batch_append(self._handle, _b(type), _b(json.dumps(payload))))

    def put(self, kind: str, id: str, fields: Dict[str, Any]) -> None:
        """An entity put, as Store.put() would write it."""
        _check(lib.mutual_batch_entity_put(self._handle, _b(kind), _b(id), _b(json.dumps(fields))))

    def delete(self, kind: str, id: str) -> None:
        _check(lib.mutual_batch_entity_delete(self._handle, _b(kind), _b(id)))

    def add(self, key: str, delta: str) -> None:
        """A counter add, as Store.add() would write it."""
        _check(lib.mutual_batch_counter_add(self._handle, _b(key), _b(str(delta))))

    def __len__(self) -> int:
        return lib.mutual_batch_count(self._handle) if self._h is not None else 0

    def commit(self) -> List[str]:
        """Write every entry (durable when this returns); their ids. The
        batch is empty afterwards; on an error nothing was written."""
        n = len(self)
        first = C.EventId()
        _check(lib.mutual_batch_commit(ctypes.byref(first), self._handle))
        device = bytes(first.device).hex()
        self.ids = ["%s:%d" % (device, first.seq + i) for i in range(n)]
        return self.ids

    def close(self) -> None:
        """Discard what was not committed."""
        if self._h is not None:
            lib.mutual_batch_free(self._h)
            self._h = None

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.close()

    def __del__(self):
        self.close()


_PHASES = {1: "exporting", 2: "receiving", 3: "importing", 4: "sending"}


class Store:
    """A device's handle on its local store. Use it as a context manager, or
    call close(); closing twice is safe. One thread at a time per Store."""

    def __init__(self, handle: int):
        self._h: Optional[int] = handle
        self._walks: Set[int] = set()  # open entity walks: C wants them freed before the store

    # -- opening and closing -------------------------------------------------

    @classmethod
    def _make(cls, fn, path: str, text: Optional[str], device: Optional[str]) -> "Store":
        """Call a C constructor taking (out, dir, text, options); wrap its handle."""
        h = ctypes.c_void_p()
        opts = C.CreateOptions(1, _b(device))
        _check(fn(ctypes.byref(h), _b(path), _b(text), ctypes.byref(opts)))
        return cls(h.value)

    @classmethod
    def create(cls, path: str, group: str, device: Optional[str] = None) -> "Store":
        """Make a new group and this device's store in `path`."""
        return cls._make(lib.mutual_store_create, path, group, device)

    @classmethod
    def open(cls, path: str, readonly: bool = False) -> "Store":
        h = ctypes.c_void_p()
        _check(lib.mutual_store_open(ctypes.byref(h), _b(path), 1 if readonly else 0))
        return cls(h.value)

    @classmethod
    def join(cls, path: str, invite: str, device: Optional[str] = None) -> "Store":
        """Make this device's store in `path` from an invite's text (see invite())."""
        return cls._make(lib.mutual_store_join_text, path, invite, device)

    @classmethod
    def join_file(cls, path: str, invite_path: str, device: Optional[str] = None) -> "Store":
        """Make this device's store in `path` from an invite file."""
        return cls._make(lib.mutual_store_join, path, invite_path, device)

    def close(self) -> None:
        if self._h is not None:
            # A generator left suspended would free its walk after the store.
            for it in self._walks:
                lib.mutual_entity_iter_free(it)
            self._walks.clear()
            lib.mutual_store_free(self._h)
            self._h = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        self.close()

    @property
    def closed(self) -> bool:
        return self._h is None

    @property
    def _handle(self) -> int:
        if self._h is None:
            raise ValueError("the store is closed")
        return self._h

    # -- who and what --------------------------------------------------------

    group_id = property(lambda self: _s(lib.mutual_store_group_id(self._handle)))
    group_name = property(lambda self: _s(lib.mutual_store_group_name(self._handle)))
    device_id = property(lambda self: _s(lib.mutual_store_device_id(self._handle)))
    device_name = property(lambda self: _s(lib.mutual_store_device_name(self._handle)))
    readonly = property(lambda self: bool(lib.mutual_store_is_readonly(self._handle)))

    def invite(self) -> str:
        """An invite as one line of text. It is a SECRET: it holds the group key."""
        out = ctypes.c_void_p()
        _check(lib.mutual_invite_text(ctypes.byref(out), self._handle))
        return _take_string(out)

    def write_invite(self, path: str) -> None:
        """Write an invite file (mode 0600). Keep it off the data stick."""
        _check(lib.mutual_invite_write(self._handle, _b(path)))

    def devices(self) -> List[Dict[str, Any]]:
        found: List[Dict[str, Any]] = []

        def each(info, payload):
            d = info.contents
            found.append({"id": _s(d.id), "name": _s(d.name), "events": d.events, "self": bool(d.is_self),
                          "fork_seq": d.fork_seq, "removed": bool(d.removed),
                          "removed_after": d.removed_cut if d.removed else None})
            return 0

        _check(lib.mutual_device_foreach(self._handle, C.DEVICE_CB(each), None))
        for d in found:
            d["shown"] = self.device_shown(d["id"])
        return found

    # -- coordinators ----------------------------------------------------------

    def _device_key(self, device: str):
        key = (ctypes.c_uint8 * C.KEY_SIZE)()
        _check(lib.mutual_device_resolve(key, self._handle, _b(device)))
        return key

    def coordinators(self) -> List[str]:
        """The coordinators' ids (64 hex), ordered by id."""
        found: List[str] = []

        def each(device_id, payload):
            found.append(_s(device_id))
            return 0

        _check(lib.mutual_coordinator_foreach(self._handle, C.COORDINATOR_CB(each), None))
        return found

    def is_coordinator(self, device: str) -> bool:
        """Whether `device` (a name, an id prefix or a display form) is a coordinator."""
        return _check(lib.mutual_is_coordinator(self._handle, self._device_key(device))) == 1

    def grant_coordinator(self, device: str) -> str:
        """Make `device` a coordinator (this device must be one: NotAllowed
        otherwise); returns the event's id."""
        eid = C.EventId()
        _check(lib.mutual_coordinator_grant(ctypes.byref(eid), self._handle, self._device_key(device)))
        return _format_id(eid)

    def revoke_coordinator(self, device: str, after: Optional[int] = None) -> str:
        """Take the role back from `device` (this device's own, to step down).
        Its role actions after its event `after` (default: the last this
        store holds) never count. Returns the event's id."""
        eid = C.EventId()
        cut = C.CUT_HELD if after is None else after
        _check(lib.mutual_coordinator_revoke(ctypes.byref(eid), self._handle, self._device_key(device), cut))
        return _format_id(eid)

    def remove_device(self, device: str, after: Optional[int] = None) -> str:
        """Remove `device` from the group (a coordinator only: NotAllowed
        otherwise). Its events after its event `after` (default: the last
        this store holds) are refused on every device that learns of it;
        removing it again with another `after` moves the cut. The group key
        rotates with it (rotate_key()). Returns the removal's id."""
        eid = C.EventId()
        cut = C.CUT_HELD if after is None else after
        _check(lib.mutual_device_remove(ctypes.byref(eid), self._handle, self._device_key(device), cut))
        return _format_id(eid)

    def rotate_key(self) -> str:
        """Rotate the group key (a coordinator only: NotAllowed otherwise): a
        new key sealed to every device this store holds that is not removed,
        which they seal with from the sync that brings it on; old keys stay,
        to read what they sealed. Returns the rotation event's id."""
        eid = C.EventId()
        _check(lib.mutual_key_rotate(ctypes.byref(eid), self._handle))
        return _format_id(eid)

    def role_actions(self) -> List[Dict[str, Any]]:
        """Every role event held (the group's founding too), by writer and
        seq: id, action ("found", "grant", "revoke", "remove"), target, cut, in_force,
        and refused (why it does not count, or None)."""
        found: List[Dict[str, Any]] = []

        def each(a, payload):
            r = a.contents
            found.append({"id": _format_id(r.id), "action": _s(r.action), "target": _s(r.target), "cut": r.cut,
                          "in_force": bool(r.in_force), "refused": _s(r.refused) if r.refused else None})
            return 0

        _check(lib.mutual_role_action_foreach(self._handle, C.ROLE_ACTION_CB(each), None))
        return found

    def device_shown(self, device_id: str) -> str:
        """The name to show for a device (its 64-hex id): the announced name,
        or, when another device's name collides with it (case, width,
        lookalike letters), the name with a suffix of its key."""
        out = ctypes.c_char_p()
        _check(lib.mutual_device_display_name(ctypes.byref(out), self._handle, _b(device_id)))
        return _s(out.value)

    # -- the log -------------------------------------------------------------

    def append(self, type: str, payload: Dict[str, Any]) -> str:
        """Append one event (durable when this returns); its id."""
        eid = C.EventId()
        _check(lib.mutual_append(ctypes.byref(eid), self._handle, _b(type), _b(json.dumps(payload))))
        return _format_id(eid)

    def append_many(self, events: Iterable[Tuple[str, Dict[str, Any]]]) -> List[str]:
        """Append (type, payload) pairs in one transaction; their ids."""
        items = [(_b(t), _b(json.dumps(p))) for t, p in events]
        if not items:
            return []
        entries = (C.AppendEntry * len(items))(*[C.AppendEntry(t, p) for t, p in items])
        first = C.EventId()
        _check(lib.mutual_append_batch(ctypes.byref(first), self._handle, entries, len(items)))
        device = bytes(first.device).hex()
        return ["%s:%d" % (device, first.seq + i) for i in range(len(items))]

    def events(self, type: Optional[str] = None, device: Optional[str] = None, after: Optional[str] = None,
               limit: int = 0) -> Iterator[Event]:
        """Events in the total order, shared by every device. `device` is a
        name or an id prefix; `after` an event id."""
        opts = C.IterOptions(1, _b(type), None, None, limit)
        key = None
        if device is not None:
            key = (ctypes.c_uint8 * C.KEY_SIZE)()
            _check(lib.mutual_device_resolve(key, self._handle, _b(device)))
            opts.device = ctypes.cast(key, ctypes.POINTER(ctypes.c_uint8))
        after_id = _parse_id(after) if after is not None else None
        if after_id is not None:
            opts.after = ctypes.pointer(after_id)
        it = ctypes.c_void_p()
        _check(lib.mutual_iter_new(ctypes.byref(it), self._handle, ctypes.byref(opts)))
        try:
            ev = ctypes.c_void_p()
            while True:
                rc = lib.mutual_iter_next(ctypes.byref(ev), it)
                if rc == -31:  # MUTUAL_ITEROVER
                    return
                _check(rc)
                yield Event._from(ev.value, self)
        finally:
            lib.mutual_iter_free(it)
            del key

    __iter__ = events

    def get(self, event_id: str) -> Event:
        eid = _parse_id(event_id)
        ev = ctypes.c_void_p()
        _check(lib.mutual_event_lookup(ctypes.byref(ev), self._handle, ctypes.byref(eid)))
        try:
            return Event._from(ev.value, self)
        finally:
            lib.mutual_event_free(ev)

    def verify(self) -> Dict[str, Any]:
        """Check every hash, chain and signature; raises VerifyFailed or Corrupt."""
        res = C.VerifyResult(version=1)
        _check(lib.mutual_verify(ctypes.byref(res), self._handle))
        return {"events": res.events, "devices": res.devices, "signatures": res.signatures}

    def recover(self) -> int:
        """After a fork: go on under a new key; how many events were re-appended."""
        n = ctypes.c_uint64()
        _check(lib.mutual_store_recover(ctypes.byref(n), self._handle))
        return n.value

    # -- shared state --------------------------------------------------------

    def put(self, kind: str, id: str, fields: Dict[str, Any]) -> str:
        eid = C.EventId()
        _check(lib.mutual_entity_put(ctypes.byref(eid), self._handle, _b(kind), _b(id), _b(json.dumps(fields))))
        return _format_id(eid)

    def delete(self, kind: str, id: str) -> str:
        eid = C.EventId()
        _check(lib.mutual_entity_delete(ctypes.byref(eid), self._handle, _b(kind), _b(id)))
        return _format_id(eid)

    def state(self, kind: str, id: Optional[str] = None) -> Dict[str, Any]:
        """The entities of `kind` (or the one `id`) with fields and conflicts."""
        out = ctypes.c_void_p()
        _check(lib.mutual_state_json(ctypes.byref(out), self._handle, _b(kind), _b(id)))
        doc = json.loads(_take_string(out))
        return doc["entities"][0] if id is not None else doc

    def entities(self, kind: str, *, where: Optional[Dict[str, Any]] = None, order_by: Optional[str] = None,
                 descending: bool = False, limit: int = 0, after: Optional[str] = None, id: Optional[str] = None,
                 include_deleted: bool = False) -> Iterator[Entity]:
        """The entities of `kind` as Entity objects, read from the resolved
        fields (a filter or a page costs what it returns). `where` maps
        fields to values that must be equal (as JSON: 3 is not "3"; at
        most 8); `order_by` a field (numbers, then strings, then other
        JSON; entities without it are left out), else by id; `limit` 0 is
        all; `after` an Entity.cursor of the same order resumes after it.
        Raises Invalid (on the first next()) for a bad kind, id, field or
        cursor, or a field starting with '_'."""
        if limit < 0:
            raise ValueError("limit must be 0 (all) or more")
        opts = C.EntityOptions()
        _check(lib.mutual_entity_options_init(ctypes.byref(opts), 1))
        opts.kind, opts.id, opts.order_by, opts.after = _b(kind), _b(id), _b(order_by), _b(after)
        opts.descending, opts.include_deleted, opts.limit = int(bool(descending)), int(bool(include_deleted)), limit
        filters = [C.EntityWhere(_b(f), _b(json.dumps(v))) for f, v in (where or {}).items()]
        if filters:
            opts.where = (C.EntityWhere * len(filters))(*filters)  # kept alive by opts
            opts.n_where = len(filters)
        it = ctypes.c_void_p()
        _check(lib.mutual_entity_iter_new(ctypes.byref(it), self._handle, ctypes.byref(opts)))
        self._walks.add(it.value)
        try:
            e = ctypes.POINTER(C.Entity)()
            while True:
                self._handle  # raises once the store was closed (and the walk freed with it)
                rc = lib.mutual_entity_iter_next(ctypes.byref(e), it)
                if rc == -31:  # MUTUAL_ITEROVER
                    return
                _check(rc)
                # Copied before the next call: the C entity is borrowed until then.
                yield Entity._from(e.contents)
        finally:
            if it.value in self._walks:
                self._walks.discard(it.value)
                lib.mutual_entity_iter_free(it)

    def add(self, key: str, delta: str) -> str:
        """Add `delta` (a number as text, at most 6 decimals) to counter `key`."""
        eid = C.EventId()
        _check(lib.mutual_counter_add(ctypes.byref(eid), self._handle, _b(key), _b(str(delta))))
        return _format_id(eid)

    def batch(self) -> Batch:
        """A Batch of writes for one transaction:

            with store.batch() as b:
                b.put("item", "rice", {"shelf": "A3"})
                b.add("rice-kg", "12.5")
                b.append("pantry.stock.in", {"item": "rice", "qty": 12})

        commits on a normal exit (all or nothing), discards on an exception."""
        return Batch(self)

    def counters(self) -> Dict[str, Any]:
        out = ctypes.c_void_p()
        _check(lib.mutual_counters_json(ctypes.byref(out), self._handle, None))
        return json.loads(_take_string(out))

    def digest(self) -> bytes:
        out = (ctypes.c_uint8 * C.HASH_SIZE)()
        _check(lib.mutual_state_digest(out, self._handle))
        return bytes(out)

    def rebuild(self) -> None:
        _check(lib.mutual_rebuild(self._handle))

    def projection_stats(self) -> Dict[str, int]:
        """What this handle's projections have done: events_applied,
        fields_updated, app_events_applied, app_replays."""
        st = C.ProjectionStats(version=1)
        _check(lib.mutual_projection_stats_get(ctypes.byref(st), self._handle))
        return {name: getattr(st, name) for name, _ in C.ProjectionStats._fields_ if name != "version"}

    def pending(self) -> Dict[str, int]:
        """How many held events are not applied yet: waiting for an event
        they name, or held back because their clock runs too far ahead."""
        waiting, held_back = ctypes.c_uint64(), ctypes.c_uint64()
        _check(lib.mutual_pending_count(self._handle, ctypes.byref(waiting), ctypes.byref(held_back)))
        return {"waiting": waiting.value, "held_back": held_back.value}

    def register_projection(self, name: str, schema: str, reset: str, apply: str,
                            type_prefix: Optional[str] = None, schema_version: int = 1) -> None:
        """An app projection in SQL (see mutual.h): `schema` makes tables named
        `<name>_...`, `reset` empties them, `apply` runs per event in the
        shared order with :device :seq :hlc :type :payload. Kept up to date
        before every read, on this Store."""
        d = C.ProjectionDef(1, _b(name), schema_version, _b(schema), _b(reset), _b(type_prefix), _b(apply))
        _check(lib.mutual_projection_register(self._handle, ctypes.byref(d)))

    def query(self, sql: str, *params: Any) -> List[Dict[str, Optional[str]]]:
        """Rows of a read-only query, as dicts of text (None for NULL);
        `params` bind to ?1, ?2, ..."""
        rows: List[Dict[str, Optional[str]]] = []

        def each(n, names, values, payload):
            rows.append({_s(names[i]): (None if values[i] is None else _s(values[i])) for i in range(n)})
            return 0

        args = (ctypes.c_char_p * max(len(params), 1))(*[_b(str(p)) for p in params])
        _check(lib.mutual_query(self._handle, _b(sql), args, len(params), C.ROW_CB(each), None))
        return rows

    # -- sync ----------------------------------------------------------------

    def sync(self, target: str, progress: Optional[Callable[[Progress], Any]] = None) -> SyncStats:
        """Sync with a folder (a stick), a .bundle file, or a git URL, both ways.

        `progress` is called with a Progress now and then; if it raises, the
        sync stops cleanly and the exception is re-raised here. Raises Refused
        (with .stats) when the sync completed but refused some device logs."""
        raised: List[BaseException] = []
        refusals: List[Tuple[str, str]] = []

        def on_progress(p, payload):
            if progress is None:
                return 0
            try:
                v = p.contents
                progress(Progress(_PHASES.get(v.phase, "?"), v.done, v.total, v.events_imported))
                return 0
            except BaseException as e:  # noqa: B902  re-raised after the C call returns
                raised.append(e)
                return 1

        def on_refusal(device, reason, payload):
            refusals.append((_s(device), _s(reason)))

        progress_cb, refusal_cb = C.PROGRESS_CB(on_progress), C.REFUSAL_CB(on_refusal)
        opts = C.SyncOptions(1, progress_cb, None, refusal_cb, None)
        st = C.SyncStats(version=3)
        rc = lib.mutual_sync(ctypes.byref(st), self._handle, _b(target), ctypes.byref(opts))
        stats = SyncStats._from(st, refusals)
        if raised:
            raise raised[0]
        if rc == -11:  # MUTUAL_EREFUSED
            raise Refused(rc, _message(), stats)
        _check(rc)
        return stats
