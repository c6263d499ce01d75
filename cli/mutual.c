/*
 * mutual.c - the `mutual` command: a thin shell over the public API.
 *
 * Every command opens the store named by --store (or $MUTUAL_STORE), does
 * one thing and exits: 0 on success, non-zero with one line on stderr.
 *
 * Names, payloads, paths and messages (which may quote any of them) can
 * come from another member's events or a medium, so every one is printed
 * through term.h; only our own literal text goes out as is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "exit_status.h"
#include "mutual.h"
#include "term.h"

static const char usage[] =
	"usage: mutual [--store DIR] COMMAND [ARGS]\n"
	"\n"
	"Keeps this device's signed, append-only log of events for a group.\n"
	"\n"
	"Commands:\n"
	"  init --group NAME [--device NAME]   make a new group and its store in DIR\n"
	"  invite --out FILE | --text          write an invite (a SECRET) for a new device\n"
	"  join FILE|- [--device NAME]         make this device's store from an invite\n"
	"  append TYPE JSON|-                  append an event; prints its id\n"
	"  log [--json] [--type T] [--device D] [--after ID] [--limit N]\n"
	"                                      show events in the shared order\n"
	"  show ID [--json]                    show one event\n"
	"  verify                              check every hash, chain and signature\n"
	"  status [--json]                     the group, this device, events per device\n"
	"  put KIND ID JSON                    set the fields of an entity, like {\"status\":\"open\"}\n"
	"  del KIND ID                         delete an entity (a later put restores it)\n"
	"  state KIND [ID] [--json] [--live] [--where FIELD=VALUE]... [--order FIELD] [--desc]\n"
	"        [--limit N] [--after CURSOR]  entities with their fields and open conflicts; --where\n"
	"                                      (up to 8) keeps those whose FIELD is VALUE (JSON, else\n"
	"                                      text), --live leaves out deleted ones; a full --limit\n"
	"                                      page ends with the CURSOR of the next (\"next\" in JSON)\n"
	"  add KEY DELTA                       add to a counter (e.g. rice-kg 12.5, or -3)\n"
	"  counters [KEY] [--json]             the counters' totals\n"
	"  batch FILE|-                        write many at once, in one transaction: one per line,\n"
	"                                      fields split by a TAB: put KIND ID JSON, del KIND ID,\n"
	"                                      add KEY DELTA, append TYPE JSON ('#' lines skipped)\n"
	"  rebuild                             regenerate every projection from the log\n"
	"  sync TARGET [--json]                sync with a stick folder, a FILE.bundle or a git URL\n"
	"  coordinators [--all] [--json]       the group's coordinators; --all lists every role event,\n"
	"                                      with why one does not count\n"
	"  coordinator grant DEVICE            make DEVICE (a name or an id prefix) a coordinator\n"
	"  coordinator revoke DEVICE [--after SEQ]\n"
	"                                      take the role back (DEVICE may be this one, to step\n"
	"                                      down); its role actions after its event SEQ (default:\n"
	"                                      the last one this store holds) never count\n"
	"  remove DEVICE [--after SEQ] [--json]\n"
	"                                      remove a lost or departed device (a coordinator only):\n"
	"                                      its events after its event SEQ (default: the last one\n"
	"                                      this store holds) are refused on every device; again\n"
	"                                      with --after SEQ moves the cut (after review); the group\n"
	"                                      key rotates with it\n"
	"  rotate [--json]                     a new group key, sealed to every device not removed (a\n"
	"                                      coordinator only), e.g. after a stick was lost\n"
	"  recover                             after a fork (this store copied to another machine):\n"
	"                                      go on under a new key, re-appending quarantined events\n"
	"  help, --help                        this text\n"
	"  version, --version                  the version\n"
	"\n"
	"Options:\n"
	"  --store DIR   the store folder (default: $MUTUAL_STORE)\n"
	"\n"
	"Exit status:\n"
	"  0  success\n"
	"  1  failure (the message on stderr says what and what to do)\n"
	"  2  bad usage\n"
	"  3  verify found a bad event or a damaged store\n"
	"  4  the store or the stick stayed busy (another program is using it); try again\n"
	"  5  sync completed but refused a device's log (the message says which and why)\n"
	"  6  not allowed: this device is not a coordinator, or it was removed\n";

static int report(int rc)
{
	fprintf(stderr, "mutual: %s\n", term_text(mutual_error_last()));
	return exit_status_of(rc);
}

/* The message quotes an argument: escaped whole (no format here holds a
 * character the escape changes), as mutual-apps does. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int n;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "mutual: %s", n < 0 ? "out of memory" : term_text(msg));
	if (n >= 0)
		free(msg);
	fprintf(stderr, "\n(run 'mutual --help' for usage)\n");
	return EXIT_USAGE;
}

static void hex(char *out, const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", data[i]);
}

static void format_time(char *buf, size_t size, uint64_t hlc, int utc)
{
	time_t secs = (time_t)((hlc >> 16) / 1000);
	struct tm tm;
	if (utc)
		gmtime_r(&secs, &tm);
	else
		localtime_r(&secs, &tm);
	strftime(buf, size, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S", &tm);
}

/* Read all of stdin, for "-" arguments, as one string: NULL (with a
 * message) when it is too large or holds a NUL byte, which a C string
 * would silently cut. */
