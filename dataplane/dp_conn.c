/* dataplane/dp_conn.c: what a client connection does with its bytes.
 *
 * State machine (enum conn_state):
 *   FIRST         the first 4 bytes decide: a four-letter word (answer, close)
 *                 or the length of the ConnectRequest frame
 *   CONNECTING    the ConnectRequest goes to the control thread
 *   WAIT_SESSION  frames pipelined behind it wait in the backlog
 *   OPEN          requests flow; see "ordering" below
 *
 * Ordering. Replies leave in request order (clients drop the connection on an
 * out-of-order xid). Writes, sync and closeSession go to the control thread and
 * come back in the order sent; @inflight counts them. A read is answered here,
 * from the store, only when nothing of this connection is in flight or queued;
 * otherwise it joins the backlog, which drains as replies come back. Pings
 * and auth packets are out of band (the client does not match their xids).
 *
 * Frames. A frame is reassembled in @in only when it straddles recv buffers;
 * frames wholly inside a provided buffer are handled in place. A length below
 * 0 or above jute.maxbuffer, a malformed request, an unknown opcode (-6 sent
 * first) or an unknown auth scheme (-115 sent first) closes this connection
 * and nothing else.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "dataplane/dp_int.h"
#include "dataplane/zkp.h"

/* ---- auth ---- */

static struct dp_auth *auth_clone(const struct dp_auth *old)
{
	struct dp_auth *a = malloc(sizeof *a);

	if (!a)
		return NULL;
	if (!old) {
		memset(a, 0, sizeof *a);
	} else {
		memcpy(a, old, sizeof *a);
		/* re-point the ids into the copy's own string area */
		for (uint32_t i = 0; i < a->a.count; i++) {
			a->a.ids[i].scheme = a->str + (old->a.ids[i].scheme - old->str);
			a->a.ids[i].id = a->str + (old->a.ids[i].id - old->str);
		}
	}
	atomic_init(&a->refs, 1);
	return a;
}

static const char *auth_str(struct dp_auth *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (sizeof a->str - a->str_used < n)
		return NULL;
	p = a->str + a->str_used;
	memcpy(p, s, n);
	a->str_used += n;
	return p;
}

/* Add (scheme, id) unless present. Return 0, -ENOSPC. */
static int auth_add(struct dp_auth *a, const char *scheme, const char *id)
{
	const char *ps, *pi;

	for (uint32_t i = 0; i < a->a.count; i++)
		if (!strcmp(a->a.ids[i].scheme, scheme) && !strcmp(a->a.ids[i].id, id))
			return 0;
	if (a->a.count == STORE_AUTH_MAX)
		return -ENOSPC;
	ps = auth_str(a, scheme);
	pi = ps ? auth_str(a, id) : NULL;
	if (!pi)
		return -ENOSPC;
	a->a.ids[a->a.count].scheme = ps;
	a->a.ids[a->a.count].id = pi;
	a->a.count++;
	return 0;
}

/* ---- lifecycle ---- */

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int dp_conn_init(struct dp_conn *c, const char *ip)
{
	TN_ASSERT(c->st == CS_FREE && c->sess == NULL);
	c->auth = auth_clone(NULL);
	if (!c->auth || auth_add(c->auth, "ip", ip) < 0)
		return -ENOMEM;
	c->st = CS_FIRST;
	c->in.len = c->tx.len = c->acc.len = 0;
	c->tx_off = 0;
	c->sending = c->close_after = c->dirty = c->recv_armed = c->paused = false;
	c->ops = c->inflight = c->backlog_count = 0;
	c->bl_head = c->bl_tail = NULL;
	c->last_zxid = 0;
	c->sasl_step = 0;
	c->held = c->fourlw = c->connect_new = false;
	c->held_next = NULL;
	c->est_ms = wall_ms();
	c->ctl_lop = DP_LOP_NONE;
	/* a fresh connection starts from reset statistics */
	c->stats_epoch = atomic_load_explicit(&c->w->dp->crst_epoch, memory_order_relaxed) - 1;
	dp_conn_stats_sync(c, c->w->dp);
	return 0;
}

void dp_conn_release(struct dp_conn *c)
{
	struct dp_req *r = c->bl_head;

	while (r) {
		struct dp_req *n = r->next;
		free(r);
		r = n;
	}
	c->bl_head = c->bl_tail = NULL;
	c->backlog_count = 0;
	dp_buf_free(&c->in);
	dp_buf_free(&c->tx);
	dp_buf_free(&c->acc);
	if (c->sess) {
		uint64_t tok = dp_conn_token(c->w->idx, c->slot, c->gen);
		/* Watches belong to the connection (as in ZooKeeper): drop them,
		 * unless the session already moved to a newer connection. */
		if (atomic_compare_exchange_strong(&c->sess->owner, &tok, 0))
			store_watch_drop_session(c->w->dp->cfg.store, c->sess->id);
		dp_sess_put(c->sess);
		c->sess = NULL;
	}
	if (c->auth) {
		dp_auth_put(c->auth);
		c->auth = NULL;
	}
}

/* ---- replies ---- */

