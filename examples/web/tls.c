/*
 * tls.c - the certificate mutual-web serves HTTPS with: made on first
 * start, kept in <store>/web-tls.pem (mode 0600: its private key is what
 * a phone trusts), and shown by its SHA-256 fingerprint so a person can
 * compare what the phone's browser shows with what the laptop's screen
 * says. Self-signed: no authority vouches for a laptop on a pantry's
 * Wi-Fi, so the comparison is the check.
 *
 * The only file that speaks to GnuTLS directly (libmicrohttpd uses it for
 * the connections).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "web.h"

#define TLS_FILE "web-tls.pem"
#define TLS_FILE_MAX (64 * 1024)
#define TLS_VALID_DAYS 3650

static int add_ip(gnutls_x509_crt_t crt, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS,
			&((const struct sockaddr_in *)sa)->sin_addr, 4, GNUTLS_FSAN_APPEND);
	if (sa->sa_family == AF_INET6)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS,
			&((const struct sockaddr_in6 *)sa)->sin6_addr, 16, GNUTLS_FSAN_APPEND);
	return 0;
}

/* The names a browser may reach this server by: localhost, the loopback
 * addresses, and the listen address (or, for 0.0.0.0 and ::, every
 * address the laptop has now). A name that no longer matches later only
 * adds to the warning a self-signed certificate gets anyway. */
static int add_names(gnutls_x509_crt_t crt, const web *w)
{
	struct sockaddr_in lo4 = { .sin_family = AF_INET };
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int rc = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9,
		GNUTLS_FSAN_APPEND);
	lo4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (rc >= 0)
		rc = add_ip(crt, (struct sockaddr *)&lo4);
	if (rc >= 0)
		rc = add_ip(crt, (struct sockaddr *)&lo6);
	int any = strcmp(w->listen_host, "0.0.0.0") == 0 || strcmp(w->listen_host, "::") == 0;
	if (rc >= 0 && !any && !w->loopback) {
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
		struct sockaddr_in a4 = { .sin_family = AF_INET };
		if (w->ipv6 && inet_pton(AF_INET6, w->listen_host, &a6.sin6_addr) == 1)
			rc = add_ip(crt, (struct sockaddr *)&a6);
		else if (!w->ipv6 && inet_pton(AF_INET, w->listen_host, &a4.sin_addr) == 1)
			rc = add_ip(crt, (struct sockaddr *)&a4);
	}
	struct ifaddrs *ifs = NULL;
	if (rc >= 0 && any && getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i && rc >= 0; i = i->ifa_next)
			if (i->ifa_addr && !(i->ifa_flags & IFF_LOOPBACK))
				rc = add_ip(crt, i->ifa_addr);
		freeifaddrs(ifs);
	}
	return rc;
}