static char *read_stdin(size_t max)
{
	size_t len = 0, cap = 4096, n;
	char *buf = malloc(cap), *grown;

	while (buf && (n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (len + 1 < cap)
			continue;
		grown = cap > max ? NULL : realloc(buf, cap * 2);
		if (!grown) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = grown;
		cap *= 2;
	}
	if (!buf) {
		fprintf(stderr, "mutual: cannot read stdin (more than %zu bytes?)\n", max);
		return NULL;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		fprintf(stderr, "mutual: the input on stdin holds a NUL byte; it must be text\n");
		free(buf);
		return NULL;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return buf;
}

typedef struct {
	const char *store;
	int argc;
	char **argv;
} cmd_ctx;

static int open_store(mutual_store **s, const cmd_ctx *c)
{
	int rc = mutual_store_open(s, c->store, MUTUAL_OPEN_DEFAULT);
	return rc < 0 ? report(rc) : EXIT_OK;
}

/* Options of a subcommand: `--name VALUE` pairs and `--flag`s. */
static const char *opt_value(const cmd_ctx *c, int *i, const char *name)
{
	if (strcmp(c->argv[*i], name) != 0)
		return NULL;
	if (*i + 1 >= c->argc) {
		usage_error("%s needs a value", name);
		exit(EXIT_USAGE);
	}
	*i += 1;
	return c->argv[*i];
}

static int cmd_init(const cmd_ctx *c)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	const char *group = NULL, *v;
	mutual_store *s;
	int rc;

	for (int i = 1; i < c->argc; i++) {
		if ((v = opt_value(c, &i, "--group")))
			group = v;
		else if ((v = opt_value(c, &i, "--device")))
			opts.device_name = v;
		else
			return usage_error("init: unexpected '%s'", c->argv[i]);
	}
	if (!group)
		return usage_error("%s", "init needs --group NAME");
	if ((rc = mutual_store_create(&s, c->store, group, &opts)) < 0)
		return report(rc);
	printf("Made group \"%s\" in %s\nthis device: %s (%.16s...)\n", term_text(mutual_store_group_name(s)),
		term_text(c->store), term_text(mutual_store_device_name(s)), mutual_store_device_id(s));
	mutual_store_free(s);
	return EXIT_OK;
}

static const char invite_warning[] =
	"mutual: this invite is a SECRET: whoever holds it can read and write the group's data.\n"
	"mutual: carry it apart from the stick that carries the data, and delete it after joining.\n";

static int cmd_invite(const cmd_ctx *c)
{
	const char *out = NULL, *v;
	int text = 0, rc, status = EXIT_OK;
	mutual_store *s;

	for (int i = 1; i < c->argc; i++) {
		if ((v = opt_value(c, &i, "--out")))
			out = v;
		else if (strcmp(c->argv[i], "--text") == 0)
			text = 1;
		else
			return usage_error("invite: unexpected '%s'", c->argv[i]);
	}
	if (!out == !text)
		return usage_error("%s", "invite needs one of --out FILE or --text");
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if (out) {
		if ((rc = mutual_invite_write(s, out)) < 0)
			status = report(rc);
		else
			fprintf(stderr, "Wrote the invite to %s (mode 0600).\n%s", term_text(out), invite_warning);
	} else {
		char *token = NULL;
		if ((rc = mutual_invite_text(&token, s)) < 0) {
			status = report(rc);
		} else {
			printf("%s\n", token);
			fputs(invite_warning, stderr);
		}
		mutual_free(token);
	}
	mutual_store_free(s);
	return status;
}

static int cmd_join(const cmd_ctx *c)
{
	mutual_create_options opts = MUTUAL_CREATE_OPTIONS_INIT;
	const char *file = NULL, *v;
	mutual_store *s;
	int rc;

	for (int i = 1; i < c->argc; i++) {
		if ((v = opt_value(c, &i, "--device")))
			opts.device_name = v;
		else if (!file && (c->argv[i][0] != '-' || strcmp(c->argv[i], "-") == 0))
			file = c->argv[i];
		else
			return usage_error("join: unexpected '%s'", c->argv[i]);
	}
	if (!file)
		return usage_error("%s", "join needs the invite FILE (or - to read its text from stdin)");
	if (strcmp(file, "-") == 0) {
		char *text = read_stdin(64 * 1024);
		if (!text)
			return EXIT_FAIL;
		rc = mutual_store_join_text(&s, c->store, text, &opts);
		free(text);
	} else {
		rc = mutual_store_join(&s, c->store, file, &opts);
	}
	if (rc < 0)
		return report(rc);
	printf("Joined group \"%s\" in %s\nthis device: %s (%.16s...)\n", term_text(mutual_store_group_name(s)),
		term_text(c->store), term_text(mutual_store_device_name(s)), mutual_store_device_id(s));
	if (strcmp(file, "-") != 0)
		fprintf(stderr, "mutual: joined; now delete the invite file %s, it is a secret.\n", term_text(file));
	mutual_store_free(s);
	return EXIT_OK;
}

static int cmd_append(const cmd_ctx *c)
{
	char id[MUTUAL_EVENT_ID_STRLEN], *input = NULL;
	const char *payload;
	mutual_event_id eid;
	mutual_store *s;
	int rc, status;

	if (c->argc != 3)
		return usage_error("%s", "append needs TYPE and JSON (or - to read the JSON from stdin)");
	payload = c->argv[2];
	if (strcmp(payload, "-") == 0) {
		if (!(input = read_stdin(MUTUAL_PAYLOAD_MAX + 2)))
			return EXIT_FAIL;
		payload = input;
	}
	if ((status = open_store(&s, c)) == EXIT_OK) {
		if ((rc = mutual_append(&eid, s, c->argv[1], payload)) < 0) {
			status = report(rc);
		} else {
			mutual_event_id_format(id, sizeof(id), &eid);
			printf("%s\n", id);
		}
		mutual_store_free(s);
	}
	free(input);
	return status;
}

/* The name a person reads for a device: its display form, which tells
 * colliding names apart (mutual_device_display_name); "?" when unknown. */
static const char *shown_name(mutual_store *s, const char *id)
{
	const char *name;
	return mutual_device_display_name(&name, s, id) == 0 && *name ? name : "?";
}

static void print_event(mutual_store *s, const mutual_event *ev, int json)
{
	const mutual_event_id *id = mutual_event_get_id(ev);
	const char *payload = mutual_event_payload(ev);
	char idstr[MUTUAL_EVENT_ID_STRLEN], dev[65], h[65], when[64];

	mutual_event_id_format(idstr, sizeof(idstr), id);
	hex(dev, id->device, 32);
	if (json) {
		hex(h, mutual_event_hash(ev), 32);
		format_time(when, sizeof(when), mutual_event_hlc(ev), 1);
		printf("{\"id\":\"%s\",\"device\":\"%s\",\"device_name\":%s,\"device_shown\":%s", idstr, dev,
			term_json_string(mutual_event_device_name(ev)), term_json_string(shown_name(s, dev)));
		printf(",\"seq\":%" PRIu64 ",\"hlc\":%" PRIu64 ",\"time\":\"%s\",\"type\":%s", id->seq,
			mutual_event_hlc(ev), when, term_json_string(mutual_event_type(ev)));
		printf(",\"payload\":%s,\"hash\":\"%s\"%s%s}\n", term_json(payload, strlen(payload)), h,
			mutual_event_quarantined(ev) ? ",\"quarantined\":true" : mutual_event_refused(ev) ? ",\"refused\":true" : "",
			mutual_event_pending(ev) == MUTUAL_EVENT_WAITING     ? ",\"pending\":\"waiting\""
			: mutual_event_pending(ev) == MUTUAL_EVENT_HELD_BACK ? ",\"pending\":\"held_back\""
									     : "");
	} else {
		format_time(when, sizeof(when), mutual_event_hlc(ev), 0);
		/* The payload is JSON: shown as JSON, its controls as \uNNNN. */
		printf("%s  %-16s %.8s #%-6" PRIu64 " %-24s %s%s%s\n", when, term_text(shown_name(s, dev)), dev, id->seq,
			term_text(mutual_event_type(ev)), term_json(payload, strlen(payload)),
			mutual_event_quarantined(ev) ? "  [QUARANTINED: its device forked]"
			: mutual_event_refused(ev)   ? "  [REFUSED: its device was removed before it]"
						     : "",
			mutual_event_pending(ev) == MUTUAL_EVENT_WAITING
				? "  [WAITING: it names an event this device does not hold yet]"
			: mutual_event_pending(ev) == MUTUAL_EVENT_HELD_BACK
				? "  [HELD BACK: its clock runs too far ahead of the events it follows]"
				: "");
	}
}

static int cmd_log(const cmd_ctx *c)
{
	mutual_iter_options opts = MUTUAL_ITER_OPTIONS_INIT;
	const char *device = NULL, *after = NULL, *limit = NULL, *v;
	uint8_t key[MUTUAL_KEY_SIZE];
	mutual_event_id after_id;
	const mutual_event *ev;
	mutual_store *s;
	mutual_iter *it = NULL;
	int json = 0, rc, status;

	for (int i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--json") == 0)
			json = 1;
		else if ((v = opt_value(c, &i, "--type")))
			opts.type = v;
		else if ((v = opt_value(c, &i, "--device")))
			device = v;
		else if ((v = opt_value(c, &i, "--after")))
			after = v;
		else if ((v = opt_value(c, &i, "--limit")))
			limit = v;
		else
			return usage_error("log: unexpected '%s'", c->argv[i]);
	}
	if (limit) {
		char *end;
		errno = 0;
		opts.limit = strtoull(limit, &end, 10);
		if (errno || *end || !*limit || limit[0] == '-')
			return usage_error("--limit needs a whole number, not '%s'", limit);
	}
	if (after) {
		if ((rc = mutual_event_id_parse(&after_id, after)) < 0)
			return report(rc);
		opts.after = &after_id;
	}
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if (device) {
		if ((rc = mutual_device_resolve(key, s, device)) < 0) {
			status = report(rc);
			goto done;
		}
		opts.device = key;
	}
	if ((rc = mutual_iter_new(&it, s, &opts)) < 0) {
		status = report(rc);
		goto done;
	}
	while ((rc = mutual_iter_next(&ev, it)) == 0)
		print_event(s, ev, json);
	if (rc != MUTUAL_ITEROVER)
		status = report(rc);
done:
	mutual_iter_free(it);
	mutual_store_free(s);
	return status;
}

static int cmd_show(const cmd_ctx *c)
{
	mutual_event_id id;
	mutual_event *ev = NULL;
	mutual_store *s;
	const char *idstr = NULL;
	int json = 0, rc, status;

	for (int i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--json") == 0)
			json = 1;
		else if (!idstr)
			idstr = c->argv[i];
		else
			return usage_error("show: unexpected '%s'", c->argv[i]);
	}
	if (!idstr)
		return usage_error("%s", "show needs an event ID (as printed by append or log --json)");
	if ((rc = mutual_event_id_parse(&id, idstr)) < 0)
		return report(rc);
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if ((rc = mutual_event_lookup(&ev, s, &id)) < 0)
		status = report(rc);
	else
		print_event(s, ev, json);
	mutual_event_free(ev);
	mutual_store_free(s);
	return status;
}

static int cmd_verify(const cmd_ctx *c)
{
	mutual_verify_result res = MUTUAL_VERIFY_RESULT_INIT;
	mutual_store *s;
	int rc, status;

	if (c->argc != 1)
		return usage_error("verify: unexpected '%s'", c->argv[1]);
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	rc = mutual_verify(&res, s);
	if (rc < 0) {
		status = report(rc);
	} else {
		printf("ok: %" PRIu64 " events from %" PRIu64 " devices verified (%" PRIu64 " signatures)\n",
			res.events, res.devices, res.signatures);
	}
	mutual_store_free(s);
	return status;
}

/* What a line printer of a list needs: the store (for shown names), the
 * output form, and how many lines came before (for JSON's commas). */
typedef struct {
	mutual_store *store;
	int json;
	int count;
} list_ctx;

static int status_device(const mutual_device_info *d, void *payload)
{
	list_ctx *ctx = payload;
	if (ctx->json) {
		printf("%s{\"id\":\"%s\",\"name\":%s,\"shown\":%s", ctx->count ? "," : "", d->id,
			term_json_string(d->name), term_json_string(shown_name(ctx->store, d->id)));
		printf(",\"events\":%" PRIu64 ",\"self\":%s,\"fork_seq\":%" PRIu64, d->events,
			d->is_self ? "true" : "false", d->fork_seq);
		if (d->removed)
			printf(",\"removed_after\":%" PRIu64, d->removed_cut);
		printf("}");
	} else {
		printf("  %-20s %.16s  %8" PRIu64 " events%s\n", term_text(shown_name(ctx->store, d->id)), d->id, d->events,
			d->is_self ? "  (this device)" : "");
		if (d->fork_seq)
			printf("  %20s FORKED: its key signed two logs; events from seq %" PRIu64
			       " on are quarantined%s\n", "", d->fork_seq,
				d->is_self ? " (run 'mutual recover')" : " until its owner recovers");
		if (d->removed)
			printf("  %20s REMOVED by a coordinator: its events after #%" PRIu64 " are refused\n", "",
				d->removed_cut);
	}
	ctx->count++;
	return 0;
}

/* ------------------------------------------------------------ coordinators */

static int coordinator_line(const char *id, void *payload)
{
	list_ctx *ctx = payload;
	if (ctx->json)
		printf("%s{\"id\":\"%s\",\"shown\":%s}", ctx->count ? "," : "", id,
			term_json_string(shown_name(ctx->store, id)));
	else
		printf("  %-20s %.16s%s\n", term_text(shown_name(ctx->store, id)), id,
			strcmp(id, mutual_store_device_id(ctx->store)) == 0 ? "  (this device)" : "");
	ctx->count++;
	return 0;
}

/* The coordinators, as a list ("coordinators" and "single_coordinator" in
 * JSON), warning while there is only one: its loss would leave nobody to
 * manage the group. */
static int print_coordinators(mutual_store *s, int json)
{
	list_ctx ctx = { s, json, 0 };
	int rc;
	printf(json ? ",\"coordinators\":[" : "coordinators\n");
	rc = mutual_coordinator_foreach(s, coordinator_line, &ctx);
	if (json) {
		printf("],\"single_coordinator\":%s", ctx.count == 1 ? "true" : "false");
	} else if (rc == 0 && ctx.count == 0) {
		printf("  none: no device may manage the group's membership\n");
	} else if (rc == 0 && ctx.count == 1) {
		printf("warning: the group has a single coordinator device; if it is lost or stolen nobody can\n"
		       "  manage the group. Make a second device a coordinator: mutual coordinator grant DEVICE\n");
	}
	return rc;
}

static int role_line(const mutual_role_action *a, void *payload)
{
	list_ctx *ctx = payload;
	char id[MUTUAL_EVENT_ID_STRLEN], cut[32] = "";
	mutual_event_id_format(id, sizeof(id), &a->id);
	if (strcmp(a->action, "revoke") == 0 || strcmp(a->action, "remove") == 0)
		snprintf(cut, sizeof(cut), " after seq %" PRIu64, a->cut);
	if (ctx->json) {
		printf("%s{\"id\":\"%s\",\"action\":\"%s\",\"target\":\"%s\",\"target_shown\":%s", ctx->count ? "," : "",
			id, a->action, a->target, term_json_string(shown_name(ctx->store, a->target)));
		if (strcmp(a->action, "revoke") == 0 || strcmp(a->action, "remove") == 0)
			printf(",\"cut\":%" PRIu64, a->cut);
		printf(",\"in_force\":%s,\"refused\":%s}", a->in_force ? "true" : "false",
			a->refused ? term_json_string(a->refused) : "null");
	} else {
		char by[2 * MUTUAL_KEY_SIZE + 1];
		hex(by, a->id.device, MUTUAL_KEY_SIZE);
		printf("  %-8s %s", strcmp(a->action, "found") == 0 ? "founded" : a->action, term_text(shown_name(ctx->store, by)));
		if (strcmp(a->action, "found") != 0)
			printf(" -> %s%s", term_text(shown_name(ctx->store, a->target)), cut);
		printf("  (%.16s #%" PRIu64 ")%s%s\n", by, a->id.seq, a->in_force ? "" : "\n           not counted: ",
			a->in_force ? "" : term_text(a->refused));
	}
	ctx->count++;
	return 0;
}

static int cmd_coordinators(const cmd_ctx *c)
{
	list_ctx roles;
	mutual_store *s;
	int json = 0, all = 0, rc, status;

	for (int i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(c->argv[i], "--all") == 0)
			all = 1;
		else
			return usage_error("coordinators: unexpected '%s'", c->argv[i]);
	}
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if (json)
		printf("{\"group\":%s", term_json_string(mutual_store_group_name(s)));
	rc = print_coordinators(s, json);
	if (rc == 0 && all) {
		roles.store = s;
		roles.json = json;
		roles.count = 0;
		printf(json ? ",\"role_events\":[" : "role events\n");
		rc = mutual_role_action_foreach(s, role_line, &roles);
		if (json)
			printf("]");
	}
	if (json)
		printf("}\n");
	if (rc < 0)
		status = report(rc);
	mutual_store_free(s);
	return status;
}