static void lat_record(struct dp_worker *w, uint64_t t0_ns)
{
	uint64_t us = (dp_now_ns() - t0_ns) / 1000u;

	atomic_fetch_add_explicit(&w->st_lat_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->st_lat_sum_us, us, memory_order_relaxed);
	/* one writer (this worker): plain load/compare/store is enough */
	if (us < atomic_load_explicit(&w->st_lat_min_us, memory_order_relaxed))
		atomic_store_explicit(&w->st_lat_min_us, us, memory_order_relaxed);
	if (us > atomic_load_explicit(&w->st_lat_max_us, memory_order_relaxed))
		atomic_store_explicit(&w->st_lat_max_us, us, memory_order_relaxed);
}

const char *dp_lop_name(int32_t type)
{
	switch (type) {
	case ZK_OP_PING: return "PING";
	case ZK_OP_CREATESESSION: return "SESS";
	case ZK_OP_CLOSESESSION: return "CLOS";
	case ZK_OP_MULTI: return "MULT";
	case ZK_OP_MULTIREAD: return "MLTR";
	case ZK_OP_CREATE: case ZK_OP_CREATE2: case ZK_OP_CREATETTL:
	case ZK_OP_CREATECONTAINER: return "CREA";
	case ZK_OP_DELETE: case ZK_OP_DELETECONTAINER: return "DELE";
	case ZK_OP_SETDATA: return "SETD";
	case ZK_OP_RECONFIG: return "RECO";
	case ZK_OP_SETACL: return "SETA";
	case ZK_OP_SYNC: return "SYNC";
	case ZK_OP_CHECK: return "CHEC";
	case ZK_OP_EXISTS: return "EXIS";
	case ZK_OP_GETDATA: return "GETD";
	case ZK_OP_SETWATCHES: return "SETW";
	case ZK_OP_SETWATCHES2: return "STW2";
	case ZK_OP_ADDWATCH: return "ADDW";
	case ZK_OP_GETACL: return "GETA";
	case ZK_OP_GETCHILDREN: case ZK_OP_GETCHILDREN2: return "GETC";
	case ZK_OP_GETALLCHILDRENNUMBER: return "GETACN";
	case ZK_OP_CHECKWATCHES: return "CHKW";
	case ZK_OP_REMOVEWATCHES: return "REMW";
	case ZK_OP_GETEPHEMERALS: return "GETE";
	case ZK_OP_WHOAMI: return "HOMI";
	default: return "NA";
	}
}

/* A response of op @type left for @c: ZooKeeper's updateStatsForResponse
 * (lcxid only for cxid >= 0; latency in whole ms, as java's clock gives). */
static void conn_stats_record(struct dp_conn *c, int32_t type, int32_t cxid, int64_t zxid,
			      uint64_t t0_ns)
{
	uint64_t now_ns = dp_now_ns();
	uint64_t lat_ms = now_ns > t0_ns ? (now_ns - t0_ns) / 1000000u : 0;

	dp_conn_stats_sync(c, c->w->dp);
	if (cxid >= 0)
		c->st_lcxid = cxid;
	c->st_lzxid = zxid;
	c->lop = type;
	c->lresp_ms = now_ns / 1000000u;
	c->llat_ms = lat_ms;
	c->minlat_ms = TN_MIN(c->minlat_ms, lat_ms);
	c->maxlat_ms = TN_MAX(c->maxlat_ms, lat_ms);
	c->lat_sum_ms += lat_ms;
	c->lat_count++;
	TN_ASSERT_HOT(c->minlat_ms <= c->maxlat_ms);
}

/* Encode @rsp as one frame and queue it. */
static void send_rsp(struct dp_conn *c, const struct zkp_response *rsp)
{
	struct dp_buf *b = &c->w->scratch;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct tn_wr w = tn_wr_init(b->p, b->cap);
		size_t start = zkp_frame_begin(&w);
		int rc = zkp_encode_response(&w, rsp);
		if (rc == 0 || rc == -EMSGSIZE)
			rc = zkp_frame_end(&w, start);
		if (rc == 0 && rsp->hdr.xid == ZKP_XID_WATCH && c->w->defer_events) {
			if (dp_buf_append(&c->w->late, b->p, w.len) < 0)
				dp_conn_close(c, false);
			return;
		}
		if (rc == 0) {
			dp_conn_send(c, b->p, w.len);
			return;
		}
		if (rc != -EMSGSIZE || dp_buf_reserve(b, w.len) < 0) {
			TN_ERROR("dp", "%s: cannot encode reply type %d: %d", c->ip, rsp->type, rc);
			dp_conn_close(c, false);
			return;
		}
	}
	dp_conn_close(c, false); /* UNTESTED: the second pass had room by construction */
}

static int64_t last_zxid(struct dp_conn *c)
{
	int64_t z = (int64_t)store_last_zxid(c->w->dp->cfg.store);
	/* the header zxid must never go backwards on a connection */
	if (z < c->last_zxid)
		z = c->last_zxid;
	c->last_zxid = z;
	return z;
}

/* A reply with no body (errors, ping, auth): any opcode, even unknown ones. */
static void send_hdr(struct dp_conn *c, int32_t xid, int32_t type, int32_t err)
{
	uint8_t buf[ZKP_LEN_PREFIX + ZKP_REPLY_HDR_LEN];
	struct tn_wr w = tn_wr_init(buf, sizeof buf);
	size_t start = zkp_frame_begin(&w);

	(void)type;
	zkp_encode_reply_hdr(&w, xid, last_zxid(c), err);
	TN_ASSERT(zkp_frame_end(&w, start) == 0 && w.len == sizeof buf);
	dp_conn_send(c, buf, w.len);
}

