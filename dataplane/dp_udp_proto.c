/* dataplane/dp_udp_proto.c: the datagram header codec and the per-session
 * reply cache of the native datagram protocol (dp_udp.h). Pure C, no I/O:
 * the server worker (dp_udp.c), the client (tools/ternc.c), the unit test
 * and the fuzz target all use these same functions.
 *
 * The cache is a ring of DP_UDP_CACHE_SLOTS entries indexed by xid modulo
 * the ring size. Admission is strictly in xid order, so the live window is
 * always the last DP_UDP_CACHE_SLOTS xids below @next_xid and each has its own
 * slot: lookups are O(1), eviction for the byte cap walks the window oldest
 * first (bounded by the slot count).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "common/tn_rd.h"
#include "dataplane/dp_udp.h"

TN_STATIC_ASSERT((DP_UDP_CACHE_SLOTS & (DP_UDP_CACHE_SLOTS - 1)) == 0, "slots: a power of two");
TN_STATIC_ASSERT(DP_UDP_HDR_LEN == 24, "the wire header is frozen");

void dp_udp_hdr_encode(uint8_t *out, const struct dp_udp_hdr *h)
{
	TN_ASSERT(h->kind >= DP_UDP_CONNECT && h->kind <= DP_UDP_KIND_MAX);
	tn_store_be32(out, DP_UDP_MAGIC);
	out[4] = DP_UDP_VERSION;
	out[5] = h->kind;
	out[6] = (uint8_t)(h->flags >> 8);
	out[7] = (uint8_t)h->flags;
	tn_store_be64(out + 8, h->session);
	tn_store_be32(out + 16, (uint32_t)h->xid);
	tn_store_be32(out + 20, h->cookie);
}

int dp_udp_hdr_decode(const uint8_t *p, size_t len, struct dp_udp_hdr *h)
{
	if (len < DP_UDP_HDR_LEN || len > DP_UDP_DGRAM_MAX)
		return -EBADMSG;
	if (tn_load_be32(p) != DP_UDP_MAGIC || p[4] != DP_UDP_VERSION)
		return -EBADMSG;
	if (p[5] < DP_UDP_CONNECT || p[5] > DP_UDP_KIND_MAX)
		return -EBADMSG;
	h->kind = p[5];
	h->flags = (uint16_t)(p[6] << 8 | p[7]);
	h->session = tn_load_be64(p + 8);
	h->xid = (int32_t)tn_load_be32(p + 16);
	h->cookie = tn_load_be32(p + 20);
	return 0;
}

/* ---- reply cache ---- */

static struct dp_udp_entry *slot_of(struct dp_udp_cache *c, int32_t xid)
{
	return &c->e[(uint32_t)xid & (DP_UDP_CACHE_SLOTS - 1)];
}

/* Distance from @b to @a (negative: @a is older) on the cycle clients count
 * xids on: 1, 2, .. INT32_MAX, then 1 again (ternc skips 0 and negatives, so
 * serial arithmetic mod 2^32 would put INT32_MAX after 1). */
static int32_t xid_diff(int32_t a, int32_t b)
{
	const int64_t m = INT32_MAX;
	int64_t d = ((int64_t)a % m - (int64_t)b % m + m) % m;

	TN_ASSERT_HOT(a >= 0 && b >= 0);
	return (int32_t)(d > m / 2 ? d - m : d);
}

static void entry_drop(struct dp_udp_cache *c, struct dp_udp_entry *e)
{
	if (e->reply) {
		TN_ASSERT(c->bytes >= e->len);
		c->bytes -= e->len;
		free(e->reply);
	}
	e->reply = NULL;
	e->len = 0;
}

void dp_udp_cache_init(struct dp_udp_cache *c, int32_t next_xid)
{
	TN_ASSERT(next_xid >= 0);
	memset(c, 0, sizeof *c);
	c->next_xid = next_xid;
}

