/* store/txn.c: tern's binary encoding of struct txn.
 *
 * One txn is what the WAL stores per record and what a Zab proposal carries.
 * The layout follows ZooKeeper's TxnHeader + per-type txn record (jute: all
 * big-endian, strings and buffers as int32 length then bytes, -1 = null), but
 * it is tern's own: a multi holds its subs inline (type + body, no repeated
 * header), and create bodies carry the final ephemeral owner, so apply never
 * has to re-derive it.
 *
 *   header (32 bytes)
 *   | off | size | field          |
 *   |   0 |    8 | session  (u64) |
 *   |   8 |    4 | cxid     (i32) |
 *   |  12 |    8 | zxid     (u64) |
 *   |  20 |    8 | time_ms  (i64) |
 *   |  28 |    4 | type     (i32) | enum zk_opcode
 *
 *   body by type
 *   | type                                 | fields, in order                                |
 *   | CREATE, CREATE2, CREATECONTAINER,    | path str, data buf, acl, ephemeral_owner i64,   |
 *   |   CREATETTL                          |   parent_cversion i32                           |
 *   | DELETE, DELETECONTAINER              | path str                                        |
 *   | SETDATA                              | path str, data buf, version i32                 |
 *   | SETACL                               | path str, acl, version i32                      |
 *   | CHECK                                | path str, version i32                           |
 *   | CREATESESSION                        | timeout_ms i32                                  |
 *   | CLOSESESSION                         | count i32, count x path str                     |
 *   | ERROR                                | err i32                                         |
 *   | MULTI                                | count i32, count x (type i32, body of type)     |
 *
 *   str  = i32 length (>= 0) then bytes: no NUL inside, never null
 *   buf  = i32 length (-1 = null) then bytes
 *   acl  = i32 count (-1 = null) then count x (perms i32, scheme str, id str)
 *
 * A sub of a multi may be CREATE*, DELETE, SETDATA, CHECK or ERROR; it shares
 * the multi's header (decode copies it, with hdr.type = the sub's type).
 * Decoding rejects unknown types, nested multis, negative or impossible
 * counts (each element needs at least its minimum size in what is left) and
 * trailing bytes. Decoded strings and arrays live in the caller's arena.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/tn_assert.h"
#include "common/tn_rd.h"
#include "store/store.h"

#define TXN_HDR_LEN 32
#define TXN_STR_MIN 4        /* an empty string: its length */
#define TXN_ACL_MIN 12       /* perms + two empty strings */
#define TXN_SUB_MIN 8        /* type + the smallest body (delete "": 4) */

TN_STATIC_ASSERT(TXN_HDR_LEN == 8 + 4 + 8 + 8 + 4, "txn header layout");

static bool is_create(int32_t type)
{
	return type == ZK_OP_CREATE || type == ZK_OP_CREATE2 || type == ZK_OP_CREATECONTAINER ||
	       type == ZK_OP_CREATETTL;
}

static bool sub_type_ok(int32_t type)
{
	return is_create(type) || type == ZK_OP_DELETE || type == ZK_OP_SETDATA ||
	       type == ZK_OP_CHECK || type == ZK_OP_ERROR;
}

static bool top_type_ok(int32_t type)
{
	return sub_type_ok(type) || type == ZK_OP_DELETECONTAINER || type == ZK_OP_SETACL ||
	       type == ZK_OP_CREATESESSION || type == ZK_OP_CLOSESESSION || type == ZK_OP_MULTI;
}

/* ---- encode ---- */

static void wr_path(struct tn_wr *w, const char *path)
{
	TN_ASSERT(path != NULL);
	TN_ASSERT(strlen(path) <= INT32_MAX);
	tn_wr_str(w, path);
}

static void wr_acl(struct tn_wr *w, const struct zk_acl_list *acl)
{
	TN_ASSERT(acl->count >= -1);
	tn_wr_i32(w, acl->count);
	for (int32_t i = 0; i < acl->count; i++) {
		TN_ASSERT(acl->v[i].id.scheme && acl->v[i].id.id);
		tn_wr_i32(w, acl->v[i].perms);
		tn_wr_str(w, acl->v[i].id.scheme);
		tn_wr_str(w, acl->v[i].id.id);
	}
}

