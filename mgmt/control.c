/* mgmt/control.c: the control thread of a standalone server.
 *
 * One thread is the store's single writer. Requests arrive from the workers
 * on one MPSC ring; each becomes a pending item in one FIFO:
 *
 *   request ─ decode ─ store_prep (zxid = epoch<<32 | counter) ─ txn_encode
 *           ─ wal_append ─ [pending FIFO] ─ WAL durable callback covers zxid
 *           ─ store_apply ─ watch events to their sessions' workers ─ reply
 *
 * The FIFO holds txn items (done when the durable zxid reaches theirs) and
 * barriers (sync: done when everything before is applied), so replies,
 * events and session changes happen strictly in zxid order, and an
 * acknowledged write is always on disk (fdatasync'd) first. Failed requests
 * are logged as ERROR txns too: they keep their place in the order and
 * consume a zxid, as in ZooKeeper.
 *
 * The WAL's log thread reports durability by storing @durable and writing
 * the eventfd this thread sleeps on (poll). Workers wake it the same way, but
 * only when it announced it is about to sleep (@sleeping; Dekker with the
 * ring push, see dataplane/dp.h).
 *
 * Sessions: a hash table of struct dp_sess (id → session), shared by
 * reference with the connection the session is attached to. The expiry scan
 * runs every tick/2 and turns each session idle past its timeout into a
 * closeSession txn. Passwords are ZooKeeper's: java.util.Random seeded with
 * id ^ 0xB3415C00, 16 bytes, so they survive restarts with no state.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>
#include <urcu/urcu-qsbr.h>

#include "common/tn_assert.h"
#include "common/tn_err.h"
#include "common/tn_fs.h"
#include "common/tn_log.h"
#include "consensus/zab.h"
#include "dataplane/zkp.h"
#include "mgmt/admin.h"
#include "mgmt/mgmt.h"

#define CTL_SESS_BUCKETS 4096u
#define CTL_BATCH 4096u           /* ring messages per loop turn */
#define CTL_STOP_WAIT_MS 10000u   /* shutdown: wait this long for the WAL */
#define CTL_ARENA_MIN 16384u
#define CTL_ARENA_MAX (256u << 20)
#define CTL_POLL_MAX 160u         /* eventfd + peer sockets */
#define CTL_ENS_POLL_MS 20        /* ensemble: longest sleep (election timers) */
#define CTL_ENS_STOP_WAIT_MS 1000u
#define CTL_TOUCH_MAX 65536u      /* sessions per touch message */

enum pend_kind { PK_TXN, PK_SYNC, PK_NEW_SESSION, PK_DEAD /* failed after queueing */ };

struct pend {
	struct pend *next;
	enum pend_kind kind;
	tn_zxid zxid;
	struct dp_msg *m;          /* the request, NULL for internal ones */
	int32_t xid, type;         /* the client's request */
	int32_t timeout_ms;        /* PK_NEW_SESSION */
	bool read_only;            /* PK_NEW_SESSION: echo flag present */
	bool has_read_only;
	const char *sync_path;
	struct txn txn;
	uint8_t *arena;            /* decode memory (the txn may borrow from it) */
	uint8_t *arena2;           /* prep memory */
	/* ensemble learner: the request goes to the leader and completes when its
	 * txn comes back in a COMMIT (matched by session and cxid) */
	bool fwd;
	bool held;                 /* not forwarded yet: behind a sync */
	uint64_t session;
	uint64_t sync_tag;         /* PK_SYNC on a learner: its zab_sync tag */
	bool foreign;              /* leader: a learner's request, applied from its COMMIT */
	bool queued;               /* already in the FIFO (held, then released) */
	size_t arena_cap;
};

struct ctl {
	struct ctl_cfg cc;
	struct store *s;
	struct dp *dp;
	_Atomic(struct dp *) dp_pub; /* set once serving; four-letter words read it */
	struct wal *wal;
	struct dp_ring *ring;
	int efd;
	_Atomic int sleeping;
	_Atomic bool stop;
	_Atomic bool failed;
	_Atomic uint64_t durable;  /* highest durable zxid (log thread → here) */
	pthread_t th;
	bool running;
	tn_zxid next_zxid;         /* the last zxid handed out */
	uint64_t next_session;
	struct pend *head, *tail;
	_Atomic uint64_t outstanding; /* read by four-letter words */
	struct dp_sess *sess[CTL_SESS_BUCKETS];
	/* timers, monotonic ms */
	uint64_t t_expiry, t_reap, t_purge, t_start;
	/* snapshots */
	uint64_t since_snap, snap_at;
	pthread_t snap_th;
	_Atomic bool snap_busy;
	bool snap_joinable;
	bool purge_due;
	uint8_t *enc;              /* txn encode buffer */
	size_t enc_cap;
	/* ensemble (zab == NULL: standalone). See the ensemble section below. */
	struct zab *zab;
	struct peer_net *pn;
	enum zab_role role;
	uint32_t leader;
	_Atomic bool serving;      /* clients may be answered; always true standalone */
	_Atomic int role_pub;      /* enum zab_role, for four-letter words */
	_Atomic bool restart;      /* the state was replaced on disk: ternd re-executes */
	tn_zxid told_durable;      /* last zab_on_logged */
	uint64_t sync_next, sync_done;
	unsigned syncs;            /* PK_SYNC items in the FIFO (ensemble) */
	uint64_t t_touch;
	uint8_t *fwd;              /* forward encode buffer */
	size_t fwd_cap;
};

/* the ensemble section (below the thread's loop) */
static bool is_learner(const struct ctl *c);
static void ens_submit(struct ctl *c, struct pend *p, struct store_req *req, size_t hint);
static void pump(struct ctl *c);
struct zkp_connect_req;
struct zkp_request;
static void connect_read_only(struct ctl *c, struct dp_msg *m, const struct zkp_connect_req *cr);
static void request_read_only(struct ctl *c, struct dp_msg *m, const struct zkp_request *rq);

/* ---- sessions ---- */

static struct dp_sess **sess_slot(struct ctl *c, uint64_t id)
{
	struct dp_sess **pp = &c->sess[(id ^ (id >> 29)) % CTL_SESS_BUCKETS];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static struct dp_sess *sess_find(struct ctl *c, uint64_t id)
{
	return *sess_slot(c, id);
}

static struct dp_sess *sess_add(struct ctl *c, uint64_t id, int32_t timeout_ms)
{
	struct dp_sess **pp = sess_slot(c, id);
	struct dp_sess *s;

	if (*pp)
		return *pp;
	s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->id = id;
	s->timeout_ms = timeout_ms;
	atomic_init(&s->refs, 1); /* the table's reference */
	atomic_init(&s->touch_ms, dp_now_ms());
	*pp = s;
	return s;
}

static void sess_remove(struct ctl *c, uint64_t id)
{
	struct dp_sess **pp = sess_slot(c, id), *s = *pp;
	if (!s)
		return;
	*pp = s->hnext;
	s->hnext = NULL;
	dp_sess_put(s);
}

/* java.util.Random(id ^ 0xB3415C00).nextBytes(16): ZooKeeper's session password. */
static void sess_passwd(uint64_t id, uint8_t out[ZKP_PASSWD_LEN])
{
	const uint64_t mask = (1ull << 48) - 1;
	uint64_t seed = ((id ^ 0xB3415C00ull) ^ 0x5DEECE66Dull) & mask;

	for (int i = 0; i < ZKP_PASSWD_LEN;) {
		seed = (seed * 0x5DEECE66Dull + 0xBull) & mask;
		uint32_t rnd = (uint32_t)(seed >> 16);
		for (int n = 0; n < 4 && i < ZKP_PASSWD_LEN; n++, rnd >>= 8)
			out[i++] = (uint8_t)rnd;
	}
}

static void find_max_session(void *arg, uint64_t id, int32_t timeout_ms)
{
	struct ctl *c = arg;
	if (id >= c->next_session)
		c->next_session = id + 1;
	if (!sess_add(c, id, timeout_ms))
		TN_ERROR("ctl", "out of memory loading session 0x%" PRIx64, id);
}

static uint64_t new_session_id(struct ctl *c)
{
	uint64_t id = c->next_session++;
	if (id == ZK_OWNER_CONTAINER || id == 0)
		id = c->next_session++;
	return id;
}

/* ---- posting to workers ---- */

static struct dp_msg *msg_to(const struct dp_msg *req, uint8_t kind, uint32_t len)
{
	struct dp_msg *m = dp_msg_new(kind, len);
	if (!m)
		return NULL;
	m->worker = req->worker;
	m->slot = req->slot;
	m->gen = req->gen;
	m->t0_ns = req->t0_ns;
	return m;
}

static void post_token(struct ctl *c, uint64_t tok, uint8_t kind, const void *p, uint32_t len)
{
	struct dp_msg *m = dp_msg_new(kind, len);
	if (!m)
		return;
	m->worker = (uint16_t)dp_token_worker(tok);
	m->slot = dp_token_slot(tok);
	m->gen = dp_token_gen(tok);
	if (len)
		memcpy(m->data, p, len);
	if (m->worker >= dp_worker_count(c->dp)) {
		dp_msg_free(m);
		return;
	}
	dp_post(c->dp, m);
}

/* Encode a framed reply with zkp and post it to @req's connection; a
 * reference to @sess (may be NULL) travels with it. */
static void post_rsp(struct ctl *c, const struct dp_msg *req, uint8_t kind, uint8_t flags,
		     const struct zkp_response *rsp, const struct zkp_connect_rsp *crsp,
		     struct dp_sess *sess)
{
	size_t cap = 512;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct dp_msg *m = msg_to(req, kind, (uint32_t)cap);
		if (!m)
			return;
		struct tn_wr w = tn_wr_init(m->data, cap);
		size_t start = zkp_frame_begin(&w);
		int rc = crsp ? zkp_encode_connect_rsp(&w, crsp) : zkp_encode_response(&w, rsp);
		if (rc == 0 || rc == -EMSGSIZE)
			rc = zkp_frame_end(&w, start);
		if (rc == 0) {
			m->len = (uint32_t)w.len;
			m->flags = flags;
			if (sess) {
				dp_sess_get(sess);
				m->sess = sess;
			}
			dp_post(c->dp, m);
			return;
		}
		dp_msg_free(m);
		if (rc != -EMSGSIZE) {
			TN_ERROR("ctl", "cannot encode a reply to op %d: %d", rsp ? rsp->type : -10, rc);
			return;
		}
		cap = w.len;
	}
}

