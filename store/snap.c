/* store/snap.c: fuzzy snapshots: write, decode, load, list, purge.
 *
 * A snapshot is written while the writer keeps applying (ZooKeeper's "fuzzy"
 * snapshot). Its zxid is store_last_zxid() read BEFORE the walk starts, so
 * every node in the file reflects at least that zxid and maybe some later
 * txns; replaying the log from zxid+1 makes the loaded tree exact, because
 * every txn is idempotent (store-t.h). The walk is our own depth-first
 * traversal over store_get/store_children: we copy every name and node out
 * before moving on, so we hold no store pointer between nodes and can call
 * store_quiescent() every SNAP_QUIESCE_NODES nodes without holding up the
 * writer's reclamation for the length of a big walk. A node deleted after its
 * parent listed it is skipped (the log replays the delete anyway). So the
 * caller of snap_write() must hold no pointer from an earlier read: the
 * thread goes quiescent inside. Only one snap_write() per directory at a time
 * (the temp name is per zxid).
 *
 * File "snapshot.<16 hex zxid>", written as ".tmp", fsynced, renamed, and
 * the directory fsynced. Every integer is big-endian.
 *
 * Header (SNAP_HDR_LEN = 32 bytes):
 *   off size field
 *     0    8 magic "TERNSNAP"
 *     8    4 version (1)
 *    12    4 flags (bit 0: fuzzy)
 *    16    8 zxid (last applied when the walk started)
 *    24    4 reserved, zero
 *    28    4 CRC32C of bytes 0..27
 * Then records, each framed:
 *     0    4 body length n (1..SNAP_REC_MAX)
 *     4    4 CRC32C of the body
 *     8    n body: type (1 byte), then the fields below
 * Record bodies:
 *   1 SESSION  id u64, timeout_ms i32
 *   2 ACL      ref u32 (= number of ACL records before it), count i32 (-1 =
 *              null), count x (perms i32, scheme str, id str)
 *   3 NODE     path str, czxid, mzxid, ctime, mtime i64, version, cversion,
 *              aversion i32, ephemeral_owner i64, pzxid i64 (StatPersisted,
 *              60 bytes), data buf (-1 = null), acl ref u32 (an earlier ACL)
 *   4 TRAILER  sessions u64, acls u64, nodes u64, file_crc u32: CRC32C of
 *              every byte of the file before this record's frame
 * str/buf = i32 length (-1 null) then bytes. Writers emit the sessions, then
 * nodes parents first, each ACL record just before the first node using it,
 * then the trailer, which must end exactly at end of file: truncation
 * anywhere loses it, a flipped bit fails a record CRC, and a dropped or
 * reordered record fails the file CRC or the counts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_crc32c.h"
#include "common/tn_err.h"
#include "common/tn_fs.h"
#include "common/tn_log.h"
#include "common/tn_rd.h"
#include "store/store_int.h"

#define SNAP_MAGIC "TERNSNAP"
#define SNAP_VERSION 1u
#define SNAP_FLAG_FUZZY 1u
#define SNAP_HDR_LEN 32u
#define SNAP_FRAME_LEN 8u
#define SNAP_REC_MAX (64u << 20)    /* body bytes: far above any znode (jute.maxbuffer) */
#define SNAP_OUTBUF_BYTES (1u << 20) /* write() granularity */
#define SNAP_QUIESCE_NODES 1024u    /* nodes between quiescent states during the walk */
#define SNAP_FILES_MAX 100000u      /* snapshot files one directory may list */
#define SNAP_NAME_PREFIX "snapshot."

enum { SNAP_REC_SESSION = 1, SNAP_REC_ACL = 2, SNAP_REC_NODE = 3, SNAP_REC_TRAILER = 4 };

/* Layout only (sizes and offsets); fields are written big-endian by hand. */
struct snap_hdr {
	uint8_t magic[8];
	uint32_t version, flags;
	uint64_t zxid;
	uint32_t reserved, crc;
};
TN_STATIC_ASSERT(sizeof(struct snap_hdr) == SNAP_HDR_LEN, "snapshot header layout is frozen");
TN_STATIC_ASSERT(SNAP_REC_MAX < INT32_MAX, "record length fits a framed u32");

/* ------------------------------------------------------------------------ */
/* Decoding (pure)                                                          */
/* ------------------------------------------------------------------------ */

