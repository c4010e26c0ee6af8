/* tools/tern_cmds.c: the `tern` CLI's znode commands (zkCli's everyday
 * set with friendlier output): ls, get, set, create, delete, deleteall,
 * stat, getAcl, setAcl, sync, watch, whoami. Each is a struct tern_cmd
 * registered with TERN_CLI_REGISTER (tools/tern_cli.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tn_assert.h"
#include "tools/tern_cli.h"

#define LS_DEPTH_MAX 256  /* ls -R and deleteall recursion */
#define WATCH_TURN_MS 200 /* watch: loop turn, so signals are seen */

/* Options of one command: flags from @flags ("Rv:" style: ':' = takes a value),
 * positionals collected in order. Return: 0, or -1 after printing usage. */
struct opts {
	char flag[128];       /* flag[c] set if -c was given */
	const char *val[128]; /* its value */
	const char *pos[8];
	int npos;
};

static int parse_opts(struct tern_cli *ctx, int argc, char **argv, const char *flags, int min_pos,
		      int max_pos, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *f = a[0] == '-' && a[1] && !a[2] ? strchr(flags, a[1]) : NULL;
		if (f && a[1] != ':') {
			unsigned char k = (unsigned char)a[1];
			if (f[1] == ':') {
				if (i + 1 >= argc)
					return tern_cli_usage(ctx, "option needs a value"), -1;
				o->val[k & 127] = argv[++i];
			}
			o->flag[k & 127] = 1;
		} else if (o->npos < (int)TN_ARRAY_LEN(o->pos)) {
			o->pos[o->npos++] = a;
		} else {
			return tern_cli_usage(ctx, "too many arguments"), -1;
		}
	}
	if (o->npos < min_pos || o->npos > max_pos)
		return tern_cli_usage(ctx, o->npos < min_pos ? "missing argument"
							     : "too many arguments"),
		       -1;
	return 0;
}

/* Parse the options, then open the session: TERN_EXIT_OK or the exit status. */
static int cmd_begin(struct tern_cli *ctx, int argc, char **argv, const char *flags, int min,
		     int max, struct opts *o, struct ternc **zk)
{
	if (parse_opts(ctx, argc, argv, flags, min, max, o) < 0)
		return TERN_EXIT_USAGE;
	return tern_cli_session(ctx, zk);
}

static int parse_version(struct tern_cli *ctx, const struct opts *o, int32_t *version)
{
	*version = -1;
	if (!o->flag['v'])
		return 0;
	char *end = NULL;
	long v = strtol(o->val['v'], &end, 10);
	if (!end || *end || v < -1 || v > INT32_MAX)
		return tern_cli_usage(ctx, "bad version"), -1;
	*version = (int32_t)v;
	return 0;
}

static void print_time(const char *name, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[64];
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("%-15s %s (%" PRId64 ")\n", name, buf, ms);
}

