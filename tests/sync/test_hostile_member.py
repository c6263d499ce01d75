"""A hostile group member (issue 11): a real device of the group, with the
group key and its own valid signing key, running modified software. Every
event it writes here is validly signed and sealed (tests/helpers/hostile_member.py
writes them from docs/format.md alone); what it picks is its clock, its
frontier and the size of what it writes. Each test states what an honest
device MUST still do after importing such events with `mutual sync`:

 - clock: an event at hlc 2^63-1, or ten years ahead, does not stop the
   victim (or a device that syncs with it) from appending with a clock
   within a day of the wall clock, from rebuilding, and its entity put is
   held back;
 - inflated frontier: a put claiming to have seen seq 2^63-1 of every
   device does not freeze an entity: later honest puts and deletes show;
 - cost: one event with a 65,536-entry frontier and 200 fields, or one
   naming 1,200 real sybil devices and writing 200 fields, grows the
   receiving database by at most 8 MiB;
 - causal delivery: an event naming a seq the group will never hold is not
   applied, and does not hold back the 1,000 honest events written after
   it by devices that held it.

Device names announced by sybils are covered by other tests.

Everything is deterministic (fixed seeds for keys and frontiers); the only
clock read is the wall clock the victim's own new events must stay near.

Run by hand (Debian's python3, which has python3-nacl):

    MUTUAL_CLI=build/cli/mutual /usr/bin/python3 -m unittest -v test_hostile_member
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import clitest  # noqa: E402
import hostile_member as hm  # noqa: E402

TIMEOUT = 300  # seconds: a hang guard for each child process, not a timing assertion
DAY_MS = 24 * 3600 * 1000
TEN_YEARS_MS = 3653 * DAY_MS
GROWTH_MAX = 8 * 1024 * 1024  # what one hostile event may add to a receiving database
FIELDS = 200
FRONTIER_MAX = 65536
# Real sybil devices, each a log of just its join announcement, all named
# by one event's frontier. The figure is 2,000; writing them is one
# `git fast-import` (under 2 s), but the victim's import of 2,000 one-event
# logs alone took 48 s here, the whole test 88 s, over the ~60 s budget of
# one test (the import grows faster than the count: 500 logs 5 s, 1,500
# 35-38 s). 1,200 keeps the test near 30 s on an idle 2-CPU machine (up to
# 70 s beside another full test run) and still fails today's cost clearly:
# 200 fields x 1,200 devices x 40 bytes of seen vectors is 9.5 MiB.
# Under the sanitizers 300 (still more than FIELDS; the same import, checked
# for memory): 1,200 took 138 s there, the whole module 239 s.
SYBILS = 300 if clitest.sanitized_run() else 1200
# Test 4: written by two honest devices, half each; 100 under the
# sanitizers (1,000 took 71 s there, one `mutual put` each).
HONEST_EVENTS = 100 if clitest.sanitized_run() else 1000


def run(store, *args, timeout=TIMEOUT):
    """`mutual --store STORE ARGS...`, with no MUTUAL_* setting of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUTUAL_")}
    r = subprocess.run([clitest.cli_path(), "--store", store] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode("utf-8", "replace"),
                                       r.stderr.decode("utf-8", "replace"))


def describe(r):
    return "mutual %s exited %d\nstdout: %s\nstderr: %s" % (
        " ".join(r.args[3:])[:300], r.returncode, r.stdout[-2000:], r.stderr[-2000:])


def seed(label, i=0):
    """A fixed 32-byte seed per label and index: the same keys every run."""
    return hashlib.blake2b(b"test_hostile_member %s %d" % (label.encode(), i), digest_size=32).digest()


