/* tools/ternc.c: the client library's loop, connections and protocol engine.
 *
 * One session = one struct ternc with at most one TCP connection at a time.
 * Its connection moves through:
 *
 *   IDLE --(backoff timer)--> CONNECTING --(writable, SO_ERROR 0)--> HANDSHAKE
 *   HANDSHAKE --(ConnectResponse timeout > 0)--> UP     (auth, setWatches2, queued calls sent)
 *   HANDSHAKE --(timeout <= 0)--> expired (terminal)
 *   any --(error, EOF, bad frame, read timeout)--> next host or IDLE
 *
 * Buffers: @out holds bytes for the socket (the ConnectRequest first, then
 * frames); @q holds frames of calls made before the handshake finished, in
 * call order, appended to @out after auth and setWatches. The pending FIFO
 * has one entry per frame in @q/@out awaiting a normal reply, in the same
 * order, so the reply with the head's xid completes the head.
 *
 * Reply frame (ZOOKEEPER.md §1): int32 len | ReplyHeader{xid, zxid, err} | body.
 * Out-of-band xids: -1 watch event, -2 ping, -4 auth, -8 setWatches.
 *
 * UDP transport (ternc.h, dataplane/dp_udp.h). The same buffers and FIFO; only
 * the edges change. The socket is a connected UDP socket, so CONNECTING is
 * skipped: the CONNECT datagram goes out at once and is resent on a backoff
 * timer during HANDSHAKE. When UP, conn_flush cuts @out into frames and sends
 * each as one REQUEST datagram; a request (xid >= 0) keeps its datagram in
 * its pending entry (@dg) until answered, resent when its timer fires.
 * Replies may arrive out of order after a loss: one for a later request is
 * parked in its pending entry (@early) and completed when it reaches the
 * head, so callbacks still run in request order. @unsent is the first
 * pending entry whose frame has not been cut into a datagram yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "dataplane/dp_port.h"
#include "dataplane/dp_udp.h"
#include "tools/ternc_int.h"

#define TC_EVENTS_MAX 64          /* epoll events per wait */
#define TC_RECV_CHUNK (64u << 10) /* bytes read per recv call */
#define TC_FRAME_MAX (16u << 20)  /* a reply larger than this drops the connection */
#define TC_CONNECT_MS_MIN 500     /* floor of one connection attempt's budget */
#define TC_CLOSE_WAIT_MS_MAX 2000 /* ternc_close waits at most this for the reply */

enum tc_conn { TC_IDLE, TC_CONNECTING, TC_HANDSHAKE, TC_UP };

struct tc_buf {
	uint8_t *p;
	size_t len, off, cap; /* bytes [off, len) are live */
};

struct tc_pending {
	struct tc_pending *next;
	int32_t xid, op;
	ternc_cb cb;
	void *arg;
	ternc_watch_fn wfn;
	void *warg;
	int wkind;
	char *wpath;
	/* UDP: the request datagram until answered, and its retransmission timer */
	uint8_t *dg;
	uint32_t dg_len;
	int32_t rto_ms;
	int64_t rto_at_ms;
	int64_t sent_ms;  /* first send: an RTT sample if never resent */
	bool resent;
	/* UDP: an answer that came before the head's (DP_UDP_REPLY body, or a bare kind) */
	uint8_t early_kind;
	uint8_t *early;
	uint32_t early_len;
};

struct tc_watch {
	struct tc_watch *next;
	char *path; /* the caller's path */
	int kind;
	ternc_watch_fn fn;
	void *arg;
};

struct tc_auth {
	struct tc_auth *next;
	char *scheme;
	uint8_t *cred;
	int32_t len;
	ternc_cb cb; /* the caller's, until the first send: re-sends are silent */
	void *arg;
	bool cb_pending;
};

struct tc_auth_wait {
	struct tc_auth_wait *next;
	ternc_cb cb;
	void *arg;
};

struct tc_host {
	struct sockaddr_storage sa;
	socklen_t sa_len;
	char name[280];
};

struct ternc {
	struct ternc_loop *loop;
	struct ternc *prev, *next; /* in loop->sessions */
	struct tc_host *hosts;
	int nhosts, host_idx, round_tries;
	char chroot[TERNC_PATH_MAX];
	size_t chroot_len;
	int fd;
	bool want_out; /* EPOLLOUT armed */
	enum tc_conn conn;
	int state;           /* enum ternc_state */
	bool closing;        /* ternc_close called: no new calls */
	bool close_done;     /* closeSession answered or gave up */
	bool dead;           /* finalized: free at the end of the loop turn */
	bool held;           /* ternc_close is waiting on it: reap must not free it */
	int64_t deadline_ms; /* connect/backoff/close deadline */
	int64_t last_send_ms, last_recv_ms;
	int32_t timeout_ms_req, timeout_ms;
	int64_t session_id;
	uint8_t passwd[ZKP_PASSWD_LEN];
	int64_t last_zxid;
	int32_t next_xid;
	struct tc_buf out, q, in;
	struct tc_pending *ph, *pt; /* pending FIFO */
	struct tc_watch *watches;
	struct tc_auth *auths;
	struct tc_auth_wait *awh, *awt;
	ternc_state_fn state_fn;
	void *state_arg;
	void *user;
	uint8_t *arena;
	size_t arena_cap;
	/* UDP transport */
	bool udp;
	uint32_t nonce;             /* this attachment's cookie */
	uint8_t *hs;                /* the CONNECT datagram while in HANDSHAKE */
	uint32_t hs_len;
	int32_t hs_rto_ms;
	int64_t hs_rto_at_ms;
	struct tc_pending *unsent;  /* first pending entry not yet sent as a datagram */
	uint32_t inflight;          /* pending entries with a datagram */
	int32_t srtt_ms;            /* smoothed round trip (x1, EWMA 1/8); 0 = no sample yet */
	/* UDP through the loop's DPDK port: attached without an fd */
	bool nic_on;
	struct dp_port_addr nic_to;
};

struct ternc_loop {
	int epfd;
	int depth; /* > 0 while callbacks may run */
	struct ternc *sessions;
	struct dp_port *nic; /* ternc_loop_dpdk: UDP sessions go through it */
	bool nic_queued;     /* datagrams wait for dp_port_flush */
};

static void conn_drop(struct ternc *c, int err);
static void session_end(struct ternc *c, int state, int err);
static void conn_start(struct ternc *c);

/* ---- small helpers ---- */

/* A connection (or DPDK attachment) exists. */
static bool attached(const struct ternc *c)
{
	return c->fd >= 0 || c->nic_on;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int buf_reserve(struct tc_buf *b, size_t extra)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= extra)
		return 0;
	if (b->off > 0) { /* compact before growing */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= extra)
			return 0;
	}
	size_t ncap = b->cap ? b->cap : 4096;
	while (ncap - b->len < extra) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	uint8_t *np = realloc(b->p, ncap);
	if (!np)
		return -ENOMEM;
	b->p = np;
	b->cap = ncap;
	TN_ASSERT(b->cap - b->len >= extra && b->off <= b->len);
	return 0;
}

static void buf_clear(struct tc_buf *b)
{
	b->len = b->off = 0;
}

static void buf_free(struct tc_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static size_t buf_live(const struct tc_buf *b)
{
	return b->len - b->off;
}

/* Append one length-prefixed frame built by zkp_encode_request. */
static int buf_put_request(struct tc_buf *b, const struct zkp_request *req)
{
	size_t need = 256;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (buf_reserve(b, need) < 0)
			return ZK_ESYSTEM;
		struct tn_wr w = tn_wr_init(b->p + b->len, b->cap - b->len);
		size_t start = zkp_frame_begin(&w);
		int rc = zkp_encode_request(&w, req);
		if (rc == 0)
			rc = zkp_frame_end(&w, start);
		if (rc == 0) {
			b->len += w.len;
			return ZK_OK;
		}
		if (rc != -EMSGSIZE)
			return ZK_EBADARGUMENTS;
		need = w.len;
	}
	return ZK_ESYSTEM; /* UNTESTED: the second pass has the measured room */
}

