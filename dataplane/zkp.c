/* dataplane/zkp.c: the ZooKeeper client wire-protocol codec (see zkp.h for
 * the wire format table and the leniency policies).
 *
 * Design. Every request body that fits struct zk_op goes through one pair of
 * functions keyed by a "shape" (path; path+watch; path+version; create; ...),
 * so the server's decoder and the client's encoder cannot drift apart: the
 * round-trip tests and the fuzz target compare them against each other.
 *
 * A multi carries no op count, but its ops must land in one array taken
 * from a bump arena. So it is walked twice: first with no arena (validate
 * and count; strings are checked but not copied), then for real into an
 * array of exactly that many ops. Each walk step consumes at least
 * ZKP_MULTI_HDR_LEN bytes, so both walks are bounded by the frame length.
 *
 * Vectors are checked against the bytes left before anything is allocated
 * (an element takes at least 4 wire bytes, an ACL 12), so a forged count
 * cannot make the decoder allocate more than the frame could describe.
 */
#include "dataplane/zkp.h"

#include <errno.h>
#include <string.h>

#include "common/tn_assert.h"

#define TRY(x)                                                                                     \
	do {                                                                                       \
		int try_rc_ = (x);                                                                 \
		if (try_rc_ < 0)                                                                   \
			return try_rc_;                                                            \
	} while (0)

/* ZKP_ARENA_FOR: a minimal multi sub-op (MultiHeader 9 + getData{path 4,
 * watch 1} = 14 bytes) costs one zk_op plus one 8-byte empty string. */
TN_STATIC_ASSERT(sizeof(struct zk_op) + 8 <= 14 * 8, "ZKP_ARENA_FOR bound");
/* ZKP_ARENA_FOR_REPLY: a minimal multi result (a bare 9-byte MultiHeader of a
 * delete) costs one struct zkp_multi_result. */
TN_STATIC_ASSERT(sizeof(struct zkp_multi_result) <= 9 * 16, "ZKP_ARENA_FOR_REPLY bound");

/* ---- framing ---- */

int zkp_frame_len(const void *buf, size_t len, uint32_t max, uint32_t *frame_len)
{
	TN_ASSERT(buf || len == 0);
	TN_ASSERT(frame_len);
	if (len < ZKP_LEN_PREFIX)
		return ZKP_FRAME_NEED_MORE;
	int32_t n = (int32_t)tn_load_be32(buf);
	if (n < 0 || (uint32_t)n > max)
		return -EBADMSG;
	*frame_len = (uint32_t)n;
	return len - ZKP_LEN_PREFIX >= (size_t)n ? ZKP_FRAME_OK : ZKP_FRAME_NEED_MORE;
}

size_t zkp_frame_begin(struct tn_wr *w)
{
	TN_ASSERT(w);
	size_t start = w->len;
	tn_wr_u32(w, 0);
	return start;
}

int zkp_frame_end(struct tn_wr *w, size_t start)
{
	TN_ASSERT(w && start + ZKP_LEN_PREFIX <= w->len);
	if (w->overflow)
		return -EMSGSIZE;
	size_t n = w->len - start - ZKP_LEN_PREFIX;
	TN_ASSERT(n <= INT32_MAX);
	tn_store_be32(w->buf + start, (uint32_t)n);
	return 0;
}

static const char fourlw_names[ZKP_4LW_COUNT][5] = {
    [ZKP_4LW_RUOK] = "ruok", [ZKP_4LW_SRVR] = "srvr", [ZKP_4LW_STAT] = "stat",
    [ZKP_4LW_MNTR] = "mntr", [ZKP_4LW_CONF] = "conf", [ZKP_4LW_CONS] = "cons",
    [ZKP_4LW_CRST] = "crst", [ZKP_4LW_SRST] = "srst", [ZKP_4LW_ENVI] = "envi",
    [ZKP_4LW_WCHS] = "wchs", [ZKP_4LW_WCHC] = "wchc", [ZKP_4LW_WCHP] = "wchp",
    [ZKP_4LW_DIRS] = "dirs", [ZKP_4LW_ISRO] = "isro", [ZKP_4LW_DUMP] = "dump",
    [ZKP_4LW_GTMK] = "gtmk", [ZKP_4LW_STMK] = "stmk", [ZKP_4LW_HASH] = "hash",
};

int zkp_4lw_detect(const void *buf, size_t len)
{
	TN_ASSERT(buf || len == 0);
	if (len < 4)
		return -EAGAIN;
	/* Every word, read as an int32, exceeds ZKP_FRAME_MAX, so a match can
	 * never be a legal length prefix. */
	for (int i = 1; i < ZKP_4LW_COUNT; i++)
		if (memcmp(buf, fourlw_names[i], 4) == 0)
			return i;
	return ZKP_4LW_NONE;
}

const char *zkp_4lw_name(int word)
{
	if (word <= ZKP_4LW_NONE || word >= ZKP_4LW_COUNT)
		return NULL;
	return fourlw_names[word];
}

int zkp_4lw_stmk_mask(const void *buf, size_t len, int64_t *mask)
{
	TN_ASSERT(mask && (buf || len == 0));
	TN_ASSERT(len < 4 || zkp_4lw_detect(buf, len) == ZKP_4LW_STMK);
	if (len < 12)
		return -EAGAIN;
	*mask = (int64_t)tn_load_be64((const uint8_t *)buf + 4);
	return 0;
}

/* ---- decode primitives ---- */

/* @a NULL: validate only (the multi counting walk); nothing is copied. */
struct dec {
	struct tn_rd r;
	struct tn_arena *a;
};