static void print_stat(const struct zstat *st)
{
	printf("%-15s 0x%" PRIx64 "\n", "cZxid", (uint64_t)st->czxid);
	print_time("ctime", st->ctime);
	printf("%-15s 0x%" PRIx64 "\n", "mZxid", (uint64_t)st->mzxid);
	print_time("mtime", st->mtime);
	printf("%-15s 0x%" PRIx64 "\n", "pZxid", (uint64_t)st->pzxid);
	printf("%-15s %d\n%-15s %d\n%-15s %d\n", "cversion", st->cversion, "dataVersion",
	       st->version, "aclVersion", st->aversion);
	printf("%-15s 0x%" PRIx64 "\n", "ephemeralOwner", (uint64_t)st->ephemeral_owner);
	printf("%-15s %d\n%-15s %d\n", "dataLength", st->data_length, "numChildren",
	       st->num_children);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- ls ---- */

static void join(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
}

/* Children of @path sorted, as a result the caller frees. */
static int children_sorted(struct ternc *zk, const char *path, struct ternc_result **r)
{
	int rc = ternc_children_sync(zk, path, NULL, NULL, r);
	if (rc == ZK_OK && (*r)->count > 1)
		qsort((void *)(*r)->names, (size_t)(*r)->count, sizeof(char *), cmp_str);
	return rc;
}

static int ls_rec(struct tern_cli *ctx, struct ternc *zk, const char *path, int depth, bool *first)
{
	struct ternc_result *r = NULL;
	int rc = children_sorted(zk, path, &r);
	if (rc == ZK_ENONODE && depth > 0)
		return ZK_OK; /* deleted while we walked */
	if (rc != ZK_OK)
		return rc;
	for (int32_t i = 0; i < r->count && rc == ZK_OK; i++) {
		char child[TERNC_PATH_MAX];
		join(child, sizeof(child), path, r->names[i]);
		if (ctx->json) {
			fputs(*first ? "" : ",", stdout);
			tern_json_str(stdout, child, strlen(child));
		} else {
			puts(child);
		}
		*first = false;
		if (depth + 1 < LS_DEPTH_MAX)
			rc = ls_rec(ctx, zk, child, depth + 1, first);
	}
	ternc_result_free(r);
	return rc;
}

/* One name per line, or a JSON array of strings. */
static void print_names(const struct tern_cli *ctx, const struct ternc_result *r)
{
	if (ctx->json)
		fputs("[", stdout);
	for (int32_t i = 0; i < r->count; i++) {
		if (ctx->json) {
			fputs(i ? "," : "", stdout);
			tern_json_str(stdout, r->names[i], strlen(r->names[i]));
		} else {
			puts(r->names[i]);
		}
	}
	if (ctx->json)
		fputs("]\n", stdout);
}

static int cmd_ls(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	if (parse_opts(ctx, argc, argv, "R", 0, 1, &o) < 0)
		return TERN_EXIT_USAGE;
	const char *path = o.npos ? o.pos[0] : "/";
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	if (o.flag['R']) {
		bool first = true;
		if (ctx->json)
			fputs("[", stdout);
		rc = ls_rec(ctx, zk, path, 0, &first);
		if (ctx->json)
			fputs("]\n", stdout);
		return rc == ZK_OK ? TERN_EXIT_OK : tern_cli_zkerr(ctx, "ls", path, rc);
	}
	struct ternc_result *r = NULL;
	rc = children_sorted(zk, path, &r);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "ls", path, rc);
	print_names(ctx, r);
	ternc_result_free(r);
	return TERN_EXIT_OK;
}

static const struct tern_cmd ls_cmd = {
    "ls", "ls [-R] [PATH]", "children of PATH (-R: every descendant, full paths)", cmd_ls};
TERN_CLI_REGISTER(ls_cmd)

/* ---- get / stat ---- */

static int cmd_get(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int rc = cmd_begin(ctx, argc, argv, "s", 1, 1, &o, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	struct ternc_result *r = NULL;
	rc = ternc_get_sync(zk, o.pos[0], NULL, NULL, &r);
	if (rc != ZK_OK) {
		ternc_result_free(r);
		return tern_cli_zkerr(ctx, "get", o.pos[0], rc);
	}
	size_t len = r->data_len > 0 ? (size_t)r->data_len : 0;
	if (ctx->json) {
		fputs("{\"path\":", stdout);
		tern_json_str(stdout, o.pos[0], strlen(o.pos[0]));
		fputs(",\"data\":", stdout);
		if (r->data_len < 0)
			fputs("null", stdout);
		else
			tern_json_str(stdout, (const char *)r->data, len);
		fputs(",\"stat\":", stdout);
		tern_json_stat(stdout, &r->stat);
		fputs("}\n", stdout);
	} else {
		if (len)
			fwrite(r->data, 1, len, stdout);
		if (!len || r->data[len - 1] != '\n')
			putchar('\n');
		if (o.flag['s'])
			print_stat(&r->stat);
	}
	ternc_result_free(r);
	return TERN_EXIT_OK;
}

static const struct tern_cmd get_cmd = {"get", "get [-s] PATH", "data of PATH (-s: and its stat)",
					cmd_get};
TERN_CLI_REGISTER(get_cmd)

static int cmd_stat(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int rc = cmd_begin(ctx, argc, argv, "", 1, 1, &o, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	struct zstat st;
	rc = ternc_exists_sync(zk, o.pos[0], NULL, NULL, &st);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "stat", o.pos[0], rc);
	if (ctx->json) {
		fputs("{\"path\":", stdout);
		tern_json_str(stdout, o.pos[0], strlen(o.pos[0]));
		fputs(",\"stat\":", stdout);
		tern_json_stat(stdout, &st);
		fputs("}\n", stdout);
	} else {
		print_stat(&st);
	}
	return TERN_EXIT_OK;
}

static const struct tern_cmd stat_cmd = {"stat", "stat PATH", "the stat of PATH", cmd_stat};
TERN_CLI_REGISTER(stat_cmd)

/* ---- set / create / delete ---- */

static int print_path_result(struct tern_cli *ctx, const char *verb, const char *path,
			     const struct zstat *st)
{
	if (ctx->json) {
		fputs("{\"path\":", stdout);
		tern_json_str(stdout, path, strlen(path));
		if (st) {
			fputs(",\"stat\":", stdout);
			tern_json_stat(stdout, st);
		}
		fputs("}\n", stdout);
	} else if (st) {
		printf("%s %s (version %d)\n", verb, path, st->version);
	} else {
		printf("%s %s\n", verb, path);
	}
	return TERN_EXIT_OK;
}

static int cmd_set(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int32_t version;
	if (parse_opts(ctx, argc, argv, "v:", 2, 2, &o) < 0 || parse_version(ctx, &o, &version) < 0)
		return TERN_EXIT_USAGE;
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	struct zstat st;
	rc = ternc_set_sync(zk, o.pos[0], o.pos[1], (int32_t)strlen(o.pos[1]), version, &st);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "set", o.pos[0], rc);
	return print_path_result(ctx, "Set", o.pos[0], &st);
}

