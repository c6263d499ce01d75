/*
 * common.c - the error model, the allocator, byte buffers, hex, and careful
 * file writing.
 *
 * The last error is per thread, so handles used from separate threads never
 * see each other's messages.
 */
#include "common.h"
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#ifdef MUTUAL_TEST_HOOKS
#include <stdatomic.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Thread_local char last_error[512];

const char *mutual_error_last(void)
{
	return last_error;
}

void mutual__error_clear(void)
{
	last_error[0] = '\0';
}

/* Every output struct starts with its `unsigned int version`. */
static unsigned int output_version(const void *out)
{
	unsigned int v;
	memcpy(&v, out, sizeof(v));
	return v;
}

int mutual__output_check(const void *out, const char *what)
{
	if (out && output_version(out) == 0)
		return mutual__fail(MUTUAL_EINVALID, "the %s's version is 0: initialise it with its _INIT macro", what);
	return 0;
}

void mutual__output_copy(void *out, const void *filled, unsigned int known, const size_t *sizes)
{
	unsigned int v = output_version(out);

	if (v > known)
		v = known;
	memcpy((unsigned char *)out + sizeof(v), (const unsigned char *)filled + sizeof(v), sizes[v] - sizeof(v));
	memcpy(out, &v, sizeof(v));
}

int mutual__fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return code;
}

int mutual__fail_wrap(int code, const char *fmt, ...)
{
	char prefix[256], old[sizeof(last_error)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, last_error, sizeof(old));
	snprintf(last_error, sizeof(last_error), "%.250s: %.255s", prefix, old);
	return code;
}

void mutual_free(void *ptr)
{
	mutual__free(ptr);
}

/* alloc-sed: off (scripts/alloc-sed.sh leaves the real calls below alone) */
#ifdef MUTUAL_TEST_HOOKS
/* The fault simulator (fault.h). `seen` counts every allocation of every
 * source since arming; the fault fires when it reaches `fail_at`. */
static atomic_long seen, fail_at, hits, per_source[MUTUAL_ALLOC_SOURCES], live[MUTUAL_ALLOC_SOURCES];
static atomic_int persistent_mode;
static const char *_Atomic fail_file; /* the first failure's site, if known */
static atomic_int fail_line;
static mutual_fault_spare_cb _Atomic spare_cb;
static _Thread_local const char *region;

int mutual__fault_alloc_fails(int source, const char *file, int line)
{
	long n = atomic_fetch_add(&seen, 1) + 1, at = atomic_load(&fail_at);
	mutual_fault_spare_cb spare = atomic_load(&spare_cb);
	int fails = at > 0 && (n == at || (n > at && atomic_load(&persistent_mode)));
	atomic_fetch_add(&per_source[source], 1);
	if (file && spare && spare(source, file, line, region, fails))
		return 0;
	if (!fails)
		return 0;
	if (atomic_fetch_add(&hits, 1) == 0) {
		atomic_store(&fail_line, line);
		atomic_store(&fail_file, file);
	}
	return 1;
}

void mutual__fault_alloc_live(int source, int delta)
{
	atomic_fetch_add(&live[source], delta);
}

void mutual__test_fault_alloc(long n, int persistent)
{
	atomic_store(&fail_at, 0);
	atomic_store(&seen, 0);
	atomic_store(&hits, 0);
	for (int i = 0; i < MUTUAL_ALLOC_SOURCES; i++)
		atomic_store(&per_source[i], 0);
	atomic_store(&fail_file, NULL);
	atomic_store(&fail_line, 0);
	atomic_store(&persistent_mode, persistent != 0);
	atomic_store(&fail_at, n > 0 ? n : 0);
}

const char *mutual__test_fault_site(int *line)
{
	*line = atomic_load(&fail_line);
	return atomic_load(&fail_file);
}

void mutual__test_fault_spare(mutual_fault_spare_cb spare)
{
	atomic_store(&spare_cb, spare);
}

void mutual__fault_region(const char *name)
{
	region = name;
}

long mutual__test_fault_hits(void)
{
	return atomic_load(&hits);
}

long mutual__test_fault_count(int source)
{
	return source >= 0 && source < MUTUAL_ALLOC_SOURCES ? atomic_load(&per_source[source]) : -1;
}

long mutual__test_alloc_live(int source)
{
	return source >= 0 && source < MUTUAL_ALLOC_SOURCES ? atomic_load(&live[source]) : -1;
}

void *mutual__malloc(size_t n)
{
	void *p;
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_SELF, NULL, 0))
		return NULL;
	if ((p = malloc(n)))
		mutual__fault_alloc_live(MUTUAL_ALLOC_SELF, 1);
	return p;
}

void *mutual__calloc(size_t n, size_t size)
{
	void *p;
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_SELF, NULL, 0))
		return NULL;
	if ((p = calloc(n, size)))
		mutual__fault_alloc_live(MUTUAL_ALLOC_SELF, 1);
	return p;
}

void *mutual__realloc(void *ptr, size_t n)
{
	void *p;
	if (mutual__fault_alloc_fails(MUTUAL_ALLOC_SELF, NULL, 0))
		return NULL;
	if ((p = realloc(ptr, n)) && !ptr)
		mutual__fault_alloc_live(MUTUAL_ALLOC_SELF, 1);
	return p;
}

void mutual__free(void *ptr)
{
	if (ptr)
		mutual__fault_alloc_live(MUTUAL_ALLOC_SELF, -1);
	free(ptr);
}
#endif
/* alloc-sed: on */

const char *mutual_version(void)
{
	return MUTUAL_VERSION;
}