/* --after SEQ: a cut, a seq in decimal (never MUTUAL_CUT_HELD). */
static int parse_cut(uint64_t *cut, const char *v)
{
	char *end;
	errno = 0;
	*cut = strtoull(v, &end, 10);
	return !*v || *end || errno || v[0] == '-' || *cut == MUTUAL_CUT_HELD ? -1 : 0;
}

static int cmd_coordinator(const cmd_ctx *c)
{
	mutual_store *s;
	mutual_event_id id;
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t cut = MUTUAL_CUT_HELD;
	const char *who = NULL, *v;
	char text[MUTUAL_EVENT_ID_STRLEN], key[2 * MUTUAL_KEY_SIZE + 1];
	int grant, rc, status;

	if (c->argc < 3 || (strcmp(c->argv[1], "grant") != 0 && strcmp(c->argv[1], "revoke") != 0))
		return usage_error("coordinator: give 'grant DEVICE' or 'revoke DEVICE [--after SEQ]'");
	grant = strcmp(c->argv[1], "grant") == 0;
	for (int i = 2; i < c->argc; i++) {
		if (!grant && (v = opt_value(c, &i, "--after"))) {
			if (parse_cut(&cut, v) < 0)
				return usage_error("coordinator revoke: --after takes a seq, like 12");
		} else if (c->argv[i][0] == '-' || who) {
			return usage_error("coordinator %s: unexpected '%s'", c->argv[1], c->argv[i]);
		} else {
			who = c->argv[i];
		}
	}
	if (!who)
		return usage_error("coordinator %s: which device?", c->argv[1]);
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if ((rc = mutual_device_resolve(device, s, who)) == 0)
		rc = grant ? mutual_coordinator_grant(&id, s, device) : mutual_coordinator_revoke(&id, s, device, cut);
	if (rc < 0) {
		status = report(rc);
	} else {
		hex(key, device, MUTUAL_KEY_SIZE);
		mutual_event_id_format(text, sizeof(text), &id);
		if (grant)
			printf("%s is now a coordinator (event %s); sync to tell the group.\n", term_text(shown_name(s, key)), text);
		else
			printf("%s is no longer a coordinator (event %s); sync to tell the group.\n",
				term_text(shown_name(s, key)), text);
	}
	mutual_store_free(s);
	return status;
}