static void post_hdr(struct ctl *c, const struct dp_msg *req, int32_t xid, int32_t type,
		     int32_t err, uint8_t flags)
{
	struct zkp_response r = { .hdr = { xid, (int64_t)store_last_zxid(c->s), err }, .type = type };
	post_rsp(c, req, DP_MSG_REPLY, flags, &r, NULL, NULL);
}

static void post_event(struct ctl *c, const struct store_event *ev)
{
	struct dp_sess *s = sess_find(c, ev->session);
	uint64_t tok = s ? atomic_load(&s->owner) : 0;
	uint8_t buf[4096];
	struct tn_wr w = tn_wr_init(buf, sizeof buf);
	size_t start;

	TN_DEBUG("ctl", "event %d %s for 0x%" PRIx64 " (conn %" PRIx64 ")", ev->type, ev->path,
		 ev->session, tok);
	if (!tok)
		return; /* not connected: the client re-arms with setWatches */
	start = zkp_frame_begin(&w);
	if (zkp_encode_watch_event(&w, (int64_t)ev->zxid, ev->type, ev->path) < 0 ||
	    zkp_frame_end(&w, start) < 0) {
		TN_WARN("ctl", "watch event for %s too large, dropped", ev->path);
		return;
	}
	post_token(c, tok, DP_MSG_EVENT, buf, (uint32_t)w.len);
}

/* ---- the pending FIFO ---- */

static void pend_push(struct ctl *c, struct pend *p)
{
	p->next = NULL;
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	c->outstanding++;
}

static void pend_free(struct pend *p)
{
	if (p->m)
		dp_msg_free(p->m);
	free(p->arena);
	free(p->arena2);
	free(p);
}

static tn_zxid zxid_next(struct ctl *c)
{
	tn_zxid z = c->next_zxid + 1;
	if (ZK_COUNTER(z) == 0) /* counter wrapped: start a new epoch, as a new leader would */
		z = (tn_zxid)(ZK_EPOCH(c->next_zxid) + 1) << 32 | 1;
	return z;
}

/* Tell the client of @p (if any) that its request failed: SystemError for a
 * request, a closed connection for a handshake. */
static void fail_client(struct ctl *c, struct pend *p)
{
	if (!p->m)
		return;
	if (p->kind == PK_NEW_SESSION)
		post_token(c, dp_conn_token(p->m->worker, p->m->slot, p->m->gen), DP_MSG_CLOSE,
			   NULL, 0);
	else
		post_hdr(c, p->m, p->xid, p->type, ZK_ESYSTEM, 0);
}

/* Prep @req into @p->txn (growing the prep arena as needed), encode and
 * append it to the WAL, and queue @p. On a failure the item is freed and the
 * client (if any) gets SystemError. */
static void submit_txn(struct ctl *c, struct pend *p, struct store_req *req, size_t hint)
{
	size_t cap = TN_MAX((size_t)CTL_ARENA_MIN, hint * 4);
	int rc;

	if (c->zab) {
		/* zero: not a serving leader, or the proposal window is full */
		req->hdr.zxid = zab_next_zxid(c->zab);
		if (!req->hdr.zxid) {
			rc = -EAGAIN;
			goto fail;
		}
	} else {
		req->hdr.zxid = zxid_next(c);
	}
	req->hdr.time_ms = (int64_t)c->cc.env->now_ms(c->cc.env);
	for (;;) {
		struct tn_arena a;
		free(p->arena2);
		p->arena2 = malloc(cap);
		if (!p->arena2) {
			rc = -ENOMEM;
			goto fail;
		}
		a = tn_arena_init(p->arena2, cap);
		rc = store_prep(c->s, req, &p->txn, &a);
		if ((rc == -ENOMEM || rc == -EMSGSIZE) && cap < CTL_ARENA_MAX) {
			cap *= 4;
			continue;
		}
		break;
	}
	if (rc == -ENOMEM || rc == -EMSGSIZE)
		goto fail;
	/* ZK_OK or a zk error (negative too): either way @p->txn is a txn to log */
	rc = (int)txn_encoded_len(&p->txn);
	if ((size_t)rc > c->enc_cap) {
		uint8_t *e = realloc(c->enc, (size_t)rc);
		if (!e) {
			rc = -ENOMEM;
			goto fail_prepped;
		}
		c->enc = e;
		c->enc_cap = (size_t)rc;
	}
	rc = txn_encode(&p->txn, c->enc, c->enc_cap);
	if (rc >= 0 && c->zab)
		rc = zab_propose(c->zab, req->hdr.zxid, c->enc, (size_t)rc);
	else if (rc >= 0)
		rc = wal_append(c->wal, req->hdr.zxid, c->enc, (uint32_t)rc);
	if (rc < 0)
		goto fail_prepped;
	p->zxid = req->hdr.zxid;
	c->next_zxid = p->zxid;
	if (p->foreign) {
		pend_free(p); /* its learner answers the client; we apply it from the COMMIT */
		return;
	}
	if (!p->queued)
		pend_push(c, p);
	return;
fail_prepped:
	/* The overlay now holds a txn that is not in the log. With nothing else
	 * in flight it can simply be forgotten; otherwise later preps would build
	 * on a phantom, so the server stops. */
	if (!c->head)
		store_prep_reset(c->s);
	else
		atomic_store(&c->failed, true);
fail:
	TN_ERROR("ctl", "request type %d: %s", p->type, tn_strerror(rc));
	fail_client(c, p);
	if (rc == -EIO || rc == -TN_ESHUTDOWN)
		atomic_store(&c->failed, true);
	if (p->queued) {
		p->kind = PK_DEAD; /* in the FIFO: pump() drops it at the head */
		return;
	}
	pend_free(p);
}

static struct pend *pend_new(struct dp_msg *m, enum pend_kind kind, size_t arena_bytes)
{
	struct pend *p = calloc(1, sizeof *p);

	if (!p)
		return NULL;
	p->kind = kind;
	p->m = m;
	if (arena_bytes && !(p->arena = malloc(arena_bytes))) {
		free(p);
		return NULL;
	}
	p->arena_cap = arena_bytes;
	return p;
}

/* A ConnectRequest. New sessions go through the log; reconnects are checked
 * against the table and answered at once. */
static void on_connect(struct ctl *c, struct dp_msg *m)
{
	const struct cfg *cfg = c->cc.cfg;
	struct zkp_connect_req cr;
	struct zkp_connect_rsp rsp = { 0 };
	int32_t to;

	if (zkp_decode_connect_req(m->data, m->len, &cr) < 0 ||
	    (!atomic_load(&c->serving) &&
	     !(cfg->readonly_mode && cfg->local_sessions_enabled && cr.read_only))) {
		post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
		goto out;
	}
	if (!atomic_load(&c->serving)) {
		connect_read_only(c, m, &cr);
		goto out;
	}
	if ((uint64_t)cr.last_zxid_seen > store_last_zxid(c->s)) {
		TN_INFO("ctl", "%s: client has seen zxid 0x%" PRIx64 ", ahead of ours 0x%" PRIx64
			", closing", m->ip, (uint64_t)cr.last_zxid_seen, store_last_zxid(c->s));
		post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
		goto out;
	}
	to = TN_MAX(cr.timeout_ms, (int32_t)cfg->session_timeout_ms_min);
	to = TN_MIN(to, (int32_t)cfg->session_timeout_ms_max);
	rsp.has_read_only = cr.has_read_only;
	rsp.passwd_len = ZKP_PASSWD_LEN;
	if (cr.session_id == 0) {
		struct pend *p = pend_new(m, PK_NEW_SESSION, 0);
		struct zk_op op = { .type = ZK_OP_CREATESESSION };
		struct store_req req = { .op = &op, .session_timeout_ms = to };
		if (!p)
			goto out;
		req.hdr.session = new_session_id(c);
		req.hdr.type = ZK_OP_CREATESESSION;
		p->timeout_ms = to;
		p->has_read_only = cr.has_read_only;
		p->type = ZK_OP_CREATESESSION;
		p->session = req.hdr.session;
		if (c->zab)
			ens_submit(c, p, &req, 0);
		else
			submit_txn(c, p, &req, 0);
		return;
	}
	struct dp_sess *s = sess_find(c, (uint64_t)cr.session_id);
	uint8_t pw[ZKP_PASSWD_LEN];
	sess_passwd((uint64_t)cr.session_id, pw);
	if (!s || s->closing || cr.passwd_len != ZKP_PASSWD_LEN || memcmp(pw, cr.passwd, sizeof pw)) {
		TN_INFO("ctl", "%s: session 0x%" PRIx64 " %s", m->ip, (uint64_t)cr.session_id,
			s && !s->closing ? "wrong password" : "expired");
		post_rsp(c, m, DP_MSG_CONNECTED, DP_MSGF_CLOSE_AFTER, NULL, &rsp, NULL);
		goto out;
	}
	uint64_t tok = dp_conn_token(m->worker, m->slot, m->gen);
	uint64_t old = atomic_exchange(&s->owner, tok);
	if (old && old != tok)
		post_token(c, old, DP_MSG_CLOSE, NULL, 0); /* the session moved here */
	s->timeout_ms = to;
	atomic_store_explicit(&s->touch_ms, dp_now_ms(), memory_order_relaxed);
	rsp.timeout_ms = to;
	rsp.session_id = cr.session_id;
	memcpy(rsp.passwd, pw, sizeof pw);
	post_rsp(c, m, DP_MSG_CONNECTED, 0, NULL, &rsp, s);
out:
	dp_msg_free(m);
}

