"""The C library behind the binding: where it is found, and one table of
prototypes that sets every function's argtypes and restype."""
import ctypes
import ctypes.util
import os

KEY_SIZE = 32
HASH_SIZE = 32
EVENT_ID_STRLEN = 88


class EventId(ctypes.Structure):
    _fields_ = [("device", ctypes.c_uint8 * KEY_SIZE), ("seq", ctypes.c_uint64)]


class CreateOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("device_name", ctypes.c_char_p)]


class IterOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("type", ctypes.c_char_p),
                ("device", ctypes.POINTER(ctypes.c_uint8)), ("after", ctypes.POINTER(EventId)),
                ("limit", ctypes.c_uint64)]


class AppendEntry(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char_p), ("payload", ctypes.c_char_p)]


class VerifyResult(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("events", ctypes.c_uint64), ("devices", ctypes.c_uint64),
                ("signatures", ctypes.c_uint64), ("ok", ctypes.c_int), ("bad", EventId),
                ("reason", ctypes.c_char * 256)]


class DeviceInfo(ctypes.Structure):
    _fields_ = [("id", ctypes.c_char_p), ("name", ctypes.c_char_p), ("events", ctypes.c_uint64),
                ("head_seq", ctypes.c_uint64), ("is_self", ctypes.c_int), ("fork_seq", ctypes.c_uint64),
                ("removed", ctypes.c_int), ("removed_cut", ctypes.c_uint64)]


class SyncProgress(ctypes.Structure):
    _fields_ = [("phase", ctypes.c_uint), ("done", ctypes.c_uint64), ("total", ctypes.c_uint64),
                ("events_imported", ctypes.c_uint64)]


PROGRESS_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(SyncProgress), ctypes.c_void_p)
REFUSAL_CB = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
DEVICE_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(DeviceInfo), ctypes.c_void_p)


class RoleAction(ctypes.Structure):
    _fields_ = [("id", EventId), ("action", ctypes.c_char_p), ("target", ctypes.c_char_p), ("cut", ctypes.c_uint64),
                ("in_force", ctypes.c_int), ("refused", ctypes.c_char_p)]


CUT_HELD = 2 ** 64 - 1  # MUTUAL_CUT_HELD
COORDINATOR_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
ROLE_ACTION_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(RoleAction), ctypes.c_void_p)


class SyncOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("progress", PROGRESS_CB), ("progress_payload", ctypes.c_void_p),
                ("refusal", REFUSAL_CB), ("refusal_payload", ctypes.c_void_p)]


class SyncStats(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint)] + [(name, ctypes.c_uint64) for name in (
        "events_sent", "events_received", "segments_sent", "segments_received", "devices_updated", "refused",
        "newer_format", "objects_received", "objects_sent", "segments_opened", "forks_found", "forked_devices",
        "future_events")] + [("safe_to_remove", ctypes.c_int), ("first_refusal", ctypes.c_char * 256),
                             ("segments_without_key", ctypes.c_uint64),  # version 2
                             ("own_events_waiting", ctypes.c_uint64)]  # version 3


class ProjectionStats(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint)] + [(name, ctypes.c_uint64) for name in (
        "events_applied", "fields_updated", "app_events_applied", "app_replays")]


class ProjectionDef(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("name", ctypes.c_char_p), ("schema_version", ctypes.c_uint),
                ("schema", ctypes.c_char_p), ("reset", ctypes.c_char_p), ("type_prefix", ctypes.c_char_p),
                ("apply", ctypes.c_char_p)]


class FieldWrite(ctypes.Structure):
    _fields_ = [("device", ctypes.c_uint8 * KEY_SIZE), ("seq", ctypes.c_uint64), ("hlc", ctypes.c_uint64),
                ("value", ctypes.c_char_p), ("text", ctypes.c_char_p)]


class EntityField(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("write", FieldWrite), ("conflicts", ctypes.POINTER(FieldWrite)),
                ("n_conflicts", ctypes.c_size_t)]


class Entity(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_char_p), ("id", ctypes.c_char_p), ("deleted", ctypes.c_int),
                ("deletion", EntityField), ("fields", ctypes.POINTER(EntityField)), ("n_fields", ctypes.c_size_t),
                ("cursor", ctypes.c_char_p)]


