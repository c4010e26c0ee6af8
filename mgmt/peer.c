/* mgmt/peer.c: the kernel TCP channels between the servers of an ensemble.
 *
 * Each pair of servers keeps two TCP connections: one to the election port
 * (votes) and one to the quorum port (Zab). The server with the lower id
 * dials, the higher one accepts; a dialer sends a 16-byte hello first
 * ("TERNPEER", its id, the channel), so the acceptor knows who called. A new
 * connection from a peer replaces the old one (the peer restarted), which the
 * owner hears as down then up. Messages are framed as a 4-byte big-endian
 * length and the bytes; a channel delivers them whole, in order, until it
 * breaks. Nothing here blocks: sockets are non-blocking and the control
 * thread polls them (peer_net_pollfds / peer_net_run) with its eventfd.
 *
 * Compression (tern.peer.compress = auto | zstd[:level] | none; auto: zstd on
 * quorum links where either end is an observer, the ones that cross a WAN):
 * a dialer that wants zstd sets bit 0 of hello byte 13; an acceptor that
 * knows the flag answers with its own hello (bit 0: agreed) before any frame,
 * and an old acceptor answers nothing, so the link stays plain. A compressed
 * frame has bit 31 of its length set, then raw length u32 and the zstd bytes
 * of one flushed block of a per-link stream (history spans frames, so small
 * Zab messages compress too). A bad compressed frame closes the link.
 *
 * Limits: a frame over PEER_FRAME_MAX (election: PEER_VOTE_FRAME_MAX) or a
 * queue over PEER_OUT_MAX breaks the connection; an unknown hello is closed.
 * Interoperating with Apache ZooKeeper's peers is not a goal (DESIGN.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zstd.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "common/tn_rd.h"
#include "mgmt/mgmt.h"
#include "mgmt/peer_udp.h"

#define PEER_HELLO_LEN 16u
#define PEER_FRAME_MAX ((1u << 30) + 4096u)  /* a snapshot message and its header */
#define PEER_VOTE_FRAME_MAX (64u << 10)
#define PEER_OUT_MAX (1ull << 31)            /* queued bytes before the link is cut */
#define PEER_ACCEPT_MAX 64u                  /* accepted sockets still saying hello */
#define PEER_RETRY_MS 100u                   /* redial a down link this often */
#define PEER_CONNECT_MS 1000u                /* give up a connect after this: the kernel's
                                              * SYN backoff would wait seconds after a cut */
#define PEER_READ_CHUNK (256u << 10)
#define PEER_ADD_MAX 32u                     /* members a reconfig may add (peer_net_member_add) */
#define PEER_HELLO_ZSTD 0x01u                /* hello byte 13: wants / agrees to zstd */
#define PEER_FRAME_ZSTD 0x80000000u          /* length bit: a compressed frame */
#define PEER_ZSTD_MIN 48u                    /* smaller frames go plain */
#define PEER_ZSTD_MAX (256u << 20)           /* so do larger ones (snapshots: bound the work) */
#define PEER_ZSTD_WINDOW_LOG 20              /* 1 MiB of history per direction */
#define PEER_ZSTD_LEVEL 3
#define PEER_ZSTD_TURNS_MAX 64u              /* decoder calls without progress */
TN_STATIC_ASSERT(PEER_FRAME_MAX < PEER_FRAME_ZSTD, "the zstd bit is free in a length");

static const char hello_magic[8] = { 'T', 'E', 'R', 'N', 'P', 'E', 'E', 'R' };
struct peer_net;
static void links_compact(struct peer_net *pn);

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_UP };

struct buf {
	uint8_t *p;
	size_t head, tail, cap;
};

