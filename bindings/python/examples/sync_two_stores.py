#!/usr/bin/env python3
"""Two devices of a pantry group sync through a folder standing in for a
USB stick, then show the same shared state.

    python3 sync_two_stores.py [WORK_DIR]
"""
import os
import sys
import tempfile

import mutual


def main(work):
    stick = os.path.join(work, "stick")
    os.makedirs(stick, exist_ok=True)
    with mutual.Store.create(os.path.join(work, "laptop"), group="School pantry", device="laptop") as laptop, \
            mutual.Store.join(os.path.join(work, "office"), laptop.invite(), device="office") as office:
        laptop.put("request", "r1", {"kind": "groceries", "status": "open"})
        laptop.add("rice-kg", "40")
        office.add("rice-kg", "-12.5")

        def show(p):
            print("  %s %d/%d" % (p.phase, p.done, p.total))

        for store in (laptop, office, laptop):
            stats = store.sync(stick, progress=show)
            print("%s: sent %d, received %d, safe to remove: %s" % (
                store.device_name, stats.events_sent, stats.events_received, stats.safe_to_remove))
        assert laptop.digest() == office.digest()
        print("request r1:", office.state("request", "r1")["fields"])
        print("counters:", office.counters())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as work:
            main(work)