static void ep_update(struct ternc *c)
{
	if (c->fd < 0 || c->udp)
		return;
	bool want = c->conn == TC_CONNECTING || buf_live(&c->out) > 0;
	if (want == c->want_out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = want;
}

static void set_state(struct ternc *c, int state)
{
	if (c->state == state)
		return;
	c->state = state;
	if (c->state_fn) {
		c->loop->depth++;
		c->state_fn(c, state, c->state_arg);
		c->loop->depth--;
	}
}

/* ---- chroot and paths ---- */

int tc_path_out(const struct ternc *c, const char *path, bool allow_trailing_slash, char *buf)
{
	TN_ASSERT(c && buf);
	if (!path || path[0] != '/')
		return ZK_EBADARGUMENTS;
	size_t n = strlen(path);
	if (c->chroot_len + n + 1 > TERNC_PATH_MAX)
		return ZK_EBADARGUMENTS;
	for (size_t i = 1; i < n; i++)
		if (path[i] == '/' && path[i - 1] == '/')
			return ZK_EBADARGUMENTS;
	if (n > 1 && path[n - 1] == '/' && !allow_trailing_slash)
		return ZK_EBADARGUMENTS;
	memcpy(buf, c->chroot, c->chroot_len);
	if (c->chroot_len > 0 && n == 1)
		buf[c->chroot_len] = '\0'; /* "/" under chroot is the chroot itself */
	else
		memcpy(buf + c->chroot_len, path, n + 1);
	return ZK_OK;
}

size_t tc_chroot_len(const struct ternc *c)
{
	return c->chroot_len;
}

/* The caller's view of a server path (strip the chroot); in place, no copy. */
static const char *path_in(const struct ternc *c, const char *path)
{
	if (!path || c->chroot_len == 0)
		return path;
	if (strncmp(path, c->chroot, c->chroot_len) != 0)
		return path;
	if (path[c->chroot_len] == '\0')
		return "/";
	if (path[c->chroot_len] == '/')
		return path + c->chroot_len;
	return path;
}

/* ---- watches ---- */

static void watch_add(struct ternc *c, const char *path, int kind, ternc_watch_fn fn, void *arg)
{
	for (struct tc_watch *w = c->watches; w; w = w->next)
		if (w->kind == kind && w->fn == fn && w->arg == arg && strcmp(w->path, path) == 0)
			return; /* a set, as in ZooKeeper's clients */
	struct tc_watch *w = calloc(1, sizeof(*w));
	char *p = strdup(path);
	if (!w || !p) { /* UNTESTED: out of memory loses the watch */
		free(w);
		free(p);
		return;
	}
	*w = (struct tc_watch){c->watches, p, kind, fn, arg};
	c->watches = w;
}

static bool watch_matches(const struct tc_watch *w, int type, const char *path)
{
	if (w->kind == TC_W_RECURSIVE) {
		if (type == ZK_EVENT_CHILDREN_CHANGED)
			return false;
		size_t n = strlen(w->path);
		if (strcmp(w->path, "/") == 0)
			return true;
		return strncmp(path, w->path, n) == 0 && (path[n] == '\0' || path[n] == '/');
	}
	if (strcmp(w->path, path) != 0)
		return false;
	switch (w->kind) {
	case TC_W_DATA:
	case TC_W_EXIST:
		return type != ZK_EVENT_CHILDREN_CHANGED;
	case TC_W_CHILD:
		return type == ZK_EVENT_CHILDREN_CHANGED || type == ZK_EVENT_DELETED;
	default:
		return true; /* persistent: every event of its path */
	}
}

struct tc_fire {
	ternc_watch_fn fn;
	void *arg;
};

/* Collect watchers matching the event (one-shots removed), then call them:
 * a watcher may add or remove watches while we run. */
static void watch_dispatch(struct ternc *c, const struct ternc_event *ev)
{
	size_t n = 0, cap = 0;
	struct tc_fire *v = NULL;
	for (struct tc_watch **pp = &c->watches; *pp;) {
		struct tc_watch *w = *pp;
		bool all = ev->type == ZK_EVENT_NONE;
		if (!all && !watch_matches(w, ev->type, ev->path)) {
			pp = &w->next;
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct tc_fire *nv = realloc(v, ncap * sizeof(*v));
			if (!nv)
				break; /* UNTESTED: out of memory; the rest stay registered */
			v = nv;
			cap = ncap;
		}
		bool dup = false; /* one call per watcher object, as ZooKeeper's clients do */
		for (size_t i = 0; i < n && !dup; i++)
			dup = v[i].fn == w->fn && v[i].arg == w->arg;
		if (!dup)
			v[n++] = (struct tc_fire){w->fn, w->arg};
		if (all || (w->kind != TC_W_PERSIST && w->kind != TC_W_RECURSIVE)) {
			*pp = w->next;
			free(w->path);
			free(w);
		} else {
			pp = &w->next;
		}
	}
	c->loop->depth++;
	for (size_t i = 0; i < n; i++)
		if (v[i].fn)
			v[i].fn(c, ev, v[i].arg);
	c->loop->depth--;
	free(v);
}

bool tc_watch_remove(struct ternc *c, const char *path, int type)
{
	bool any = false;
	for (struct tc_watch **pp = &c->watches; *pp;) {
		struct tc_watch *w = *pp;
		bool kind_ok = false;
		switch (type) {
		case ZK_WATCHER_CHILDREN:
			kind_ok = w->kind == TC_W_CHILD;
			break;
		case ZK_WATCHER_DATA:
			kind_ok = w->kind == TC_W_DATA || w->kind == TC_W_EXIST;
			break;
		case ZK_WATCHER_PERSISTENT:
			kind_ok = w->kind == TC_W_PERSIST;
			break;
		case ZK_WATCHER_PERSISTENT_RECURSIVE:
			kind_ok = w->kind == TC_W_RECURSIVE;
			break;
		default:
			kind_ok = true;
			break;
		}
		if (kind_ok && strcmp(w->path, path) == 0) {
			*pp = w->next;
			free(w->path);
			free(w);
			any = true;
		} else {
			pp = &w->next;
		}
	}
	return any;
}

static void watch_free_all(struct ternc *c)
{
	while (c->watches) {
		struct tc_watch *w = c->watches;
		c->watches = w->next;
		free(w->path);
		free(w);
	}
}

/* ---- pending calls ---- */

static void pending_complete(struct ternc *c, struct tc_pending *p, const struct ternc_result *r)
{
	if (p->cb) {
		c->loop->depth++;
		p->cb(c, r, p->arg);
		c->loop->depth--;
	}
	free(p->wpath);
	free(p->dg);
	free(p->early);
	free(p);
}

/* Fail every pending call and auth waiter with @err. The lists are detached
 * first: callbacks may queue new calls. */
static void pending_fail_all(struct ternc *c, int err)
{
	struct tc_pending *p = c->ph;
	struct tc_auth_wait *a = c->awh;
	c->ph = c->pt = NULL;
	c->awh = c->awt = NULL;
	c->unsent = NULL;
	c->inflight = 0;
	while (p) {
		struct tc_pending *next = p->next;
		struct ternc_result r = {.err = err, .op = p->op, .data_len = -1};
		pending_complete(c, p, &r);
		p = next;
	}
	while (a) {
		struct tc_auth_wait *next = a->next;
		struct ternc_result r = {.err = err, .op = ZK_OP_AUTH, .data_len = -1};
		if (a->cb) {
			c->loop->depth++;
			a->cb(c, &r, a->arg);
			c->loop->depth--;
		}
		free(a);
		a = next;
	}
	/* addauth calls not sent yet: told too (only those there now; a callback may add more) */
	size_t n = 0;
	for (struct tc_auth *au = c->auths; au; au = au->next)
		n++;
	struct tc_auth *au = c->auths;
	for (size_t i = 0; i < n && au; i++, au = au->next) {
		if (!au->cb_pending)
			continue;
		au->cb_pending = false;
		if (au->cb) {
			struct ternc_result r = {.err = err, .op = ZK_OP_AUTH, .data_len = -1};
			c->loop->depth++;
			au->cb(c, &r, au->arg);
			c->loop->depth--;
		}
	}
}

static int pending_push(struct ternc *c, const struct tc_call *call, int32_t xid)
{
	struct tc_pending *p = calloc(1, sizeof(*p));
	if (!p)
		return ZK_ESYSTEM;
	*p = (struct tc_pending){.xid = xid, .op = call->req.type, .cb = call->cb, .arg = call->arg,
				 .wfn = call->wfn, .warg = call->warg, .wkind = call->wkind};
	if (call->wfn && call->wpath && !(p->wpath = strdup(call->wpath))) {
		free(p);
		return ZK_ESYSTEM;
	}
	if (c->pt)
		c->pt->next = p;
	else
		c->ph = p;
	c->pt = p;
	if (c->udp && !c->unsent)
		c->unsent = p;
	return ZK_OK;
}

/* ---- submitting ---- */

static bool state_dead(const struct ternc *c)
{
	return c->closing || c->dead || c->state == TERNC_EXPIRED || c->state == TERNC_CLOSED ||
	       c->state == TERNC_AUTH_FAILED;
}

static int dead_err(const struct ternc *c)
{
	return c->state == TERNC_AUTH_FAILED ? ZK_EAUTHFAILED : ZK_ESESSIONEXPIRED;
}

int tc_submit(struct ternc *c, const struct tc_call *call)
{
	TN_ASSERT(c && call);
	if (state_dead(c))
		return dead_err(c);
	if (buf_live(&c->out) + buf_live(&c->q) > TERNC_OUTBUF_MAX)
		return ZK_ESYSTEM;
	TN_ASSERT(call->req.type != ZK_OP_NOTIFICATION && c->next_xid > 0);
	struct zkp_request req = call->req;
	req.xid = c->next_xid;
	struct tc_buf *b = c->conn == TC_UP ? &c->out : &c->q;
	size_t mark = b->len;
	int rc = buf_put_request(b, &req);
	if (rc != ZK_OK)
		return rc;
	rc = pending_push(c, call, req.xid);
	if (rc != ZK_OK) {
		b->len = mark; /* UNTESTED: out of memory */
		return rc;
	}
	c->next_xid = c->next_xid == INT32_MAX ? 1 : c->next_xid + 1;
	if (b == &c->out)
		c->last_send_ms = now_ms();
	return ZK_OK;
}

/* Encode addauth @a into @out and queue the wait for its reply (xid -4
 * replies come back in send order): the caller's callback on the first
 * send, a silent entry on every re-send after a reconnect. */
static int auth_send(struct ternc *c, struct tc_auth *a)
{
	TN_ASSERT(c->conn == TC_UP);
	struct tc_auth_wait *wt = calloc(1, sizeof(*wt));
	if (!wt)
		return ZK_ESYSTEM;
	struct zkp_request req = {.xid = ZKP_XID_AUTH, .type = ZK_OP_AUTH};
	req.auth.type = 0;
	req.auth.scheme = a->scheme;
	req.auth.auth = a->cred;
	req.auth.auth_len = a->len;
	int rc = buf_put_request(&c->out, &req);
	if (rc != ZK_OK) {
		free(wt);
		return rc;
	}
	*wt = (struct tc_auth_wait){NULL, a->cb_pending ? a->cb : NULL, a->arg};
	a->cb_pending = false;
	if (c->awt)
		c->awt->next = wt;
	else
		c->awh = wt;
	c->awt = wt;
	return ZK_OK;
}

int ternc_add_auth(struct ternc *c, const char *scheme, const void *cred, int32_t len, ternc_cb cb,
		   void *arg)
{
	if (!c || !scheme || !*scheme || len < 0 || (len > 0 && !cred))
		return ZK_EBADARGUMENTS;
	if (state_dead(c))
		return dead_err(c);
	struct tc_auth *a = calloc(1, sizeof(*a));
	if (!a || !(a->scheme = strdup(scheme)) || !(a->cred = malloc((size_t)len + 1)))
		goto fail_free;
	if (len > 0)
		memcpy(a->cred, cred, (size_t)len);
	a->len = len;
	a->cb = cb;
	a->arg = arg;
	a->cb_pending = true;
	if (c->conn == TC_UP && auth_send(c, a) != ZK_OK)
		goto fail_free;
	struct tc_auth **pp = &c->auths; /* kept in call order, re-sent on reconnect */
	while (*pp)
		pp = &(*pp)->next;
	*pp = a;
	return ZK_OK;
fail_free:
	if (a) {
		free(a->scheme);
		free(a->cred);
	}
	free(a);
	return ZK_ESYSTEM;
}

/* ---- handshake completion: auth, setWatches2, queued calls ---- */

static int setwatches_flush(struct ternc *c, const char **lists[ZKP_WL_COUNT],
			    int32_t counts[ZKP_WL_COUNT])
{
	struct zkp_request req = {.xid = ZKP_XID_SETWATCHES, .type = ZK_OP_SETWATCHES2};
	req.watches.relative_zxid = c->last_zxid;
	for (int k = 0; k < ZKP_WL_COUNT; k++) {
		req.watches.lists[k].count = counts[k];
		req.watches.lists[k].v = lists[k];
		counts[k] = 0;
	}
	return buf_put_request(&c->out, &req);
}

/* One or more setWatches2 frames, each below TERNC_SETWATCHES_CHUNK path bytes. */
static int setwatches_send(struct ternc *c)
{
	size_t n = 0, total = 0;
	for (struct tc_watch *w = c->watches; w; w = w->next) {
		n++;
		total += c->chroot_len + strlen(w->path) + 1;
	}
	if (n == 0)
		return ZK_OK;
	const char **all = calloc(n * ZKP_WL_COUNT, sizeof(*all));
	char *paths = malloc(total + 1);
	int rc = ZK_ESYSTEM;
	if (!all || !paths)
		goto out;
	const char **lists[ZKP_WL_COUNT];
	int32_t counts[ZKP_WL_COUNT] = {0};
	for (int k = 0; k < ZKP_WL_COUNT; k++)
		lists[k] = all + (size_t)k * n;
	size_t used = 0, chunk = 0;
	for (struct tc_watch *w = c->watches; w; w = w->next) {
		char *p = paths + used;
		memcpy(p, c->chroot, c->chroot_len);
		if (c->chroot_len > 0 && strcmp(w->path, "/") == 0)
			p[c->chroot_len] = '\0';
		else
			memcpy(p + c->chroot_len, w->path, strlen(w->path) + 1);
		size_t plen = strlen(p);
		used += plen + 1;
		lists[w->kind][counts[w->kind]++] = p;
		chunk += plen + 4;
		if (chunk >= TERNC_SETWATCHES_CHUNK) { /* counts restart; lists reuse their slots */
			if ((rc = setwatches_flush(c, lists, counts)) != ZK_OK)
				goto out;
			chunk = 0;
		}
	}
	rc = chunk > 0 ? setwatches_flush(c, lists, counts) : ZK_OK;
out:
	free(all);
	free(paths);
	return rc;
}

static void handshake_done(struct ternc *c, const struct zkp_connect_rsp *rsp)
{
	TN_ASSERT(c->conn == TC_HANDSHAKE && rsp->timeout_ms > 0);
	bool resumed = c->session_id != 0;
	c->session_id = rsp->session_id;
	c->timeout_ms = rsp->timeout_ms;
	memcpy(c->passwd, rsp->passwd, ZKP_PASSWD_LEN);
	c->conn = TC_UP;
	c->round_tries = 0;
	int rc = ZK_OK;
	for (struct tc_auth *a = c->auths; a && rc == ZK_OK; a = a->next)
		rc = auth_send(c, a);
	if (rc == ZK_OK && resumed)
		rc = setwatches_send(c);
	if (rc == ZK_OK && buf_live(&c->q) > 0) {
		if (buf_reserve(&c->out, buf_live(&c->q)) < 0) {
			rc = ZK_ESYSTEM;
		} else {
			memcpy(c->out.p + c->out.len, c->q.p + c->q.off, buf_live(&c->q));
			c->out.len += buf_live(&c->q);
			buf_clear(&c->q);
		}
	}
	if (rc != ZK_OK) {
		conn_drop(c, ZK_ECONNECTIONLOSS);
		return;
	}
	c->last_send_ms = now_ms();
	ep_update(c);
	set_state(c, TERNC_CONNECTED);
}

/* ---- reading replies ---- */

static uint8_t *arena_get(struct ternc *c, size_t need)
{
	if (c->arena_cap < need) {
		uint8_t *p = realloc(c->arena, need);
		if (!p)
			return NULL;
		c->arena = p;
		c->arena_cap = need;
	}
	return c->arena;
}

static int on_connect_rsp(struct ternc *c, const uint8_t *p, uint32_t len)
{
	struct zkp_connect_rsp rsp = {0};
	if (zkp_decode_connect_rsp(p, len, &rsp) < 0)
		return ZK_EMARSHALLING;
	if (rsp.timeout_ms <= 0) {
		session_end(c, TERNC_EXPIRED, ZK_ESESSIONEXPIRED);
		return 1;
	}
	handshake_done(c, &rsp);
	return 0;
}

static void on_event(struct ternc *c, const struct zkp_response *rsp)
{
	struct ternc_event ev = {rsp->event.type, TERNC_CONNECTED, path_in(c, rsp->event.path),
				 rsp->hdr.zxid};
	watch_dispatch(c, &ev);
}

static int on_auth_reply(struct ternc *c, const struct zkp_reply_hdr *h)
{
	struct tc_auth_wait *a = c->awh;
	if (a) {
		c->awh = a->next;
		if (!c->awh)
			c->awt = NULL;
		struct ternc_result r = {.err = h->err, .op = ZK_OP_AUTH, .data_len = -1};
		if (a->cb) {
			c->loop->depth++;
			a->cb(c, &r, a->arg);
			c->loop->depth--;
		}
		free(a);
	}
	if (h->err == ZK_EAUTHFAILED) {
		session_end(c, TERNC_AUTH_FAILED, ZK_EAUTHFAILED);
		return 1;
	}
	return 0;
}

/* Register the watcher of a completed call, as ZooKeeper's clients do. */
static void register_watch(struct ternc *c, const struct tc_pending *p, int err)
{
	if (!p->wfn || !p->wpath)
		return;
	int kind = p->wkind;
	if (p->op == ZK_OP_EXISTS)
		kind = err == ZK_OK ? TC_W_DATA : TC_W_EXIST;
	if (err == ZK_OK || (p->op == ZK_OP_EXISTS && err == ZK_ENONODE))
		watch_add(c, p->wpath, kind, p->wfn, p->warg);
}

static int tc_result_from(struct ternc *c, const struct zkp_response *rsp, struct ternc_result *r,
			  struct ternc_multi_result **mv, const char ***who);

static int on_reply(struct ternc *c, const uint8_t *p, uint32_t len, int32_t xid)
{
	struct tc_pending *pd = c->ph;
	if (!pd || pd->xid != xid)
		return ZK_EMARSHALLING; /* out of order: ZooKeeper's clients drop too */
	uint8_t *a = arena_get(c, ZKP_ARENA_FOR_REPLY(len));
	if (!a)
		return ZK_ESYSTEM;
	struct tn_arena ar = tn_arena_init(a, ZKP_ARENA_FOR_REPLY(len));
	struct zkp_response rsp;
	if (zkp_decode_response(p, len, pd->op, &ar, &rsp) < 0)
		return ZK_EMARSHALLING;
	c->ph = pd->next;
	if (!c->ph)
		c->pt = NULL;
	TN_ASSERT(rsp.hdr.xid == pd->xid);
	if (rsp.hdr.zxid > c->last_zxid)
		c->last_zxid = rsp.hdr.zxid;
	struct ternc_result r;
	struct ternc_multi_result *mv = NULL;
	const char **who = NULL;
	int rc = tc_result_from(c, &rsp, &r, &mv, &who);
	if (rc != ZK_OK)
		r = (struct ternc_result){.err = rc, .op = pd->op, .data_len = -1};
	register_watch(c, pd, r.err);
	if (pd->op == ZK_OP_CLOSESESSION)
		c->close_done = true;
	pending_complete(c, pd, &r);
	free(mv);
	free(who);
	return 0;
}

/* One frame: 0 go on, 1 the session ended (stop), < 0 drop with that code. */
static int on_frame(struct ternc *c, const uint8_t *p, uint32_t len)
{
	if (c->conn == TC_HANDSHAKE)
		return on_connect_rsp(c, p, len);
	if (len < ZKP_REPLY_HDR_LEN)
		return ZK_EMARSHALLING;
	struct zkp_reply_hdr h = {(int32_t)tn_load_be32(p), (int64_t)tn_load_be64(p + 4),
				  (int32_t)tn_load_be32(p + 12)};
	switch (h.xid) {
	case ZKP_XID_WATCH: {
		uint8_t *a = arena_get(c, ZKP_ARENA_FOR_REPLY(len));
		if (!a)
			return ZK_ESYSTEM;
		struct tn_arena ar = tn_arena_init(a, ZKP_ARENA_FOR_REPLY(len));
		struct zkp_response rsp;
		if (zkp_decode_response(p, len, ZK_OP_GETDATA, &ar, &rsp) < 0)
			return ZK_EMARSHALLING;
		on_event(c, &rsp);
		return 0;
	}
	case ZKP_XID_PING:
	case ZKP_XID_SETWATCHES:
		return 0;
	case ZKP_XID_AUTH:
		return on_auth_reply(c, &h);
	default:
		return on_reply(c, p, len, h.xid);
	}
}

/* Parse every whole frame in @in. Return as on_frame. */
static int frames_run(struct ternc *c)
{
	/* each turn consumes at least a length prefix: this bounds the loop */
	size_t frames_max = buf_live(&c->in) / ZKP_LEN_PREFIX + 1;
	for (size_t i = 0; i < frames_max; i++) {
		uint32_t flen;
		size_t live = buf_live(&c->in);
		int rc = zkp_frame_len(c->in.p + c->in.off, live, TC_FRAME_MAX, &flen);
		if (rc < 0)
			return ZK_EMARSHALLING;
		if (rc == ZKP_FRAME_NEED_MORE)
			return 0;
		size_t at = c->in.off + ZKP_LEN_PREFIX;
		c->in.off += ZKP_LEN_PREFIX + flen;
		/* on_frame may queue calls but never touches @in: the frame stays put */
		rc = on_frame(c, c->in.p + at, flen);
		if (rc != 0 || c->dead || c->conn == TC_IDLE)
			return rc;
	}
	return 0;
}

static void udp_read(struct ternc *c);
static void udp_flush(struct ternc *c);
static void udp_send_connect(struct ternc *c);
static void udp_start(struct ternc *c, const struct tc_host *h);
static void udp_retransmit(struct ternc *c, int64_t now);
static int64_t udp_next_ms(const struct ternc *c);
static void udp_send(struct ternc *c, const uint8_t *p, size_t n);
static int32_t rto_next(int32_t rto_ms);

static void conn_read(struct ternc *c)
{
	if (c->udp) {
		udp_read(c);
		return;
	}
	for (int spins = 0; spins < 64; spins++) {
		if (buf_reserve(&c->in, TC_RECV_CHUNK) < 0) {
			conn_drop(c, ZK_ECONNECTIONLOSS);
			return;
		}
		ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_drop(c, ZK_ECONNECTIONLOSS);
			return;
		}
		c->in.len += (size_t)n;
		c->last_recv_ms = now_ms();
		int rc = frames_run(c);
		if (rc < 0)
			conn_drop(c, ZK_ECONNECTIONLOSS);
		if (rc != 0 || c->fd < 0 || c->dead)
			return;
	}
}