static int dec_str(struct dec *d, const char **out, bool nullable)
{
	const uint8_t *p;
	int32_t n;
	TN_ASSERT_HOT(d->r.p <= d->r.end);
	TRY(tn_rd_buf(&d->r, &p, &n));
	if (n < 0) {
		if (!nullable)
			return -EBADMSG;
		*out = NULL;
		return 0;
	}
	if (n > 0 && memchr(p, 0, (size_t)n))
		return -EBADMSG; /* tern keeps C strings; ZooKeeper rejects U+0000 in paths anyway
				  */
	if (!d->a) {
		*out = "";
		return 0;
	}
	char *s = tn_arena_strndup(d->a, p, (size_t)n);
	if (!s)
		return -EMSGSIZE;
	TN_ASSERT_EXPENSIVE(strlen(s) == (size_t)n);
	*out = s;
	return 0;
}

static int dec_buf(struct dec *d, const uint8_t **out, int32_t *len)
{
	const uint8_t *p;
	int32_t n;
	TN_ASSERT_HOT(d->r.p <= d->r.end);
	TRY(tn_rd_buf(&d->r, &p, &n));
	TN_ASSERT_HOT(n >= -1 && (n <= 0 || p));
	*len = n;
	*out = NULL;
	if (n <= 0 || !d->a)
		return 0;
	uint8_t *c = tn_arena_alloc(d->a, (size_t)n);
	if (!c)
		return -EMSGSIZE;
	memcpy(c, p, (size_t)n);
	*out = c;
	return 0;
}

/* Read a vector count: -1 (null) or 0..left/@elem_min. */
static int dec_count(struct dec *d, size_t elem_min, int32_t *count)
{
	TN_ASSERT_HOT(elem_min >= 4);
	TRY(tn_rd_i32(&d->r, count));
	if (*count < -1 || (*count > 0 && (size_t)*count > tn_rd_left(&d->r) / elem_min))
		return -EBADMSG;
	return 0;
}

static void *dec_array(struct dec *d, int32_t count, size_t elem_size)
{
	TN_ASSERT_HOT(elem_size > 0 && elem_size <= 64);
	TN_ASSERT_HOT((size_t)TN_MAX(count, 0) <= tn_rd_left(&d->r)); /* dec_count checked it */
	if (count <= 0 || !d->a)
		return NULL;
	return tn_arena_alloc(d->a, (size_t)count * elem_size);
}

static int dec_strv(struct dec *d, struct zkp_strv *v)
{
	TN_ASSERT_HOT(v);
	int32_t n;
	TRY(dec_count(d, 4, &n));
	const char **arr = dec_array(d, n, sizeof(*arr));
	if (n > 0 && d->a && !arr)
		return -EMSGSIZE;
	for (int32_t i = 0; i < n; i++) {
		const char *s;
		TRY(dec_str(d, &s, false));
		if (arr)
			arr[i] = s;
	}
	v->count = n;
	v->v = arr;
	return 0;
}

static int dec_acl(struct dec *d, struct zk_acl_list *acl)
{
	TN_ASSERT_HOT(acl);
	int32_t n;
	TRY(dec_count(d, 12, &n));
	struct zk_acl *arr = dec_array(d, n, sizeof(*arr));
	if (n > 0 && d->a && !arr)
		return -EMSGSIZE;
	for (int32_t i = 0; i < n; i++) {
		struct zk_acl e;
		TRY(tn_rd_i32(&d->r, &e.perms));
		/* kazoo writes an empty string as null (-1), e.g. the id of
		 * CREATOR_ALL_ACL's auth:"" entry; Java reads it fine, so do we. */
		TRY(dec_str(d, &e.id.scheme, true));
		TRY(dec_str(d, &e.id.id, true));
		if (!e.id.scheme)
			e.id.scheme = "";
		if (!e.id.id)
			e.id.id = "";
		if (arr)
			arr[i] = e;
	}
	acl->count = n;
	acl->v = arr;
	return 0;
}

static int dec_stat(struct dec *d, struct zstat *st)
{
	struct tn_rd *r = &d->r;
	if (tn_rd_left(r) < ZKP_STAT_LEN)
		return -EBADMSG;
	TRY(tn_rd_i64(r, &st->czxid));
	TRY(tn_rd_i64(r, &st->mzxid));
	TRY(tn_rd_i64(r, &st->ctime));
	TRY(tn_rd_i64(r, &st->mtime));
	TRY(tn_rd_i32(r, &st->version));
	TRY(tn_rd_i32(r, &st->cversion));
	TRY(tn_rd_i32(r, &st->aversion));
	TRY(tn_rd_i64(r, &st->ephemeral_owner));
	TRY(tn_rd_i32(r, &st->data_length));
	TRY(tn_rd_i32(r, &st->num_children));
	TRY(tn_rd_i64(r, &st->pzxid));
	return 0;
}

/* ---- encode primitives ---- */

static int wr_done(const struct tn_wr *w)
{
	return w->overflow ? -EMSGSIZE : 0;
}

static void wr_path(struct tn_wr *w, const char *path)
{
	TN_ASSERT(path); /* a null path is our caller's bug: the server would reject it */
	tn_wr_str(w, path);
}

static void wr_strv(struct tn_wr *w, const char *const *v, int32_t count)
{
	TN_ASSERT(count >= -1);
	TN_ASSERT(count <= 0 || v);
	tn_wr_i32(w, count);
	for (int32_t i = 0; i < count; i++)
		wr_path(w, v[i]);
}