static const struct tern_cmd set_cmd = {"set", "set [-v VERSION] PATH DATA",
					"replace the data of PATH", cmd_set};
TERN_CLI_REGISTER(set_cmd)

static int create_mode(struct tern_cli *ctx, const struct opts *o, int *mode, int64_t *ttl)
{
	bool e = o->flag['e'], s = o->flag['s'], c = o->flag['c'], t = o->flag['t'];
	*ttl = 0;
	if ((c && (e || s || t)) || (t && e))
		return tern_cli_usage(ctx, "-c goes alone; -t does not go with -e"), -1;
	if (t) {
		char *end = NULL;
		long long v = strtoll(o->val['t'], &end, 10);
		if (!end || *end || v <= 0)
			return tern_cli_usage(ctx, "bad TTL (milliseconds > 0)"), -1;
		*ttl = v;
		*mode = s ? TERNC_SEQUENTIAL_TTL : TERNC_TTL;
	} else if (c) {
		*mode = TERNC_CONTAINER;
	} else {
		*mode = (e ? TERNC_EPHEMERAL : 0) | (s ? TERNC_SEQUENTIAL : 0);
	}
	return 0;
}

static int cmd_create(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int mode;
	int64_t ttl;
	if (parse_opts(ctx, argc, argv, "esct:", 1, 2, &o) < 0 ||
	    create_mode(ctx, &o, &mode, &ttl) < 0)
		return TERN_EXIT_USAGE;
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	const char *data = o.npos > 1 ? o.pos[1] : NULL;
	struct ternc_result *r = NULL;
	rc = ternc_create_sync(zk, o.pos[0], data, data ? (int32_t)strlen(data) : -1, NULL, mode,
			       ttl, &r);
	if (rc != ZK_OK) {
		ternc_result_free(r);
		return tern_cli_zkerr(ctx, "create", o.pos[0], rc);
	}
	print_path_result(ctx, "Created", r->path, NULL);
	ternc_result_free(r);
	return TERN_EXIT_OK;
}

static const struct tern_cmd create_cmd = {
    "create", "create [-e] [-s] [-c] [-t TTL_MS] PATH [DATA]",
    "create PATH (-e ephemeral, -s sequential, -c container, -t TTL)", cmd_create};
TERN_CLI_REGISTER(create_cmd)

static int cmd_delete(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int32_t version;
	if (parse_opts(ctx, argc, argv, "v:", 1, 1, &o) < 0 || parse_version(ctx, &o, &version) < 0)
		return TERN_EXIT_USAGE;
	int rc = tern_cli_session(ctx, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	rc = ternc_delete_sync(zk, o.pos[0], version);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "delete", o.pos[0], rc);
	return print_path_result(ctx, "Deleted", o.pos[0], NULL);
}

