/*
 * db_int.h - what the files of the SQLite layer share among themselves
 * (db.c and db_apps.c): the connection under a mutual_db and the one place
 * SQLite's result codes become ours. Only the layer's own files include
 * it; the rest of the library goes through db.h, and sees no SQLite type.
 */
#ifndef MUTUAL_DB_INT_H
#define MUTUAL_DB_INT_H

#include "db.h"

struct sqlite3;

/* The handle's connection, borrowed for as long as `db` is open. */
struct sqlite3 *mutual__db_sqlite(mutual_db *db);
/* Translate the SQLite result code `rc` into ours, once, with `what` and
 * SQLite's own message (read at once) in the error; returns our code. */
int mutual__db_fail(mutual_db *db, int rc, const char *what);

#endif
