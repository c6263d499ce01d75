"""The Python binding, through its public API only: every wrapped call, its
errors, a two-store sync round trip, and a progress callback that raises."""
import os
import subprocess
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mutual  # noqa: E402


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mutual-py-")
        self.addCleanup(self.tmp.cleanup)

    def path(self, *parts):
        return os.path.join(self.tmp.name, *parts)

    def pair(self):
        a = mutual.Store.create(self.path("a"), group="Food pantry", device="laptop")
        b = mutual.Store.join(self.path("b"), a.invite(), device="phone")
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a, b


class TestStore(Base):
    def test_create_append_read(self):
        with mutual.Store.create(self.path("s"), group="Food pantry", device="laptop") as s:
            self.assertEqual(s.group_name, "Food pantry")
            self.assertEqual(s.device_name, "laptop")
            self.assertEqual(len(s.device_id), 64)
            first = s.append("pantry.stock.in", {"item": "rice", "qty": 40})
            ids = s.append_many([("pantry.stock.out", {"bags": 5}), ("pantry.stock.out", {"bags": 7})])
            self.assertEqual(len(ids), 2)
            events = list(s)
            self.assertEqual([e.seq for e in events], [1, 2, 3, 4])
            self.assertEqual(events[1].id, first)
            self.assertEqual(events[1].payload, {"item": "rice", "qty": 40})
            self.assertEqual([e.payload["bags"] for e in s.events(type="pantry.stock.out")], [5, 7])
            self.assertEqual(len(list(s.events(limit=2))), 2)
            self.assertEqual(len(list(s.events(after=first))), 2)
            self.assertEqual(len(list(s.events(device="laptop"))), 4)
            self.assertEqual(s.get(ids[1]).payload, {"bags": 7})
            self.assertEqual(s.verify()["events"], 4)
            self.assertEqual(s.devices()[0]["events"], 4)
            self.assertTrue(all(e.hlc > 0 and not e.quarantined for e in events))
        self.assertTrue(s.closed)
        s.close()  # twice is safe
        self.assertRaises(ValueError, s.append, "t.x", {})

    def test_errors(self):
        self.assertRaises(mutual.NotFound, mutual.Store.open, self.path("missing"))
        with mutual.Store.create(self.path("s"), group="G") as s:
            with self.assertRaises(mutual.Invalid) as cm:
                s.append("Bad Type", {})
            self.assertIn("type", cm.exception.message)
            self.assertRaises(mutual.Invalid, s.append, "mutual.reserved", {})
            self.assertRaises(TypeError, s.append, "t.x", {"not json": object()})
            self.assertRaises(mutual.Invalid, s.append, "t.x", {"big": "x" * (1024 * 1024)})
            self.assertRaises(mutual.Invalid, s.get, "not-an-id")
            self.assertRaises(mutual.NotFound, s.state, "item", "nope")
            self.assertRaises(mutual.Invalid, s.add, "k", "1e5")
            self.assertEqual(len(list(s)), 1)
        self.assertRaises(mutual.Exists, mutual.Store.create, self.path("s"), group="G")
        self.assertRaises(mutual.Invalid, mutual.Store.join, self.path("j"), "MUTUAL-INVITE-1:garbage")
        self.assertTrue(issubclass(mutual.Refused, mutual.Error))

    def test_readonly_and_invite_file(self):
        with mutual.Store.create(self.path("s"), group="G") as s:
            s.write_invite(self.path("invite"))
        self.assertEqual(stat.S_IMODE(os.stat(self.path("invite")).st_mode), 0o600)
        with mutual.Store.open(self.path("s"), readonly=True) as r:
            self.assertTrue(r.readonly)
            self.assertRaises(mutual.ReadOnly, r.append, "t.x", {})
        with mutual.Store.join_file(self.path("j"), self.path("invite"), device="office") as j:
            self.assertEqual(j.group_name, "G")