/* ---- writing ---- */

static void conn_flush(struct ternc *c)
{
	if (c->udp) {
		if (attached(c) && c->conn == TC_UP)
			udp_flush(c);
		return;
	}
	while (c->fd >= 0 && c->conn != TC_CONNECTING && buf_live(&c->out) > 0) {
		ssize_t n = send(c->fd, c->out.p + c->out.off, buf_live(&c->out), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_drop(c, ZK_ECONNECTIONLOSS);
			return;
		}
		c->out.off += (size_t)n;
		TN_ASSERT(c->out.off <= c->out.len);
	}
	if (buf_live(&c->out) == 0)
		buf_clear(&c->out);
	ep_update(c);
}

/* ---- connecting ---- */

static int64_t attempt_budget_ms(const struct ternc *c)
{
	int64_t t = c->timeout_ms_req / (c->nhosts > 0 ? c->nhosts : 1);
	return t < TC_CONNECT_MS_MIN ? TC_CONNECT_MS_MIN : t;
}

static void send_connect_req(struct ternc *c)
{
	struct zkp_connect_req req = {0};
	req.last_zxid_seen = c->last_zxid;
	req.timeout_ms = c->timeout_ms_req;
	req.session_id = c->session_id;
	req.passwd_len = ZKP_PASSWD_LEN;
	memcpy(req.passwd, c->passwd, ZKP_PASSWD_LEN);
	req.has_read_only = true;
	buf_clear(&c->out);
	if (buf_reserve(&c->out, 64) < 0) {
		conn_drop(c, ZK_ECONNECTIONLOSS);
		return;
	}
	struct tn_wr w = tn_wr_init(c->out.p, c->out.cap);
	size_t start = zkp_frame_begin(&w);
	TN_ASSERT(zkp_encode_connect_req(&w, &req) == 0 && zkp_frame_end(&w, start) == 0);
	c->out.len = w.len;
	c->conn = TC_HANDSHAKE;
	c->last_send_ms = c->last_recv_ms = now_ms();
	if (c->udp)
		udp_send_connect(c);
	else
		conn_flush(c);
}