static const struct tern_cmd delete_cmd = {"delete", "delete [-v VERSION] PATH",
					   "delete PATH (it must have no children)", cmd_delete};
TERN_CLI_REGISTER(delete_cmd)

/* Delete @path's subtree, children first; *@count counts deletions. */
static int delete_rec(struct ternc *zk, const char *path, int depth, long *count)
{
	struct ternc_result *r = NULL;
	int rc = children_sorted(zk, path, &r);
	if (rc != ZK_OK)
		return rc;
	for (int32_t i = 0; i < r->count && rc == ZK_OK && depth < LS_DEPTH_MAX; i++) {
		char child[TERNC_PATH_MAX];
		join(child, sizeof(child), path, r->names[i]);
		rc = delete_rec(zk, child, depth + 1, count);
		if (rc == ZK_ENONODE)
			rc = ZK_OK; /* someone else deleted it */
	}
	ternc_result_free(r);
	if (rc == ZK_OK && strcmp(path, "/") != 0 &&
	    (rc = ternc_delete_sync(zk, path, -1)) == ZK_OK)
		(*count)++;
	return rc;
}

static int cmd_deleteall(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int rc = cmd_begin(ctx, argc, argv, "", 1, 1, &o, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	long count = 0;
	rc = delete_rec(zk, o.pos[0], 0, &count);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "deleteall", o.pos[0], rc);
	if (ctx->json) {
		fputs("{\"path\":", stdout);
		tern_json_str(stdout, o.pos[0], strlen(o.pos[0]));
		printf(",\"deleted\":%ld}\n", count);
	} else {
		printf("Deleted %s (%ld nodes)\n", o.pos[0], count);
	}
	return TERN_EXIT_OK;
}

static const struct tern_cmd deleteall_cmd = {"deleteall", "deleteall PATH",
					      "delete PATH and everything under it", cmd_deleteall};
TERN_CLI_REGISTER(deleteall_cmd)

/* ---- ACLs ---- */

