/*
 * segment.c - segments: their plaintext layout, zlib compression and the
 * encrypted envelope. The only file that includes zlib.h.
 *
 * The envelope's associated data binds it to its group and device, so an
 * envelope copied under another device's ref, or into another group's
 * repository, does not even decrypt.
 */
#include "fault.h"
#include "segment.h"

#include <string.h>
#include <zlib.h>

#ifdef MUTUAL_TEST_HOOKS
/* alloc-sed: off (zlib's blocks, from libc, counted by fault.h) */
/* Test builds only: zlib allocates through the fault counter (fault.h),
 * through each z_stream's zalloc and zfree. */
static voidpf zlib_fault_alloc(voidpf opaque, uInt items, uInt size)
{
	void *p;
	(void)opaque;
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_ZLIB, NULL, 0) || !(p = calloc(items, size)))
		return Z_NULL;
	mutual__fault_alloc_live(MUTUAL_ALLOC_ZLIB, 1);
	return p;
}

static void zlib_fault_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	if (p)
		mutual__fault_alloc_live(MUTUAL_ALLOC_ZLIB, -1);
	free(p);
}
/* alloc-sed: on */
#define ZLIB_ALLOCATOR(zs) ((zs)->zalloc = zlib_fault_alloc, (zs)->zfree = zlib_fault_free)
#else
#define ZLIB_ALLOCATOR(zs) ((void)0) /* zlib's own */
#endif

int mutual__segment_begin(mutual_buf *out, const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	const uint8_t device[MUTUAL_KEY_SIZE], uint64_t first_seq)
{
	out->len = 0;
	if (mutual__buf_put(out, MUTUAL_SEGMENT_MAGIC, 18) < 0 ||
	    mutual__buf_put(out, group_id, MUTUAL_GROUP_ID_SIZE) < 0 || mutual__buf_put(out, device, MUTUAL_KEY_SIZE) < 0 ||
	    mutual__buf_put_u64(out, first_seq) < 0 || mutual__buf_put_u32(out, 0) < 0)
		return MUTUAL_ERROR;
	return 0;
}

void mutual__segment_finish(mutual_buf *plain, uint32_t count)
{
	uint8_t *p = plain->data + 18 + MUTUAL_GROUP_ID_SIZE + MUTUAL_KEY_SIZE + 8;
	p[0] = (uint8_t)(count >> 24);
	p[1] = (uint8_t)(count >> 16);
	p[2] = (uint8_t)(count >> 8);
	p[3] = (uint8_t)count;
}

/* compress2() at level 6, through a z_stream of our own so that a test
 * build's zlib allocations are counted: the same bytes as compress2 for
 * inputs under 4 GiB (one deflate with Z_FINISH, as compress2 makes). */
static int deflate_all(uint8_t *out, uLongf *outlen, const uint8_t *in, size_t len)
{
	z_stream zs;
	int zrc;

	memset(&zs, 0, sizeof(zs));
	ZLIB_ALLOCATOR(&zs);
	if ((zrc = deflateInit(&zs, 6)) != Z_OK)
		return zrc;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)*outlen;
	zrc = deflate(&zs, Z_FINISH);
	*outlen = zs.total_out;
	deflateEnd(&zs);
	return zrc == Z_STREAM_END ? Z_OK : zrc == Z_OK ? Z_BUF_ERROR : zrc;
}

static void envelope_ad(uint8_t *ad, const uint8_t *header, const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	const uint8_t device[MUTUAL_KEY_SIZE])
{
	memcpy(ad, header, MUTUAL_ENVELOPE_HEADER);
	memcpy(ad + MUTUAL_ENVELOPE_HEADER, group_id, MUTUAL_GROUP_ID_SIZE);
	memcpy(ad + MUTUAL_ENVELOPE_HEADER + MUTUAL_GROUP_ID_SIZE, device, MUTUAL_KEY_SIZE);
}