struct snap_dec {
	const struct snap_decode_cb *cb;
	void *arg;
	struct zk_acl_list **acls; /* by ref; each one malloc block with its strings */
	uint32_t acl_count, acl_cap;
	char *path;                /* NUL-terminated copy of the current node path */
	size_t path_cap;
	const char *why;
};

static void dec_free(struct snap_dec *d)
{
	for (uint32_t i = 0; i < d->acl_count; i++)
		free(d->acls[i]);
	free(d->acls);
	free(d->path);
}

/* A str field as a NUL-terminated copy at @dst + *@used (the caller sized it). */
static int dec_str_into(struct tn_rd *r, char *dst, size_t *used, const char **out)
{
	const uint8_t *p;
	int32_t n;
	if (tn_rd_buf(r, &p, &n) < 0 || n < 0)
		return -EBADMSG;
	if (memchr(p ? (const void *)p : "", 0, (size_t)n) != NULL)
		return -EBADMSG; /* an embedded NUL would silently shorten the string */
	*out = dst + *used;
	if (n)
		memcpy(dst + *used, p, (size_t)n);
	dst[*used + (size_t)n] = '\0';
	*used += (size_t)n + 1;
	return 0;
}

static int dec_acl(struct snap_dec *d, struct tn_rd *r)
{
	uint32_t ref;
	int32_t count;
	if (tn_rd_u32(r, &ref) < 0 || tn_rd_i32(r, &count) < 0)
		return d->why = "short ACL record", -TN_ECORRUPT;
	if (ref != d->acl_count)
		return d->why = "ACL ref out of sequence", -TN_ECORRUPT;
	/* Every entry takes at least 12 bytes, so this bounds the allocation. */
	if (count < -1 || (count > 0 && (size_t)count > tn_rd_left(r) / 12))
		return d->why = "bad ACL count", -TN_ECORRUPT;
	size_t n = count > 0 ? (size_t)count : 0;
	size_t bytes = sizeof(struct zk_acl_list) + n * sizeof(struct zk_acl) + tn_rd_left(r) + 2 * n;
	struct zk_acl_list *l = malloc(bytes);
	if (!l)
		return -ENOMEM;
	struct zk_acl *v = (struct zk_acl *)(l + 1);
	char *strs = (char *)(v + n);
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		if (tn_rd_i32(r, &v[i].perms) < 0 || dec_str_into(r, strs, &used, &v[i].id.scheme) < 0 ||
		    dec_str_into(r, strs, &used, &v[i].id.id) < 0) {
			free(l);
			return d->why = "bad ACL entry", -TN_ECORRUPT;
		}
	}
	l->count = count;
	l->v = n ? v : NULL;
	if (d->acl_count == d->acl_cap) {
		uint32_t cap = d->acl_cap ? d->acl_cap * 2 : 16;
		struct zk_acl_list **a = realloc(d->acls, cap * sizeof(*a));
		if (!a) {
			free(l);
			return -ENOMEM;
		}
		d->acls = a;
		d->acl_cap = cap;
	}
	d->acls[d->acl_count++] = l;
	return 0;
}

static int dec_stat(struct tn_rd *r, struct zstat *st)
{
	int rc = tn_rd_i64(r, &st->czxid);
	rc = rc ? rc : tn_rd_i64(r, &st->mzxid);
	rc = rc ? rc : tn_rd_i64(r, &st->ctime);
	rc = rc ? rc : tn_rd_i64(r, &st->mtime);
	rc = rc ? rc : tn_rd_i32(r, &st->version);
	rc = rc ? rc : tn_rd_i32(r, &st->cversion);
	rc = rc ? rc : tn_rd_i32(r, &st->aversion);
	rc = rc ? rc : tn_rd_i64(r, &st->ephemeral_owner);
	rc = rc ? rc : tn_rd_i64(r, &st->pzxid);
	return rc;
}

/* Absolute, no empty component, no trailing '/' but for the root, no NUL. */
static bool path_valid(const uint8_t *p, int32_t n)
{
	if (n < 1 || p[0] != '/' || (n > 1 && p[n - 1] == '/'))
		return false;
	for (int32_t i = 1; i < n; i++)
		if (p[i] == 0 || (p[i] == '/' && p[i - 1] == '/'))
			return false;
	return true;
}

