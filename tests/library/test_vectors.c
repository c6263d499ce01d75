/*
 * test_vectors.c - check libmutual against the fixed test vectors of event
 * format version 1 (tests/resources/vectors/event-v1.txt).
 *
 * The vectors were made by tools/make_vectors.py, an independent Python
 * implementation (hashlib + PyNaCl), never by libmutual. For every event this
 * builds a mutual_event_rec from the inputs in the file and checks that the
 * library's payload digest, header encoding, hash, signed message, signature
 * and wire form are byte for byte the committed ones, and that decoding the
 * committed wire bytes gives back the same fields and hash. Negative checks:
 * no single-byte change of a wire form goes unnoticed and no truncated wire
 * form decodes.
 *
 * With --envelope, it checks instead the vectors of the outer envelope of
 * medium versions 2 and later (tests/resources/vectors/envelope-newer.txt,
 * made by tools/make_envelope_vectors.py with PyNaCl): that
 * mutual__envelope_check_newer accepts every "expect: accept" vector and
 * refuses every "expect: reject" one with the code it names, that
 * mutual__envelope_version reads each one's version, and that libmutual's
 * AEAD seals each accepted plaintext to the committed bytes. Negative checks
 * on each accepted vector: every single-byte change, every truncation and
 * every small change of the ref name is refused, with the right code.
 *
 * With --key-box, it checks the sealed key box vectors
 * (tests/resources/vectors/key-box-v1.txt, made by tools/make_key_vectors.py
 * with PyNaCl): that mutual__x25519_public derives each device's X25519
 * key, mutual__key_box_open opens every accepted box to its key and
 * mutual__key_commit_check accepts its commitment, that each rejected
 * vector fails one of them with MUTUAL_EVERIFY, and that boxes libmutual
 * seals open with its opener, for their device only.
 *
 * With --invite, it checks the invite vectors
 * (tests/resources/vectors/invite-v2.txt, made by
 * tools/make_invite_vectors.py): mutual__invite_decode gives every accepted
 * text's fields and mutual__invite_encode gives back exactly its text; each
 * rejected one is refused with the error the vector names.
 *
 * Usage: test_vectors VECTOR_FILE, test_vectors --envelope VECTOR_FILE,
 * test_vectors --key-box VECTOR_FILE, or test_vectors --invite VECTOR_FILE.
 * Exits 0 when everything matches, 1 on any mismatch (each one printed,
 * naming the event or vector and the field), 2 when the vector file cannot
 * be read or parsed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "crypto.h"
#include "event.h"
#include "segment.h"
#include "store.h"

#define MAX_KEYS 32
#define MAX_EVENTS 16
#define MAX_FRONTIER 8

/* One block of "key: value" lines: the file header or one event. Keys and
 * values point into the file's buffer, NUL-terminated in place. */
typedef struct {
	const char *key[MAX_KEYS];
	const char *val[MAX_KEYS];
	int line[MAX_KEYS];
	size_t n;
} block;

static const char *vector_path;
static int failures;

/* The vector file cannot be used: say where (line 0: no particular line). */
static void die(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "test_vectors: %s:%d: ", vector_path, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void fail(const char *where, const char *field, const char *what)
{
	fprintf(stderr, "FAIL %s, field '%s': %s\n", where, field, what);
	failures++;
}

/* ------------------------------------------------------------------ parsing */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		fprintf(stderr, "test_vectors: cannot open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *p;
			cap = cap ? 2 * cap : 65536;
			p = realloc(data, cap);
			if (!p) {
				fprintf(stderr, "test_vectors: out of memory\n");
				exit(2);
			}
			data = p;
		}
		size_t got = fread(data + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "test_vectors: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	data[n] = '\0';
	*len = n;
	return data;
}

/* Split the file into the header block and one block per "<block_key>: N"
 * ("event" or "vector"). */
static size_t parse(char *text, size_t len, block *top, block *events, const char *block_key)
{
	size_t nev = 0;
	block *cur = top;
	char *p = text, *end = text + len;
	int lineno = 0;

	if (len == 0 || text[len - 1] != '\n')
		die(0, "the file must end with a newline");
	if (memchr(text, '\0', len))
		die(0, "NUL byte in the file");
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *colon;
		lineno++;
		*nl = '\0';
		if (strchr(p, '\r'))
			die(lineno, "carriage return: line ends must be \\n");
		if (*p == '\0' || *p == '#') {
			p = nl + 1;
			continue;
		}
		colon = strchr(p, ':');
		if (!colon || colon == p || (colon[1] != '\0' && colon[1] != ' '))
			die(lineno, "not a 'key: value' line: %s", p);
		*colon = '\0';
		if (strcmp(p, block_key) == 0) {
			if (nev == MAX_EVENTS)
				die(lineno, "too many %ss", block_key);
			cur = &events[nev++];
		}
		for (size_t i = 0; i < cur->n; i++)
			if (strcmp(cur->key[i], p) == 0)
				die(lineno, "key '%s' repeated in a block", p);
		if (cur->n == MAX_KEYS)
			die(lineno, "too many keys in a block");
		cur->key[cur->n] = p;
		cur->val[cur->n] = colon[1] ? colon + 2 : colon + 1;
		cur->line[cur->n] = lineno;
		cur->n++;
		p = nl + 1;
	}
	return nev;
}

