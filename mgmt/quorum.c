/* mgmt/quorum.c: what an ensemble member adds to the control thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_err.h"
#include "common/tn_fs.h"
#include "common/tn_log.h"
#include "mgmt/ctl_int.h"

/* ---- read-only mode (readonlymode.enabled, ZooKeeper's ReadOnlyZooKeeperServer) ----
 * Without a quorum, a server with readonlymode.enabled still takes clients
 * that said canBeReadOnly: reads come from its local (possibly stale) state,
 * writes get NotReadOnly. As in ZooKeeper 3.8 (checked against it), this
 * needs localSessionsEnabled too: a new session gets a local id that no log
 * ever sees, and a client that brings an existing session id is told it
 * expired (ZooKeeper's read-only server knows no global session); without
 * local sessions no client is taken. When the quorum is back every
 * read-only connection is closed, so its client reconnects read-write. */

void ctl_connect_read_only(struct ctl *c, struct dp_msg *m, const struct zkp_connect_req *cr)
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
		ctl_post_rsp(c, m, DP_MSG_CONNECTED, DP_MSGF_CLOSE_AFTER, NULL, &rsp, NULL);
		return;
	}
	id = ctl_new_session_id(c);
	if (!(s = ctl_sess_add(c, id, to)))
		return;
	s->local = true;
	uint64_t tok = dp_conn_token(m->worker, m->slot, m->gen);
	uint64_t old = atomic_exchange(&s->owner, tok);
	if (old && old != tok)
		ctl_post_token(c, old, DP_MSG_CLOSE, NULL, 0);
	s->read_only = true;
	s->timeout_ms = to;
	atomic_store_explicit(&s->touch_ms, dp_now_ms(), memory_order_relaxed);
	rsp.timeout_ms = to;
	rsp.session_id = (int64_t)id;
	ctl_sess_passwd(id, rsp.passwd);
	TN_INFO("ctl", "%s: read-only session 0x%" PRIx64, m->ip, id);
	ctl_post_rsp(c, m, DP_MSG_CONNECTED, 0, NULL, &rsp, s);
}

