/* consensus/zab_msg.c: the peer wire codec (docs/FORMATS.md, "Zab peer
 * messages"). Big-endian; every message starts with version u8 and kind u8;
 * every field is read through a bounded cursor and a message must end
 * exactly at its last field. Decoders never assert on input. */
#include <errno.h>
#include <string.h>

#include "consensus/zab_int.h"

/* Fields per kind, in wire order. */
enum { F_STATE = 1u << 0, F_OBS = 1u << 1, F_NONCE = 1u << 2, F_AEP = 1u << 3, F_CEP = 1u << 4,
       F_ROUND = 1u << 5, F_LEADER = 1u << 6, F_EPOCH = 1u << 7, F_ZXID = 1u << 8,
       F_ZXID2 = 1u << 9, F_TAG = 1u << 10, F_BYTES = 1u << 11, F_ENTRIES = 1u << 12 };

static uint32_t kind_fields(uint8_t kind)
{
	switch (kind) {
	/* ZXID2/BYTES: the sender's committed config, version and blob (zab_config_blob) */
	case ZAB_M_VOTE: return F_STATE | F_ROUND | F_LEADER | F_ZXID | F_EPOCH | F_ZXID2 | F_BYTES;
	case ZAB_M_FOLLOWERINFO: return F_OBS | F_NONCE | F_AEP | F_CEP | F_ZXID | F_ZXID2;
	case ZAB_M_LEADERINFO: return F_NONCE | F_LEADER | F_EPOCH; /* leader 0: the sender */
	case ZAB_M_ACKEPOCH: return F_NONCE | F_CEP | F_ZXID;
	case ZAB_M_DIFF:
	case ZAB_M_TRUNC:
	case ZAB_M_UPTODATE:
	case ZAB_M_ACK:
	case ZAB_M_COMMIT: return F_ZXID;
	case ZAB_M_PING:
	case ZAB_M_PONG: return F_ZXID | F_TAG;
	case ZAB_M_SNAP: return F_ZXID | F_BYTES;
	case ZAB_M_PROPOSAL: return F_EPOCH | F_ENTRIES;
	case ZAB_M_INFORM: return F_EPOCH | F_ZXID2 | F_ENTRIES;
	case ZAB_M_NEWLEADER:
	case ZAB_M_ACKNL: return F_EPOCH | F_ZXID;
	case ZAB_M_REQUEST: return F_BYTES;
	case ZAB_M_SYNCREQ: return F_TAG;
	case ZAB_M_SYNCRESP: return F_TAG | F_ZXID;
	case ZAB_M_LEAVE: return F_NONCE;
	default: return 0;
	}
}

int zab_entry_next(struct tn_rd *r, tn_zxid *zxid, const uint8_t **p, uint32_t *len)
{
	if (tn_rd_u64(r, zxid) < 0 || tn_rd_u32(r, len) < 0 || *len > ZAB_MSG_MAX)
		return -EBADMSG;
	*p = r->p;
	return tn_rd_skip(r, *len);
}

static int check_entries(const uint8_t *p, size_t len, uint32_t count)
{
	struct tn_rd r = tn_rd_init(p, len);
	tn_zxid prev = 0, zxid;
	const uint8_t *d;
	uint32_t n;

	if (count == 0 || count > len / ZAB_ENTRY_HDR)
		return -EBADMSG;
	for (uint32_t i = 0; i < count; i++) {
		if (zab_entry_next(&r, &zxid, &d, &n) < 0)
			return -EBADMSG;
		if (zxid <= prev)  /* strictly increasing, never 0 */
			return -EBADMSG;
		prev = zxid;
	}
	return tn_rd_left(&r) == 0 ? 0 : -EBADMSG;
}