static void on_request(struct ctl *c, struct dp_msg *m)
{
	size_t cap = ZKP_ARENA_FOR(m->len);
	struct pend *p = pend_new(m, PK_TXN, cap);
	struct zkp_request rq;
	struct tn_arena a;
	struct dp_sess *s = m->sess;

	TN_ASSERT(s != NULL);
	if (!p) {
		TN_ERROR("ctl", "out of memory for a request of %u bytes", m->len);
		post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
		dp_msg_free(m);
		return;
	}
	a = tn_arena_init(p->arena, cap);
	if (zkp_decode_request(m->data, m->len, &a, &rq) != ZKP_DEC_OK) {
		/* the worker decoded it already; this is a bug, but not worth a crash */
		post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
		pend_free(p);
		return;
	}
	p->xid = rq.xid;
	p->type = rq.type;
	if (!atomic_load(&c->serving)) {
		if (s->read_only) {
			request_read_only(c, m, &rq);
		} else {
			post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE,
				   NULL, 0);
		}
		pend_free(p);
		return;
	}
	if (s->closing || sess_find(c, s->id) != s) {
		post_hdr(c, m, rq.xid, rq.type, ZK_ESESSIONEXPIRED, DP_MSGF_CLOSE_AFTER);
		pend_free(p);
		return;
	}
	if (rq.type == ZK_OP_SYNC) {
		p->kind = PK_SYNC;
		p->sync_path = rq.op.path;
		if (c->zab) {
			/* on the leader too: a quorum confirms it still leads */
			p->sync_tag = ++c->sync_next;
			if (zab_sync(c->zab, p->sync_tag) < 0) {
				post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE,
					   NULL, 0);
				pend_free(p);
				return;
			}
			c->syncs++;
		}
		pend_push(c, p);
		if (c->zab)
			pump(c);
		return;
	}
	struct store_req req = { .op = &rq.op, .auth = &m->auth->a };
	req.hdr.session = s->id;
	req.hdr.cxid = rq.xid;
	req.hdr.type = rq.type;
	if (rq.type == ZK_OP_CLOSESESSION)
		s->closing = true;
	p->session = s->id;
	if (c->zab)
		ens_submit(c, p, &req, m->len);
	else
		submit_txn(c, p, &req, m->len);
}

/* An internal request (expiry, reaping): no client, super rights. */
static void submit_internal(struct ctl *c, uint64_t session, const struct zk_op *op)
{
	static const struct store_auth super = { .count = 0, .super = true };
	size_t plen = op->path ? strlen(op->path) + 1 : 0;
	struct pend *p = pend_new(NULL, PK_TXN, plen + sizeof(struct zk_op));
	struct store_req req = { .auth = &super };
	struct zk_op *own;

	if (!p)
		return;
	/* the txn may borrow the op's strings until it is applied: own them */
	own = (struct zk_op *)(void *)p->arena;
	*own = *op;
	if (plen) {
		memcpy(p->arena + sizeof *own, op->path, plen);
		own->path = (const char *)p->arena + sizeof *own;
	}
	req.op = own;
	p->type = op->type;
	req.hdr.session = session;
	req.hdr.type = op->type;
	submit_txn(c, p, &req, op->path ? strlen(op->path) : 0);
}


/* ---- read-only mode (readonlymode.enabled, ZooKeeper's ReadOnlyZooKeeperServer) ----
 * Without a quorum, a server with readonlymode.enabled still takes clients
 * that said canBeReadOnly: reads come from its local (possibly stale) state,
 * writes get NotReadOnly. As in ZooKeeper 3.8 (checked against it), this
 * needs localSessionsEnabled too: a new session gets a local id that no log
 * ever sees, and a client that brings an existing session id is told it
 * expired (ZooKeeper's read-only server knows no global session); without
 * local sessions no client is taken. When the quorum is back every
 * read-only connection is closed, so its client reconnects read-write. */

static void connect_read_only(struct ctl *c, struct dp_msg *m, const struct zkp_connect_req *cr)
{
	struct zkp_connect_rsp rsp = { .has_read_only = true, .read_only = true,
				       .passwd_len = ZKP_PASSWD_LEN };
	const struct cfg *cfg = c->cc.cfg;
	uint64_t id;
	struct dp_sess *s;
	int32_t to = TN_MAX(cr->timeout_ms, (int32_t)cfg->session_timeout_ms_min);

	to = TN_MIN(to, (int32_t)cfg->session_timeout_ms_max);
	if (cr->session_id) {
		rsp.passwd_len = 0;
		post_rsp(c, m, DP_MSG_CONNECTED, DP_MSGF_CLOSE_AFTER, NULL, &rsp, NULL);
		return;
	}
	id = new_session_id(c);
	if (!(s = sess_add(c, id, to)))
		return;
	s->local = true;
	uint64_t tok = dp_conn_token(m->worker, m->slot, m->gen);
	uint64_t old = atomic_exchange(&s->owner, tok);
	if (old && old != tok)
		post_token(c, old, DP_MSG_CLOSE, NULL, 0);
	s->read_only = true;
	s->timeout_ms = to;
	atomic_store_explicit(&s->touch_ms, dp_now_ms(), memory_order_relaxed);
	rsp.timeout_ms = to;
	rsp.session_id = (int64_t)id;
	sess_passwd(id, rsp.passwd);
	TN_INFO("ctl", "%s: read-only session 0x%" PRIx64, m->ip, id);
	post_rsp(c, m, DP_MSG_CONNECTED, 0, NULL, &rsp, s);
}

static void request_read_only(struct ctl *c, struct dp_msg *m, const struct zkp_request *rq)
{
	if (rq->type == ZK_OP_CLOSESESSION) {
		struct dp_sess *s = m->sess;
		post_hdr(c, m, rq->xid, rq->type, ZK_OK, DP_MSGF_CLOSE_AFTER);
		atomic_store(&s->owner, 0);
		if (s->local)
			sess_remove(c, s->id);
		return;
	}
	if (rq->type == ZK_OP_SYNC) {
		struct zkp_response r = { .hdr = { rq->xid, (int64_t)store_last_zxid(c->s), 0 },
					  .type = ZK_OP_SYNC, .path = rq->op.path };
		post_rsp(c, m, DP_MSG_REPLY, 0, &r, NULL, NULL);
		return;
	}
	post_hdr(c, m, rq->xid, rq->type, ZK_ENOTREADONLY, 0);
}

/* The quorum is back: read-only clients reconnect read-write. */
static void drop_read_only(struct ctl *c)
{
	for (unsigned b = 0; b < CTL_SESS_BUCKETS; b++)
		for (struct dp_sess **pp = &c->sess[b]; *pp;) {
			struct dp_sess *s = *pp;
			if (s->read_only) {
				uint64_t tok = atomic_exchange(&s->owner, 0);
				if (tok)
					post_token(c, tok, DP_MSG_CLOSE, NULL, 0);
				s->read_only = false;
			}
			if (s->local) {
				*pp = s->hnext;
				s->hnext = NULL;
				dp_sess_put(s);
				continue;
			}
			pp = &s->hnext;
		}
}

/* ---- completion: apply in zxid order, then answer ---- */

static void reply_txn(struct ctl *c, struct pend *p, const struct store_apply_out *out)
{
	struct zkp_response r = { .hdr = { p->xid, (int64_t)p->zxid, ZK_OK }, .type = p->type };
	struct zkp_multi_result *mr = NULL;
	uint8_t flags = 0;

	if (p->type == ZK_OP_MULTI) {
		mr = calloc(out->result_count + 1, sizeof *mr);
		if (!mr) {
			post_hdr(c, p->m, p->xid, p->type, ZK_ESYSTEM, 0);
			return;
		}
		for (uint32_t i = 0; i < out->result_count; i++) {
			const struct store_result *sr = &out->results[i];
			mr[i].type = sr->err != ZK_OK || sr->type == ZK_OP_ERROR ? ZK_OP_ERROR : sr->type;
			mr[i].err = sr->err;
			mr[i].path = sr->path;
			mr[i].stat = sr->stat;
		}
		r.multi = mr;
		r.multi_count = out->result_count;
	} else if (out->result_count > 0) {
		r.hdr.err = out->results[0].err;
		r.path = out->results[0].path;
		r.stat = out->results[0].stat;
	}
	if (p->type == ZK_OP_CLOSESESSION)
		flags = DP_MSGF_CLOSE_AFTER;
	post_rsp(c, p->m, DP_MSG_REPLY, flags, &r, NULL, NULL);
	free(mr);
}

static void finish_session_txn(struct ctl *c, struct pend *p)
{
	uint64_t id = p->txn.hdr.session;

	if (p->kind != PK_NEW_SESSION && p->txn.hdr.type == ZK_OP_CREATESESSION) {
		/* another server's new session: every server keeps the whole table */
		if (!sess_add(c, id, p->txn.timeout_ms))
			TN_ERROR("ctl", "out of memory adding session 0x%" PRIx64, id);
		return;
	}

	if (p->kind == PK_NEW_SESSION) {
		struct zkp_connect_rsp rsp = { .has_read_only = p->has_read_only,
					       .passwd_len = ZKP_PASSWD_LEN };
		struct dp_sess *s = sess_add(c, id, p->timeout_ms);
		if (!s) {
			post_rsp(c, p->m, DP_MSG_CONNECTED, DP_MSGF_CLOSE_AFTER, NULL, &rsp, NULL);
			return;
		}
		atomic_store(&s->owner, dp_conn_token(p->m->worker, p->m->slot, p->m->gen));
		rsp.timeout_ms = p->timeout_ms;
		rsp.session_id = (int64_t)id;
		sess_passwd(id, rsp.passwd);
		post_rsp(c, p->m, DP_MSG_CONNECTED, 0, NULL, &rsp, s);
		return;
	}
	/* closeSession: from the client (reply, then close) or from expiry */
	struct dp_sess *s = sess_find(c, id);
	if (s) {
		uint64_t tok = atomic_exchange(&s->owner, 0);
		if (tok && !p->m)
			post_token(c, tok, DP_MSG_CLOSE, NULL, 0);
		sess_remove(c, id);
	}
	store_watch_drop_session(c->s, id);
}