typedef struct {
	mutual_store *store;
	const char *who;
	int count;
} candidates_ctx;

/* A device whose name or display form starts like `who` (any case), or
 * whose id does: one of those an ambiguous DEVICE could mean. */
static int candidate_line(const mutual_device_info *d, void *payload)
{
	candidates_ctx *ctx = payload;
	const char *shown = shown_name(ctx->store, d->id);
	size_t n = strlen(ctx->who);
	if (strncasecmp(d->name, ctx->who, n) == 0 || strncasecmp(shown, ctx->who, n) == 0 ||
	    strncasecmp(d->id, ctx->who, n) == 0) {
		fprintf(stderr, "  %-24s %s  %" PRIu64 " events\n", term_text(shown), d->id, d->events);
		ctx->count++;
	}
	return 0;
}

typedef struct {
	const char *id;
	uint64_t cut;
} removed_ctx;

static int removed_cut_of(const mutual_device_info *d, void *payload)
{
	removed_ctx *r = payload;
	if (strcmp(d->id, r->id) == 0 && d->removed)
		r->cut = d->removed_cut;
	return 0;
}

static int cmd_remove(const cmd_ctx *c)
{
	mutual_store *s;
	mutual_event_id id;
	uint8_t device[MUTUAL_KEY_SIZE];
	uint64_t cut = MUTUAL_CUT_HELD;
	const char *who = NULL, *v;
	char text[MUTUAL_EVENT_ID_STRLEN], key[2 * MUTUAL_KEY_SIZE + 1];
	int json = 0, rc, status;

	for (int i = 1; i < c->argc; i++) {
		if ((v = opt_value(c, &i, "--after"))) {
			if (parse_cut(&cut, v) < 0)
				return usage_error("remove: --after takes a seq, like 12");
		} else if (strcmp(c->argv[i], "--json") == 0) {
			json = 1;
		} else if (c->argv[i][0] == '-' || who) {
			return usage_error("remove: unexpected '%s'", c->argv[i]);
		} else {
			who = c->argv[i];
		}
	}
	if (!who)
		return usage_error("remove: which device? (a name, an id prefix or name~suffix: see mutual status)");
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	rc = mutual_device_resolve(device, s, who);
	if (rc == MUTUAL_EINVALID && *who) {
		candidates_ctx cand = { s, who, 0 };
		status = report(rc);
		fprintf(stderr, "mutual: '%s' could mean more than one device; give one of these ids (or a longer"
			" prefix):\n", term_text(who));
		mutual_device_foreach(s, candidate_line, &cand);
		mutual_store_free(s);
		return status;
	}
	if (rc == 0)
		rc = mutual_device_remove(&id, s, device, cut);
	if (rc < 0) {
		status = report(rc);
	} else {
		removed_ctx removed = { key, 0 };
		hex(key, device, MUTUAL_KEY_SIZE);
		if ((rc = mutual_device_foreach(s, removed_cut_of, &removed)) < 0)
			status = report(rc);
		mutual_event_id_format(text, sizeof(text), &id);
		if (json)
			printf("{\"removed\":\"%s\",\"shown\":%s,\"cut\":%" PRIu64 ",\"event\":\"%s\",\"key_rotated\":true}\n",
				key, term_json_string(shown_name(s, key)), removed.cut, text);
		else
			printf("%s is removed from the group (event %s): its events after #%" PRIu64 " are refused on\n"
			       "every device that learns of it, and the group key rotated: what the group writes from\n"
			       "now on is sealed with a key the removed device never receives. Sync to tell the group.\n"
			       "It keeps what it already had (docs/membership.md).\n",
				term_text(shown_name(s, key)), text, removed.cut);
	}
	mutual_store_free(s);
	return status;
}

static int cmd_rotate(const cmd_ctx *c)
{
	mutual_store *s;
	mutual_event_id id;
	char text[MUTUAL_EVENT_ID_STRLEN];
	int json = 0, rc, status;

	for (int i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--json") == 0)
			json = 1;
		else
			return usage_error("rotate: unexpected '%s'", c->argv[i]);
	}
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if ((rc = mutual_key_rotate(&id, s)) < 0) {
		status = report(rc);
	} else {
		mutual_event_id_format(text, sizeof(text), &id);
		if (json)
			printf("{\"event\":\"%s\"}\n", text);
		else
			printf("the group key rotated (event %s): the new key is sealed to every device of the group\n"
			       "this store holds, except removed ones; from the next sync on, what they write is sealed\n"
			       "with it, so a lost stick or copy of an old key opens nothing new. Sync to pass it on.\n",
				text);
	}
	mutual_store_free(s);
	return status;
}