struct link {
	uint32_t peer;
	bool election;
	bool dial;                 /* we connect (our id is lower) */
	enum link_state state;
	int fd;
	uint64_t retry_ms;
	uint64_t dial_ms;           /* when the pending connect started */
	struct buf in, out;
	const struct cfg_server *srv;
	struct cfg_server *own;      /* srv, when added by peer_net_member_add */
	/* zstd: asked (dialer, no answer yet), on (both agreed), per-connection streams */
	bool z_asked, z_on;
	ZSTD_CCtx *zc;
	ZSTD_DCtx *zd;
	uint8_t *zbuf;             /* one decompressed frame */
	size_t zbuf_cap;
	struct peer_bytes bytes;   /* whole life of the link, all connections */
};

struct pending {                   /* accepted, hello not read yet */
	int fd;
	bool election;
	uint8_t hello[PEER_HELLO_LEN];
	size_t got;
	uint64_t since_ms;
};

struct peer_net {
	uint32_t my_id;
	struct peer_cb cb;
	int lfd[2];                /* [0] quorum, [1] election */
	struct link *links;        /* 2 per peer: [2i] quorum, [2i+1] election */
	unsigned link_count;
	unsigned links_cap;        /* never reallocated: callbacks hold link pointers */
	struct pending acc[PEER_ACCEPT_MAX];
	unsigned acc_count;
	uint64_t sent_bytes, recv_bytes, drops;
	int z_level;               /* 0: never compress */
	bool z_auto;               /* only where either end is an observer */
	bool i_observer;
	struct peer_udp *udp;      /* datagram transport (peer_udp.c): every call goes there */
};

/* ---- buffers ---- */

static size_t buf_len(const struct buf *b)
{
	return b->tail - b->head;
}

/* Room for @n more bytes at the tail. */
static int buf_reserve(struct buf *b, size_t n)
{
	if (b->head == b->tail)
		b->head = b->tail = 0;
	if (b->cap - b->tail >= n)
		return 0;
	if (b->head > 0) {
		memmove(b->p, b->p + b->head, buf_len(b));
		b->tail -= b->head;
		b->head = 0;
		if (b->cap - b->tail >= n)
			return 0;
	}
	size_t cap = b->cap ? b->cap : 65536;
	while (cap - b->tail < n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){ 0 };
}