static const char *get(const block *b, const char *key)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->key[i], key) == 0)
			return b->val[i];
	die(b->n ? b->line[0] : 0, "missing key '%s' in the block starting here", key);
	return NULL;
}

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A hex value (lowercase, even length) into a malloc'd buffer. */
static int line_of(const block *b, const char *key)
{
	for (size_t i = 0; i < b->n; i++)
		if (strcmp(b->key[i], key) == 0)
			return b->line[i];
	return 0;
}

static uint8_t *get_hex(const block *b, const char *key, size_t *len)
{
	const char *h = get(b, key);
	size_t n = strlen(h);
	uint8_t *out = malloc(n / 2 + 1);

	if (!out)
		die(0, "out of memory");
	if (n % 2)
		die(line_of(b, key), "odd-length hex in '%s'", key);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexdigit(h[2 * i]), lo = hexdigit(h[2 * i + 1]);
		if (hi < 0 || lo < 0)
			die(line_of(b, key), "bad hex (lowercase only) in '%s'", key);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return out;
}

static void get_hex_fixed(const block *b, const char *key, uint8_t *out, size_t len)
{
	size_t n;
	uint8_t *v = get_hex(b, key, &n);
	if (n != len)
		die(line_of(b, key), "'%s' has the wrong length", key);
	memcpy(out, v, len);
	free(v);
}

static uint64_t parse_u64(const char *s, const char *key, int line)
{
	char *end;
	unsigned long long v;

	if (!(*s >= '0' && *s <= '9'))
		die(line, "'%s' is not a decimal number", key);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		die(line, "'%s' is not a decimal number", key);
	return (uint64_t)v;
}

static uint64_t get_u64(const block *b, const char *key)
{
	const char *v = get(b, key);
	return parse_u64(v, key, line_of(b, key));
}

/* ----------------------------------------------------------------- checking */

static void print_hex(const char *label, const uint8_t *p, size_t n)
{
	fprintf(stderr, "    %s (%zu bytes): ", label, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x", p[i]);
	fputc('\n', stderr);
}

/* Compare what libmutual produced (`got`) with the committed bytes. */
static void check_bytes(const char *where, const char *field, const uint8_t *want, size_t wlen,
	const uint8_t *got, size_t glen)
{
	char what[160];
	size_t i = 0;

	if (wlen == glen && memcmp(want, got, wlen) == 0)
		return;
	while (i < wlen && i < glen && want[i] == got[i])
		i++;
	snprintf(what, sizeof(what),
		"libmutual differs from the vector (libmutual %zu bytes, vector %zu bytes, first difference at byte %zu)",
		glen, wlen, i);
	fail(where, field, what);
	print_hex("vector   ", want, wlen);
	print_hex("libmutual", got, glen);
}

static int cmp_entry(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

typedef struct {
	char name[64];
	uint8_t pk[32];
} peer;

/* Derive peer_*'s key from its seed: "<name>_seed" and "<name>_public_key". */
static void load_peer(const block *top, const char *name, peer *out)
{
	char key[96];
	uint8_t seed[32], sk[MUTUAL_SECRET_SIZE], want[32];

	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(key, sizeof(key), "%s_seed", name);
	get_hex_fixed(top, key, seed, 32);
	snprintf(key, sizeof(key), "%s_public_key", name);
	get_hex_fixed(top, key, want, 32);
	if (mutual__sign_keypair(out->pk, sk, seed) < 0) {
		fail("file header", key, mutual_error_last());
		return;
	}
	check_bytes("file header", key, want, 32, out->pk, 32);
	mutual__wipe(sk, sizeof(sk));
}

/* "peer_a=7 peer_b=3" into sorted frontier entries; returns the count. */
static size_t build_frontier(const block *top, const char *input, uint8_t *out)
{
	char buf[512];
	size_t n = 0;

	if (strlen(input) >= sizeof(buf))
		die(0, "frontier_input too long");
	strcpy(buf, input);
	for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
		char *eq = strchr(tok, '=');
		peer p;
		if (!eq || n == MAX_FRONTIER)
			die(0, "bad frontier_input: %s", input);
		*eq = '\0';
		load_peer(top, tok, &p);
		memcpy(out + n * MUTUAL_FRONTIER_ENTRY, p.pk, 32);
		mutual__set_u64(out + n * MUTUAL_FRONTIER_ENTRY + 32, parse_u64(eq + 1, "frontier_input", 0));
		n++;
	}
	qsort(out, n, MUTUAL_FRONTIER_ENTRY, cmp_entry);
	return n;
}

/* Decode `len` bytes of `wire` from a buffer of exactly that size, so that
 * a sanitizer or valgrind sees any read past the end. */
static int decode_copy(mutual_event_rec *out, const uint8_t *wire, size_t len, size_t *used,
	uint8_t **keep)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	if (!copy)
		die(0, "out of memory");
	if (len)
		memcpy(copy, wire, len);
	rc = mutual__event_decode(out, copy, len, used);
	*keep = copy; /* `out` points into it */
	return rc;
}

/* Every single-byte change of `wire` (each byte XOR 0x01 and XOR 0xff) must
 * make decoding fail or give a different hash or digest. With `sig_aware`,
 * for a signed event, a change is also noticed when the decoded event
 * consumes other bytes, changes its signed flag, or no longer verifies. */