void dp_udp_cache_free(struct dp_udp_cache *c)
{
	for (uint32_t i = 0; i < DP_UDP_CACHE_SLOTS; i++) {
		entry_drop(c, &c->e[i]);
		c->e[i].used = false;
	}
	TN_ASSERT(c->bytes == 0);
}

enum dp_udp_verdict dp_udp_cache_admit(struct dp_udp_cache *c, int32_t xid, const uint8_t **reply,
				       size_t *len)
{
	int32_t d = xid_diff(xid, c->next_xid);
	struct dp_udp_entry *e = slot_of(c, xid);

	TN_ASSERT_HOT(xid >= 0);
	if (d > 0)
		return DP_UDP_GAP;
	if (d == 0) {
		if (e->used && !e->done)
			return DP_UDP_FULL; /* the slot's previous xid still runs */
		entry_drop(c, e);
		*e = (struct dp_udp_entry){ .xid = xid, .used = true };
		/* ternc's xids wrap from INT32_MAX to 1 */
		c->next_xid = xid == INT32_MAX ? 1 : xid + 1;
		return DP_UDP_NEW;
	}
	if (d < -(int32_t)DP_UDP_CACHE_SLOTS || !e->used || e->xid != xid)
		return DP_UDP_GONE;
	if (!e->done)
		return DP_UDP_DUP_INFLIGHT;
	if (!e->reply)
		return DP_UDP_GONE;
	*reply = e->reply;
	*len = e->len;
	return DP_UDP_DUP_REPLY;
}

/* Evict finished replies, oldest xid first, until @need more bytes fit. */
static void make_room(struct dp_udp_cache *c, size_t need)
{
	for (uint32_t i = DP_UDP_CACHE_SLOTS; i > 0 && c->bytes + need > DP_UDP_CACHE_BYTES; i--) {
		struct dp_udp_entry *e = slot_of(c, (int32_t)((uint32_t)c->next_xid - i));
		if (e->used && e->done)
			entry_drop(c, e);
	}
}

int dp_udp_cache_complete(struct dp_udp_cache *c, int32_t xid, const uint8_t *p, size_t len)
{
	struct dp_udp_entry *e = slot_of(c, xid);
	int32_t d;

	if (xid < 0)
		return -ENOENT; /* pings, auth, events: never cached */
	d = xid_diff(xid, c->next_xid);
	if (d >= 0 || d < -(int32_t)DP_UDP_CACHE_SLOTS || !e->used || e->xid != xid ||
	    e->done)
		return -ENOENT;
	TN_ASSERT(e->reply == NULL);
	e->done = true;
	if (len > DP_UDP_CACHE_BYTES)
		return 0; /* a retry of it hears EVICTED */
	make_room(c, len);
	if (c->bytes + len > DP_UDP_CACHE_BYTES || !(e->reply = malloc(len ? len : 1)))
		return 0;
	memcpy(e->reply, p, len);
	e->len = (uint32_t)len;
	c->bytes += len;
	TN_ASSERT(c->bytes <= DP_UDP_CACHE_BYTES);
	return 0;
}

void dp_udp_cache_move(struct dp_udp_cache *to, struct dp_udp_cache *from)
{
	int32_t want = to->next_xid;

	TN_ASSERT(to != from);
	dp_udp_cache_free(to);
	memcpy(to, from, sizeof *to);
	memset(from, 0, sizeof *from);
	from->next_xid = to->next_xid;
	/* a request still running answers on the old attachment, never here:
	 * forget it, so its slot cannot stay busy (a retry hears EVICTED) */
	for (uint32_t i = 0; i < DP_UDP_CACHE_SLOTS; i++)
		if (to->e[i].used && !to->e[i].done)
			to->e[i].used = false;
	/* the client may be past requests the old attachment never saw */
	if (xid_diff(want, to->next_xid) > 0)
		to->next_xid = want;
}
