/*
 * recover.c - after a fork (this device's key used on two machines), go on
 * under a new key without losing anything this device wrote.
 *
 * The old key's events up to the fork stay as they are. This device makes a
 * new key pair, announces it (a `mutual.device.join` naming the key it
 * recovers), and re-appends its own quarantined events under the new key
 * in the same transaction, so every device applies them again exactly once.
 * The key files are swapped only after that transaction commits; a crash in
 * between is finished on the next open (see mutual__store_load_secret).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "json.h"
#include "store.h"

#define NEW_KEY_FILE MUTUAL_DEVICE_KEY_FILE ".new"
#define QUARANTINED_FIRST_CAP 64 /* events collect() first makes room for */

typedef struct {
	mutual_append_entry *entries;
	mutual_buf text; /* type NUL payload NUL, back to back */
	size_t *offsets;  /* where each entry's type starts in `text` */
	size_t n, cap;
} quarantined;

static int collect(const mutual_event_rec *ev, void *payload)
{
	quarantined *q = payload;
	if ((ev->type_len == 19 && memcmp(ev->type, "mutual.group.create", 19) == 0) ||
	    (ev->type_len == 18 && memcmp(ev->type, "mutual.device.join", 18) == 0))
		return 0; /* announcements of the old key are not re-said; puts, deletes and counts are */
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : QUARANTINED_FIRST_CAP;
		size_t *grown = mutual__realloc(q->offsets, cap * sizeof(*grown));
		if (!grown)
			return mutual__fail(MUTUAL_ERROR, "out of memory");
		q->offsets = grown;
		q->cap = cap;
	}
	q->offsets[q->n++] = q->text.len;
	if (mutual__buf_put(&q->text, ev->type, ev->type_len) < 0 || mutual__buf_put_u8(&q->text, 0) < 0 ||
	    mutual__buf_put(&q->text, ev->payload, ev->payload_len) < 0 || mutual__buf_put_u8(&q->text, 0) < 0)
		return MUTUAL_ERROR;
	return 0;
}