/* ---- sockets ---- */

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	char sport[8];

	snprintf(sport, sizeof sport, "%u", port);
	if (getaddrinfo(host, sport, &hints, &ai) != 0 || !ai)
		return -EHOSTUNREACH;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sl = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static void sock_tune(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

static int listen_on(const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, fd, rc;

	if ((rc = resolve(host, port, &ss, &sl)) < 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* ---- zstd ---- */

static void zlink_reset(struct link *l)
{
	ZSTD_freeCCtx(l->zc);
	ZSTD_freeDCtx(l->zd);
	free(l->zbuf);
	l->zc = NULL;
	l->zd = NULL;
	l->zbuf = NULL;
	l->zbuf_cap = 0;
	l->z_asked = l->z_on = false;
	l->bytes.compressed = false;
}

/* Does this end want zstd on @l? */
static bool zlink_wanted(const struct peer_net *pn, const struct link *l)
{
	if (l->election || pn->z_level == 0)
		return false;
	return !pn->z_auto || pn->i_observer || l->srv->type == CFG_PEER_OBSERVER;
}

/* Both ends agreed: make the streams. */
static int zlink_start(const struct peer_net *pn, struct link *l)
{
	TN_ASSERT(!l->zc && !l->zd);
	l->zc = ZSTD_createCCtx();
	l->zd = ZSTD_createDCtx();
	if (!l->zc || !l->zd ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(l->zc, ZSTD_c_compressionLevel, pn->z_level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(l->zc, ZSTD_c_windowLog, PEER_ZSTD_WINDOW_LOG)) ||
	    ZSTD_isError(ZSTD_DCtx_setParameter(l->zd, ZSTD_d_windowLogMax, PEER_ZSTD_WINDOW_LOG))) {
		zlink_reset(l);
		return -ENOMEM;
	}
	l->z_on = true;
	l->bytes.compressed = true;
	TN_INFO("peer", "quorum link to server %u: zstd level %d", l->peer, pn->z_level);
	return 0;
}

/* Decode one compressed frame body @p/@len (raw length u32, zstd bytes) with
 * @zd's stream into @out (@cap bytes). Pure but for @zd's history: it never
 * reads past @len nor writes past @cap, and returns the raw length, or
 * -EBADMSG (short, corrupt, or not exactly the length it claims), -E2BIG. */
static long zframe_decode(ZSTD_DCtx *zd, const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	if (len < 4)
		return -EBADMSG;
	uint32_t raw = tn_load_be32(p);
	if (raw > PEER_FRAME_MAX || raw > cap)
		return -E2BIG;
	ZSTD_inBuffer in = { p + 4, len - 4, 0 };
	ZSTD_outBuffer ob = { out, raw, 0 };
	for (unsigned idle = 0; in.pos < in.size;) {
		size_t before_in = in.pos, before_out = ob.pos;
		size_t rc = ZSTD_decompressStream(zd, &ob, &in);
		if (ZSTD_isError(rc))
			return -EBADMSG;
		if (in.pos == before_in && ob.pos == before_out && ++idle > PEER_ZSTD_TURNS_MAX)
			return -EBADMSG;   /* no progress: more output than it claimed */
	}
	if (ob.pos != raw)
		return -EBADMSG;
	return (long)raw;
}

/* Queue @msg compressed: length word with PEER_FRAME_ZSTD, raw length, one
 * flushed block. */
static int zframe_queue(struct link *l, const void *msg, size_t len)
{
	size_t bound = ZSTD_compressBound(len) + 64;
	if (buf_len(&l->out) + bound + 8 > PEER_OUT_MAX)
		return -ENOBUFS;
	if (buf_reserve(&l->out, bound + 8) < 0)
		return -ENOMEM;
	uint8_t *hdr = l->out.p + l->out.tail;
	ZSTD_inBuffer in = { msg, len, 0 };
	ZSTD_outBuffer ob = { hdr + 8, bound, 0 };
	size_t left;
	do {
		left = ZSTD_compressStream2(l->zc, &ob, &in, ZSTD_e_flush);
		if (ZSTD_isError(left))
			return -ENOMEM;   /* the stream is broken: the caller closes */
	} while (left && ob.pos < ob.size);
	if (left)
		return -ENOMEM;
	TN_ASSERT(ob.pos + 4 < PEER_FRAME_MAX);
	tn_store_be32(hdr, (uint32_t)(ob.pos + 4) | PEER_FRAME_ZSTD);
	tn_store_be32(hdr + 4, (uint32_t)len);
	l->out.tail += ob.pos + 8;
	l->bytes.wire_out += ob.pos + 8;
	return 0;
}

/* ---- links ---- */

static void link_close(struct peer_net *pn, struct link *l, const char *why)
{
	bool was_up = l->state == LINK_UP;

	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->state = LINK_DOWN;
	buf_free(&l->in);
	buf_free(&l->out);
	zlink_reset(l);
	if (was_up) {
		TN_INFO("peer", "%s link to server %u down: %s", l->election ? "election" : "quorum",
			l->peer, why);
		pn->cb.on_down(pn->cb.arg, l->peer, l->election);
	}
}

static void link_up(struct peer_net *pn, struct link *l)
{
	l->state = LINK_UP;
	TN_INFO("peer", "%s link to server %u up", l->election ? "election" : "quorum", l->peer);
	pn->cb.on_up(pn->cb.arg, l->peer, l->election);
}

static int queue_frame(struct link *l, const void *msg, size_t len)
{
	l->bytes.raw_out += len + 4;
	if (l->z_on && len >= PEER_ZSTD_MIN && len <= PEER_ZSTD_MAX)
		return zframe_queue(l, msg, len);
	l->bytes.wire_out += len + 4;
	if (buf_len(&l->out) + len + 4 > PEER_OUT_MAX)
		return -ENOBUFS;
	if (buf_reserve(&l->out, len + 4) < 0)
		return -ENOMEM;
	tn_store_be32(l->out.p + l->out.tail, (uint32_t)len);
	memcpy(l->out.p + l->out.tail + 4, msg, len);
	l->out.tail += len + 4;
	return 0;
}

static void link_flush(struct peer_net *pn, struct link *l)
{
	while (l->state == LINK_UP && buf_len(&l->out)) {
		ssize_t n = send(l->fd, l->out.p + l->out.head, buf_len(&l->out), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			link_close(pn, l, strerror(errno));
			return;
		}
		l->out.head += (size_t)n;
		pn->sent_bytes += (uint64_t)n;
	}
}

static void link_dial(struct peer_net *pn, struct link *l, uint64_t now)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t hello[PEER_HELLO_LEN] = { 0 };
	uint16_t port = l->election ? l->srv->election_port : l->srv->quorum_port;
	int fd;

	l->retry_ms = now + PEER_RETRY_MS;
	if (resolve(l->srv->host, port, &ss, &sl) < 0)
		return;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sock_tune(fd);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		close(fd);
		return;
	}
	l->fd = fd;
	l->state = LINK_CONNECTING;
	l->dial_ms = now;
	memcpy(hello, hello_magic, sizeof hello_magic);
	tn_store_be32(hello + 8, pn->my_id);
	hello[12] = l->election;
	l->z_asked = zlink_wanted(pn, l);
	hello[13] = l->z_asked ? PEER_HELLO_ZSTD : 0;
	/* the hello goes out unframed ahead of everything queued later */
	if (buf_reserve(&l->out, sizeof hello) == 0) {
		memcpy(l->out.p + l->out.tail, hello, sizeof hello);
		l->out.tail += sizeof hello;
	}
}

/* Deliver every whole frame in @l's input. */
static void link_deliver(struct peer_net *pn, struct link *l)
{
	uint32_t max = l->election ? PEER_VOTE_FRAME_MAX : PEER_FRAME_MAX;

	while (l->state == LINK_UP && buf_len(&l->in) >= 4) {
		uint32_t len = tn_load_be32(l->in.p + l->in.head);
		if (l->z_asked) {
			/* the acceptor's answer to our zstd offer, or (an old peer) a frame:
			 * "TERN" read as a length is over PEER_FRAME_MAX, so never both */
			if (memcmp(l->in.p + l->in.head, hello_magic, 4)) {
				l->z_asked = false;
				continue;
			}
			if (buf_len(&l->in) < PEER_HELLO_LEN)
				return;
			const uint8_t *h = l->in.p + l->in.head;
			l->z_asked = false;
			if (memcmp(h, hello_magic, sizeof hello_magic) || tn_load_be32(h + 8) != l->peer ||
			    h[12] != l->election) {
				link_close(pn, l, "bad hello answer");
				return;
			}
			l->in.head += PEER_HELLO_LEN;
			if ((h[13] & PEER_HELLO_ZSTD) && zlink_start(pn, l) < 0) {
				link_close(pn, l, "out of memory (zstd)");
				return;
			}
			continue;
		}
		bool z = l->z_on && (len & PEER_FRAME_ZSTD);
		if (z)
			len &= ~PEER_FRAME_ZSTD;
		if (len > max) {
			link_close(pn, l, "oversized frame");
			return;
		}
		if (buf_len(&l->in) < 4 + (size_t)len)
			return;
		const uint8_t *msg = l->in.p + l->in.head + 4;
		l->in.head += 4 + (size_t)len;
		l->bytes.wire_in += 4 + (size_t)len;
		if (z) {
			uint32_t raw = len >= 4 ? tn_load_be32(msg) : 0;
			if (raw > l->zbuf_cap && raw <= max) {
				uint8_t *nb = realloc(l->zbuf, TN_MAX(raw, 4096u));
				if (!nb) {
					link_close(pn, l, "out of memory (zstd)");
					return;
				}
				l->zbuf = nb;
				l->zbuf_cap = TN_MAX(raw, 4096u);
			}
			long n = zframe_decode(l->zd, msg, len, l->zbuf, TN_MIN(l->zbuf_cap, (size_t)max));
			if (n < 0) {
				TN_WARN("peer", "quorum link to server %u: corrupt compressed frame "
					"(%u bytes): %s; closing it", l->peer, len, strerror((int)-n));
				link_close(pn, l, "corrupt compressed frame");
				return;
			}
			msg = l->zbuf;
			len = (uint32_t)n;
		}
		l->bytes.raw_in += 4 + (size_t)len;
		pn->cb.on_msg(pn->cb.arg, l->peer, l->election, msg, len);
	}
}

static void link_read(struct peer_net *pn, struct link *l)
{
	for (unsigned turns = 0; turns < 64 && l->state == LINK_UP; turns++) {
		if (buf_reserve(&l->in, PEER_READ_CHUNK) < 0) {
			link_close(pn, l, "out of memory");
			return;
		}
		ssize_t n = recv(l->fd, l->in.p + l->in.tail, l->in.cap - l->in.tail, 0);
		if (n == 0) {
			link_close(pn, l, "closed by peer");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				link_close(pn, l, strerror(errno));
			return;
		}
		l->in.tail += (size_t)n;
		pn->recv_bytes += (uint64_t)n;
		link_deliver(pn, l);
	}
}

static struct link *link_of(struct peer_net *pn, uint32_t peer, bool election)
{
	for (unsigned i = 0; i < pn->link_count; i++)
		if (pn->links[i].peer == peer && pn->links[i].election == election)
			return &pn->links[i];
	return NULL;
}

/* An accepted socket said hello: it becomes the link to that peer. */
static void adopt(struct peer_net *pn, struct pending *a)
{
	uint32_t id = tn_load_be32(a->hello + 8);
	bool election = a->hello[12] != 0;
	struct link *l = link_of(pn, id, election);

	if (memcmp(a->hello, hello_magic, sizeof hello_magic) || !l || election != a->election ||
	    l->dial) {
		TN_WARN("peer", "closing a connection with a bad hello (id %u)", id);
		close(a->fd);
		pn->drops++;
		return;
	}
	if (l->state != LINK_DOWN)
		link_close(pn, l, "replaced by a new connection");
	sock_tune(a->fd);
	l->fd = a->fd;
	if (a->hello[13] & PEER_HELLO_ZSTD) {
		/* answer the offer before any frame; agree if we want it too */
		uint8_t ans[PEER_HELLO_LEN] = { 0 };
		bool yes = zlink_wanted(pn, l) && zlink_start(pn, l) == 0;
		memcpy(ans, hello_magic, sizeof hello_magic);
		tn_store_be32(ans + 8, pn->my_id);
		ans[12] = l->election;
		ans[13] = yes ? PEER_HELLO_ZSTD : 0;
		if (buf_reserve(&l->out, sizeof ans) == 0) {
			memcpy(l->out.p + l->out.tail, ans, sizeof ans);
			l->out.tail += sizeof ans;
		}
	}
	link_up(pn, l);
}

static void accept_all(struct peer_net *pn, int lfd, bool election, uint64_t now)
{
	for (unsigned i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (pn->acc_count == PEER_ACCEPT_MAX) {
			close(fd);
			pn->drops++;
			continue;
		}
		pn->acc[pn->acc_count++] = (struct pending){ .fd = fd, .election = election,
							      .since_ms = now };
	}
}

static void pending_read(struct peer_net *pn, unsigned i, uint64_t now)
{
	struct pending *a = &pn->acc[i];
	ssize_t n = recv(a->fd, a->hello + a->got, sizeof a->hello - a->got, 0);

	if (n > 0)
		a->got += (size_t)n;
	if (a->got == sizeof a->hello) {
		struct pending done = *a;
		pn->acc[i] = pn->acc[--pn->acc_count];
		adopt(pn, &done);
		return;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || now - a->since_ms > 5000) {
		close(a->fd);
		pn->acc[i] = pn->acc[--pn->acc_count];
	}
}

/* ---- the interface ---- */

/* tern.peer.compress: NULL or "auto" (zstd where an observer is at either
 * end), "none", "zstd", "zstd:LEVEL". */
static int parse_compress(const char *v, int *level, bool *automatic)
{
	*level = PEER_ZSTD_LEVEL;
	*automatic = !v || !strcmp(v, "auto");
	if (*automatic || !strcmp(v, "zstd"))
		return 0;
	if (!strcmp(v, "none")) {
		*level = 0;
		return 0;
	}
	if (strncmp(v, "zstd:", 5))
		return -EINVAL;
	char *end;
	long x = strtol(v + 5, &end, 10);
	if (end == v + 5 || *end || x < 1 || x > ZSTD_maxCLevel())
		return -EINVAL;
	*level = (int)x;
	return 0;
}

int peer_net_create(struct peer_net **out, const struct cfg *cfg, const struct peer_cb *cb)
{
	struct peer_net *pn = calloc(1, sizeof *pn);
	const struct cfg_server *me = cfg_server_find(cfg, cfg->server_id);
	int rc;

	if (!pn)
		return -ENOMEM;
	if (!me) {
		free(pn);
		return -EINVAL;
	}
	pn->my_id = (uint32_t)cfg->server_id;
	pn->cb = *cb;
	if (peer_udp_wanted(cfg)) {   /* tern.peer.transport=udp or tern.dataplane=dpdk */
		if ((rc = peer_udp_create(&pn->udp, cfg, cb)) < 0) {
			free(pn);
			return rc;
		}
		*out = pn;
		return 0;
	}
	pn->i_observer = me->type == CFG_PEER_OBSERVER || cfg->peer_type == CFG_PEER_OBSERVER;
	if ((rc = parse_compress(cfg_prop(cfg, "tern.peer.compress"), &pn->z_level, &pn->z_auto)) < 0) {
		TN_ERROR("peer", "tern.peer.compress: want auto, none, zstd or zstd:LEVEL (1..%d)",
			 ZSTD_maxCLevel());
		goto fail;
	}
	pn->lfd[0] = pn->lfd[1] = -1;
	pn->links_cap = 2u * (cfg->server_count + PEER_ADD_MAX);
	pn->links = calloc(pn->links_cap, sizeof *pn->links);
	if (!pn->links) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < cfg->server_count; i++) {
		const struct cfg_server *s = &cfg->servers[i];
		if (s->id == cfg->server_id)
			continue;
		for (int e = 0; e < 2; e++) {
			struct link *l = &pn->links[pn->link_count++];
			l->peer = (uint32_t)s->id;
			l->election = e;
			l->dial = pn->my_id < l->peer;
			l->fd = -1;
			l->srv = s;
		}
	}
	if ((rc = listen_on(me->host, me->quorum_port)) < 0) {
		TN_ERROR("peer", "cannot listen on %s:%u (quorum port): %s", me->host,
			 me->quorum_port, strerror(-rc));
		goto fail;
	}
	pn->lfd[0] = rc;
	if ((rc = listen_on(me->host, me->election_port)) < 0) {
		TN_ERROR("peer", "cannot listen on %s:%u (election port): %s", me->host,
			 me->election_port, strerror(-rc));
		goto fail;
	}
	pn->lfd[1] = rc;
	*out = pn;
	return 0;
fail:
	peer_net_destroy(pn);
	return rc;
}