static void complete_txn(struct ctl *c, struct pend *p)
{
	struct store_apply_out out = { 0 };
	int rc;

	/* apply fence: reads racing this apply wait for its events (dataplane/dp.h) */
	dp_apply_begin(c->dp, p->zxid);
	rc = store_apply(c->s, &p->txn, &out);
	if (rc < 0) {
		dp_apply_end(c->dp, p->zxid);
		/* the txn is durable; replay at restart applies it */
		TN_ERROR("ctl", "apply zxid 0x%" PRIx64 ": %s", p->zxid, tn_strerror(rc));
		fail_client(c, p);
		return;
	}
	c->since_snap++;
	for (uint32_t i = 0; i < out.event_count; i++)
		post_event(c, &out.events[i]);
	dp_apply_end(c->dp, p->zxid);
	if (p->kind == PK_NEW_SESSION || p->type == ZK_OP_CLOSESESSION ||
	    p->txn.hdr.type == ZK_OP_CREATESESSION)
		finish_session_txn(c, p);
	if (p->m && p->kind == PK_TXN)
		reply_txn(c, p, &out);
}

/* Complete every item at the head that is durable (or a barrier). */
static unsigned complete(struct ctl *c)
{
	tn_zxid durable = atomic_load_explicit(&c->durable, memory_order_acquire);
	unsigned n = 0;

	while (c->head) {
		struct pend *p = c->head;
		if (p->kind != PK_SYNC && p->zxid > durable)
			break;
		c->head = p->next;
		if (!c->head)
			c->tail = NULL;
		c->outstanding--;
		if (p->kind == PK_SYNC) {
			struct zkp_response r = { .hdr = { p->xid, (int64_t)store_last_zxid(c->s), 0 },
						  .type = ZK_OP_SYNC, .path = p->sync_path };
			post_rsp(c, p->m, DP_MSG_REPLY, 0, &r, NULL, NULL);
		} else {
			complete_txn(c, p);
		}
		pend_free(p);
		n++;
	}
	return n;
}

/* ---- timers: expiry, reaping, snapshots, purge ---- */

static void expire_scan(struct ctl *c, uint64_t now)
{
	for (unsigned b = 0; b < CTL_SESS_BUCKETS; b++) {
		for (struct dp_sess *s = c->sess[b]; s; s = s->hnext) {
			uint64_t touch = atomic_load_explicit(&s->touch_ms, memory_order_relaxed);
			if (s->closing || now < touch || now - touch <= (uint64_t)s->timeout_ms)
				continue;
			struct zk_op op = { .type = ZK_OP_CLOSESESSION };
			TN_INFO("ctl", "session 0x%" PRIx64 " expired (idle %" PRIu64 " ms)", s->id,
				now - touch);
			s->closing = true;
			submit_internal(c, s->id, &op);
		}
	}
}

struct reap {
	struct ctl *c;
	uint32_t left;
};

static void reap_one(void *arg, const char *path, bool container)
{
	struct reap *r = arg;
	struct zk_op op = { .type = container ? ZK_OP_DELETECONTAINER : ZK_OP_DELETE,
			    .path = path, .version = -1 };

	if (r->left == 0)
		return;
	r->left--;
	TN_INFO("ctl", "reaping %s %s", container ? "container" : "TTL node", path);
	submit_internal(r->c, 0, &op);
}

static uint64_t snap_threshold(struct ctl *c)
{
	/* ZooKeeper: snapCount/2 + rand(snapCount/2), so servers do not snapshot together */
	uint64_t half = TN_MAX(c->cc.cfg->snap_count / 2, 1u);
	return half + c->cc.env->rand64(c->cc.env) % half;
}

static void *snap_main(void *arg)
{
	struct ctl *c = arg;
	tn_zxid z = 0;
	int rc;

	store_reader_register();
	rc = snap_write(c->s, c->cc.snap_dir, &z);
	store_reader_unregister();
	if (rc < 0)
		TN_ERROR("ctl", "snapshot: %s", tn_strerror(rc));
	else
		TN_INFO("ctl", "snapshot at zxid 0x%" PRIx64, z);
	if (c->purge_due) {
		rc = snap_purge(c->cc.snap_dir, c->cc.log_dir, c->cc.cfg->snap_retain_count);
		if (rc < 0)
			TN_WARN("ctl", "autopurge: %s", tn_strerror(rc));
		else
			TN_INFO("ctl", "autopurge removed %d files", rc);
	}
	atomic_store(&c->snap_busy, false);
	return NULL;
}

static void snap_maybe(struct ctl *c, bool purge)
{
	if (atomic_load(&c->snap_busy))
		return;
	if (c->snap_joinable) {
		pthread_join(c->snap_th, NULL);
		c->snap_joinable = false;
	}
	if (!purge && c->since_snap < c->snap_at)
		return;
	c->purge_due = purge;
	if (!purge) {
		wal_roll(c->wal);
		c->since_snap = 0;
		c->snap_at = snap_threshold(c);
	}
	atomic_store(&c->snap_busy, true);
	if (pthread_create(&c->snap_th, NULL, snap_main, c) != 0) {
		TN_WARN("ctl", "cannot start the snapshot thread");
		atomic_store(&c->snap_busy, false);
		return;
	}
	c->snap_joinable = true;
}

static void timers(struct ctl *c)
{
	const struct cfg *cfg = c->cc.cfg;
	uint64_t now = dp_now_ms();

	bool owner = !c->zab || (c->role == ZAB_LEADING && atomic_load(&c->serving));

	if (owner && now >= c->t_expiry) {
		c->t_expiry = now + TN_MAX(cfg->tick_ms / 2, 10u);
		expire_scan(c, now);
	}
	if (owner && cfg->container_check_ms && now >= c->t_reap) {
		struct reap r = { c, (uint32_t)TN_MAX(1u, (uint64_t)cfg->container_max_per_min *
						      cfg->container_check_ms / 60000u) };
		c->t_reap = now + cfg->container_check_ms;
		store_reap_scan(c->s, c->cc.env->now_ms(c->cc.env), reap_one, &r);
	}
	snap_maybe(c, false);
	if (cfg->purge_interval_h && now >= c->t_purge) {
		c->t_purge = now + (uint64_t)cfg->purge_interval_h * 3600000u;
		snap_maybe(c, true);
	}
}

/* ---- the thread ---- */

static void wal_durable(void *arg, tn_zxid durable, int err)
{
	struct ctl *c = arg;
	uint64_t one = 1;

	if (err < 0) {
		TN_ERROR("ctl", "txn log failed: %s; no more writes are acknowledged",
			 tn_strerror(err));
		atomic_store(&c->failed, true);
	} else {
		/* release: complete() reads the records' effects after this */
		atomic_store_explicit(&c->durable, durable, memory_order_release);
	}
	if (write(c->efd, &one, sizeof one) < 0)
		TN_WARN("ctl", "wake: %s", strerror(errno));
}

/* ---- ensemble: the host of the Zab core (consensus/zab.h) ----
 *
 * With server.N lines this thread also runs Zab. The core decides; this
 * section carries out its actions: peer messages go through mgmt/peer.c,
 * LOG_APPEND through the same WAL (its durable callback becomes
 * zab_on_logged), COMMITs are applied here in zxid order.
 *
 * The leader preps every write (its own clients', and those its learners
 * forward) with the zxid zab_next_zxid() gives, proposes the encoded txn, and
 * applies it when the core COMMITs it: its own pending items match by zxid;
 * the rest are decoded from the COMMIT and applied without a reply.
 *
 * A learner forwards each write (session, the connection's ids, the request
 * frame) to the leader and keeps it in the pending FIFO; the COMMIT of a txn
 * with the same session and cxid completes it. The leader preps forwarded
 * requests in the order they arrive, so the learner's FIFO and the commit
 * order agree. A sync is zab_sync(); requests that arrive behind an
 * unfinished sync are held here and forwarded once it completes, so replies
 * keep their order.
 *
 * Sessions: every server keeps the whole table (createSession/closeSession
 * are txns). The leader owns expiry: learners send it, every tick/2, the
 * sessions attached to them and how long each has been idle. A new leader
 * restarts every session's clock, as ZooKeeper's leader does.
 *
 * When the core says we stop serving (election, lost quorum), every client
 * connection is closed: clients see connection loss and reconnect, as with
 * ZooKeeper. A TRUNC below what the store has applied, or a SNAP, replaces
 * the state on disk; then ternd re-executes itself and recovers from it
 * (crash-only: the store is never swapped under the lock-free readers).
 */

enum fwd_kind { FWD_REQUEST = 1, FWD_TOUCH = 2 };

static bool is_learner(const struct ctl *c)
{
	return c->zab && c->role != ZAB_LEADING;
}

static int fwd_reserve(struct ctl *c, size_t n)
{
	if (n <= c->fwd_cap)
		return 0;
	uint8_t *b = realloc(c->fwd, n);
	if (!b)
		return -ENOMEM;
	c->fwd = b;
	c->fwd_cap = n;
	return 0;
}

