/*
 * store.c - creating, joining and opening a device's store, and its keys.
 *
 * A store is a folder (mode 0700):
 *   mutual.db   the SQLite database (events, settings, derived tables)
 *   device.key  this device's Ed25519 seed, mode 0600; never leaves the device
 *   group.key   the group's symmetric keys by key id, the current first,
 *               mode 0600 (keyring.c)
 * A new store is built in a sibling temporary folder and renamed into place,
 * so an interrupted create leaves no half store behind.
 *
 * NOTES ON THE DESIGN
 *  1. A handle is used by one thread at a time: SQLite's connection is
 *     opened without its mutex (db.c), and the handle's caches (names,
 *     statements, the app projections) are unlocked. It may move between
 *     threads. Debug builds assert it with an in-use flag, not with the
 *     thread that opened it (MUTUAL_STORE_ENTER, mutual__store_enter).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event.h"
#include "json.h"
#include "names.h"
#include "project.h"
#include "roles.h"
#include "store.h"

#define DEVICE_KEY_HEADER "mutual-device-key 1\n"
#define KEY_FILE_MAX 4096 /* bytes read of device.key, far more than it holds */
#define INVITE_FILE_MAX (64 * 1024) /* bytes (64 KiB) read of an invite file, far more than one holds */

#ifndef NDEBUG
static _Thread_local char this_thread; /* its address names the calling thread */

mutual_store *mutual__store_enter(mutual_store *s)
{
	uintptr_t me = (uintptr_t)&this_thread, inside = 0;
	if (!s)
		return NULL;
	if (!atomic_compare_exchange_strong(&s->user, &inside, me))
		assert(inside == me && "NOTES 1: two threads inside one mutual_store handle at once");
	s->depth++;
	return s;
}

void mutual__store_leave(mutual_store **entered)
{
	mutual_store *s = *entered;
	if (s && --s->depth == 0)
		atomic_store(&s->user, 0);
}
#endif

int mutual_create_options_init(mutual_create_options *opts, unsigned int version)
{
	mutual_create_options init = MUTUAL_CREATE_OPTIONS_INIT;
	if (!opts)
		return mutual__fail(MUTUAL_EINVALID, "no create options given");
	MUTUAL__CHECK_VERSION(version, MUTUAL_CREATE_OPTIONS_VERSION, "create options");
	*opts = init;
	return 0;
}

int mutual__check_name(const char *s, size_t len, const char *what, int rule)
{
	if (len == 0 || len > MUTUAL_NAME_MAX)
		return mutual__fail(MUTUAL_EINVALID, "%s must be 1 to %d bytes long", what, MUTUAL_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (rule == MUTUAL_NAME_NEW && s[i] == 0x7f))
			return mutual__fail(MUTUAL_EINVALID, "%s must not hold control characters", what);
	if (rule == MUTUAL_NAME_NEW && !mutual__json_utf8_valid(s, len))
		return mutual__fail(MUTUAL_EINVALID, "%s is not valid UTF-8 text", what);
	return 0;
}

static int file_mode_private(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return mutual__fail(MUTUAL_ENOTFOUND, "%s is missing: this store cannot write", path);
		return mutual__fail(MUTUAL_ERROR, "cannot read %s: %s", path, strerror(errno));
	}
	if (st.st_mode & 077)
		return mutual__fail(MUTUAL_ERROR,
			"%s is readable by other users (mode %03o); run: chmod 600 %s",
			path, (unsigned)(st.st_mode & 0777), path);
	return 0;
}

int mutual__store_read_key_file(mutual_buf *out, const char **rest, const char *path, const char *header, size_t max)
{
	int rc;
	size_t h = strlen(header);

	if ((rc = file_mode_private(path)) < 0)
		return rc;
	if ((rc = mutual__read_file(out, path, max)) < 0)
		return rc;
	if (out->len < h || memcmp(out->data, header, h) != 0)
		return mutual__fail(MUTUAL_ECORRUPT, "%s is not a libmutual key file", path);
	*rest = (const char *)out->data + h;
	return 0;
}