static void check_flips(const char *where, const uint8_t *wire, size_t len, const mutual_event_rec *want,
	const uint8_t pk[32], int sig_aware)
{
	static const uint8_t masks[] = { 0x01, 0xff };
	size_t missed = 0, refused = 0, changed = 0, unverified = 0;

	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < MUTUAL_ARRAY_SIZE(masks); m++) {
			mutual_event_rec got;
			size_t used = 0;
			uint8_t *copy = malloc(len);
			int rc, noticed;

			if (!copy)
				die(0, "out of memory");
			memcpy(copy, wire, len);
			copy[i] ^= masks[m];
			rc = mutual__event_decode(&got, copy, len, &used);
			noticed = rc < 0;
			if (noticed) {
				refused++;
			} else if (memcmp(got.hash, want->hash, 32) != 0 || memcmp(got.digest, want->digest, 32) != 0) {
				noticed = 1;
				changed++;
			} else if (sig_aware) {
				uint8_t msg[MUTUAL_SIG_MSG_SIZE];
				mutual__event_sig_message(msg, got.hash);
				if (used != len || got.has_sig != want->has_sig ||
				    (got.has_sig && mutual__sign_verify(got.sig, msg, sizeof(msg), pk) < 0)) {
					noticed = 1;
					unverified++;
				}
			}
			if (!noticed) {
				char what[160];
				snprintf(what, sizeof(what),
					"changing byte %zu (XOR 0x%02x) decodes to the same event unnoticed", i, masks[m]);
				fail(where, "wire", what);
				missed++;
			}
			free(copy);
		}
	}
	printf("  %s: %zu single-byte changes of the wire form: %zu refused by decode, "
		"%zu change the hash or digest, %zu change the signature part, %zu missed\n",
		where, 2 * len, refused, changed, unverified, missed);
}

/* Every proper prefix of `wire` must be refused by decode. */
static void check_truncations(const char *where, const uint8_t *wire, size_t len)
{
	for (size_t l = 0; l < len; l++) {
		mutual_event_rec got;
		size_t used = 0;
		uint8_t *copy;
		if (decode_copy(&got, wire, l, &used, &copy) == 0) {
			char what[128];
			snprintf(what, sizeof(what), "decode accepts the wire form truncated to %zu of %zu bytes", l, len);
			fail(where, "wire", what);
		}
		free(copy);
	}
}

/* Decoded fields must be the committed ones. */
static void check_decoded(const char *where, const mutual_event_rec *want, const mutual_event_rec *got)
{
	check_bytes(where, "decoded device", want->device, 32, got->device, 32);
	if (got->seq != want->seq)
		fail(where, "decoded seq", "differs from the vector");
	if (got->hlc != want->hlc)
		fail(where, "decoded hlc", "differs from the vector");
	check_bytes(where, "decoded type", (const uint8_t *)want->type, want->type_len,
		(const uint8_t *)got->type, got->type_len);
	check_bytes(where, "decoded payload", (const uint8_t *)want->payload, want->payload_len,
		(const uint8_t *)got->payload, got->payload_len);
	check_bytes(where, "decoded payload_digest", want->digest, 32, got->digest, 32);
	check_bytes(where, "decoded prev", want->prev, 32, got->prev, 32);
	check_bytes(where, "decoded frontier", want->frontier, want->frontier_n * MUTUAL_FRONTIER_ENTRY,
		got->frontier, got->frontier_n * MUTUAL_FRONTIER_ENTRY);
	check_bytes(where, "decoded hash", want->hash, 32, got->hash, 32);
	if (got->has_sig != want->has_sig)
		fail(where, "decoded signed", "differs from the vector");
	else if (want->has_sig)
		check_bytes(where, "decoded signature", want->sig, MUTUAL_SIG_SIZE, got->sig, MUTUAL_SIG_SIZE);
}

/* ------------------------------------------------- envelopes of versions >= 2 */

static const char *code_name(int rc)
{
	switch (rc) {
	case 0:
		return "0";
	case MUTUAL_ERROR:
		return "MUTUAL_ERROR";
	case MUTUAL_EINVALID:
		return "MUTUAL_EINVALID";
	case MUTUAL_EVERIFY:
		return "MUTUAL_EVERIFY";
	case MUTUAL_EVERSION:
		return "MUTUAL_EVERSION";
	default:
		return "another code";
	}
}

/* mutual__envelope_check_newer on a copy of exactly `len` bytes (so a
 * sanitizer or valgrind sees any read past the end); a refusal must say why. */
static int check_newer_copy(const char *where, const uint8_t *env, size_t len, const uint8_t group_id[16],
	const char *ref, const uint8_t key[32], int *version)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	if (!copy)
		die(0, "out of memory");
	if (len)
		memcpy(copy, env, len);
	*version = mutual__envelope_version(copy, len);
	rc = mutual__envelope_check_newer(copy, len, group_id, ref, key);
	if (rc < 0 && !*mutual_error_last())
		fail(where, "envelope", "mutual__envelope_check_newer refuses without a message");
	free(copy);
	return rc;
}

static void expect_code(const char *where, const char *field, const char *change, int want, int got)
{
	char what[256];

	if (got == want)
		return;
	snprintf(what, sizeof(what), "%s: mutual__envelope_check_newer returns %s (%d), expected %s (%d)", change,
		code_name(got), got, code_name(want), want);
	fail(where, field, what);
}

/* Every single-byte change (XOR 0x01 and XOR 0xff) of an accepted envelope
 * is refused: as not an envelope of version >= 2 when it hits the magic or
 * makes the version 0 or 1, as not authentic otherwise. Every truncation is
 * refused: as not an envelope below 33 + 16 bytes, as not authentic above. */