static void send_event(struct dp_conn *c, const struct store_event *ev)
{
	struct zkp_response r = { .hdr = { ZKP_XID_WATCH, (int64_t)ev->zxid, 0 } };

	r.event.type = ev->type;
	r.event.state = ZKP_WATCH_STATE_SYNC_CONNECTED;
	r.event.path = ev->path;
	send_rsp(c, &r);
}

/* Send the events a read's watches fired (see dp_worker.late), after its reply. */
static void flush_late(struct dp_conn *c)
{
	struct dp_buf *l = &c->w->late;
	size_t off = 0;

	while (off + ZKP_LEN_PREFIX <= l->len) {
		size_t n = ZKP_LEN_PREFIX + tn_load_be32(l->p + off);
		TN_ASSERT(off + n <= l->len); /* framed by send_rsp */
		dp_conn_send(c, l->p + off, n);
		off += n;
	}
	TN_ASSERT(off == l->len);
	l->len = 0;
}

/* ---- reads served here ---- */

struct names {
	const char **v;
	int32_t n, cap;
};

static int names_add(void *arg, const char *name)
{
	struct names *nm = arg;

	if (nm->n == nm->cap) {
		int32_t cap = nm->cap ? nm->cap * 2 : 64;
		const char **v = realloc(nm->v, (size_t)cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		nm->v = v;
		nm->cap = cap;
	}
	nm->v[nm->n++] = name;
	return 0;
}

static struct store *S(struct dp_conn *c)
{
	return c->w->dp->cfg.store;
}

static void watch_add(struct dp_conn *c, const char *path, enum store_watch_kind k, tn_zxid rel)
{
	struct store_event ev;

	/* from now on this session's reads take the apply fence (see serve_fenced) */
	atomic_store_explicit(&c->sess->watched, true, memory_order_relaxed);
	int rc = store_watch_add(S(c), c->sess->id, path, k, rel, &ev);

	TN_DEBUG("dp", "watch %d on %s for 0x%" PRIx64 " rel 0x%" PRIx64 ": %d", (int)k, path,
		 c->sess->id, rel, rc);
	if (rc == 1)
		send_event(c, &ev);
}

/* exists / getData: ZK_OK with @v filled, or a zk error; sets watches. */
static int read_node(struct dp_conn *c, const struct zk_op *op, bool exists,
		     struct store_node_view *v)
{
	tn_zxid seen = store_last_zxid(S(c));
	int rc = store_get(S(c), op->path, v);

	if (rc == ZK_OK && !store_acl_allows(S(c), v->acl, ZK_PERM_READ, &c->auth->a))
		return ZK_ENOAUTH;
	if (op->watch && rc == ZK_OK)
		watch_add(c, op->path, STORE_WATCH_DATA, (tn_zxid)v->stat.mzxid);
	else if (op->watch && rc == ZK_ENONODE && exists)
		watch_add(c, op->path, STORE_WATCH_EXIST, seen);
	return rc;
}

static int read_children(struct dp_conn *c, const struct zk_op *op, struct names *nm,
			 struct zstat *st)
{
	struct store_node_view v;
	int rc = store_get(S(c), op->path, &v);

	nm->n = 0;
	if (rc != ZK_OK)
		return rc;
	if (!store_acl_allows(S(c), v.acl, ZK_PERM_READ, &c->auth->a))
		return ZK_ENOAUTH;
	rc = store_children(S(c), op->path, st, names_add, nm);
	if (rc < 0 && rc != ZK_ENONODE) {
		TN_WARN("dp", "getChildren %s: %d", op->path, rc);
		return ZK_ESYSTEM;
	}
	if (rc == ZK_OK && op->watch)
		watch_add(c, op->path, STORE_WATCH_CHILD, (tn_zxid)st->pzxid);
	return rc;
}

static void serve_getacl(struct dp_conn *c, struct zkp_request *rq, struct zkp_response *r,
			 struct tn_arena *a)
{
	struct store_node_view v;
	struct zk_acl *masked;

	r->hdr.err = store_get(S(c), rq->op.path, &v);
	if (r->hdr.err != ZK_OK)
		return;
	bool admin = store_acl_allows(S(c), v.acl, ZK_PERM_ADMIN, &c->auth->a);
	if (!admin && !store_acl_allows(S(c), v.acl, ZK_PERM_READ, &c->auth->a)) {
		r->hdr.err = ZK_ENOAUTH;
		return;
	}
	r->stat = v.stat;
	r->acl = *v.acl;
	if (admin || v.acl->count <= 0)
		return;
	/* without ADMIN, digest ids are shown as user:x (ZooKeeper 3.9) */
	masked = tn_arena_alloc(a, (size_t)v.acl->count * sizeof *masked);
	if (!masked) {
		r->hdr.err = ZK_ESYSTEM;
		return;
	}
	for (int32_t i = 0; i < v.acl->count; i++) {
		masked[i] = v.acl->v[i];
		const char *colon = strchr(masked[i].id.id, ':');
		if (!strcmp(masked[i].id.scheme, "digest") && colon) {
			char *m = tn_arena_strndup(a, masked[i].id.id,
						   (size_t)(colon - masked[i].id.id) + 2);
			if (m) {
				m[colon - masked[i].id.id + 1] = 'x';
				masked[i].id.id = m;
			}
		}
	}
	r->acl.v = masked;
}

struct eph_ctx {
	struct names nm;
	struct tn_arena *a;
};

/* store_ephemerals lends @path only for the call: copy it into the arena. */
static int eph_add(void *arg, const char *path)
{
	struct eph_ctx *e = arg;
	char *copy = tn_arena_strndup(e->a, path, strlen(path));

	return copy ? names_add(&e->nm, copy) : -ENOMEM;
}

static int get_ephemerals(struct dp_conn *c, const char *prefix, struct names *out,
			  struct tn_arena *a)
{
	struct eph_ctx e = { .a = a };
	int rc = store_ephemerals(S(c), c->sess->id, prefix ? prefix : "/", eph_add, &e);

	*out = e.nm;
	return rc < 0 && rc != ZK_ENONODE ? ZK_ESYSTEM : ZK_OK;
}

static void serve_multiread(struct dp_conn *c, struct zkp_request *rq, struct zkp_response *r,
			    struct tn_arena *a)
{
	struct zkp_multi_result *res = tn_arena_alloc(a, (rq->op.sub_count + 1) * sizeof *res);

	if (!res) {
		r->hdr.err = ZK_ESYSTEM;
		return;
	}
	for (uint32_t i = 0; i < rq->op.sub_count; i++) {
		const struct zk_op *op = &rq->op.sub[i];
		struct zkp_multi_result *m = &res[i];
		memset(m, 0, sizeof *m);
		m->type = op->type;
		if (op->type == ZK_OP_GETDATA) {
			struct store_node_view v;
			m->err = read_node(c, op, false, &v);
			m->data = v.data;
			m->data_len = v.data_len;
			m->stat = v.stat;
		} else {
			struct names nm = { 0 };
			struct zstat st;
			m->err = read_children(c, op, &nm, &st);
			/* copy the names: the next sub-op reuses nothing, but free @nm */
			const char **v = m->err == ZK_OK ? tn_arena_alloc(a, (size_t)nm.n * sizeof *v + 1) : NULL;
			if (m->err == ZK_OK && !v)
				m->err = ZK_ESYSTEM;
			if (v && nm.n)
				memcpy(v, nm.v, (size_t)nm.n * sizeof *v);
			m->children.count = nm.n;
			m->children.v = v;
			free(nm.v);
		}
		if (m->err != ZK_OK)
			m->type = ZK_OP_ERROR;
	}
	r->multi = res;
	r->multi_count = rq->op.sub_count;
}

static void serve_setwatches(struct dp_conn *c, struct zkp_request *rq)
{
	static const enum store_watch_kind kinds[ZKP_WL_COUNT] = {
		STORE_WATCH_DATA, STORE_WATCH_EXIST, STORE_WATCH_CHILD, STORE_WATCH_PERSISTENT,
		STORE_WATCH_RECURSIVE,
	};

	for (int l = 0; l < ZKP_WL_COUNT; l++) {
		const struct zkp_strv *sv = &rq->watches.lists[l];
		for (int32_t i = 0; i < sv->count; i++)
			watch_add(c, sv->v[i], kinds[l], (tn_zxid)rq->watches.relative_zxid);
	}
}

static void serve_whoami(struct dp_conn *c, struct zkp_response *r, struct tn_arena *a)
{
	struct zkp_client_info *v = tn_arena_alloc(a, (c->auth->a.count + 1) * sizeof *v);

	if (!v) {
		r->hdr.err = ZK_ESYSTEM;
		return;
	}
	for (uint32_t i = 0; i < c->auth->a.count; i++) {
		v[i].scheme = c->auth->a.ids[i].scheme;
		v[i].user = c->auth->a.ids[i].id;
	}
	r->who.count = (int32_t)c->auth->a.count;
	r->who.v = v;
}

static int count_descendants(struct dp_conn *c, const char *path, int32_t *n)
{
	struct store_node_view v;
	int rc = store_get(S(c), path, &v);

	if (rc == ZK_OK && !store_acl_allows(S(c), v.acl, ZK_PERM_READ, &c->auth->a))
		rc = ZK_ENOAUTH;
	return rc == ZK_OK ? store_count_descendants(S(c), path, n) : rc;
}

/* SASL (op 102): DIGEST-MD5 against the JAAS users; failure closes. */
static void serve_sasl(struct dp_conn *c, struct zkp_request *rq)
{
	struct zkp_response r = { .hdr = { rq->xid, 0, ZK_OK }, .type = rq->type };
	char out[512], user[256];
	struct dp_auth *a;
	int n = dp_sasl_step(c, rq->op.data, rq->op.data_len, out, sizeof out, user, sizeof user);

	if (n < 0 || (size_t)n >= sizeof out) {
		send_hdr(c, rq->xid, rq->type, ZK_EAUTHFAILED);
		dp_conn_close(c, true);
		return;
	}
	if (user[0]) {
		a = auth_clone(c->auth);
		if (!a || auth_add(a, "sasl", user) < 0) {
			if (a)
				dp_auth_put(a);
			send_hdr(c, rq->xid, rq->type, ZK_EAUTHFAILED);
			dp_conn_close(c, true);
			return;
		}
		dp_auth_put(c->auth);
		c->auth = a;
		TN_INFO("dp", "%s: SASL DIGEST-MD5 authenticated %s", c->ip, user);
	}
	r.data = (const uint8_t *)out;
	r.data_len = n;
	r.hdr.zxid = last_zxid(c);
	send_rsp(c, &r);
}

/* Answer a read-like request now. Store pointers are used only until the
 * reply is encoded (before the worker's next quiescent state). */
static void serve_local(struct dp_conn *c, struct zkp_request *rq, struct tn_arena *a)
{
	struct zkp_response r = { .hdr = { rq->xid, 0, ZK_OK }, .type = rq->type };
	struct store_node_view v;
	struct names nm = { 0 };

	switch (rq->type) {
	case ZK_OP_EXISTS:
	case ZK_OP_GETDATA:
		r.hdr.err = read_node(c, &rq->op, rq->type == ZK_OP_EXISTS, &v);
		r.stat = v.stat;
		r.data = v.data;
		r.data_len = v.data_len;
		break;
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETCHILDREN2:
		r.hdr.err = read_children(c, &rq->op, &nm, &r.stat);
		r.names.count = nm.n;
		r.names.v = nm.v;
		break;
	case ZK_OP_GETACL:
		serve_getacl(c, rq, &r, a);
		break;
	case ZK_OP_GETALLCHILDRENNUMBER:
		r.hdr.err = count_descendants(c, rq->op.path, &r.number);
		break;
	case ZK_OP_GETEPHEMERALS:
		r.hdr.err = get_ephemerals(c, rq->op.path, &nm, a);
		r.names.count = nm.n;
		r.names.v = nm.v;
		break;
	case ZK_OP_MULTIREAD:
		serve_multiread(c, rq, &r, a);
		break;
	case ZK_OP_WHOAMI:
		serve_whoami(c, &r, a);
		break;
	case ZK_OP_CHECKWATCHES:
	case ZK_OP_REMOVEWATCHES:
		r.hdr.err = store_watch_remove(S(c), c->sess->id, rq->op.path, rq->op.mode,
					       rq->type == ZK_OP_CHECKWATCHES);
		break;
	case ZK_OP_ADDWATCH:
		watch_add(c, rq->op.path, rq->op.mode == ZK_ADDWATCH_PERSISTENT_RECURSIVE ?
				  STORE_WATCH_RECURSIVE : STORE_WATCH_PERSISTENT, 0);
		r.number = 0;
		break;
	case ZK_OP_SETWATCHES:
	case ZK_OP_SETWATCHES2:
		serve_setwatches(c, rq);
		break;
	case ZK_OP_RECONFIG:
		/* reconfigEnabled=false (enabled, it goes to the control thread) */
		r.hdr.err = ZK_ERECONFIGDISABLED;
		break;
	case ZK_OP_SASL:
		serve_sasl(c, rq);
		return;
	default:
		/* decodable but not a client request (e.g. createSession): as Java does */
		TN_INFO("dp", "%s: op %d is not a client request, closing", c->ip, rq->type);
		send_hdr(c, rq->xid, rq->type, ZK_EUNIMPLEMENTED);
		dp_conn_close(c, true);
		return;
	}
	r.hdr.zxid = last_zxid(c);
	send_rsp(c, &r);
	free(nm.v);
}

/* Auth packets (xid -4): out of band, answered at once. */
static void serve_auth(struct dp_conn *c, struct zkp_request *rq)
{
	const char *super_digest = c->w->dp->cfg.super_digest;
	char cred[1024], id[512];
	struct dp_auth *a;
	int err = ZK_OK, n;

	if (!rq->auth.scheme || strcmp(rq->auth.scheme, "digest") != 0 || rq->auth.auth_len <= 0 ||
	    (size_t)rq->auth.auth_len >= sizeof cred) {
		TN_INFO("dp", "%s: auth scheme %s refused", c->ip,
			rq->auth.scheme ? rq->auth.scheme : "(null)");
		err = ZK_EAUTHFAILED;
		goto reply;
	}
	memcpy(cred, rq->auth.auth, (size_t)rq->auth.auth_len);
	cred[rq->auth.auth_len] = '\0';
	n = store_digest_id(cred, id, sizeof id);
	a = n >= 0 ? auth_clone(c->auth) : NULL;
	if (!a) {
		err = ZK_EAUTHFAILED;
		goto reply;
	}
	if (super_digest && !strcmp(id, super_digest)) {
		a->a.super = true;
		auth_add(a, "super", "");
	}
	if (auth_add(a, "digest", id) < 0) {
		dp_auth_put(a);
		err = ZK_EAUTHFAILED;
		goto reply;
	}
	dp_auth_put(c->auth);
	c->auth = a;
reply:
	send_hdr(c, ZKP_XID_AUTH, ZK_OP_AUTH, err);
	if (err != ZK_OK)
		dp_conn_close(c, true);
}

static bool is_ctl_op(int32_t type)
{
	switch (type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
	case ZK_OP_DELETE:
	case ZK_OP_SETDATA:
	case ZK_OP_SETACL:
	case ZK_OP_MULTI:
	case ZK_OP_SYNC:
	case ZK_OP_CLOSESESSION:
		return true;
	default:
		return false;
	}
}

static void to_ctl(struct dp_conn *c, uint8_t kind, const uint8_t *p, uint32_t len, uint64_t t0)
{
	struct dp_msg *m = dp_msg_new(kind, len);

	if (!m) {
		TN_ERROR("dp", "%s: out of memory, closing", c->ip);
		dp_conn_close(c, false);
		return;
	}
	memcpy(m->data, p, len);
	m->slot = c->slot;
	m->gen = c->gen;
	m->t0_ns = t0;
	snprintf(m->ip, sizeof m->ip, "%s", c->ip);
	if (c->sess) {
		dp_sess_get(c->sess);
		m->sess = c->sess;
	}
	atomic_fetch_add_explicit(&c->auth->refs, 1, memory_order_relaxed);
	m->auth = c->auth;
	dp_worker_to_ctl(c->w, m);
}

/* The codec refuses strings holding U+0000 (tern keeps C strings). ZooKeeper
 * answers a path holding it with BadArguments and keeps the connection, and
 * clients test for that; so when a request whose first field is a path fails
 * to decode, look for a NUL in that path. */
static bool path_has_nul(const uint8_t *p, uint32_t len)
{
	struct tn_rd r = tn_rd_init(p, len);
	int32_t xid, type, n;
	const uint8_t *s;

	if (tn_rd_i32(&r, &xid) < 0 || tn_rd_i32(&r, &type) < 0)
		return false;
	switch (type) {
	case ZK_OP_CREATE: case ZK_OP_DELETE: case ZK_OP_EXISTS: case ZK_OP_GETDATA:
	case ZK_OP_SETDATA: case ZK_OP_GETACL: case ZK_OP_SETACL: case ZK_OP_GETCHILDREN:
	case ZK_OP_SYNC: case ZK_OP_GETCHILDREN2: case ZK_OP_CREATE2: case ZK_OP_CHECKWATCHES:
	case ZK_OP_REMOVEWATCHES: case ZK_OP_CREATECONTAINER: case ZK_OP_CREATETTL:
	case ZK_OP_GETEPHEMERALS: case ZK_OP_GETALLCHILDRENNUMBER: case ZK_OP_ADDWATCH:
		break;
	default:
		return false;
	}
	return tn_rd_buf(&r, &s, &n) == 0 && n > 0 && memchr(s, 0, (size_t)n) != NULL;
}

/* Reads that return store data run inside the apply fence; all of them may
 * run twice (watch registration is idempotent). */
static bool is_fenced_read(int32_t type)
{
	switch (type) {
	case ZK_OP_EXISTS:
	case ZK_OP_GETDATA:
	case ZK_OP_GETCHILDREN:
	case ZK_OP_GETCHILDREN2:
	case ZK_OP_GETACL:
	case ZK_OP_GETALLCHILDRENNUMBER:
	case ZK_OP_GETEPHEMERALS:
	case ZK_OP_MULTIREAD:
		return true;
	default:
		return false;
	}
}

/* Serve a local request; a data read only under the apply fence, so every
 * watch event of a txn it shows goes out before its reply. Return false if
 * the request must wait (parked, nothing sent). */
static bool serve_fenced(struct dp_conn *c, struct zkp_request *rq, struct tn_arena *a,
			 uint64_t t0)
{
	/* A session that never registered a watch can have no event pending, so
	 * nothing can overtake: only watching sessions pay for the fence (and a
	 * watch this read sets fires by its rel_zxid rule, after the reply). */
	bool fenced = is_fenced_read(rq->type) && c->sess &&
		      atomic_load_explicit(&c->sess->watched, memory_order_relaxed);
	size_t mark = c->acc.len;
	uint64_t sent0 = c->sent_count, zxid = 0;

	if (fenced && !dp_fence_enter(c, &zxid))
		return false;
	/* setWatches reports fired watches before its reply, as ZooKeeper does */
	c->w->defer_events = rq->type != ZK_OP_SETWATCHES && rq->type != ZK_OP_SETWATCHES2;
	serve_local(c, rq, a);
	c->w->defer_events = false;
	if (fenced && c->st == CS_OPEN && !dp_fence_exit(c, zxid)) {
		/* an apply began during the read, which may show it before its
		 * events: take the reply back and run the read again after them */
		TN_ASSERT(c->acc.len >= mark && c->sent_count >= sent0);
		c->acc.len = mark;
		c->w->late.len = 0;
		atomic_fetch_sub_explicit(&c->w->st_sent, c->sent_count - sent0, memory_order_relaxed);
		c->sent_count = sent0;
		return false;
	}
	flush_late(c);
	lat_record(c->w, t0);
	if (rq->type != ZK_OP_SASL)
		conn_stats_record(c, rq->type, rq->xid, c->last_zxid, t0);
	return true;
}

/* Handle one decoded request of an open session, in order. Return false if
 * it must wait (a read behind an in-flight write). */
static bool dispatch(struct dp_conn *c, const uint8_t *p, uint32_t len, uint64_t t0, bool queued)
{
	struct tn_arena a = tn_arena_init(c->w->arena_buf, c->w->arena_cap);
	struct zkp_request rq;
	int rc = zkp_decode_request(p, len, &a, &rq);

	if (rc == ZKP_DEC_UNIMPLEMENTED) {
		TN_INFO("dp", "%s: unimplemented op %d, closing", c->ip, rq.type);
		send_hdr(c, rq.xid, rq.type, ZK_EUNIMPLEMENTED);
		dp_conn_close(c, true);
		return true;
	}
	if (rc == -EBADMSG && len >= 8) {
		/* A whole RequestHeader with a body that does not decode: ZooKeeper
		 * answers BadArguments for a NUL in the path and MarshallingError
		 * for anything else, and keeps the connection (checked on 3.8). */
		if (c->held || c->inflight > 0 || (!queued && c->bl_head))
			return false; /* keep the reply in order */
		int32_t err = path_has_nul(p, len) ? ZK_EBADARGUMENTS : ZK_EMARSHALLING;
		TN_INFO("dp", "%s: undecodable request body (%u bytes): error %d", c->ip, len, err);
		send_hdr(c, (int32_t)tn_load_be32(p), 0, err);
		return true;
	}
	if (rc < 0) {
		TN_INFO("dp", "%s: malformed request (%d bytes): %s, closing", c->ip, len,
			strerror(-rc));
		dp_conn_close(c, false);
		return true;
	}
	if (rq.type == ZK_OP_PING) {
		send_hdr(c, ZKP_XID_PING, ZK_OP_PING, ZK_OK);
		conn_stats_record(c, ZK_OP_PING, rq.xid, c->last_zxid, t0);
		return true;
	}
	if (rq.type == ZK_OP_AUTH) {
		serve_auth(c, &rq);
		return true;
	}
	/* reconfig, when enabled, is a write of /zookeeper/config (mgmt/ctl_reconf.c) */
	if (is_ctl_op(rq.type) || (rq.type == ZK_OP_RECONFIG && c->w->dp->cfg.reconfig_enabled)) {
		if (c->held || (!queued && (c->bl_head || c->st != CS_OPEN)))
			return false;
		to_ctl(c, DP_MSG_REQUEST, p, len, t0);
		atomic_fetch_add_explicit(&c->w->st_writes, 1, memory_order_relaxed);
		c->ctl_lop = rq.type;
		c->inflight++;
		uint32_t max = c->w->dp->cfg.outstanding_max;
		if (atomic_fetch_add_explicit(&c->w->dp->outstanding, 1, memory_order_relaxed) + 1 >=
			    (int64_t)max && max)
			dp_conn_pause(c);
		return true;
	}
	if (c->held || c->inflight > 0 || (!queued && c->bl_head))
		return false;
	if (!serve_fenced(c, &rq, &a, t0))
		return false;
	atomic_fetch_add_explicit(&c->w->st_reads, 1, memory_order_relaxed);
	return true;
}

static void backlog_push(struct dp_conn *c, const uint8_t *p, uint32_t len, uint64_t t0)
{
	struct dp_req *r;

	if (c->backlog_count >= DP_BACKLOG_MAX || !(r = malloc(sizeof *r + len))) {
		TN_WARN("dp", "%s: %u requests queued, closing", c->ip, c->backlog_count);
		dp_conn_close(c, false);
		return;
	}
	r->next = NULL;
	r->t0_ns = t0;
	r->len = len;
	memcpy(r->data, p, len);
	if (c->bl_tail)
		c->bl_tail->next = r;
	else
		c->bl_head = r;
	c->bl_tail = r;
	c->backlog_count++;
}

/* Run queued requests until one has to wait. */
static void backlog_drain(struct dp_conn *c)
{
	while (c->bl_head && c->st == CS_OPEN) {
		struct dp_req *r = c->bl_head;
		if (!dispatch(c, r->data, r->len, r->t0_ns, true))
			break;
		c->bl_head = r->next;
		if (!c->bl_head)
			c->bl_tail = NULL;
		c->backlog_count--;
		free(r);
	}
}

static void on_frame(struct dp_conn *c, const uint8_t *p, uint32_t len)
{
	uint64_t t0 = dp_now_ns();
	struct zkp_connect_req cr;

	dp_conn_stats_sync(c, c->w->dp);
	c->recv_count++;
	atomic_fetch_add_explicit(&c->w->st_recv, 1, memory_order_relaxed);
	if (c->sess)
		atomic_store_explicit(&c->sess->touch_ms, t0 / 1000000u, memory_order_relaxed);
	if (c->st == CS_CONNECTING) {
		if (zkp_decode_connect_req(p, len, &cr) < 0) {
			TN_INFO("dp", "%s: malformed ConnectRequest, closing", c->ip);
			dp_conn_close(c, false);
			return;
		}
		c->st = CS_WAIT_SESSION;
		c->connect_new = cr.session_id == 0;
		to_ctl(c, DP_MSG_CONNECT, p, len, t0);
		return;
	}
	if (c->st == CS_WAIT_SESSION || !dispatch(c, p, len, t0, false))
		backlog_push(c, p, len, t0);
}

static void answer_4lw(struct dp_conn *c, int word)
{
	const struct dp_cfg *cfg = &c->w->dp->cfg;
	const char *name = zkp_4lw_name(word);
	char *out = malloc(1u << 20);
	size_t n;

	if (!out) {
		dp_conn_close(c, false);
		return;
	}
	/* ZooKeeper lists the asking connection too: ops 0, recved 1 */
	c->fourlw = true;
	dp_conn_stats_sync(c, c->w->dp);
	c->recv_count = 1;
	n = cfg->fourlw ? cfg->fourlw(cfg->fourlw_arg, name, out, 1u << 20) : 0;
	if (n)
		dp_conn_send(c, out, TN_MIN(n, (size_t)(1u << 20)));
	free(out);
	dp_conn_close(c, true);
}

/* Consume whole frames from @p; return the bytes used. */
static size_t parse(struct dp_conn *c, const uint8_t *p, size_t n)
{
	size_t off = 0;

	while (off < n && (c->st == CS_FIRST || c->st == CS_CONNECTING || c->st == CS_WAIT_SESSION ||
			   c->st == CS_OPEN) && !c->close_after) {
		uint32_t flen;
		int rc;
		if (c->st == CS_FIRST) {
			rc = zkp_4lw_detect(p + off, n - off);
			if (rc == -EAGAIN)
				break;
			if (rc > 0) {
				answer_4lw(c, rc);
				return n;
			}
			c->st = CS_CONNECTING;
		}
		rc = zkp_frame_len(p + off, n - off, c->w->dp->cfg.frame_max, &flen);
		if (rc == ZKP_FRAME_NEED_MORE)
			break;
		if (rc < 0) {
			TN_INFO("dp", "%s: bad frame length, closing", c->ip);
			dp_conn_close(c, false);
			return n;
		}
		on_frame(c, p + off + ZKP_LEN_PREFIX, flen);
		off += ZKP_LEN_PREFIX + flen;
	}
	return off;
}

void dp_conn_input(struct dp_conn *c, const uint8_t *p, size_t n)
{
	size_t used;

	if (c->in.len == 0) {
		used = parse(c, p, n);
		if (used < n && c->st != CS_CLOSING && dp_buf_append(&c->in, p + used, n - used) < 0)
			dp_conn_close(c, false);
		return;
	}
	if (dp_buf_append(&c->in, p, n) < 0) {
		dp_conn_close(c, false);
		return;
	}
	used = parse(c, c->in.p, c->in.len);
	if (c->st == CS_CLOSING) {
		c->in.len = 0;
		return;
	}
	memmove(c->in.p, c->in.p + used, c->in.len - used);
	c->in.len -= used;
	/* a connection idle after a big frame gives its buffer back */
	if (c->in.len == 0 && c->in.cap > (1u << 20))
		dp_buf_free(&c->in);
}

void dp_conn_unhold(struct dp_conn *c)
{
	TN_ASSERT(!c->held);
	if (c->st == CS_OPEN)
		backlog_drain(c);
}

void dp_conn_deliver(struct dp_conn *c, struct dp_msg *m)
{
	switch (m->kind) {
	case DP_MSG_REPLY:
		TN_ASSERT(c->inflight > 0);
		c->inflight--;
		atomic_fetch_sub_explicit(&c->w->dp->outstanding, 1, memory_order_relaxed);
		if (m->len >= ZKP_LEN_PREFIX + ZKP_REPLY_HDR_LEN) {
			/* the reply's xid and zxid (frame: len, xid, zxid, err): cons shows them */
			int32_t xid = (int32_t)tn_load_be32(m->data + ZKP_LEN_PREFIX);
			int64_t z = (int64_t)tn_load_be64(m->data + ZKP_LEN_PREFIX + 4);
			c->last_zxid = TN_MAX(c->last_zxid, z);
			/* replies come back in request order, so the last one's op is
			 * the last request sent once all are answered */
			conn_stats_record(c, c->ctl_lop, xid, z, m->t0_ns);
		}
		dp_conn_send(c, m->data, m->len);
		lat_record(c->w, m->t0_ns);
		if (m->flags & DP_MSGF_CLOSE_AFTER)
			dp_conn_close(c, true);
		else
			backlog_drain(c);
		break;
	case DP_MSG_EVENT:
		dp_conn_send(c, m->data, m->len);
		break;
	case DP_MSG_CONNECTED:
		TN_ASSERT(c->st == CS_WAIT_SESSION);
		dp_conn_send(c, m->data, m->len);
		if (m->sess && !(m->flags & DP_MSGF_CLOSE_AFTER)) {
			c->sess = m->sess; /* the message's reference moves to the connection */
			m->sess = NULL;
			c->sid = c->sess->id;
			c->timeout_ms = c->sess->timeout_ms;
			c->st = CS_OPEN;
			/* ZooKeeper counts a new session's createSession as a response
			 * (lop SESS, cxid 0); a reconnect is not counted */
			if (c->connect_new)
				conn_stats_record(c, ZK_OP_CREATESESSION, 0,
						  (int64_t)store_last_zxid(S(c)), m->t0_ns);
			backlog_drain(c);
		} else {
			dp_conn_close(c, true);
		}
		break;
	case DP_MSG_CLOSE:
		if (m->len)
			dp_conn_send(c, m->data, m->len);
		dp_conn_close(c, true);
		break;
	default:
		TN_ASSERT(!"dp_conn_deliver: unexpected message kind");
	}
	dp_msg_free(m);
}
