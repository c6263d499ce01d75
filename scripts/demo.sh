#!/usr/bin/env bash
# Quick start, first command: install dependencies, build, and show the main
# job: a pantry group with three devices, each keeping its own signed log.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

mutual=$PWD/build/cli/mutual
demo=$(mktemp -d /tmp/mutual-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "The pantry laptop makes the group"
"$mutual" --store "$demo/laptop" init --group "School food pantry" --device pantry-laptop

say "It writes an invite (a secret: it travels apart from the data stick)"
"$mutual" --store "$demo/laptop" invite --out "$demo/invite.txt"

say "The office PC and a volunteer's laptop join with it"
"$mutual" --store "$demo/office" join "$demo/invite.txt" --device office-pc
"$mutual" --store "$demo/volunteer" join "$demo/invite.txt" --device volunteer
rm "$demo/invite.txt"

say "Each device records what happens there, offline"
"$mutual" --store "$demo/laptop" append pantry.stock.in '{"item":"rice","qty":40,"unit":"kg","source":"food bank"}'
"$mutual" --store "$demo/laptop" append pantry.handout '{"bags":55,"households":31}'
"$mutual" --store "$demo/office" append board.request '{"kind":"groceries","area":"north","urgency":"today"}'
"$mutual" --store "$demo/volunteer" append rota.signup '{"shift":"thu-16","hours":3}'

say "A USB stick goes round: laptop -> office -> volunteer -> laptop"
mkdir "$demo/stick"
for d in laptop office volunteer laptop office; do
	echo "-- $d"
	"$mutual" --store "$demo/$d" sync "$demo/stick"
done

say "What the stick holds is encrypted: stock git sees only device keys and counts"
git -C "$demo/stick"/mutual-*.git log --all --format='%h %an %ad %s' --date=iso | head -5
if git -C "$demo/stick"/mutual-*.git cat-file --batch-all-objects --batch | grep -a -q 'food bank'; then
	echo "plain text found on the stick!"; exit 1
else
	echo "no payload, type or name readable on the stick"
fi

say "Every device now shows the same log, in the same order"
"$mutual" --store "$demo/volunteer" log

say "As JSON, one event per line"
"$mutual" --store "$demo/laptop" log --json --type pantry.handout

say "Every hash, chain link and signature checks out"
for d in laptop office volunteer; do "$mutual" --store "$demo/$d" verify; done

say "Status of the office PC"
"$mutual" --store "$demo/office" status

say "Shared state: the office posts a request; two volunteers claim it while offline"
"$mutual" --store "$demo/office" put request r1 '{"kind":"groceries","area":"north","status":"open"}' >/dev/null
for d in office laptop volunteer; do "$mutual" --store "$demo/$d" sync "$demo/stick" >/dev/null; done
"$mutual" --store "$demo/laptop" put request r1 '{"status":"claimed","by":"Ana"}' >/dev/null
"$mutual" --store "$demo/volunteer" put request r1 '{"status":"claimed","by":"Ben"}' >/dev/null
"$mutual" --store "$demo/laptop" add rice-kg 40 >/dev/null
"$mutual" --store "$demo/laptop" add rice-kg -12.5 >/dev/null
for d in laptop volunteer office laptop volunteer; do "$mutual" --store "$demo/$d" sync "$demo/stick" >/dev/null; done
echo "-- every device shows the same holder, and the other claim as a conflict:"
"$mutual" --store "$demo/office" state request r1
echo "-- and the same counters:"
"$mutual" --store "$demo/volunteer" counters

apps=$PWD/build/examples/cli/mutual-apps
export TZ=${TZ:-Europe/London}
say "The reference apps: the pantry, counted exactly on two laptops offline"
"$apps" --store "$demo/laptop" pantry donate "Rice" 10.5 kg --from "harvest drive"
"$apps" --store "$demo/office" pantry donate "Rice" 2.25 kg --from "corner shop"
"$apps" --store "$demo/laptop" pantry give --households 3 --bags 3 --item rice 3 kg
"$apps" --store "$demo/office" pantry threshold rice 10 kg
for d in laptop office laptop; do "$mutual" --store "$demo/$d" sync "$demo/stick" >/dev/null; done
"$apps" --store "$demo/office" pantry stock

say "The board: a request, claimed by two volunteers who had not synced"
post=$("$apps" --store "$demo/office" board post request --category medicine \
	--title "Prescription pick-up" --area "Old town" --urgency urgent --contact "ring the desk")
for d in office volunteer; do "$mutual" --store "$demo/$d" sync "$demo/stick" >/dev/null; done
"$apps" --store "$demo/office" board claim "$post" --as Ana
"$apps" --store "$demo/volunteer" board claim "$post" --as Ben
for d in office volunteer office; do "$mutual" --store "$demo/$d" sync "$demo/stick" >/dev/null; done
"$apps" --store "$demo/volunteer" board show "$post"

say "The rota: a weekly shift keeps 17:00 across the end of summer time"
"$apps" --store "$demo/laptop" rota shift add --title "Thursday hand-out" --date 2026-10-22 \
	--start 17:00 --end 19:00 --weeks 3 --slots 2 >/dev/null
"$apps" --store "$demo/laptop" rota shifts --from 2026-10-20 --days 21
echo "-- the same in a browser: $PWD/build/examples/web/mutual-web --store DIR --stick FOLDER (open the address it prints)"

say "Tampering is caught: someone edits a record behind the library's back"
python3 - "$demo/laptop/mutual.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("DROP TRIGGER events_no_update;"
                 "UPDATE events SET payload = '{\"bags\":5,\"households\":31}' WHERE type = 'pantry.handout';")
db.close()
PY
"$mutual" --store "$demo/laptop" verify || echo "(verify refused the altered store, exit $?)"

say "Done."