/* Forward @p's request to the leader (learner). */
static int fwd_send(struct ctl *c, struct pend *p)
{
	const struct store_auth *au = p->kind == PK_NEW_SESSION || !p->m->auth ? NULL : &p->m->auth->a;
	size_t body = p->kind == PK_NEW_SESSION ? 0 : p->m->len;
	size_t need = 64 + body;
	int rc;

	for (uint32_t i = 0; au && i < au->count; i++)
		need += 8 + strlen(au->ids[i].scheme) + strlen(au->ids[i].id);
	if ((rc = fwd_reserve(c, need)) < 0)
		return rc;
	struct tn_wr w = tn_wr_init(c->fwd, c->fwd_cap);
	tn_wr_u8(&w, FWD_REQUEST);
	tn_wr_u64(&w, p->session);
	tn_wr_i32(&w, p->timeout_ms);
	tn_wr_i32(&w, p->type);
	tn_wr_bool(&w, au && au->super);
	tn_wr_u32(&w, au ? au->count : 0);
	for (uint32_t i = 0; au && i < au->count; i++) {
		tn_wr_str(&w, au->ids[i].scheme);
		tn_wr_str(&w, au->ids[i].id);
	}
	tn_wr_buf(&w, body ? p->m->data : NULL, (int32_t)body);
	if (w.overflow)
		return -EMSGSIZE;
	return zab_forward(c->zab, c->fwd, w.len);
}

/* Ensemble: a write goes to the log now, or waits behind an unfinished sync
 * (so no reply can overtake the sync's). Learners forward, the leader preps. */
static void ens_submit(struct ctl *c, struct pend *p, struct store_req *req, size_t hint)
{
	int rc;

	p->fwd = is_learner(c);
	if (c->syncs > 0) {
		p->held = true;
		p->queued = true;
		pend_push(c, p);
		return;
	}
	if (!p->fwd) {
		submit_txn(c, p, req, hint);
		return;
	}
	if ((rc = fwd_send(c, p)) < 0) {
		TN_WARN("ctl", "cannot forward a request to the leader: %s", tn_strerror(rc));
		fail_client(c, p);
		pend_free(p);
		return;
	}
	pend_push(c, p);
}

/* A held item's turn: forward it, or prep it again from its request. */
static void release_held(struct ctl *c, struct pend *q)
{
	struct store_req req = { 0 };
	struct zk_op op = { .type = ZK_OP_CREATESESSION };
	struct zkp_request rq;
	int rc;

	q->held = false;
	q->fwd = is_learner(c);
	if (q->fwd) {
		if ((rc = fwd_send(c, q)) < 0) {
			TN_WARN("ctl", "cannot forward a request to the leader: %s", tn_strerror(rc));
			fail_client(c, q);
			q->kind = PK_DEAD;
		}
		return;
	}
	req.hdr.session = q->session;
	if (q->kind == PK_NEW_SESSION) {
		req.op = &op;
		req.session_timeout_ms = q->timeout_ms;
		req.hdr.type = ZK_OP_CREATESESSION;
		submit_txn(c, q, &req, 0);
		return;
	}
	struct tn_arena a = tn_arena_init(q->arena, q->arena_cap);
	if (zkp_decode_request(q->m->data, q->m->len, &a, &rq) != ZKP_DEC_OK) {
		fail_client(c, q);
		q->kind = PK_DEAD;
		return;
	}
	req.op = &rq.op;
	req.auth = &q->m->auth->a;
	req.hdr.cxid = rq.xid;
	req.hdr.type = rq.type;
	submit_txn(c, q, &req, q->m->len);
}

static void pend_pop(struct ctl *c)
{
	struct pend *p = c->head;
	c->head = p->next;
	if (!c->head)
		c->tail = NULL;
	c->outstanding--;
}

static void reply_sync(struct ctl *c, struct pend *p)
{
	struct zkp_response r = { .hdr = { p->xid, (int64_t)store_last_zxid(c->s), 0 },
				  .type = ZK_OP_SYNC, .path = p->sync_path };
	post_rsp(c, p->m, DP_MSG_REPLY, 0, &r, NULL, NULL);
}

/* Complete the syncs and drop the dead items at the head, and release what
 * a completed sync held (up to the next sync). */
static void pump(struct ctl *c)
{
	while (c->head && (c->head->kind == PK_DEAD ||
			   (c->head->kind == PK_SYNC && c->head->sync_tag <= c->sync_done))) {
		struct pend *p = c->head;
		pend_pop(c);
		if (p->kind == PK_SYNC) {
			c->syncs--;
			reply_sync(c, p);
		}
		pend_free(p);
		for (struct pend *q = c->head; q && q->kind != PK_SYNC; q = q->next)
			if (q->held)
				release_held(c, q);
	}
}

/* Close every client: requests in flight and attached sessions. */
static void drop_clients(struct ctl *c)
{
	while (c->head) {
		struct pend *p = c->head;
		pend_pop(c);
		if (p->m)
			post_token(c, dp_conn_token(p->m->worker, p->m->slot, p->m->gen),
				   DP_MSG_CLOSE, NULL, 0);
		pend_free(p);
	}
	c->syncs = 0;
	for (unsigned b = 0; b < CTL_SESS_BUCKETS; b++)
		for (struct dp_sess *s = c->sess[b]; s; s = s->hnext) {
			uint64_t tok = atomic_exchange(&s->owner, 0);
			if (tok)
				post_token(c, tok, DP_MSG_CLOSE, NULL, 0);
			s->closing = false;
		}
	store_prep_reset(c->s);
}

/* A COMMIT: complete the matching pending item, or apply the txn alone. */
static void on_commit(struct ctl *c, tn_zxid zxid, const uint8_t *data, size_t len)
{
	struct pend *p = c->head;
	size_t cap = TN_MAX((size_t)CTL_ARENA_MIN, len * 4);
	struct tn_arena a;
	int rc;

	pump(c); /* dead items must not hide the head */
	p = c->head;
	if (p && !p->fwd && !p->held && (p->kind == PK_TXN || p->kind == PK_NEW_SESSION) &&
	    p->zxid == zxid) {
		pend_pop(c);
		complete_txn(c, p);
		pend_free(p);
		pump(c);
		return;
	}
	struct pend *t = pend_new(NULL, PK_TXN, 0);
	if (!t)
		goto nomem;
	for (;;) {
		free(t->arena2);
		if (!(t->arena2 = malloc(cap)))
			goto nomem;
		a = tn_arena_init(t->arena2, cap);
		rc = txn_decode(data, len, &t->txn, &a);
		if (rc != -EMSGSIZE || cap >= CTL_ARENA_MAX)
			break;
		cap *= 4;
	}
	if (rc < 0) {
		TN_ERROR("ctl", "COMMIT 0x%" PRIx64 ": undecodable txn (%s)", zxid, tn_strerror(rc));
		pend_free(t);
		atomic_store(&c->failed, true);
		return;
	}
	t->zxid = zxid;
	t->type = t->txn.hdr.type;
	if (p && p->fwd && !p->held && p->session == t->txn.hdr.session &&
	    p->xid == t->txn.hdr.cxid) {
		/* ours: the learner's pending item takes the decoded txn */
		pend_pop(c);
		p->txn = t->txn;
		p->zxid = zxid;
		free(p->arena2);
		p->arena2 = t->arena2;
		t->arena2 = NULL;
		pend_free(t);
		complete_txn(c, p);
		pend_free(p);
		pump(c);
		return;
	}
	complete_txn(c, t);
	pend_free(t);
	return;
nomem:
	TN_ERROR("ctl", "out of memory applying zxid 0x%" PRIx64, zxid);
	pend_free(t);
	atomic_store(&c->failed, true);
}

/* Leader: a learner's touches (session, idle ms). */
static void on_touch(struct ctl *c, struct tn_rd *r)
{
	uint64_t now = dp_now_ms();
	uint32_t n;

	if (tn_rd_u32(r, &n) < 0)
		return;
	for (uint32_t i = 0; i < n && i < CTL_TOUCH_MAX; i++) {
		uint64_t id;
		uint32_t idle;
		if (tn_rd_u64(r, &id) < 0 || tn_rd_u32(r, &idle) < 0)
			return;
		struct dp_sess *s = sess_find(c, id);
		uint64_t t = now > idle ? now - idle : 0;
		if (s && t > atomic_load_explicit(&s->touch_ms, memory_order_relaxed))
			atomic_store_explicit(&s->touch_ms, t, memory_order_relaxed);
	}
}

/* Leader: a learner forwarded a request: prep and propose it. */
static void on_forwarded(struct ctl *c, uint32_t from, const uint8_t *data, size_t len)
{
	struct tn_rd r = tn_rd_init(data, len);
	struct store_auth *au;
	uint8_t kind, super;
	uint64_t session;
	int32_t timeout, type, body_len;
	uint32_t count;
	const uint8_t *body;
	struct pend *p;

	if (tn_rd_u8(&r, &kind) < 0)
		goto bad;
	if (kind == FWD_TOUCH) {
		on_touch(c, &r);
		return;
	}
	if (kind != FWD_REQUEST || tn_rd_u64(&r, &session) < 0 || tn_rd_i32(&r, &timeout) < 0 ||
	    tn_rd_i32(&r, &type) < 0 || tn_rd_u8(&r, &super) < 0 || tn_rd_u32(&r, &count) < 0 ||
	    count > STORE_AUTH_MAX)
		goto bad;
	/* one arena: the auth ids, then the decoded request */
	size_t cap = sizeof *au + len + 16 + ZKP_ARENA_FOR(len);
	if (!(p = pend_new(NULL, PK_TXN, cap))) {
		TN_ERROR("ctl", "out of memory for a forwarded request");
		return;
	}
	p->foreign = true;
	au = (struct store_auth *)(void *)p->arena;
	*au = (struct store_auth){ .count = count, .super = super != 0 };
	char *str = (char *)p->arena + sizeof *au;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *sp, *ip;
		int32_t sl, il;
		if (tn_rd_buf(&r, &sp, &sl) < 0 || tn_rd_buf(&r, &ip, &il) < 0 || sl < 0 || il < 0)
			goto bad_free;
		memcpy(str, sp, (size_t)sl);
		str[sl] = 0;
		au->ids[i].scheme = str;
		str += sl + 1;
		memcpy(str, ip, (size_t)il);
		str[il] = 0;
		au->ids[i].id = str;
		str += il + 1;
	}
	if (tn_rd_buf(&r, &body, &body_len) < 0)
		goto bad_free;
	p->type = type;
	if (type == ZK_OP_CREATESESSION) {
		struct zk_op op = { .type = ZK_OP_CREATESESSION };
		struct store_req req = { .op = &op, .session_timeout_ms = timeout };
		req.hdr.session = session;
		req.hdr.type = ZK_OP_CREATESESSION;
		submit_txn(c, p, &req, 0);
		return;
	}
	size_t used = ((size_t)(str - (char *)p->arena) + 15) & ~(size_t)15; /* arena: aligned base */
	struct tn_arena a = tn_arena_init(p->arena + used, cap - used);
	struct zkp_request rq;
	if (body_len <= 0 || zkp_decode_request(body, (size_t)body_len, &a, &rq) != ZKP_DEC_OK)
		goto bad_free;
	struct store_req req = { .op = &rq.op, .auth = au };
	req.hdr.session = session;
	req.hdr.cxid = rq.xid;
	req.hdr.type = rq.type;
	if (rq.type == ZK_OP_CLOSESESSION) {
		struct dp_sess *s = sess_find(c, session);
		if (s)
			s->closing = true;
	}
	submit_txn(c, p, &req, (size_t)body_len);
	return;