class HostileMemberCase(unittest.TestCase):
    """A group of three real devices (laptop, office, volunteer) that all
    hold each other's logs through one stick; the volunteer is the member
    whose software turns hostile."""

    def setUp(self):
        self.started = time.monotonic()
        tmp = tempfile.TemporaryDirectory(prefix="mutual-hostile-member-")
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.stick = os.path.join(self.tmp, "stick")
        os.mkdir(self.stick)
        self.laptop = clitest.new_group(os.path.join(self.tmp, "laptop"), "Pantry", "laptop")
        self.office = clitest.join_group(os.path.join(self.tmp, "office"), self.laptop, "office")
        self.volunteer = clitest.join_group(os.path.join(self.tmp, "volunteer"), self.laptop, "volunteer")
        self.addCleanup(self.report_time)

    def report_time(self):
        sys.stderr.write("[%s: %.1f s] " % (self._testMethodName, time.monotonic() - self.started))

    # -- the CLI

    def ok(self, store, *args):
        r = run(store, *args)
        self.assertEqual(r.returncode, 0, describe(r))
        return r.stdout

    def sync(self, store, target=None):
        """An honest sync, which must complete with nothing refused."""
        return self.ok(store, "sync", target or self.stick)

    def mesh(self, *stores):
        """Every store ends holding every log: two rounds through the stick."""
        for s in stores + stores:
            self.sync(s)

    def state(self, store, kind, id_):
        """The entity's state as `mutual state KIND ID --json` shows it, or
        None when the store holds nothing of it."""
        ents = json.loads(self.ok(store, "state", kind, id_, "--json"))["entities"]
        return ents[0] if ents else None

    def fields(self, store, kind, id_):
        e = self.state(store, kind, id_)
        return e["fields"] if e else {}

    def event(self, store, event_id):
        return json.loads(self.ok(store, "show", event_id, "--json"))

    def put(self, store, kind, id_, fields):
        """An honest put through the CLI; returns the event as `show` prints it."""
        return self.event(store, self.ok(store, "put", kind, id_, json.dumps(fields)).strip())

    def assertNearWallClock(self, ev, who):
        ms = hm.hlc_ms(ev["hlc"])
        now = int(time.time() * 1000)
        self.assertLess(abs(ms - now), DAY_MS, "%s's new event %s has hlc %d (%d ms from the wall clock): "
                        "more than a day" % (who, ev["id"], ev["hlc"], ms - now))

    def assertHolds(self, store, ev):
        """The store imported (holds) the hostile event `ev`, byte for byte."""
        got = self.event(store, ev.id)
        self.assertEqual(got["hash"], ev.hash.hex(), "the store holds another event at %s" % ev.id)

    def member(self):
        """The volunteer's device, from here on under modified software: it
        first puts everything it holds on the stick, then goes on with its
        log from its store (key files and mutual.db)."""
        self.sync(self.volunteer)
        return hm.HostileMember.from_store(self.volunteer)


class ModuleWorks(HostileMemberCase):
    """What the helper writes is what an honest client would: a victim
    imports it, verifies it and shows it."""

    def check_honest_event(self, target):
        self.put(self.laptop, "post", "p1", {"title": "rice", "status": "open"})
        self.mesh(self.laptop, self.office, self.volunteer)
        m = self.member()
        laptop_key, office_key = hm.device_key(self.laptop), hm.device_key(self.office)
        self.assertEqual(dict(m.frontier()), {laptop_key: 2, office_key: 1})
        ev = m.entity_put("post", "p1", {"status": "claimed", "holder": "Ana"})
        self.assertNearWallClock({"hlc": ev.hlc, "id": ev.id}, "the member")
        m.write(target)
        self.assertEqual(hm.read_log(target, m.group, m.device)[-1]["hash"], ev.hash)

        self.sync(self.office, target)
        self.assertHolds(self.office, ev)
        shown = self.event(self.office, ev.id)
        self.assertEqual((shown["type"], shown["hlc"], shown["device_name"]),
                         ("mutual.entity.put", ev.hlc, "volunteer"))
        self.assertEqual(self.fields(self.office, "post", "p1"),
                         {"title": "rice", "status": "claimed", "holder": "Ana"})
        log = [json.loads(line) for line in self.ok(self.office, "log", "--json").splitlines()]
        self.assertEqual(log[-1]["id"], ev.id)
        self.ok(self.office, "verify")
        # A sybil of the same group, its log just the join announcement and one put.
        s = hm.HostileMember.new_device(m.group, name="sybil", seed=seed("sybil"), invited_by=laptop_key)
        s.saw(laptop_key, 2)
        put = s.entity_put("post", "p2", {"title": "beans"})
        hm.write_medium(target, [s])
        self.sync(self.office, target)
        self.assertHolds(self.office, put)
        self.assertEqual(self.fields(self.office, "post", "p2"), {"title": "beans"})
        self.assertEqual(self.event(self.office, s.written[0].id)["device_name"], "sybil")
        self.ok(self.office, "verify")

    def test_honest_event_on_a_stick(self):
        self.check_honest_event(self.stick)

    def test_honest_event_in_a_bundle(self):
        bundle = os.path.join(self.tmp, "pantry.bundle")
        self.sync(self.laptop, bundle)
        self.check_honest_event(bundle)