static void wr_body(struct tn_wr *w, int32_t type, const struct txn *t)
{
	switch (type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		wr_path(w, t->path);
		tn_wr_buf(w, t->data, t->data_len);
		wr_acl(w, &t->acl);
		tn_wr_i64(w, t->ephemeral_owner);
		tn_wr_i32(w, t->parent_cversion);
		break;
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		wr_path(w, t->path);
		break;
	case ZK_OP_SETDATA:
		wr_path(w, t->path);
		tn_wr_buf(w, t->data, t->data_len);
		tn_wr_i32(w, t->version);
		break;
	case ZK_OP_SETACL:
		wr_path(w, t->path);
		wr_acl(w, &t->acl);
		tn_wr_i32(w, t->version);
		break;
	case ZK_OP_CHECK:
		wr_path(w, t->path);
		tn_wr_i32(w, t->version);
		break;
	case ZK_OP_CREATESESSION:
		tn_wr_i32(w, t->timeout_ms);
		break;
	case ZK_OP_CLOSESESSION:
		TN_ASSERT(t->path_count <= INT32_MAX);
		tn_wr_i32(w, (int32_t)t->path_count);
		for (uint32_t i = 0; i < t->path_count; i++)
			wr_path(w, t->paths[i]);
		break;
	case ZK_OP_ERROR:
		tn_wr_i32(w, t->err);
		break;
	case ZK_OP_MULTI:
		TN_ASSERT(t->sub_count <= INT32_MAX);
		tn_wr_i32(w, (int32_t)t->sub_count);
		for (uint32_t i = 0; i < t->sub_count; i++) {
			TN_ASSERT(sub_type_ok(t->sub[i].type));
			tn_wr_i32(w, t->sub[i].type);
			wr_body(w, t->sub[i].type, &t->sub[i]);
		}
		break;
	default:
		TN_ASSERT(0 && "txn_encode: unknown txn type");
	}
}

static void wr_txn(struct tn_wr *w, const struct txn *t)
{
	TN_ASSERT(top_type_ok(t->hdr.type));
	tn_wr_u64(w, t->hdr.session);
	tn_wr_i32(w, t->hdr.cxid);
	tn_wr_u64(w, t->hdr.zxid);
	tn_wr_i64(w, t->hdr.time_ms);
	tn_wr_i32(w, t->hdr.type);
	wr_body(w, t->hdr.type, t);
}

size_t txn_encoded_len(const struct txn *t)
{
	struct tn_wr w = tn_wr_init(NULL, 0);
	wr_txn(&w, t);
	TN_ASSERT(w.len >= TXN_HDR_LEN);
	return w.len;
}

int txn_encode(const struct txn *t, uint8_t *buf, size_t cap)
{
	struct tn_wr w = tn_wr_init(buf, cap);
	wr_txn(&w, t);
	if (w.overflow)
		return -EMSGSIZE;
	TN_ASSERT(w.len <= cap && w.len <= INT_MAX);
	return (int)w.len;
}

/* ---- decode ---- */

/* A count of elements of at least @min bytes each that must fit in what is left. */
static int rd_count(struct tn_rd *r, size_t min, int32_t *n)
{
	int rc = tn_rd_i32(r, n);
	if (rc < 0)
		return rc;
	if (*n < 0 || (size_t)*n > tn_rd_left(r) / min)
		return -EBADMSG;
	return 0;
}

/* A non-null string without NULs, copied NUL-terminated into @a. */
static int rd_str(struct tn_rd *r, struct tn_arena *a, const char **out)
{
	const uint8_t *p;
	int32_t len;
	char *s;
	int rc = tn_rd_buf(r, &p, &len);

	if (rc < 0)
		return rc;
	if (len < 0 || (len > 0 && memchr(p, '\0', (size_t)len)))
		return -EBADMSG;
	s = tn_arena_strndup(a, p, (size_t)len);
	if (!s)
		return -EMSGSIZE;
	*out = s;
	return 0;
}

static int rd_data(struct tn_rd *r, struct tn_arena *a, const uint8_t **data, int32_t *len)
{
	const uint8_t *p;
	int rc = tn_rd_buf(r, &p, len);

	if (rc < 0)
		return rc;
	*data = NULL;
	if (*len > 0) {
		uint8_t *d = tn_arena_alloc(a, (size_t)*len);
		if (!d)
			return -EMSGSIZE;
		memcpy(d, p, (size_t)*len);
		*data = d;
	}
	return 0;
}

static int rd_acl(struct tn_rd *r, struct tn_arena *a, struct zk_acl_list *acl)
{
	struct zk_acl *v;
	int32_t n;
	int rc = tn_rd_i32(r, &n);

	if (rc < 0)
		return rc;
	acl->count = n;
	acl->v = NULL;
	if (n == -1 || n == 0)
		return 0;
	if (n < -1 || (size_t)n > tn_rd_left(r) / TXN_ACL_MIN)
		return -EBADMSG;
	v = tn_arena_alloc(a, sizeof(*v) * (size_t)n);
	if (!v)
		return -EMSGSIZE;
	for (int32_t i = 0; i < n; i++) {
		if ((rc = tn_rd_i32(r, &v[i].perms)) < 0 ||
		    (rc = rd_str(r, a, &v[i].id.scheme)) < 0 ||
		    (rc = rd_str(r, a, &v[i].id.id)) < 0)
			return rc;
	}
	acl->v = v;
	return 0;
}