static void wr_acl(struct tn_wr *w, const struct zk_acl_list *acl)
{
	TN_ASSERT(acl->count >= -1);
	TN_ASSERT(acl->count <= 0 || acl->v);
	tn_wr_i32(w, acl->count);
	for (int32_t i = 0; i < acl->count; i++) {
		tn_wr_i32(w, acl->v[i].perms);
		wr_path(w, acl->v[i].id.scheme);
		wr_path(w, acl->v[i].id.id);
	}
}

/* What a client sees as ephemeralOwner: the container and TTL markers are how
 * the store keeps those node types, but ZooKeeper reports 0 for both
 * (DataNode.copyStat via getClientEphemeralOwner; checked on 3.8.0). */
static int64_t zkp_client_owner(int64_t owner)
{
	uint64_t o = (uint64_t)owner;
	if (o == ZK_OWNER_CONTAINER || (o & ZK_OWNER_TTL_MASK) == ZK_OWNER_TTL_MASK)
		return 0;
	return owner;
}

static void wr_stat(struct tn_wr *w, const struct zstat *st)
{
	TN_ASSERT(st);
	size_t before = w->len;
	tn_wr_i64(w, st->czxid);
	tn_wr_i64(w, st->mzxid);
	tn_wr_i64(w, st->ctime);
	tn_wr_i64(w, st->mtime);
	tn_wr_i32(w, st->version);
	tn_wr_i32(w, st->cversion);
	tn_wr_i32(w, st->aversion);
	tn_wr_i64(w, zkp_client_owner(st->ephemeral_owner));
	tn_wr_i32(w, st->data_length);
	tn_wr_i32(w, st->num_children);
	tn_wr_i64(w, st->pzxid);
	TN_ASSERT(w->len - before == ZKP_STAT_LEN);
}

/* ---- handshake ---- */

static int dec_passwd(struct tn_rd *r, uint8_t *pw, int32_t *pw_len)
{
	const uint8_t *p;
	TRY(tn_rd_buf(r, &p, pw_len));
	if (*pw_len > ZKP_PASSWD_LEN)
		return -EBADMSG; /* every real client sends exactly 16 */
	memset(pw, 0, ZKP_PASSWD_LEN);
	if (*pw_len > 0)
		memcpy(pw, p, (size_t)*pw_len);
	return 0;
}

/* readOnly is optional (pre-3.4 clients): Java tries to read it and falls
 * back to false on EOF; bytes after it are ignored. */
static void dec_read_only(struct tn_rd *r, bool *ro, bool *has)
{
	*has = tn_rd_bool(r, ro) == 0;
	if (!*has)
		*ro = false;
}

int zkp_decode_connect_req(const void *buf, size_t len, struct zkp_connect_req *out)
{
	TN_ASSERT(out && (buf || len == 0));
	struct tn_rd r = tn_rd_init(buf, len);
	memset(out, 0, sizeof(*out));
	TRY(tn_rd_i32(&r, &out->protocol_version));
	TRY(tn_rd_i64(&r, &out->last_zxid_seen));
	TRY(tn_rd_i32(&r, &out->timeout_ms));
	TRY(tn_rd_i64(&r, &out->session_id));
	TRY(dec_passwd(&r, out->passwd, &out->passwd_len));
	dec_read_only(&r, &out->read_only, &out->has_read_only);
	return 0;
}

int zkp_encode_connect_req(struct tn_wr *w, const struct zkp_connect_req *req)
{
	TN_ASSERT(w && req);
	TN_ASSERT(req->passwd_len >= -1 && req->passwd_len <= ZKP_PASSWD_LEN);
	tn_wr_i32(w, req->protocol_version);
	tn_wr_i64(w, req->last_zxid_seen);
	tn_wr_i32(w, req->timeout_ms);
	tn_wr_i64(w, req->session_id);
	tn_wr_buf(w, req->passwd, req->passwd_len);
	if (req->has_read_only)
		tn_wr_bool(w, req->read_only);
	return wr_done(w);
}

int zkp_encode_connect_rsp(struct tn_wr *w, const struct zkp_connect_rsp *rsp)
{
	TN_ASSERT(w && rsp);
	TN_ASSERT(rsp->passwd_len >= -1 && rsp->passwd_len <= ZKP_PASSWD_LEN);
	tn_wr_i32(w, rsp->protocol_version);
	tn_wr_i32(w, rsp->timeout_ms);
	tn_wr_i64(w, rsp->session_id);
	tn_wr_buf(w, rsp->passwd, rsp->passwd_len);
	if (rsp->has_read_only)
		tn_wr_bool(w, rsp->read_only);
	return wr_done(w);
}

int zkp_decode_connect_rsp(const void *buf, size_t len, struct zkp_connect_rsp *out)
{
	TN_ASSERT(out && (buf || len == 0));
	struct tn_rd r = tn_rd_init(buf, len);
	memset(out, 0, sizeof(*out));
	TRY(tn_rd_i32(&r, &out->protocol_version));
	TRY(tn_rd_i32(&r, &out->timeout_ms));
	TRY(tn_rd_i64(&r, &out->session_id));
	TRY(dec_passwd(&r, out->passwd, &out->passwd_len));
	dec_read_only(&r, &out->read_only, &out->has_read_only);
	return 0;
}

/* ---- request bodies ---- */