void ctl_request_read_only(struct ctl *c, struct dp_msg *m, const struct zkp_request *rq)
{
	if (rq->type == ZK_OP_CLOSESESSION) {
		struct dp_sess *s = m->sess;
		ctl_post_hdr(c, m, rq->xid, rq->type, ZK_OK, DP_MSGF_CLOSE_AFTER);
		atomic_store(&s->owner, 0);
		if (s->local)
			ctl_sess_remove(c, s->id);
		return;
	}
	if (rq->type == ZK_OP_SYNC) {
		struct zkp_response r = { .hdr = { rq->xid, (int64_t)store_last_zxid(c->s), 0 },
					  .type = ZK_OP_SYNC, .path = rq->op.path };
		ctl_post_rsp(c, m, DP_MSG_REPLY, 0, &r, NULL, NULL);
		return;
	}
	ctl_post_hdr(c, m, rq->xid, rq->type, ZK_ENOTREADONLY, 0);
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
					ctl_post_token(c, tok, DP_MSG_CLOSE, NULL, 0);
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

bool ctl_is_learner(const struct ctl *c)
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
void ctl_ens_submit(struct ctl *c, struct pend *p, struct store_req *req, size_t hint)
{
	int rc;

	p->fwd = ctl_is_learner(c);
	if (c->syncs > 0) {
		p->held = true;
		p->queued = true;
		ctl_pend_push(c, p);
		return;
	}
	if (!p->fwd) {
		ctl_submit_txn(c, p, req, hint);
		return;
	}
	if ((rc = fwd_send(c, p)) < 0) {
		TN_WARN("ctl", "cannot forward a request to the leader: %s", tn_strerror(rc));
		ctl_fail_client(c, p);
		ctl_pend_free(p);
		return;
	}
	ctl_pend_push(c, p);
}

/* A held item's turn: forward it, or prep it again from its request. */
static void release_held(struct ctl *c, struct pend *q)
{
	struct store_req req = { 0 };
	struct zk_op op = { .type = ZK_OP_CREATESESSION };
	struct zkp_request rq;
	int rc;

	q->held = false;
	q->fwd = ctl_is_learner(c);
	if (q->fwd) {
		if ((rc = fwd_send(c, q)) < 0) {
			TN_WARN("ctl", "cannot forward a request to the leader: %s", tn_strerror(rc));
			ctl_fail_client(c, q);
			q->kind = PK_DEAD;
		}
		return;
	}
	req.hdr.session = q->session;
	if (q->kind == PK_NEW_SESSION) {
		req.op = &op;
		req.session_timeout_ms = q->timeout_ms;
		req.hdr.type = ZK_OP_CREATESESSION;
		ctl_submit_txn(c, q, &req, 0);
		return;
	}
	struct tn_arena a = tn_arena_init(q->arena, q->arena_cap);
	if (zkp_decode_request(q->m->data, q->m->len, &a, &rq) != ZKP_DEC_OK) {
		ctl_fail_client(c, q);
		q->kind = PK_DEAD;
		return;
	}
	req.op = &rq.op;
	req.auth = &q->m->auth->a;
	req.hdr.cxid = rq.xid;
	req.hdr.type = rq.type;
	ctl_submit_txn(c, q, &req, q->m->len);
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
	ctl_post_rsp(c, p->m, DP_MSG_REPLY, 0, &r, NULL, NULL);
}

/* Complete the syncs and drop the dead items at the head, and release what
 * a completed sync held (up to the next sync). */
void ctl_pump(struct ctl *c)
{
	while (c->head && (c->head->kind == PK_DEAD ||
			   (c->head->kind == PK_SYNC && c->head->sync_tag <= c->sync_done))) {
		struct pend *p = c->head;
		pend_pop(c);
		if (p->kind == PK_SYNC) {
			c->syncs--;
			reply_sync(c, p);
		}
		ctl_pend_free(p);
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
			ctl_post_token(c, dp_conn_token(p->m->worker, p->m->slot, p->m->gen),
				   DP_MSG_CLOSE, NULL, 0);
		ctl_pend_free(p);
	}
	c->syncs = 0;
	for (unsigned b = 0; b < CTL_SESS_BUCKETS; b++)
		for (struct dp_sess *s = c->sess[b]; s; s = s->hnext) {
			uint64_t tok = atomic_exchange(&s->owner, 0);
			if (tok)
				ctl_post_token(c, tok, DP_MSG_CLOSE, NULL, 0);
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

	ctl_pump(c); /* dead items must not hide the head */
	p = c->head;
	if (p && !p->fwd && !p->held && (p->kind == PK_TXN || p->kind == PK_NEW_SESSION) &&
	    p->zxid == zxid) {
		pend_pop(c);
		ctl_complete_txn(c, p);
		ctl_pend_free(p);
		ctl_pump(c);
		return;
	}
	struct pend *t = ctl_pend_new(NULL, PK_TXN, 0);
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
		ctl_pend_free(t);
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
		ctl_pend_free(t);
		ctl_complete_txn(c, p);
		ctl_pend_free(p);
		ctl_pump(c);
		return;
	}
	ctl_complete_txn(c, t);
	ctl_pend_free(t);
	return;
nomem:
	TN_ERROR("ctl", "out of memory applying zxid 0x%" PRIx64, zxid);
	ctl_pend_free(t);
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
		struct dp_sess *s = ctl_sess_find(c, id);
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
	if (!(p = ctl_pend_new(NULL, PK_TXN, cap))) {
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
		if (sl)
			memcpy(str, sp, (size_t)sl);
		str[sl] = 0;
		au->ids[i].scheme = str;
		str += sl + 1;
		if (il)
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
		ctl_submit_txn(c, p, &req, 0);
		return;
	}
	size_t used = ((size_t)(str - (char *)p->arena) + 15) & ~(size_t)15; /* arena: aligned base */
	struct tn_arena a = tn_arena_init(p->arena + used, cap - used);
	struct zkp_request rq;
	if (body_len <= 0 || zkp_decode_request(body, (size_t)body_len, &a, &rq) != ZKP_DEC_OK)
		goto bad_free;
	if (rq.type == ZK_OP_RECONFIG) {
		p->session = session;
		ctl_reconf_submit(c, p, &rq, au);
		return;
	}
	struct store_req req = { .op = &rq.op, .auth = au };
	req.hdr.session = session;
	req.hdr.cxid = rq.xid;
	req.hdr.type = rq.type;
	if (rq.type == ZK_OP_CLOSESESSION) {
		struct dp_sess *s = ctl_sess_find(c, session);
		if (s)
			s->closing = true;
	}
	ctl_submit_txn(c, p, &req, (size_t)body_len);
	return;
bad_free:
	ctl_pend_free(p);
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
		    (rc = wal_open(&c->wal, &wc, ctl_wal_durable, c)) < 0) {
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

	struct zab_info zi;
	zab_info(c->zab, &zi); /* the upstream: the leader, or a learner master */
	TN_INFO("ctl", "%s, leader %u, epoch %u, %s (upstream %u)", zab_role_name(a->role),
		a->leader, a->epoch, a->serving ? "serving" : "not serving", zi.upstream);
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
	if (a->serving)
		ctl_reconf_check(c);
}

/* Carry out what the core asked for, in order. */
static void run_actions(struct ctl *c)
{
	struct zab_act a;
	int rc;

	while (!atomic_load(&c->restart) && zab_next_action(c->zab, &a)) {
		switch (a.kind) {
		case ZAB_ACT_CONFIG:
			ctl_reconf_adopt(c, a.zxid, a.data, a.len, a.peer);
			break;
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
			ctl_reconf_logged(c, a.zxid, a.data, a.len);
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
			ctl_pump(c);
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
unsigned ctl_ens_turn(struct ctl *c)
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
	if (!atomic_load(&c->failed)) {
		struct zab_info zi;
		zab_info(c->zab, &zi);
		if (zi.failed) {
			/* crash-only: say why and stop, rather than sit LOOKING for ever */
			TN_ERROR("ctl", "replication stopped for good (log failure, a recovered log "
				 "that does not reach 0x%" PRIx64 ", or epochs exhausted): exiting",
				 zi.last_logged);
			atomic_store(&c->failed, true);
		}
	}
	run_actions(c);
	if (ctl_is_learner(c) && atomic_load(&c->serving) && now >= c->t_touch) {
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

int ctl_ens_create(struct ctl *c)
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
	if ((rc = ctl_reconf_init(c, &zc)) < 0) { /* the committed config, or zoo.cfg's */
		TN_ERROR("ctl", "cannot set up the config: %s", tn_strerror(rc));
		return rc;
	}
	/* learner masters this observer follows before the leader (zab_master.c) */
	for (unsigned i = 0; i < CFG_OBS_MASTER_MAX && i < ZAB_UPSTREAM_MAX; i++)
		zc.upstream[i] = cfg->observer_master[i];
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
	ctl_reconf_peers(c);
	/* ZooKeeper's session id shape: time-based, the server id in the top
	 * byte, so servers never hand out the same id */
	c->next_session = (c->cc.env->now_ms(c->cc.env) << 24) >> 8 |
			  (uint64_t)(cfg->server_id & 0xff) << 56;
	atomic_store(&c->serving, false);
	TN_INFO("ctl", "server %u of %u: accepted epoch %u, current epoch %u, last zxid 0x%" PRIx64,
		zc.my_id, zc.member_count, d.accepted_epoch, d.current_epoch, d.last_logged);
	return 0;
}