static void on_connected_socket(struct ternc *c)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
		conn_drop(c, ZK_ECONNECTIONLOSS);
		return;
	}
	send_connect_req(c);
}

/* Open a socket to the next host; on immediate failure, move on. */
static void conn_start(struct ternc *c)
{
	TN_ASSERT(!attached(c) && c->nhosts > 0);
	c->host_idx = (c->host_idx + 1) % c->nhosts;
	c->round_tries++;
	const struct tc_host *h = &c->hosts[c->host_idx];
	if (c->udp) {
		udp_start(c, h);
		return;
	}
	int fd = socket(h->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		c->conn = TC_IDLE;
		c->deadline_ms = now_ms() + TERNC_BACKOFF_MS;
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->conn = TC_CONNECTING;
	c->deadline_ms = now_ms() + attempt_budget_ms(c);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	c->want_out = true;
	if (epoll_ctl(c->loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		conn_drop(c, ZK_ECONNECTIONLOSS);
		return;
	}
	int rc = connect(fd, (const struct sockaddr *)&h->sa, h->sa_len);
	if (rc < 0 && errno != EINPROGRESS) {
		conn_drop(c, ZK_ECONNECTIONLOSS);
		return;
	}
	if (rc == 0)
		send_connect_req(c);
}

static void conn_close_fd(struct ternc *c)
{
	if (c->fd >= 0) {
		epoll_ctl(c->loop->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->nic_on = false;
	c->want_out = false;
	buf_clear(&c->out);
	buf_clear(&c->in);
	free(c->hs);
	c->hs = NULL;
}

/* The connection failed or was lost: fail what was in flight, then try the
 * next host now, or after a backoff once every host failed this round. */
static void conn_drop(struct ternc *c, int err)
{
	bool was_up = c->conn == TC_UP;
	conn_close_fd(c);
	c->conn = TC_IDLE;
	if (c->closing) {
		buf_clear(&c->q);
		c->close_done = true;
		return;
	}
	bool round_over = c->round_tries >= c->nhosts;
	if (round_over) {
		c->round_tries = 0;
		c->deadline_ms = now_ms() + TERNC_BACKOFF_MS;
	} else {
		c->deadline_ms = now_ms(); /* next host at once */
	}
	if (was_up)
		set_state(c, TERNC_DISCONNECTED);
	/* Sent calls are lost with the connection; calls still queued wait for
	 * the other hosts of this round, then fail too (bounded wait). */
	if (was_up || round_over) {
		buf_clear(&c->q);
		pending_fail_all(c, err);
	}
}

void ternc_disconnect(struct ternc *c)
{
	if (c && attached(c) && !c->dead)
		conn_drop(c, ZK_ECONNECTIONLOSS);
}

/* ---- session end ---- */

/* Terminal: the session is gone (@state EXPIRED, AUTH_FAILED or CLOSED). */
static void session_end(struct ternc *c, int state, int err)
{
	conn_close_fd(c);
	c->conn = TC_IDLE;
	buf_clear(&c->q);
	c->deadline_ms = INT64_MAX;
	int old = c->state;
	c->state = state; /* first: callbacks below see a dead session */
	pending_fail_all(c, err);
	struct ternc_event ev = {ZK_EVENT_NONE, state, "/", -1};
	if (c->watches)
		watch_dispatch(c, &ev);
	watch_free_all(c);
	if (old != state && c->state_fn) {
		c->loop->depth++;
		c->state_fn(c, state, c->state_arg);
		c->loop->depth--;
	}
}

/* ---- timers ---- */

static void session_timers(struct ternc *c, int64_t now)
{
	if (c->dead)
		return;
	if (c->closing) {
		if (!c->close_done && now >= c->deadline_ms)
			c->close_done = true;
		if (c->udp && c->conn == TC_UP)
			udp_retransmit(c, now); /* the closeSession too */
		return;
	}
	if (state_dead(c))
		return;
	switch (c->conn) {
	case TC_IDLE:
		if (now >= c->deadline_ms)
			conn_start(c);
		break;
	case TC_CONNECTING:
	case TC_HANDSHAKE:
		if (now >= c->deadline_ms) {
			conn_drop(c, ZK_ECONNECTIONLOSS);
		} else if (c->hs && now >= c->hs_rto_at_ms) {
			udp_send(c, c->hs, c->hs_len);
			c->hs_rto_ms = rto_next(c->hs_rto_ms);
			c->hs_rto_at_ms = now + c->hs_rto_ms;
		}
		break;
	case TC_UP:
		if (c->udp)
			udp_retransmit(c, now);
		if (now - c->last_recv_ms >= (int64_t)c->timeout_ms * 2 / 3) {
			conn_drop(c, ZK_ECONNECTIONLOSS);
		} else if (now - c->last_send_ms >= c->timeout_ms / (c->udp ? 6 : 3)) {
			/* over UDP pings may be lost: three chances before the read timeout */
			struct zkp_request req = {.xid = ZKP_XID_PING, .type = ZK_OP_PING};
			if (buf_put_request(&c->out, &req) == ZK_OK)
				c->last_send_ms = now;
		}
		break;
	}
}

static int64_t session_next_ms(const struct ternc *c)
{
	if (c->dead)
		return INT64_MAX;
	if (c->closing) {
		int64_t t = c->close_done ? 0 : c->deadline_ms;
		int64_t rto = c->udp && c->conn == TC_UP ? udp_next_ms(c) : INT64_MAX;
		return rto < t ? rto : t;
	}
	if (state_dead(c))
		return INT64_MAX;
	if (c->conn != TC_UP)
		return c->hs && c->hs_rto_at_ms < c->deadline_ms ? c->hs_rto_at_ms : c->deadline_ms;
	int64_t ping = c->last_send_ms + c->timeout_ms / (c->udp ? 6 : 3);
	int64_t dead = c->last_recv_ms + (int64_t)c->timeout_ms * 2 / 3;
	int64_t t = ping < dead ? ping : dead;
	int64_t rto = c->udp ? udp_next_ms(c) : INT64_MAX;
	return rto < t ? rto : t;
}

/* ---- UDP transport (see the file note) ---- */

static void udp_send(struct ternc *c, const uint8_t *p, size_t n)
{
	/* a refused or full send is just a lost datagram: the timer resends */
	if (c->nic_on) {
		(void)dp_port_send(c->loop->nic, DP_PORT_CLIENT_UDP_PORT, &c->nic_to, p, n,
				   (uint64_t)now_ms());
		c->loop->nic_queued = true;
	} else if (c->fd >= 0) {
		(void)send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

/* Build one datagram of @kind for @body in a malloc'd buffer. */
static uint8_t *udp_dgram(const struct ternc *c, uint8_t kind, int32_t xid, const uint8_t *body,
			  uint32_t len)
{
	uint8_t *d = malloc(DP_UDP_HDR_LEN + (size_t)len);
	struct dp_udp_hdr h = {.kind = kind, .session = (uint64_t)c->session_id, .xid = xid,
			       .cookie = c->nonce};
	if (!d)
		return NULL;
	dp_udp_hdr_encode(d, &h);
	if (len)
		memcpy(d + DP_UDP_HDR_LEN, body, len);
	return d;
}

static uint32_t udp_nonce(void)
{
	uint32_t n = 0;
	if (getrandom(&n, sizeof(n), GRND_NONBLOCK) != (ssize_t)sizeof(n))
		n = (uint32_t)now_ms() ^ (uint32_t)getpid() << 16;
	return n ? n : 1;
}

/* The handshake frame sits in @out: send it as a CONNECT datagram, kept for resends. */
static void udp_send_connect(struct ternc *c)
{
	TN_ASSERT(c->conn == TC_HANDSHAKE && buf_live(&c->out) >= ZKP_LEN_PREFIX);
	uint32_t flen = tn_load_be32(c->out.p + c->out.off);
	free(c->hs);
	/* the first xid this attachment will send: calls queued while
	 * disconnected already hold theirs */
	int32_t first = c->ph ? c->ph->xid : c->next_xid;
	c->hs = udp_dgram(c, DP_UDP_CONNECT, first, c->out.p + c->out.off + ZKP_LEN_PREFIX, flen);
	buf_clear(&c->out);
	if (!c->hs) {
		conn_drop(c, ZK_ECONNECTIONLOSS);
		return;
	}
	c->hs_len = DP_UDP_HDR_LEN + flen;
	c->hs_rto_ms = TERNC_UDP_RTO_MS_INIT; /* a new session waits for an fsync */
	c->hs_rto_at_ms = now_ms() + c->hs_rto_ms;
	udp_send(c, c->hs, c->hs_len);
}

/* The first timeout of a request: 2 x SRTT + 10 ms, clamped. */
static int32_t rto_first(const struct ternc *c)
{
	if (c->srtt_ms <= 0)
		return TERNC_UDP_RTO_MS_INIT;
	int32_t t = 2 * c->srtt_ms + 10;
	return t < TERNC_UDP_RTO_MS_MIN ? TERNC_UDP_RTO_MS_MIN
					: t > TERNC_UDP_RTO_MS_MAX ? TERNC_UDP_RTO_MS_MAX : t;
}

static int32_t rto_next(int32_t rto_ms)
{
	return rto_ms >= TERNC_UDP_RTO_MS_MAX / 2 ? TERNC_UDP_RTO_MS_MAX : rto_ms * 2;
}

/* Cut @out into REQUEST datagrams while the window has room. */
static void udp_flush(struct ternc *c)
{
	int64_t now = now_ms();
	size_t frames_max = buf_live(&c->out) / ZKP_LEN_PREFIX + 1;

	for (size_t i = 0; i < frames_max && buf_live(&c->out) >= ZKP_LEN_PREFIX; i++) {
		const uint8_t *f = c->out.p + c->out.off;
		uint32_t flen = tn_load_be32(f);
		TN_ASSERT(ZKP_LEN_PREFIX + (size_t)flen <= buf_live(&c->out)); /* framed here */
		int32_t xid = flen >= 4 ? (int32_t)tn_load_be32(f + ZKP_LEN_PREFIX) : 0;
		if (xid >= 0 && c->inflight >= TERNC_UDP_WINDOW)
			break;
		c->out.off += ZKP_LEN_PREFIX + flen;
		struct tc_pending *pd = NULL;
		if (xid >= 0) {
			pd = c->unsent;
			TN_ASSERT(pd && pd->xid == xid); /* frames and entries share their order */
			c->unsent = pd->next;
		}
		if (flen > DP_UDP_BODY_MAX) {
			if (pd)
				pd->early_kind = DP_UDP_TOOBIG; /* completes at the head */
			continue;                        /* auth/setWatches that big: dropped */
		}
		uint8_t *d = udp_dgram(c, DP_UDP_REQUEST, xid, f + ZKP_LEN_PREFIX, flen);
		if (!d) {
			if (pd)
				pd->early_kind = DP_UDP_EVICTED; /* fails with ConnectionLoss */
			continue;
		}
		udp_send(c, d, DP_UDP_HDR_LEN + (size_t)flen);
		if (!pd) {
			free(d);
			continue;
		}
		pd->dg = d;
		pd->dg_len = DP_UDP_HDR_LEN + flen;
		pd->rto_ms = rto_first(c);
		pd->rto_at_ms = now + pd->rto_ms;
		pd->sent_ms = now;
		c->inflight++;
	}
	if (buf_live(&c->out) == 0)
		buf_clear(&c->out);
}

/* Resend every request whose timer fired (with backoff). */
static void udp_retransmit(struct ternc *c, int64_t now)
{
	size_t n = 0;
	for (struct tc_pending *p = c->ph; p && p != c->unsent && n < 4 * TERNC_UDP_WINDOW;
	     p = p->next, n++) {
		if (!p->dg || p->early_kind || now < p->rto_at_ms)
			continue;
		udp_send(c, p->dg, p->dg_len);
		p->rto_ms = rto_next(p->rto_ms);
		p->rto_at_ms = now + p->rto_ms;
		p->resent = true;
	}
}

static int64_t udp_next_ms(const struct ternc *c)
{
	int64_t t = INT64_MAX;
	size_t n = 0;
	for (const struct tc_pending *p = c->ph; p && p != c->unsent && n < 4 * TERNC_UDP_WINDOW;
	     p = p->next, n++)
		if (p->dg && !p->early_kind && p->rto_at_ms < t)
			t = p->rto_at_ms;
	return t;
}

/* Progress: the server answers again, so the backoff of the requests behind
 * the head (dropped as gaps while an earlier one was missing, not lost
 * themselves) starts over. Without this, go-back-N under steady loss would
 * push every timer to TERNC_UDP_RTO_MS_MAX. */
static void udp_rto_reset(struct ternc *c, int64_t now)
{
	size_t n = 0;
	int32_t rto = rto_first(c);
	for (struct tc_pending *p = c->ph; p && p != c->unsent && n < 4 * TERNC_UDP_WINDOW;
	     p = p->next, n++) {
		p->rto_ms = rto;
		if (p->rto_at_ms > now + p->rto_ms)
			p->rto_at_ms = now + p->rto_ms;
	}
}

/* The head's answer: a REPLY body, or a bare EVICTED/TOOBIG. Return as on_frame. */
static int udp_complete_head(struct ternc *c, uint8_t kind, const uint8_t *body, uint32_t len)
{
	struct tc_pending *pd = c->ph;
	TN_ASSERT(pd);
	if (pd->next)
		udp_rto_reset(c, now_ms());
	if (pd->dg) {
		TN_ASSERT(c->inflight > 0);
		c->inflight--;
	}
	if (kind == DP_UDP_REPLY)
		return on_frame(c, body, len);
	c->ph = pd->next;
	if (!c->ph)
		c->pt = NULL;
	struct ternc_result r = {.err = kind == DP_UDP_TOOBIG ? ZK_EMARSHALLING : ZK_ECONNECTIONLOSS,
				 .op = pd->op, .data_len = -1};
	if (pd->op == ZK_OP_CLOSESESSION)
		c->close_done = true;
	pending_complete(c, pd, &r);
	return 0;
}

/* Complete heads whose answers came early, in request order. */
static int udp_drain_early(struct ternc *c)
{
	for (size_t n = 0; n <= 4 * TERNC_UDP_WINDOW && c->ph && c->ph->early_kind; n++) {
		struct tc_pending *pd = c->ph;
		uint8_t *b = pd->early;
		pd->early = NULL; /* the head is freed below; the bytes live until we are done */
		int rc = udp_complete_head(c, pd->early_kind, b, pd->early_len);
		free(b);
		if (rc != 0 || c->dead || c->conn != TC_UP)
			return rc;
	}
	return 0;
}

/* An answer to @p arrived: time it if it was sent once (Karn), when it
 * arrives, not when it completes (a parked answer waited for the head). */
static void udp_rtt_sample(struct ternc *c, const struct tc_pending *p)
{
	if (!p->dg || p->resent)
		return;
	int32_t rtt = (int32_t)(now_ms() - p->sent_ms);
	c->srtt_ms = c->srtt_ms <= 0 ? rtt : (7 * c->srtt_ms + rtt) / 8;
	if (c->srtt_ms <= 0)
		c->srtt_ms = 1;
}

/* An answer to request @xid: complete it if it is the head, else park it. */
static int udp_answer(struct ternc *c, int32_t xid, uint8_t kind, const uint8_t *body, uint32_t len)
{
	struct tc_pending *pd = c->ph;
	if (!pd)
		return 0;
	if (pd->xid == xid) {
		if (!pd->dg || pd->early_kind)
			return 0;
		udp_rtt_sample(c, pd);
		int rc = udp_complete_head(c, kind, body, len);
		return rc != 0 || c->dead || c->conn != TC_UP ? rc : udp_drain_early(c);
	}
	size_t n = 0;
	for (struct tc_pending *p = pd->next; p && p != c->unsent && n < 4 * TERNC_UDP_WINDOW;
	     p = p->next, n++) {
		if (p->xid != xid)
			continue;
		if (p->dg && !p->early_kind) {
			udp_rtt_sample(c, p);
			if (len && !(p->early = malloc(len)))
				return 0; /* the retransmission brings it again */
			if (len)
				memcpy(p->early, body, len);
			p->early_len = len;
			p->early_kind = kind;
		}
		return 0;
	}
	return 0; /* a duplicate of an answer already taken */
}

/* One datagram from the server. Return as on_frame. */
static int udp_on_dgram(struct ternc *c, const struct dp_udp_hdr *h, const uint8_t *body,
			uint32_t len)
{
	switch (h->kind) {
	case DP_UDP_CONNECTED:
		if (c->conn != TC_HANDSHAKE)
			return 0;
		free(c->hs);
		c->hs = NULL;
		return on_connect_rsp(c, body, len);
	case DP_UDP_UNKNOWN:
		/* the server lost this attachment: resume the session, as after a TCP loss */
		return c->conn == TC_UP && h->session == (uint64_t)c->session_id ? ZK_ECONNECTIONLOSS
										     : 0;
	case DP_UDP_REPLY:
	case DP_UDP_EVENT:
		if (c->conn != TC_UP || len < ZKP_REPLY_HDR_LEN)
			return 0;
		if ((int32_t)tn_load_be32(body) < 0)
			return on_frame(c, body, len);
		return udp_answer(c, (int32_t)tn_load_be32(body), DP_UDP_REPLY, body, len);
	case DP_UDP_EVICTED:
	case DP_UDP_TOOBIG:
		return c->conn == TC_UP && h->xid >= 0 ? udp_answer(c, h->xid, h->kind, NULL, 0) : 0;
	default:
		return 0;
	}
}

/* One datagram of this attachment. Return whether the session still reads. */
static bool udp_input(struct ternc *c, const struct dp_udp_hdr *h, const uint8_t *body,
		      uint32_t len)
{
	c->last_recv_ms = now_ms();
	int rc = udp_on_dgram(c, h, body, len);
	if (rc < 0)
		conn_drop(c, ZK_ECONNECTIONLOSS);
	return rc == 0 && attached(c) && !c->dead;
}

static void udp_read(struct ternc *c)
{
	for (int spins = 0; spins < 64; spins++) {
		if (buf_reserve(&c->in, DP_UDP_DGRAM_MAX + 1) < 0) {
			conn_drop(c, ZK_ECONNECTIONLOSS);
			return;
		}
		ssize_t n = recv(c->fd, c->in.p, c->in.cap, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) { /* ECONNREFUSED: nothing listens there */
			conn_drop(c, ZK_ECONNECTIONLOSS);
			return;
		}
		struct dp_udp_hdr h;
		if (dp_udp_hdr_decode(c->in.p, (size_t)n, &h) < 0 || h.cookie != c->nonce)
			continue; /* not ours, or from an earlier attachment */
		/* callbacks never touch @in, so the body stays put while they run */
		if (!udp_input(c, &h, c->in.p + DP_UDP_HDR_LEN, (uint32_t)n - DP_UDP_HDR_LEN))
			return;
	}
}

/* Attach through the loop's DPDK port (IPv4 only) and send the CONNECT. */
static void nic_start(struct ternc *c, const struct tc_host *h)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)&h->sa;

	c->nonce = udp_nonce();
	c->unsent = c->ph;
	c->inflight = 0;
	c->deadline_ms = now_ms() + attempt_budget_ms(c);
	if (h->sa.ss_family != AF_INET) {
		conn_drop(c, ZK_ECONNECTIONLOSS);
		return;
	}
	c->nic_to = (struct dp_port_addr){.ip = ntohl(in->sin_addr.s_addr),
					  .port = ntohs(in->sin_port)};
	c->nic_on = true;
	send_connect_req(c);
}

/* Open a connected UDP socket to @h and send the CONNECT. */
static void udp_start(struct ternc *c, const struct tc_host *h)
{
	if (c->loop->nic) {
		nic_start(c, h);
		return;
	}
	int fd = socket(h->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		c->conn = TC_IDLE;
		c->deadline_ms = now_ms() + TERNC_BACKOFF_MS;
		return;
	}
	c->fd = fd;
	c->nonce = udp_nonce();
	c->unsent = c->ph; /* nothing of this attachment was sent yet */
	c->inflight = 0;
	c->deadline_ms = now_ms() + attempt_budget_ms(c);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(c->loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ||
	    connect(fd, (const struct sockaddr *)&h->sa, h->sa_len) < 0) {
		conn_drop(c, ZK_ECONNECTIONLOSS);
		return;
	}
	send_connect_req(c);
}

/* ---- loop ---- */

int ternc_loop_new(struct ternc_loop **out)
{
	TN_ASSERT(out);
	struct ternc_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int rc = -errno;
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static void session_free(struct ternc *c)
{
	struct ternc_loop *l = c->loop;
	TN_ASSERT(c->dead && l->depth == 0);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->sessions = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_close_fd(c);
	buf_free(&c->out);
	buf_free(&c->q);
	buf_free(&c->in);
	watch_free_all(c);
	while (c->auths) {
		struct tc_auth *a = c->auths;
		c->auths = a->next;
		free(a->scheme);
		free(a->cred);
		free(a);
	}
	TN_ASSERT(!c->ph && !c->awh);
	free(c->hosts);
	free(c->arena);
	free(c);
}

/* Finish a closing session: everything left completes, then mark it for freeing. */
static void session_finish(struct ternc *c)
{
	if (c->dead)
		return;
	session_end(c, TERNC_CLOSED, ZK_ESESSIONEXPIRED);
	c->dead = true;
}

void ternc_loop_free(struct ternc_loop *loop)
{
	if (!loop)
		return;
	for (int guard = 0; loop->sessions && guard < 1 << 20; guard++) {
		struct ternc *c = loop->sessions;
		c->closing = true;
		session_finish(c);
		session_free(c);
	}
	close(loop->epfd);
	dp_port_close(loop->nic);
	free(loop);
}

int ternc_loop_dpdk(struct ternc_loop *loop, const struct ternc_dpdk_cfg *cfg, const char **bad)
{
	TN_ASSERT(loop && cfg);
	if (loop->nic || loop->sessions)
		return -EBUSY;
	const struct dp_port_client_cfg cc = {.eal = cfg->eal, .dev = cfg->port, .ip = cfg->ip,
					      .netmask = cfg->netmask, .gateway = cfg->gateway};
	return dp_port_open_client(&loop->nic, &cc, bad);
}

/* Send what sessions queued on the DPDK port. */
static void nic_flush(struct ternc_loop *loop)
{
	if (loop->nic_queued) {
		dp_port_flush(loop->nic, (uint64_t)now_ms());
		loop->nic_queued = false;
	}
}

/* A burst from the DPDK port, each datagram to the session whose connect
 * nonce it echoes (all sessions share one local port). Return the count. */
static int nic_poll(struct ternc_loop *loop)
{
	struct dp_port_dgram d[DP_PORT_BURST_MAX];
	unsigned n = dp_port_recv(loop->nic, d, DP_PORT_BURST_MAX, (uint64_t)now_ms());

	for (unsigned i = 0; i < n; i++) {
		struct dp_udp_hdr h;
		if (d[i].dst_port != DP_PORT_CLIENT_UDP_PORT ||
		    dp_udp_hdr_decode(d[i].data, d[i].len, &h) < 0)
			continue;
		for (struct ternc *c = loop->sessions; c; c = c->next) {
			if (c->nic_on && !c->dead && c->nonce == h.cookie) {
				(void)udp_input(c, &h, d[i].data + DP_UDP_HDR_LEN,
						(uint32_t)(d[i].len - DP_UDP_HDR_LEN));
				break;
			}
		}
	}
	return (int)n;
}

static void reap(struct ternc_loop *l)
{
	struct ternc *c = l->sessions;
	while (c) {
		struct ternc *next = c->next;
		if (c->held) {
			c = next;
			continue;
		}
		if (c->closing && c->close_done && !c->dead)
			session_finish(c);
		if (c->dead && l->depth == 0)
			session_free(c);
		c = next;
	}
}

static void on_ready(struct ternc *c, uint32_t events)
{
	if (c->dead || c->fd < 0)
		return;
	if (c->conn == TC_CONNECTING) {
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_connected_socket(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(c);
	if (c->fd >= 0 && (events & EPOLLOUT))
		conn_flush(c);
}

int ternc_loop_run(struct ternc_loop *loop, int timeout_ms)
{
	TN_ASSERT(loop);
	if (loop->depth > 0)
		return -EDEADLK;
	int64_t now = now_ms(), next = INT64_MAX;
	for (struct ternc *c = loop->sessions; c; c = c->next) {
		conn_flush(c); /* everything queued since the last turn, in one send */
		int64_t t = session_next_ms(c);
		next = t < next ? t : next;
	}
	int wait = timeout_ms;
	if (next != INT64_MAX) {
		int64_t d = next - now < 0 ? 0 : next - now;
		if (wait < 0 || d < wait)
			wait = (int)(d > INT32_MAX ? INT32_MAX : d);
	}
	struct epoll_event ev[TC_EVENTS_MAX];
	int n;
	if (loop->nic) {
		/* the port has no fd: sleep no longer than adaptive polling says */
		uint64_t idle_us = TN_MIN(dp_port_idle_us(loop->nic), DP_PORT_IDLE_US_MAX);
		if (wait >= 0)
			idle_us = TN_MIN(idle_us, (uint64_t)wait * 1000u);
		struct timespec ts = {0, (long)idle_us * 1000};
		nic_flush(loop);
		n = epoll_pwait2(loop->epfd, ev, TC_EVENTS_MAX, &ts, NULL);
		if (n < 0 && errno == ENOSYS) /* before Linux 5.11: ms resolution */
			n = epoll_wait(loop->epfd, ev, TC_EVENTS_MAX, (int)((idle_us + 999) / 1000));
	} else {
		n = epoll_wait(loop->epfd, ev, TC_EVENTS_MAX, wait);
	}
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	loop->depth++; /* sessions freed only after the whole batch */
	for (int i = 0; i < n; i++)
		on_ready(ev[i].data.ptr, ev[i].events);
	if (loop->nic)
		n += nic_poll(loop);
	now = now_ms();
	for (struct ternc *c = loop->sessions; c; c = c->next) {
		session_timers(c, now);
		if (!c->dead)
			conn_flush(c);
	}
	if (loop->nic)
		nic_flush(loop);
	loop->depth--;
	reap(loop);
	return n;
}

int ternc_loop_poll(struct ternc_loop *loop)
{
	return ternc_loop_run(loop, 0);
}

int ternc_loop_run_until(struct ternc_loop *loop, const bool *done, int timeout_ms)
{
	TN_ASSERT(loop && done);
	int64_t end = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	while (!*done) {
		int64_t left = end == INT64_MAX ? -1 : end - now_ms();
		if (end != INT64_MAX && left <= 0)
			return -ETIMEDOUT;
		int rc = ternc_loop_run(loop, (int)(left > 1000 || left < 0 ? 1000 : left));
		if (rc < 0)
			return rc;
	}
	return 0;
}

int ternc_loop_fd(const struct ternc_loop *loop)
{
	return loop->epfd;
}

/* ---- sessions ---- */

static int parse_host(const char *s, size_t n, struct tc_host *h)
{
	char buf[280];
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	snprintf(h->name, sizeof(h->name), "%s", buf);
	char *host = buf, *port = NULL;
	if (buf[0] == '[') { /* [v6]:port */
		char *e = strchr(buf, ']');
		if (!e)
			return -EINVAL;
		*e = '\0';
		host = buf + 1;
		port = e[1] == ':' ? e + 2 : NULL;
	} else {
		char *colon = strrchr(buf, ':');
		if (colon) {
			*colon = '\0';
			port = colon + 1;
		}
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (getaddrinfo(host, port && *port ? port : "2181", &hints, &ai) != 0 || !ai)
		return -ENOENT;
	memcpy(&h->sa, ai->ai_addr, ai->ai_addrlen);
	h->sa_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* "h:p,h:p[/chroot]" into c->hosts (shuffled) and c->chroot. */
static int parse_hosts(struct ternc *c, const char *hosts)
{
	const char *slash = strchr(hosts, '/');
	size_t hl = slash ? (size_t)(slash - hosts) : strlen(hosts);
	if (slash) {
		size_t cl = strlen(slash);
		if (cl >= TERNC_PATH_MAX / 2 || (cl > 1 && slash[cl - 1] == '/'))
			return -EINVAL;
		if (cl > 1) { /* "/" alone is no chroot */
			memcpy(c->chroot, slash, cl + 1);
			c->chroot_len = cl;
		}
	}
	c->hosts = calloc(TERNC_HOSTS_MAX, sizeof(*c->hosts));
	if (!c->hosts)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < hl && c->nhosts < TERNC_HOSTS_MAX;) {
		size_t j = i;
		while (j < hl && hosts[j] != ',')
			j++;
		if (j > i) {
			rc = parse_host(hosts + i, j - i, &c->hosts[c->nhosts]);
			if (rc == -EINVAL)
				return rc;
			if (rc == 0)
				c->nhosts++;
		}
		i = j + 1;
	}
	if (c->nhosts == 0)
		return rc < 0 ? rc : -EINVAL;
	unsigned seed = (unsigned)now_ms() ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)c;
	for (int i = c->nhosts - 1; i > 0; i--) {
		int j = (int)(rand_r(&seed) % (unsigned)(i + 1));
		struct tc_host t = c->hosts[i];
		c->hosts[i] = c->hosts[j];
		c->hosts[j] = t;
	}
	return 0;
}

int ternc_open(struct ternc_loop *loop, const struct ternc_cfg *cfg, struct ternc **out)
{
	TN_ASSERT(loop && out);
	if (!cfg || !cfg->hosts || cfg->session_timeout_ms < 0)
		return -EINVAL;
	struct ternc *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->fd = -1;
	c->state = TERNC_CONNECTING;
	c->timeout_ms_req =
	    cfg->session_timeout_ms ? cfg->session_timeout_ms : TERNC_TIMEOUT_MS_DEFAULT;
	c->timeout_ms = c->timeout_ms_req;
	c->session_id = cfg->session_id;
	if (cfg->session_id && cfg->passwd)
		memcpy(c->passwd, cfg->passwd, ZKP_PASSWD_LEN);
	c->next_xid = 1;
	c->udp = cfg->transport == TERNC_UDP;
	c->state_fn = cfg->state_fn;
	c->state_arg = cfg->state_arg;
	int rc = parse_hosts(c, cfg->hosts);
	if (rc < 0) {
		free(c->hosts);
		free(c);
		return rc;
	}
	c->host_idx = -1;
	c->next = loop->sessions;
	if (loop->sessions)
		loop->sessions->prev = c;
	loop->sessions = c;
	conn_start(c);
	*out = c;
	return 0;
}

static void close_cb(struct ternc *c, const struct ternc_result *r, void *arg)
{
	(void)r;
	(void)arg;
	c->close_done = true;
}

void ternc_close(struct ternc *c)
{
	if (!c || c->closing || c->dead)
		return;
	struct ternc_loop *l = c->loop;
	if (c->conn == TC_UP && !state_dead(c)) {
		struct tc_call call = {.req = {.type = ZK_OP_CLOSESESSION}, .cb = close_cb};
		if (tc_submit(c, &call) != ZK_OK)
			c->close_done = true;
	} else {
		c->close_done = true;
	}
	c->closing = true;
	int64_t wait = c->timeout_ms < TC_CLOSE_WAIT_MS_MAX ? c->timeout_ms : TC_CLOSE_WAIT_MS_MAX;
	c->deadline_ms = now_ms() + wait;
	if (l->depth > 0)
		return; /* the loop finishes and frees it */
	c->held = true;
	for (int guard = 0; !c->close_done && guard < 100000; guard++)
		if (ternc_loop_run(l, 50) < 0 || now_ms() >= c->deadline_ms)
			break;
	l->depth++;
	session_finish(c);
	l->depth--;
	session_free(c);
}

bool tc_in_callback(const struct ternc *c)
{
	return c->loop->depth > 0;
}

int tc_wait_bound_ms(const struct ternc *c)
{
	return c->timeout_ms > 0 ? c->timeout_ms : c->timeout_ms_req;
}

int ternc_state(const struct ternc *c)
{
	return c->state;
}

int64_t ternc_session_id(const struct ternc *c)
{
	return c->session_id;
}

void ternc_session_passwd(const struct ternc *c, uint8_t out[16])
{
	memcpy(out, c->passwd, ZKP_PASSWD_LEN);
}

int32_t ternc_session_timeout(const struct ternc *c)
{
	return c->timeout_ms;
}

int64_t ternc_last_zxid(const struct ternc *c)
{
	return c->last_zxid;
}

const char *ternc_server(const struct ternc *c)
{
	return c->host_idx >= 0 ? c->hosts[c->host_idx].name : NULL;
}

struct ternc_loop *ternc_loop_of(const struct ternc *c)
{
	return c->loop;
}

void ternc_set_data(struct ternc *c, void *data)
{
	c->user = data;
}

void *ternc_get_data(const struct ternc *c)
{
	return c->user;
}

/* Convert a decoded reply into the public result; chroot stripped. Multi
 * results and whoAmI strings go to malloc'd arrays (*@mv, *@who) that the
 * caller frees after the callback. */
static int tc_result_from(struct ternc *c, const struct zkp_response *rsp, struct ternc_result *r,
			  struct ternc_multi_result **mv, const char ***who)
{
	memset(r, 0, sizeof(*r));
	r->err = rsp->hdr.err;
	r->op = rsp->type;
	r->zxid = rsp->hdr.zxid;
	r->data_len = -1;
	if (rsp->hdr.err != ZK_OK)
		return ZK_OK;
	r->path = path_in(c, rsp->path);
	r->stat = rsp->stat;
	r->data = rsp->data;
	r->data_len = rsp->data_len;
	r->acl = rsp->acl;
	r->names = rsp->names.v;
	r->count = rsp->names.count < 0 ? 0 : rsp->names.count;
	r->number = rsp->number;
	if (rsp->type == ZK_OP_MULTI && rsp->multi_count > 0) {
		*mv = calloc(rsp->multi_count, sizeof(**mv));
		if (!*mv)
			return ZK_ESYSTEM;
		for (uint32_t i = 0; i < rsp->multi_count; i++) {
			const struct zkp_multi_result *m = &rsp->multi[i];
			(*mv)[i] = (struct ternc_multi_result){m->type, m->err, path_in(c, m->path),
							       m->stat};
		}
		r->multi = *mv;
		r->multi_count = rsp->multi_count;
		r->err = zkp_multi_error(rsp->multi, rsp->multi_count);
	}
	if (rsp->type == ZK_OP_WHOAMI && rsp->who.count > 0) {
		size_t n = (size_t)rsp->who.count;
		size_t bytes = n * sizeof(char *);
		for (size_t i = 0; i < n; i++)
			bytes += strlen(rsp->who.v[i].scheme ? rsp->who.v[i].scheme : "") +
				 strlen(rsp->who.v[i].user ? rsp->who.v[i].user : "") + 2;
		char **v = malloc(bytes);
		if (!v)
			return ZK_ESYSTEM;
		char *s = (char *)(v + n);
		for (size_t i = 0; i < n; i++) {
			v[i] = s;
			s += sprintf(s, "%s:%s", rsp->who.v[i].scheme ? rsp->who.v[i].scheme : "",
				     rsp->who.v[i].user ? rsp->who.v[i].user : "") +
			     1;
		}
		*who = (const char **)v;
		r->names = (const char *const *)v;
		r->count = (int32_t)n;
	}
	return ZK_OK;
}