int mutual__buf_grow(mutual_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *data;

	if (b->failed)
		return MUTUAL_ERROR; /* sticky: the failure was reported when it happened */
	if (extra > SIZE_MAX - b->len - 1) {
		b->failed = 1;
		return mutual__fail(MUTUAL_ERROR, "buffer size overflow");
	}
	need = b->len + extra + 1; /* room for a NUL */
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	data = mutual__realloc(b->data, cap);
	if (!data) {
		b->failed = 1;
		return mutual__fail(MUTUAL_ERROR, "out of memory");
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

int mutual__buf_put(mutual_buf *b, const void *data, size_t len)
{
	if (mutual__buf_grow(b, len) < 0)
		return MUTUAL_ERROR;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

int mutual__buf_put_u8(mutual_buf *b, uint8_t v)
{
	return mutual__buf_put(b, &v, 1);
}

int mutual__buf_put_u16(mutual_buf *b, uint16_t v)
{
	uint8_t p[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	return mutual__buf_put(b, p, 2);
}

int mutual__buf_put_u32(mutual_buf *b, uint32_t v)
{
	uint8_t p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	return mutual__buf_put(b, p, 4);
}

int mutual__buf_put_u64(mutual_buf *b, uint64_t v)
{
	uint8_t p[8];
	mutual__set_u64(p, v);
	return mutual__buf_put(b, p, 8);
}

int mutual__buf_printf(mutual_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return MUTUAL_ERROR;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1; /* what follows would be built on a hole */
		return mutual__fail(MUTUAL_ERROR, "format error");
	}
	if (mutual__buf_grow(b, (size_t)n) < 0)
		return MUTUAL_ERROR;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int mutual__buf_cstr(mutual_buf *b)
{
	if (mutual__buf_grow(b, 0) < 0)
		return MUTUAL_ERROR;
	b->data[b->len] = '\0';
	return 0;
}

int mutual__buf_failed(const mutual_buf *b)
{
	return b->failed;
}

int mutual__buf_check(const mutual_buf *b)
{
	return b->failed ? mutual__fail(MUTUAL_ERROR, "out of memory") : 0;
}

void mutual__buf_free(mutual_buf *b)
{
	mutual__free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

uint16_t mutual__get_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t mutual__get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t mutual__get_u64(const uint8_t *p)
{
	return ((uint64_t)mutual__get_u32(p) << 32) | mutual__get_u32(p + 4); /* not a size: a shift to the high half */
}

void mutual__set_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void mutual__set_u32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void mutual__hex(char *out, const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mutual__unhex(uint8_t *out, size_t len, const char *hex, size_t hexlen)
{
	if (hexlen != 2 * len)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

char *mutual__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = mutual__malloc(n);
	if (!d) {
		mutual__fail(MUTUAL_ERROR, "out of memory");
		return NULL;
	}
	memcpy(d, s, n);
	return d;
}

char *mutual__path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = mutual__malloc(a + b + 2);
	if (!p) {
		mutual__fail(MUTUAL_ERROR, "out of memory");
		return NULL;
	}
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

int mutual__fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return mutual__fail(MUTUAL_ERROR, "cannot open folder %s: %s", path, strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return mutual__fail(MUTUAL_ERROR, "cannot sync folder %s: %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

static char *parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	if (!slash)
		return mutual__strdup(".");
	if (slash == path)
		return mutual__strdup("/");
	dir = mutual__malloc((size_t)(slash - path) + 1);
	if (!dir) {
		mutual__fail(MUTUAL_ERROR, "out of memory");
		return NULL;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	return dir;
}

int mutual__write_secret_file(const char *path, const void *data, size_t len)
{
	const uint8_t *p = data;
	char *dir = NULL;
	int fd, rc = MUTUAL_ERROR;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return mutual__fail(MUTUAL_EEXISTS, "%s already exists; not overwriting it", path);
		return mutual__fail(MUTUAL_ERROR, "cannot create %s: %s", path, strerror(errno));
	}
	/* The umask may have narrowed the mode, never widened it; set it exactly. */
	if (fchmod(fd, 0600) < 0) {
		mutual__fail(MUTUAL_ERROR, "cannot set mode 0600 on %s: %s", path, strerror(errno));
		goto done;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			mutual__fail(MUTUAL_ERROR, "cannot write %s: %s", path, strerror(errno));
			goto done;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		mutual__fail(MUTUAL_ERROR, "cannot sync %s: %s", path, strerror(errno));
		goto done;
	}
	dir = parent_dir(path);
	if (!dir || mutual__fsync_dir(dir) < 0)
		goto done;
	rc = 0;
done:
	close(fd);
	mutual__free(dir);
	if (rc < 0)
		unlink(path);
	return rc;
}

int mutual__read_file(mutual_buf *out, const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = MUTUAL_ERROR;

	if (fd < 0) {
		if (errno == ENOENT)
			return mutual__fail(MUTUAL_ENOTFOUND, "%s does not exist", path);
		return mutual__fail(MUTUAL_ERROR, "cannot open %s: %s", path, strerror(errno));
	}
	for (;;) {
		ssize_t n;
		if (mutual__buf_grow(out, 4096) < 0)
			goto done;
		n = read(fd, out->data + out->len, 4096);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mutual__fail(MUTUAL_ERROR, "cannot read %s: %s", path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		if (out->len > max) {
			mutual__fail(MUTUAL_EINVALID, "%s is too large (more than %zu bytes)", path, max);
			goto done;
		}
	}
	rc = mutual__buf_cstr(out);
done:
	close(fd);
	return rc;
}

int mutual__mkdir_private(const char *path)
{
	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST)
		return MUTUAL_EEXISTS;
	return mutual__fail(MUTUAL_ERROR, "cannot create folder %s: %s", path, strerror(errno));
}