static int dec_node(struct snap_dec *d, struct tn_rd *r)
{
	const uint8_t *p, *data;
	int32_t n, data_len;
	uint32_t ref;
	struct zstat st = { 0 };
	if (tn_rd_buf(r, &p, &n) < 0 || !path_valid(p, n))
		return d->why = "bad node path", -TN_ECORRUPT;
	if (dec_stat(r, &st) < 0 || tn_rd_buf(r, &data, &data_len) < 0 || tn_rd_u32(r, &ref) < 0)
		return d->why = "short node record", -TN_ECORRUPT;
	if (tn_rd_left(r) != 0)
		return d->why = "trailing bytes in node record", -TN_ECORRUPT;
	if (ref >= d->acl_count)
		return d->why = "node refers to an undefined ACL", -TN_ECORRUPT;
	if ((size_t)n >= d->path_cap) {
		char *np = realloc(d->path, (size_t)n + 1);
		if (!np)
			return -ENOMEM;
		d->path = np;
		d->path_cap = (size_t)n + 1;
	}
	memcpy(d->path, p, (size_t)n);
	d->path[n] = '\0';
	st.data_length = data_len > 0 ? data_len : 0;
	if (!data && data_len == 0)
		data = (const uint8_t *)""; /* empty, not null: keep a non-NULL pointer */
	return d->cb->node ? d->cb->node(d->arg, d->path, &st, data, data_len, d->acls[ref]) : 0;
}

static int dec_header(const uint8_t *buf, size_t len, struct snap_info *info, const char **why)
{
	if (len < SNAP_HDR_LEN)
		return *why = "shorter than the header", -TN_ECORRUPT;
	if (memcmp(buf, SNAP_MAGIC, 8) != 0)
		return *why = "bad magic", -TN_ECORRUPT;
	if (tn_load_be32(buf + 28) != tn_crc32c(buf, 28))
		return *why = "header CRC mismatch", -TN_ECORRUPT;
	if (tn_load_be32(buf + 8) != SNAP_VERSION)
		return *why = "unknown version", -TN_ECORRUPT;
	info->flags = tn_load_be32(buf + 12);
	info->zxid = tn_load_be64(buf + 16);
	return 0;
}

/* The trailer: counts must match what was decoded, and the file CRC must
 * cover exactly the bytes before its frame (@crc_before). */
static int dec_trailer(struct snap_dec *d, struct tn_rd *r, uint32_t crc_before,
		       const uint64_t seen[3], struct snap_info *info)
{
	uint64_t cnt[3];
	uint32_t crc;
	if (tn_rd_u64(r, &cnt[0]) < 0 || tn_rd_u64(r, &cnt[1]) < 0 || tn_rd_u64(r, &cnt[2]) < 0 ||
	    tn_rd_u32(r, &crc) < 0 || tn_rd_left(r) != 0)
		return d->why = "bad trailer", -TN_ECORRUPT;
	if (crc != crc_before)
		return d->why = "file CRC mismatch (record lost or reordered)", -TN_ECORRUPT;
	if (cnt[0] != seen[0] || cnt[1] != seen[1] || cnt[2] != seen[2])
		return d->why = "trailer counts differ from the records", -TN_ECORRUPT;
	info->sessions = cnt[0];
	info->acls = cnt[1];
	info->nodes = cnt[2];
	return 0;
}

static int dec_record(struct snap_dec *d, struct tn_rd *r, uint8_t type, uint64_t seen[3])
{
	uint64_t sid;
	int32_t timeout;
	int rc;
	switch (type) {
	case SNAP_REC_SESSION:
		if (tn_rd_u64(r, &sid) < 0 || tn_rd_i32(r, &timeout) < 0 || tn_rd_left(r) != 0)
			return d->why = "bad session record", -TN_ECORRUPT;
		seen[0]++;
		return d->cb->session ? d->cb->session(d->arg, sid, timeout) : 0;
	case SNAP_REC_ACL:
		if ((rc = dec_acl(d, r)) < 0)
			return rc;
		if (tn_rd_left(r) != 0)
			return d->why = "trailing bytes in ACL record", -TN_ECORRUPT;
		seen[1]++;
		return 0;
	case SNAP_REC_NODE:
		seen[2]++;
		return dec_node(d, r);
	default:
		return d->why = "unknown record type", -TN_ECORRUPT;
	}
}

