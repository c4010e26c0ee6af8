/* tools/tern-inspect.c: look inside tern's txn log and snapshots, in the
 * spirit of ZooKeeper's zkTxnLogToolkit and zkSnapShotToolkit.
 *
 *   tern-inspect log DIR [--verify]    one line per record (zxid, type, session,
 *                                      path, sizes), then the zxid range and
 *                                      count; --verify prints only the summary.
 *                                      Corruption (CRC, framing, a body that is
 *                                      not a txn) exits 1 naming file/offset
 *                                      (the WAL logs where) or the zxid.
 *   tern-inspect snap FILE [--digest] [--json]
 *                                      load and verify a snapshot; dump sessions
 *                                      and nodes (stat, data length), parents
 *                                      first; --digest adds store_digest().
 *   tern-inspect digest SNAPDIR LOGDIR recover as the server would; print the
 *                                      digest, last zxid and node count.
 * Exit: 0 ok, 1 corrupt or failed, 2 usage. The tool only reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_err.h"
#include "common/tn_log.h"
#include "store/store.h"

#define INSPECT_ARENA_BYTES (64u << 20) /* decoded txn; ample for WAL_REC_MAX records */

static const char *op_name(int32_t t)
{
	switch (t) {
	case ZK_OP_CREATE: return "create";
	case ZK_OP_DELETE: return "delete";
	case ZK_OP_SETDATA: return "setData";
	case ZK_OP_SETACL: return "setACL";
	case ZK_OP_CHECK: return "check";
	case ZK_OP_MULTI: return "multi";
	case ZK_OP_CREATE2: return "create2";
	case ZK_OP_CREATECONTAINER: return "createContainer";
	case ZK_OP_DELETECONTAINER: return "deleteContainer";
	case ZK_OP_CREATETTL: return "createTTL";
	case ZK_OP_CREATESESSION: return "createSession";
	case ZK_OP_CLOSESESSION: return "closeSession";
	case ZK_OP_ERROR: return "error";
	default: return "?";
	}
}

static void print_txn(const struct txn *t, uint32_t len)
{
	printf("0x%016" PRIx64 " %-15s session 0x%" PRIx64 " cxid %d len %u", t->hdr.zxid,
	       op_name(t->type), t->hdr.session, t->hdr.cxid, len);
	if (t->path)
		printf(" path %s", t->path);
	if (t->type == ZK_OP_CREATE || t->type == ZK_OP_CREATE2 || t->type == ZK_OP_SETDATA ||
	    t->type == ZK_OP_CREATECONTAINER || t->type == ZK_OP_CREATETTL)
		printf(" data %d", t->data_len);
	if (t->type == ZK_OP_ERROR)
		printf(" err %d", t->err);
	if (t->type == ZK_OP_CLOSESESSION)
		printf(" ephemerals %u", t->path_count);
	if (t->type == ZK_OP_MULTI) {
		printf(" ops %u:", t->sub_count);
		for (uint32_t i = 0; i < t->sub_count; i++)
			printf(" %s%s%s", op_name(t->sub[i].type), t->sub[i].path ? " " : "",
			       t->sub[i].path ? t->sub[i].path : "");
	}
	putchar('\n');
}

