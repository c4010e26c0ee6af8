/* tests/fuzz/fuzz_zkp.c: libFuzzer target for the ZooKeeper client codec.
 *
 * The first input byte picks a decoder: request, ConnectRequest, or (client
 * side) reply to the opcode in the second byte. Whatever decodes is encoded
 * again with the opposite side's encoder, decoded a second time, and the two
 * decodes must agree field by field (the re-encoding, being canonical, must
 * also be no longer than the input minus ignored trailing bytes).
 */
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "dataplane/zkp.h"
#include "tests/lib/tn_zk_eq.h"

static uint8_t arena1[ZKP_ARENA_FOR_REPLY(ZKP_FRAME_MAX)];
static uint8_t arena2[ZKP_ARENA_FOR_REPLY(ZKP_FRAME_MAX)];
static uint8_t out[ZKP_FRAME_MAX + 64];
static uint8_t arena0[ZKP_ARENA_FOR_REPLY(ZKP_FRAME_MAX)];
static uint8_t in0[ZKP_FRAME_MAX + 64];

static bool v_eq(const struct zkp_strv *a, const struct zkp_strv *b)
{
	if (a->count != b->count)
		return false;
	for (int32_t i = 0; i < a->count; i++)
		if (!str_eq(a->v[i], b->v[i]))
			return false;
	return true;
}

static void fuzz_request(const uint8_t *data, size_t size)
{
	struct tn_arena a1 = tn_arena_init(arena1, ZKP_ARENA_FOR(size));
	struct zkp_request r1, r2;
	int rc = zkp_decode_request(data, size, &a1, &r1);
	TN_ASSERT(rc != -EMSGSIZE); /* ZKP_ARENA_FOR must always suffice */
	if (rc != ZKP_DEC_OK)
		return;
	struct tn_wr w = tn_wr_init(out, sizeof(out));
	TN_ASSERT(zkp_encode_request(&w, &r1) == 0);
	TN_ASSERT(w.len <= size - r1.trailing_bytes);
	struct tn_arena a2 = tn_arena_init(arena2, sizeof(arena2));
	TN_ASSERT(zkp_decode_request(out, w.len, &a2, &r2) == ZKP_DEC_OK);
	TN_ASSERT(r2.trailing_bytes == 0);
	TN_ASSERT(r1.xid == r2.xid && r1.type == r2.type && op_eq(&r1.op, &r2.op));
	TN_ASSERT(r1.auth.type == r2.auth.type && str_eq(r1.auth.scheme, r2.auth.scheme) &&
		  buf_eq(r1.auth.auth, r1.auth.auth_len, r2.auth.auth, r2.auth.auth_len));
	TN_ASSERT(r1.watches.relative_zxid == r2.watches.relative_zxid);
	for (int i = 0; i < ZKP_WL_COUNT; i++)
		TN_ASSERT(v_eq(&r1.watches.lists[i], &r2.watches.lists[i]));
	TN_ASSERT(str_eq(r1.reconfig.joining, r2.reconfig.joining) &&
		  str_eq(r1.reconfig.leaving, r2.reconfig.leaving) &&
		  str_eq(r1.reconfig.new_members, r2.reconfig.new_members) &&
		  r1.reconfig.cur_config_id == r2.reconfig.cur_config_id);
}

static void fuzz_connect(const uint8_t *data, size_t size)
{
	struct zkp_connect_req c1, c2;
	if (zkp_decode_connect_req(data, size, &c1) != 0)
		return;
	struct tn_wr w = tn_wr_init(out, sizeof(out));
	TN_ASSERT(zkp_encode_connect_req(&w, &c1) == 0);
	TN_ASSERT(w.len <= size);
	TN_ASSERT(zkp_decode_connect_req(out, w.len, &c2) == 0);
	TN_ASSERT(memcmp(&c1, &c2, sizeof(c1)) == 0);
}

static bool mres_eq(const struct zkp_multi_result *a, const struct zkp_multi_result *b)
{
	return a->type == b->type && a->err == b->err && str_eq(a->path, b->path) &&
	       memcmp(&a->stat, &b->stat, sizeof(a->stat)) == 0 &&
	       buf_eq(a->data, a->data_len, b->data, b->data_len) && v_eq(&a->children, &b->children);
}

static void fuzz_response(int32_t type, const uint8_t *data, size_t size)
{
	/* The server encoder shows container/TTL owner markers as 0, so the
	 * first re-encoding may normalise a Stat: compare from that fixed point. */
	struct tn_arena a0 = tn_arena_init(arena0, ZKP_ARENA_FOR_REPLY(size));
	struct zkp_response p0, p1, p2;
	int rc = zkp_decode_response(data, size, type, &a0, &p0);
	TN_ASSERT(rc != -EMSGSIZE);
	if (rc != 0)
		return;
	struct tn_wr w0 = tn_wr_init(in0, sizeof(in0));
	TN_ASSERT(zkp_encode_response(&w0, &p0) == 0);
	struct tn_arena a1 = tn_arena_init(arena1, sizeof(arena1));
	TN_ASSERT(zkp_decode_response(in0, w0.len, type, &a1, &p1) == 0);
	struct tn_wr w = tn_wr_init(out, sizeof(out));
	rc = zkp_encode_response(&w, &p1);
	TN_ASSERT(rc == 0);
	struct tn_arena a2 = tn_arena_init(arena2, sizeof(arena2));
	TN_ASSERT(zkp_decode_response(out, w.len, type, &a2, &p2) == 0);
	TN_ASSERT(memcmp(&p1.hdr, &p2.hdr, sizeof(p1.hdr)) == 0 && str_eq(p1.path, p2.path));
	TN_ASSERT(memcmp(&p1.stat, &p2.stat, sizeof(p1.stat)) == 0);
	TN_ASSERT(buf_eq(p1.data, p1.data_len, p2.data, p2.data_len) && acl_eq(&p1.acl, &p2.acl));
	TN_ASSERT(v_eq(&p1.names, &p2.names) && p1.number == p2.number);
	TN_ASSERT(p1.who.count == p2.who.count && p1.multi_count == p2.multi_count);
	for (int32_t i = 0; i < p1.who.count; i++)
		TN_ASSERT(str_eq(p1.who.v[i].scheme, p2.who.v[i].scheme) &&
			  str_eq(p1.who.v[i].user, p2.who.v[i].user));
	for (uint32_t i = 0; i < p1.multi_count; i++)
		TN_ASSERT(mres_eq(&p1.multi[i], &p2.multi[i]));
	TN_ASSERT(p1.event.type == p2.event.type && str_eq(p1.event.path, p2.event.path));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size - 2 > ZKP_FRAME_MAX)
		return 0;
	/* Copy so ASan catches a read one byte past the payload. */
	size_t n = size - 2;
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return 0;
	memcpy(p, data + 2, n);
	switch (data[0] % 4) {
	case 0:
	case 1:
		fuzz_request(p, n);
		break;
	case 2:
		fuzz_connect(p, n);
		break;
	default:
		fuzz_response((int32_t)(int8_t)data[1], p, n);
		break;
	}
	free(p);
	return 0;
}
