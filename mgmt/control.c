/* mgmt/control.c: the control thread (an ensemble member also runs
 * mgmt/quorum.c on it: the Zab host and read-only mode; see mgmt/ctl_int.h).
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
#include "mgmt/ctl_int.h"

/* ---- sessions ---- */

static struct dp_sess **sess_slot(struct ctl *c, uint64_t id)
{
	struct dp_sess **pp = &c->sess[(id ^ (id >> 29)) % CTL_SESS_BUCKETS];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

struct dp_sess *ctl_sess_find(struct ctl *c, uint64_t id)
{
	return *sess_slot(c, id);
}

struct dp_sess *ctl_sess_add(struct ctl *c, uint64_t id, int32_t timeout_ms)
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

void ctl_sess_remove(struct ctl *c, uint64_t id)
{
	struct dp_sess **pp = sess_slot(c, id), *s = *pp;
	if (!s)
		return;
	*pp = s->hnext;
	s->hnext = NULL;
	dp_sess_put(s);
}

/* java.util.Random(id ^ 0xB3415C00).nextBytes(16): ZooKeeper's session password. */
void ctl_sess_passwd(uint64_t id, uint8_t out[ZKP_PASSWD_LEN])
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
	if (!ctl_sess_add(c, id, timeout_ms))
		TN_ERROR("ctl", "out of memory loading session 0x%" PRIx64, id);
}

uint64_t ctl_new_session_id(struct ctl *c)
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

void ctl_post_token(struct ctl *c, uint64_t tok, uint8_t kind, const void *p, uint32_t len)
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
void ctl_post_rsp(struct ctl *c, const struct dp_msg *req, uint8_t kind, uint8_t flags,
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

void ctl_post_hdr(struct ctl *c, const struct dp_msg *req, int32_t xid, int32_t type,
		     int32_t err, uint8_t flags)
{
	struct zkp_response r = { .hdr = { xid, (int64_t)store_last_zxid(c->s), err }, .type = type };
	ctl_post_rsp(c, req, DP_MSG_REPLY, flags, &r, NULL, NULL);
}

static void post_event(struct ctl *c, const struct store_event *ev)
{
	struct dp_sess *s = ctl_sess_find(c, ev->session);
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
	ctl_post_token(c, tok, DP_MSG_EVENT, buf, (uint32_t)w.len);
}

/* ---- the pending FIFO ---- */

void ctl_pend_push(struct ctl *c, struct pend *p)
{
	p->next = NULL;
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	c->outstanding++;
}

void ctl_pend_free(struct pend *p)
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
void ctl_fail_client(struct ctl *c, struct pend *p)
{
	if (!p->m)
		return;
	if (p->kind == PK_NEW_SESSION)
		ctl_post_token(c, dp_conn_token(p->m->worker, p->m->slot, p->m->gen), DP_MSG_CLOSE,
			   NULL, 0);
	else
		ctl_post_hdr(c, p->m, p->xid, p->type, ZK_ESYSTEM, 0);
}

/* Prep @req into @p->txn (growing the prep arena as needed), encode and
 * append it to the WAL, and queue @p. On a failure the item is freed and the
 * client (if any) gets SystemError. */
void ctl_submit_txn(struct ctl *c, struct pend *p, struct store_req *req, size_t hint)
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
		ctl_pend_free(p); /* its learner answers the client; we apply it from the COMMIT */
		return;
	}
	if (!p->queued)
		ctl_pend_push(c, p);
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
	ctl_fail_client(c, p);
	if (rc == -EIO || rc == -TN_ESHUTDOWN)
		atomic_store(&c->failed, true);
	if (p->queued) {
		p->kind = PK_DEAD; /* in the FIFO: ctl_pump() drops it at the head */
		return;
	}
	ctl_pend_free(p);
}