static void check_envelope_changes(const char *where, const uint8_t *env, size_t len, const uint8_t group_id[16],
	const char *ref, const uint8_t key[32])
{
	static const uint8_t masks[] = { 0x01, 0xff };
	uint8_t *copy = malloc(len);
	char change[96], *r;
	size_t rlen = strlen(ref), refs = 0;
	int version;

	if (!copy)
		die(0, "out of memory");
	for (size_t i = 0; i < len; i++) {
		for (size_t m = 0; m < MUTUAL_ARRAY_SIZE(masks); m++) {
			int want = MUTUAL_EVERIFY;
			memcpy(copy, env, len);
			copy[i] ^= masks[m];
			if (i < 4 || (i == 4 && copy[4] <= 1))
				want = MUTUAL_EINVALID;
			snprintf(change, sizeof(change), "byte %zu XOR 0x%02x", i, masks[m]);
			expect_code(where, "envelope", change, want,
				check_newer_copy(where, copy, len, group_id, ref, key, &version));
			if (version != (i < 4 ? MUTUAL_EINVALID : copy[4]))
				fail(where, "version", "mutual__envelope_version misreads a changed envelope");
		}
	}
	for (size_t l = 0; l < len; l++) {
		int want = l < MUTUAL_ENVELOPE_HEADER + MUTUAL_AEAD_TAG ? MUTUAL_EINVALID : MUTUAL_EVERIFY;
		snprintf(change, sizeof(change), "truncated to %zu of %zu bytes", l, len);
		expect_code(where, "envelope", change, want, check_newer_copy(where, env, l, group_id, ref, key, &version));
		if (l < MUTUAL_ENVELOPE_HEADER + MUTUAL_AEAD_TAG && version != MUTUAL_EINVALID)
			fail(where, "version", "mutual__envelope_version reads a version from a truncated envelope");
	}
	free(copy);

	/* The whole ref name is authenticated: not a prefix of it, not more. */
	r = malloc(rlen + 2);
	if (!r)
		die(0, "out of memory");
	for (size_t l = 0; l < rlen; l++) {
		memcpy(r, ref, l);
		r[l] = '\0';
		snprintf(change, sizeof(change), "ref cut to its first %zu characters", l);
		expect_code(where, "ref", change, MUTUAL_EVERIFY, check_newer_copy(where, env, len, group_id, r, key, &version));
		refs++;
	}
	for (size_t i = 0; i < rlen; i++) {
		memcpy(r, ref, rlen + 1);
		r[i] = r[i] == 'a' ? 'b' : 'a';
		snprintf(change, sizeof(change), "ref character %zu changed", i);
		expect_code(where, "ref", change, MUTUAL_EVERIFY, check_newer_copy(where, env, len, group_id, r, key, &version));
		refs++;
	}
	memcpy(r, ref, rlen);
	memcpy(r + rlen, "0", 2);
	expect_code(where, "ref", "ref with a character added", MUTUAL_EVERIFY,
		check_newer_copy(where, env, len, group_id, r, key, &version));
	refs++;
	free(r);
	printf("  %s: refused %zu single-byte changes, %zu truncations and %zu other ref names\n", where, 2 * len, len,
		refs);
}

/* A file of "vector: N" blocks whose top says "format: FORMAT": its
 * blocks in `vecs`, their count returned; `*text` holds them (free it). */
static size_t load_vectors(block *top, block *vecs, const char *format, char **text)
{
	size_t len, n;
	*text = read_all(vector_path, &len);
	n = parse(*text, len, top, vecs, "vector");
	if (strcmp(get(top, "format"), format) != 0)
		die(line_of(top, "format"), "not the vectors this check reads (format: %s)", format);
	return n;
}

/* The exit status once every vector was checked. */
static int vectors_verdict(size_t n, size_t accepted, size_t rejected, const char *what)
{
	if (accepted == 0 || rejected == 0)
		die(0, "the file must have vectors to accept and vectors to reject");
	if (failures) {
		fprintf(stderr, "test_vectors: %d check(s) FAILED against %s\n", failures, vector_path);
		return 1;
	}
	printf("test_vectors: libmutual agrees with all %zu %s vectors of %s (%zu accepted, %zu rejected)\n", n, what,
		vector_path, accepted, rejected);
	return 0;
}