int mutual__segment_seal(mutual_buf *out, const mutual_buf *plain, const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	const uint8_t device[MUTUAL_KEY_SIZE], uint32_t key_id, const uint8_t key[MUTUAL_GROUP_KEY_SIZE])
{
	uint8_t header[MUTUAL_ENVELOPE_HEADER], ad[MUTUAL_ENVELOPE_HEADER + MUTUAL_GROUP_ID_SIZE + MUTUAL_KEY_SIZE];
	mutual_buf z = { 0 };
	uLongf zlen;
	int rc = MUTUAL_ERROR, zrc;

	memcpy(header, MUTUAL_ENVELOPE_MAGIC, 4);
	header[4] = MUTUAL_ENVELOPE_VERSION;
	header[5] = (uint8_t)(key_id >> 24);
	header[6] = (uint8_t)(key_id >> 16);
	header[7] = (uint8_t)(key_id >> 8);
	header[8] = (uint8_t)key_id;
	mutual__random(header + 9, MUTUAL_AEAD_NONCE);
	envelope_ad(ad, header, group_id, device);

	zlen = compressBound((uLong)plain->len);
	if (mutual__buf_grow(&z, zlen) < 0)
		goto done;
	if ((zrc = deflate_all(z.data, &zlen, plain->data, plain->len)) != Z_OK) {
		mutual__fail(MUTUAL_ERROR, zrc == Z_MEM_ERROR ? "out of memory compressing a segment" : "cannot compress a segment");
		goto done;
	}
	out->len = 0;
	if (mutual__buf_put(out, header, sizeof(header)) < 0 || mutual__buf_grow(out, zlen + MUTUAL_AEAD_TAG) < 0)
		goto done;
	mutual__aead_encrypt(out->data + out->len, z.data, zlen, ad, sizeof(ad), header + 9, key);
	out->len += zlen + MUTUAL_AEAD_TAG;
	rc = 0;
done:
	mutual__buf_free(&z);
	return rc;
}

int mutual__segment_key_id(uint32_t *out, const uint8_t *env, size_t len)
{
	if (len < MUTUAL_ENVELOPE_HEADER + MUTUAL_AEAD_TAG || memcmp(env, MUTUAL_ENVELOPE_MAGIC, 4) != 0 || env[4] == 0)
		return mutual__fail(MUTUAL_EINVALID, "not a libmutual segment (damaged or foreign object)");
	if (env[4] != MUTUAL_ENVELOPE_VERSION)
		return mutual__fail(MUTUAL_EVERSION, "segment of a newer format (%u): upgrade libmutual", env[4]);
	*out = mutual__get_u32(env + 5);
	return 0;
}

/* Inflate with a hard cap, so a small hostile envelope cannot make us
 * allocate without bound (a zip bomb). */
static int inflate_bounded(mutual_buf *out, const uint8_t *in, size_t len)
{
	z_stream zs;
	int zrc;

	memset(&zs, 0, sizeof(zs));
	ZLIB_ALLOCATOR(&zs);
	if ((zrc = inflateInit(&zs)) != Z_OK)
		return mutual__fail(MUTUAL_ERROR, zrc == Z_MEM_ERROR ? "out of memory decompressing a segment"
								: "cannot start decompressing");
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	out->len = 0;
	do {
		size_t chunk = len * 4 < 65536 ? 65536 : len * 4;
		if (out->len + chunk > MUTUAL_SEGMENT_PLAIN_MAX)
			chunk = MUTUAL_SEGMENT_PLAIN_MAX - out->len + 1;
		if (mutual__buf_grow(out, chunk) < 0) {
			inflateEnd(&zs);
			return MUTUAL_ERROR;
		}
		zs.next_out = out->data + out->len;
		zs.avail_out = (uInt)chunk;
		zrc = inflate(&zs, Z_NO_FLUSH);
		out->len += chunk - zs.avail_out;
		if (out->len > MUTUAL_SEGMENT_PLAIN_MAX) {
			inflateEnd(&zs);
			return mutual__fail(MUTUAL_EINVALID, "segment larger than %u bytes", MUTUAL_SEGMENT_PLAIN_MAX);
		}
	} while (zrc == Z_OK);
	inflateEnd(&zs);
	/* Out of memory says nothing of the segment: not MUTUAL_EINVALID,
	 * which refuses the log (and may repair its ref, sync.c NOTES 7). */
	if (zrc == Z_MEM_ERROR)
		return mutual__fail(MUTUAL_ERROR, "out of memory decompressing a segment");
	if (zrc != Z_STREAM_END || zs.avail_in != 0)
		return mutual__fail(MUTUAL_EINVALID, "segment does not decompress");
	return 0;
}