/* A recover committed but did not swap its key files (a crash): the new
 * key is in device.key.new and the store already names it. Finish. */
static int finish_recover(mutual_store *s, const char *key_path)
{
	mutual_buf b = { 0 }, retired = { 0 };
	const char *rest;
	uint8_t seed[MUTUAL_SEED_SIZE], pk[MUTUAL_KEY_SIZE], sk[MUTUAL_SECRET_SIZE];
	char *new_path = mutual__path_join(s->dir, MUTUAL_DEVICE_KEY_FILE ".new");
	int rc;

	if (!new_path)
		return MUTUAL_ERROR;
	rc = mutual__store_read_key_file(&b, &rest, new_path, DEVICE_KEY_HEADER, KEY_FILE_MAX);
	if (rc == 0 && (strlen(rest) < MUTUAL_SEED_HEX_LEN || mutual__unhex(seed, MUTUAL_SEED_SIZE, rest, MUTUAL_SEED_HEX_LEN) < 0))
		rc = MUTUAL_ECORRUPT;
	if (rc == 0)
		rc = mutual__sign_keypair(pk, sk, seed);
	if (rc == 0 && memcmp(pk, s->self, MUTUAL_KEY_SIZE) == 0) {
		rc = mutual__buf_printf(&retired, "%s.retired-interrupted", key_path);
		if (rc == 0 && (rename(key_path, (const char *)retired.data) < 0 || rename(new_path, key_path) < 0 ||
				mutual__fsync_dir(s->dir) < 0))
			rc = mutual__fail(MUTUAL_ERROR, "cannot finish an interrupted recover: %s", strerror(errno));
	} else {
		rc = mutual__fail(MUTUAL_ECORRUPT, "%s does not belong to this store's device", key_path);
	}
	mutual__wipe(seed, sizeof(seed));
	mutual__wipe(sk, sizeof(sk));
	if (b.data)
		mutual__wipe(b.data, b.cap);
	mutual__buf_free(&b);
	mutual__buf_free(&retired);
	mutual__free(new_path);
	return rc;
}

int mutual__store_load_secret(mutual_store *s)
{
	mutual_buf b = { 0 };
	const char *rest;
	uint8_t seed[MUTUAL_SEED_SIZE], pk[MUTUAL_KEY_SIZE];
	char *path;
	int rc;

	if (s->have_secret)
		return 0;
	/* Both secrets must be private before this device writes anything. */
	if (!(path = mutual__path_join(s->dir, MUTUAL_GROUP_KEY_FILE)))
		return MUTUAL_ERROR;
	rc = file_mode_private(path);
	mutual__free(path);
	if (rc < 0)
		return rc;
	if (!(path = mutual__path_join(s->dir, MUTUAL_DEVICE_KEY_FILE)))
		return MUTUAL_ERROR;
	rc = mutual__store_read_key_file(&b, &rest, path, DEVICE_KEY_HEADER, KEY_FILE_MAX);
	if (rc == 0 && (strlen(rest) < MUTUAL_SEED_HEX_LEN || mutual__unhex(seed, MUTUAL_SEED_SIZE, rest, MUTUAL_SEED_HEX_LEN) < 0))
		rc = mutual__fail(MUTUAL_ECORRUPT, "%s is damaged", path);
	if (rc == 0)
		rc = mutual__sign_keypair(pk, s->secret, seed);
	if (rc == 0 && memcmp(pk, s->self, MUTUAL_KEY_SIZE) != 0) {
		rc = finish_recover(s, path);
		if (rc == 0) {
			mutual__wipe(seed, sizeof(seed));
			if (b.data)
				mutual__wipe(b.data, b.cap);
			mutual__buf_free(&b);
			mutual__free(path);
			return mutual__store_load_secret(s);
		}
	}
	if (rc == 0)
		s->have_secret = 1;
	else
		mutual__wipe(s->secret, sizeof(s->secret));
	mutual__wipe(seed, sizeof(seed));
	if (b.data)
		mutual__wipe(b.data, b.cap);
	mutual__buf_free(&b);
	mutual__free(path);
	return rc;
}