static int cmd_status(const cmd_ctx *c)
{
	list_ctx ctx = { NULL, 0, 0 };
	mutual_store *s;
	uint64_t waiting = 0, held_back = 0;
	int rc, status;

	for (int i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--json") == 0)
			ctx.json = 1;
		else
			return usage_error("status: unexpected '%s'", c->argv[i]);
	}
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	ctx.store = s;
	if (ctx.json) {
		printf("{\"group\":%s,\"group_id\":%s,\"device\":\"%s\",\"device_name\":%s",
			term_json_string(mutual_store_group_name(s)), term_json_string(mutual_store_group_id(s)),
			mutual_store_device_id(s), term_json_string(mutual_store_device_name(s)));
		printf(",\"readonly\":%s,\"devices\":[", mutual_store_is_readonly(s) ? "true" : "false");
	} else {
		printf("group   %s (%s)\n", term_text(mutual_store_group_name(s)), term_text(mutual_store_group_id(s)));
		printf("device  %s (%s)\n", term_text(shown_name(s, mutual_store_device_id(s))), mutual_store_device_id(s));
		printf("store   %s%s\n", term_text(c->store), mutual_store_is_readonly(s) ? " (read-only)" : "");
		printf("devices\n");
	}
	rc = mutual_device_foreach(s, status_device, &ctx);
	if (ctx.json)
		printf("]");
	if (rc == 0)
		rc = mutual_pending_count(s, &waiting, &held_back);
	if (rc == 0)
		rc = print_coordinators(s, ctx.json);
	if (ctx.json)
		printf(",\"waiting\":%" PRIu64 ",\"held_back\":%" PRIu64 "}\n", waiting, held_back);
	else if (waiting || held_back)
		printf("not applied yet\n  %" PRIu64 " event(s) waiting for an event they name that this device does not"
		       " hold\n  %" PRIu64 " event(s) held back: their clock runs too far ahead (see 'mutual log')\n",
			waiting, held_back);
	if (rc < 0)
		status = report(rc);
	mutual_store_free(s);
	return status;
}

typedef struct {
	int bar;            /* drawing a progress bar on stderr */
	int drawn;
	struct timespec last;
} progress_ctx;

static int draw_progress(const mutual_sync_progress *p, void *payload)
{
	static const char *const phases[] = { "", "sealing", "receiving", "importing", "sending" };
	progress_ctx *ctx = payload;
	struct timespec now;
	long ms;

	if (!ctx->bar)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - ctx->last.tv_sec) * 1000 + (now.tv_nsec - ctx->last.tv_nsec) / 1000000;
	if (ctx->drawn && ms < 100)
		return 0;
	ctx->last = now;
	ctx->drawn = 1;
	if (p->total) {
		int width = 30, filled = (int)(width * (p->done > p->total ? 1.0 : (double)p->done / (double)p->total));
		fprintf(stderr, "\r%-10s [%-*.*s] %" PRIu64 "/%" PRIu64 "   ", phases[p->phase < 5 ? p->phase : 0], width,
			filled, "##############################", p->done, p->total);
	} else {
		fprintf(stderr, "\r%-10s %" PRIu64 " (%" PRIu64 " events imported)   ", phases[p->phase < 5 ? p->phase : 0],
			p->done, p->events_imported);
	}
	fflush(stderr);
	return 0;
}

/* A refusal, or a warning that refuses nothing (its reason starts so). */
static void print_refusal(const char *device, const char *reason, void *payload)
{
	int warning = strncmp(reason, "warning: ", 9) == 0;
	(void)payload;
	fprintf(stderr, "mutual: %s%s%s: %s\n", warning ? "warning:" : "refused", *device ? " device " : "",
		term_textn(device, strnlen(device, 16)), term_text(warning ? reason + 9 : reason));
}

static int cmd_sync(const cmd_ctx *c)
{
	mutual_sync_options opts = MUTUAL_SYNC_OPTIONS_INIT;
	mutual_sync_stats st = MUTUAL_SYNC_STATS_INIT;
	progress_ctx progress = { 0, 0, { 0, 0 } };
	const char *target = NULL;
	mutual_store *s;
	uint64_t waiting = 0, held_back = 0;
	int json = 0, rc, status;

	for (int i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--json") == 0)
			json = 1;
		else if (!target)
			target = c->argv[i];
		else
			return usage_error("sync: unexpected '%s'", c->argv[i]);
	}
	if (!target)
		return usage_error("%s", "sync needs a TARGET: a folder (the stick), a FILE.bundle, or a git URL");
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	progress.bar = !json && isatty(STDERR_FILENO);
	opts.progress = draw_progress;
	opts.progress_payload = &progress;
	opts.refusal = print_refusal;
	rc = mutual_sync(&st, s, target, &opts);
	if (progress.drawn)
		fprintf(stderr, "\r%-70s\r", "");
	if (json) {
		printf("{\"ok\":%s,\"events_sent\":%" PRIu64 ",\"events_received\":%" PRIu64
		       ",\"segments_sent\":%" PRIu64 ",\"segments_received\":%" PRIu64 ",\"devices_updated\":%" PRIu64
		       ",\"refused\":%" PRIu64 ",\"newer_format\":%" PRIu64 ",\"objects_sent\":%" PRIu64
		       ",\"objects_received\":%" PRIu64 ",\"segments_opened\":%" PRIu64 ",\"forks_found\":%" PRIu64
		       ",\"forked_devices\":%" PRIu64 ",\"future_events\":%" PRIu64 ",\"segments_without_key\":%" PRIu64
		       ",\"own_events_waiting\":%" PRIu64 ",\"safe_to_remove\":%s,\"error\":%s}\n",
			rc == 0 ? "true" : "false", st.events_sent, st.events_received, st.segments_sent,
			st.segments_received, st.devices_updated, st.refused, st.newer_format, st.objects_sent,
			st.objects_received, st.segments_opened, st.forks_found, st.forked_devices, st.future_events,
			st.segments_without_key, st.own_events_waiting, st.safe_to_remove ? "true" : "false",
			term_json_string(rc < 0 ? mutual_error_last() : ""));
	} else if (rc == 0 || rc == MUTUAL_EREFUSED) {
		printf("sent %" PRIu64 " events (%" PRIu64 " segments), received %" PRIu64 " events from %" PRIu64
		       " devices\n", st.events_sent, st.segments_sent, st.events_received, st.devices_updated);
		if (st.newer_format)
			printf("the target holds %" PRIu64 " log(s) of a newer libmutual: kept and passed on; "
			       "upgrade libmutual to read them\n", st.newer_format);
		if (st.segments_without_key)
			printf("%" PRIu64 " segment(s) are sealed with a group key this device has not received yet: "
			       "held back, imported once a coordinator's key for this device arrives\n",
				st.segments_without_key);
		if (st.own_events_waiting)
			printf("%" PRIu64 " of this device's event(s) were not sent: no group key may seal them yet (see the\n"
			       "warning above); they go with the first sync after a coordinator's new key arrives\n",
				st.own_events_waiting);
		if (st.refused)
			printf("refused %" PRIu64 " log(s): see the messages above\n", st.refused);
		if (st.future_events)
			printf("warning: %" PRIu64 " event(s) carry a clock more than a day ahead of this one: a device's "
			       "clock is wrong; its later events sort after them\n", st.future_events);
		if (st.forked_devices)
			printf("%" PRIu64 " forked device(s): their events after the fork are quarantined "
			       "(see 'mutual status')\n", st.forked_devices);
		if (mutual_pending_count(s, &waiting, &held_back) == 0 && (waiting || held_back))
			printf("%" PRIu64 " event(s) wait for events they name, %" PRIu64 " are held back for their clock: "
			       "kept and passed on, not applied (see 'mutual status')\n", waiting, held_back);
		printf("%s\n", st.safe_to_remove ? "Everything is written: the stick is safe to remove."
						 : "NOT safe to remove the stick yet.");
	}
	mutual_store_free(s);
	if (rc < 0) {
		if (!json && rc != MUTUAL_EREFUSED)
			fprintf(stderr, "mutual: %s\n", term_text(mutual_error_last()));
		return exit_status_of(rc);
	}
	return EXIT_OK;
}