int mutual__segment_open(mutual_buf *plain, const uint8_t *env, size_t len,
	const uint8_t group_id[MUTUAL_GROUP_ID_SIZE], const uint8_t device[MUTUAL_KEY_SIZE], const uint8_t key[MUTUAL_GROUP_KEY_SIZE])
{
	uint8_t ad[MUTUAL_ENVELOPE_HEADER + MUTUAL_GROUP_ID_SIZE + MUTUAL_KEY_SIZE];
	mutual_buf z = { 0 };
	uint32_t key_id;
	size_t ct_len;
	int rc;

	if ((rc = mutual__segment_key_id(&key_id, env, len)) < 0)
		return rc;
	ct_len = len - MUTUAL_ENVELOPE_HEADER;
	envelope_ad(ad, env, group_id, device);
	if (mutual__buf_grow(&z, ct_len) < 0)
		return MUTUAL_ERROR;
	if (mutual__aead_decrypt(z.data, env + MUTUAL_ENVELOPE_HEADER, ct_len, ad, sizeof(ad), env + 9, key) < 0) {
		mutual__buf_free(&z);
		return mutual__fail(MUTUAL_EVERIFY,
			"segment does not open with the group key (another group's, a wrong key, or altered)");
	}
	rc = inflate_bounded(plain, z.data, ct_len - MUTUAL_AEAD_TAG);
	mutual__buf_free(&z);
	return rc;
}

int mutual__segment_parse(mutual_segment *out, const uint8_t *plain, size_t len)
{
	const size_t header = 18 + MUTUAL_GROUP_ID_SIZE + MUTUAL_KEY_SIZE + 8 + 4;
	memset(out, 0, sizeof(*out));
	if (len < header || memcmp(plain, MUTUAL_SEGMENT_MAGIC, 18) != 0) {
		if (len >= 16 && memcmp(plain, "mutual.segment.v", 16) == 0)
			return mutual__fail(MUTUAL_EVERSION, "segment of a newer format: upgrade libmutual");
		return mutual__fail(MUTUAL_EINVALID, "not a libmutual segment");
	}
	memcpy(out->group_id, plain + 18, MUTUAL_GROUP_ID_SIZE);
	memcpy(out->device, plain + 18 + MUTUAL_GROUP_ID_SIZE, MUTUAL_KEY_SIZE);
	out->first_seq = mutual__get_u64(plain + 18 + MUTUAL_GROUP_ID_SIZE + MUTUAL_KEY_SIZE);
	out->count = mutual__get_u32(plain + 18 + MUTUAL_GROUP_ID_SIZE + MUTUAL_KEY_SIZE + 8);
	if (out->first_seq == 0 || out->count == 0)
		return mutual__fail(MUTUAL_EINVALID, "segment with no events or seq 0");
	out->events = plain + header;
	out->events_len = len - header;
	return 0;
}

int mutual__envelope_version(const uint8_t *env, size_t len)
{
	if (len < MUTUAL_ENVELOPE_HEADER + MUTUAL_AEAD_TAG || memcmp(env, MUTUAL_ENVELOPE_MAGIC, 4) != 0 || env[4] == 0)
		return mutual__fail(MUTUAL_EINVALID, "not a libmutual envelope (damaged or foreign object)");
	return env[4];
}

int mutual__envelope_check_newer(const uint8_t *env, size_t len, const uint8_t group_id[MUTUAL_GROUP_ID_SIZE],
	const char *ref, const uint8_t key[MUTUAL_GROUP_KEY_SIZE])
{
	mutual_buf ad = { 0 }, out = { 0 };
	int version = mutual__envelope_version(env, len), rc;

	if (version < 0)
		return version;
	if (version < 2) /* the rule below is fixed for versions 2 and up, whatever this one is */
		return mutual__fail(MUTUAL_EINVALID, "an envelope of version %d under a newer-format ref", version);
	if (mutual__buf_put(&ad, env, MUTUAL_ENVELOPE_HEADER) < 0 || mutual__buf_put(&ad, group_id, MUTUAL_GROUP_ID_SIZE) < 0 ||
	    mutual__buf_put(&ad, ref, strlen(ref)) < 0 || mutual__buf_grow(&out, len - MUTUAL_ENVELOPE_HEADER) < 0) {
		rc = MUTUAL_ERROR;
		goto done;
	}
	/* libsodium checks the tag by decrypting; the plaintext is another
	 * version's, never read here, and wiped. */
	rc = mutual__aead_decrypt(out.data, env + MUTUAL_ENVELOPE_HEADER, len - MUTUAL_ENVELOPE_HEADER, ad.data, ad.len,
		env + 9, key) < 0
		     ? mutual__fail(MUTUAL_EVERIFY, "a newer-format object does not open with the group key")
		     : 0;
	mutual__wipe(out.data, out.cap);
done:
	mutual__buf_free(&ad);
	mutual__buf_free(&out);
	return rc;
}