/* Point the entries into `text` once it has stopped moving. */
static int make_entries(quarantined *q, const char *join_payload)
{
	if (!(q->entries = mutual__calloc(q->n + 1, sizeof(*q->entries))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	q->entries[0].type = "mutual.device.join";
	q->entries[0].payload = join_payload;
	for (size_t i = 0; i < q->n; i++) {
		const char *type = (const char *)q->text.data + q->offsets[i];
		q->entries[i + 1].type = type;
		q->entries[i + 1].payload = type + strlen(type) + 1;
	}
	return 0;
}

int mutual_store_recover(uint64_t *reappended, mutual_store *s)
{
	MUTUAL_STORE_ENTER(s);
	quarantined q;
	mutual_buf join = { 0 }, key_text = { 0 };
	uint8_t seed[MUTUAL_SEED_SIZE], pk[MUTUAL_KEY_SIZE], sk[MUTUAL_SECRET_SIZE], old_self[MUTUAL_KEY_SIZE], old_secret[MUTUAL_SECRET_SIZE];
	char old_hex[MUTUAL_KEY_HEX_SIZE], seed_hex[MUTUAL_SEED_HEX_SIZE];
	char *new_path = NULL, *key_path = NULL, *retired = NULL;
	uint64_t fork_seq;
	int rc, in_tx = 0, swapped = 0;

	if (!s)
		return mutual__fail(MUTUAL_EINVALID, "no store given");
	mutual__error_clear();
	memset(&q, 0, sizeof(q));
	if (reappended)
		*reappended = 0;
	if (s->readonly)
		return mutual__fail(MUTUAL_EREADONLY, "the store at %s is read-only", s->dir);
	rc = mutual__db_fork_get(s->db, s->self, &fork_seq, NULL);
	if (rc == MUTUAL_ENOTFOUND)
		return mutual__fail(MUTUAL_EINVALID, "this device's log is not forked: there is nothing to recover");
	if (rc < 0)
		return rc;
	if ((rc = mutual__store_load_secret(s)) < 0)
		return rc;

	/* The new key, in a file of its own until the swap. */
	mutual__random(seed, sizeof(seed));
	if ((rc = mutual__sign_keypair(pk, sk, seed)) < 0)
		goto done;
	mutual__hex(seed_hex, seed, MUTUAL_SEED_SIZE);
	if (!(new_path = mutual__path_join(s->dir, NEW_KEY_FILE)) ||
	    !(key_path = mutual__path_join(s->dir, MUTUAL_DEVICE_KEY_FILE))) {
		rc = MUTUAL_ERROR;
		goto done;
	}
	unlink(new_path); /* a leftover of an interrupted recover, never used */
	if ((rc = mutual__buf_printf(&key_text, "mutual-device-key 1\n%s\n", seed_hex)) < 0 ||
	    (rc = mutual__write_secret_file(new_path, key_text.data, key_text.len)) < 0)
		goto done;

	mutual__hex(old_hex, s->self, MUTUAL_KEY_SIZE);
	rc = mutual__buf_printf(&join, "{\"recovers\":\"%s\",\"fork_seq\":%" PRIu64 ",\"name\":", old_hex, fork_seq);
	rc = rc ? rc : mutual__json_put_string(&join, s->device_name);
	rc = rc ? rc : mutual__buf_put_u8(&join, '}');
	rc = rc ? rc : mutual__buf_cstr(&join);
	if (rc < 0)
		goto done;

	if ((rc = mutual__db_begin_write(s->db)) < 0)
		goto done;
	in_tx = 1;
	if ((rc = mutual__db_chain(s->db, s->self, fork_seq, collect, &q)) < 0 || (rc = make_entries(&q, (const char *)join.data)) < 0)
		goto done;
	/* From here on this handle writes as the new key. */
	memcpy(old_self, s->self, MUTUAL_KEY_SIZE);
	memcpy(old_secret, s->secret, sizeof(old_secret));
	memcpy(s->self, pk, MUTUAL_KEY_SIZE);
	memcpy(s->secret, sk, sizeof(sk));
	swapped = 1;
	if ((rc = mutual__db_meta_set(s->db, "device", pk, MUTUAL_KEY_SIZE)) < 0 ||
	    (rc = mutual__db_device_set_name(s->db, pk, s->device_name)) < 0 ||
	    (rc = mutual__append_locked(NULL, s, q.entries, q.n + 1)) < 0)
		goto done;
	rc = mutual__db_commit(s->db);
	in_tx = 0;
	if (rc < 0)
		goto done;

	/* Committed: the new key is this device's. Retire the old key file. */
	{
		mutual_buf r = { 0 };
		if (mutual__buf_printf(&r, "%s/" MUTUAL_DEVICE_KEY_FILE ".retired-%.16s", s->dir, old_hex) < 0) {
			rc = MUTUAL_ERROR;
			goto done;
		}
		retired = (char *)r.data;
	}
	if (rename(key_path, retired) < 0 || rename(new_path, key_path) < 0 || mutual__fsync_dir(s->dir) < 0) {
		rc = mutual__fail(MUTUAL_ERROR, "recovered, but cannot swap the key files (%s); reopening the store "
			"finishes it", strerror(errno));
		goto done;
	}
	mutual__hex(s->device_id, s->self, MUTUAL_KEY_SIZE);
	if (reappended)
		*reappended = q.n;
	rc = 0;
done:
	if (in_tx)
		mutual__db_rollback(s->db);
	if (rc < 0 && swapped && in_tx) {
		memcpy(s->self, old_self, MUTUAL_KEY_SIZE);
		memcpy(s->secret, old_secret, sizeof(old_secret));
	}
	if (rc < 0 && new_path && !(swapped && !in_tx))
		unlink(new_path);
	mutual__wipe(seed, sizeof(seed));
	mutual__wipe(seed_hex, sizeof(seed_hex));
	mutual__wipe(sk, sizeof(sk));
	mutual__wipe(old_secret, sizeof(old_secret));
	if (key_text.data)
		mutual__wipe(key_text.data, key_text.cap);
	mutual__buf_free(&key_text);
	mutual__buf_free(&join);
	mutual__buf_free(&q.text);
	mutual__free(q.entries);
	mutual__free(q.offsets);
	mutual__free(new_path);
	mutual__free(key_path);
	mutual__free(retired);
	return rc;
}