struct pend *ctl_pend_new(struct dp_msg *m, enum pend_kind kind, size_t arena_bytes)
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
		ctl_post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
		goto out;
	}
	if (!atomic_load(&c->serving)) {
		ctl_connect_read_only(c, m, &cr);
		goto out;
	}
	if ((uint64_t)cr.last_zxid_seen > store_last_zxid(c->s)) {
		TN_INFO("ctl", "%s: client has seen zxid 0x%" PRIx64 ", ahead of ours 0x%" PRIx64
			", closing", m->ip, (uint64_t)cr.last_zxid_seen, store_last_zxid(c->s));
		ctl_post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
		goto out;
	}
	to = TN_MAX(cr.timeout_ms, (int32_t)cfg->session_timeout_ms_min);
	to = TN_MIN(to, (int32_t)cfg->session_timeout_ms_max);
	rsp.has_read_only = cr.has_read_only;
	rsp.passwd_len = ZKP_PASSWD_LEN;
	if (cr.session_id == 0) {
		struct pend *p = ctl_pend_new(m, PK_NEW_SESSION, 0);
		struct zk_op op = { .type = ZK_OP_CREATESESSION };
		struct store_req req = { .op = &op, .session_timeout_ms = to };
		if (!p)
			goto out;
		req.hdr.session = ctl_new_session_id(c);
		req.hdr.type = ZK_OP_CREATESESSION;
		p->timeout_ms = to;
		p->has_read_only = cr.has_read_only;
		p->type = ZK_OP_CREATESESSION;
		p->session = req.hdr.session;
		if (c->zab)
			ctl_ens_submit(c, p, &req, 0);
		else
			ctl_submit_txn(c, p, &req, 0);
		return;
	}
	struct dp_sess *s = ctl_sess_find(c, (uint64_t)cr.session_id);
	uint8_t pw[ZKP_PASSWD_LEN];
	ctl_sess_passwd((uint64_t)cr.session_id, pw);
	if (!s || s->closing || cr.passwd_len != ZKP_PASSWD_LEN || memcmp(pw, cr.passwd, sizeof pw)) {
		TN_INFO("ctl", "%s: session 0x%" PRIx64 " %s", m->ip, (uint64_t)cr.session_id,
			s && !s->closing ? "wrong password" : "expired");
		ctl_post_rsp(c, m, DP_MSG_CONNECTED, DP_MSGF_CLOSE_AFTER, NULL, &rsp, NULL);
		goto out;
	}
	uint64_t tok = dp_conn_token(m->worker, m->slot, m->gen);
	uint64_t old = atomic_exchange(&s->owner, tok);
	if (old && old != tok)
		ctl_post_token(c, old, DP_MSG_CLOSE, NULL, 0); /* the session moved here */
	s->timeout_ms = to;
	atomic_store_explicit(&s->touch_ms, dp_now_ms(), memory_order_relaxed);
	rsp.timeout_ms = to;
	rsp.session_id = cr.session_id;
	memcpy(rsp.passwd, pw, sizeof pw);
	ctl_post_rsp(c, m, DP_MSG_CONNECTED, 0, NULL, &rsp, s);
out:
	dp_msg_free(m);
}