void peer_net_destroy(struct peer_net *pn)
{
	if (!pn)
		return;
	if (pn->udp) {
		peer_udp_destroy(pn->udp);
		free(pn);
		return;
	}
	for (unsigned i = 0; i < pn->link_count; i++) {
		struct link *l = &pn->links[i];
		if (l->fd >= 0)
			close(l->fd);
		buf_free(&l->in);
		buf_free(&l->out);
		zlink_reset(l);
		free(l->own);
	}
	for (unsigned i = 0; i < pn->acc_count; i++)
		close(pn->acc[i].fd);
	for (int i = 0; i < 2; i++)
		if (pn->lfd[i] >= 0)
			close(pn->lfd[i]);
	free(pn->links);
	free(pn);
}

unsigned peer_net_pollfds(struct peer_net *pn, struct pollfd *pfd, unsigned max, uint64_t now)
{
	if (pn->udp)
		return peer_udp_pollfds(pn->udp, pfd, max, now);
	unsigned n = 0;

	links_compact(pn);
	for (int i = 0; i < 2 && n < max; i++)
		pfd[n++] = (struct pollfd){ .fd = pn->lfd[i], .events = POLLIN };
	for (unsigned i = 0; i < pn->acc_count && n < max; i++)
		pfd[n++] = (struct pollfd){ .fd = pn->acc[i].fd, .events = POLLIN };
	for (unsigned i = 0; i < pn->link_count && n < max; i++) {
		struct link *l = &pn->links[i];
		if (l->state == LINK_CONNECTING && now >= l->dial_ms + PEER_CONNECT_MS) {
			close(l->fd);
			l->fd = -1;
			l->state = LINK_DOWN;
			buf_free(&l->out);
		}
		if (l->state == LINK_DOWN && l->dial && now >= l->retry_ms)
			link_dial(pn, l, now);
		if (l->state == LINK_DOWN)
			continue;
		short ev = l->state == LINK_CONNECTING ? POLLOUT : POLLIN;
		if (l->state == LINK_UP && buf_len(&l->out))
			ev |= POLLOUT;
		pfd[n++] = (struct pollfd){ .fd = l->fd, .events = ev };
	}
	return n;
}