static int dec_records(struct snap_dec *d, const uint8_t *buf, size_t len, size_t *off,
		       struct snap_info *info)
{
	uint64_t seen[3] = { 0, 0, 0 };
	uint32_t file_crc = tn_crc32c(buf, SNAP_HDR_LEN);
	*off = SNAP_HDR_LEN;
	for (;;) {
		if (len - *off < SNAP_FRAME_LEN)
			return d->why = "truncated (no trailer)", -TN_ECORRUPT;
		uint32_t n = tn_load_be32(buf + *off), crc = tn_load_be32(buf + *off + 4);
		if (n < 1 || n > SNAP_REC_MAX || n > len - *off - SNAP_FRAME_LEN)
			return d->why = n > SNAP_REC_MAX || n < 1 ? "bad record length"
								  : "truncated record",
			       -TN_ECORRUPT;
		const uint8_t *body = buf + *off + SNAP_FRAME_LEN;
		if (tn_crc32c(body, n) != crc)
			return d->why = "record CRC mismatch", -TN_ECORRUPT;
		struct tn_rd r = tn_rd_init(body + 1, n - 1);
		if (body[0] == SNAP_REC_TRAILER) {
			int rc = dec_trailer(d, &r, file_crc, seen, info);
			if (rc == 0 && *off + SNAP_FRAME_LEN + n != len)
				return d->why = "bytes after the trailer", -TN_ECORRUPT;
			return rc;
		}
		int rc = dec_record(d, &r, body[0], seen);
		if (rc < 0)
			return rc;
		file_crc = tn_crc32c_extend(file_crc, buf + *off, SNAP_FRAME_LEN + n);
		*off += SNAP_FRAME_LEN + n;
	}
}