static int check_envelopes(void)
{
	static block top, vecs[MAX_EVENTS];
	size_t accepted = 0, rejected = 0;
	char *text;
	size_t n = load_vectors(&top, vecs, "envelope-newer", &text);

	for (size_t v = 0; v < n; v++) {
		const block *b = &vecs[v];
		const char *expect = get(b, "expect"), *error = get(b, "error"), *ref = get(b, "ref");
		uint8_t key[32], group_id[MUTUAL_GROUP_ID_SIZE], nonce[MUTUAL_AEAD_NONCE], hdr[MUTUAL_ENVELOPE_HEADER];
		uint8_t *want_hdr, *ad, *env, *plain;
		size_t want_hdr_len, ad_len, env_len, plain_len, rlen = strlen(ref);
		uint64_t version, key_id;
		int want, rc, got_version;
		char where[64];
		mutual_buf my_ad = { 0 };

		snprintf(where, sizeof(where), "vector %s", get(b, "vector"));
		if (get_u64(b, "vector") != v + 1)
			die(b->line[0], "vector blocks must be numbered 1, 2, ... (%s)", where);
		if (strcmp(expect, "accept") == 0 && !*error) {
			want = 0;
			accepted++;
		} else if (strcmp(expect, "reject") == 0 && strcmp(error, "MUTUAL_EVERIFY") == 0) {
			want = MUTUAL_EVERIFY;
			rejected++;
		} else if (strcmp(expect, "reject") == 0 && strcmp(error, "MUTUAL_EINVALID") == 0) {
			want = MUTUAL_EINVALID;
			rejected++;
		} else {
			die(line_of(b, "expect"), "%s: expect must be accept (empty error) or reject (error "
				"MUTUAL_EVERIFY or MUTUAL_EINVALID)", where);
		}
		version = get_u64(b, "version");
		key_id = get_u64(b, "key_id");
		if (version > 255 || key_id > UINT32_MAX)
			die(b->line[0], "%s: version or key_id out of range", where);
		for (size_t i = 0; i < rlen; i++)
			if ((unsigned char)ref[i] < 0x21 || (unsigned char)ref[i] > 0x7e)
				die(line_of(b, "ref"), "%s: the ref is not printable ASCII", where);
		get_hex_fixed(b, "group_key", key, sizeof(key));
		get_hex_fixed(b, "group_id", group_id, sizeof(group_id));
		get_hex_fixed(b, "nonce", nonce, sizeof(nonce));
		want_hdr = get_hex(b, "header", &want_hdr_len);
		ad = get_hex(b, "associated_data", &ad_len);
		env = get_hex(b, "envelope", &env_len);
		plain = get_hex(b, "plaintext", &plain_len);

		/* The header and the associated data, built here from the inputs. */
		memcpy(hdr, MUTUAL_ENVELOPE_MAGIC, 4);
		hdr[4] = (uint8_t)version;
		hdr[5] = (uint8_t)(key_id >> 24);
		hdr[6] = (uint8_t)(key_id >> 16);
		hdr[7] = (uint8_t)(key_id >> 8);
		hdr[8] = (uint8_t)key_id;
		memcpy(hdr + 9, nonce, sizeof(nonce));
		check_bytes(where, "header", want_hdr, want_hdr_len, hdr, sizeof(hdr));
		check_bytes(where, "header (the envelope's first 33 bytes)", want_hdr, want_hdr_len, env,
			env_len < sizeof(hdr) ? env_len : sizeof(hdr));
		if (mutual__buf_put(&my_ad, hdr, sizeof(hdr)) < 0 || mutual__buf_put(&my_ad, group_id, sizeof(group_id)) < 0 ||
		    mutual__buf_put(&my_ad, ref, rlen) < 0)
			die(0, "out of memory");
		check_bytes(where, "associated_data", ad, ad_len, my_ad.data, my_ad.len);

		/* libmutual's AEAD seals the plaintext to the committed envelope. */
		if (want == 0) {
			mutual_buf sealed = { 0 };
			if (mutual__buf_put(&sealed, hdr, sizeof(hdr)) < 0 ||
			    mutual__buf_grow(&sealed, plain_len + MUTUAL_AEAD_TAG) < 0)
				die(0, "out of memory");
			mutual__aead_encrypt(sealed.data + sealed.len, plain, plain_len, my_ad.data, my_ad.len, nonce, key);
			sealed.len += plain_len + MUTUAL_AEAD_TAG;
			check_bytes(where, "envelope (sealed by libmutual's AEAD)", env, env_len, sealed.data, sealed.len);
			mutual__buf_free(&sealed);
		}

		/* The checks under test. */
		rc = check_newer_copy(where, env, env_len, group_id, ref, key, &got_version);
		expect_code(where, "envelope", "the committed envelope", want, rc);
		if (got_version < 0 || (uint64_t)got_version != version) {
			char what[128];
			snprintf(what, sizeof(what), "mutual__envelope_version returns %d, the vector says %llu", got_version,
				(unsigned long long)version);
			fail(where, "version", what);
		}
		printf("%s: expect %s%s%s: mutual__envelope_check_newer returns %s, mutual__envelope_version %d\n", where,
			expect, *error ? " " : "", error, code_name(rc), got_version);
		if (want == 0)
			check_envelope_changes(where, env, env_len, group_id, ref, key);

		mutual__buf_free(&my_ad);
		mutual__wipe(key, sizeof(key));
		free(want_hdr);
		free(ad);
		free(env);
		free(plain);
	}
	free(text);
	return vectors_verdict(n, accepted, rejected, "envelope");
}

/* ------------------------------------------------------- sealed key boxes */