class Clock(HostileMemberCase):
    """1. A member's event far in the future is imported; the victim goes on
    writing at the wall clock, rebuilds, and holds the event's put back."""

    def check_clock(self, hlc):
        self.put(self.laptop, "post", "p1", {"title": "rice", "status": "open"})
        self.mesh(self.laptop, self.office, self.volunteer)
        m = self.member()
        ev = m.entity_put("post", "p1", {"status": "hostile", "holder": "Mallory"}, hlc=hlc)
        m.write(self.stick)

        r = run(self.laptop, "sync", self.stick)
        self.assertEqual(r.returncode, 0, describe(r))
        self.assertHolds(self.laptop, ev)
        self.assertEqual(self.fields(self.laptop, "post", "p1"), {"title": "rice", "status": "open"},
                         "the put stamped hlc %d was applied, not held back" % hlc)
        mine = self.put(self.laptop, "post", "p1", {"status": "claimed", "holder": "Ana"})
        self.assertNearWallClock(mine, "the victim")
        self.assertNearWallClock(self.event(self.laptop, self.ok(
            self.laptop, "append", "pantry.note", '{"text":"after the import"}').strip()), "the victim")
        self.ok(self.laptop, "rebuild")
        self.assertEqual(self.fields(self.laptop, "post", "p1"),
                         {"title": "rice", "status": "claimed", "holder": "Ana"})
        self.assertNearWallClock(self.put(self.laptop, "post", "p3", {"title": "after rebuild"}),
                                 "the victim, after rebuild")

        # A third device that syncs with the victim (through the stick).
        self.sync(self.laptop)
        self.sync(self.office)
        self.assertHolds(self.office, ev)
        self.assertNearWallClock(self.put(self.office, "post", "p2", {"title": "beans"}), "the third device")
        self.assertEqual(self.fields(self.office, "post", "p1"),
                         {"title": "rice", "status": "claimed", "holder": "Ana"})
        self.ok(self.office, "rebuild")
        self.assertEqual(self.fields(self.office, "post", "p1"),
                         {"title": "rice", "status": "claimed", "holder": "Ana"})

    def test_hlc_max(self):
        self.check_clock(hm.HLC_MAX)

    def test_hlc_ten_years_ahead(self):
        self.check_clock(hm.hlc_of(int(time.time() * 1000) + TEN_YEARS_MS))


class InflatedFrontier(HostileMemberCase):
    """2. A put claiming to have seen seq 2^63-1 of every device of the
    group does not freeze an entity: honest puts and deletes still show."""

    def test_entity_stays_writable(self):
        post = {"kind": "request", "category": "groceries", "title": "rice for 3", "area": "north",
                "urgency": "normal", "status": "open", "holder": ""}
        self.put(self.laptop, "post", "p1", post)
        self.mesh(self.laptop, self.office, self.volunteer)
        m = self.member()
        every = [hm.device_key(s) for s in (self.laptop, self.office)]
        ev = m.entity_put("post", "p1", {"title": "", "status": "cancelled", "holder": "", "contact": ""},
                          frontier=[(d, hm.SEQ_MAX) for d in every])
        m.write(self.stick)
        self.sync(self.laptop)
        self.sync(self.office)
        self.assertHolds(self.laptop, ev)
        self.assertHolds(self.office, ev)

        self.put(self.laptop, "post", "p1", {"status": "claimed", "holder": "Ana", "title": "rice for 3"})
        f = self.fields(self.laptop, "post", "p1")
        self.assertEqual((f.get("status"), f.get("holder"), f.get("title")), ("claimed", "Ana", "rice for 3"),
                         "an honest put after the inflated frontier did not show: %r" % f)
        self.ok(self.office, "del", "post", "p1")
        self.assertTrue(self.state(self.office, "post", "p1")["deleted"],
                        "an honest delete after the inflated frontier did not show")
        self.sync(self.office)
        self.sync(self.laptop)
        self.assertTrue(self.state(self.laptop, "post", "p1")["deleted"],
                        "the office's delete did not show on the laptop")
        self.put(self.laptop, "post", "p1", {"status": "open", "holder": ""})
        self.sync(self.laptop)
        self.sync(self.office)
        for store in (self.laptop, self.office):
            e = self.state(store, "post", "p1")
            self.assertFalse(e["deleted"], "the put after the delete did not restore p1")
            self.assertEqual((e["fields"].get("status"), e["fields"].get("holder"), e["fields"].get("area")),
                             ("open", "", "north"))
        self.ok(self.laptop, "rebuild")
        self.assertEqual(self.fields(self.laptop, "post", "p1").get("status"), "open")