static void on_request(struct ctl *c, struct dp_msg *m)
{
	size_t cap = ZKP_ARENA_FOR(m->len);
	struct pend *p = ctl_pend_new(m, PK_TXN, cap);
	struct zkp_request rq;
	struct tn_arena a;
	struct dp_sess *s = m->sess;

	TN_ASSERT(s != NULL);
	if (!p) {
		TN_ERROR("ctl", "out of memory for a request of %u bytes", m->len);
		ctl_post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
		dp_msg_free(m);
		return;
	}
	a = tn_arena_init(p->arena, cap);
	if (zkp_decode_request(m->data, m->len, &a, &rq) != ZKP_DEC_OK) {
		/* the worker decoded it already; this is a bug, but not worth a crash */
		ctl_post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
		ctl_pend_free(p);
		return;
	}
	p->xid = rq.xid;
	p->type = rq.type;
	if (!atomic_load(&c->serving)) {
		if (s->read_only) {
			ctl_request_read_only(c, m, &rq);
		} else {
			ctl_post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE,
				   NULL, 0);
		}
		ctl_pend_free(p);
		return;
	}
	if (s->closing || ctl_sess_find(c, s->id) != s) {
		ctl_post_hdr(c, m, rq.xid, rq.type, ZK_ESESSIONEXPIRED, DP_MSGF_CLOSE_AFTER);
		ctl_pend_free(p);
		return;
	}
	if (rq.type == ZK_OP_SYNC) {
		p->kind = PK_SYNC;
		p->sync_path = rq.op.path;
		if (c->zab) {
			/* on the leader too: a quorum confirms it still leads */
			p->sync_tag = ++c->sync_next;
			if (zab_sync(c->zab, p->sync_tag) < 0) {
				ctl_post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE,
					   NULL, 0);
				ctl_pend_free(p);
				return;
			}
			c->syncs++;
		}
		ctl_pend_push(c, p);
		if (c->zab)
			ctl_pump(c);
		return;
	}
	struct store_req req = { .op = &rq.op, .auth = &m->auth->a };
	req.hdr.session = s->id;
	req.hdr.cxid = rq.xid;
	req.hdr.type = rq.type;
	if (rq.type == ZK_OP_CLOSESESSION)
		s->closing = true;
	p->session = s->id;
	if (rq.type == ZK_OP_RECONFIG && !c->zab) {
		ctl_post_hdr(c, m, rq.xid, rq.type, ZK_EUNIMPLEMENTED, 0); /* standalone */
		ctl_pend_free(p);
		return;
	}
	if (rq.type == ZK_OP_RECONFIG && !ctl_is_learner(c)) {
		ctl_reconf_submit(c, p, &rq, req.auth);
		return;
	}
	if (c->zab)
		ctl_ens_submit(c, p, &req, m->len);
	else
		ctl_submit_txn(c, p, &req, m->len);
}

/* An internal request (expiry, reaping): no client, super rights. */
static void submit_internal(struct ctl *c, uint64_t session, const struct zk_op *op)
{
	static const struct store_auth super = { .count = 0, .super = true };
	size_t plen = op->path ? strlen(op->path) + 1 : 0;
	struct pend *p = ctl_pend_new(NULL, PK_TXN, plen + sizeof(struct zk_op));
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
	ctl_submit_txn(c, p, &req, op->path ? strlen(op->path) : 0);
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
			ctl_post_hdr(c, p->m, p->xid, p->type, ZK_ESYSTEM, 0);
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
	if (p->type == ZK_OP_RECONFIG && r.hdr.err == ZK_OK) {
		r.data = p->txn.data; /* the new config, as getConfig shows it */
		r.data_len = p->txn.data_len;
	}
	if (p->type == ZK_OP_CLOSESESSION)
		flags = DP_MSGF_CLOSE_AFTER;
	ctl_post_rsp(c, p->m, DP_MSG_REPLY, flags, &r, NULL, NULL);
	free(mr);
}

static void finish_session_txn(struct ctl *c, struct pend *p)
{
	uint64_t id = p->txn.hdr.session;

	if (p->kind != PK_NEW_SESSION && p->txn.hdr.type == ZK_OP_CREATESESSION) {
		/* another server's new session: every server keeps the whole table */
		if (!ctl_sess_add(c, id, p->txn.timeout_ms))
			TN_ERROR("ctl", "out of memory adding session 0x%" PRIx64, id);
		return;
	}

	if (p->kind == PK_NEW_SESSION) {
		struct zkp_connect_rsp rsp = { .has_read_only = p->has_read_only,
					       .passwd_len = ZKP_PASSWD_LEN };
		struct dp_sess *s = ctl_sess_add(c, id, p->timeout_ms);
		if (!s) {
			ctl_post_rsp(c, p->m, DP_MSG_CONNECTED, DP_MSGF_CLOSE_AFTER, NULL, &rsp, NULL);
			return;
		}
		atomic_store(&s->owner, dp_conn_token(p->m->worker, p->m->slot, p->m->gen));
		rsp.timeout_ms = p->timeout_ms;
		rsp.session_id = (int64_t)id;
		ctl_sess_passwd(id, rsp.passwd);
		ctl_post_rsp(c, p->m, DP_MSG_CONNECTED, 0, NULL, &rsp, s);
		return;
	}
	/* closeSession: from the client (reply, then close) or from expiry */
	struct dp_sess *s = ctl_sess_find(c, id);
	if (s) {
		uint64_t tok = atomic_exchange(&s->owner, 0);
		if (tok && !p->m)
			ctl_post_token(c, tok, DP_MSG_CLOSE, NULL, 0);
		ctl_sess_remove(c, id);
	}
	store_watch_drop_session(c->s, id);
}