static int check_key_boxes(void)
{
	static block top, vecs[MAX_EVENTS];
	size_t accepted = 0, rejected = 0;
	char *text;
	size_t n = load_vectors(&top, vecs, "key-box-v1", &text);

	for (size_t v = 0; v < n; v++) {
		const block *b = &vecs[v];
		const char *expect = get(b, "expect"), *error = get(b, "error");
		uint8_t seed[32], pk[32], sk[MUTUAL_SECRET_SIZE], want_pk[32], want_x[32], x[32], group_id[16];
		uint8_t key[32], got[32], box[MUTUAL_KEY_BOX_SIZE], commit[MUTUAL_KEY_COMMIT_SIZE], mine[MUTUAL_KEY_COMMIT_SIZE];
		uint64_t key_id = get_u64(b, "key_id");
		int want, opened, committed = 0;
		char where[64];

		snprintf(where, sizeof(where), "vector %zu", v + 1);
		if (strcmp(expect, "accept") == 0 && !*error)
			want = 0, accepted++;
		else if (strcmp(expect, "reject") == 0 && strcmp(error, "MUTUAL_EVERIFY") == 0)
			want = MUTUAL_EVERIFY, rejected++;
		else
			die(b->line[0], "%s: expect/error must be accept/(empty) or reject/MUTUAL_EVERIFY", where);
		if (key_id > UINT32_MAX)
			die(line_of(b, "key_id"), "%s: key_id out of range", where);
		get_hex_fixed(b, "device_seed", seed, sizeof(seed));
		get_hex_fixed(b, "device_pk", want_pk, sizeof(want_pk));
		get_hex_fixed(b, "device_x25519_pk", want_x, sizeof(want_x));
		get_hex_fixed(b, "group_id", group_id, sizeof(group_id));
		get_hex_fixed(b, "group_key", key, sizeof(key));
		get_hex_fixed(b, "box", box, sizeof(box));
		get_hex_fixed(b, "commitment", commit, sizeof(commit));

		if (mutual__sign_keypair(pk, sk, seed) < 0 || mutual__x25519_public(x, pk) < 0)
			die(0, "%s: %s", where, mutual_error_last());
		check_bytes(where, "device_pk", want_pk, 32, pk, 32);
		check_bytes(where, "device_x25519_pk", want_x, 32, x, 32);

		opened = mutual__key_box_open(got, box, sk);
		if (opened == 0)
			committed = mutual__key_commit_check(commit, group_id, (uint32_t)key_id, got);
		if (opened != 0 && opened != MUTUAL_EVERIFY)
			fail(where, "box", "mutual__key_box_open returns neither 0 nor MUTUAL_EVERIFY");
		if (want == 0) {
			if (opened != 0)
				fail(where, "box", "mutual__key_box_open refuses a box PyNaCl sealed to this device");
			else
				check_bytes(where, "group_key (the opened box)", key, 32, got, 32);
			if (committed != 0)
				fail(where, "commitment", "mutual__key_commit_check refuses the key's commitment");
			mutual__key_commit(mine, group_id, (uint32_t)key_id, key);
			check_bytes(where, "commitment (mutual__key_commit)", commit, sizeof(commit), mine, sizeof(mine));
		} else if (opened == 0 && committed != MUTUAL_EVERIFY) {
			fail(where, "box", "a rejected vector opens and its commitment matches");
		}
		printf("%s: expect %s%s%s: mutual__key_box_open returns %d, the commitment check %d\n", where, expect,
			*error ? " " : "", error, opened, committed);

		/* libmutual's own box opens for this device, and for no other. */
		if (want == 0) {
			uint8_t other_seed[32], other_pk[32], other_sk[MUTUAL_SECRET_SIZE];
			memset(other_seed, 0x77, sizeof(other_seed));
			if (mutual__key_box_seal(box, key, pk) < 0 || mutual__sign_keypair(other_pk, other_sk, other_seed) < 0)
				die(0, "%s: %s", where, mutual_error_last());
			memset(got, 0, sizeof(got));
			if (mutual__key_box_open(got, box, sk) != 0 || memcmp(got, key, 32) != 0)
				fail(where, "box", "a box mutual__key_box_seal made does not open to its key");
			if (mutual__key_box_open(got, box, other_sk) != MUTUAL_EVERIFY)
				fail(where, "box", "a box mutual__key_box_seal made opens for another device");
			mutual__wipe(other_sk, sizeof(other_sk));
		}
		mutual__wipe(sk, sizeof(sk));
	}
	free(text);
	return vectors_verdict(n, accepted, rejected, "key box");
}

/* ----------------------------------------------------------------- invites */

/* The "keys" field: space-separated ID:HEX. */
static void parse_keys(const block *b, mutual_invite *inv)
{
	const char *p = get(b, "keys");
	inv->n_keys = 0;
	while (*p) {
		char *end;
		unsigned long long id = strtoull(p, &end, 10);
		if (*end != ':' || id > UINT32_MAX || inv->n_keys == MUTUAL_INVITE_KEYS_MAX ||
		    strspn(end + 1, "0123456789abcdef") < 64 ||
		    mutual__unhex(inv->keys[inv->n_keys].key, 32, end + 1, 64) < 0)
			die(line_of(b, "keys"), "keys: each is ID:HEX (64 hex digits)");
		inv->keys[inv->n_keys++].id = (uint32_t)id;
		p = end + 1 + 64;
		if (*p == ' ')
			p++;
	}
}