static int print_event_id(int rc, const mutual_event_id *id)
{
	char buf[MUTUAL_EVENT_ID_STRLEN];
	if (rc < 0)
		return report(rc);
	mutual_event_id_format(buf, sizeof(buf), id);
	printf("%s\n", buf);
	return EXIT_OK;
}

static int cmd_put(const cmd_ctx *c)
{
	mutual_event_id id;
	mutual_store *s;
	int status;
	if (c->argc != 4)
		return usage_error("%s", "put needs KIND ID JSON, like: put request r1 '{\"status\":\"open\"}'");
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	status = print_event_id(mutual_entity_put(&id, s, c->argv[1], c->argv[2], c->argv[3]), &id);
	mutual_store_free(s);
	return status;
}

static int cmd_del(const cmd_ctx *c)
{
	mutual_event_id id;
	mutual_store *s;
	int status;
	if (c->argc != 3)
		return usage_error("%s", "del needs KIND ID");
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	status = print_event_id(mutual_entity_delete(&id, s, c->argv[1], c->argv[2]), &id);
	mutual_store_free(s);
	return status;
}

static int cmd_add(const cmd_ctx *c)
{
	mutual_event_id id;
	mutual_store *s;
	int status;
	if (c->argc != 3)
		return usage_error("%s", "add needs KEY DELTA, like: add rice-kg 12.5");
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	status = print_event_id(mutual_counter_add(&id, s, c->argv[1], c->argv[2]), &id);
	mutual_store_free(s);
	return status;
}

/* One line of `mutual batch` into `b`: its verb and TAB-separated
 * fields (the last one, JSON, is the rest of the line). A line that is
 * not one of ours sets `*why`; the library's refusals its last error. */
static int batch_line(mutual_batch *b, char *line, const char **why)
{
	static const struct {
		const char *verb;
		int fields;
	} verbs[] = { { "put", 3 }, { "del", 2 }, { "add", 2 }, { "append", 2 } };
	char *f[4] = { line, NULL, NULL, NULL }, *tab = strchr(line, '\t');
	int want = -1, rc;

	if (tab)
		*tab = '\0';
	for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (strcmp(line, verbs[k].verb) == 0)
			want = verbs[k].fields;
	if (want < 0) {
		*why = "a line begins with put, del, add or append and a TAB";
		return MUTUAL_EINVALID;
	}
	/* The last field is the rest of the line: JSON may hold a TAB. */
	for (int i = 1; i <= want; i++) {
		if (!tab) {
			*why = want == 3 ? "put takes KIND, ID and JSON, split by TABs"
					 : "del, add and append take two fields, split by a TAB";
			return MUTUAL_EINVALID;
		}
		f[i] = tab + 1;
		tab = i < want ? strchr(f[i], '\t') : NULL;
		if (tab)
			*tab = '\0';
	}
	if (strcmp(f[0], "put") == 0)
		rc = mutual_batch_entity_put(b, f[1], f[2], f[3]);
	else if (strcmp(f[0], "del") == 0)
		rc = mutual_batch_entity_delete(b, f[1], f[2]);
	else if (strcmp(f[0], "add") == 0)
		rc = mutual_batch_counter_add(b, f[1], f[2]);
	else
		rc = mutual_batch_append(b, f[1], f[2]);
	if (rc < 0)
		*why = mutual_error_last();
	return rc;
}

/* Many writes of one action (an import, a script's run) as one batch:
 * every line is checked before anything is written, then all of them are
 * written in one transaction, or none. */
static int cmd_batch(const cmd_ctx *c)
{
	char id[MUTUAL_EVENT_ID_STRLEN], *line = NULL;
	const char *why = NULL;
	size_t cap = 0, lineno = 0, n;
	mutual_event_id first;
	mutual_batch *b = NULL;
	mutual_store *s = NULL;
	FILE *in;
	ssize_t len;
	int rc = 0, status;

	if (c->argc != 2)
		return usage_error("%s", "batch needs FILE, or - to read the lines from stdin");
	if (!(in = strcmp(c->argv[1], "-") == 0 ? stdin : fopen(c->argv[1], "r"))) {
		fprintf(stderr, "mutual: cannot read %s: %s\n", term_text(c->argv[1]), strerror(errno));
		return EXIT_FAIL;
	}
	if ((status = open_store(&s, c)) != EXIT_OK)
		goto done;
	if ((rc = mutual_batch_new(&b, s)) < 0) {
		status = report(rc);
		goto done;
	}
	while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
		lineno++;
		if ((size_t)len != strlen(line)) {
			why = "it holds a NUL byte; the input must be text";
			rc = MUTUAL_EINVALID;
			break;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len > 0 && line[0] != '#')
			rc = batch_line(b, line, &why);
	}
	if (rc < 0) {
		fprintf(stderr, "mutual: line %zu: %s (nothing was written)\n", lineno, term_text(why));
		status = EXIT_FAIL;
		goto done;
	}
	if (ferror(in)) {
		fprintf(stderr, "mutual: cannot read %s: %s (nothing was written)\n", term_text(c->argv[1]),
			strerror(errno));
		status = EXIT_FAIL;
		goto done;
	}
	n = mutual_batch_count(b);
	if ((rc = mutual_batch_commit(&first, b)) < 0) {
		status = report(rc);
		goto done;
	}
	if (n == 0) {
		printf("nothing to write\n");
	} else {
		mutual_event_id_format(id, sizeof(id), &first);
		printf("%s\n%zu event(s) written in one transaction\n", id, n);
	}
done:
	mutual_batch_free(b);
	mutual_store_free(s);
	free(line);
	if (in != stdin)
		fclose(in);
	return status;
}

/* `state`: the typed walk (mutual_entity_foreach), shown for a person or
 * as mutual_state_json's canonical JSON. The output is gathered whole and
 * printed once the walk succeeded, so a failure never leaves half a
 * listing behind. */
#define STATE_MORE 1  /* a callback's stop: the page is full and more follow */
#define STATE_NOMEM 2 /* a callback's stop: out of memory */

typedef struct {
	FILE *out;
	mutual_store *store;
	int json;
	uint64_t limit, shown; /* limit 0: all */
	char *next;            /* the page's last cursor, once the page is full */
} state_walk;