int zab_msg_decode(const void *buf, size_t len, struct zab_msg *m)
{
	struct tn_rd r = tn_rd_init(buf, len);
	uint8_t ver, b;
	uint32_t f, n;

	memset(m, 0, sizeof(*m));
	if (len > ZAB_SNAP_MAX + 64u)
		return -EBADMSG;
	if (tn_rd_u8(&r, &ver) < 0 || ver != ZAB_MSG_VERSION || tn_rd_u8(&r, &m->kind) < 0)
		return -EBADMSG;
	f = kind_fields(m->kind);
	if (!f)
		return -EBADMSG;
	if (m->kind != ZAB_M_SNAP && len > ZAB_MSG_MAX)
		return -EBADMSG;
	if (f & F_STATE) {
		if (tn_rd_u8(&r, &m->state) < 0 || m->state > ZAB_OBSERVING)
			return -EBADMSG;
	}
	if (f & F_OBS) {
		if (tn_rd_u8(&r, &b) < 0 || b > 1)
			return -EBADMSG;
		m->observer = b;
	}
	if ((f & F_NONCE) && tn_rd_u32(&r, &m->nonce) < 0)
		return -EBADMSG;
	if ((f & F_AEP) && tn_rd_u32(&r, &m->accepted_epoch) < 0)
		return -EBADMSG;
	if ((f & F_CEP) && tn_rd_u32(&r, &m->current_epoch) < 0)
		return -EBADMSG;
	if ((f & F_ROUND) && tn_rd_u32(&r, &m->round) < 0)
		return -EBADMSG;
	if ((f & F_LEADER) && tn_rd_u32(&r, &m->leader) < 0)
		return -EBADMSG;
	if ((f & F_EPOCH) && tn_rd_u32(&r, &m->epoch) < 0)
		return -EBADMSG;
	if ((f & F_ZXID) && tn_rd_u64(&r, &m->zxid) < 0)
		return -EBADMSG;
	if ((f & F_ZXID2) && tn_rd_u64(&r, &m->zxid2) < 0)
		return -EBADMSG;
	if ((f & F_TAG) && tn_rd_u64(&r, &m->tag) < 0)
		return -EBADMSG;
	if (f & F_BYTES) {
		if (tn_rd_u32(&r, &n) < 0 || n != tn_rd_left(&r))
			return -EBADMSG;
		m->data = r.p;
		m->len = n;
		r.p += n;
	}
	if (f & F_ENTRIES) {
		if (tn_rd_u32(&r, &m->count) < 0)
			return -EBADMSG;
		m->data = r.p;
		m->len = tn_rd_left(&r);
		if (check_entries(m->data, m->len, m->count) < 0)
			return -EBADMSG;
		r.p += m->len;
	}
	return tn_rd_left(&r) == 0 ? 0 : -EBADMSG;
}

size_t zab_msg_encode(const struct zab_msg *m, uint8_t *buf, size_t cap)
{
	struct tn_wr w = tn_wr_init(buf, cap);
	uint32_t f = kind_fields(m->kind);

	TN_ASSERT(f != 0);
	tn_wr_u8(&w, ZAB_MSG_VERSION);
	tn_wr_u8(&w, m->kind);
	if (f & F_STATE)
		tn_wr_u8(&w, m->state);
	if (f & F_OBS)
		tn_wr_bool(&w, m->observer);
	if (f & F_NONCE)
		tn_wr_u32(&w, m->nonce);
	if (f & F_AEP)
		tn_wr_u32(&w, m->accepted_epoch);
	if (f & F_CEP)
		tn_wr_u32(&w, m->current_epoch);
	if (f & F_ROUND)
		tn_wr_u32(&w, m->round);
	if (f & F_LEADER)
		tn_wr_u32(&w, m->leader);
	if (f & F_EPOCH)
		tn_wr_u32(&w, m->epoch);
	if (f & F_ZXID)
		tn_wr_u64(&w, m->zxid);
	if (f & F_ZXID2)
		tn_wr_u64(&w, m->zxid2);
	if (f & F_TAG)
		tn_wr_u64(&w, m->tag);
	if (f & F_BYTES) {
		TN_ASSERT(m->len <= UINT32_MAX);
		tn_wr_u32(&w, (uint32_t)m->len);
	}
	if (f & F_ENTRIES)
		tn_wr_u32(&w, m->count);
	if (f & (F_BYTES | F_ENTRIES))
		tn_wr_bytes(&w, m->data, m->len);
	return w.len;
}

int zab_msg_check(const void *msg, size_t len)
{
	struct zab_msg m;
	if (zab_msg_decode(msg, len, &m) < 0)
		return -EBADMSG;
	return m.kind;
}

bool zab_msg_is_election(const void *msg, size_t len)
{
	const uint8_t *p = msg;
	return len >= 2 && p[1] == ZAB_M_VOTE;
}