static int check_invites(void)
{
	static block top, vecs[MAX_EVENTS];
	size_t accepted = 0, rejected = 0;
	char *text;
	size_t n = load_vectors(&top, vecs, "invite-v2", &text);

	for (size_t v = 0; v < n; v++) {
		const block *b = &vecs[v];
		const char *expect = get(b, "expect"), *error = get(b, "error"), *token = get(b, "text");
		mutual_invite want, got;
		char where[64], *encoded = NULL;
		int rc, code;

		snprintf(where, sizeof(where), "vector %zu", v + 1);
		if (strcmp(expect, "accept") == 0 && !*error)
			code = 0, accepted++;
		else if (strcmp(expect, "reject") == 0 && strcmp(error, "MUTUAL_EINVALID") == 0)
			code = MUTUAL_EINVALID, rejected++;
		else if (strcmp(expect, "reject") == 0 && strcmp(error, "MUTUAL_EVERSION") == 0)
			code = MUTUAL_EVERSION, rejected++;
		else
			die(b->line[0], "%s: expect/error must be accept/(empty) or reject/MUTUAL_EINVALID or MUTUAL_EVERSION",
				where);
		rc = mutual__invite_decode(&got, token, strlen(token));
		expect_code(where, "text", "the invite", code, rc);
		printf("%s: expect %s%s%s: mutual__invite_decode returns %s\n", where, expect, *error ? " " : "", error,
			code_name(rc));
		if (code != 0 || rc != 0)
			continue;
		memset(&want, 0, sizeof(want));
		get_hex_fixed(b, "group_id", want.group_id, sizeof(want.group_id));
		get_hex_fixed(b, "inviter", want.inviter, sizeof(want.inviter));
		parse_keys(b, &want);
		snprintf(want.name, sizeof(want.name), "%s", get(b, "name"));
		check_bytes(where, "group_id", want.group_id, 16, got.group_id, 16);
		check_bytes(where, "inviter", want.inviter, 32, got.inviter, 32);
		if (got.n_keys != want.n_keys)
			fail(where, "keys", "a different number of keys");
		for (size_t k = 0; k < want.n_keys && k < got.n_keys; k++)
			if (got.keys[k].id != want.keys[k].id || memcmp(got.keys[k].key, want.keys[k].key, 32) != 0)
				fail(where, "keys", "a key differs (its id, its bytes or its place)");
		if (strcmp(got.name, want.name) != 0)
			fail(where, "name", "the group name differs");
		if (mutual__invite_encode(&encoded, &want) < 0)
			die(0, "%s: %s", where, mutual_error_last());
		if (strcmp(encoded, token) != 0)
			fail(where, "text", "mutual__invite_encode of the fields gives another text");
		mutual__wipe(encoded, strlen(encoded));
		free(encoded);
	}
	free(text);
	return vectors_verdict(n, accepted, rejected, "invite");
}

