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
        # A member's modified software (tests/helpers/hostile_member.py, written from
        # docs/format.md) signs an event naming a seq nobody will hold. It
        # runs in its own process: it needs PyNaCl, which this interpreter
        # may lack, and whose own allocations valgrind would count here.
        tests_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "helpers")
        if subprocess.run([sys.executable, "-c", "import nacl"], capture_output=True).returncode != 0:
            self.skipTest("PyNaCl is not installed for %s (tests/helpers/hostile_member.py needs it)" % sys.executable)
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



class TestEntities(Base):
    """Store.entities(): the typed walk over mutual_entity_iter."""

    def board(self, store, n=60):
        """Posts p000..: area, n and status vary; p001 is deleted, p005 has no n."""
        with store.batch() as b:
            for i in range(n):
                fields = {"area": ("North", "South", "East")[i % 3], "n": (i * 37) % 20,
                          "status": "open" if i % 4 else "closed", "title": "Post %d" % i}
                if i == 5:
                    del fields["n"]
                b.put("post", "p%03d" % i, fields)
            b.delete("post", "p001")
        return {"p%03d" % i: (("North", "South", "East")[i % 3], (i * 37) % 20 if i != 5 else None,
                              "open" if i % 4 else "closed") for i in range(n) if i != 1}

    def pages(self, store, size, **kw):
        """Every entity of a walk, a page of `size` at a time, each page
        resumed after the last one's cursor."""
        seen, after = [], None
        while True:
            page = list(store.entities("post", limit=size, after=after, **kw))
            self.assertLessEqual(len(page), size)
            seen += page
            if len(page) < size:
                return seen
            after = page[-1].cursor

    def test_matches_state_with_concurrent_writes(self):
        a, b = self.pair()
        stick = self.path("stick")
        os.mkdir(stick)
        a.put("request", "r1", {"holder": "", "status": "open", "note": {"b": [1, "café"], "a": None}})
        a.put("request", "r2", {"status": "open"})
        for s in (a, b):
            s.sync(stick)
        # Both claim r1 offline; b deletes r2 while a edits it.
        a.put("request", "r1", {"holder": "Ana", "status": "claimed"})
        b.put("request", "r1", {"holder": "Ben", "status": "claimed"})
        a.put("request", "r2", {"status": "done"})
        b.delete("request", "r2")
        for s in (a, b, a):
            s.sync(stick)
        walks = []
        for s in (a, b):
            got = list(s.entities("request", include_deleted=True))
            self.assertEqual([e.as_state() for e in got], s.state("request")["entities"])
            walks.append(got)
            r1, r2 = got
            self.assertEqual((r1.kind, r1.id, r2.id), ("request", "r1", "r2"))
            self.assertEqual(r1.fields["note"], {"a": None, "b": [1, "café"]})
            self.assertEqual(r1.fields["status"], "claimed")
            # One claim holds, the other is its one open conflict, by the other device.
            holder, (other,) = r1.writers["holder"], r1.conflicts["holder"]
            self.assertEqual({holder.value, other.value}, {"Ana", "Ben"})
            self.assertEqual(r1.fields["holder"], holder.value)
            self.assertEqual({holder.device, other.device}, {a.device_id, b.device_id})
            self.assertEqual(set(r1.conflicts), {"holder"})
            # The writes are the events that made them.
            for w in (holder, other):
                ev = s.get("%s:%d" % (w.device, w.seq))
                self.assertEqual((ev.hlc, ev.payload["fields"]["holder"]), (w.hlc, w.value))
            self.assertIn("_deleted", r2.conflicts)  # deleted and edited at once
            self.assertEqual(r2.writers["_deleted"].value, r2.deleted)
            self.assertEqual([e.id for e in s.entities("request")], ["r1"] + ([] if r2.deleted else ["r2"]))
        self.assertEqual(walks[0], walks[1])  # the same on both devices, cursors too

    def test_where_order_limit_after(self):
        with mutual.Store.create(self.path("s"), group="G") as s:
            posts = self.board(s)
            by_id = sorted(posts)
            with_n = sorted((i for i in posts if posts[i][1] is not None), key=lambda i: (posts[i][1], i))
            north_open = [i for i in by_id if posts[i][0] == "North" and posts[i][2] == "open"]
            self.assertTrue(north_open)
            for size in (1, 7, 100):
                for descending in (False, True):
                    order = (lambda ids: ids[::-1]) if descending else list
                    walk = self.pages(s, size, descending=descending)
                    self.assertEqual([e.id for e in walk], order(by_id))
                    walk = self.pages(s, size, order_by="n", descending=descending)
                    self.assertEqual([e.id for e in walk], order(with_n))  # p005 has no n: not listed
                    walk = self.pages(s, size, where={"status": "open", "area": "North"}, descending=descending)
                    self.assertEqual([e.id for e in walk], order(north_open))
            e = [e for e in self.pages(s, 7, include_deleted=True)]
            self.assertEqual([x.id for x in e], sorted(list(posts) + ["p001"]))
            self.assertEqual([x.deleted for x in e].count(True), 1)
            # Values compare as JSON: 3 is not "3".
            threes = [i for i in by_id if posts[i][1] == 3]
            self.assertTrue(threes)
            self.assertEqual([x.id for x in s.entities("post", where={"n": 3})], threes)
            self.assertEqual(list(s.entities("post", where={"n": "3"})), [])
            self.assertEqual([x.id for x in s.entities("post", where={"title": "Post 7"})], ["p007"])
            self.assertEqual([x.id for x in s.entities("post", limit=3)], by_id[:3])
            self.assertEqual([x.id for x in s.entities("post", id="p002")], ["p002"])
            self.assertEqual(list(s.entities("post", id="p001")), [])
            self.assertEqual([x.id for x in s.entities("post", id="p001", include_deleted=True)], ["p001"])
            self.assertEqual(list(s.entities("nothing")), [])
            # A cursor is a position: entities written since that sort before it are not listed.
            first = list(s.entities("post", limit=2))
            s.put("post", "p000a", {"n": 1})
            s.put("post", "a0", {"n": 1})
            rest = [x.id for x in s.entities("post", after=first[-1].cursor)]
            self.assertEqual([x.id for x in first], by_id[:2])
            self.assertEqual(rest[0], by_id[2])
            self.assertNotIn("a0", rest)
            self.assertNotIn("p000a", rest)
            self.assertEqual(len(rest), len(by_id) - 2)

    def test_bad_input_raises(self):
        with mutual.Store.create(self.path("s"), group="G") as s:
            self.board(s, n=5)
            by_id = next(s.entities("post")).cursor
            by_n = next(s.entities("post", order_by="n")).cursor
            bad = [dict(where={"_deleted": True}), dict(where={"_x": 1}), dict(order_by="_deleted"),
                   dict(after="zz"), dict(after=""), dict(after=by_id[:-2]), dict(after=by_id + "00"),
                   dict(after=by_id, order_by="n"), dict(after=by_n), dict(after=by_n, order_by="title"),
                   dict(where={"f%d" % i: 1 for i in range(9)}), dict(where={"n": float("nan")}),
                   dict(where={"": 1}), dict(order_by="")]
            for kw in bad:
                with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                    with self.assertRaises(mutual.Invalid) as cm:
                        list(s.entities("post", **kw))
                    self.assertTrue(cm.exception.message)
            self.assertRaises(mutual.Invalid, list, s.entities(""))
            self.assertRaises(mutual.Invalid, list, s.entities("bad\nkind"))
            self.assertRaises(mutual.Invalid, list, s.entities("post", id="x" * 201))
            self.assertRaises(TypeError, list, s.entities("post", where={"n": object()}))
            self.assertRaises(ValueError, list, s.entities("post", limit=-1))
            # Eight filters are the most, not too many.
            eight = {"f%d" % i: i for i in range(8)}
            s.put("post", "wide", eight)
            self.assertEqual([x.id for x in s.entities("post", where=eight)], ["wide"])
            self.assertEqual([x.id for x in s.entities("post", after=by_id)], ["p002", "p003", "p004", "wide"])
        self.assertRaises(ValueError, list, s.entities("post"))  # its store is closed

    def test_an_early_stop_frees_the_walk(self):
        with mutual.Store.create(self.path("s"), group="G") as s:
            self.board(s, n=10)
            for e in s.entities("post"):
                break
            self.assertEqual(e.id, "p000")
            self.assertEqual(s._walks, set())  # the dropped generator freed its walk
            walk = s.entities("post")
            self.assertEqual(next(walk).id, "p000")
            self.assertEqual(len(s._walks), 1)
            walk.close()
            self.assertEqual(s._walks, set())
            # Writes between pages of a suspended walk are fine.
            walk = s.entities("post")
            self.assertEqual(next(walk).id, "p000")
            s.put("post", "p000", {"title": "edited"})
            self.assertEqual(next(walk).id, "p002")
            # Left suspended when the store closes: the close frees it first
            # (freed after the store, python/valgrind finds SQLite's connection lost).
            suspended = s.entities("post", order_by="n")
            next(suspended)
        self.assertEqual(s._walks, set())
        self.assertRaises(ValueError, next, suspended)
        self.assertRaises(StopIteration, next, suspended)