class Cost(HostileMemberCase):
    """3. What one event may cost a receiving database."""

    def assertGrowth(self, before, after, what):
        self.assertLessEqual(after - before, GROWTH_MAX, "%s grew the receiving database by %.1f MiB "
                             "(%d -> %d bytes), more than 8 MiB" % (what, (after - before) / 2 ** 20,
                                                                    before, after))

    def test_made_up_frontier(self):
        self.mesh(self.laptop, self.office, self.volunteer)
        m = self.member()
        rng = random.Random(3)
        frontier = [(d, rng.randint(1, 2 ** 32)) for d in hm.random_devices(rng, FRONTIER_MAX)]
        ev = m.entity_put("post", "wide", {"f%03d" % i: "value %d" % i for i in range(FIELDS)},
                          frontier=frontier)
        self.assertEqual(len(ev.frontier), FRONTIER_MAX * 40)
        m.write(self.stick)
        before = hm.db_size(self.laptop)
        self.sync(self.laptop)
        self.assertHolds(self.laptop, ev)
        self.assertGrowth(before, hm.db_size(self.laptop), "one event with a 65,536-entry made-up frontier "
                          "and %d fields" % FIELDS)

    def test_real_sybils(self):
        self.mesh(self.laptop, self.office, self.volunteer)
        m = self.member()
        laptop_key = hm.device_key(self.laptop)
        sybils = [hm.HostileMember.new_device(m.group, name="helper %d" % i, seed=seed("sybil", i),
                                              invited_by=m.device, frontier=[])
                  for i in range(SYBILS)]
        # An earlier run: 200 small events, each writing one distinct field of
        # the entity with a distinct small frontier (the laptop and one sybil).
        for i in range(FIELDS):
            m.entity_put("post", "wide", {"f%03d" % i: "small %d" % i},
                         frontier=[(laptop_key, 1), (sybils[i].device, 1)])
        hm.write_medium(self.stick, sybils + [m])
        self.sync(self.laptop)
        self.assertEqual(len(self.fields(self.laptop, "post", "wide")), FIELDS)
        before = hm.db_size(self.laptop)

        ev = m.entity_put("post", "wide", {"f%03d" % i: "big %d" % i for i in range(FIELDS)},
                          frontier=[(laptop_key, 1)] + [(s.device, 1) for s in sybils])
        m.write(self.stick)
        self.sync(self.laptop)
        self.assertHolds(self.laptop, ev)
        self.assertGrowth(before, hm.db_size(self.laptop), "one event naming %d real devices and writing "
                          "%d fields" % (SYBILS, FIELDS))


class CausalDelivery(HostileMemberCase):
    """4. An event whose frontier names a seq the group will never hold is
    not applied, and does not hold back what honest devices write after
    holding it."""

    def test_honest_events_after_an_impossible_frontier(self):
        third = clitest.join_group(os.path.join(self.tmp, "third"), self.laptop, "third")
        self.put(self.laptop, "post", "p1", {"title": "rice", "status": "open"})
        self.mesh(self.laptop, self.office, self.volunteer, third)
        m = self.member()
        laptop_key = hm.device_key(self.laptop)
        frontier = dict(m.frontier())
        frontier[laptop_key] = 10 ** 9  # the laptop exists; it will never write seq 10^9
        ev = m.entity_put("post", "p1", {"note": "planted"}, frontier=sorted(frontier.items()))
        m.write(self.stick)
        self.sync(self.laptop)
        self.sync(self.office)
        for store in (self.laptop, self.office):
            self.assertHolds(store, ev)

        half = HONEST_EVENTS // 2
        for i in range(half):
            self.ok(self.laptop, "put", "item", "l%03d" % i, '{"n":%d}' % i)
            self.ok(self.office, "put", "item", "o%03d" % i, '{"n":%d}' % i)
        self.ok(self.laptop, "put", "post", "p1", '{"status":"claimed"}')
        self.sync(self.laptop)
        self.sync(self.office)
        self.sync(third)

        self.assertHolds(third, ev)
        items = json.loads(self.ok(third, "state", "item", "--json"))["entities"]
        got = {e["id"]: e["fields"] for e in items}
        want = {"%s%03d" % (p, i): {"n": i} for p in "lo" for i in range(half)}
        self.assertEqual(len(got), len(want), "%d of the %d honest events are applied"
                         % (len(set(got) & set(want)), HONEST_EVENTS))
        self.assertEqual(got, want)
        self.assertEqual(self.fields(third, "post", "p1"), {"title": "rice", "status": "claimed"},
                         "the event naming seq 10^9 of the laptop was applied")
        # Shown as waiting, in the log and in the counts.
        self.assertEqual(self.event(third, ev.id).get("pending"), "waiting")
        status = json.loads(self.ok(third, "status", "--json"))
        self.assertEqual((status["waiting"], status["held_back"]), (1, 0))
        self.assertIn("1 event(s) waiting", self.ok(third, "status"))


if __name__ == "__main__":
    unittest.main()