static int cmd_log(const char *dir, bool verify)
{
	struct wal_iter *it;
	uint8_t *abuf = malloc(INSPECT_ARENA_BYTES);
	tn_zxid first = 0, last = 0, z;
	uint64_t count = 0;
	int rc = abuf ? wal_iter_open(&it, dir, 0) : -ENOMEM;
	if (rc < 0) {
		fprintf(stderr, "tern-inspect: %s: %s\n", dir, tn_strerror(rc));
		free(abuf);
		return 1;
	}
	const uint8_t *rec;
	uint32_t len;
	while ((rc = wal_iter_next(it, &z, &rec, &len)) == 1) {
		struct txn t;
		struct tn_arena a = tn_arena_init(abuf, INSPECT_ARENA_BYTES);
		if ((rc = txn_decode(rec, len, &t, &a)) < 0 || t.hdr.zxid != z) {
			fprintf(stderr, "tern-inspect: %s: record 0x%016" PRIx64
				" does not hold a valid txn (%s)\n", dir, z,
				rc < 0 ? tn_strerror(rc) : "zxid differs from its frame");
			rc = -TN_ECORRUPT;
			break;
		}
		first = count++ ? first : z;
		last = z;
		if (!verify)
			print_txn(&t, len);
	}
	wal_iter_close(it);
	free(abuf);
	if (rc < 0) {
		fprintf(stderr, "tern-inspect: %s: %s after %" PRIu64 " good records\n", dir,
			tn_strerror(rc), count);
		return 1;
	}
	printf("records %" PRIu64 " zxid 0x%016" PRIx64 "..0x%016" PRIx64 "\n", count, first, last);
	return 0;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

struct dump {
	bool json;
	uint64_t n;
};

static void dump_session(void *arg, uint64_t session, int32_t timeout_ms)
{
	struct dump *d = arg;
	if (d->json)
		printf("%s{\"id\":\"0x%" PRIx64 "\",\"timeout\":%d}", d->n++ ? "," : "", session,
		       timeout_ms);
	else
		printf("session 0x%016" PRIx64 " timeout %d\n", session, timeout_ms);
}

static int dump_node(void *arg, const char *path, const struct store_node_view *v)
{
	struct dump *d = arg;
	const struct zstat *st = &v->stat;
	if (!d->json) {
		printf("%s\n  cZxid 0x%" PRIx64 " ctime %" PRId64 " mZxid 0x%" PRIx64
		       " mtime %" PRId64 " pZxid 0x%" PRIx64 "\n  cversion %d dataVersion %d"
		       " aclVersion %d ephemeralOwner 0x%" PRIx64 " dataLength %d numChildren %d"
		       " acls %d\n", path, (uint64_t)st->czxid, st->ctime, (uint64_t)st->mzxid,
		       st->mtime, (uint64_t)st->pzxid, st->cversion, st->version, st->aversion,
		       (uint64_t)st->ephemeral_owner, v->data_len, st->num_children,
		       v->acl ? v->acl->count : -1);
		return 0;
	}
	printf("%s{\"path\":", d->n++ ? "," : "");
	json_str(path);
	printf(",\"czxid\":%" PRId64 ",\"mzxid\":%" PRId64 ",\"pzxid\":%" PRId64
	       ",\"ctime\":%" PRId64 ",\"mtime\":%" PRId64 ",\"version\":%d,\"cversion\":%d"
	       ",\"aversion\":%d,\"ephemeralOwner\":%" PRId64 ",\"dataLength\":%d"
	       ",\"numChildren\":%d}", st->czxid, st->mzxid, st->pzxid, st->ctime, st->mtime,
	       st->version, st->cversion, st->aversion, st->ephemeral_owner, v->data_len,
	       st->num_children);
	return 0;
}

static const struct store_cfg inspect_cfg = { .data_max_bytes = 0x7fffffff,
					      .extended_types = true };

static int cmd_snap(const char *file, bool digest, bool json)
{
	struct store *s;
	tn_zxid z;
	struct dump d = { .json = json };
	int rc = snap_load(file, &inspect_cfg, &s, &z);
	if (rc < 0) {
		fprintf(stderr, "tern-inspect: %s: %s\n", file, tn_strerror(rc));
		return 1;
	}
	struct store_stats st;
	store_stats(s, &st);
	if (json)
		printf("{\"zxid\":\"0x%016" PRIx64 "\",\"sessions\":[", z);
	else
		printf("snapshot zxid 0x%016" PRIx64 " nodes %" PRIu64 " sessions %" PRIu64 "\n", z,
		       st.node_count, store_session_count(s));
	store_session_foreach(s, dump_session, &d);
	if (json)
		printf("],\"nodes\":[");
	d.n = 0;
	store_walk(s, dump_node, &d);
	if (json)
		printf("]");
	if (digest)
		printf(json ? ",\"digest\":\"0x%016" PRIx64 "\"" : "digest 0x%016" PRIx64 "\n",
		       store_digest(s));
	if (json)
		printf("}\n");
	store_destroy(s);
	return 0;
}

static int cmd_digest(const char *snap_dir, const char *log_dir)
{
	struct store *s;
	int rc = store_recover(&inspect_cfg, snap_dir, log_dir, &s);
	if (rc < 0) {
		fprintf(stderr, "tern-inspect: recover %s %s: %s\n", snap_dir, log_dir,
			tn_strerror(rc));
		return 1;
	}
	struct store_stats st;
	store_stats(s, &st);
	printf("digest 0x%016" PRIx64 " last_zxid 0x%016" PRIx64 " nodes %" PRIu64 "\n",
	       store_digest(s), store_last_zxid(s), st.node_count);
	store_destroy(s);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: tern-inspect log DIR [--verify]\n"
			"       tern-inspect snap FILE [--digest] [--json]\n"
			"       tern-inspect digest SNAPDIR LOGDIR\n");
	return 2;
}

int main(int argc, char **argv)
{
	bool verify = false, digest = false, json = false;
	const char *pos[3] = { NULL, NULL, NULL };
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--verify") == 0)
			verify = true;
		else if (strcmp(argv[i], "--digest") == 0)
			digest = true;
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] == '-' || npos == 3)
			return usage();
		else
			pos[npos++] = argv[i];
	}
	tn_log_set_level(TN_LOG_WARN);
	store_reader_register();
	int rc;
	if (npos == 2 && strcmp(pos[0], "log") == 0)
		rc = cmd_log(pos[1], verify);
	else if (npos == 2 && strcmp(pos[0], "snap") == 0)
		rc = cmd_snap(pos[1], digest, json);
	else if (npos == 3 && strcmp(pos[0], "digest") == 0)
		rc = cmd_digest(pos[1], pos[2]);
	else
		rc = usage();
	store_reader_unregister();
	return rc;
}