bad_free:
	pend_free(p);
bad:
	TN_WARN("ctl", "malformed forwarded request from server %u dropped", from);
}

/* Learner: tell the leader which of our sessions are alive. */
static void send_touches(struct ctl *c, uint64_t now)
{
	uint32_t n = 0;

	if (fwd_reserve(c, 8 + (size_t)CTL_TOUCH_MAX * 12) < 0)
		return;
	struct tn_wr w = tn_wr_init(c->fwd, c->fwd_cap);
	tn_wr_u8(&w, FWD_TOUCH);
	tn_wr_u32(&w, 0);
	for (unsigned b = 0; b < CTL_SESS_BUCKETS && n < CTL_TOUCH_MAX; b++)
		for (struct dp_sess *s = c->sess[b]; s && n < CTL_TOUCH_MAX; s = s->hnext) {
			uint64_t t = atomic_load_explicit(&s->touch_ms, memory_order_relaxed);
			if (!atomic_load(&s->owner) || now < t || now - t > (uint64_t)s->timeout_ms)
				continue;
			tn_wr_u64(&w, s->id);
			tn_wr_u32(&w, (uint32_t)(now - t));
			n++;
		}
	if (!n || w.overflow)
		return;
	tn_store_be32(c->fwd + 1, n);
	if (zab_forward(c->zab, c->fwd, w.len) < 0)
		TN_DEBUG("ctl", "no leader to send session touches to");
}

/* "<dir>/<name>" durably replaced by the decimal @v (ZooKeeper's epoch files). */
static int write_epoch_file(const char *dir, const char *name, uint32_t v)
{
	char path[CFG_PATH_MAX + 32], tmp[CFG_PATH_MAX + 40], text[16];
	int fd, rc = 0, n = snprintf(text, sizeof text, "%u", v);

	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = tn_fsync_dir(dir);
	return rc;
}

static uint32_t read_epoch_file(const char *dir, const char *name, uint32_t dflt)
{
	char path[CFG_PATH_MAX + 32], text[32] = "";
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!(f = fopen(path, "re")))
		return dflt;
	if (!fgets(text, sizeof text, f))
		text[0] = 0;
	fclose(f);
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (end == text || v > UINT32_MAX) {
		TN_WARN("ctl", "%s: not an epoch (\"%s\"), using %u", path, text, dflt);
		return dflt;
	}
	return (uint32_t)v;
}

/* Remove snapshots above @zxid from the snapshot directory. */
static void drop_snapshots_above(struct ctl *c, tn_zxid zxid)
{
	DIR *d = opendir(c->cc.snap_dir);
	struct dirent *e;
	char path[CFG_PATH_MAX + 64];

	if (!d)
		return;
	while ((e = readdir(d))) {
		unsigned long long z;
		char tail;
		if (sscanf(e->d_name, "snapshot.%llx%c", &z, &tail) != 1 || z <= zxid)
			continue;
		snprintf(path, sizeof path, "%s/%s", c->cc.snap_dir, e->d_name);
		if (unlink(path) == 0)
			TN_INFO("ctl", "removed %s (above zxid 0x%" PRIx64 ")", path, zxid);
	}
	closedir(d);
	tn_fsync_dir(c->cc.snap_dir);
}

/* Drop logged txns above @zxid; if the store applied past it, restart. */
static int log_truncate(struct ctl *c, tn_zxid zxid)
{
	struct wal_cfg wc = { .dir = c->cc.log_dir, .force_sync = c->cc.cfg->force_sync,
			      .segment_bytes = c->cc.cfg->pre_alloc_kib * 1024u };
	int rc;

	TN_INFO("ctl", "TRUNC: dropping logged txns above 0x%" PRIx64 " (log ends at 0x%" PRIx64
		", store at 0x%" PRIx64 ")", zxid, wal_last_zxid(c->wal), store_last_zxid(c->s));
	if (wal_last_zxid(c->wal) > zxid) {
		wal_close(c->wal);
		c->wal = NULL;
		if ((rc = wal_truncate(c->cc.log_dir, zxid)) < 0 ||
		    (rc = wal_open(&c->wal, &wc, wal_durable, c)) < 0) {
			TN_ERROR("ctl", "TRUNC of %s: %s", c->cc.log_dir, tn_strerror(rc));
			atomic_store(&c->failed, true);
			return rc;
		}
		atomic_store(&c->durable, wal_last_zxid(c->wal));
		c->told_durable = 0;
	}
	drop_snapshots_above(c, zxid);
	if (store_last_zxid(c->s) > zxid) {
		TN_WARN("ctl", "the store holds txns above 0x%" PRIx64 ": restarting to reload it", zxid);
		atomic_store(&c->restart, true);
		return -EAGAIN;
	}
	return 0;
}

/* Leader: stream a snapshot of what we applied to @peer. */
static void snap_send(struct ctl *c, uint32_t peer)
{
	char path[CFG_PATH_MAX + 64];
	const uint8_t *buf;
	size_t len;
	tn_zxid z = 0;
	int rc;

	/* the background snapshot may be writing the same file name: let it end */
	if (c->snap_joinable) {
		pthread_join(c->snap_th, NULL);
		c->snap_joinable = false;
	}
	/* on this thread nothing applies meanwhile: the snapshot is exact at z */
	if ((rc = snap_write(c->s, c->cc.snap_dir, &z)) < 0) {
		TN_ERROR("ctl", "snapshot for server %u: %s", peer, tn_strerror(rc));
		return;
	}
	snprintf(path, sizeof path, "%s/snapshot.%016" PRIx64, c->cc.snap_dir, z);
	if ((rc = tn_file_map(path, &buf, &len)) < 0) {
		TN_ERROR("ctl", "%s: %s", path, tn_strerror(rc));
		return;
	}
	TN_INFO("ctl", "SNAP to server %u: %zu bytes at zxid 0x%" PRIx64, peer, len, z);
	if ((rc = zab_snap_send(c->zab, peer, z, buf, len)) < 0)
		TN_ERROR("ctl", "SNAP to server %u: %s", peer, tn_strerror(rc));
	tn_file_unmap(buf, len);
}

/* Learner: the leader's snapshot replaces our state; then restart on it. */
static void snap_install(struct ctl *c, tn_zxid zxid, const uint8_t *data, size_t len)
{
	char path[CFG_PATH_MAX + 64], tmp[CFG_PATH_MAX + 72];
	int fd, rc = 0;

	snprintf(path, sizeof path, "%s/snapshot.%016" PRIx64, c->cc.snap_dir, zxid);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	TN_INFO("ctl", "SNAP from the leader: %zu bytes at zxid 0x%" PRIx64, len, zxid);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		rc = -errno;
	} else {
		for (size_t off = 0; off < len && rc == 0;) {
			ssize_t n = write(fd, data + off, len - off);
			if (n <= 0)
				rc = n < 0 ? -errno : -EIO;
			else
				off += (size_t)n;
		}
		if (rc == 0 && fsync(fd) < 0)
			rc = -errno;
		close(fd);
	}
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = tn_fsync_dir(c->cc.snap_dir);
	if (rc < 0) {
		TN_ERROR("ctl", "cannot write %s: %s", path, tn_strerror(rc));
		atomic_store(&c->failed, true);
		return;
	}
	if (log_truncate(c, zxid) == 0 && store_last_zxid(c->s) != zxid) {
		/* behind the snapshot: recovery loads it */
		atomic_store(&c->restart, true);
	}
}

static void on_state(struct ctl *c, const struct zab_act *a)
{
	bool was = atomic_load(&c->serving);

	TN_INFO("ctl", "%s, leader %u, epoch %u, %s", zab_role_name(a->role), a->leader, a->epoch,
		a->serving ? "serving" : "not serving");
	if (was && (!a->serving || a->role != c->role))
		drop_clients(c);
	if (a->role != c->role)
		store_prep_reset(c->s);
	c->role = a->role;
	c->leader = a->leader;
	atomic_store(&c->role_pub, (int)a->role);
	if (a->serving && !was)
		drop_read_only(c);
	if (a->serving && !was && a->role == ZAB_LEADING) {
		uint64_t now = dp_now_ms(); /* a new leader restarts every session's clock */
		for (unsigned b = 0; b < CTL_SESS_BUCKETS; b++)
			for (struct dp_sess *s = c->sess[b]; s; s = s->hnext)
				atomic_store_explicit(&s->touch_ms, now, memory_order_relaxed);
	}
	atomic_store(&c->serving, a->serving);
}