enum shape {
	SH_UNKNOWN,
	SH_NONE,         /* ping, closeSession, whoAmI */
	SH_PATH,         /* getACL, sync, getAllChildrenNumber, getEphemerals, deleteContainer */
	SH_PATH_WATCH,   /* exists, getData, getChildren, getChildren2 */
	SH_PATH_VERSION, /* delete, check */
	SH_PATH_MODE,    /* checkWatches, removeWatches, addWatch */
	SH_CREATE,       /* create, create2, createContainer */
	SH_CREATE_TTL,
	SH_SETDATA,
	SH_SETACL,
	SH_TOKEN, /* sasl */
	SH_MULTI,
	SH_RECONFIG,
	SH_AUTH,
	SH_SETWATCHES,
};

static enum shape req_shape(int32_t type)
{
	switch (type) {
	case ZK_OP_PING:
	case ZK_OP_CLOSESESSION:
	case ZK_OP_WHOAMI:
		return SH_NONE;
	case ZK_OP_GETACL:
	case ZK_OP_SYNC:
	case ZK_OP_GETALLCHILDRENNUMBER:
	case ZK_OP_GETEPHEMERALS:
	case ZK_OP_DELETECONTAINER:
		return SH_PATH;
	case ZK_OP_EXISTS:
	case ZK_OP_GETDATA:
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETCHILDREN2:
		return SH_PATH_WATCH;
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		return SH_PATH_VERSION;
	case ZK_OP_CHECKWATCHES:
	case ZK_OP_REMOVEWATCHES:
	case ZK_OP_ADDWATCH:
		return SH_PATH_MODE;
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
		return SH_CREATE;
	case ZK_OP_CREATETTL:
		return SH_CREATE_TTL;
	case ZK_OP_SETDATA:
		return SH_SETDATA;
	case ZK_OP_SETACL:
		return SH_SETACL;
	case ZK_OP_SASL:
		return SH_TOKEN;
	case ZK_OP_MULTI:
	case ZK_OP_MULTIREAD:
		return SH_MULTI;
	case ZK_OP_RECONFIG:
		return SH_RECONFIG;
	case ZK_OP_AUTH:
		return SH_AUTH;
	case ZK_OP_SETWATCHES:
	case ZK_OP_SETWATCHES2:
		return SH_SETWATCHES;
	default:
		return SH_UNKNOWN;
	}
}

/* Decode the body of a zk_op-shaped request. */
static int dec_op(struct dec *d, int32_t type, struct zk_op *op)
{
	enum shape sh = req_shape(type);
	TN_ASSERT_HOT(op && sh != SH_UNKNOWN);
	op->type = type;
	if (sh == SH_NONE)
		return 0;
	if (sh == SH_TOKEN)
		return dec_buf(d, &op->data, &op->data_len);
	TRY(dec_str(d, &op->path, false));
	switch (sh) {
	case SH_PATH:
		return 0;
	case SH_PATH_WATCH:
		return tn_rd_bool(&d->r, &op->watch);
	case SH_PATH_VERSION:
		return tn_rd_i32(&d->r, &op->version);
	case SH_PATH_MODE:
		return tn_rd_i32(&d->r, &op->mode);
	case SH_CREATE:
	case SH_CREATE_TTL:
		TRY(dec_buf(d, &op->data, &op->data_len));
		TRY(dec_acl(d, &op->acl));
		TRY(tn_rd_i32(&d->r, &op->flags));
		return sh == SH_CREATE_TTL ? tn_rd_i64(&d->r, &op->ttl) : 0;
	case SH_SETDATA:
		TRY(dec_buf(d, &op->data, &op->data_len));
		return tn_rd_i32(&d->r, &op->version);
	case SH_SETACL:
		TRY(dec_acl(d, &op->acl));
		return tn_rd_i32(&d->r, &op->version);
	default:
		TN_ASSERT(!"dec_op: not a zk_op shape");
		return -EINVAL;
	}
}