static int cmd_getacl(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int rc = cmd_begin(ctx, argc, argv, "", 1, 1, &o, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	struct ternc_result *r = NULL;
	rc = ternc_get_acl_sync(zk, o.pos[0], &r);
	if (rc != ZK_OK) {
		ternc_result_free(r);
		return tern_cli_zkerr(ctx, "getAcl", o.pos[0], rc);
	}
	if (ctx->json)
		fputs("[", stdout);
	for (int32_t i = 0; i < r->acl.count; i++) {
		const struct zk_acl *a = &r->acl.v[i];
		char perms[6];
		ternc_perms_str(a->perms, perms);
		if (!ctx->json) {
			printf("%s:%s:%s\n", a->id.scheme, a->id.id, perms);
			continue;
		}
		fputs(i ? ",{\"scheme\":" : "{\"scheme\":", stdout);
		tern_json_str(stdout, a->id.scheme, strlen(a->id.scheme));
		fputs(",\"id\":", stdout);
		tern_json_str(stdout, a->id.id, strlen(a->id.id));
		printf(",\"perms\":\"%s\"}", perms);
	}
	if (ctx->json)
		fputs("]\n", stdout);
	ternc_result_free(r);
	return TERN_EXIT_OK;
}

static const struct tern_cmd getacl_cmd = {"getAcl", "getAcl PATH",
					   "ACL of PATH, one scheme:id:perms a line", cmd_getacl};
TERN_CLI_REGISTER(getacl_cmd)

static int cmd_setacl(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int32_t version;
	if (parse_opts(ctx, argc, argv, "v:", 2, 2, &o) < 0 || parse_version(ctx, &o, &version) < 0)
		return TERN_EXIT_USAGE;
	struct zk_acl_list acl;
	if (ternc_acl_parse(o.pos[1], &acl) != ZK_OK)
		return tern_cli_usage(ctx, "bad ACL (scheme:id:perms[,...], perms from cdrwa)");
	int rc = tern_cli_session(ctx, &zk);
	if (rc == TERN_EXIT_OK) {
		rc = ternc_set_acl_sync(zk, o.pos[0], &acl, version);
		rc = rc == ZK_OK ? print_path_result(ctx, "Set ACL of", o.pos[0], NULL)
				 : tern_cli_zkerr(ctx, "setAcl", o.pos[0], rc);
	}
	ternc_acl_free(&acl);
	return rc;
}

static const struct tern_cmd setacl_cmd = {
    "setAcl", "setAcl [-v ACL_VERSION] PATH ACL",
    "replace the ACL of PATH, e.g. world:anyone:r,digest:u:HASH:cdrwa", cmd_setacl};
TERN_CLI_REGISTER(setacl_cmd)

/* ---- sync / whoami ---- */

static int cmd_sync(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int rc = cmd_begin(ctx, argc, argv, "", 1, 1, &o, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	rc = ternc_sync_sync(zk, o.pos[0]);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "sync", o.pos[0], rc);
	return print_path_result(ctx, "Synced", o.pos[0], NULL);
}

static const struct tern_cmd sync_cmd = {
    "sync", "sync PATH", "wait until this server has the leader's latest state", cmd_sync};
TERN_CLI_REGISTER(sync_cmd)

static int cmd_whoami(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	int rc = cmd_begin(ctx, argc, argv, "", 0, 0, &o, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	struct ternc_result *r = NULL;
	rc = ternc_whoami_sync(zk, &r);
	if (rc != ZK_OK) {
		ternc_result_free(r);
		return tern_cli_zkerr(ctx, "whoami", NULL, rc);
	}
	print_names(ctx, r);
	ternc_result_free(r);
	return TERN_EXIT_OK;
}

static const struct tern_cmd whoami_cmd = {
    "whoami", "whoami", "the identities this session is authenticated as", cmd_whoami};
TERN_CLI_REGISTER(whoami_cmd)

/* ---- watch ---- */

struct watch_state {
	struct tern_cli *ctx;
	long seen, want;
	bool lost;
};

static void watch_event(struct ternc *c, const struct ternc_event *ev, void *arg)
{
	struct watch_state *ws = arg;
	(void)c;
	if (ev->type == ZK_EVENT_NONE) {
		ws->lost = true;
		return;
	}
	if (ws->ctx->json) {
		printf("{\"type\":\"%s\",\"path\":", ternc_event_name(ev->type));
		tern_json_str(stdout, ev->path, strlen(ev->path));
		printf(",\"zxid\":%lld}\n", (long long)ev->zxid);
	} else {
		printf("%-20s %s\n", ternc_event_name(ev->type), ev->path);
	}
	fflush(stdout);
	ws->seen++;
}

static int cmd_watch(int argc, char **argv, struct tern_cli *ctx)
{
	struct opts o;
	struct ternc *zk;
	struct watch_state ws = {ctx, 0, -1, false};
	/* --count is a long option: take it out before the short ones */
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--count") != 0)
			continue;
		ws.want = atol(argv[i + 1]);
		if (ws.want <= 0)
			return tern_cli_usage(ctx, "bad --count");
		memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 2) * sizeof(char *));
		argc -= 2;
		break;
	}
	int rc = cmd_begin(ctx, argc, argv, "R", 1, 1, &o, &zk);
	if (rc != TERN_EXIT_OK)
		return rc;
	rc = ternc_add_watch_sync(zk, o.pos[0], o.flag['R'], watch_event, &ws);
	if (rc != ZK_OK)
		return tern_cli_zkerr(ctx, "watch", o.pos[0], rc);
	if (!ctx->json) {
		fprintf(stderr, "watching %s%s (Ctrl-C to stop)\n", o.pos[0],
			o.flag['R'] ? " and below" : "");
	}
	while (!tern_cli_interrupted() && !ws.lost && (ws.want < 0 || ws.seen < ws.want)) {
		rc = ternc_loop_run(ternc_loop_of(zk), WATCH_TURN_MS);
		if (rc < 0)
			break;
	}
	if (ws.lost)
		return tern_cli_zkerr(ctx, "watch", o.pos[0], ZK_ESESSIONEXPIRED);
	return TERN_EXIT_OK;
}

static const struct tern_cmd watch_cmd = {
    "watch", "watch [-R] [--count N] PATH",
    "print events on PATH (-R: and below) until Ctrl-C or N events", cmd_watch};
TERN_CLI_REGISTER(watch_cmd)
