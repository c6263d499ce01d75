"""Black-box tests of the projection commands of the `mutual` CLI: put, del,
state, add, counters, batch and rebuild, alone and across devices that sync.

Run from the source tree with the path of the built binary in MUTUAL_CLI:

    MUTUAL_CLI=build/cli/mutual python3 -m unittest -v tests/cli/test_state.py

Only the Python standard library and the `mutual` binary are used (sync
through folders and bundle files needs stock `git` behind the binary, as
tests/sync/test_sync.py does). Every test works in its own temporary folder and
reads the state back through the CLI; one rebuild test reaches into the
SQLite file with Python's sqlite3 module, on purpose, to empty the
projection tables behind the library's back.

Nothing here depends on timing: which of two concurrent writes wins is
decided by the shared order (hlc, device, seq), so the tests read the
winner from the output and check it against that order instead of
guessing it.
"""

import json
import os
import sys
import re
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402  (the shared helpers, tests/helpers)

CLI = None  # absolute path of the binary, set by setUpModule()

TIMEOUT = 120  # seconds: a hang guard for each child process, not a timing assertion

ID_RE = re.compile(r"^([0-9a-f]{64}):([1-9][0-9]*)$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
REBUILT_RE = re.compile(r"^rebuilt: ([0-9]+) events applied\n$")

PROJECTED_TYPES = ("mutual.entity.put", "mutual.entity.del", "mutual.counter.add", "mutual.group.create",
                   "mutual.role.grant", "mutual.role.revoke")
NAME_MAX = 200  # MUTUAL_NAME_MAX


def setUpModule():
    global CLI
    CLI = clitest.cli_path()


def child_env():
    """Our environment without any MUTUAL_* setting (the test-only switches too)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_")}


def run(*args, store=None, stdin=None):
    """Run the CLI with argument list `args` (--store STORE first if given).
    Arguments are passed as UTF-8 bytes, whatever the locale. Returns a
    CompletedProcess whose stdout and stderr are str."""
    argv = [CLI.encode()]
    if store is not None:
        argv += [b"--store", store.encode()]
    argv += [a.encode("utf-8") if isinstance(a, str) else a for a in args]
    r = subprocess.run(argv, input=stdin if stdin is not None else b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=child_env(), timeout=TIMEOUT)
    return subprocess.CompletedProcess(
        [a.decode("utf-8", "replace") for a in r.args], r.returncode,
        r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace"))


def describe(r):
    return "command %r exited %d\nstdout: %r\nstderr: %r" % (
        r.args[1:], r.returncode, r.stdout[:3000], r.stderr[:3000])


def canonical(text):
    """The canonical form the library promises: keys sorted, no white space."""
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def order_key(w):
    """A write's place in the shared order (hlc, device, seq)."""
    return (w["hlc"], bytes.fromhex(w["device"]), w["seq"])


class StateTestCase(unittest.TestCase):
    """Helpers shared by the tests."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="mutual-state-test-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def mkdir(self, name):
        p = self.path(name)
        os.mkdir(p)
        return p

    # -- assertions

    def assertOk(self, r):
        self.assertEqual(r.returncode, 0, describe(r))
        return r

    def assertOneLineError(self, r, status=1):
        """Exit `status`, nothing on stdout, exactly one line "mutual: ..." on stderr."""
        self.assertEqual(r.returncode, status, describe(r))
        self.assertEqual(r.stdout, "", describe(r))
        self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
        self.assertTrue(r.stderr.endswith("\n"), describe(r))
        self.assertEqual(r.stderr.count("\n"), 1, "expected a one-line error\n" + describe(r))
        self.assertGreater(len(r.stderr.strip()), len("mutual:"), describe(r))

    def assertSameBytes(self, stores, *args):
        """Every store prints the same bytes for the read command `args`; returns them."""
        outs = [self.assertOk(run(*args, store=s)).stdout for s in stores]
        for s, out in zip(stores[1:], outs[1:]):
            self.assertEqual(out, outs[0], "%r differs between %s and %s" % (
                list(args), os.path.basename(stores[0]), os.path.basename(s)))
        return outs[0]

    # -- stores and devices

    def init(self, name, device=None):
        store = self.path(name)
        self.assertOk(run("init", "--group", "Food pantry", "--device", device or name, store=store))
        return store

    def join(self, inviter, name, device=None):
        invite = self.path(name + ".invite")
        self.assertOk(run("invite", "--out", invite, store=inviter))
        store = self.path(name)
        self.assertOk(run("join", invite, "--device", device or name, store=store))
        os.unlink(invite)
        return store

    def group(self, *names):
        """Stores of one group: the first made by init, the others by join."""
        stores = [self.init(names[0])]
        for name in names[1:]:
            stores.append(self.join(stores[0], name))
        return stores

    def device_id(self, store):
        st = json.loads(self.assertOk(run("status", "--json", store=store)).stdout)
        self.assertRegex(st["device"], HEX64_RE)
        return st["device"]

    def sync(self, store, target):
        r = self.assertOk(run("sync", target, "--json", store=store))
        figures = json.loads(r.stdout)
        self.assertIs(figures["ok"], True, describe(r))
        return figures

    def sync_until_quiet(self, stores, target, max_rounds=4):
        for _ in range(max_rounds):
            moved = 0
            for s in stores:
                f = self.sync(s, target)
                moved += f["events_sent"] + f["events_received"]
            if moved == 0:
                return
        self.fail("syncing %d stores with %s did not settle in %d rounds" % (len(stores), target, max_rounds))

    # -- projection commands

    def _event_id(self, r):
        self.assertOk(r)
        self.assertEqual(r.stdout.count("\n"), 1, describe(r))
        m = ID_RE.match(r.stdout.strip())
        self.assertTrue(m, "expected '<device>:<seq>'\n" + describe(r))
        return m.group(1), int(m.group(2))

    def put(self, store, kind, id_, fields):
        """`put`; `fields` is a dict or a JSON text. Returns (device, seq)."""
        text = fields if isinstance(fields, str) else json.dumps(fields, ensure_ascii=False)
        return self._event_id(run("put", kind, id_, text, store=store))

    def delete(self, store, kind, id_):
        return self._event_id(run("del", kind, id_, store=store))

    def add(self, store, key, delta):
        return self._event_id(run("add", key, delta, store=store))

    def state_raw(self, store, kind, id_=None):
        args = ["state", kind] + ([id_] if id_ is not None else []) + ["--json"]
        r = self.assertOk(run(*args, store=store))
        self.assertTrue(r.stdout.endswith("\n"), describe(r))
        self.assertEqual(r.stdout.count("\n"), 1, "state --json is one line\n" + describe(r))
        self.assertEqual(r.stderr, "", describe(r))
        return r.stdout

    def state(self, store, kind, id_=None):
        raw = self.state_raw(store, kind, id_)
        try:
            doc = json.loads(raw)
        except ValueError as e:
            self.fail("state --json is not JSON (%s): %r" % (e, raw))
        self.assertEqual(doc["kind"], kind, raw)
        return doc

    def entity(self, store, kind, id_):
        doc = self.state(store, kind, id_)
        self.assertEqual(len(doc["entities"]), 1, doc)
        e = doc["entities"][0]
        self.assertEqual(e["id"], id_, doc)
        self.assertEqual(set(e), {"conflicts", "deleted", "fields", "id", "writers"}, doc)
        return e

    def counters_raw(self, store, *key):
        r = self.assertOk(run("counters", *key, store=store))
        self.assertTrue(r.stdout.endswith("\n"), describe(r))
        self.assertEqual(r.stdout.count("\n"), 1, describe(r))
        return r.stdout

    def log_raw(self, store):
        return self.assertOk(run("log", "--json", store=store)).stdout

    def events(self, store):
        return [json.loads(line) for line in self.log_raw(store).splitlines()]

    def event(self, store, device, seq):
        for e in self.events(store):
            if e["device"] == device and e["seq"] == seq:
                return e
        self.fail("no event %s:%d in %s" % (device, seq, store))

    def rebuild(self, store):
        r = self.assertOk(run("rebuild", store=store))
        m = REBUILT_RE.match(r.stdout)
        self.assertTrue(m, "rebuild prints 'rebuilt: N events applied'\n" + describe(r))
        return int(m.group(1))


# --------------------------------------------------------------------------
# 1. put / state round trip


class TestPutStateRoundTrip(StateTestCase):

    def test_put_state_round_trip_on_one_device(self):
        a = self.init("a")
        dev = self.device_id(a)

        d1, seq1 = self.put(a, "request", "r1", '{"status":"open","area":"north"}')
        self.assertEqual(d1, dev)
        doc = self.state(a, "request")
        self.assertEqual(len(doc["entities"]), 1, doc)
        e = doc["entities"][0]
        self.assertEqual(e["id"], "r1")
        self.assertEqual(e["fields"], {"status": "open", "area": "north"})
        self.assertIs(e["deleted"], False)
        self.assertEqual(e["conflicts"], {})
        hlc1 = self.event(a, dev, seq1)["hlc"]
        for field in ("status", "area"):
            w = e["writers"][field]
            self.assertRegex(w["device"], HEX64_RE)
            self.assertEqual(w, {"device": dev, "seq": seq1, "hlc": hlc1}, field)
        self.assertEqual(set(e["writers"]) - {"_deleted"}, {"status", "area"}, e)

        # The same device changes status: it had seen its own write, so no conflict.
        _, seq2 = self.put(a, "request", "r1", {"status": "closed"})
        self.assertGreater(seq2, seq1)
        whole = self.state_raw(a, "request")
        e = json.loads(whole)["entities"][0]
        self.assertEqual(e["fields"], {"status": "closed", "area": "north"})
        self.assertEqual(e["conflicts"], {})
        self.assertIs(e["deleted"], False)
        self.assertEqual(e["writers"]["status"]["seq"], seq2)
        self.assertEqual(e["writers"]["status"]["device"], dev)
        self.assertEqual(e["writers"]["status"]["hlc"], self.event(a, dev, seq2)["hlc"])
        self.assertEqual(e["writers"]["area"]["seq"], seq1)

        # state KIND ID: the same entity, the same bytes (it is the only one)
        one = self.state_raw(a, "request", "r1")
        self.assertEqual(one, whole)

        # unknown id: exit 1 with a message naming it
        r = run("state", "request", "r404", "--json", store=a)
        self.assertOneLineError(r, 1)
        self.assertIn("r404", r.stderr)
        r = run("state", "request", "r404", store=a)
        self.assertOneLineError(r, 1)

        # a kind with no entity is an empty list, not an error
        self.assertEqual(self.state_raw(a, "nothing"), '{"entities":[],"kind":"nothing"}\n')

        # the human form (no --json) shows the entity too
        r = self.assertOk(run("state", "request", store=a))
        self.assertIn("closed", r.stdout)
        self.assertIn("r1", r.stdout)

    def test_other_entities_and_kinds_are_separate(self):
        a = self.init("a")
        self.put(a, "request", "r1", {"status": "open"})
        self.put(a, "request", "r2", {"status": "closed"})
        self.put(a, "item", "r1", {"qty": 3})
        doc = self.state(a, "request")
        self.assertEqual([e["id"] for e in doc["entities"]], ["r1", "r2"])
        self.assertEqual(doc["entities"][0]["fields"], {"status": "open"})
        self.assertEqual(doc["entities"][1]["fields"], {"status": "closed"})
        self.assertEqual(self.entity(a, "item", "r1")["fields"], {"qty": 3})
        self.assertOneLineError(run("state", "item", "r2", "--json", store=a), 1)

    def test_delete_then_put_restores_on_one_device(self):
        a = self.init("a")
        self.put(a, "request", "r1", {"status": "open"})
        self.delete(a, "request", "r1")
        e = self.entity(a, "request", "r1")
        self.assertIs(e["deleted"], True)
        self.assertEqual(e["conflicts"], {})
        self.put(a, "request", "r1", {"status": "again"})
        e = self.entity(a, "request", "r1")
        self.assertIs(e["deleted"], False)
        self.assertEqual(e["fields"]["status"], "again")
        self.assertEqual(e["conflicts"], {})


# --------------------------------------------------------------------------
# 2. canonical JSON


class TestCanonicalJson(StateTestCase):

    def test_state_json_is_canonical(self):
        a = self.init("a")
        # keys out of order, white space, nested objects, upper case names
        # (which sort before "_deleted") and non-ASCII text
        self.put(a, "request", "r2", '{ "zeta" : [ 1, {"b": 2, "a": {"y": true, "x": null}} ],\n'
                                     '  "Area": "north", "B": false, "\u00e9t\u00e9": "caf\u00e9", "alpha": -3 }')
        self.put(a, "request", "r10", '{"b":"x","a":"y"}')
        self.put(a, "request", "A-1", '{"s":{"k2":[],"k1":{}}}')
        self.delete(a, "request", "A-1")
        raw = self.state_raw(a, "request")
        self.assertEqual(raw, canonical(raw) + "\n")
        self.assertNotRegex(raw.rstrip("\n"), r"[ \t\r\n]")
        doc = json.loads(raw)
        self.assertEqual([e["id"] for e in doc["entities"]], ["A-1", "r10", "r2"])
        r2 = doc["entities"][2]
        self.assertEqual(r2["fields"], {"zeta": [1, {"b": 2, "a": {"y": True, "x": None}}], "Area": "north",
                                        "B": False, "\u00e9t\u00e9": "caf\u00e9", "alpha": -3})
        one = self.state_raw(a, "request", "r2")
        self.assertEqual(one, canonical(one) + "\n")
        # the human form: each entity's id on its own line, then one indented
        # line per field with its value as JSON
        r = self.assertOk(run("state", "request", store=a))
        heads = [line for line in r.stdout.splitlines() if not line.startswith(" ")]
        self.assertEqual([json.loads(h.split("  (deleted)")[0]) for h in heads], ["A-1", "r10", "r2"], describe(r))
        self.assertIn("  (deleted)", heads[0])
        fields = {}
        for line in r.stdout.split('"r2"\n', 1)[1].splitlines():
            name, value = line.split(None, 1)
            fields[name] = json.loads(value)
        self.assertEqual(fields, r2["fields"], describe(r))

    def test_two_devices_with_the_same_events_print_the_same_bytes(self):
        a, b = self.group("a", "b")
        stick = self.mkdir("stick")
        self.sync_until_quiet([a, b], stick)
        self.put(a, "request", "r1", {"status": "open", "area": "north", "Tags": ["x", "y"]})
        self.put(a, "request", "r2", {"n": {"b": 1, "a": 2}})
        self.add(a, "rice-kg", "12.5")
        self.add(a, "beans", "-1")
        self.put(b, "request", "r1", {"status": "closed", "by": "Ana"})  # concurrent with a's r1
        self.put(b, "request", "r3", {"z": 0})
        self.delete(b, "request", "r2")  # concurrent with a's r2
        self.add(b, "rice-kg", "0.5")
        self.sync_until_quiet([a, b], stick)
        raw = self.assertSameBytes([a, b], "state", "request", "--json")
        self.assertEqual(raw, canonical(raw) + "\n")
        self.assertEqual(len(json.loads(raw)["entities"]), 3)
        for id_ in ("r1", "r2", "r3"):
            one = self.assertSameBytes([a, b], "state", "request", id_, "--json")
            self.assertEqual(one, canonical(one) + "\n")
        counters = self.assertSameBytes([a, b], "counters")
        self.assertEqual(counters, '{"beans":-1,"rice-kg":13}\n')
        self.assertEqual(counters, canonical(counters) + "\n")
        self.assertSameBytes([a, b], "counters", "rice-kg")
        self.assertSameBytes([a, b], "state", "request")  # the human form too


# --------------------------------------------------------------------------
# 3. visible conflicts


class TestConflicts(StateTestCase):

    def test_concurrent_writes_of_a_field_show_the_same_winner_and_the_loser(self):
        a, b = self.group("a", "b")
        dev = {a: self.device_id(a), b: self.device_id(b)}
        stick = self.mkdir("stick")
        self.put(a, "request", "r1", {"status": "open", "area": "north"})
        self.sync_until_quiet([a, b], stick)
        self.assertEqual(self.entity(b, "request", "r1")["fields"], {"status": "open", "area": "north"})

        # both offline, both change status
        _, seq_a = self.put(a, "request", "r1", {"status": "claimed"})
        _, seq_b = self.put(b, "request", "r1", {"status": "closed"})
        mine = {a: ("claimed", seq_a), b: ("closed", seq_b)}
        self.sync(a, stick)
        self.sync(b, stick)
        self.sync(a, stick)
        raw = self.assertSameBytes([a, b], "state", "request", "r1", "--json")
        e = json.loads(raw)["entities"][0]
        self.assertIs(e["deleted"], False)
        self.assertEqual(e["fields"]["area"], "north")
        winner_store = a if e["writers"]["status"]["device"] == dev[a] else b
        loser_store = b if winner_store == a else a
        self.assertEqual(e["writers"]["status"]["device"], dev[winner_store])
        self.assertEqual(e["writers"]["status"]["seq"], mine[winner_store][1])
        self.assertEqual(e["fields"]["status"], mine[winner_store][0])
        # the losing value, with the other device's id, seq and time
        self.assertIn("status", e["conflicts"], raw)
        self.assertEqual(len(e["conflicts"]["status"]), 1, raw)
        c = e["conflicts"]["status"][0]
        self.assertEqual(c["device"], dev[loser_store])
        self.assertEqual(c["seq"], mine[loser_store][1])
        self.assertEqual(c["value"], mine[loser_store][0])
        self.assertEqual(c["hlc"], self.event(a, dev[loser_store], mine[loser_store][1])["hlc"])
        # the winner is the later of the two in the shared order
        self.assertGreater(order_key(e["writers"]["status"]), order_key(c))
        # "area" was written once, and seen by both writers: no conflict there.
        # (Whether "_deleted" may be listed is the subject of
        # TestConflicts.test_concurrent_puts_of_different_fields_are_no_conflict.)
        self.assertEqual(set(e["conflicts"]) - {"_deleted"}, {"status"}, raw)
        self.assertSameBytes([a, b], "state", "request", "--json")

        # One device, having seen both, sets status again: the conflict is settled.
        self.put(loser_store, "request", "r1", {"status": "done"})
        self.sync_until_quiet([a, b], stick)
        raw = self.assertSameBytes([a, b], "state", "request", "r1", "--json")
        e = json.loads(raw)["entities"][0]
        self.assertEqual(e["fields"], {"status": "done", "area": "north"})
        self.assertEqual(e["conflicts"], {}, raw)
        self.assertEqual(e["writers"]["status"]["device"], dev[loser_store])

    def test_concurrent_puts_of_different_fields_are_no_conflict(self):
        # README: a conflict is two volunteers changing the SAME field
        # without having seen each other's change. Two offline puts of
        # different fields of one entity conflict on nothing.
        a, b = self.group("a", "b")
        stick = self.mkdir("stick")
        self.put(a, "request", "r1", {"status": "open"})
        self.sync_until_quiet([a, b], stick)
        self.put(a, "request", "r1", {"area": "north"})
        self.put(b, "request", "r1", {"status": "claimed"})
        self.sync_until_quiet([a, b], stick)
        raw = self.assertSameBytes([a, b], "state", "request", "r1", "--json")
        e = json.loads(raw)["entities"][0]
        self.assertEqual(e["fields"], {"status": "claimed", "area": "north"})
        self.assertIs(e["deleted"], False)
        self.assertEqual(e["conflicts"], {}, "two puts of different fields show a conflict:\n" + raw)

    def test_three_concurrent_writes_list_two_losers_in_the_shared_order(self):
        a, b, c = self.group("a", "b", "c")
        stick = self.mkdir("stick")
        self.sync_until_quiet([a, b, c], stick)
        writes = {}
        for s, v in ((a, "va"), (b, "vb"), (c, "vc")):
            d, seq = self.put(s, "item", "i1", {"v": v})
            writes[(d, seq)] = v
        self.sync_until_quiet([a, b, c], stick)
        raw = self.assertSameBytes([a, b, c], "state", "item", "--json")
        e = json.loads(raw)["entities"][0]
        w = e["writers"]["v"]
        losers = e["conflicts"]["v"]
        self.assertEqual(len(losers), 2, raw)
        got = {(w["device"], w["seq"]): e["fields"]["v"]}
        for x in losers:
            got[(x["device"], x["seq"])] = x["value"]
        self.assertEqual(got, writes)
        keys = [order_key(w)] + [order_key(x) for x in losers]
        self.assertEqual(keys, sorted(keys, reverse=True), "winner first, then the losers, latest first")


# --------------------------------------------------------------------------
# 4. delete vs edit


class TestDeleteVersusEdit(StateTestCase):

    def test_concurrent_delete_and_edit_is_a_visible_conflict_settled_by_a_later_put(self):
        a, b = self.group("a", "b")
        dev_a, dev_b = self.device_id(a), self.device_id(b)
        stick = self.mkdir("stick")
        self.put(a, "request", "r1", {"status": "open", "area": "north"})
        self.sync_until_quiet([a, b], stick)

        _, seq_del = self.delete(a, "request", "r1")
        _, seq_edit = self.put(b, "request", "r1", {"status": "claimed"})
        self.assertIs(self.entity(a, "request", "r1")["deleted"], True)
        self.assertIs(self.entity(b, "request", "r1")["deleted"], False)
        self.sync_until_quiet([a, b], stick)

        raw = self.assertSameBytes([a, b], "state", "request", "r1", "--json")
        e = json.loads(raw)["entities"][0]
        self.assertIn("_deleted", e["conflicts"], raw)
        self.assertEqual(len(e["conflicts"]["_deleted"]), 1, raw)
        loser = e["conflicts"]["_deleted"][0]
        winner = e["writers"]["_deleted"]
        sides = {(dev_a, seq_del): True, (dev_b, seq_edit): False}
        self.assertEqual({(winner["device"], winner["seq"]), (loser["device"], loser["seq"])}, set(sides), raw)
        self.assertIs(e["deleted"], sides[(winner["device"], winner["seq"])])
        self.assertIs(loser["value"], sides[(loser["device"], loser["seq"])])
        self.assertGreater(order_key(winner), order_key(loser))
        # the edit's field is no conflict: the delete did not write it
        self.assertEqual(e["fields"], {"status": "claimed", "area": "north"})
        self.assertNotIn("status", e["conflicts"])
        self.assertSameBytes([a, b], "state", "request", "--json")

        # a later put, after seeing both, restores the entity and settles it
        self.put(a, "request", "r1", {"status": "reopened"})
        self.sync_until_quiet([a, b], stick)
        raw = self.assertSameBytes([a, b], "state", "request", "r1", "--json")
        e = json.loads(raw)["entities"][0]
        self.assertIs(e["deleted"], False)
        self.assertEqual(e["conflicts"], {}, raw)
        self.assertEqual(e["fields"], {"status": "reopened", "area": "north"})

    def test_a_later_delete_after_seeing_the_edit_is_no_conflict(self):
        a, b = self.group("a", "b")
        stick = self.mkdir("stick")
        self.put(a, "request", "r1", {"status": "open"})
        self.sync_until_quiet([a, b], stick)
        self.put(b, "request", "r1", {"status": "claimed"})
        self.sync_until_quiet([a, b], stick)
        self.delete(a, "request", "r1")
        self.sync_until_quiet([a, b], stick)
        raw = self.assertSameBytes([a, b], "state", "request", "r1", "--json")
        e = json.loads(raw)["entities"][0]
        self.assertIs(e["deleted"], True)
        self.assertEqual(e["conflicts"], {}, raw)


# --------------------------------------------------------------------------
# 5. counters


class TestCounters(StateTestCase):

    def test_fixed_point_sums_across_devices(self):
        a, b = self.group("a", "b")
        stick = self.mkdir("stick")
        self.assertEqual(self.counters_raw(a), "{}\n")
        self.add(a, "rice-kg", "12.5")
        self.add(b, "rice-kg", "-2.25")
        self.add(b, "rice-kg", "0.000001")
        self.add(a, "rice-kg", "3")
        self.assertEqual(self.counters_raw(a), '{"rice-kg":15.5}\n')
        self.assertEqual(self.counters_raw(b), '{"rice-kg":-2.249999}\n')
        self.sync(a, stick)
        self.sync(b, stick)
        self.sync(a, stick)
        for s in (a, b):
            self.assertEqual(self.counters_raw(s), '{"rice-kg":13.250001}\n')
            self.assertEqual(self.counters_raw(s, "rice-kg"), '{"rice-kg":13.250001}\n')
            self.assertEqual(self.counters_raw(s, "--json"), '{"rice-kg":13.250001}\n')

        # 0.1 + 0.2 is exactly 0.3 (no floats), a sum of zero prints 0,
        # small negatives keep their sign
        self.add(a, "oil-l", "0.1")
        self.add(b, "oil-l", "0.2")
        self.add(a, "zero", "1.5")
        self.add(b, "zero", "-1.5")
        self.add(a, "neg", "-0.25")
        self.sync_until_quiet([a, b], stick)
        out = self.assertSameBytes([a, b], "counters")
        self.assertEqual(out, '{"neg":-0.25,"oil-l":0.3,"rice-kg":13.250001,"zero":0}\n')

        # an unknown counter is an error
        self.assertOneLineError(run("counters", "no-such", store=a), 1)

    def test_invalid_deltas_are_refused_and_change_nothing(self):
        a = self.init("a")
        self.add(a, "rice-kg", "1")
        log = self.log_raw(a)
        counters = self.counters_raw(a)
        for delta in ("1e5", "1.1234567", "abc", "", "1E5", "+1", ".5", "1.", "01", " 1", "1 ", "0x10",
                      "NaN", "Infinity", "--1", "1.0.0", "9223372036855"):
            with self.subTest(delta=delta):
                r = run("add", "rice-kg", delta, store=a)
                self.assertOneLineError(r, 1)
                self.assertEqual(self.log_raw(a), log)
                self.assertEqual(self.counters_raw(a), counters)
        for key in ("", "x" * (NAME_MAX + 1), "tab\there"):
            with self.subTest(key=key):
                r = run("add", key, "1", store=a)
                self.assertOneLineError(r, 1)
                self.assertEqual(self.log_raw(a), log)
        # the boundaries are accepted
        self.add(a, "k" * NAME_MAX, "0.000001")
        self.add(a, "big", "9223372036853")
        self.add(a, "rice-kg", "-1.000000")

    def test_sums_near_the_64_bit_limit_are_exact_in_any_order(self):
        # Counters are 64-bit fixed point, "exact in any order": the same
        # three deltas, arriving in two orders, print the same exact total
        # (the partial sum +big +big passes the 64-bit limit on one device
        # only; the final total fits).
        big = "9223372036853"
        a, b = self.group("a", "b")
        stick = self.mkdir("stick")
        self.add(a, "big", big)
        self.add(a, "big", big)
        self.add(b, "big", "-" + big)
        self.sync_until_quiet([a, b], stick)
        self.assertEqual(self.counters_raw(b), '{"big":%s}\n' % big, "b: -big, then +big +big")
        self.assertEqual(self.counters_raw(a), '{"big":%s}\n' % big, "a: +big +big, then -big")


# --------------------------------------------------------------------------
# 6. refusals


class TestRefusals(StateTestCase):

    def test_bad_puts_and_dels_are_refused_and_leave_the_log_unchanged(self):
        a = self.init("a")
        self.put(a, "request", "r1", {"status": "open"})
        log = self.log_raw(a)
        state = self.state_raw(a, "request")
        cases = [
            ("invalid JSON", ["put", "request", "r1", '{"status":']),
            ("invalid JSON, text after", ["put", "request", "r1", '{"a":1} x']),
            ("invalid JSON, trailing comma", ["put", "request", "r1", '{"a":1,}']),
            ("JSON array", ["put", "request", "r1", '[{"status":"x"}]']),
            ("JSON string", ["put", "request", "r1", '"open"']),
            ("JSON null", ["put", "request", "r1", "null"]),
            ("empty JSON text", ["put", "request", "r1", ""]),
            ("field starting with _", ["put", "request", "r1", '{"_deleted":true}']),
            ("field _x among good ones", ["put", "request", "r1", '{"status":"x","_x":1}']),
            ("empty field name", ["put", "request", "r1", '{"":1}']),
            ("field name too long", ["put", "request", "r1", json.dumps({"f" * (NAME_MAX + 1): 1})]),
            ("field name with a control character", ["put", "request", "r1", '{"a\\u0001b":1}']),
            ("empty kind", ["put", "", "r1", '{"status":"x"}']),
            ("empty id", ["put", "request", "", '{"status":"x"}']),
            ("kind too long", ["put", "k" * (NAME_MAX + 1), "r1", "{}"]),
            ("id too long", ["put", "request", "i" * (NAME_MAX + 1), "{}"]),
            ("id with a newline", ["put", "request", "r\n1", "{}"]),
            ("invalid UTF-8 in a value", ["put", "request", "r1", b'{"a":"\xff"}']),
            ("del with an empty kind", ["del", "", "r1"]),
            ("del with an empty id", ["del", "request", ""]),
        ]
        for name, args in cases:
            with self.subTest(case=name):
                r = run(*args, store=a)
                self.assertOneLineError(r, 1)
                self.assertEqual(self.log_raw(a), log, "the log changed after: " + name)
        self.assertEqual(self.state_raw(a, "request"), state)
        # boundaries are accepted
        self.put(a, "k" * NAME_MAX, "i" * NAME_MAX, json.dumps({"f" * NAME_MAX: 1}))

    def test_a_field_name_holding_a_nul_is_refused(self):
        # "a\u0000b" decodes to a name with a control character, like
        # "a\u0001b" (refused); it must not be cut to "a" and land there.
        a = self.init("a")
        self.put(a, "request", "r1", {"a": "kept"})
        log = self.log_raw(a)
        r = run("put", "request", "r1", '{"a\\u0000b":"other"}', store=a)
        self.assertOneLineError(r, 1)
        self.assertEqual(self.log_raw(a), log)
        self.assertEqual(self.entity(a, "request", "r1")["fields"], {"a": "kept"})

    def test_usage_errors_exit_2(self):
        a = self.init("a")
        log = self.log_raw(a)
        for args in (["put"], ["put", "request", "r1"], ["put", "request", "r1", "{}", "x"],
                     ["del", "request"], ["del", "request", "r1", "x"], ["add", "k"], ["add", "k", "1", "2"],
                     ["state"], ["state", "request", "r1", "x"], ["counters", "a", "b"], ["rebuild", "x"]):
            with self.subTest(args=args):
                r = run(*args, store=a)
                self.assertEqual(r.returncode, 2, describe(r))
                self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
                self.assertEqual(self.log_raw(a), log)


# --------------------------------------------------------------------------
# 7. rebuild


class TestRebuild(StateTestCase):

    def make_history(self):
        a, b = self.group("a", "b")
        stick = self.mkdir("stick")
        self.put(a, "request", "r1", {"status": "open", "area": "north"})
        self.put(a, "request", "r2", {"status": "open"})
        self.add(a, "rice-kg", "12.5")
        self.sync_until_quiet([a, b], stick)
        self.put(a, "request", "r1", {"status": "claimed"})
        self.put(b, "request", "r1", {"status": "closed"})  # a conflict
        self.delete(b, "request", "r2")
        self.put(a, "request", "r2", {"note": "x"})  # delete vs edit
        self.put(b, "item", "i1", {"qty": 4})
        self.delete(b, "item", "i1")
        self.put(a, "request", "r3", {})
        self.add(b, "rice-kg", "-0.25")
        self.add(b, "beans", "7")
        self.sync_until_quiet([a, b], stick)
        return a, b

    def snapshot(self, store):
        return (self.state_raw(store, "request"), self.state_raw(store, "item"),
                self.state_raw(store, "request", "r1"), self.counters_raw(store))

    def test_rebuild_prints_a_count_and_keeps_the_output(self):
        a, b = self.make_history()
        before = self.snapshot(a)
        self.assertEqual(len(json.loads(before[0])["entities"]), 3)
        self.assertIn("status", json.loads(before[2])["entities"][0]["conflicts"])
        n = self.rebuild(a)
        self.assertEqual(n, sum(1 for e in self.events(a) if e["type"] in PROJECTED_TYPES))
        self.assertEqual(self.snapshot(a), before)
        self.assertEqual(self.rebuild(a), n)
        self.assertEqual(self.snapshot(a), before)
        self.assertEqual(self.snapshot(b), before)

    def test_rebuild_restores_projection_rows_deleted_behind_the_library(self):
        a, _ = self.make_history()
        before = self.snapshot(a)
        log = self.log_raw(a)
        con = sqlite3.connect(os.path.join(a, "mutual.db"), timeout=30)
        try:
            con.executescript("DELETE FROM entity_writes; DELETE FROM entity_seen; DELETE FROM counters;")
            con.commit()
            left = [con.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
                    for t in ("entity_writes", "entity_seen", "counters")]
        finally:
            con.close()
        self.assertEqual(left, [0, 0, 0])
        self.assertEqual(self.log_raw(a), log)
        self.rebuild(a)
        self.assertEqual(self.snapshot(a), before)
        self.assertEqual(self.log_raw(a), log)
        self.assertOk(run("verify", store=a))

    def test_a_schema_1_store_is_upgraded_and_rebuilt_once(self):
        # Schema 1 is schema 7 without the pending-event tables, the entity
        # history, app_projections.pending, device_sync_bytes, the
        # resolved entities and entity_values, the role tables, the
        # removals and the key rotations; its
        # entity_seen rows hold full vectors. Take a store back to it, as a
        # store written by an earlier release is, and open it with this one.
        a, b = self.make_history()
        before = self.snapshot(a)
        log = self.log_raw(a)
        con = sqlite3.connect(os.path.join(a, "mutual.db"), timeout=30)
        try:
            con.executescript(
                "DROP TABLE event_waiting; DROP TABLE event_held_back; DROP TABLE held_back_causes;"
                "DROP TABLE entity_history; ALTER TABLE app_projections DROP COLUMN pending;"
                "DROP TABLE device_sync_bytes; DROP TABLE entity_values; DROP TABLE entities;"
                "DROP TABLE role_events; DROP TABLE coordinators; DROP TABLE removals; DROP TABLE rotations;"
                "DELETE FROM entity_writes; PRAGMA user_version=1;")
            con.commit()
        finally:
            con.close()
        self.assertEqual(self.snapshot(a), before)  # upgraded, rebuilt, the same state
        self.assertEqual(self.log_raw(a), log)
        con = sqlite3.connect(os.path.join(a, "mutual.db"), timeout=30)
        try:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            rebuild_left = con.execute("SELECT count(*) FROM meta WHERE key = 'rebuild'").fetchone()[0]
            history = con.execute("SELECT count(*) FROM entity_history").fetchone()[0]
            resolved = con.execute("SELECT count(*) FROM entities").fetchone()[0]
            founded = con.execute("SELECT count(*) FROM role_events WHERE status = 0").fetchone()[0]
        finally:
            con.close()
        self.assertEqual((version, rebuild_left), (7, 0))
        self.assertGreater(history, 0)
        self.assertGreater(resolved, 0)
        self.assertEqual(founded, 1)  # the group's creation, judged again
        self.assertOk(run("verify", store=a))
        self.assertEqual(self.snapshot(b), before)

    def test_a_newer_schema_is_refused_with_a_clear_message(self):
        a, _ = self.make_history()
        con = sqlite3.connect(os.path.join(a, "mutual.db"), timeout=30)
        try:
            con.execute("PRAGMA user_version=99")
            con.commit()
        finally:
            con.close()
        r = run("status", store=a)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("newer libmutual", r.stderr)


# --------------------------------------------------------------------------
# 8. order independence through the CLI


class TestOrderIndependence(StateTestCase):

    def test_two_observers_importing_in_different_orders_agree(self):
        a, b, c, o1, o2 = self.group("a", "b", "c", "o1", "o2")
        dev = {s: self.device_id(s) for s in (a, b, c)}
        p = self.mkdir("p")  # a and b meet privately
        q = self.path("q.bundle")  # b and c meet privately

        # round 1: all offline
        self.put(a, "item", "i1", {"status": "a1", "qty": 1})
        self.put(b, "item", "i1", {"status": "b1", "note": "b"})
        self.put(c, "item", "i1", {"qty": 3})
        self.put(a, "item", "i2", {"x": 1})
        self.add(a, "c", "1.5")
        self.add(b, "c", "-0.25")
        self.sync_until_quiet([a, b], p)
        # round 2: a has seen b's round 1, c has seen nothing
        _, a2 = self.put(a, "item", "i1", {"status": "a2"})
        self.put(c, "item", "i1", {"status": "c2", "qty": 4})
        self.delete(c, "item", "i2")
        self.put(b, "item", "i1", {"note": "b2"})
        self.add(c, "c", "2")
        self.sync_until_quiet([b, c], q)
        # round 3: b and c have seen rounds 1 and 2 of b and c and round 1 of a
        _, c3 = self.put(c, "item", "i1", {"status": "c3"})
        self.put(b, "item", "i1", {"qty": 5})
        self.put(b, "item", "i3", {"y": "b"})
        self.put(a, "item", "i3", {"y": "a"})
        self.add(a, "c", "0.000001")

        # each device writes its own bundle before anything else moves
        bundles = {s: self.path("y-%s.bundle" % os.path.basename(s)) for s in (a, b, c)}
        for s in (c, a, b):
            self.sync(s, bundles[s])

        # observer 1: a, b, c in turn through stick X
        x = self.mkdir("x")
        for s in (a, b, c):
            self.sync(s, x)
            self.sync(o1, x)
        # observer 2: the bundles in the order c, a, b
        for s in (c, a, b):
            self.sync(o2, bundles[s])

        state = self.assertSameBytes([o1, o2], "state", "item", "--json")
        counters = self.assertSameBytes([o1, o2], "counters")
        for kind_id in (("i1",), ("i2",), ("i3",)):
            self.assertSameBytes([o1, o2], "state", "item", *kind_id, "--json")
        self.assertEqual(counters, '{"c":3.250001}\n')

        # what the writes saw decides the state, not the arrival order
        doc = json.loads(state)
        i1 = doc["entities"][0]
        self.assertEqual(i1["id"], "i1")
        self.assertEqual(i1["fields"]["qty"], 5)  # b's qty saw every other qty
        self.assertNotIn("qty", i1["conflicts"], state)
        self.assertEqual(i1["fields"]["note"], "b2")
        self.assertNotIn("note", i1["conflicts"], state)
        # a2 (saw a1, b1) and c3 (saw a1, b1, c2) are concurrent
        status = {(i1["writers"]["status"]["device"], i1["writers"]["status"]["seq"]): i1["fields"]["status"]}
        for w in i1["conflicts"].get("status", []):
            status[(w["device"], w["seq"])] = w["value"]
        self.assertEqual(status, {(dev[a], a2): "a2", (dev[c], c3): "c3"}, state)

        # everyone ends with the same bytes, and a rebuild changes nothing
        self.sync_until_quiet([a, b, c, o1, o2], x)
        self.assertEqual(self.assertSameBytes([a, b, c, o1, o2], "state", "item", "--json"), state)
        self.assertEqual(self.assertSameBytes([a, b, c, o1, o2], "counters"), counters)
        self.rebuild(o2)
        self.assertEqual(self.state_raw(o2, "item"), state)
        self.assertEqual(self.counters_raw(o2), counters)


# --------------------------------------------------------------------------
# 9. a late event


class TestLateEvent(StateTestCase):

    def test_an_early_event_arriving_last_gives_the_same_state(self):
        a, c, o1, o2 = self.group("a", "c", "o1", "o2")
        dev_a, dev_c = self.device_id(a), self.device_id(c)
        _, c_seq = self.put(c, "request", "r1", {"status": "from-c", "note": "c"})
        self.add(c, "rice-kg", "0.5")
        n = 30
        last = None
        for i in range(n):
            _, last = self.put(a, "request", "r1", {"status": "a%d" % i, "count": i})
            if i % 3 == 0:
                self.put(a, "request", "r%d" % (100 + i), {"i": i})
        self.add(a, "rice-kg", "10")

        a_bundle, c_bundle = self.path("a.bundle"), self.path("c.bundle")
        self.sync(a, a_bundle)
        self.sync(c, c_bundle)
        a_copy, c_copy = self.path("a2.bundle"), self.path("c2.bundle")
        shutil.copyfile(a_bundle, a_copy)
        shutil.copyfile(c_bundle, c_copy)
        # o1 gets c's event first, o2 last; a gets it last, c first
        self.sync(o1, c_bundle)
        self.sync(o1, a_bundle)
        self.sync(o2, a_copy)
        self.sync(o2, c_copy)
        self.sync(a, c_copy)
        self.sync(c, a_copy)

        stores = [o1, o2, a, c]
        state = self.assertSameBytes(stores, "state", "request", "--json")
        self.assertSameBytes(stores, "state", "request", "r1", "--json")
        self.assertEqual(self.assertSameBytes(stores, "counters"), '{"rice-kg":10.5}\n')
        r1 = json.loads(state)["entities"][0]
        self.assertEqual(r1["id"], "r1")
        # a's last status and c's status are concurrent; a's earlier 29 were
        # seen by a's later writes and are history
        got = {(r1["writers"]["status"]["device"], r1["writers"]["status"]["seq"]): r1["fields"]["status"]}
        for w in r1["conflicts"].get("status", []):
            got[(w["device"], w["seq"])] = w["value"]
        self.assertEqual(got, {(dev_a, last): "a%d" % (n - 1), (dev_c, c_seq): "from-c"}, state)
        self.assertEqual(r1["fields"]["count"], n - 1)
        self.assertEqual(r1["fields"]["note"], "c")
        self.assertEqual(set(r1["conflicts"]) - {"_deleted"}, {"status"}, state)
        self.assertEqual(len(json.loads(state)["entities"]), 1 + len(range(0, n, 3)))
        self.rebuild(o2)
        self.assertEqual(self.state_raw(o2, "request"), state)


class TestBatch(StateTestCase):
    """`mutual batch`: many writes from lines, as one transaction."""

    LINES = ("put\titem\trice\t{\"shelf\":\"A1\",\"unit\":\"kg\"}\n"
             "# a comment, and an empty line, are skipped\n"
             "\n"
             "add\trice-kg\t12.5\n"
             "append\tpantry.stock.in\t{\"item\":\"rice\",\t\"qty\":12}\n"
             "put\titem\tbeans\t{\"shelf\":\"B2\"}\n"
             "del\titem\tbeans\n"
             "put\titem\trice\t{\"shelf\":\"A3\"}\n"
             "add\trice-kg\t-0.25\r\n")

    def test_lines_are_written_as_one_run_with_the_state_of_single_commands(self):
        a, b = self.init("a"), self.init("b")
        r = self.assertOk(run("batch", "-", store=a, stdin=self.LINES.encode()))
        first, count = r.stdout.splitlines()
        m = ID_RE.match(first)
        self.assertTrue(m, describe(r))
        self.assertEqual(count, "7 event(s) written in one transaction")
        own = sorted((e for e in self.events(a) if e["device"] == m.group(1)), key=lambda e: e["seq"])
        first_seq = int(m.group(2))
        self.assertEqual([e["seq"] for e in own][-7:], list(range(first_seq, first_seq + 7)))
        self.assertEqual([e["type"] for e in own][-7:],
                         ["mutual.entity.put", "mutual.counter.add", "pantry.stock.in", "mutual.entity.put",
                          "mutual.entity.del", "mutual.entity.put", "mutual.counter.add"])
        # The same writes as single commands on another store: the same state.
        self.put(b, "item", "rice", {"shelf": "A1", "unit": "kg"})
        self.add(b, "rice-kg", "12.5")
        self.assertOk(run("append", "pantry.stock.in", '{"item":"rice",\t"qty":12}', store=b))
        self.put(b, "item", "beans", {"shelf": "B2"})
        self.delete(b, "item", "beans")
        self.put(b, "item", "rice", {"shelf": "A3"})
        self.add(b, "rice-kg", "-0.25")
        for kind_id in (("item", "rice"), ("item", "beans")):
            ea, eb = self.entity(a, *kind_id), self.entity(b, *kind_id)
            self.assertEqual((ea["fields"], ea["deleted"]), (eb["fields"], eb["deleted"]))
        self.assertEqual(self.entity(a, "item", "rice")["fields"], {"shelf": "A3", "unit": "kg"})
        self.assertEqual(self.counters_raw(a), self.counters_raw(b))
        self.assertEqual(self.counters_raw(a), '{"rice-kg":12.25}\n')
        # From a file too; an empty one writes nothing.
        path = self.path("more.tsv")
        with open(path, "w") as f:
            f.write("add\trice-kg\t1\n")
        self.assertOk(run("batch", path, store=a))
        self.assertEqual(self.counters_raw(a), '{"rice-kg":13.25}\n')
        open(path, "w").close()
        log = self.log_raw(a)
        self.assertEqual(self.assertOk(run("batch", path, store=a)).stdout, "nothing to write\n")
        self.assertEqual(self.log_raw(a), log)

    def test_a_bad_line_writes_nothing(self):
        a = self.init("a")
        self.put(a, "item", "rice", {"shelf": "A1"})
        log = self.log_raw(a)
        good = "put\titem\trice\t{\"shelf\":\"A2\"}\n"
        cases = [
            ("unknown verb", "frob\titem\n", "line 2"),
            ("no TAB", "add rice-kg 1\n", "line 2"),
            ("too few fields", "put\titem\trice\n", "line 2"),
            ("bad JSON", "put\titem\trice\t{\"shelf\":\n", "line 2"),
            ("a reserved type", "append\tmutual.entity.put\t{\"kind\":\"item\",\"id\":\"x\",\"fields\":{}}\n", "line 2"),
            ("a bad delta", "add\trice-kg\t12kg\n", "line 2"),
            ("a field starting with _", "put\titem\trice\t{\"_deleted\":true}\n", "line 2"),
            ("a NUL byte", "add\trice-kg\t1\x00\n", "line 2"),
        ]
        for name, bad, where in cases:
            with self.subTest(case=name):
                r = run("batch", "-", store=a, stdin=(good + bad + good).encode())
                self.assertOneLineError(r, 1)
                self.assertIn(where, r.stderr)
                self.assertIn("nothing was written", r.stderr)
                self.assertEqual(self.log_raw(a), log, "the log changed after: " + name)
        self.assertOneLineError(run("batch", self.path("missing.tsv"), store=a), 1)
        for args in (["batch"], ["batch", "-", "x"]):
            r = run(*args, store=a)
            self.assertEqual(r.returncode, 2, describe(r))
            self.assertTrue(r.stderr.startswith("mutual: "), describe(r))
        self.assertEqual(self.log_raw(a), log)


class TestStateWalk(StateTestCase):
    """`mutual state` over the typed walk: filters, orders, pages."""

    def library_state_json(self, store, kind):
        """mutual_state_json's own bytes, through ctypes ($MUTUAL_LIBRARY)."""
        import ctypes
        path = os.environ.get("MUTUAL_LIBRARY")
        if not path:
            self.skipTest("MUTUAL_LIBRARY is not set")
        lib = ctypes.CDLL(path)
        lib.mutual_store_open.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_uint]
        lib.mutual_state_json.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p,
                                          ctypes.c_char_p]
        lib.mutual_free.argtypes = [ctypes.c_void_p]
        lib.mutual_store_free.argtypes = [ctypes.c_void_p]
        h, out = ctypes.c_void_p(), ctypes.c_void_p()
        self.assertEqual(lib.mutual_store_open(ctypes.byref(h), store.encode(), 1), 0)
        try:
            self.assertEqual(lib.mutual_state_json(ctypes.byref(out), h, kind.encode(), None), 0)
            raw = ctypes.string_at(out.value).decode("utf-8")
            lib.mutual_free(out)
        finally:
            lib.mutual_store_free(h)
        return raw

    def test_json_is_byte_identical_to_mutual_state_json(self):
        a, b = self.group("a", "b")
        stick = self.mkdir("stick")
        self.put(a, "request", "r1", {"status": "open", "Area": "north", "zeta": [1, {"b": 2}]})
        self.put(a, "request", "r2", {"status": "open"})
        self.put(a, "request", "r3", {"status": "open"})
        self.sync_until_quiet([a, b], stick)
        self.put(a, "request", "r1", {"status": "claimed"})
        self.put(b, "request", "r1", {"status": "closed"})  # a concurrent conflict
        self.delete(a, "request", "r2")
        self.put(b, "request", "r2", {"note": "x"})  # delete and edit at once
        self.delete(b, "request", "r3")
        self.sync_until_quiet([a, b], stick)
        raw = self.state_raw(a, "request")
        doc = json.loads(raw)
        self.assertIn("status", doc["entities"][0]["conflicts"], raw)
        self.assertIn("_deleted", doc["entities"][1]["conflicts"], raw)
        self.assertIs(doc["entities"][2]["deleted"], True, raw)
        self.assertEqual(raw, self.library_state_json(a, "request") + "\n")
        self.assertEqual(raw, canonical(raw) + "\n")
        # the human form shows both conflicts; --live leaves out r3
        r = self.assertOk(run("state", "request", store=a))
        self.assertIn("CONFLICT: also", r.stdout)
        self.assertIn("deleted and edited at once", r.stdout)
        self.assertIn('"r3"  (deleted)', r.stdout)
        live = json.loads(self.assertOk(run("state", "request", "--live", "--json", store=a)).stdout)
        self.assertNotIn("r3", [e["id"] for e in live["entities"]])

    def test_where_order_and_pages(self):
        a = self.init("a")
        for i in range(7):
            self.put(a, "task", "t%d" % i, {"status": "open" if i % 3 else "done", "n": 10 - i})
        want = ["t5", "t4", "t2", "t1"]  # open ones by n ascending: t5 (5), t4 (6), t2 (8), t1 (9)
        for fmt in ("human", "json"):
            with self.subTest(fmt=fmt):
                seen, after, pages = [], None, 0
                while True:
                    args = ["state", "task", "--where", "status=open", "--order", "n", "--limit", "3"]
                    args += ["--after", after] if after else []
                    args += ["--json"] if fmt == "json" else []
                    r = self.assertOk(run(*args, store=a))
                    pages += 1
                    if fmt == "json":
                        doc = json.loads(r.stdout)
                        self.assertEqual(r.stdout, canonical(r.stdout) + "\n")
                        seen += [e["id"] for e in doc["entities"]]
                        after = doc.get("next")
                    else:
                        lines = r.stdout.splitlines()
                        seen += [json.loads(l) for l in lines if l.startswith('"')]
                        nxt = [l for l in lines if l.startswith("next page: --after ")]
                        after = nxt[0][len("next page: --after "):] if nxt else None
                        if after:
                            self.assertEqual(lines[-1], nxt[0], describe(r))
                    if not after:
                        break
                    self.assertLess(pages, 5)
                self.assertEqual(seen, want)
                self.assertEqual(pages, 2)
        r = self.assertOk(run("state", "task", "--where", "status=open", "--order", "n", "--desc", "--json",
                              store=a))
        self.assertEqual([e["id"] for e in json.loads(r.stdout)["entities"]], want[::-1])
        self.assertNotIn("next", json.loads(r.stdout))
        # a JSON value as it is, text as a string
        r = self.assertOk(run("state", "task", "--where", "n=4", "--json", store=a))
        self.assertEqual([e["id"] for e in json.loads(r.stdout)["entities"]], ["t6"])
        r = self.assertOk(run("state", "task", "--where", 'n="4"', "--json", store=a))
        self.assertEqual(json.loads(r.stdout)["entities"], [])
        r = self.assertOk(run("state", "task", "--where", "status=done", "--where", "n=7", "--json", store=a))
        self.assertEqual([e["id"] for e in json.loads(r.stdout)["entities"]], ["t3"])

    def test_bad_options(self):
        a = self.init("a")
        self.put(a, "task", "t1", {"status": "open"})
        r = run("state", "task", "--where", "_deleted=true", store=a)
        self.assertOneLineError(r, 1)
        self.assertIn("_deleted", r.stderr)
        self.assertOneLineError(run("state", "task", "--after", "zz", store=a), 1)
        self.assertOneLineError(run("state", "task", "--where", 'n="open', store=a), 1)
        for args in (["--where", "status"], ["--limit", "0"], ["--limit", "x"], ["--frob"], ["--order"]):
            with self.subTest(args=args):
                r = run("state", "task", *args, store=a)
                self.assertEqual(r.returncode, 2, describe(r))
                self.assertEqual(r.stdout, "", describe(r))

    def test_hostile_text_is_shown_escaped(self):
        a = self.init("a")
        self.put(a, "note", "n1", '{"t":"\\u001b]0;pwned\\u0007\u202eevil"}')
        r = self.assertOk(run("state", "note", store=a))
        self.assertNotIn("\x1b", r.stdout)
        self.assertNotIn("\u202e", r.stdout)
        self.assertIn("\\u001b]0;pwned\\u0007\\u202eevil", r.stdout)
        raw = self.assertOk(run("state", "note", "--json", store=a)).stdout
        self.assertNotIn("\x1b", raw)
        self.assertNotIn("\u202e", raw)
        self.assertEqual(json.loads(raw)["entities"][0]["fields"]["t"], "\x1b]0;pwned\x07\u202eevil")


if __name__ == "__main__":
    unittest.main()
