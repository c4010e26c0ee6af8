/* dataplane/dp_udp.h: the native datagram client protocol (wire header and
 * per-session reply cache), shared by the server (dp_udp.c) and the client
 * library (tools/ternc.c). Pure C: no sockets here (dp_udp_proto.c).
 *
 * Every UDP datagram is one 24-byte header followed by at most one jute body,
 * exactly the bytes a TCP frame carries after its 4-byte length:
 *
 *   off size field     meaning
 *   0   4    magic     DP_UDP_MAGIC ("TNUD")
 *   4   1    version   DP_UDP_VERSION
 *   5   1    kind      enum dp_udp_kind
 *   6   2    flags     0 (receivers ignore unknown bits)
 *   8   8    session   session id (0 in a CONNECT that asks for a new one)
 *   16  4    xid       REQUEST/REPLY: the RequestHeader/ReplyHeader xid;
 *                      CONNECT: the client's next xid; CONNECTED: echoed
 *   20  4    cookie    the client's random connect nonce (non-zero); every
 *                      REQUEST of that attachment repeats it, so an off-path
 *                      sender that knows only the session id is ignored
 *
 * All integers big-endian. docs/FORMATS.md has the whole protocol.
 *
 * Reply cache. The server admits a session's requests (xid >= 0) strictly in
 * xid order, so an attachment's requests run FIFO and a lost datagram cannot
 * be overtaken: xid == next is new; xid > next is a gap and is dropped (the
 * client retransmits the missing one); xid < next is a retry, answered from
 * the cache if its reply is there, dropped if its reply is still being made,
 * and answered EVICTED if the reply is gone. The cache keeps the last
 * DP_UDP_CACHE_SLOTS xids and at most DP_UDP_CACHE_BYTES of replies; a slot
 * still waiting for its reply is never evicted, so at most DP_UDP_CACHE_SLOTS
 * requests of one session are in flight (a new one beyond is dropped: FULL).
 */
#ifndef DP_UDP_H
#define DP_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_UDP_MAGIC 0x544e5544u   /* "TNUD" */
#define DP_UDP_VERSION 1
#define DP_UDP_HDR_LEN 24
#define DP_UDP_DGRAM_MAX 65507u    /* largest IPv4 UDP payload */
#define DP_UDP_BODY_MAX (DP_UDP_DGRAM_MAX - DP_UDP_HDR_LEN)
#define DP_UDP_CACHE_SLOTS 64u     /* xids remembered per session (power of two) */
#define DP_UDP_CACHE_BYTES (256u << 10) /* reply bytes remembered per session */

enum dp_udp_kind {
	DP_UDP_CONNECT = 1,   /* c→s: ConnectRequest */
	DP_UDP_REQUEST = 2,   /* c→s: RequestHeader + request */
	DP_UDP_CONNECTED = 3, /* s→c: ConnectResponse (timeout 0: expired) */
	DP_UDP_REPLY = 4,     /* s→c: ReplyHeader + response */
	DP_UDP_EVENT = 5,     /* s→c: ReplyHeader (xid -1) + WatcherEvent, best effort */
	DP_UDP_UNKNOWN = 6,   /* s→c, no body: no such session on this socket: resume */
	DP_UDP_EVICTED = 7,   /* s→c, no body: retry of @xid whose reply is gone */
	DP_UDP_TOOBIG = 8,    /* s→c, no body: the reply to @xid does not fit a datagram */
	DP_UDP_KIND_MAX = DP_UDP_TOOBIG,
};

struct dp_udp_hdr {
	uint8_t kind;
	uint16_t flags;
	uint64_t session;
	int32_t xid;
	uint32_t cookie;
};

/* Write @h to @out (DP_UDP_HDR_LEN bytes). */
void dp_udp_hdr_encode(uint8_t *out, const struct dp_udp_hdr *h);
/* Read a header from a datagram of @len bytes; the body is @p + DP_UDP_HDR_LEN.
 * Return 0, -EBADMSG (short, bad magic, version or kind). Never asserts on input. */
int dp_udp_hdr_decode(const uint8_t *p, size_t len, struct dp_udp_hdr *h);

/* ---- reply cache ---- */

enum dp_udp_verdict {
	DP_UDP_NEW = 0,       /* run it (the slot now waits for its reply) */
	DP_UDP_DUP_REPLY,     /* a retry: resend *@reply */
	DP_UDP_DUP_INFLIGHT,  /* a retry of a request still running: drop */
	DP_UDP_GAP,           /* ahead of the next xid: drop (an earlier one was lost) */
	DP_UDP_FULL,          /* DP_UDP_CACHE_SLOTS requests in flight: drop */
	DP_UDP_GONE,          /* a retry whose reply was evicted: answer EVICTED */
};

struct dp_udp_entry {
	int32_t xid;
	bool used, done;
	uint32_t len;
	uint8_t *reply; /* malloc'd datagram, NULL when done but not kept */
};

struct dp_udp_cache {
	int32_t next_xid;  /* the next new xid accepted */
	size_t bytes;      /* sum of kept replies' len */
	struct dp_udp_entry e[DP_UDP_CACHE_SLOTS];
};

/* Start empty, expecting @next_xid (>= 0) first. */
void dp_udp_cache_init(struct dp_udp_cache *c, int32_t next_xid);
/* Free every kept reply; @c may be reused after dp_udp_cache_init. */
void dp_udp_cache_free(struct dp_udp_cache *c);
/* Classify request @xid (>= 0). On DP_UDP_DUP_REPLY, @reply and @len receive the
 * cached datagram (owned by the cache, valid until the next call on @c). */
enum dp_udp_verdict dp_udp_cache_admit(struct dp_udp_cache *c, int32_t xid, const uint8_t **reply,
				       size_t *len);
/* The reply datagram to @xid is @p/@len: keep a copy (evicting the oldest
 * finished replies to stay under DP_UDP_CACHE_BYTES; a reply larger than that,
 * or no memory, is marked done but not kept). Return 0; -ENOENT if @xid is not
 * waiting for a reply (not admitted, or already answered). */
int dp_udp_cache_complete(struct dp_udp_cache *c, int32_t xid, const uint8_t *p, size_t len);
/* Move @from's kept replies into @to (a resumed attachment keeps its cache);
 * @from is left empty. Entries still waiting for a reply are dropped (their
 * reply goes to the old attachment). @to expects the later of its own and
 * @from's next xid. */
void dp_udp_cache_move(struct dp_udp_cache *to, struct dp_udp_cache *from);

#endif