void mutual_store_free(mutual_store *s)
{
	if (!s)
		return;
	mutual__apps_free(s);
	mutual__names_free(s->names);
	mutual__db_close(s->db);
	mutual__wipe(s->secret, sizeof(s->secret));
	mutual__wipe(s->group_key, sizeof(s->group_key));
	mutual__keyring_free(s->keys, MUTUAL_GROUP_KEYS_MAX);
	mutual__free(s->dir);
	mutual__free(s->group_name);
	mutual__free(s->device_name);
	mutual__free(s);
}

int mutual_store_is_readonly(const mutual_store *s)
{
	return s->readonly;
}

const char *mutual_store_group_id(const mutual_store *s)
{
	return s->group_id;
}

const char *mutual_store_group_name(const mutual_store *s)
{
	return s->group_name;
}

const char *mutual_store_device_id(const mutual_store *s)
{
	return s->device_id;
}

const char *mutual_store_device_name(const mutual_store *s)
{
	return s->device_name;
}

/* A schema upgrade that changed how projections are derived leaves
 * meta 'rebuild' in the same transaction; the rebuild clears it in its
 * own, so a crash in between only means rebuilding again. */
static int finish_upgrade(mutual_store *s)
{
	mutual_buf b = { 0 };
	int rc = mutual__db_meta_get(s->db, "rebuild", &b);
	mutual__buf_free(&b);
	if (rc == MUTUAL_ENOTFOUND) {
		mutual__error_clear();
		return 0;
	}
	if (rc < 0 || (rc = mutual__db_begin_write(s->db)) < 0)
		return rc;
	if ((rc = mutual__project_rebuild_locked(s)) < 0 || (rc = mutual__db_meta_delete(s->db, "rebuild")) < 0) {
		mutual__db_rollback(s->db);
		return rc;
	}
	return mutual__db_commit(s->db);
}

static int load_meta(mutual_store *s)
{
	mutual_buf b = { 0 };
	int rc;

	if ((rc = mutual__db_meta_get(s->db, "group_id", &b)) < 0)
		goto done;
	if (b.len != MUTUAL_GROUP_ID_SIZE) {
		rc = mutual__fail(MUTUAL_ECORRUPT, "the store's group id is damaged");
		goto done;
	}
	memcpy(s->group_id_raw, b.data, MUTUAL_GROUP_ID_SIZE);
	mutual__hex(s->group_id, s->group_id_raw, MUTUAL_GROUP_ID_SIZE);
	if ((rc = mutual__db_meta_get(s->db, "group_name", &b)) < 0)
		goto done;
	if (!(s->group_name = mutual__strdup((const char *)b.data))) {
		rc = MUTUAL_ERROR;
		goto done;
	}
	if ((rc = mutual__db_meta_get(s->db, "device", &b)) < 0)
		goto done;
	if (b.len != MUTUAL_KEY_SIZE) {
		rc = mutual__fail(MUTUAL_ECORRUPT, "the store's device key is damaged");
		goto done;
	}
	memcpy(s->self, b.data, MUTUAL_KEY_SIZE);
	mutual__hex(s->device_id, s->self, MUTUAL_KEY_SIZE);
	if ((rc = mutual__db_device_name(s->db, s->self, &b)) < 0)
		goto done;
	if (!(s->device_name = mutual__strdup((const char *)b.data)))
		rc = MUTUAL_ERROR;
done:
	if (rc == MUTUAL_ENOTFOUND)
		rc = mutual__fail(MUTUAL_ECORRUPT, "the store's settings are incomplete: %s", mutual_error_last());
	mutual__buf_free(&b);
	return rc;
}