/* Carry out what the core asked for, in order. */
static void run_actions(struct ctl *c)
{
	struct zab_act a;
	int rc;

	while (!atomic_load(&c->restart) && zab_next_action(c->zab, &a)) {
		switch (a.kind) {
		case ZAB_ACT_SEND:
			/* a down link loses it: the core resends or hears peer_down */
			peer_net_send(c->pn, a.peer, a.election, a.data, a.len);
			break;
		case ZAB_ACT_PERSIST_EPOCH:
			if ((rc = write_epoch_file(c->cc.cfg->data_dir, "acceptedEpoch",
						   a.accepted_epoch)) < 0 ||
			    (rc = write_epoch_file(c->cc.cfg->data_dir, "currentEpoch",
						   a.current_epoch)) < 0) {
				TN_ERROR("ctl", "cannot persist the epoch: %s", tn_strerror(rc));
				atomic_store(&c->failed, true);
				return;
			}
			break;
		case ZAB_ACT_LOG_APPEND:
			if ((rc = wal_append(c->wal, a.zxid, a.data, (uint32_t)a.len)) < 0) {
				TN_ERROR("ctl", "log append 0x%" PRIx64 ": %s", a.zxid, tn_strerror(rc));
				atomic_store(&c->failed, true);
				return;
			}
			break;
		case ZAB_ACT_LOG_TRUNCATE:
			log_truncate(c, a.zxid);
			break;
		case ZAB_ACT_SNAP_SEND:
			snap_send(c, a.peer);
			break;
		case ZAB_ACT_SNAP_INSTALL:
			snap_install(c, a.zxid, a.data, a.len);
			break;
		case ZAB_ACT_COMMIT:
			on_commit(c, a.zxid, a.data, a.len);
			break;
		case ZAB_ACT_REQUEST:
			on_forwarded(c, a.peer, a.data, a.len);
			break;
		case ZAB_ACT_SYNC_DONE:
			c->sync_done = TN_MAX(c->sync_done, a.tag);
			pump(c);
			break;
		case ZAB_ACT_STATE:
			on_state(c, &a);
			break;
		}
	}
}

static void peer_msg(void *arg, uint32_t peer, bool election, const uint8_t *msg, size_t len)
{
	struct ctl *c = arg;
	(void)election;
	if (zab_on_message(c->zab, peer, msg, len, dp_now_ms()) < 0)
		TN_DEBUG("ctl", "dropped a malformed message from server %u", peer);
	run_actions(c);
}

static void peer_up(void *arg, uint32_t peer, bool election)
{
	struct ctl *c = arg;
	if (!election) {
		zab_on_peer_up(c->zab, peer, dp_now_ms());
		run_actions(c);
	}
}

static void peer_down(void *arg, uint32_t peer, bool election)
{
	struct ctl *c = arg;
	if (!election) {
		zab_on_peer_down(c->zab, peer, dp_now_ms());
		run_actions(c);
	}
}

/* One loop turn of the ensemble side. Return work done. */
static unsigned ens_turn(struct ctl *c)
{
	tn_zxid durable = atomic_load_explicit(&c->durable, memory_order_acquire);
	uint64_t now = dp_now_ms();
	unsigned work = 0;

	if (durable > c->told_durable) {
		c->told_durable = durable;
		zab_on_logged(c->zab, durable, 0, now);
		work++;
	}
	zab_tick(c->zab, now);
	zab_flush(c->zab, now);
	run_actions(c);
	if (is_learner(c) && atomic_load(&c->serving) && now >= c->t_touch) {
		c->t_touch = now + TN_MAX(c->cc.cfg->tick_ms / 2, 10u);
		send_touches(c, now);
		run_actions(c);
	}
	peer_net_flush(c->pn);
	return work;
}

/* Feed the core the log we recovered, so learners get DIFFs after a restart. */
static void history_load(struct ctl *c)
{
	struct wal_iter *it;
	tn_zxid z;
	const uint8_t *rec;
	uint32_t len;
	int rc;

	/* a snapshot newer than the whole log (after a SNAP): nothing to add */
	if (wal_last_zxid(c->wal) < store_last_zxid(c->s))
		return;
	if (wal_iter_open(&it, c->cc.log_dir, 0) < 0)
		return;
	while ((rc = wal_iter_next(it, &z, &rec, &len)) == 1)
		if (zab_history_load(c->zab, z, rec, len) < 0)
			break;
	wal_iter_close(it);
}

static int ens_create(struct ctl *c)
{
	const struct cfg *cfg = c->cc.cfg;
	struct zab_cfg zc = { .my_id = (uint32_t)cfg->server_id, .tick_ms = cfg->tick_ms,
			      .init_limit = cfg->init_limit, .sync_limit = cfg->sync_limit,
			      .finalize_wait_ms = 200, .inflight_max = 1u << 20,
			      .history_max = cfg->commit_log_count };
	struct peer_cb cb = { c, peer_msg, peer_up, peer_down };
	struct zab_durable d;
	int rc;

	if (cfg->server_count > ZAB_MEMBERS_MAX) {
		TN_ERROR("ctl", "%u servers: at most %u", cfg->server_count, ZAB_MEMBERS_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->server_count; i++) {
		zc.members[i].id = (uint32_t)cfg->servers[i].id;
		zc.members[i].observer = cfg->servers[i].type == CFG_PEER_OBSERVER;
	}
	zc.member_count = cfg->server_count;
	d.last_applied = store_last_zxid(c->s);
	d.last_logged = TN_MAX(d.last_applied, wal_last_zxid(c->wal));
	/* ZooKeeper: missing epoch files start from the last zxid's epoch */
	d.current_epoch = read_epoch_file(cfg->data_dir, "currentEpoch", ZK_EPOCH(d.last_logged));
	d.accepted_epoch = read_epoch_file(cfg->data_dir, "acceptedEpoch", d.current_epoch);
	if ((rc = zab_create(&c->zab, &zc, &d, dp_now_ms())) < 0) {
		TN_ERROR("ctl", "the ensemble config is not valid for Zab: %s", tn_strerror(rc));
		return rc;
	}
	history_load(c);
	if ((rc = peer_net_create(&c->pn, cfg, &cb)) < 0) {
		zab_destroy(c->zab);
		c->zab = NULL;
		return rc;
	}
	/* ZooKeeper's session id shape: time-based, the server id in the top
	 * byte, so servers never hand out the same id */
	c->next_session = (c->cc.env->now_ms(c->cc.env) << 24) >> 8 |
			  (uint64_t)(cfg->server_id & 0xff) << 56;
	atomic_store(&c->serving, false);
	TN_INFO("ctl", "server %u of %u: accepted epoch %u, current epoch %u, last zxid 0x%" PRIx64,
		zc.my_id, zc.member_count, d.accepted_epoch, d.current_epoch, d.last_logged);
	return 0;
}

void ctl_wake(void *arg)
{
	struct ctl *c = arg;
	uint64_t one = 1;

	atomic_thread_fence(memory_order_seq_cst); /* publish, then check (dp.h) */
	if (atomic_load(&c->sleeping) && write(c->efd, &one, sizeof one) < 0)
		TN_WARN("ctl", "wake: %s", strerror(errno));
}

static unsigned drain_ring(struct ctl *c)
{
	struct dp_msg *m;
	unsigned n = 0;

	while (n < CTL_BATCH && (m = dp_ring_pop(c->ring))) {
		n++;
		if (atomic_load(&c->failed)) {
			post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
			dp_msg_free(m);
		} else if (m->kind == DP_MSG_CONNECT) {
			on_connect(c, m);
		} else if (m->kind == DP_MSG_REQUEST) {
			on_request(c, m);
		} else {
			dp_msg_free(m);
		}
	}
	return n;
}

/* Sleep until woken (or @timeout_ms; 0 = just look), handling peer sockets. */
static void ctl_sleep(struct ctl *c, int timeout_ms)
{
	struct pollfd pfd[CTL_POLL_MAX];
	unsigned n = 1;
	uint64_t v;
	int r = 0;

	pfd[0] = (struct pollfd){ .fd = c->efd, .events = POLLIN };
	if (c->pn)
		n += peer_net_pollfds(c->pn, pfd + 1, CTL_POLL_MAX - 1, dp_now_ms());
	if (timeout_ms == 0) {
		if (n > 1)
			r = poll(pfd, n, 0);
	} else {
		atomic_store(&c->sleeping, 1);
		if (!dp_ring_nonempty(c->ring) && !atomic_load(&c->stop)) {
			/* offline: a sleeping registered reader must not hold up grace periods */
			urcu_qsbr_thread_offline();
			r = poll(pfd, n, timeout_ms);
			urcu_qsbr_thread_online();
		}
		atomic_store(&c->sleeping, 0);
	}
	if (r > 0 && (pfd[0].revents & POLLIN) && read(c->efd, &v, sizeof v) < 0 && errno != EAGAIN)
		TN_WARN("ctl", "eventfd: %s", strerror(errno));
	if (r > 0 && c->pn)
		peer_net_run(c->pn, pfd + 1, n - 1, dp_now_ms());
}

static void *ctl_main(void *arg)
{
	struct ctl *c = arg;
	uint64_t stop_deadline = 0;

	store_reader_register();
	for (;;) {
		unsigned work = 0;
		if (!atomic_load(&c->stop))
			work += drain_ring(c);
		if (c->zab)
			work += ens_turn(c);
		else
			work += complete(c);
		if (atomic_load(&c->restart))
			break;
		if (!atomic_load(&c->stop))
			timers(c);
		dp_flush(c->dp);
		store_quiescent();
		if (atomic_load(&c->stop)) {
			if (!stop_deadline)
				stop_deadline = dp_now_ms() +
						(c->zab ? CTL_ENS_STOP_WAIT_MS : CTL_STOP_WAIT_MS);
			if (!c->head || atomic_load(&c->failed) || dp_now_ms() > stop_deadline)
				break;
		}
		if (!work)
			ctl_sleep(c, c->zab ? CTL_ENS_POLL_MS : 50);
		else if (c->pn)
			ctl_sleep(c, 0);
	}
	if (c->head)
		TN_WARN("ctl", "%" PRIu64 " requests left unanswered at shutdown",
			atomic_load(&c->outstanding));
	while (c->head) {
		struct pend *p = c->head;
		c->head = p->next;
		pend_free(p);
	}
	c->tail = NULL;
	if (c->snap_joinable)
		pthread_join(c->snap_th, NULL);
	c->snap_joinable = false;
	store_reader_unregister();
	return NULL;
}

/* ---- lifecycle ---- */

int ctl_create(struct ctl **out, const struct ctl_cfg *cc)
{
	struct ctl *c = calloc(1, sizeof *c);
	struct wal_cfg wc = { 0 };
	int rc;

	if (!c)
		return -ENOMEM;
	c->cc = *cc;
	c->s = cc->store;
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = dp_ring_create(&c->ring, DP_RING_CAP)) < 0)
		goto fail_efd;
	wc.dir = cc->log_dir;
	wc.force_sync = cc->cfg->force_sync;
	wc.segment_bytes = cc->cfg->pre_alloc_kib * 1024u;
	if ((rc = wal_open(&c->wal, &wc, wal_durable, c)) < 0) {
		TN_ERROR("ctl", "txn log %s: %s", cc->log_dir, tn_strerror(rc));
		goto fail_ring;
	}
	c->next_zxid = TN_MAX(store_last_zxid(c->s), wal_last_zxid(c->wal));
	atomic_init(&c->durable, c->next_zxid);
	/* ZooKeeper's id shape: ((ms << 24) >>> 8) | serverId << 56, above any recovered id */
	c->next_session = (cc->env->now_ms(cc->env) << 24) >> 8;
	store_session_foreach(c->s, find_max_session, c);
	c->snap_at = snap_threshold(c);
	c->t_start = dp_now_ms();
	c->t_reap = c->t_start + cc->cfg->container_check_ms;
	c->t_purge = c->t_start + (uint64_t)cc->cfg->purge_interval_h * 3600000u;
	atomic_init(&c->serving, true);
	if (cc->cfg->server_id && (rc = ens_create(c)) < 0) {
		wal_close(c->wal);
		goto fail_ring;
	}
	TN_INFO("ctl", "last zxid 0x%" PRIx64 ", %" PRIu64 " sessions", c->next_zxid,
		store_session_count(c->s));
	*out = c;
	return 0;