int main(int argc, char **argv)
{
	static block top, events[MAX_EVENTS];
	uint8_t seed[32], pk[32], want_pk[32], sk[MUTUAL_SECRET_SIZE], prev[32] = { 0 };
	uint8_t *wires[MAX_EVENTS], hashes[MAX_EVENTS][32];
	size_t wire_lens[MAX_EVENTS], nev, text_len;
	mutual_buf all = { 0 };
	char *text;

	if (!(argc == 2 && argv[1][0] != '-') &&
	    !(argc == 3 && (strcmp(argv[1], "--envelope") == 0 || strcmp(argv[1], "--key-box") == 0 ||
			       strcmp(argv[1], "--invite") == 0))) {
		fprintf(stderr, "usage: %s tests/resources/vectors/event-v1.txt\n"
			"       %s --envelope tests/resources/vectors/envelope-newer.txt\n"
			"       %s --key-box tests/resources/vectors/key-box-v1.txt\n"
			"       %s --invite tests/resources/vectors/invite-v2.txt\n", argv[0], argv[0], argv[0], argv[0]);
		return 2;
	}
	vector_path = argv[argc - 1];
	if (mutual__crypto_init() < 0) {
		fprintf(stderr, "test_vectors: %s\n", mutual_error_last());
		return 2;
	}
	if (argc == 3)
		return strcmp(argv[1], "--key-box") == 0  ? check_key_boxes()
		       : strcmp(argv[1], "--invite") == 0 ? check_invites()
							  : check_envelopes();
	text = read_all(vector_path, &text_len);
	nev = parse(text, text_len, &top, events, "event");
	if (nev == 0)
		die(0, "no events in the file");
	if (get_u64(&top, "format") != MUTUAL_EVENT_FORMAT)
		die(0, "the vectors are not of format version 1");

	get_hex_fixed(&top, "seed", seed, 32);
	get_hex_fixed(&top, "public_key", want_pk, 32);
	if (mutual__sign_keypair(pk, sk, seed) < 0) {
		fprintf(stderr, "test_vectors: %s\n", mutual_error_last());
		return 2;
	}
	check_bytes("file header", "public_key", want_pk, 32, pk, 32);

	for (size_t e = 0; e < nev; e++) {
		const block *b = &events[e];
		char where[64];
		mutual_event_rec ev, got;
		mutual_buf header = { 0 }, wire = { 0 };
		uint8_t frontier[MAX_FRONTIER * MUTUAL_FRONTIER_ENTRY], msg[MUTUAL_SIG_MSG_SIZE], h[32];
		uint8_t *v, *keep;
		size_t vlen, used = 0;
		const char *flag = get(b, "signed");

		snprintf(where, sizeof(where), "event %s", get(b, "event"));
		if (get_u64(b, "event") != e + 1 || get_u64(b, "seq") != e + 1)
			die(b->line[0], "event blocks must be numbered 1, 2, ... with seq = N (%s)", where);
		if (strcmp(flag, "0") != 0 && strcmp(flag, "1") != 0)
			die(b->line[0], "'signed' must be 0 or 1 (%s)", where);

		/* The record, from the inputs only. */
		memset(&ev, 0, sizeof(ev));
		memcpy(ev.device, pk, 32);
		ev.seq = get_u64(b, "seq");
		ev.hlc = get_u64(b, "hlc");
		ev.type = get(b, "type");
		ev.type_len = strlen(ev.type);
		if (mutual__event_check_type(ev.type, ev.type_len, 1) < 0)
			fail(where, "type", mutual_error_last());
		ev.payload = get(b, "payload");
		ev.payload_len = strlen(ev.payload);
		memcpy(ev.prev, prev, 32);
		ev.frontier_n = build_frontier(&top, get(b, "frontier_input"), frontier);
		ev.frontier = frontier;
		if (mutual__frontier_check(ev.frontier, ev.frontier_n, ev.device) < 0)
			fail(where, "frontier", mutual_error_last());

		/* Payload digest, prev, frontier. */
		mutual__hash(ev.digest, ev.payload, ev.payload_len);
		v = get_hex(b, "payload_digest", &vlen);
		check_bytes(where, "payload_digest", v, vlen, ev.digest, 32);
		free(v);
		v = get_hex(b, "prev", &vlen);
		check_bytes(where, "prev", v, vlen, ev.prev, 32);
		free(v);
		v = get_hex(b, "frontier", &vlen);
		check_bytes(where, "frontier", v, vlen, ev.frontier, ev.frontier_n * MUTUAL_FRONTIER_ENTRY);
		free(v);

		/* The hashed encoding and the hash. */
		if (mutual__event_encode_header(&header, &ev) < 0)
			die(b->line[0], "mutual__event_encode_header failed (%s)", where);
		v = get_hex(b, "header", &vlen);
		check_bytes(where, "header", v, vlen, header.data, header.len);
		free(v);
		if (mutual__event_compute_hash(&ev) < 0)
			die(b->line[0], "mutual__event_compute_hash failed (%s)", where);
		v = get_hex(b, "hash", &vlen);
		check_bytes(where, "hash", v, vlen, ev.hash, 32);
		mutual__hash(h, header.data, header.len);
		check_bytes(where, "hash (BLAKE2b-256 of header)", v, vlen, h, 32);
		free(v);
		mutual__buf_free(&header);

		/* The signed message and the signature. */
		mutual__event_sig_message(msg, ev.hash);
		ev.has_sig = flag[0] == '1';
		if (ev.has_sig) {
			v = get_hex(b, "sig_message", &vlen);
			check_bytes(where, "sig_message", v, vlen, msg, sizeof(msg));
			free(v);
			mutual__sign(ev.sig, msg, sizeof(msg), sk);
			v = get_hex(b, "signature", &vlen);
			check_bytes(where, "signature", v, vlen, ev.sig, MUTUAL_SIG_SIZE);
			if (vlen == MUTUAL_SIG_SIZE) {
				if (mutual__sign_verify(v, msg, sizeof(msg), pk) < 0)
					fail(where, "signature", "the committed signature does not verify with libmutual");
				msg[sizeof(msg) - 1] ^= 1;
				if (mutual__sign_verify(v, msg, sizeof(msg), pk) == 0)
					fail(where, "signature", "verifies over a changed message");
				msg[sizeof(msg) - 1] ^= 1;
			}
			free(v);
		} else {
			if (*get(b, "sig_message") || *get(b, "signature"))
				fail(where, "signature", "an unsigned event must have empty sig_message and signature");
		}

		/* The wire form, both ways. */
		if (mutual__event_encode(&wire, &ev) < 0)
			die(b->line[0], "mutual__event_encode failed (%s)", where);
		v = get_hex(b, "wire", &vlen);
		check_bytes(where, "wire", v, vlen, wire.data, wire.len);
		mutual__buf_free(&wire);
		if (decode_copy(&got, v, vlen, &used, &keep) < 0) {
			char what[300];
			snprintf(what, sizeof(what), "mutual__event_decode refuses the committed wire form: %s",
				mutual_error_last());
			fail(where, "wire", what);
		} else {
			if (used != vlen)
				fail(where, "wire", "mutual__event_decode did not consume the whole wire form");
			check_decoded(where, &ev, &got);
		}
		free(keep);

		/* Negative checks. Event 2 (unsigned) is the one the format asks
		 * about; signed events are checked with their signature too. */
		check_truncations(where, v, vlen);
		check_flips(where, v, vlen, &ev, pk, ev.has_sig);

		wires[e] = v;
		wire_lens[e] = vlen;
		memcpy(hashes[e], ev.hash, 32);
		memcpy(prev, ev.hash, 32);
	}

	/* The wire forms back to back decode one after the other. */
	for (size_t e = 0; e < nev; e++)
		if (mutual__buf_put(&all, wires[e], wire_lens[e]) < 0)
			die(0, "out of memory");
	{
		size_t off = 0;
		for (size_t e = 0; e < nev; e++) {
			mutual_event_rec got;
			size_t used = 0;
			char where[64];
			snprintf(where, sizeof(where), "event %zu (in a stream)", e + 1);
			if (mutual__event_decode(&got, all.data + off, all.len - off, &used) < 0) {
				fail(where, "wire", mutual_error_last());
				break;
			}
			if (used != wire_lens[e])
				fail(where, "wire", "decode consumed the wrong number of bytes");
			check_bytes(where, "decoded hash", hashes[e], 32, got.hash, 32);
			off += used;
		}
	}
	mutual__buf_free(&all);
	for (size_t e = 0; e < nev; e++)
		free(wires[e]);
	mutual__wipe(sk, sizeof(sk));
	free(text);

	if (failures) {
		fprintf(stderr, "test_vectors: %d check(s) FAILED against %s\n", failures, vector_path);
		return 1;
	}
	printf("test_vectors: libmutual matches all %zu events of %s\n", nev, vector_path);
	return 0;
}