static int open_at(mutual_store **out, const char *dir, unsigned int flags)
{
	mutual_store *s;
	char *db_path = NULL;
	struct stat st;
	int rc;

	*out = NULL;
	if ((rc = mutual__crypto_init()) < 0)
		return rc;
	if (!dir || !*dir)
		return mutual__fail(MUTUAL_EINVALID, "no store folder given");
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return mutual__fail(MUTUAL_ENOTFOUND, "there is no store at %s (run mutual init or join first)", dir);
	if (!(s = mutual__calloc(1, sizeof(*s))))
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	if (!(s->dir = mutual__strdup(dir)) || !(db_path = mutual__path_join(dir, MUTUAL_DB_FILE))) {
		rc = MUTUAL_ERROR;
		goto fail;
	}
	rc = mutual__db_open(&s->db, db_path, (flags & MUTUAL_OPEN_READONLY) ? MUTUAL_DB_READONLY : 0);
	if (rc == MUTUAL_ENOTFOUND)
		rc = mutual__fail(MUTUAL_ENOTFOUND, "there is no store at %s (run mutual init or join first)", dir);
	if (rc < 0 || (rc = load_meta(s)) < 0)
		goto fail;
	s->readonly = mutual__db_is_readonly(s->db);
	if (!s->readonly && (rc = finish_upgrade(s)) < 0)
		goto fail;
	mutual__free(db_path);
	*out = s;
	return 0;
fail:
	mutual__free(db_path);
	mutual_store_free(s);
	return rc;
}

int mutual_store_open(mutual_store **out, const char *dir, unsigned int flags)
{
	if (!out)
		return mutual__fail(MUTUAL_EINVALID, "no place for the store handle");
	mutual__error_clear();
	return open_at(out, dir, flags);
}

/* An existing folder may receive a store only when it is empty. */
static int check_target(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return mutual__fail(MUTUAL_ERROR, "cannot use %s: %s", dir, strerror(errno));
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			closedir(d);
			return mutual__fail(MUTUAL_EEXISTS,
				"%s is not empty; a store is made only in a new or empty folder", dir);
		}
	}
	closedir(d);
	return 0;
}

/* Through the folder's descriptor, so that a create that failed for want
 * of memory can still take its half-made store (and its key files) away. */
static void remove_tree_shallow(const char *dir)
{
	static const char *const files[] = { MUTUAL_DB_FILE, MUTUAL_DB_FILE "-wal", MUTUAL_DB_FILE "-shm",
		MUTUAL_DEVICE_KEY_FILE, MUTUAL_GROUP_KEY_FILE };
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	for (size_t i = 0; i < MUTUAL_ARRAY_SIZE(files); i++)
		unlinkat(fd, files[i], 0);
	close(fd);
	rmdir(dir);
}

/* Build a store for `inv`'s group in `dir`, announcing this device with
 * an event of `first_type` whose payload is made by the caller. */