static int rd_create(struct tn_rd *r, struct tn_arena *a, struct txn *t)
{
	int rc;
	if ((rc = rd_str(r, a, &t->path)) < 0 || (rc = rd_data(r, a, &t->data, &t->data_len)) < 0 ||
	    (rc = rd_acl(r, a, &t->acl)) < 0 || (rc = tn_rd_i64(r, &t->ephemeral_owner)) < 0)
		return rc;
	return tn_rd_i32(r, &t->parent_cversion);
}

static int rd_close(struct tn_rd *r, struct tn_arena *a, struct txn *t)
{
	const char **paths;
	int32_t n;
	int rc;

	if ((rc = rd_count(r, TXN_STR_MIN, &n)) < 0)
		return rc;
	paths = n ? tn_arena_alloc(a, sizeof(*paths) * (size_t)n) : NULL;
	if (n && !paths)
		return -EMSGSIZE;
	for (int32_t i = 0; i < n; i++)
		if ((rc = rd_str(r, a, &paths[i])) < 0)
			return rc;
	t->path_count = (uint32_t)n;
	t->paths = paths;
	return 0;
}

static int rd_multi(struct tn_rd *r, struct tn_arena *a, struct txn *t);

/* The body of @t->type; @t->hdr is already set. */
static int rd_body(struct tn_rd *r, struct tn_arena *a, struct txn *t)
{
	int rc;

	switch (t->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		return rd_create(r, a, t);
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		return rd_str(r, a, &t->path);
	case ZK_OP_SETDATA:
		if ((rc = rd_str(r, a, &t->path)) < 0 ||
		    (rc = rd_data(r, a, &t->data, &t->data_len)) < 0)
			return rc;
		return tn_rd_i32(r, &t->version);
	case ZK_OP_SETACL:
		if ((rc = rd_str(r, a, &t->path)) < 0 || (rc = rd_acl(r, a, &t->acl)) < 0)
			return rc;
		return tn_rd_i32(r, &t->version);
	case ZK_OP_CHECK:
		if ((rc = rd_str(r, a, &t->path)) < 0)
			return rc;
		return tn_rd_i32(r, &t->version);
	case ZK_OP_CREATESESSION:
		return tn_rd_i32(r, &t->timeout_ms);
	case ZK_OP_CLOSESESSION:
		return rd_close(r, a, t);
	case ZK_OP_ERROR:
		return tn_rd_i32(r, &t->err);
	case ZK_OP_MULTI:
		return rd_multi(r, a, t);
	default:
		return -EBADMSG;
	}
}

static int rd_multi(struct tn_rd *r, struct tn_arena *a, struct txn *t)
{
	struct txn *sub;
	int32_t n;
	int rc;

	if ((rc = rd_count(r, TXN_SUB_MIN, &n)) < 0)
		return rc;
	sub = n ? tn_arena_alloc(a, sizeof(*sub) * (size_t)n) : NULL;
	if (n && !sub)
		return -EMSGSIZE;
	for (int32_t i = 0; i < n; i++) {
		memset(&sub[i], 0, sizeof(sub[i]));
		if ((rc = tn_rd_i32(r, &sub[i].type)) < 0)
			return rc;
		if (!sub_type_ok(sub[i].type))
			return -EBADMSG; /* also stops nested multis */
		sub[i].hdr = t->hdr;
		sub[i].hdr.type = sub[i].type;
		if ((rc = rd_body(r, a, &sub[i])) < 0)
			return rc;
	}
	t->sub_count = (uint32_t)n;
	t->sub = sub;
	return 0;
}

int txn_decode(const uint8_t *buf, size_t len, struct txn *out, struct tn_arena *a)
{
	struct tn_rd r = tn_rd_init(buf, len);
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = tn_rd_u64(&r, &out->hdr.session)) < 0 || (rc = tn_rd_i32(&r, &out->hdr.cxid)) < 0 ||
	    (rc = tn_rd_u64(&r, &out->hdr.zxid)) < 0 || (rc = tn_rd_i64(&r, &out->hdr.time_ms)) < 0 ||
	    (rc = tn_rd_i32(&r, &out->hdr.type)) < 0)
		return rc;
	if (!top_type_ok(out->hdr.type))
		return -EBADMSG;
	out->type = out->hdr.type;
	if ((rc = rd_body(&r, a, out)) < 0)
		return rc;
	if (tn_rd_left(&r) != 0)
		return -EBADMSG; /* trailing garbage */
	TN_ASSERT(r.p == r.end);
	return 0;
}