static void put_file(void *to, const char *s, size_t n)
{
	fwrite(s, 1, n, to);
}

/* An entity's registers in byte order of their names, "_deleted" among
 * the fields, as mutual_state_json lists "writers" and "conflicts": the
 * k-th of n_fields + 1; `at` is the number of fields before "_deleted". */
static const mutual_entity_field *register_at(const mutual_entity *e, size_t k, size_t at)
{
	return k < at ? &e->fields[k] : k == at ? &e->deletion : &e->fields[k - 1];
}

static void put_write_json(FILE *out, const mutual_field_write *w, int with_value)
{
	char dev[2 * MUTUAL_KEY_SIZE + 1];
	hex(dev, w->device, MUTUAL_KEY_SIZE);
	fprintf(out, "{\"device\":\"%s\",\"hlc\":%" PRIu64 ",\"seq\":%" PRIu64, dev, w->hlc, w->seq);
	if (with_value)
		fprintf(out, ",\"value\":%s", term_json(w->value, strlen(w->value)));
	fputc('}', out);
}

static void put_entity_json(FILE *out, const mutual_entity *e, int first)
{
	size_t at = 0, n = e->n_fields + 1;
	int any = 0;
	while (at < e->n_fields && strcmp(e->fields[at].name, "_deleted") < 0)
		at++;
	fputs(first ? "{\"conflicts\":{" : ",{\"conflicts\":{", out);
	for (size_t k = 0; k < n; k++) {
		const mutual_entity_field *f = register_at(e, k, at);
		if (!f->n_conflicts)
			continue;
		if (any++)
			fputc(',', out);
		term_json_quote(put_file, out, f->name);
		fputs(":[", out);
		for (size_t i = 0; i < f->n_conflicts; i++) {
			if (i)
				fputc(',', out);
			put_write_json(out, &f->conflicts[i], 1);
		}
		fputc(']', out);
	}
	fprintf(out, "},\"deleted\":%s,\"fields\":{", e->deleted ? "true" : "false");
	for (size_t i = 0; i < e->n_fields; i++) {
		if (i)
			fputc(',', out);
		term_json_quote(put_file, out, e->fields[i].name);
		fprintf(out, ":%s", term_json(e->fields[i].write.value, strlen(e->fields[i].write.value)));
	}
	fputs("},\"id\":", out);
	term_json_quote(put_file, out, e->id);
	fputs(",\"writers\":{", out);
	for (size_t k = 0; k < n; k++) {
		const mutual_entity_field *f = register_at(e, k, at);
		if (k)
			fputc(',', out);
		term_json_quote(put_file, out, f->name);
		fputc(':', out);
		put_write_json(out, &f->write, 0);
	}
	fputs("}}", out);
}

/* The id as a JSON string, then a line per field: its name (escaped as in
 * JSON, without the quotes) and its value as JSON, then its conflicts. */
static void put_entity_human(FILE *out, mutual_store *s, const mutual_entity *e)
{
	fprintf(out, "%s%s\n", term_json_string(e->id), e->deleted ? "  (deleted)" : "");
	for (size_t i = 0; i < e->n_fields; i++) {
		const mutual_entity_field *f = &e->fields[i];
		const char *name = term_json_string(f->name);
		fprintf(out, "  %-14.*s %s\n", (int)strlen(name) - 2, name + 1,
			term_json(f->write.value, strlen(f->write.value)));
		for (size_t k = 0; k < f->n_conflicts; k++) {
			const mutual_field_write *w = &f->conflicts[k];
			char when[32], dev[2 * MUTUAL_KEY_SIZE + 1];
			time_t secs = (time_t)((w->hlc >> 16) / 1000);
			struct tm tm;
			localtime_r(&secs, &tm);
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
			hex(dev, w->device, MUTUAL_KEY_SIZE);
			fprintf(out, "  %-14s   CONFLICT: also %s (by %s, event %" PRIu64 ", %s)\n", "",
				term_json(w->value, strlen(w->value)), term_text(shown_name(s, dev)), w->seq, when);
		}
	}
	if (e->deletion.n_conflicts)
		fprintf(out, "  %-14s   CONFLICT: deleted and edited at once; the next change settles it\n", "");
}

static int state_entity(const mutual_entity *e, void *payload)
{
	state_walk *w = payload;
	if (w->limit && w->shown == w->limit)
		return STATE_MORE; /* one past the page: there is a next one */
	if (w->json)
		put_entity_json(w->out, e, w->shown == 0);
	else
		put_entity_human(w->out, w->store, e);
	w->shown++;
	if (w->limit && w->shown == w->limit && !(w->next = strdup(e->cursor)))
		return STATE_NOMEM;
	return 0;
}

static int state_exists(const mutual_entity *e, void *payload)
{
	(void)e;
	(void)payload;
	return 1;
}

/* Whether `v` is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const char *v)
{
	const char *p = v;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (*p == '.') {
		if (!(*++p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

/* A --where VALUE as JSON: as given when it is JSON (a number, true,
 * false, null, or a string, array or object, which the walk checks),
 * else the text as a JSON string; the caller's to free. */
static char *where_value(const char *v)
{
	char *json = NULL;
	size_t len = 0;
	FILE *f;
	if (is_json_number(v) || strcmp(v, "true") == 0 || strcmp(v, "false") == 0 || strcmp(v, "null") == 0 ||
	    v[0] == '"' || v[0] == '[' || v[0] == '{')
		return strdup(v);
	if (!(f = open_memstream(&json, &len)))
		return NULL;
	term_json_quote(put_file, f, v);
	if (fclose(f) != 0) {
		free(json);
		return NULL;
	}
	return json;
}