/* A new key and self-signed certificate, both as PEM in one text. */
static int make_pem(const web *w, char **out)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t key_pem = { 0 }, crt_pem = { 0 };
	unsigned char serial[16];
	time_t now = time(NULL);
	int rc;

	if (getrandom(serial, sizeof(serial), 0) != (ssize_t)sizeof(serial))
		return -1;
	serial[0] &= 0x7f; /* a positive number */
	if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
		(rc = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
			GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
		(rc = gnutls_x509_crt_init(&crt)) < 0 ||
		(rc = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
		(rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
		(rc = gnutls_x509_crt_set_activation_time(crt, now - 24 * 3600)) < 0 ||
		(rc = gnutls_x509_crt_set_expiration_time(crt,
			now + (time_t)TLS_VALID_DAYS * 24 * 3600)) < 0 ||
		(rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
			"mutual-web", 10)) < 0 ||
		(rc = gnutls_x509_crt_set_key(crt, key)) < 0 ||
		(rc = add_names(crt, w)) < 0 ||
		(rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
		(rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
		(rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
		(rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0 ||
		(rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &key_pem)) < 0 ||
		(rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem)) < 0) {
		fprintf(stderr, "mutual-web: cannot make a certificate: %s\n", gnutls_strerror(rc));
		rc = -1;
		goto done;
	}
	*out = malloc(key_pem.size + crt_pem.size + 1);
	if (!*out) {
		rc = -1;
		goto done;
	}
	memcpy(*out, key_pem.data, key_pem.size);
	memcpy(*out + key_pem.size, crt_pem.data, crt_pem.size);
	(*out)[key_pem.size + crt_pem.size] = '\0';
	rc = 0;
done:
	gnutls_free(key_pem.data);
	gnutls_free(crt_pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

/* Split the file's text into the key and the certificate (each as PEM
 * again, as libmicrohttpd takes them) and take the fingerprint. */
static int parse_pem(web *w, const char *text, char **cert_pem, char **key_pem)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t in = { (unsigned char *)text, (unsigned int)strlen(text) };
	gnutls_datum_t k = { 0 }, c = { 0 };
	unsigned char fp[32], key_id[64], crt_id[64];
	size_t fp_len = sizeof(fp), key_id_len = sizeof(key_id), crt_id_len = sizeof(crt_id);
	int rc;
	if ((rc = gnutls_x509_privkey_init(&key)) < 0 ||
		(rc = gnutls_x509_privkey_import(key, &in, GNUTLS_X509_FMT_PEM)) < 0 ||
		(rc = gnutls_x509_crt_init(&crt)) < 0 ||
		(rc = gnutls_x509_crt_import(crt, &in, GNUTLS_X509_FMT_PEM)) < 0 ||
		(rc = gnutls_x509_privkey_get_key_id(key, 0, key_id, &key_id_len)) < 0 ||
		(rc = gnutls_x509_crt_get_key_id(crt, 0, crt_id, &crt_id_len)) < 0 ||
		/* A certificate for another key would fail every handshake. */
		(rc = key_id_len != crt_id_len || memcmp(key_id, crt_id, key_id_len) != 0 ?
			GNUTLS_E_CERTIFICATE_KEY_MISMATCH : 0) < 0 ||
		(rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fp_len)) < 0 ||
		(rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &k)) < 0 ||
		(rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &c)) < 0) {
		fprintf(stderr, "mutual-web: %s/%s: not a key and certificate (%s); move it away "
			"and a new one is made\n", w->store_dir, TLS_FILE, gnutls_strerror(rc));
		rc = -1;
		goto done;
	}
	*key_pem = strndup((const char *)k.data, k.size);
	*cert_pem = strndup((const char *)c.data, c.size);
	if (!*key_pem || !*cert_pem) {
		free(*key_pem);
		free(*cert_pem);
		*key_pem = *cert_pem = NULL;
		rc = -1;
		goto done;
	}
	for (size_t i = 0; i < fp_len; i++)
		snprintf(w->fingerprint + 3 * i, 4, i + 1 < fp_len ? "%02X:" : "%02X", fp[i]);
	rc = 0;
done:
	gnutls_free(k.data);
	gnutls_free(c.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return rc;
}

int tls_load_or_create(web *w, char **cert_pem, char **key_pem)
{
	char path[4096], *text = NULL;
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", w->store_dir, TLS_FILE);
	int found = web_read_private(path, "the certificate file", TLS_FILE_MAX, &text, &len);
	if (found < 0)
		return -1;
	if (found == 1) {
		if (make_pem(w, &text) != 0)
			return -1;
		if (web_write_private(w, TLS_FILE, text, strlen(text)) != 0) {
			fprintf(stderr, "mutual-web: cannot keep the certificate in %s: %s\n", path,
				strerror(errno));
			goto fail;
		}
	}
	int rc = parse_pem(w, text, cert_pem, key_pem);
	/* The text holds the private key: wipe it before it is freed. */
	explicit_bzero(text, strlen(text));
	free(text);
	return rc;
fail:
	explicit_bzero(text, strlen(text));
	free(text);
	return -1;
}