int snap_decode(const uint8_t *buf, size_t len, const struct snap_decode_cb *cb, void *arg,
		struct snap_info *info, size_t *bad_off, const char **why)
{
	struct snap_dec d = { .cb = cb, .arg = arg };
	struct snap_info tmp = { 0 };
	size_t off = 0;
	TN_ASSERT(cb != NULL);
	TN_ASSERT(buf != NULL || len == 0);
	int rc = dec_header(buf, len, &tmp, &d.why);
	if (rc == 0)
		rc = dec_records(&d, buf, len, &off, &tmp);
	dec_free(&d);
	if (rc == 0 && info)
		*info = tmp;
	if (bad_off)
		*bad_off = off;
	if (why)
		*why = rc == -TN_ECORRUPT ? d.why : tn_strerror(rc);
	TN_ASSERT(rc != -TN_ECORRUPT || d.why != NULL);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

struct load_ctx {
	struct store *s;
	const char *file;
};

static int load_session_cb(void *arg, uint64_t session, int32_t timeout_ms)
{
	struct load_ctx *c = arg;
	return store_load_session(c->s, session, timeout_ms);
}

static int load_node_cb(void *arg, const char *path, const struct zstat *st, const uint8_t *data,
			int32_t data_len, const struct zk_acl_list *acl)
{
	struct load_ctx *c = arg;
	int rc = store_load_node(c->s, path, st, data, data_len, acl);
	if (rc == -ENOENT || rc == -EINVAL) {
		TN_ERROR("snap", "%s: node %s: %s", c->file, path,
			 rc == -ENOENT ? "arrives before its parent" : "rejected by the tree");
		return -TN_ECORRUPT;
	}
	return rc;
}

int snap_load(const char *path, const struct store_cfg *cfg, struct store **out, tn_zxid *zxid)
{
	const uint8_t *buf;
	size_t len, bad_off = 0;
	const char *why = NULL;
	struct snap_info info;
	TN_ASSERT(path && cfg && out);
	int rc = tn_file_map(path, &buf, &len);
	if (rc < 0) {
		TN_ERROR("snap", "%s: cannot read: %s", path, tn_strerror(rc));
		return rc;
	}
	struct load_ctx c = { .file = path };
	if ((rc = store_create(&c.s, cfg)) < 0)
		goto fail_unmap;
	static const struct snap_decode_cb cb = { load_session_cb, load_node_cb };
	rc = snap_decode(buf, len, &cb, &c, &info, &bad_off, &why);
	if (rc == -TN_ECORRUPT)
		TN_ERROR("snap", "%s: corrupt at offset %zu: %s", path, bad_off, why);
	else if (rc < 0)
		TN_ERROR("snap", "%s: load failed near offset %zu: %s", path, bad_off, why);
	if (rc < 0)
		goto fail_store;
	store_set_last_zxid(c.s, info.zxid);
	if (buf)
		tn_file_unmap(buf, len);
	*out = c.s;
	if (zxid)
		*zxid = info.zxid;
	return 0;
fail_store:
	store_destroy(c.s);
fail_unmap:
	if (buf)
		tn_file_unmap(buf, len);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */
/* ------------------------------------------------------------------------ */

/* One distinct ACL list already written, by its encoded bytes. */
struct acl_ent {
	uint64_t hash;
	uint8_t *bytes; /* count and entries, as in the record after the ref */
	size_t len;
	uint32_t ref;
};

struct snap_out {
	int fd;
	uint8_t *buf;              /* SNAP_OUTBUF_BYTES */
	size_t used;
	uint32_t file_crc;         /* over every byte emitted so far */
	uint8_t *scratch;          /* one record body */
	size_t scratch_cap;
	struct acl_ent *acls;      /* open addressing, acl_cap a power of two */
	uint32_t acl_count, acl_cap;
	uint64_t counts[3];        /* sessions, acls, nodes */
};

static int out_flush(struct snap_out *o)
{
	size_t done = 0;
	while (done < o->used) {
		ssize_t n = write(o->fd, o->buf + done, o->used - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	o->used = 0;
	return 0;
}

static int out_bytes(struct snap_out *o, const void *p, size_t n)
{
	const uint8_t *b = p;
	o->file_crc = tn_crc32c_extend(o->file_crc, p, n);
	while (n) {
		size_t k = TN_MIN(n, SNAP_OUTBUF_BYTES - o->used);
		memcpy(o->buf + o->used, b, k);
		o->used += k;
		b += k;
		n -= k;
		if (o->used == SNAP_OUTBUF_BYTES) {
			int rc = out_flush(o);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* Emit the body in o->scratch[0..n) as one framed record. */
static int out_record(struct snap_out *o, size_t n)
{
	uint8_t frame[SNAP_FRAME_LEN];
	if (n > SNAP_REC_MAX)
		return -TN_ELIMIT;
	TN_ASSERT(n >= 1 && n <= o->scratch_cap);
	tn_store_be32(frame, (uint32_t)n);
	tn_store_be32(frame + 4, tn_crc32c(o->scratch, n));
	int rc = out_bytes(o, frame, sizeof frame);
	return rc ? rc : out_bytes(o, o->scratch, n);
}

static int scratch_reserve(struct snap_out *o, size_t n)
{
	if (n <= o->scratch_cap)
		return 0;
	size_t cap = TN_MAX(n, o->scratch_cap * 2);
	uint8_t *p = realloc(o->scratch, cap);
	if (!p)
		return -ENOMEM;
	o->scratch = p;
	o->scratch_cap = cap;
	return 0;
}

static void enc_acl_list(struct tn_wr *w, const struct zk_acl_list *acl)
{
	int32_t count = acl ? acl->count : -1;
	tn_wr_i32(w, count);
	for (int32_t i = 0; i < count; i++) {
		tn_wr_i32(w, acl->v[i].perms);
		tn_wr_str(w, acl->v[i].id.scheme ? acl->v[i].id.scheme : "");
		tn_wr_str(w, acl->v[i].id.id ? acl->v[i].id.id : "");
	}
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static int acl_table_grow(struct snap_out *o)
{
	uint32_t cap = o->acl_cap ? o->acl_cap * 2 : 64;
	struct acl_ent *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < o->acl_cap; i++) {
		if (!o->acls[i].bytes)
			continue;
		uint32_t j = (uint32_t)o->acls[i].hash & (cap - 1);
		while (t[j].bytes)
			j = (j + 1) & (cap - 1);
		t[j] = o->acls[i];
	}
	free(o->acls);
	o->acls = t;
	o->acl_cap = cap;
	return 0;
}

/* The ref of @acl, writing an ACL record first if this list is new. */
static int out_acl_ref(struct snap_out *o, const struct zk_acl_list *acl, uint32_t *ref)
{
	struct tn_wr w = tn_wr_init(NULL, 0);
	enc_acl_list(&w, acl);
	int rc = scratch_reserve(o, 5 + w.len);
	if (rc < 0)
		return rc;
	w = tn_wr_init(o->scratch + 5, o->scratch_cap - 5);
	enc_acl_list(&w, acl);
	TN_ASSERT(!w.overflow);
	uint64_t h = fnv1a(w.buf, w.len);
	if (o->acl_count * 2 >= o->acl_cap && (rc = acl_table_grow(o)) < 0)
		return rc;
	uint32_t j = (uint32_t)h & (o->acl_cap - 1);
	for (; o->acls[j].bytes; j = (j + 1) & (o->acl_cap - 1)) {
		struct acl_ent *e = &o->acls[j];
		if (e->hash == h && e->len == w.len && memcmp(e->bytes, w.buf, w.len) == 0) {
			*ref = e->ref;
			return 0;
		}
	}
	uint8_t *copy = malloc(w.len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, w.buf, w.len);
	o->acls[j] = (struct acl_ent){ h, copy, w.len, o->acl_count };
	*ref = o->acl_count++;
	o->scratch[0] = SNAP_REC_ACL;
	tn_store_be32(o->scratch + 1, *ref);
	o->counts[1]++;
	return out_record(o, 5 + w.len);
}

static void enc_node(struct tn_wr *w, const char *path, const struct store_node_view *v,
		     uint32_t ref)
{
	tn_wr_u8(w, SNAP_REC_NODE);
	tn_wr_str(w, path);
	tn_wr_i64(w, v->stat.czxid);
	tn_wr_i64(w, v->stat.mzxid);
	tn_wr_i64(w, v->stat.ctime);
	tn_wr_i64(w, v->stat.mtime);
	tn_wr_i32(w, v->stat.version);
	tn_wr_i32(w, v->stat.cversion);
	tn_wr_i32(w, v->stat.aversion);
	tn_wr_i64(w, v->stat.ephemeral_owner);
	tn_wr_i64(w, v->stat.pzxid);
	tn_wr_buf(w, v->data, v->data_len < 0 ? -1 : v->data_len);
	tn_wr_u32(w, ref);
}

static int out_node(struct snap_out *o, const char *path, const struct store_node_view *v)
{
	uint32_t ref;
	TN_ASSERT(path[0] == '/');
	TN_ASSERT(v->data_len >= -1);
	int rc = out_acl_ref(o, v->acl, &ref);
	if (rc < 0)
		return rc;
	struct tn_wr w = tn_wr_init(NULL, 0);
	enc_node(&w, path, v, ref);
	if ((rc = scratch_reserve(o, w.len)) < 0)
		return rc;
	w = tn_wr_init(o->scratch, o->scratch_cap);
	enc_node(&w, path, v, ref);
	TN_ASSERT(!w.overflow);
	o->counts[2]++;
	return out_record(o, w.len);
}

struct sess_vec {
	uint64_t *id;
	int32_t *timeout;
	size_t n, cap;
	int err;
};

static void sess_collect(void *arg, uint64_t session, int32_t timeout_ms)
{
	struct sess_vec *sv = arg;
	if (sv->err)
		return;
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 64;
		uint64_t *id = realloc(sv->id, cap * sizeof(*id));
		if (id)
			sv->id = id;
		int32_t *t = id ? realloc(sv->timeout, cap * sizeof(*t)) : NULL;
		if (!t) {
			sv->err = -ENOMEM;
			return;
		}
		sv->timeout = t;
		sv->cap = cap;
	}
	sv->id[sv->n] = session;
	sv->timeout[sv->n++] = timeout_ms;
}

/* Sessions are copied out first: the foreach may hold the table's lock. */
static int out_sessions(struct snap_out *o, struct store *s)
{
	struct sess_vec sv = { 0 };
	store_session_foreach(s, sess_collect, &sv);
	int rc = sv.err ? sv.err : scratch_reserve(o, 13);
	for (size_t i = 0; rc == 0 && i < sv.n; i++) {
		o->scratch[0] = SNAP_REC_SESSION;
		tn_store_be64(o->scratch + 1, sv.id[i]);
		tn_store_be32(o->scratch + 9, (uint32_t)sv.timeout[i]);
		o->counts[0]++;
		rc = out_record(o, 13);
	}
	free(sv.id);
	free(sv.timeout);
	return rc;
}

/* The walk's stack of paths still to visit, each a malloc'd copy. */
struct walk_stack {
	char **v;
	size_t n, cap;
	const char *parent;
	int err;
};

static int walk_push(struct walk_stack *ws, char *path)
{
	if (!path)
		return -ENOMEM;
	if (ws->n == ws->cap) {
		size_t cap = ws->cap ? ws->cap * 2 : 256;
		char **v = realloc(ws->v, cap * sizeof(*v));
		if (!v) {
			free(path);
			return -ENOMEM;
		}
		ws->v = v;
		ws->cap = cap;
	}
	ws->v[ws->n++] = path;
	return 0;
}

static int walk_child_cb(void *arg, const char *name)
{
	struct walk_stack *ws = arg;
	size_t pl = strlen(ws->parent), nl = strlen(name);
	bool root = pl == 1;
	char *p = malloc(pl + nl + 2);
	if (p) {
		memcpy(p, ws->parent, pl);
		p[root ? 1 : pl] = '/';
		memcpy(p + (root ? 1 : pl + 1), name, nl + 1);
	}
	int rc = walk_push(ws, p);
	if (rc < 0)
		ws->err = rc;
	return rc < 0 ? 1 : 0;
}

/* Depth-first, parents before children, holding no store pointer between
 * nodes so the thread can go quiescent every SNAP_QUIESCE_NODES nodes. */
static int out_tree(struct snap_out *o, struct store *s)
{
	struct walk_stack ws = { 0 };
	uint64_t visited = 0;
	int rc = walk_push(&ws, strdup("/"));
	while (rc == 0 && ws.n > 0) {
		char *path = ws.v[--ws.n];
		struct store_node_view v;
		if (store_get(s, path, &v) == ZK_OK) {
			rc = out_node(o, path, &v);
			ws.parent = path;
			if (rc == 0 && store_children(s, path, NULL, walk_child_cb, &ws) != ZK_OK)
				rc = ws.err; /* 0 if the node went away meanwhile */
		}
		free(path);
		if (++visited % SNAP_QUIESCE_NODES == 0)
			store_quiescent(); /* we hold nothing from the store here */
	}
	while (ws.n > 0)
		free(ws.v[--ws.n]);
	free(ws.v);
	return rc;
}

static int out_header_trailer(struct snap_out *o, tn_zxid zxid, bool trailer)
{
	uint8_t h[SNAP_HDR_LEN] = { 0 };
	if (!trailer) {
		memcpy(h, SNAP_MAGIC, 8);
		tn_store_be32(h + 8, SNAP_VERSION);
		tn_store_be32(h + 12, SNAP_FLAG_FUZZY);
		tn_store_be64(h + 16, zxid);
		tn_store_be32(h + 28, tn_crc32c(h, 28));
		return out_bytes(o, h, sizeof h);
	}
	int rc = scratch_reserve(o, 29);
	if (rc < 0)
		return rc;
	o->scratch[0] = SNAP_REC_TRAILER;
	tn_store_be64(o->scratch + 1, o->counts[0]);
	tn_store_be64(o->scratch + 9, o->counts[1]);
	tn_store_be64(o->scratch + 17, o->counts[2]);
	tn_store_be32(o->scratch + 25, o->file_crc);
	return out_record(o, 29);
}

static void out_free(struct snap_out *o)
{
	for (uint32_t i = 0; i < o->acl_cap; i++)
		free(o->acls[i].bytes);
	free(o->acls);
	free(o->scratch);
	free(o->buf);
}

/* Everything between open() and close() of the temp file. */
static int snap_write_fd(struct store *s, int fd, tn_zxid zxid)
{
	struct snap_out o = { .fd = fd };
	int rc = -ENOMEM;
	o.buf = malloc(SNAP_OUTBUF_BYTES);
	if (!o.buf)
		goto out;
	rc = out_header_trailer(&o, zxid, false);
	rc = rc ? rc : out_sessions(&o, s);
	rc = rc ? rc : out_tree(&o, s);
	rc = rc ? rc : out_header_trailer(&o, zxid, true);
	rc = rc ? rc : out_flush(&o);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (rc == 0)
		TN_INFO("snap", "snapshot 0x%" PRIx64 ": %" PRIu64 " sessions, %" PRIu64
			" acls, %" PRIu64 " nodes", zxid, o.counts[0], o.counts[1], o.counts[2]);
out:
	out_free(&o);
	return rc;
}

int snap_write(struct store *s, const char *dir, tn_zxid *zxid)
{
	char tmp[4096], fin[4096];
	TN_ASSERT(s && dir);
	/* Read before the walk: every txn after it may or may not be in the file,
	 * and replay from here on fixes both cases. */
	tn_zxid z = store_last_zxid(s);
	int n1 = snprintf(fin, sizeof fin, "%s/" SNAP_NAME_PREFIX "%016" PRIx64, dir, z);
	int n2 = snprintf(tmp, sizeof tmp, "%s.tmp", fin);
	if (n1 < 0 || n2 < 0 || (size_t)n2 >= sizeof tmp)
		return -ENAMETOOLONG;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = snap_write_fd(s, fd, z);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, fin) < 0)
		rc = -errno;
	if (rc == 0)
		rc = tn_fsync_dir(dir);
	if (rc < 0) {
		TN_ERROR("snap", "%s: snapshot failed: %s", tmp, tn_strerror(rc));
		unlink(tmp);
		return rc;
	}
	if (zxid)
		*zxid = z;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Listing and purging                                                      */
/* ------------------------------------------------------------------------ */

/* "snapshot.<16 hex>" exactly, plus @suffix ("" or ".tmp"). */
static bool parse_name(const char *name, const char *suffix, tn_zxid *z)
{
	size_t pl = strlen(SNAP_NAME_PREFIX);
	if (strncmp(name, SNAP_NAME_PREFIX, pl) != 0 || strlen(name) != pl + 16 + strlen(suffix))
		return false;
	if (strcmp(name + pl + 16, suffix) != 0)
		return false;
	tn_zxid v = 0;
	for (size_t i = pl; i < pl + 16; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (tn_zxid)d;
	}
	*z = v;
	return true;
}

static int cmp_desc(const void *a, const void *b)
{
	tn_zxid x = *(const tn_zxid *)a, y = *(const tn_zxid *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

int snap_list(const char *dir, tn_zxid **out)
{
	DIR *d = opendir(dir);
	size_t n = 0, cap = 0;
	tn_zxid *v = NULL, z;
	*out = NULL;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (!parse_name(e->d_name, "", &z))
			continue;
		if (n == SNAP_FILES_MAX)
			break; /* bounded: a directory this full is not ours to list */
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			tn_zxid *nv = realloc(v, cap * sizeof(*nv));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = z;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_desc);
	*out = v;
	return (int)n;
}

static int unlink_snap(const char *dir, tn_zxid z, const char *suffix)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/" SNAP_NAME_PREFIX "%016" PRIx64 "%s", dir, z, suffix);
	if (unlink(p) < 0) {
		TN_WARN("snap", "purge: cannot remove %s: %s", p, strerror(errno));
		return 0;
	}
	TN_INFO("snap", "purge: removed %s", p);
	return 1;
}

/* Temp files older than the newest complete snapshot are left by a crash:
 * snapshots are written one at a time at rising zxids. */
static int purge_stale_tmp(const char *dir, tn_zxid newest)
{
	DIR *d = opendir(dir);
	tn_zxid z, stale[64];
	int n = 0, deleted = 0;
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d)) != NULL && n < 64;)
		if (parse_name(e->d_name, ".tmp", &z) && z < newest)
			stale[n++] = z;
	closedir(d);
	for (int i = 0; i < n; i++)
		deleted += unlink_snap(dir, stale[i], ".tmp");
	return deleted;
}

int snap_purge(const char *snap_dir, const char *log_dir, unsigned retain)
{
	tn_zxid *v;
	int deleted = 0;
	TN_ASSERT(snap_dir && log_dir);
	retain = TN_MAX(retain, 3u);
	int n = snap_list(snap_dir, &v);
	if (n <= 0)
		return n; /* nothing to keep means nothing to go by: leave the log alone */
	for (int i = (int)retain; i < n; i++)
		deleted += unlink_snap(snap_dir, v[i], "");
	deleted += purge_stale_tmp(snap_dir, v[0]);
	/* The oldest kept snapshot replays from oldest+1: the segment holding that
	 * record must stay, and wal_purge keeps any segment with a record >= it. */
	tn_zxid oldest = v[TN_MIN((unsigned)n, retain) - 1];
	free(v);
	int rc = wal_purge(log_dir, oldest + 1);
	if (rc == -ENOENT)
		rc = 0;
	if (rc < 0)
		return rc;
	return deleted + rc;
}