static int cmd_state(const cmd_ctx *c)
{
	mutual_entity_options o = MUTUAL_ENTITY_OPTIONS_INIT;
	mutual_entity_where where[MUTUAL_ENTITY_WHERE_MAX];
	char *owned[2 * MUTUAL_ENTITY_WHERE_MAX], *doc = NULL;
	const char *kind = NULL, *id = NULL, *limit = NULL, *v;
	size_t n_owned = 0, doc_len = 0;
	state_walk w = { 0 };
	mutual_store *s = NULL;
	int json = 0, rc, status = EXIT_OK;

	o.include_deleted = 1;
	for (int i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(c->argv[i], "--live") == 0) {
			o.include_deleted = 0;
		} else if (strcmp(c->argv[i], "--desc") == 0) {
			o.descending = 1;
		} else if ((v = opt_value(c, &i, "--order"))) {
			o.order_by = v;
		} else if ((v = opt_value(c, &i, "--limit"))) {
			limit = v;
		} else if ((v = opt_value(c, &i, "--after"))) {
			o.after = v;
		} else if ((v = opt_value(c, &i, "--where"))) {
			const char *eq = strchr(v, '=');
			char *field, *value;
			if (!eq || eq == v) {
				status = usage_error("--where needs FIELD=VALUE, not '%s'", v);
				goto done;
			}
			if (o.n_where == MUTUAL_ENTITY_WHERE_MAX) {
				status = usage_error("state takes at most %d --where filters", MUTUAL_ENTITY_WHERE_MAX);
				goto done;
			}
			field = strndup(v, (size_t)(eq - v));
			value = where_value(eq + 1);
			if (field)
				owned[n_owned++] = field;
			if (value)
				owned[n_owned++] = value;
			if (!field || !value) {
				fprintf(stderr, "mutual: out of memory\n");
				status = EXIT_FAIL;
				goto done;
			}
			where[o.n_where].field = field;
			where[o.n_where].value = value;
			o.n_where++;
		} else if (strncmp(c->argv[i], "--", 2) == 0) {
			status = usage_error("state: unknown option '%s'", c->argv[i]);
			goto done;
		} else if (!kind) {
			kind = c->argv[i];
		} else if (!id) {
			id = c->argv[i];
		} else {
			status = usage_error("state: unexpected '%s'", c->argv[i]);
			goto done;
		}
	}
	if (!kind) {
		status = usage_error("%s", "state needs a KIND (and optionally an ID)");
		goto done;
	}
	if (limit) {
		char *end;
		errno = 0;
		w.limit = strtoull(limit, &end, 10);
		if (errno || *end || !*limit || limit[0] == '-' || w.limit == 0) {
			status = usage_error("--limit needs a whole number of at least 1, not '%s'", limit);
			goto done;
		}
	}
	o.kind = kind;
	o.id = id;
	o.where = o.n_where ? where : NULL;
	if ((status = open_store(&s, c)) != EXIT_OK)
		goto done;
	if (!(w.out = open_memstream(&doc, &doc_len))) {
		fprintf(stderr, "mutual: out of memory\n");
		status = EXIT_FAIL;
		goto done;
	}
	w.store = s;
	w.json = json;
	if (json)
		fputs("{\"entities\":[", w.out);
	rc = mutual_entity_foreach(s, &o, state_entity, &w);
	if (rc == STATE_NOMEM) {
		fprintf(stderr, "mutual: out of memory\n");
		status = EXIT_FAIL;
		goto done;
	}
	if (rc < 0) {
		status = report(rc);
		goto done;
	}
	if (id && w.shown == 0) {
		/* No such entity at all, or one the filters leave out. */
		mutual_entity_options one = MUTUAL_ENTITY_OPTIONS_INIT;
		one.kind = kind;
		one.id = id;
		one.include_deleted = 1;
		if ((rc = mutual_entity_foreach(s, &one, state_exists, NULL)) < 0) {
			status = report(rc);
			goto done;
		}
		if (rc == 0) {
			fprintf(stderr, "mutual: there is no %s with id '%s'\n", term_text(kind), term_text(id));
			status = exit_status_of(MUTUAL_ENOTFOUND);
			goto done;
		}
	}
	if (rc != STATE_MORE) {
		free(w.next);
		w.next = NULL;
	}
	if (json) {
		fputs("],\"kind\":", w.out);
		term_json_quote(put_file, w.out, kind);
		if (w.next) {
			fputs(",\"next\":", w.out);
			term_json_quote(put_file, w.out, w.next);
		}
		fputs("}\n", w.out);
	} else if (w.next) {
		fprintf(w.out, "next page: --after %s\n", term_text(w.next));
	}
	if (fclose(w.out) != 0) {
		w.out = NULL;
		fprintf(stderr, "mutual: out of memory\n");
		status = EXIT_FAIL;
		goto done;
	}
	w.out = NULL;
	fwrite(doc, 1, doc_len, stdout);
done:
	if (w.out)
		fclose(w.out);
	free(doc);
	free(w.next);
	for (size_t i = 0; i < n_owned; i++)
		free(owned[i]);
	mutual_store_free(s);
	return status;
}

static int cmd_counters(const cmd_ctx *c)
{
	const char *key = NULL;
	char *out = NULL;
	mutual_store *s;
	int rc, status;
	for (int i = 1; i < c->argc; i++) {
		if (strcmp(c->argv[i], "--json") == 0)
			continue; /* the output is JSON either way */
		else if (!key)
			key = c->argv[i];
		else
			return usage_error("counters: unexpected '%s'", c->argv[i]);
	}
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if ((rc = mutual_counters_json(&out, s, key)) < 0)
		status = report(rc);
	else
		printf("%s\n", term_json(out, strlen(out)));
	mutual_free(out);
	mutual_store_free(s);
	return status;
}

static int cmd_rebuild(const cmd_ctx *c)
{
	mutual_projection_stats st = MUTUAL_PROJECTION_STATS_INIT;
	mutual_store *s;
	int rc, status;
	if (c->argc != 1)
		return usage_error("rebuild: unexpected '%s'", c->argv[1]);
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if ((rc = mutual_rebuild(s)) < 0) {
		status = report(rc);
	} else {
		mutual_projection_stats_get(&st, s);
		printf("rebuilt: %" PRIu64 " events applied\n", st.events_applied);
	}
	mutual_store_free(s);
	return status;
}

static int cmd_recover(const cmd_ctx *c)
{
	uint64_t n = 0;
	mutual_store *s;
	int rc, status;

	if (c->argc != 1)
		return usage_error("recover: unexpected '%s'", c->argv[1]);
	if ((status = open_store(&s, c)) != EXIT_OK)
		return status;
	if ((rc = mutual_store_recover(&n, s)) < 0) {
		status = report(rc);
	} else {
		printf("This device now writes under a new key: %s\n", mutual_store_device_id(s));
		printf("re-appended %" PRIu64 " quarantined event(s); sync to pass them on.\n", n);
	}
	mutual_store_free(s);
	return status;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const cmd_ctx *c);
		int needs_store;
	} commands[] = {
		{ "init", cmd_init, 1 }, { "invite", cmd_invite, 1 }, { "join", cmd_join, 1 },
		{ "append", cmd_append, 1 }, { "log", cmd_log, 1 }, { "show", cmd_show, 1 },
		{ "verify", cmd_verify, 1 }, { "status", cmd_status, 1 }, { "sync", cmd_sync, 1 },
		{ "recover", cmd_recover, 1 }, { "put", cmd_put, 1 }, { "del", cmd_del, 1 },
		{ "state", cmd_state, 1 }, { "add", cmd_add, 1 }, { "counters", cmd_counters, 1 },
		{ "rebuild", cmd_rebuild, 1 }, { "batch", cmd_batch, 1 }, { "coordinators", cmd_coordinators, 1 },
		{ "coordinator", cmd_coordinator, 1 }, { "remove", cmd_remove, 1 }, { "rotate", cmd_rotate, 1 },
	};
	cmd_ctx c = { getenv("MUTUAL_STORE"), 0, NULL };
	int i = 1, status;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage, stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("mutual %s\n", mutual_version());
			return EXIT_OK;
		} else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			c.store = argv[++i];
		} else if (strncmp(argv[i], "--store=", 8) == 0) {
			c.store = argv[i] + 8;
		} else {
			return usage_error("unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[i], "version") == 0) {
		printf("mutual %s\n", mutual_version());
		return EXIT_OK;
	}
	c.argc = argc - i;
	c.argv = argv + i;
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strcmp(commands[k].name, argv[i]) != 0)
			continue;
		if (commands[k].needs_store && (!c.store || !*c.store))
			return usage_error("%s needs --store DIR (or MUTUAL_STORE set)", argv[i]);
		status = commands[k].run(&c);
		if (term_failed()) {
			/* a value printed as "?" must not pass for the output */
			fprintf(stderr, "mutual: out of memory while printing: the output above is incomplete\n");
			return EXIT_FAIL;
		}
		return status;
	}
	return usage_error("unknown command '%s'", argv[i]);
}
