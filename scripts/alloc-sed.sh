#!/usr/bin/env bash
# The library allocates only through its own allocator (common.h):
# rewrite every call of malloc, calloc, realloc, strdup and free in
# libmutual/src/ as mutual__malloc, mutual__calloc, mutual__realloc,
# mutual__strdup and mutual__free. A test build counts those and can fail
# the Nth (tests/library/test_alloc_fail.c); a shipped build inlines them back to
# libc.
#
# Mechanical and idempotent: run it again after merging a branch that
# added plain calls, and commit what it changes on its own. It leaves
# alone member calls (wp->free(wp), .free), names that merely end so
# (sqlite3_free, git__malloc, mutual__free), and the lines between
# "alloc-sed: off" and "alloc-sed: on" (the allocator's own calls to libc).
# A dependency's memory must still be freed by that dependency's free
# (sqlite3_free, git_buf_dispose): check the diff for plain free() of
# memory from libc functions that allocate (realpath, asprintf, getline,
# strndup), which this script does not know about; it lists any it sees.
#
# Usage: scripts/alloc-sed.sh [FILE...]   (default: libmutual/src/*.[ch])
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
	set -- libmutual/src/*.c libmutual/src/*.h
fi
perl -i -pe '
	if (/alloc-sed: off/ .. /alloc-sed: on/) { next; }
	s/(?<![\w.>])(malloc|calloc|realloc|strdup|free)(\s*\()/mutual__$1$2/g;
' "$@"
# What the rewrite cannot judge: libc functions whose result is freed
# with free(), which must stay libc's free.
if grep -nE '(^|[^_[:alnum:]])(realpath|asprintf|vasprintf|strndup|getline|getdelim|open_memstream|scandir)[[:space:]]*\(' "$@"; then
	echo "alloc-sed.sh: the calls above allocate through libc; free their results with free(), not mutual__free()" >&2
	exit 1
fi