static int make_store(mutual_store **out, const char *dir, mutual_invite *inv,
	const char *device_name, int founder)
{
	char tmp[4096], host[256];
	uint8_t seed[MUTUAL_SEED_SIZE], pk[MUTUAL_KEY_SIZE], sk[MUTUAL_SECRET_SIZE], salt[MUTUAL_GROUP_SALT_SIZE];
	mutual_buf text = { 0 }, payload = { 0 };
	mutual_db *db = NULL;
	mutual_store *s = NULL;
	char *path = NULL;
	mutual_append_entry first;
	int rc;

	*out = NULL;
	if ((rc = mutual__crypto_init()) < 0)
		return rc;
	if (!dir || !*dir)
		return mutual__fail(MUTUAL_EINVALID, "no store folder given");
	if (!device_name) {
		if (gethostname(host, sizeof(host)) < 0 || !host[0])
			strcpy(host, "device");
		host[sizeof(host) - 1] = '\0';
		device_name = host;
	}
	if ((rc = mutual__check_name(device_name, strlen(device_name), "the device name", MUTUAL_NAME_NEW)) < 0)
		return rc;
	if ((rc = check_target(dir)) < 0)
		return rc;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.creating-%ld", dir, (long)getpid()) >= sizeof(tmp))
		return mutual__fail(MUTUAL_EINVALID, "the store path is too long");
	remove_tree_shallow(tmp); /* a leftover of an interrupted create by a reused pid */
	if ((rc = mutual__mkdir_private(tmp)) < 0) {
		if (rc == MUTUAL_EEXISTS)
			rc = mutual__fail(MUTUAL_ERROR, "cannot prepare %s", tmp);
		return rc;
	}

	/* Keys first: the secret never exists outside a 0600 file. */
	mutual__random(seed, sizeof(seed));
	if ((rc = mutual__sign_keypair(pk, sk, seed)) < 0)
		goto fail;
	/* A founder's key and a salt give the group id, so its creation
	 * proves it founded the group (roles.c NOTES 1). */
	if (founder) {
		mutual__random(salt, sizeof(salt));
		mutual__group_id_bind(inv->group_id, pk, salt);
	}
	rc = mutual__buf_printf(&text, DEVICE_KEY_HEADER);
	if (rc == 0) {
		char hex[MUTUAL_SEED_HEX_SIZE];
		mutual__hex(hex, seed, MUTUAL_SEED_SIZE);
		rc = mutual__buf_printf(&text, "%s\n", hex);
		mutual__wipe(hex, sizeof(hex));
	}
	if (rc < 0 || !(path = mutual__path_join(tmp, MUTUAL_DEVICE_KEY_FILE)) ||
	    (rc = mutual__write_secret_file(path, text.data, text.len)) < 0)
		goto fail_rc;
	mutual__free(path);
	mutual__wipe(text.data, text.cap);
	text.len = 0;
	rc = mutual__buf_printf(&text, MUTUAL_GROUP_KEY_HEADER);
	for (size_t k = 0; rc == 0 && k < inv->n_keys; k++) {
		char hex[MUTUAL_GROUP_KEY_HEX_SIZE];
		mutual__hex(hex, inv->keys[k].key, MUTUAL_GROUP_KEY_SIZE);
		rc = mutual__buf_printf(&text, "%u %s\n", inv->keys[k].id, hex);
		mutual__wipe(hex, sizeof(hex));
	}
	if (rc < 0 || !(path = mutual__path_join(tmp, MUTUAL_GROUP_KEY_FILE)) ||
	    (rc = mutual__write_secret_file(path, text.data, text.len)) < 0)
		goto fail_rc;
	mutual__free(path);

	/* The database, with the group's settings. */
	if (!(path = mutual__path_join(tmp, MUTUAL_DB_FILE)))
		goto fail_rc;
	if ((rc = mutual__db_open(&db, path, MUTUAL_DB_CREATE)) < 0)
		goto fail;
	if (chmod(path, 0600) < 0) {
		rc = mutual__fail(MUTUAL_ERROR, "cannot make %s private: %s", path, strerror(errno));
		goto fail;
	}
	if ((rc = mutual__db_begin_write(db)) < 0 ||
	    (rc = mutual__db_meta_set(db, "group_id", inv->group_id, MUTUAL_GROUP_ID_SIZE)) < 0 ||
	    (rc = mutual__db_meta_set(db, "group_name", inv->name, strlen(inv->name))) < 0 ||
	    (rc = mutual__db_meta_set(db, "device", pk, MUTUAL_KEY_SIZE)) < 0 ||
	    (rc = mutual__db_device_set_name(db, pk, device_name)) < 0 ||
	    (rc = mutual__db_commit(db)) < 0)
		goto fail;
	mutual__db_close(db);
	db = NULL;

	/* Into place, then announce this device in its own log. */
	if (rename(tmp, dir) < 0) {
		rc = mutual__fail(errno == ENOTEMPTY || errno == EEXIST ? MUTUAL_EEXISTS : MUTUAL_ERROR,
			"cannot create the store at %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((rc = mutual__fsync_dir(dir)) < 0 || (rc = open_at(&s, dir, 0)) < 0)
		goto fail_placed;
	rc = mutual__buf_put_u8(&payload, '{');
	if (founder) {
		char hex[2 * MUTUAL_GROUP_SALT_SIZE + 1];
		mutual__hex(hex, salt, sizeof(salt));
		rc = rc ? rc : mutual__json_put_string(&payload, "group");
		rc = rc ? rc : mutual__buf_put_u8(&payload, ':');
		rc = rc ? rc : mutual__json_put_string(&payload, inv->name);
		rc = rc ? rc : mutual__buf_printf(&payload, ",\"salt\":\"%s\",", hex);
	} else {
		char hex[MUTUAL_KEY_HEX_SIZE];
		mutual__hex(hex, inv->inviter, MUTUAL_KEY_SIZE);
		rc = rc ? rc : mutual__json_put_string(&payload, "invited_by");
		rc = rc ? rc : mutual__buf_printf(&payload, ":\"%s\",", hex);
	}
	rc = rc ? rc : mutual__json_put_string(&payload, "name");
	rc = rc ? rc : mutual__buf_put_u8(&payload, ':');
	rc = rc ? rc : mutual__json_put_string(&payload, device_name);
	rc = rc ? rc : mutual__buf_put_u8(&payload, '}');
	rc = rc ? rc : mutual__buf_cstr(&payload);
	if (rc < 0)
		goto fail_placed;
	first.type = founder ? "mutual.group.create" : "mutual.device.join";
	first.payload = (const char *)payload.data;
	if ((rc = mutual__append(NULL, s, &first, 1, 1)) < 0)
		goto fail_placed;
	*out = s;
	rc = 0;
	goto done;

fail_rc:
	if (rc == 0)
		rc = MUTUAL_ERROR;
fail:
	mutual__db_close(db);
	remove_tree_shallow(tmp);
	goto done;
fail_placed:
	mutual_store_free(s);
	remove_tree_shallow(dir);
done:
	mutual__wipe(seed, sizeof(seed));
	mutual__wipe(sk, sizeof(sk));
	if (text.data)
		mutual__wipe(text.data, text.cap);
	mutual__buf_free(&text);
	mutual__buf_free(&payload);
	mutual__free(path);
	return rc;
}

int mutual_store_create(mutual_store **out, const char *dir, const char *group_name,
	const mutual_create_options *opts)
{
	mutual_invite inv;
	int rc;

	if (!out)
		return mutual__fail(MUTUAL_EINVALID, "no place for the store handle");
	*out = NULL;
	mutual__error_clear();
	if (opts)
		MUTUAL__CHECK_VERSION(opts->version, MUTUAL_CREATE_OPTIONS_VERSION, "create options");
	if ((rc = mutual__check_name(group_name, group_name ? strlen(group_name) : 0, "the group name", MUTUAL_NAME_NEW)) < 0)
		return rc;
	if ((rc = mutual__crypto_init()) < 0)
		return rc;
	memset(&inv, 0, sizeof(inv)); /* the group id comes from the founder's key (make_store) */
	mutual__random(inv.keys[0].key, sizeof(inv.keys[0].key));
	inv.keys[0].id = 1;
	inv.n_keys = 1;
	strcpy(inv.name, group_name);
	rc = make_store(out, dir, &inv, opts ? opts->device_name : NULL, 1);
	mutual__wipe(&inv, sizeof(inv));
	return rc;
}

int mutual_store_join_text(mutual_store **out, const char *dir, const char *invite_text,
	const mutual_create_options *opts)
{
	mutual_invite inv;
	int rc;

	if (!out)
		return mutual__fail(MUTUAL_EINVALID, "no place for the store handle");
	*out = NULL;
	mutual__error_clear();
	if (opts)
		MUTUAL__CHECK_VERSION(opts->version, MUTUAL_CREATE_OPTIONS_VERSION, "create options");
	if (!invite_text)
		return mutual__fail(MUTUAL_EINVALID, "no invite given");
	if ((rc = mutual__invite_decode(&inv, invite_text, strlen(invite_text))) < 0)
		return rc;
	rc = make_store(out, dir, &inv, opts ? opts->device_name : NULL, 0);
	mutual__wipe(&inv, sizeof(inv));
	return rc;
}

int mutual_store_join(mutual_store **out, const char *dir, const char *invite_path,
	const mutual_create_options *opts)
{
	mutual_buf b = { 0 };
	int rc;

	if (!out)
		return mutual__fail(MUTUAL_EINVALID, "no place for the store handle");
	*out = NULL;
	mutual__error_clear();
	if (!invite_path)
		return mutual__fail(MUTUAL_EINVALID, "no invite file given");
	rc = mutual__read_file(&b, invite_path, INVITE_FILE_MAX);
	if (rc == MUTUAL_ENOTFOUND)
		rc = mutual__fail(MUTUAL_ENOTFOUND, "the invite file %s does not exist", invite_path);
	if (rc == 0)
		rc = mutual_store_join_text(out, dir, (const char *)b.data, opts);
	if (b.data)
		mutual__wipe(b.data, b.cap);
	mutual__buf_free(&b);
	return rc;
}

static int store_invite(mutual_invite *inv, mutual_store *s)
{
	int rc = mutual__store_load_group_key(s);
	if (rc < 0)
		return rc;
	memset(inv, 0, sizeof(*inv));
	memcpy(inv->group_id, s->group_id_raw, MUTUAL_GROUP_ID_SIZE);
	/* Every key held, the current first (up to MUTUAL_INVITE_KEYS_MAX):
	 * so the new device reads what was sealed before it joined. */
	inv->n_keys = s->n_keys < MUTUAL_INVITE_KEYS_MAX ? s->n_keys : MUTUAL_INVITE_KEYS_MAX;
	memcpy(inv->keys, s->keys, inv->n_keys * sizeof(inv->keys[0]));
	memcpy(inv->inviter, s->self, MUTUAL_KEY_SIZE);
	snprintf(inv->name, sizeof(inv->name), "%s", s->group_name);
	return 0;
}

int mutual_invite_text(char **out, mutual_store *s)
{
	MUTUAL_STORE_ENTER(s);
	mutual_invite inv;
	int rc;

	if (!out || !s)
		return mutual__fail(MUTUAL_EINVALID, "no store or output given");
	*out = NULL;
	mutual__error_clear();
	if ((rc = store_invite(&inv, s)) == 0)
		rc = mutual__invite_encode(out, &inv);
	mutual__wipe(&inv, sizeof(inv));
	return rc;
}

int mutual_invite_write(mutual_store *s, const char *path)
{
	MUTUAL_STORE_ENTER(s);
	mutual_buf b = { 0 };
	char *token = NULL;
	int rc;

	if (!s || !path)
		return mutual__fail(MUTUAL_EINVALID, "no store or invite path given");
	if ((rc = mutual_invite_text(&token, s)) < 0)
		return rc;
	rc = mutual__buf_printf(&b,
		"# libmutual invite to the group \"%s\".\n"
		"# SECRET: whoever holds this can read and write the group's data.\n"
		"# Carry it apart from the stick that carries the data, and delete it\n"
		"# once the new device has joined (mutual join FILE).\n"
		"%s\n", s->group_name, token);
	if (rc == 0)
		rc = mutual__write_secret_file(path, b.data, b.len);
	mutual__wipe(token, strlen(token));
	mutual__free(token);
	if (b.data)
		mutual__wipe(b.data, b.cap);
	mutual__buf_free(&b);
	return rc;
}