class TestBatch(Base):
    def test_commits_on_exit_as_one_run_of_events(self):
        a, b = self.pair()
        before = len(list(a))
        with a.batch() as batch:
            batch.put("item", "rice", {"shelf": "A1"})
            batch.add("rice-kg", "12.5")
            batch.append("pantry.stock.in", {"item": "rice", "qty": 12})
            batch.put("item", "beans", {"shelf": "B2"})
            batch.delete("item", "beans")
            self.assertEqual(len(batch), 5)
            self.assertEqual(len(list(a)), before)  # nothing written before the commit
        self.assertEqual(len(batch.ids), 5)
        seqs = [a.get(i).seq for i in batch.ids]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + 5)))
        self.assertEqual([a.get(i).type for i in batch.ids],
                         ["mutual.entity.put", "mutual.counter.add", "pantry.stock.in", "mutual.entity.put",
                          "mutual.entity.del"])
        self.assertEqual(a.state("item", "rice")["fields"], {"shelf": "A1"})
        self.assertTrue(a.state("item", "beans")["deleted"])
        self.assertEqual(a.counters(), {"rice-kg": 12.5})
        self.assertEqual(len(batch), 0)
        batch.close()  # twice is safe
        # The same state on a device that syncs it.
        stick = self.path("stick")
        os.mkdir(stick)
        a.sync(stick)
        b.sync(stick)
        a.sync(stick)
        self.assertEqual(a.digest(), b.digest())

    def test_discards_on_exception_and_refuses_bad_entries(self):
        with mutual.Store.create(self.path("s"), group="G") as s:
            with self.assertRaises(KeyError):
                with s.batch() as b:
                    b.add("rice-kg", "1")
                    raise KeyError("stop")
            self.assertEqual(len(list(s)), 1)  # only the group's creation
            with s.batch() as b:
                b.add("k", "1")
                with self.assertRaises(mutual.Invalid) as cm:
                    b.put("item", "x", {"_deleted": True})
                self.assertIn("batch entry 2", cm.exception.message)
                self.assertRaises(mutual.Invalid, b.append, "mutual.entity.put", {"kind": "k", "id": "i", "fields": {}})
                self.assertRaises(mutual.Invalid, b.add, "k", "1e5")
                self.assertEqual(len(b), 1)  # unchanged by the refusals
            self.assertEqual(s.counters(), {"k": 1})
            with s.batch() as b:
                pass  # an empty batch commits nothing
            self.assertEqual(b.ids, [])
            self.assertEqual(len(list(s)), 2)
            b = s.batch()
        self.assertRaises(ValueError, b.add, "k", "1")  # its store is closed
        b.close()
        with mutual.Store.open(self.path("s"), readonly=True) as r:
            self.assertRaises(mutual.ReadOnly, r.batch)