static struct link *link_by_fd(struct peer_net *pn, int fd)
{
	for (unsigned i = 0; i < pn->link_count; i++)
		if (pn->links[i].fd == fd)
			return &pn->links[i];
	return NULL;
}

void peer_net_run(struct peer_net *pn, const struct pollfd *pfd, unsigned n, uint64_t now)
{
	if (pn->udp) {
		peer_udp_run(pn->udp, pfd, n, now);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		if (pfd[i].fd == pn->lfd[0] || pfd[i].fd == pn->lfd[1]) {
			accept_all(pn, pfd[i].fd, pfd[i].fd == pn->lfd[1], now);
			continue;
		}
		struct link *l = link_by_fd(pn, pfd[i].fd);
		if (!l) {
			for (unsigned a = 0; a < pn->acc_count; a++)
				if (pn->acc[a].fd == pfd[i].fd) {
					pending_read(pn, a, now);
					break;
				}
			continue;
		}
		if (l->state == LINK_CONNECTING) {
			int err = 0;
			socklen_t el = sizeof err;
			getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &el);
			if (err || (pfd[i].revents & (POLLERR | POLLHUP))) {
				close(l->fd);
				l->fd = -1;
				l->state = LINK_DOWN;
				buf_free(&l->out);
				continue;
			}
			link_up(pn, l);
		}
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			link_read(pn, l);
		link_flush(pn, l);
	}
	/* accepted sockets that were already readable before they were polled */
	for (unsigned a = 0; a < pn->acc_count; a++)
		if (now - pn->acc[a].since_ms > 5000)
			pending_read(pn, a, now);
}