void ctl_complete_txn(struct ctl *c, struct pend *p)
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
		ctl_fail_client(c, p);
		return;
	}
	c->since_snap++;
	for (uint32_t i = 0; i < out.event_count; i++)
		post_event(c, &out.events[i]);
	dp_apply_end(c->dp, p->zxid);
	ctl_reconf_applied(c, &p->txn);
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
			ctl_post_rsp(c, p->m, DP_MSG_REPLY, 0, &r, NULL, NULL);
		} else {
			ctl_complete_txn(c, p);
		}
		ctl_pend_free(p);
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
	if (pthread_create(&c->snap_th, NULL, snap_main, c) == 0) {
		pthread_setname_np(c->snap_th, "tern-snap");
	} else {
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

void ctl_wal_durable(void *arg, tn_zxid durable, int err)
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
			ctl_post_token(c, dp_conn_token(m->worker, m->slot, m->gen), DP_MSG_CLOSE, NULL, 0);
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
			work += ctl_ens_turn(c);
		else
			work += complete(c);
		ctl_admin_publish(c); /* zab counters for the admin server (rate-limited) */
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
		ctl_pend_free(p);
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
	if ((rc = wal_open(&c->wal, &wc, ctl_wal_durable, c)) < 0) {
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
	if (cc->cfg->server_id && (rc = ctl_ens_create(c)) < 0) {
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
	if (pthread_create(&c->th, NULL, ctl_main, c) == 0)
		pthread_setname_np(c->th, "tern-ctl");   /* the sequencer: its CPU per txn matters */
	else
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
	ctl_reconf_free(c);
	free(c->fwd);
	while ((m = dp_ring_pop(c->ring)))
		dp_msg_free(m);
	dp_ring_destroy(c->ring);
	for (unsigned b = 0; b < CTL_SESS_BUCKETS; b++)
		while (c->sess[b])
			ctl_sess_remove(c, c->sess[b]->id);
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

/* What the four-letter words and the admin server both show: the dataplane's,
 * store's and WAL-free counters, the mode, and whether we serve. Any thread. */
/* The membership in force, as /zookeeper/config shows it (the caller is a
 * store reader): conf and the admin server list it rather than zoo.cfg's. */
static void members_fill(struct ctl *c, struct adm_info *in)
{
	struct store_node_view v;
	char err[CFG_ERR_MAX];
	unsigned n = 0;
	uint64_t version = 0;

	if (store_get(c->s, "/zookeeper/config", &v) != ZK_OK || v.data_len <= 0)
		return;
	if (cfg_parse_dynamic((const char *)v.data, (size_t)v.data_len, in->members,
			      ADM_MEMBERS_MAX, &n, &version, err) == 0 && n > 0) {
		in->member_count = n;
		in->config_version = version;
	}
}

void ctl_info_fill(struct ctl *c, struct dp *dp, struct adm_info *in)
{
	struct store_stats ss;
	struct store_watch_stats ws;
	struct dp_stats ds;

	memset(&ds, 0, sizeof ds);
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
	if (c->zab)
		members_fill(c, in);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		in->max_fds = rl.rlim_cur;
}

size_t ctl_fourlw(void *arg, const char *cmd, char *out, size_t cap)
{
	struct ctl *c = arg;
	struct adm_info *in = calloc(1, sizeof *in);
	struct watch_list wl = { 0 };
	struct adm_conn *conns = NULL;
	int n;

	if (!in || !cmd)
		goto fail;
	/* words can arrive before ctl_start(): answer "not serving" until then */
	struct dp *dp = atomic_load_explicit(&c->dp_pub, memory_order_acquire);
	if (dp && !strcmp(cmd, "srst"))
		dp_stats_reset(dp);
	if (dp && !strcmp(cmd, "crst") && cfg_4lw_allowed(c->cc.cfg, cmd))
		dp_conns_reset(dp);
	ctl_info_fill(c, dp, in);
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