class TestCoordinators(Base):
    def test_grant_revoke_and_refusals(self):
        a = mutual.Store.create(self.path("a"), group="Food pantry", device="office")
        self.addCleanup(a.close)
        b = mutual.Store.join(self.path("b"), a.invite(), device="laptop")
        self.addCleanup(b.close)
        stick = self.path("stick")
        os.mkdir(stick)
        for s in (a, b, a):
            s.sync(stick)
        self.assertEqual(a.coordinators(), [a.device_id])
        self.assertTrue(b.is_coordinator("office"))
        with self.assertRaises(mutual.NotAllowed):
            b.grant_coordinator("office")
        eid = a.grant_coordinator("laptop")
        self.assertTrue(eid.startswith(a.device_id + ":"))
        with self.assertRaises(mutual.Exists):
            a.grant_coordinator("laptop")
        for s in (a, b):
            s.sync(stick)
        self.assertEqual(sorted(b.coordinators()), sorted([a.device_id, b.device_id]))
        b.revoke_coordinator("office")
        with self.assertRaises(mutual.Invalid):  # the last coordinator
            b.revoke_coordinator("laptop")
        for s in (b, a):
            s.sync(stick)
        self.assertEqual(a.coordinators(), [b.device_id])
        actions = a.role_actions()
        self.assertEqual([x["action"] for x in actions if x["in_force"]].count("revoke"), 1)
        self.assertEqual(sorted(x["action"] for x in actions), ["found", "grant", "revoke"])
        self.assertTrue(all(x["refused"] is None for x in actions))