int peer_net_send(struct peer_net *pn, uint32_t peer, bool election, const void *msg, size_t len)
{
	if (pn->udp)
		return peer_udp_send(pn->udp, peer, election, msg, len);
	struct link *l = link_of(pn, peer, election);
	int rc;

	if (!l || l->state != LINK_UP)
		return -ENOTCONN;
	if ((rc = queue_frame(l, msg, len)) < 0) {
		link_close(pn, l, rc == -ENOBUFS ? "peer too slow (send queue full)" : "out of memory");
		return rc;
	}
	link_flush(pn, l);
	return 0;
}

void peer_net_flush(struct peer_net *pn)
{
	if (pn->udp) {
		peer_udp_flush(pn->udp);
		return;
	}
	for (unsigned i = 0; i < pn->link_count; i++)
		link_flush(pn, &pn->links[i]);
}

bool peer_net_is_up(struct peer_net *pn, uint32_t peer, bool election)
{
	if (pn->udp)
		return peer_udp_is_up(pn->udp, peer, election);
	struct link *l = link_of(pn, peer, election);
	return l && l->state == LINK_UP;
}

void peer_net_stats(struct peer_net *pn, uint64_t *sent, uint64_t *recvd)
{
	if (pn->udp) {
		peer_udp_stats(pn->udp, sent, recvd);
		return;
	}
	*sent = pn->sent_bytes;
	*recvd = pn->recv_bytes;
}