static int enc_op(struct tn_wr *w, int32_t type, const struct zk_op *op)
{
	enum shape sh = req_shape(type);
	TN_ASSERT(op);
	TN_ASSERT(op->data_len >= -1 && (op->data_len <= 0 || op->data));
	if (sh == SH_NONE)
		return 0;
	if (sh == SH_TOKEN) {
		tn_wr_buf(w, op->data, op->data_len);
		return 0;
	}
	wr_path(w, op->path);
	switch (sh) {
	case SH_PATH:
		break;
	case SH_PATH_WATCH:
		tn_wr_bool(w, op->watch);
		break;
	case SH_PATH_VERSION:
		tn_wr_i32(w, op->version);
		break;
	case SH_PATH_MODE:
		tn_wr_i32(w, op->mode);
		break;
	case SH_CREATE:
	case SH_CREATE_TTL:
		tn_wr_buf(w, op->data, op->data_len);
		wr_acl(w, &op->acl);
		tn_wr_i32(w, op->flags);
		if (sh == SH_CREATE_TTL)
			tn_wr_i64(w, op->ttl);
		break;
	case SH_SETDATA:
		tn_wr_buf(w, op->data, op->data_len);
		tn_wr_i32(w, op->version);
		break;
	case SH_SETACL:
		wr_acl(w, &op->acl);
		tn_wr_i32(w, op->version);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

/* ---- multi requests ---- */

enum { KIND_NONE, KIND_WRITE, KIND_READ };

static int multi_op_kind(int32_t type)
{
	switch (type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
	case ZK_OP_DELETE:
	case ZK_OP_SETDATA:
	case ZK_OP_CHECK:
		return KIND_WRITE;
	case ZK_OP_GETDATA:
	case ZK_OP_GETCHILDREN:
		return KIND_READ;
	default:
		return KIND_NONE;
	}
}

/* One walk over the ops of a multi of @type. @ops NULL: count only, into *@n.
 * Otherwise fill exactly *@n ops. */
static int multi_walk(struct dec *d, int32_t type, struct zk_op *ops, uint32_t *n)
{
	TN_ASSERT(type == ZK_OP_MULTI || type == ZK_OP_MULTIREAD);
	int want = type == ZK_OP_MULTI ? KIND_WRITE : KIND_READ;
	uint32_t i = 0;
	for (;;) {
		int32_t htype, herr;
		bool done;
		TRY(tn_rd_i32(&d->r, &htype));
		TRY(tn_rd_bool(&d->r, &done));
		TRY(tn_rd_i32(&d->r, &herr)); /* Java ignores it (clients send -1) */
		if (done)
			break;
		/* A kind mismatch is Java's "Mixing different kind of ops" or
		 * "Invalid type of op": both drop the request. */
		if (multi_op_kind(htype) != want)
			return -EBADMSG;
		struct zk_op scratch;
		struct zk_op *op = ops ? &ops[i] : &scratch;
		TN_ASSERT(!ops || i < *n);
		memset(op, 0, sizeof(*op));
		TRY(dec_op(d, htype, op));
		i++;
	}
	TN_ASSERT(!ops || i == *n);
	*n = i;
	return 0;
}

static int dec_multi(struct dec *d, int32_t type, struct zk_op *op)
{
	TN_ASSERT(d->a && op);
	struct dec count = {d->r, NULL};
	uint32_t n = 0;
	TRY(multi_walk(&count, type, NULL, &n));
	struct zk_op *ops = NULL;
	if (n > 0) {
		ops = tn_arena_alloc(d->a, (size_t)n * sizeof(*ops));
		if (!ops)
			return -EMSGSIZE;
	}
	TRY(multi_walk(d, type, ops, &n));
	TN_ASSERT(d->r.p == count.r.p); /* both walks read the same bytes */
	op->sub = ops;
	op->sub_count = n;
	return 0;
}

static int enc_multi(struct tn_wr *w, int32_t type, const struct zk_op *op)
{
	TN_ASSERT(type == ZK_OP_MULTI || type == ZK_OP_MULTIREAD);
	TN_ASSERT(op->sub_count == 0 || op->sub);
	int want = type == ZK_OP_MULTI ? KIND_WRITE : KIND_READ;
	for (uint32_t i = 0; i < op->sub_count; i++) {
		const struct zk_op *s = &op->sub[i];
		if (multi_op_kind(s->type) != want)
			return -EINVAL;
		tn_wr_i32(w, s->type);
		tn_wr_bool(w, false);
		tn_wr_i32(w, -1);
		TRY(enc_op(w, s->type, s));
	}
	tn_wr_i32(w, -1);
	tn_wr_bool(w, true);
	tn_wr_i32(w, -1);
	return 0;
}

/* ---- other request bodies ---- */

static int dec_setwatches(struct dec *d, int32_t type, struct zkp_request *req)
{
	TN_ASSERT(type == ZK_OP_SETWATCHES || type == ZK_OP_SETWATCHES2);
	int lists = type == ZK_OP_SETWATCHES2 ? ZKP_WL_COUNT : ZKP_WL_PERSISTENT;
	TRY(tn_rd_i64(&d->r, &req->watches.relative_zxid));
	for (int i = 0; i < lists; i++)
		TRY(dec_strv(d, &req->watches.lists[i]));
	return 0;
}

static int dec_special(struct dec *d, enum shape sh, struct zkp_request *req)
{
	switch (sh) {
	case SH_MULTI:
		return dec_multi(d, req->type, &req->op);
	case SH_RECONFIG:
		TRY(dec_str(d, &req->reconfig.joining, true));
		TRY(dec_str(d, &req->reconfig.leaving, true));
		TRY(dec_str(d, &req->reconfig.new_members, true));
		return tn_rd_i64(&d->r, &req->reconfig.cur_config_id);
	case SH_AUTH:
		TRY(tn_rd_i32(&d->r, &req->auth.type));
		TRY(dec_str(d, &req->auth.scheme, false));
		return dec_buf(d, &req->auth.auth, &req->auth.auth_len);
	case SH_SETWATCHES:
		return dec_setwatches(d, req->type, req);
	default:
		return dec_op(d, req->type, &req->op);
	}
}

int zkp_decode_request(const void *buf, size_t len, struct tn_arena *a, struct zkp_request *out)
{
	TN_ASSERT(out && a && (buf || len == 0));
	struct dec d = {tn_rd_init(buf, len), a};
	memset(out, 0, sizeof(*out));
	TRY(tn_rd_i32(&d.r, &out->xid));
	TRY(tn_rd_i32(&d.r, &out->type));
	out->op.type = out->type;
	enum shape sh = req_shape(out->type);
	/* check is valid only inside a multi; standalone, ZooKeeper 3.9 answers
	 * Unimplemented and closes, as for any unknown type. */
	if (sh == SH_UNKNOWN || out->type == ZK_OP_CHECK || out->type == ZK_OP_CREATESESSION)
		return ZKP_DEC_UNIMPLEMENTED;
	TRY(dec_special(&d, sh, out));
	size_t left = tn_rd_left(&d.r);
	TN_ASSERT(left <= len);
	out->trailing_bytes = (uint32_t)left;
	return ZKP_DEC_OK;
}

int zkp_encode_request(struct tn_wr *w, const struct zkp_request *req)
{
	TN_ASSERT(w && req);
	enum shape sh = req_shape(req->type);
	if (sh == SH_UNKNOWN)
		return -EINVAL;
	tn_wr_i32(w, req->xid);
	tn_wr_i32(w, req->type);
	switch (sh) {
	case SH_MULTI:
		TRY(enc_multi(w, req->type, &req->op));
		break;
	case SH_RECONFIG:
		tn_wr_str(w, req->reconfig.joining);
		tn_wr_str(w, req->reconfig.leaving);
		tn_wr_str(w, req->reconfig.new_members);
		tn_wr_i64(w, req->reconfig.cur_config_id);
		break;
	case SH_AUTH:
		tn_wr_i32(w, req->auth.type);
		wr_path(w, req->auth.scheme);
		tn_wr_buf(w, req->auth.auth, req->auth.auth_len);
		break;
	case SH_SETWATCHES:
		tn_wr_i64(w, req->watches.relative_zxid);
		for (int i = 0;
		     i < (req->type == ZK_OP_SETWATCHES2 ? ZKP_WL_COUNT : ZKP_WL_PERSISTENT); i++)
			wr_strv(w, req->watches.lists[i].v, req->watches.lists[i].count);
		break;
	default:
		TRY(enc_op(w, req->type, &req->op));
		break;
	}
	return wr_done(w);
}

/* ---- reply encoders (server) ---- */

int zkp_encode_reply_hdr(struct tn_wr *w, int32_t xid, int64_t zxid, int32_t err)
{
	TN_ASSERT(w);
	tn_wr_i32(w, xid);
	tn_wr_i64(w, zxid);
	tn_wr_i32(w, err);
	return wr_done(w);
}

int zkp_encode_stat(struct tn_wr *w, const struct zstat *st)
{
	wr_stat(w, st);
	return wr_done(w);
}

int zkp_encode_create_rsp(struct tn_wr *w, const char *path)
{
	wr_path(w, path);
	return wr_done(w);
}

int zkp_encode_create2_rsp(struct tn_wr *w, const char *path, const struct zstat *st)
{
	wr_path(w, path);
	wr_stat(w, st);
	return wr_done(w);
}

int zkp_encode_stat_rsp(struct tn_wr *w, const struct zstat *st)
{
	return zkp_encode_stat(w, st);
}

int zkp_encode_getdata_rsp(struct tn_wr *w, const void *data, int32_t len, const struct zstat *st)
{
	TN_ASSERT(len >= -1 && (len <= 0 || data));
	tn_wr_buf(w, data, len);
	wr_stat(w, st);
	return wr_done(w);
}

int zkp_encode_getacl_rsp(struct tn_wr *w, const struct zk_acl_list *acl, const struct zstat *st)
{
	TN_ASSERT(acl);
	wr_acl(w, acl);
	wr_stat(w, st);
	return wr_done(w);
}

int zkp_encode_names_rsp(struct tn_wr *w, const char *const *names, int32_t count)
{
	wr_strv(w, names, count);
	return wr_done(w);
}

int zkp_encode_children2_rsp(struct tn_wr *w, const char *const *names, int32_t count,
			     const struct zstat *st)
{
	wr_strv(w, names, count);
	wr_stat(w, st);
	return wr_done(w);
}

int zkp_encode_sync_rsp(struct tn_wr *w, const char *path)
{
	return zkp_encode_create_rsp(w, path);
}

int zkp_encode_number_rsp(struct tn_wr *w, int32_t total)
{
	TN_ASSERT(w);
	tn_wr_i32(w, total);
	return wr_done(w);
}

int zkp_encode_error_rsp(struct tn_wr *w, int32_t err)
{
	TN_ASSERT(w);
	tn_wr_i32(w, err);
	return wr_done(w);
}

int zkp_encode_whoami_rsp(struct tn_wr *w, const struct zkp_client_info *v, int32_t count)
{
	TN_ASSERT(count >= -1 && (count <= 0 || v));
	tn_wr_i32(w, count);
	for (int32_t i = 0; i < count; i++) {
		tn_wr_str(w, v[i].scheme);
		tn_wr_str(w, v[i].user);
	}
	return wr_done(w);
}

int zkp_encode_sasl_rsp(struct tn_wr *w, const void *token, int32_t len)
{
	TN_ASSERT(len >= -1 && (len <= 0 || token));
	tn_wr_buf(w, token, len);
	return wr_done(w);
}

int zkp_encode_multi_result(struct tn_wr *w, const struct zkp_multi_result *r)
{
	TN_ASSERT(w && r);
	tn_wr_i32(w, r->type);
	tn_wr_bool(w, false);
	tn_wr_i32(w, r->type == ZK_OP_ERROR ? r->err : 0);
	switch (r->type) {
	case ZK_OP_CREATE:
		return zkp_encode_create_rsp(w, r->path);
	case ZK_OP_CREATE2:
		return zkp_encode_create2_rsp(w, r->path, &r->stat);
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		return wr_done(w);
	case ZK_OP_SETDATA:
		return zkp_encode_stat_rsp(w, &r->stat);
	case ZK_OP_GETDATA:
		return zkp_encode_getdata_rsp(w, r->data, r->data_len, &r->stat);
	case ZK_OP_GETCHILDREN:
		return zkp_encode_names_rsp(w, r->children.v, r->children.count);
	case ZK_OP_ERROR:
		return zkp_encode_error_rsp(w, r->err);
	default:
		/* createTTL/createContainer results must be sent as create2 (§1.12) */
		return -EINVAL;
	}
}

int zkp_encode_multi_end(struct tn_wr *w)
{
	TN_ASSERT(w);
	tn_wr_i32(w, -1);
	tn_wr_bool(w, true);
	tn_wr_i32(w, -1);
	return wr_done(w);
}

int zkp_encode_multi_rsp(struct tn_wr *w, const struct zkp_multi_result *r, uint32_t n)
{
	TN_ASSERT(n == 0 || r);
	for (uint32_t i = 0; i < n; i++) {
		int rc = zkp_encode_multi_result(w, &r[i]);
		if (rc == -EINVAL)
			return rc;
	}
	return zkp_encode_multi_end(w);
}

static void wr_event(struct tn_wr *w, int32_t type, int32_t state, const char *path)
{
	tn_wr_i32(w, type);
	tn_wr_i32(w, state);
	wr_path(w, path);
}

int zkp_encode_watch_event(struct tn_wr *w, int64_t zxid, int32_t type, const char *path)
{
	zkp_encode_reply_hdr(w, ZKP_XID_WATCH, zxid, ZK_OK);
	wr_event(w, type, ZKP_WATCH_STATE_SYNC_CONNECTED, path);
	return wr_done(w);
}

bool zkp_reply_has_body(int32_t type)
{
	switch (type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
	case ZK_OP_EXISTS:
	case ZK_OP_SETDATA:
	case ZK_OP_SETACL:
	case ZK_OP_GETDATA:
	case ZK_OP_RECONFIG:
	case ZK_OP_GETACL:
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETEPHEMERALS:
	case ZK_OP_GETCHILDREN2:
	case ZK_OP_SYNC:
	case ZK_OP_GETALLCHILDRENNUMBER:
	case ZK_OP_ADDWATCH:
	case ZK_OP_WHOAMI:
	case ZK_OP_SASL:
	case ZK_OP_MULTI:
	case ZK_OP_MULTIREAD:
		return true;
	default:
		return false;
	}
}

/* Reply types with no body: known opcodes only, so a typo is -EINVAL. */
static bool reply_type_known(int32_t type)
{
	if (zkp_reply_has_body(type))
		return true;
	switch (type) {
	case ZK_OP_DELETE:
	case ZK_OP_PING:
	case ZK_OP_AUTH:
	case ZK_OP_SETWATCHES:
	case ZK_OP_SETWATCHES2:
	case ZK_OP_CHECKWATCHES:
	case ZK_OP_REMOVEWATCHES:
	case ZK_OP_CLOSESESSION:
	case ZK_OP_CHECK:
	case ZK_OP_DELETECONTAINER:
		return true;
	default:
		return false;
	}
}

static int enc_reply_body(struct tn_wr *w, const struct zkp_response *r)
{
	switch (r->type) {
	case ZK_OP_CREATE:
		return zkp_encode_create_rsp(w, r->path);
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		return zkp_encode_create2_rsp(w, r->path, &r->stat);
	case ZK_OP_EXISTS:
	case ZK_OP_SETDATA:
	case ZK_OP_SETACL:
		return zkp_encode_stat_rsp(w, &r->stat);
	case ZK_OP_GETDATA:
	case ZK_OP_RECONFIG:
		return zkp_encode_getdata_rsp(w, r->data, r->data_len, &r->stat);
	case ZK_OP_GETACL:
		return zkp_encode_getacl_rsp(w, &r->acl, &r->stat);
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETEPHEMERALS:
		return zkp_encode_names_rsp(w, r->names.v, r->names.count);
	case ZK_OP_GETCHILDREN2:
		return zkp_encode_children2_rsp(w, r->names.v, r->names.count, &r->stat);
	case ZK_OP_SYNC:
		return zkp_encode_sync_rsp(w, r->path);
	case ZK_OP_GETALLCHILDRENNUMBER:
		return zkp_encode_number_rsp(w, r->number);
	case ZK_OP_ADDWATCH:
		return zkp_encode_error_rsp(w, r->number);
	case ZK_OP_WHOAMI:
		return zkp_encode_whoami_rsp(w, r->who.v, r->who.count);
	case ZK_OP_SASL:
		return zkp_encode_sasl_rsp(w, r->data, r->data_len);
	case ZK_OP_MULTI:
	case ZK_OP_MULTIREAD:
		return zkp_encode_multi_rsp(w, r->multi, r->multi_count);
	default:
		return wr_done(w);
	}
}

int zkp_encode_response(struct tn_wr *w, const struct zkp_response *rsp)
{
	TN_ASSERT(w && rsp);
	if (rsp->hdr.xid != ZKP_XID_WATCH && !reply_type_known(rsp->type))
		return -EINVAL;
	zkp_encode_reply_hdr(w, rsp->hdr.xid, rsp->hdr.zxid, rsp->hdr.err);
	if (rsp->hdr.xid == ZKP_XID_WATCH) {
		/* Clients read the event whatever the header's err says. */
		wr_event(w, rsp->event.type, rsp->event.state, rsp->event.path);
		return wr_done(w);
	}
	if (rsp->hdr.err != ZK_OK)
		return wr_done(w); /* errors carry the header only (§1.4) */
	return enc_reply_body(w, rsp);
}

/* ---- reply decoders (client) ---- */

int32_t zkp_multi_error(const struct zkp_multi_result *r, uint32_t n)
{
	TN_ASSERT(n == 0 || r);
	for (uint32_t i = 0; i < n; i++) {
		if (r[i].type != ZK_OP_ERROR)
			continue;
		if (r[i].err != ZK_OK && r[i].err != ZK_ERUNTIMEINCONSISTENCY)
			return r[i].err;
	}
	return ZK_OK;
}

static int dec_multi_result(struct dec *d, int32_t type, struct zkp_multi_result *r)
{
	r->type = type;
	switch (type) {
	case ZK_OP_CREATE:
		return dec_str(d, &r->path, false);
	case ZK_OP_CREATE2:
		TRY(dec_str(d, &r->path, false));
		return dec_stat(d, &r->stat);
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		return 0;
	case ZK_OP_SETDATA:
		return dec_stat(d, &r->stat);
	case ZK_OP_GETDATA:
		TRY(dec_buf(d, &r->data, &r->data_len));
		return dec_stat(d, &r->stat);
	case ZK_OP_GETCHILDREN:
		return dec_strv(d, &r->children);
	case ZK_OP_ERROR:
		/* The Java client takes the code from ErrorResponse, not MultiHeader.err. */
		return tn_rd_i32(&d->r, &r->err);
	default:
		return -EBADMSG;
	}
}

static int multi_rsp_walk(struct dec *d, struct zkp_multi_result *v, uint32_t *n)
{
	uint32_t i = 0;
	for (;;) {
		int32_t htype, herr;
		bool done;
		TRY(tn_rd_i32(&d->r, &htype));
		TRY(tn_rd_bool(&d->r, &done));
		TRY(tn_rd_i32(&d->r, &herr));
		if (done)
			break;
		struct zkp_multi_result scratch;
		struct zkp_multi_result *r = v ? &v[i] : &scratch;
		TN_ASSERT(!v || i < *n);
		memset(r, 0, sizeof(*r));
		TRY(dec_multi_result(d, htype, r));
		i++;
	}
	TN_ASSERT(!v || i == *n);
	*n = i;
	return 0;
}

static int dec_multi_rsp(struct dec *d, struct zkp_response *out)
{
	TN_ASSERT(d->a && out);
	struct dec count = {d->r, NULL};
	uint32_t n = 0;
	TRY(multi_rsp_walk(&count, NULL, &n));
	struct zkp_multi_result *v = NULL;
	if (n > 0) {
		v = tn_arena_alloc(d->a, (size_t)n * sizeof(*v));
		if (!v)
			return -EMSGSIZE;
	}
	TRY(multi_rsp_walk(d, v, &n));
	out->multi = v;
	out->multi_count = n;
	return 0;
}

static int dec_whoami(struct dec *d, struct zkp_response *out)
{
	int32_t n;
	TRY(dec_count(d, 8, &n));
	struct zkp_client_info *v = dec_array(d, n, sizeof(*v));
	if (n > 0 && !v)
		return -EMSGSIZE;
	for (int32_t i = 0; i < n; i++) {
		TRY(dec_str(d, &v[i].scheme, true));
		TRY(dec_str(d, &v[i].user, true));
	}
	out->who.count = n;
	out->who.v = v;
	return 0;
}

static int dec_reply_body(struct dec *d, struct zkp_response *r)
{
	switch (r->type) {
	case ZK_OP_CREATE:
	case ZK_OP_SYNC:
		return dec_str(d, &r->path, false);
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		TRY(dec_str(d, &r->path, false));
		return dec_stat(d, &r->stat);
	case ZK_OP_EXISTS:
	case ZK_OP_SETDATA:
	case ZK_OP_SETACL:
		return dec_stat(d, &r->stat);
	case ZK_OP_GETDATA:
	case ZK_OP_RECONFIG:
		TRY(dec_buf(d, &r->data, &r->data_len));
		return dec_stat(d, &r->stat);
	case ZK_OP_GETACL:
		TRY(dec_acl(d, &r->acl));
		return dec_stat(d, &r->stat);
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETEPHEMERALS:
		return dec_strv(d, &r->names);
	case ZK_OP_GETCHILDREN2:
		TRY(dec_strv(d, &r->names));
		return dec_stat(d, &r->stat);
	case ZK_OP_GETALLCHILDRENNUMBER:
	case ZK_OP_ADDWATCH:
		return tn_rd_i32(&d->r, &r->number);
	case ZK_OP_WHOAMI:
		return dec_whoami(d, r);
	case ZK_OP_SASL:
		return dec_buf(d, &r->data, &r->data_len);
	case ZK_OP_MULTI:
	case ZK_OP_MULTIREAD:
		return dec_multi_rsp(d, r);
	default:
		return 0;
	}
}

int zkp_decode_response(const void *buf, size_t len, int32_t type, struct tn_arena *a,
			struct zkp_response *out)
{
	TN_ASSERT(out && a && (buf || len == 0));
	struct dec d = {tn_rd_init(buf, len), a};
	memset(out, 0, sizeof(*out));
	out->type = type;
	TRY(tn_rd_i32(&d.r, &out->hdr.xid));
	TRY(tn_rd_i64(&d.r, &out->hdr.zxid));
	TRY(tn_rd_i32(&d.r, &out->hdr.err));
	if (out->hdr.xid == ZKP_XID_WATCH) {
		TRY(tn_rd_i32(&d.r, &out->event.type));
		TRY(tn_rd_i32(&d.r, &out->event.state));
		return dec_str(&d, &out->event.path, false);
	}
	if (!reply_type_known(type))
		return -EINVAL;
	if (out->hdr.err != ZK_OK)
		return 0;
	return dec_reply_body(&d, out);
}