class TestStateAndSync(Base):
    def test_two_stores_through_a_folder(self):
        a, b = self.pair()
        stick = self.path("stick")
        os.mkdir(stick)
        a.put("request", "r1", {"status": "open"})
        a.add("rice-kg", "12.5")
        stats = a.sync(stick)
        self.assertTrue(stats.safe_to_remove)
        self.assertEqual(stats.events_sent, 3)
        b.sync(stick)
        a.sync(stick)
        self.assertEqual(b.state("request", "r1")["fields"], {"status": "open"})
        self.assertEqual(b.counters(), {"rice-kg": 12.5})
        # Concurrent claims: the same winner and the same conflict on both.
        a.put("request", "r1", {"by": "Ana"})
        b.put("request", "r1", {"by": "Ben"})
        for s in (a, b, a):
            s.sync(stick)
        self.assertEqual(a.state("request"), b.state("request"))
        self.assertEqual(len(a.state("request", "r1")["conflicts"]["by"]), 1)
        self.assertEqual(a.digest(), b.digest())
        b.rebuild()
        self.assertEqual(a.digest(), b.digest())
        self.assertEqual([e.id for e in a], [e.id for e in b])
        # A delete shows on both; a later put restores.
        b.delete("request", "r1")
        for s in (b, a):
            s.sync(stick)
        self.assertTrue(a.state("request", "r1")["deleted"])
        a.put("request", "r1", {"status": "done"})
        self.assertFalse(a.state("request", "r1")["deleted"])
        # Nothing forked here: nothing to recover.
        self.assertRaises(mutual.Invalid, a.recover)

    def test_waiting_events_are_marked_and_counted(self):
        # A member's modified software (tests/hostile_member.py, written from
        # docs/format.md) signs an event naming a seq nobody will hold. It
        # runs in its own process: it needs PyNaCl, which this interpreter
        # may lack, and whose own allocations valgrind would count here.
        tests_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests")
        if subprocess.run([sys.executable, "-c", "import nacl"], capture_output=True).returncode != 0:
            self.skipTest("PyNaCl is not installed for %s (tests/hostile_member.py needs it)" % sys.executable)
        a = mutual.Store.create(self.path("a"), group="Food pantry", device="laptop")
        self.addCleanup(a.close)
        b_dir = self.path("b")
        mutual.Store.join(b_dir, a.invite(), device="volunteer").close()
        stick = self.path("stick")
        os.mkdir(stick)
        a.sync(stick)
        b = mutual.Store.open(b_dir)
        b.sync(stick)
        b.close()
        self.assertEqual(a.pending(), {"waiting": 0, "held_back": 0})
        forge = ("import sys; sys.path.insert(0, sys.argv[1]); import hostile_member as hm\n"
                 "m = hm.HostileMember.from_store(sys.argv[2])\n"
                 "f = dict(m.frontier()); f[bytes.fromhex(sys.argv[3])] = 10 ** 9\n"
                 "m.entity_put('post', 'p1', {'title': 'planted'}, frontier=sorted(f.items()))\n"
                 "m.write(sys.argv[4])\n")
        subprocess.run([sys.executable, "-c", forge, tests_dir, b_dir, a.device_id, stick], check=True, timeout=120)
        a.sync(stick)
        self.assertEqual(a.pending(), {"waiting": 1, "held_back": 0})
        self.assertEqual([e.pending for e in a.events() if e.type == "mutual.entity.put"], ["waiting"])
        self.assertEqual({e.pending for e in a.events() if e.type != "mutual.entity.put"}, {""})

    def test_colliding_names_are_shown_apart(self):
        a = mutual.Store.create(self.path("a"), group="Food pantry", device="laptop")
        b = mutual.Store.join(self.path("b"), a.invite(), device="LAPTOP")
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        self.assertEqual(a.device_shown(a.device_id), "laptop")
        stick = self.path("stick")
        os.mkdir(stick)
        b.append("pantry.stock.out", {"item": "rice", "qty": 2})
        for s in (a, b, a):
            s.sync(stick)
        want = {a.device_id: "laptop~" + a.device_id[:12], b.device_id: "LAPTOP~" + b.device_id[:12]}
        for s in (a, b):
            self.assertEqual({d["id"]: d["shown"] for d in s.devices()}, want)
            self.assertEqual({d["id"]: d["name"] for d in s.devices()},
                             {a.device_id: "laptop", b.device_id: "LAPTOP"})
            out = list(s.events(type="pantry.stock.out"))[0]
            self.assertEqual((out.device_name, out.device_shown), ("LAPTOP", want[b.device_id]))
        self.assertRaises(mutual.NotFound, a.device_shown, "ab" * 32)
        self.assertRaises(mutual.Invalid, a.device_shown, "laptop")

    def test_app_projection_and_query(self):
        a, b = self.pair()
        stick = self.path("stick")
        os.mkdir(stick)
        b.register_projection(
            "shelf", schema="CREATE TABLE shelf_qty(item TEXT PRIMARY KEY, qty INTEGER)",
            reset="DELETE FROM shelf_qty", type_prefix="pantry.",
            apply="INSERT INTO shelf_qty(item, qty) VALUES(json_extract(:payload, '$.item'),"
                  " json_extract(:payload, '$.qty')) ON CONFLICT(item) DO UPDATE SET qty = qty + excluded.qty")
        a.append_many([("pantry.in", {"item": "rice", "qty": 5}), ("pantry.in", {"item": "rice", "qty": 7})])
        a.sync(stick)
        b.sync(stick)
        self.assertEqual(b.query("SELECT item, qty FROM shelf_qty WHERE item = ?1", "rice"),
                         [{"item": "rice", "qty": "12"}])
        self.assertEqual(b.query("SELECT qty FROM shelf_qty WHERE item = ?1", "none"), [])
        self.assertRaises(mutual.Invalid, b.query, "DELETE FROM shelf_qty")
        self.assertRaises(mutual.Invalid, b.query, "SELEKT 1")
        self.assertRaises(mutual.Invalid, b.query, "SELECT qty FROM shelf_qty WHERE item = ?1")
        self.assertRaises(mutual.Exists, b.register_projection, "shelf", "", "", "")
        stats = b.projection_stats()
        self.assertEqual(stats["app_events_applied"], 2)
        self.assertGreaterEqual(stats["app_replays"], 1)
        self.assertEqual(set(stats), {"events_applied", "fields_updated", "app_events_applied", "app_replays"})

    def test_progress_callback_raising_cancels_cleanly(self):
        a, b = self.pair()
        stick = self.path("stick")
        os.mkdir(stick)
        a.append_many([("t.x", {"i": i}) for i in range(2500)])
        a.sync(stick)
        seen = []

        def stop(p):
            seen.append(p)
            if p.phase == "importing":
                raise KeyboardInterrupt("stop here")

        with self.assertRaises(KeyboardInterrupt):
            b.sync(stick, progress=stop)
        self.assertTrue(seen)
        b.verify()  # consistent after the cancel
        stats = b.sync(stick)  # and the next sync completes
        self.assertEqual(len(list(b)), 2502)
        self.assertGreater(stats.events_received, 0)

    def test_refused_sync_raises_with_stats(self):
        a, _ = self.pair()
        stick = self.path("stick")
        os.mkdir(stick)
        a.sync(stick)
        # Another group's repository copied over this group's name: refused.
        with mutual.Store.create(self.path("o"), group="Other") as other:
            other.sync(stick)
            os.rename(os.path.join(stick, "mutual-%s.git" % a.group_id), self.path("mine.git"))
            os.rename(os.path.join(stick, "mutual-%s.git" % other.group_id),
                      os.path.join(stick, "mutual-%s.git" % a.group_id))
        with self.assertRaises(mutual.Refused) as cm:
            a.sync(stick)
        self.assertGreaterEqual(cm.exception.stats.refused, 1)
        self.assertTrue(cm.exception.stats.refusals)
        self.assertEqual(len(list(a)), 1)  # nothing of theirs imported


if __name__ == "__main__":
    unittest.main()