class TestRemoval(Base):
    def test_remove_refuses_after_cut(self):
        a = mutual.Store.create(self.path("a"), group="Food pantry", device="office")
        self.addCleanup(a.close)
        b = mutual.Store.join(self.path("b"), a.invite(), device="laptop")
        self.addCleanup(b.close)
        stick = self.path("stick")
        os.mkdir(stick)
        b.put("item", "rice", {"kg": 5})
        for s in (b, a, b):
            s.sync(stick)
        with self.assertRaises(mutual.NotAllowed):
            b.remove_device("office")
        b.put("item", "forged", {"kg": 99})
        eid = a.remove_device("laptop")
        self.assertTrue(eid.startswith(a.device_id + ":"))
        with self.assertRaises(mutual.Exists):
            a.remove_device("laptop")
        for s in (b, a, b):
            s.sync(stick)
        gone = [d for d in a.devices() if d["id"] == b.device_id][0]
        self.assertTrue(gone["removed"])
        self.assertEqual(gone["removed_after"], 2)
        refused = [e for e in a.events() if e.refused]
        self.assertEqual([e.payload["id"] for e in refused], ["forged"])
        self.assertEqual(sorted(e.id for e in a.entities("item")), ["rice"])
        with self.assertRaises(mutual.NotAllowed):  # b learned of it
            b.put("item", "more", {"kg": 1})
        self.assertIn("remove", [x["action"] for x in a.role_actions()])
        # The removal rotated the key: what a writes now never reaches b.
        a.put("item", "beans", {"kg": 3})
        a.sync(stick)
        st = b.sync(stick)
        self.assertEqual(st.events_received, 0)
        self.assertGreaterEqual(st.segments_without_key, 1)
        self.assertNotIn("beans", [e.id for e in b.entities("item")])

    def test_rotate_key(self):
        a = mutual.Store.create(self.path("a"), group="Food pantry", device="office")
        self.addCleanup(a.close)
        b = mutual.Store.join(self.path("b"), a.invite(), device="phone")
        self.addCleanup(b.close)
        stick = self.path("stick")
        os.mkdir(stick)
        for s in (b, a, b):
            s.sync(stick)
        with self.assertRaises(mutual.NotAllowed):
            b.rotate_key()
        eid = a.rotate_key()
        self.assertTrue(eid.startswith(a.device_id + ":"))
        self.assertIn("mutual.key.rotate", [e.type for e in a.events()])
        a.sync(stick)
        b.sync(stick)  # takes the key; from its next sync it seals with it
        b.put("item", "rice", {"kg": 5})
        st = b.sync(stick)
        self.assertEqual((st.own_events_waiting, st.refused), (0, 0))
        st = a.sync(stick)
        self.assertEqual(st.segments_without_key, 0)
        self.assertEqual([e.id for e in a.entities("item")], ["rice"])


if __name__ == "__main__":
    unittest.main()