fail_ring:
	dp_ring_destroy(c->ring);
fail_efd:
	close(c->efd);
fail:
	free(c);
	return rc;
}

struct dp_ring *ctl_ring(struct ctl *c)
{
	return c->ring;
}

bool ctl_failed(struct ctl *c)
{
	return atomic_load(&c->failed) || atomic_load(&c->restart);
}

bool ctl_restart_wanted(struct ctl *c)
{
	return atomic_load(&c->restart);
}

int ctl_start(struct ctl *c, struct dp *dp)
{
	c->dp = dp;
	if (pthread_create(&c->th, NULL, ctl_main, c) != 0)
		return -EAGAIN;
	c->running = true;
	/* release: a worker that sees it sees a started control thread */
	atomic_store_explicit(&c->dp_pub, dp, memory_order_release);
	return 0;
}

void ctl_stop(struct ctl *c)
{
	uint64_t one = 1;

	if (!c->running)
		return;
	atomic_store(&c->stop, true);
	if (write(c->efd, &one, sizeof one) < 0)
		TN_WARN("ctl", "wake: %s", strerror(errno));
	pthread_join(c->th, NULL);
	c->running = false;
}

void ctl_destroy(struct ctl *c)
{
	struct dp_msg *m;

	if (!c)
		return;
	TN_ASSERT(!c->running);
	if (c->wal)
		wal_close(c->wal);
	zab_destroy(c->zab);
	peer_net_destroy(c->pn);
	free(c->fwd);
	while ((m = dp_ring_pop(c->ring)))
		dp_msg_free(m);
	dp_ring_destroy(c->ring);
	for (unsigned b = 0; b < CTL_SESS_BUCKETS; b++)
		while (c->sess[b])
			sess_remove(c, c->sess[b]->id);
	close(c->efd);
	free(c->enc);
	free(c);
}

/* ---- four-letter words (worker threads) ---- */

struct watch_list {
	struct adm_watch *v;
	size_t n, cap;
	char *paths;      /* one allocation per path, freed with the list */
};

static void watch_collect(void *arg, uint64_t session, const char *path)
{
	struct watch_list *l = arg;
	char *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct adm_watch *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	if (!(copy = strdup(path)))
		return;
	l->v[l->n].sid = session;
	l->v[l->n].path = copy;
	l->n++;
}

static void fill_conns(struct dp *dp, struct adm_info *in, struct adm_conn **out)
{
	unsigned max = 65536, n;
	struct dp_conn_info *ci = calloc(max, sizeof *ci);
	struct adm_conn *ac;

	*out = NULL;
	if (!ci)
		return;
	n = dp_conns(dp, ci, max);
	ac = calloc(n + 1, sizeof *ac);
	if (!ac) {
		free(ci);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		snprintf(ac[i].addr, sizeof ac[i].addr, "%s", ci[i].ip);
		ac[i].port = ci[i].port;
		ac[i].interest_ops = ci[i].fourlw ? 0 : 1;
		ac[i].recved = ci[i].recved;
		ac[i].sent = ci[i].sent;
		ac[i].has_session = ci[i].has_session;
		ac[i].sid = ci[i].sid;
		snprintf(ac[i].lop, sizeof ac[i].lop, "%s", ci[i].lop);
		ac[i].to_ms = (uint32_t)ci[i].timeout_ms;
		ac[i].lcxid = ci[i].lcxid;
		ac[i].lzxid = ci[i].lzxid;
		ac[i].est_ms = ci[i].est_ms;
		ac[i].lresp_ms = ci[i].lresp_ms;
		ac[i].llat = ci[i].llat_ms;
		ac[i].minlat = ci[i].minlat_ms;
		ac[i].maxlat = ci[i].maxlat_ms;
		ac[i].lat_sum = ci[i].lat_sum_ms;
		ac[i].lat_count = ci[i].lat_count;
	}
	free(ci);
	in->conns = ac;
	in->conn_count = n;
	*out = ac;
}

size_t ctl_fourlw(void *arg, const char *cmd, char *out, size_t cap)
{
	struct ctl *c = arg;
	struct adm_info *in = calloc(1, sizeof *in);
	struct store_stats ss;
	struct store_watch_stats ws;
	struct dp_stats ds;
	struct watch_list wl = { 0 };
	struct adm_conn *conns = NULL;
	int n;

	if (!in || !cmd)
		goto fail;
	/* words can arrive before ctl_start(): answer "not serving" until then */
	struct dp *dp = atomic_load_explicit(&c->dp_pub, memory_order_acquire);
	memset(&ds, 0, sizeof ds);
	if (dp && !strcmp(cmd, "srst"))
		dp_stats_reset(dp);
	if (dp && !strcmp(cmd, "crst") && cfg_4lw_allowed(c->cc.cfg, cmd))
		dp_conns_reset(dp);
	if (dp)
		dp_stats(dp, &ds);
	store_stats(c->s, &ss);
	store_watch_stats(c->s, &ws);
	in->cfg = c->cc.cfg;
	in->serving = dp && !atomic_load(&c->failed) && atomic_load(&c->serving);
	in->mode = "standalone";
	if (c->zab) {
		static const char *const modes[] = { "looking", "follower", "leader", "observer" };
		int r = atomic_load(&c->role_pub);
		in->mode = r >= 0 && r <= ZAB_OBSERVING ? modes[r] : "looking";
		if (dp && !in->serving && c->cc.cfg->readonly_mode && !atomic_load(&c->failed)) {
			in->serving = true; /* as ZooKeeper's read-only server answers */
			in->mode = "read-only";
		}
	}
	in->zxid = store_last_zxid(c->s);
	in->lat_min = ds.lat_min_us / 1000u;
	in->lat_max = ds.lat_max_us / 1000u;
	in->lat_sum = ds.lat_sum_us / 1000u;
	in->lat_count = ds.lat_count;
	in->packets_received = ds.packets_recv;
	in->packets_sent = ds.packets_sent;
	in->outstanding = atomic_load_explicit(&c->outstanding, memory_order_relaxed);
	/* ZooKeeper's DataTree keys the root twice ("" and "/"), so a fresh server
	 * says 5 nodes; monitoring compares against that, so count as it does. */
	in->node_count = ss.node_count + 1;
	in->ephemerals_count = ss.ephemeral_count;
	in->approximate_data_size = ss.data_bytes;
	in->global_sessions = store_session_count(c->s);
	in->uptime_ms = dp_now_ms() - c->t_start;
	in->watch_sessions = ws.sessions;
	in->watch_paths = ws.paths;
	in->watch_count = ws.total;
	in->proposal_last = in->proposal_min = in->proposal_max = -1;
	in->quorum_size = 1;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		in->max_fds = rl.rlim_cur;
	if (!strcmp(cmd, "wchc") || !strcmp(cmd, "wchp")) {
		store_watch_foreach(c->s, watch_collect, &wl);
		in->watches = wl.v;
		in->watch_count = wl.n;
	}
	if (dp && (!strcmp(cmd, "stat") || !strcmp(cmd, "cons") || !strcmp(cmd, "srvr") ||
		   !strcmp(cmd, "mntr") || !strcmp(cmd, "dump")))
		fill_conns(dp, in, &conns);
	adm_env_fill(in);
	n = adm_4lw_buf(cmd, in, out, cap);
	for (size_t i = 0; i < wl.n; i++)
		free((void *)wl.v[i].path);
	free(wl.v);
	free(conns);
	free(in);
	return n > 0 ? (size_t)n : 0;
fail:
	free(in);
	return 0;
}