int peer_net_link_bytes(struct peer_net *pn, uint32_t peer, struct peer_bytes *out)
{
	if (pn->udp)
		return peer_udp_link_bytes(pn->udp, peer, out);
	struct link *l = link_of(pn, peer, false);

	if (!l)
		return -ENOENT;
	*out = l->bytes;
	out->compressed = l->z_on;
	return 0;
}

/* ---- membership (reconfig) ---- */

int peer_net_member_add(struct peer_net *pn, const struct cfg_server *srv)
{
	if (pn->udp)
		return peer_udp_member_add(pn->udp, srv);
	if (srv->id == pn->my_id || link_of(pn, (uint32_t)srv->id, false))
		return 0;
	if (pn->link_count + 2u > pn->links_cap)
		return -ENOSPC;
	for (int e = 0; e < 2; e++) {
		struct link *l = &pn->links[pn->link_count];
		memset(l, 0, sizeof *l);
		if (!(l->own = malloc(sizeof *l->own)))
			return -ENOMEM;
		*l->own = *srv;
		l->peer = (uint32_t)srv->id;
		l->election = e;
		l->dial = pn->my_id < l->peer;
		l->fd = -1;
		l->srv = l->own;
		pn->link_count++;
	}
	TN_INFO("peer", "server %u added (%s:%u:%u)", (uint32_t)srv->id, srv->host, srv->quorum_port,
		srv->election_port);
	return 0;
}

void peer_net_member_remove(struct peer_net *pn, uint32_t peer)
{
	if (pn->udp) {
		peer_udp_member_remove(pn->udp, peer);
		return;
	}
	if (peer == pn->my_id || peer == 0)
		return;
	for (unsigned i = 0; i < pn->link_count; i++) {
		struct link *l = &pn->links[i];
		if (l->peer != peer)
			continue;
		/* quietly (the caller drops the member from the core itself); the
		 * slot goes at the next peer_net_pollfds, outside any callback */
		l->state = LINK_DOWN;
		link_close(pn, l, "removed from the config");
		l->dial = false;
		l->peer = 0;
		TN_INFO("peer", "server %u removed", peer);
	}
}

static void links_compact(struct peer_net *pn)
{
	unsigned k = 0;

	for (unsigned i = 0; i < pn->link_count; i++) {
		if (pn->links[i].peer == 0) {
			free(pn->links[i].own);
			continue;
		}
		if (k != i)
			pn->links[k] = pn->links[i];
		k++;
	}
	pn->link_count = k;
}