class EntityWhere(ctypes.Structure):
    _fields_ = [("field", ctypes.c_char_p), ("value", ctypes.c_char_p)]


class EntityOptions(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("kind", ctypes.c_char_p), ("id", ctypes.c_char_p),
                ("where", ctypes.POINTER(EntityWhere)), ("n_where", ctypes.c_size_t),
                ("order_by", ctypes.c_char_p), ("descending", ctypes.c_int), ("limit", ctypes.c_uint64),
                ("after", ctypes.c_char_p), ("include_deleted", ctypes.c_int)]


ENTITY_WHERE_MAX = 8  # MUTUAL_ENTITY_WHERE_MAX
ENTITY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Entity), ctypes.c_void_p)

ROW_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p),
                          ctypes.POINTER(ctypes.c_char_p), ctypes.c_void_p)

P = ctypes.c_void_p
S = ctypes.c_char_p
I = ctypes.c_int
OUT_STR = ctypes.POINTER(ctypes.c_void_p)  # char **, freed with mutual_free

PROTOTYPES = {
    "mutual_version": (S, []),
    "mutual_error_last": (S, []),
    "mutual_free": (None, [P]),
    "mutual_create_options_init": (I, [ctypes.POINTER(CreateOptions), ctypes.c_uint]),
    "mutual_store_create": (I, [ctypes.POINTER(P), S, S, ctypes.POINTER(CreateOptions)]),
    "mutual_store_open": (I, [ctypes.POINTER(P), S, ctypes.c_uint]),
    "mutual_store_free": (None, [P]),
    "mutual_store_is_readonly": (I, [P]),
    "mutual_store_group_id": (S, [P]),
    "mutual_store_group_name": (S, [P]),
    "mutual_store_device_id": (S, [P]),
    "mutual_store_device_name": (S, [P]),
    "mutual_invite_write": (I, [P, S]),
    "mutual_invite_text": (I, [OUT_STR, P]),
    "mutual_store_join": (I, [ctypes.POINTER(P), S, S, ctypes.POINTER(CreateOptions)]),
    "mutual_store_join_text": (I, [ctypes.POINTER(P), S, S, ctypes.POINTER(CreateOptions)]),
    "mutual_store_recover": (I, [ctypes.POINTER(ctypes.c_uint64), P]),
    "mutual_event_id_format": (I, [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(EventId)]),
    "mutual_event_id_parse": (I, [ctypes.POINTER(EventId), S]),
    "mutual_append": (I, [ctypes.POINTER(EventId), P, S, S]),
    "mutual_append_batch": (I, [ctypes.POINTER(EventId), P, ctypes.POINTER(AppendEntry), ctypes.c_size_t]),
    "mutual_event_get_id": (ctypes.POINTER(EventId), [P]),
    "mutual_event_hlc": (ctypes.c_uint64, [P]),
    "mutual_event_type": (S, [P]),
    "mutual_event_payload": (S, [P]),
    "mutual_event_payload_len": (ctypes.c_size_t, [P]),
    "mutual_event_hash": (ctypes.POINTER(ctypes.c_uint8), [P]),
    "mutual_event_device_name": (S, [P]),
    "mutual_event_quarantined": (I, [P]),
    "mutual_event_refused": (I, [P]),
    "mutual_event_pending": (I, [P]),
    "mutual_pending_count": (I, [P, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]),
    "mutual_event_lookup": (I, [ctypes.POINTER(P), P, ctypes.POINTER(EventId)]),
    "mutual_event_free": (None, [P]),
    "mutual_iter_options_init": (I, [ctypes.POINTER(IterOptions), ctypes.c_uint]),
    "mutual_iter_new": (I, [ctypes.POINTER(P), P, ctypes.POINTER(IterOptions)]),
    "mutual_iter_next": (I, [ctypes.POINTER(P), P]),
    "mutual_iter_free": (None, [P]),
    "mutual_device_foreach": (I, [P, DEVICE_CB, P]),
    "mutual_device_resolve": (I, [ctypes.c_uint8 * KEY_SIZE, P, S]),
    "mutual_coordinator_grant": (I, [ctypes.POINTER(EventId), P, ctypes.c_uint8 * KEY_SIZE]),
    "mutual_coordinator_revoke": (I, [ctypes.POINTER(EventId), P, ctypes.c_uint8 * KEY_SIZE, ctypes.c_uint64]),
    "mutual_device_remove": (I, [ctypes.POINTER(EventId), P, ctypes.c_uint8 * KEY_SIZE, ctypes.c_uint64]),
    "mutual_key_rotate": (I, [ctypes.POINTER(EventId), P]),
    "mutual_is_coordinator": (I, [P, ctypes.c_uint8 * KEY_SIZE]),
    "mutual_coordinator_foreach": (I, [P, COORDINATOR_CB, P]),
    "mutual_role_action_foreach": (I, [P, ROLE_ACTION_CB, P]),
    "mutual_device_display_name": (I, [ctypes.POINTER(S), P, S]),
    "mutual_verify": (I, [ctypes.POINTER(VerifyResult), P]),
    "mutual_entity_put": (I, [ctypes.POINTER(EventId), P, S, S, S]),
    "mutual_entity_delete": (I, [ctypes.POINTER(EventId), P, S, S]),
    "mutual_state_json": (I, [OUT_STR, P, S, S]),
    "mutual_entity_options_init": (I, [ctypes.POINTER(EntityOptions), ctypes.c_uint]),
    "mutual_entity_iter_new": (I, [ctypes.POINTER(P), P, ctypes.POINTER(EntityOptions)]),
    "mutual_entity_iter_next": (I, [ctypes.POINTER(ctypes.POINTER(Entity)), P]),
    "mutual_entity_iter_free": (None, [P]),
    "mutual_entity_foreach": (I, [P, ctypes.POINTER(EntityOptions), ENTITY_CB, P]),
    "mutual_counter_add": (I, [ctypes.POINTER(EventId), P, S, S]),
    "mutual_counters_json": (I, [OUT_STR, P, S]),
    "mutual_state_digest": (I, [ctypes.c_uint8 * HASH_SIZE, P]),
    "mutual_rebuild": (I, [P]),
    "mutual_projection_stats_get": (I, [ctypes.POINTER(ProjectionStats), P]),
    "mutual_projection_def_init": (I, [ctypes.POINTER(ProjectionDef), ctypes.c_uint]),
    "mutual_batch_new": (I, [ctypes.POINTER(P), P]),
    "mutual_batch_append": (I, [P, S, S]),
    "mutual_batch_entity_put": (I, [P, S, S, S]),
    "mutual_batch_entity_delete": (I, [P, S, S]),
    "mutual_batch_counter_add": (I, [P, S, S]),
    "mutual_batch_count": (ctypes.c_size_t, [P]),
    "mutual_batch_commit": (I, [ctypes.POINTER(EventId), P]),
    "mutual_batch_free": (None, [P]),
    "mutual_projection_register": (I, [P, ctypes.POINTER(ProjectionDef)]),
    "mutual_query": (I, [P, S, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, ROW_CB, P]),
    "mutual_sync_options_init": (I, [ctypes.POINTER(SyncOptions), ctypes.c_uint]),
    "mutual_sync": (I, [ctypes.POINTER(SyncStats), P, S, ctypes.POINTER(SyncOptions)]),
}


def _candidates():
    env = os.environ.get("MUTUAL_LIBRARY")
    if env:
        yield env
        return
    # The project's own build folder, when running from a checkout.
    here = os.path.dirname(os.path.abspath(__file__))
    for up in range(2, 6):
        root = os.path.normpath(os.path.join(here, *([".."] * up)))
        path = os.path.join(root, "build", "libmutual", "libmutual.so.0")
        if os.path.exists(path):
            yield path
            break
    found = ctypes.util.find_library("mutual")
    if found:
        yield found
    yield "libmutual.so.0"


def load():
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        for name, (restype, argtypes) in PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib
    raise ImportError("cannot load libmutual: set MUTUAL_LIBRARY to the library's path "
                      "(e.g. build/libmutual/libmutual.so.0); tried: " + "; ".join(tried))


lib = load()
