/* tests/unit/test_dataplane_zkp.c. Description: the ZooKeeper client codec:
 * framing and 4LW detection; hand-written jute bytes for the handshake, a
 * create, a watch event and a multi reply; client-encode -> server-decode and
 * server-encode -> client-decode round trips for every request and reply
 * type; truncation at every length; forged lengths and counts; multi rules;
 * arena and buffer exhaustion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/zkp.c"
#include "tests/lib/tn_test.h"
#include "tests/lib/tn_zk_eq.h"

static uint8_t arena_mem[1 << 20];
static uint8_t wbuf[1 << 16];

static bool strv_eq(const char *const *a, int32_t an, const char *const *b, int32_t bn)
{
	if (an != bn)
		return false;
	for (int32_t i = 0; i < an; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

static bool req_eq(const struct zkp_request *a, const struct zkp_request *b)
{
	if (a->xid != b->xid || a->type != b->type || !op_eq(&a->op, &b->op))
		return false;
	if (a->auth.type != b->auth.type || !str_eq(a->auth.scheme, b->auth.scheme) ||
	    !buf_eq(a->auth.auth, a->auth.auth_len, b->auth.auth, b->auth.auth_len))
		return false;
	if (a->watches.relative_zxid != b->watches.relative_zxid)
		return false;
	for (int i = 0; i < ZKP_WL_COUNT; i++)
		if (!strv_eq(a->watches.lists[i].v, a->watches.lists[i].count,
			     b->watches.lists[i].v, b->watches.lists[i].count))
			return false;
	return str_eq(a->reconfig.joining, b->reconfig.joining) &&
	       str_eq(a->reconfig.leaving, b->reconfig.leaving) &&
	       str_eq(a->reconfig.new_members, b->reconfig.new_members) &&
	       a->reconfig.cur_config_id == b->reconfig.cur_config_id;
}

/* ---- sample requests ---- */

static const struct zk_acl open_acl[] = {{ZK_PERM_ALL, {"world", "anyone"}},
					 {ZK_PERM_READ, {"digest", "u:hash"}}};
static const char *const wl_a[] = {"/a", "/b/c"};
static const char *const wl_b[] = {"/x"};
static struct zk_op write_subs[] = {
    {.type = ZK_OP_CREATE,
     .path = "/m1",
     .data = (const uint8_t *)"d",
     .data_len = 1,
     .acl = {1, open_acl},
     .flags = 0},
    {.type = ZK_OP_CREATETTL,
     .path = "/m2",
     .data_len = -1,
     .acl = {1, open_acl},
     .flags = ZK_CREATE_TTL,
     .ttl = 5000},
    {.type = ZK_OP_DELETE, .path = "/m3", .version = 4},
    {.type = ZK_OP_SETDATA, .path = "/m4", .data_len = 0, .version = -1},
    {.type = ZK_OP_CHECK, .path = "/m5", .version = 7},
    {.type = ZK_OP_CREATECONTAINER,
     .path = "/m6",
     .data_len = -1,
     .acl = {1, open_acl},
     .flags = ZK_CREATE_CONTAINER},
};
static struct zk_op read_subs[] = {
    {.type = ZK_OP_GETDATA, .path = "/r1"},
    {.type = ZK_OP_GETCHILDREN, .path = "/r2"},
};

#define OP(t, ...)                                                                                 \
	{                                                                                          \
		.xid = 5, .type = (t), .op = {.type = (t), __VA_ARGS__ }                           \
	}
static const struct zkp_request samples[] = {
    OP(ZK_OP_CREATE, .path = "/n", .data = (const uint8_t *)"abc", .data_len = 3,
       .acl = {2, open_acl}, .flags = 3),
    OP(ZK_OP_CREATE2, .path = "/n2", .data_len = -1, .acl = {1, open_acl}),
    OP(ZK_OP_CREATECONTAINER, .path = "/c", .data_len = 0, .acl = {1, open_acl}, .flags = 4),
    OP(ZK_OP_CREATETTL, .path = "/t", .data_len = 0, .acl = {-1, NULL}, .flags = 5,
       .ttl = 123456789),
    OP(ZK_OP_DELETE, .path = "/d", .version = -1),
    OP(ZK_OP_EXISTS, .path = "/e", .watch = true),
    OP(ZK_OP_GETDATA, .path = "/g", .watch = false),
    OP(ZK_OP_SETDATA, .path = "/s", .data = (const uint8_t *)"\0\1\2", .data_len = 3, .version = 9),
    OP(ZK_OP_GETACL, .path = "/ga"),
    OP(ZK_OP_SETACL, .path = "/sa", .acl = {2, open_acl}, .version = 2),
    OP(ZK_OP_GETCHILDREN, .path = "/", .watch = true),
    OP(ZK_OP_GETCHILDREN2, .path = "/x/y", .watch = true),
    OP(ZK_OP_SYNC, .path = "/"),
    {.xid = ZKP_XID_PING, .type = ZK_OP_PING, .op = {.type = ZK_OP_PING}},
    OP(ZK_OP_MULTI, .sub_count = 6, .sub = write_subs),
    OP(ZK_OP_MULTI, .sub_count = 0),
    OP(ZK_OP_MULTIREAD, .sub_count = 2, .sub = read_subs),
    {.xid = 6,
     .type = ZK_OP_RECONFIG,
     .op = {.type = ZK_OP_RECONFIG},
     .reconfig = {"server.4=h:2888:3888;2181", NULL, "", 0x100000003ll}},
    OP(ZK_OP_CHECKWATCHES, .path = "/cw", .mode = ZK_WATCHER_DATA),
    OP(ZK_OP_REMOVEWATCHES, .path = "/rw", .mode = ZK_WATCHER_ANY),
    OP(ZK_OP_DELETECONTAINER, .path = "/dc"),
    {.xid = ZKP_XID_AUTH,
     .type = ZK_OP_AUTH,
     .op = {.type = ZK_OP_AUTH},
     .auth = {0, "digest", (const uint8_t *)"user:pw", 7}},
    {.xid = ZKP_XID_SETWATCHES,
     .type = ZK_OP_SETWATCHES,
     .op = {.type = ZK_OP_SETWATCHES},
     .watches = {77, {{2, wl_a}, {0, NULL}, {1, wl_b}}}},
    {.xid = ZKP_XID_SETWATCHES,
     .type = ZK_OP_SETWATCHES2,
     .op = {.type = ZK_OP_SETWATCHES2},
     .watches = {-1, {{0, NULL}, {1, wl_b}, {0, NULL}, {2, wl_a}, {1, wl_b}}}},
    OP(ZK_OP_SASL, .data = (const uint8_t *)"tok", .data_len = 3),
    OP(ZK_OP_GETEPHEMERALS, .path = "/"),
    OP(ZK_OP_GETALLCHILDRENNUMBER, .path = "/a"),
    OP(ZK_OP_ADDWATCH, .path = "/aw", .mode = ZK_ADDWATCH_PERSISTENT_RECURSIVE),
    OP(ZK_OP_WHOAMI),
    OP(ZK_OP_CLOSESESSION),
};

static size_t encode_req(const struct zkp_request *r)
{
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	int rc = zkp_encode_request(&w, r);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return w.len;
}

/* ---- framing, 4LW ---- */

static void test_frame_len(void)
{
	uint8_t b[8] = {0, 0, 0, 4, 1, 2, 3, 4};
	uint32_t n = 99;
	CU_ASSERT_EQUAL(zkp_frame_len(b, 3, ZKP_FRAME_MAX, &n), ZKP_FRAME_NEED_MORE);
	CU_ASSERT_EQUAL(n, 99u);
	CU_ASSERT_EQUAL(zkp_frame_len(b, 7, ZKP_FRAME_MAX, &n), ZKP_FRAME_NEED_MORE);
	CU_ASSERT_EQUAL(n, 4u);
	CU_ASSERT_EQUAL(zkp_frame_len(b, 8, ZKP_FRAME_MAX, &n), ZKP_FRAME_OK);
	uint8_t neg[4] = {0x80, 0, 0, 0};
	CU_ASSERT_EQUAL(zkp_frame_len(neg, 4, ZKP_FRAME_MAX, &n), -EBADMSG);
	uint8_t big[4] = {0, 0x10, 0, 0}; /* 0x100000 = max + 1 */
	CU_ASSERT_EQUAL(zkp_frame_len(big, 4, ZKP_FRAME_MAX, &n), -EBADMSG);
	uint8_t max[4] = {0, 0x0f, 0xff, 0xff};
	CU_ASSERT_EQUAL(zkp_frame_len(max, 4, ZKP_FRAME_MAX, &n), ZKP_FRAME_NEED_MORE);
	CU_ASSERT_EQUAL(n, ZKP_FRAME_MAX);
	CU_ASSERT_EQUAL(zkp_frame_len(b, 8, 3, &n), -EBADMSG); /* a smaller configured max */
	uint8_t zero[4] = {0};
	CU_ASSERT_EQUAL(zkp_frame_len(zero, 4, ZKP_FRAME_MAX, &n), ZKP_FRAME_OK);
	CU_ASSERT_EQUAL(n, 0u);
}

static void test_frame_begin_end_overflow(void)
{
	uint8_t b[8];
	struct tn_wr w = tn_wr_init(b, sizeof(b));
	size_t s = zkp_frame_begin(&w);
	tn_wr_u32(&w, 0xdeadbeef);
	CU_ASSERT_EQUAL(zkp_frame_end(&w, s), 0);
	const uint8_t want[8] = {0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef};
	CU_ASSERT_EQUAL(memcmp(b, want, 8), 0);
	/* overflow: the writer measures what it would have needed */
	w = tn_wr_init(b, sizeof(b));
	s = zkp_frame_begin(&w);
	CU_ASSERT_EQUAL(zkp_encode_reply_hdr(&w, 1, 2, 0), -EMSGSIZE);
	CU_ASSERT_EQUAL(zkp_frame_end(&w, s), -EMSGSIZE);
	CU_ASSERT_EQUAL(w.len, 4u + ZKP_REPLY_HDR_LEN);
}

static void test_4lw(void)
{
	const char *words[] = {"ruok", "srvr", "stat", "mntr", "conf", "cons",
			       "crst", "srst", "envi", "wchs", "wchc", "wchp",
			       "dirs", "isro", "dump", "gtmk", "stmk", "hash"};
	CU_ASSERT_EQUAL(TN_ARRAY_LEN(words), ZKP_4LW_COUNT - 1u);
	for (size_t i = 0; i < TN_ARRAY_LEN(words); i++) {
		int wd = zkp_4lw_detect(words[i], 4);
		CU_ASSERT(wd > 0);
		CU_ASSERT(str_eq(zkp_4lw_name(wd), words[i]));
		uint32_t n;
		/* and no word can pass as a legal frame length */
		CU_ASSERT_EQUAL(zkp_frame_len(words[i], 4, ZKP_FRAME_MAX, &n), -EBADMSG);
	}
	CU_ASSERT_EQUAL(zkp_4lw_detect("ruo", 3), -EAGAIN);
	CU_ASSERT_EQUAL(zkp_4lw_detect("ruox", 4), ZKP_4LW_NONE);
	CU_ASSERT_EQUAL(zkp_4lw_detect("RUOK", 4), ZKP_4LW_NONE);
	uint8_t len45[4] = {0, 0, 0, 45};
	CU_ASSERT_EQUAL(zkp_4lw_detect(len45, 4), ZKP_4LW_NONE);
	const uint8_t stmk[12] = {'s', 't', 'm', 'k', 0, 0, 0, 0, 0, 0, 0x01, 0x02};
	int64_t mask = 0;
	CU_ASSERT_EQUAL(zkp_4lw_detect(stmk, 12), ZKP_4LW_STMK);
	CU_ASSERT_EQUAL(zkp_4lw_stmk_mask(stmk, 11, &mask), -EAGAIN);
	CU_ASSERT_EQUAL(zkp_4lw_stmk_mask(stmk, 12, &mask), 0);
	CU_ASSERT_EQUAL(mask, 0x102);
	CU_ASSERT_PTR_NULL(zkp_4lw_name(0));
	CU_ASSERT_PTR_NULL(zkp_4lw_name(ZKP_4LW_COUNT));
}

/* ---- handshake ---- */

static const uint8_t connect_req_bytes[45] = {
    0, 0, 0,    0,                                                          /* protocolVersion */
    0, 0, 0,    0,    0, 0, 0x12, 0x34,                                     /* lastZxidSeen */
    0, 0, 0x75, 0x30,                                                       /* timeOut 30000 */
    0, 0, 0,    0,    0, 0, 0,    0,                                        /* sessionId */
    0, 0, 0,    16,   0, 0, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* passwd */
    1,                                                                      /* readOnly */
};

static void test_connect_req(void)
{
	struct zkp_connect_req r;
	CU_ASSERT_EQUAL(zkp_decode_connect_req(connect_req_bytes, 45, &r), 0);
	CU_ASSERT_EQUAL(r.last_zxid_seen, 0x1234);
	CU_ASSERT_EQUAL(r.timeout_ms, 30000);
	CU_ASSERT_EQUAL(r.passwd_len, 16);
	CU_ASSERT(r.has_read_only && r.read_only);
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	CU_ASSERT_EQUAL(zkp_encode_connect_req(&w, &r), 0);
	CU_ASSERT_EQUAL(w.len, (size_t)ZKP_CONNECT_REQ_LEN);
	CU_ASSERT_EQUAL(memcmp(wbuf, connect_req_bytes, 45), 0);
	/* pre-3.4: no readOnly byte */
	CU_ASSERT_EQUAL(zkp_decode_connect_req(connect_req_bytes, 44, &r), 0);
	CU_ASSERT(!r.has_read_only && !r.read_only);
	w = tn_wr_init(wbuf, sizeof(wbuf));
	CU_ASSERT_EQUAL(zkp_encode_connect_req(&w, &r), 0);
	CU_ASSERT_EQUAL(w.len, 44u);
	/* trailing bytes are ignored */
	uint8_t longer[50] = {0};
	memcpy(longer, connect_req_bytes, 45);
	CU_ASSERT_EQUAL(zkp_decode_connect_req(longer, 50, &r), 0);
	CU_ASSERT(r.has_read_only);
	for (size_t n = 0; n < 44; n++)
		CU_ASSERT_EQUAL(zkp_decode_connect_req(connect_req_bytes, n, &r), -EBADMSG);
	/* a 17-byte password is not a ZooKeeper client */
	memcpy(longer, connect_req_bytes, 45);
	longer[27] = 17;
	CU_ASSERT_EQUAL(zkp_decode_connect_req(longer, 50, &r), -EBADMSG);
	longer[24] = 0x80; /* negative length */
	CU_ASSERT_EQUAL(zkp_decode_connect_req(longer, 50, &r), -EBADMSG);
}

static void test_connect_rsp_41_bytes(void)
{
	struct zkp_connect_rsp rsp = {.timeout_ms = 4000,
				      .session_id = 0x0102030405060708ll,
				      .passwd_len = 16,
				      .has_read_only = true};
	for (int i = 0; i < 16; i++)
		rsp.passwd[i] = (uint8_t)(0xa0 + i);
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	size_t s = zkp_frame_begin(&w);
	CU_ASSERT_EQUAL(zkp_encode_connect_rsp(&w, &rsp), 0);
	CU_ASSERT_EQUAL(zkp_frame_end(&w, s), 0);
	CU_ASSERT_EQUAL(w.len, 41u);
	const uint8_t want[41] = {0,    0,    0,    37,   0,    0,    0,    0,    0,    0,    0x0f,
				  0xa0, 1,    2,    3,    4,    5,    6,    7,    8,    0,    0,
				  0,    16,   0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
				  0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0};
	CU_ASSERT_EQUAL(memcmp(wbuf, want, 41), 0);
	struct zkp_connect_rsp back;
	CU_ASSERT_EQUAL(zkp_decode_connect_rsp(wbuf + 4, 37, &back), 0);
	CU_ASSERT_EQUAL(memcmp(&back, &rsp, sizeof(back)), 0);
	for (size_t n = 0; n < 36; n++)
		CU_ASSERT_EQUAL(zkp_decode_connect_rsp(wbuf + 4, n, &back), -EBADMSG);
	/* request lacked readOnly: 40 bytes framed */
	rsp.has_read_only = false;
	w = tn_wr_init(wbuf, sizeof(wbuf));
	s = zkp_frame_begin(&w);
	zkp_encode_connect_rsp(&w, &rsp);
	CU_ASSERT_EQUAL(zkp_frame_end(&w, s), 0);
	CU_ASSERT_EQUAL(w.len, 40u);
	CU_ASSERT_EQUAL(zkp_decode_connect_rsp(wbuf + 4, 36, &back), 0);
	CU_ASSERT(!back.has_read_only);
	/* expired session reply: timeOut 0, id 0, 16 zero bytes */
	struct zkp_connect_rsp dead = {.passwd_len = 16, .has_read_only = true};
	w = tn_wr_init(wbuf, 37);
	CU_ASSERT_EQUAL(zkp_encode_connect_rsp(&w, &dead), 0);
	w = tn_wr_init(wbuf, 36);
	CU_ASSERT_EQUAL(zkp_encode_connect_rsp(&w, &dead), -EMSGSIZE);
	CU_ASSERT_EQUAL(w.len, 37u);
}

/* ---- requests ---- */

static void test_create_bytes(void)
{
	const struct zk_acl acl = {ZK_PERM_ALL, {"world", "anyone"}};
	struct zkp_request r = {.xid = 1,
				.type = ZK_OP_CREATE,
				.op = {.type = ZK_OP_CREATE,
				       .path = "/a",
				       .data = (const uint8_t *)"hi",
				       .data_len = 2,
				       .acl = {1, &acl},
				       .flags = 1}};
	const uint8_t want[] = {0, 0,   0,   1,   0,   0,   0,   1,  /* xid 1, type create */
				0, 0,   0,   2,   '/', 'a',          /* path */
				0, 0,   0,   2,   'h', 'i',          /* data */
				0, 0,   0,   1,   0,   0,   0,   31, /* 1 ACL, perms ALL */
				0, 0,   0,   5,   'w', 'o', 'r', 'l', 'd', 0, 0, 0,
				6, 'a', 'n', 'y', 'o', 'n', 'e', 0,   0,   0, 1}; /* EPHEMERAL */
	size_t n = encode_req(&r);
	CU_ASSERT_EQUAL_FATAL(n, sizeof(want));
	CU_ASSERT_EQUAL(memcmp(wbuf, want, n), 0);
	struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
	struct zkp_request d;
	CU_ASSERT_EQUAL(zkp_decode_request(want, sizeof(want), &a, &d), ZKP_DEC_OK);
	CU_ASSERT(req_eq(&r, &d));
	CU_ASSERT_EQUAL(d.trailing_bytes, 0u);
}

static void test_request_roundtrip_all(void)
{
	for (size_t i = 0; i < TN_ARRAY_LEN(samples); i++) {
		size_t n = encode_req(&samples[i]);
		struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
		struct zkp_request d;
		int rc = zkp_decode_request(wbuf, n, &a, &d);
		CU_ASSERT_EQUAL(rc, ZKP_DEC_OK);
		if (rc != ZKP_DEC_OK || !req_eq(&samples[i], &d)) {
			CU_FAIL("request round trip");
			fprintf(stderr, "sample %zu type %d rc %d\n", i, samples[i].type, rc);
		}
		CU_ASSERT(a.used <= ZKP_ARENA_FOR(n));
		/* re-encoding the decoded request gives the same bytes */
		uint8_t again[4096];
		struct tn_wr w = tn_wr_init(again, sizeof(again));
		CU_ASSERT_EQUAL(zkp_encode_request(&w, &d), 0);
		CU_ASSERT(w.len == n && memcmp(again, wbuf, n) == 0);
	}
}

static void test_request_truncated_every_length(void)
{
	for (size_t i = 0; i < TN_ARRAY_LEN(samples); i++) {
		size_t n = encode_req(&samples[i]);
		for (size_t cut = 0; cut < n; cut++) {
			struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
			struct zkp_request d;
			/* a copy at exactly @cut bytes so ASan sees any overread */
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, wbuf, cut);
			int rc = zkp_decode_request(copy, cut, &a, &d);
			free(copy);
			if (rc != -EBADMSG) {
				CU_FAIL("truncated request accepted");
				fprintf(stderr, "sample %zu cut %zu/%zu rc %d\n", i, cut, n, rc);
			}
		}
	}
}

static void test_request_trailing_ignored(void)
{
	size_t n = encode_req(&samples[0]);
	memset(wbuf + n, 0xee, 5);
	struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
	struct zkp_request d;
	CU_ASSERT_EQUAL(zkp_decode_request(wbuf, n + 5, &a, &d), ZKP_DEC_OK);
	CU_ASSERT_EQUAL(d.trailing_bytes, 5u);
	CU_ASSERT(req_eq(&samples[0], &d));
}

static int decode_bytes(const uint8_t *b, size_t n, struct zkp_request *d)
{
	struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
	return zkp_decode_request(b, n, &a, d);
}

static void test_request_bad_strings_and_counts(void)
{
	struct zkp_request d;
	/* getData "/a\0b" */
	const uint8_t nul[] = {0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 4, '/', 'a', 0, 'b', 0};
	CU_ASSERT_EQUAL(decode_bytes(nul, sizeof(nul), &d), -EBADMSG);
	/* null path */
	const uint8_t nullp[] = {0, 0, 0, 1, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0};
	CU_ASSERT_EQUAL(decode_bytes(nullp, sizeof(nullp), &d), -EBADMSG);
	/* path length -2 and 0x7fffffff */
	const uint8_t neg[] = {0, 0, 0, 1, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe, 0};
	CU_ASSERT_EQUAL(decode_bytes(neg, sizeof(neg), &d), -EBADMSG);
	const uint8_t huge[] = {0, 0, 0, 1, 0, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff, 0};
	CU_ASSERT_EQUAL(decode_bytes(huge, sizeof(huge), &d), -EBADMSG);
	/* setACL with an ACL count of 2^31-1 and with -2 */
	uint8_t acl[] = {0, 0,   0,    1,    0,    0,    0, 7, 0, 0, 0,
			 1, '/', 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	CU_ASSERT_EQUAL(decode_bytes(acl, sizeof(acl), &d), -EBADMSG);
	acl[13] = 0xff, acl[16] = 0xfe;
	CU_ASSERT_EQUAL(decode_bytes(acl, sizeof(acl), &d), -EBADMSG);
	acl[16] = 0xff; /* -1: a null ACL vector is kept for the server to reject */
	CU_ASSERT_EQUAL(decode_bytes(acl, sizeof(acl), &d), ZKP_DEC_OK);
	CU_ASSERT_EQUAL(d.op.acl.count, -1);
	/* setWatches with a forged child count */
	const uint8_t sw[] = {0xff, 0xff, 0xff, 0xf8, 0, 0, 0, 101, 0, 0, 0,    0, 0, 0,
			      0,    0,    0,    0,    0, 0, 0, 0,   0, 0, 0x10, 0, 0, 0};
	CU_ASSERT_EQUAL(decode_bytes(sw, sizeof(sw), &d), -EBADMSG);
	/* an ACL id written as null (kazoo's auth:"" in CREATOR_ALL_ACL) reads as "" */
	const uint8_t anull[] = {0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, '/', 'a', 0xff, 0xff, 0xff, 0xff,
				 0, 0, 0, 1, 0, 0, 0, 31, 0, 0, 0, 4, 'a', 'u', 't', 'h', 0xff, 0xff,
				 0xff, 0xff, 0, 0, 0, 0};
	CU_ASSERT_EQUAL_FATAL(decode_bytes(anull, sizeof(anull), &d), ZKP_DEC_OK);
	CU_ASSERT_EQUAL_FATAL(d.op.acl.count, 1);
	CU_ASSERT_STRING_EQUAL(d.op.acl.v[0].id.scheme, "auth");
	CU_ASSERT_STRING_EQUAL(d.op.acl.v[0].id.id, "");
	/* auth with a null scheme */
	const uint8_t au[] = {0xff, 0xff, 0xff, 0xfc, 0,    0,    0, 100, 0, 0,
			      0,    0,    0xff, 0xff, 0xff, 0xff, 0, 0,   0, 0};
	CU_ASSERT_EQUAL(decode_bytes(au, sizeof(au), &d), -EBADMSG);
}

/* Container and TTL markers are stored, but clients see ephemeralOwner 0. */
static void test_stat_owner_markers_hidden(void)
{
	uint8_t buf[128];
	int64_t owners[] = {(int64_t)ZK_OWNER_CONTAINER, (int64_t)(ZK_OWNER_TTL_MASK | 5000u),
			    0x0100000000000008ll};
	int64_t seen[] = {0, 0, 0x0100000000000008ll};
	for (unsigned i = 0; i < 3; i++) {
		struct zstat st = {0};
		st.ephemeral_owner = owners[i];
		struct tn_wr w = tn_wr_init(buf, sizeof buf);
		CU_ASSERT_EQUAL_FATAL(zkp_encode_stat_rsp(&w, &st), 0);
		CU_ASSERT_EQUAL((int64_t)tn_load_be64(buf + 44), seen[i]);
	}
}

static void test_request_unimplemented(void)
{
	struct zkp_request d;
	const uint8_t unk[] = {0, 0, 0, 9, 0, 0, 0, 99, 1, 2, 3};
	CU_ASSERT_EQUAL(decode_bytes(unk, sizeof(unk), &d), ZKP_DEC_UNIMPLEMENTED);
	CU_ASSERT_EQUAL(d.xid, 9);
	CU_ASSERT_EQUAL(d.type, 99);
	/* a standalone check (3.9: -6 and close) */
	const uint8_t chk[] = {0, 0, 0, 9, 0, 0, 0, 13, 0, 0, 0, 1, '/', 0, 0, 0, 0};
	CU_ASSERT_EQUAL(decode_bytes(chk, sizeof(chk), &d), ZKP_DEC_UNIMPLEMENTED);
	const uint8_t neg[] = {0, 0, 0, 9, 0xff, 0xff, 0xff, 0xf6}; /* createSession */
	CU_ASSERT_EQUAL(decode_bytes(neg, sizeof(neg), &d), ZKP_DEC_UNIMPLEMENTED);
	CU_ASSERT_EQUAL(decode_bytes(unk, 7, &d), -EBADMSG);
	/* the client encoder refuses types it does not know */
	struct zkp_request u = {.xid = 1, .type = 99};
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	CU_ASSERT_EQUAL(zkp_encode_request(&w, &u), -EINVAL);
}

/* Build a multi payload from (type, done) headers each followed by @body. */
static size_t multi_bytes(uint8_t *b, int32_t mtype, const int32_t *types, size_t n,
			  int32_t term_type)
{
	struct tn_wr w = tn_wr_init(b, 4096);
	tn_wr_i32(&w, 3);
	tn_wr_i32(&w, mtype);
	for (size_t i = 0; i < n; i++) {
		tn_wr_i32(&w, types[i]);
		tn_wr_bool(&w, false);
		tn_wr_i32(&w, -1);
		tn_wr_str(&w, "/p");
		if (types[i] == ZK_OP_GETDATA || types[i] == ZK_OP_GETCHILDREN)
			tn_wr_bool(&w, false);
		else
			tn_wr_i32(&w, 1); /* delete/check version */
	}
	tn_wr_i32(&w, term_type);
	tn_wr_bool(&w, true);
	tn_wr_i32(&w, 12345);
	return w.len;
}

static void test_multi_rules(void)
{
	uint8_t b[4096];
	struct zkp_request d;
	const int32_t rw[] = {ZK_OP_DELETE, ZK_OP_GETDATA};
	size_t n = multi_bytes(b, ZK_OP_MULTI, rw, 2, -1);
	CU_ASSERT_EQUAL(decode_bytes(b, n, &d), -EBADMSG); /* mixing */
	n = multi_bytes(b, ZK_OP_MULTIREAD, rw, 2, -1);
	CU_ASSERT_EQUAL(decode_bytes(b, n, &d), -EBADMSG);
	const int32_t rd[] = {ZK_OP_GETDATA, ZK_OP_GETCHILDREN};
	n = multi_bytes(b, ZK_OP_MULTI, rd, 2, -1);
	CU_ASSERT_EQUAL(decode_bytes(b, n, &d), -EBADMSG); /* reads in a write multi */
	n = multi_bytes(b, ZK_OP_MULTIREAD, rd, 2, 7);     /* done ends it, whatever the type */
	CU_ASSERT_EQUAL(decode_bytes(b, n, &d), ZKP_DEC_OK);
	CU_ASSERT_EQUAL(d.op.sub_count, 2u);
	CU_ASSERT(str_eq(d.op.sub[1].path, "/p") && d.op.sub[1].type == ZK_OP_GETCHILDREN);
	const int32_t wr[] = {ZK_OP_DELETE, ZK_OP_CHECK, ZK_OP_DELETE};
	n = multi_bytes(b, ZK_OP_MULTI, wr, 3, -1);
	CU_ASSERT_EQUAL(decode_bytes(b, n, &d), ZKP_DEC_OK);
	CU_ASSERT_EQUAL(d.op.sub_count, 3u);
	CU_ASSERT_EQUAL(d.op.sub[1].version, 1);
	const int32_t nest[] = {ZK_OP_MULTI};
	n = multi_bytes(b, ZK_OP_MULTI, nest, 1, -1);
	CU_ASSERT_EQUAL(decode_bytes(b, n, &d), -EBADMSG);
	const int32_t sync[] = {ZK_OP_SYNC};
	n = multi_bytes(b, ZK_OP_MULTI, sync, 1, -1);
	CU_ASSERT_EQUAL(decode_bytes(b, n, &d), -EBADMSG);
	/* no terminator */
	n = multi_bytes(b, ZK_OP_MULTI, wr, 3, -1);
	CU_ASSERT_EQUAL(decode_bytes(b, n - 9, &d), -EBADMSG);
	/* a client sub-op of a foreign kind cannot be encoded */
	struct zkp_request bad = {
	    .xid = 1,
	    .type = ZK_OP_MULTIREAD,
	    .op = {.type = ZK_OP_MULTIREAD, .sub_count = 1, .sub = write_subs}};
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	CU_ASSERT_EQUAL(zkp_encode_request(&w, &bad), -EINVAL);
}

static void test_arena_limits(void)
{
	/* worst case for the arena: many minimal getData ops in a multiRead */
	static uint8_t b[ZKP_FRAME_MAX];
	struct tn_wr w = tn_wr_init(b, sizeof(b));
	tn_wr_i32(&w, 1);
	tn_wr_i32(&w, ZK_OP_MULTIREAD);
	uint32_t ops = 0;
	while (w.len + 14 + 9 <= sizeof(b)) {
		tn_wr_i32(&w, ZK_OP_GETDATA);
		tn_wr_bool(&w, false);
		tn_wr_i32(&w, -1);
		tn_wr_str(&w, "");
		tn_wr_bool(&w, true);
		ops++;
	}
	CU_ASSERT_EQUAL(zkp_encode_multi_end(&w), 0);
	size_t need = ZKP_ARENA_FOR(w.len);
	uint8_t *mem = malloc(need);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
	struct tn_arena a = tn_arena_init(mem, need);
	struct zkp_request d;
	CU_ASSERT_EQUAL(zkp_decode_request(b, w.len, &a, &d), ZKP_DEC_OK);
	CU_ASSERT_EQUAL(d.op.sub_count, ops);
	CU_ASSERT(d.op.sub[ops - 1].watch);
	/* a too-small arena is -EMSGSIZE, never an overrun */
	a = tn_arena_init(mem, 1000);
	CU_ASSERT_EQUAL(zkp_decode_request(b, w.len, &a, &d), -EMSGSIZE);
	for (size_t cap = 0; cap < 64; cap++) {
		size_t n = encode_req(&samples[0]);
		a = tn_arena_init(mem, cap);
		CU_ASSERT_EQUAL(zkp_decode_request(wbuf, n, &a, &d), -EMSGSIZE);
		CU_ASSERT(a.used <= cap);
	}
	free(mem);
}

static void test_request_encode_overflow(void)
{
	for (size_t i = 0; i < TN_ARRAY_LEN(samples); i++) {
		size_t n = encode_req(&samples[i]);
		uint8_t small[64];
		for (size_t cap = 0; cap < n && cap <= sizeof(small); cap += 7) {
			struct tn_wr w = tn_wr_init(small, cap);
			CU_ASSERT_EQUAL(zkp_encode_request(&w, &samples[i]), -EMSGSIZE);
			CU_ASSERT_EQUAL(w.len, n); /* the size the caller needs */
		}
	}
}

/* ---- replies ---- */

static const struct zstat st1 = {1, 2, 3, 4, 5, 6, 7, 0x0100000000000008ll, 9, 10, 11};
static const char *const kids[] = {"a", "bb", ""};
static const struct zkp_client_info who[] = {{"ip", "127.0.0.1"}, {"digest", "u"}};
static const struct zkp_multi_result mres_ok[] = {
    {.type = ZK_OP_CREATE, .path = "/m1"},
    {.type = ZK_OP_CREATE2, .path = "/m2", .stat = {3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 3}},
    {.type = ZK_OP_DELETE},
    {.type = ZK_OP_CHECK},
    {.type = ZK_OP_SETDATA, .stat = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
};
static const struct zkp_multi_result mres_fail[] = {
    {.type = ZK_OP_ERROR, .err = 0},
    {.type = ZK_OP_ERROR, .err = ZK_ENONODE},
    {.type = ZK_OP_ERROR, .err = ZK_ERUNTIMEINCONSISTENCY},
};
static const struct zkp_multi_result mres_read[] = {
    {.type = ZK_OP_GETDATA, .data = (const uint8_t *)"xyz", .data_len = 3, .stat = {9}},
    {.type = ZK_OP_ERROR, .err = ZK_ENONODE},
    {.type = ZK_OP_GETCHILDREN, .children = {3, kids}},
    {.type = ZK_OP_GETDATA, .data_len = -1},
};

#define RSP(t, ...)                                                                                \
	{                                                                                          \
		.hdr = {7, 0x500000001ll, 0}, .type = (t), __VA_ARGS__                             \
	}
static const struct zkp_response rsamples[] = {
    RSP(ZK_OP_CREATE, .path = "/n0000000001"),
    RSP(ZK_OP_CREATE2, .path = "/n", .stat = st1),
    RSP(ZK_OP_CREATECONTAINER, .path = "/c", .stat = st1),
    RSP(ZK_OP_CREATETTL, .path = "/t", .stat = st1),
    RSP(ZK_OP_DELETE),
    RSP(ZK_OP_EXISTS, .stat = st1),
    RSP(ZK_OP_GETDATA, .data = (const uint8_t *)"v\0w", .data_len = 3, .stat = st1),
    RSP(ZK_OP_GETDATA, .data_len = -1, .stat = st1),
    RSP(ZK_OP_SETDATA, .stat = st1),
    RSP(ZK_OP_GETACL, .acl = {2, open_acl}, .stat = st1),
    RSP(ZK_OP_SETACL, .stat = st1),
    RSP(ZK_OP_GETCHILDREN, .names = {3, kids}),
    RSP(ZK_OP_GETCHILDREN, .names = {0, NULL}),
    RSP(ZK_OP_GETCHILDREN2, .names = {2, kids}, .stat = st1),
    RSP(ZK_OP_SYNC, .path = "/s"),
    {.hdr = {ZKP_XID_PING, 42, 0}, .type = ZK_OP_PING},
    RSP(ZK_OP_MULTI, .multi = mres_ok, .multi_count = 5),
    RSP(ZK_OP_MULTI, .multi = mres_fail, .multi_count = 3),
    RSP(ZK_OP_MULTI, .multi_count = 0),
    RSP(ZK_OP_MULTIREAD, .multi = mres_read, .multi_count = 4),
    RSP(ZK_OP_RECONFIG, .data = (const uint8_t *)"server.1=a", .data_len = 10, .stat = st1),
    RSP(ZK_OP_CHECKWATCHES),
    RSP(ZK_OP_REMOVEWATCHES),
    {.hdr = {ZKP_XID_AUTH, 0, 0}, .type = ZK_OP_AUTH},
    {.hdr = {ZKP_XID_SETWATCHES, 9, 0}, .type = ZK_OP_SETWATCHES},
    {.hdr = {ZKP_XID_SETWATCHES, 9, 0}, .type = ZK_OP_SETWATCHES2},
    RSP(ZK_OP_SASL, .data = (const uint8_t *)"t", .data_len = 1),
    RSP(ZK_OP_GETEPHEMERALS, .names = {2, kids}),
    RSP(ZK_OP_GETALLCHILDRENNUMBER, .number = 12),
    RSP(ZK_OP_ADDWATCH, .number = 0),
    RSP(ZK_OP_WHOAMI, .who = {2, who}),
    RSP(ZK_OP_CLOSESESSION),
    {.hdr = {8, 99, ZK_ENONODE}, .type = ZK_OP_GETDATA},
    {.hdr = {ZKP_XID_AUTH, 0, ZK_EAUTHFAILED}, .type = ZK_OP_AUTH},
    {.hdr = {ZKP_XID_WATCH, 0x300000002ll, 0},
     .type = ZK_OP_GETDATA,
     .event = {ZK_EVENT_DATA_CHANGED, 3, "/w"}},
};

static bool mres_eq(const struct zkp_multi_result *a, const struct zkp_multi_result *b)
{
	return a->type == b->type && a->err == b->err && str_eq(a->path, b->path) &&
	       memcmp(&a->stat, &b->stat, sizeof(a->stat)) == 0 &&
	       buf_eq(a->data, a->data_len, b->data, b->data_len) &&
	       strv_eq(a->children.v, a->children.count, b->children.v, b->children.count);
}

static bool rsp_eq(const struct zkp_response *a, const struct zkp_response *b)
{
	if (a->hdr.xid != b->hdr.xid || a->hdr.zxid != b->hdr.zxid || a->hdr.err != b->hdr.err ||
	    a->type != b->type || !str_eq(a->path, b->path) ||
	    memcmp(&a->stat, &b->stat, sizeof(a->stat)) != 0 ||
	    !buf_eq(a->data, a->data_len, b->data, b->data_len) || !acl_eq(&a->acl, &b->acl) ||
	    !strv_eq(a->names.v, a->names.count, b->names.v, b->names.count) ||
	    a->number != b->number || a->who.count != b->who.count ||
	    a->event.type != b->event.type || a->event.state != b->event.state ||
	    !str_eq(a->event.path, b->event.path) || a->multi_count != b->multi_count)
		return false;
	for (int32_t i = 0; i < a->who.count; i++)
		if (!str_eq(a->who.v[i].scheme, b->who.v[i].scheme) ||
		    !str_eq(a->who.v[i].user, b->who.v[i].user))
			return false;
	for (uint32_t i = 0; i < a->multi_count; i++)
		if (!mres_eq(&a->multi[i], &b->multi[i]))
			return false;
	return true;
}

static size_t encode_rsp(const struct zkp_response *r)
{
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	int rc = zkp_encode_response(&w, r);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	return w.len;
}

static void test_response_roundtrip_all(void)
{
	for (size_t i = 0; i < TN_ARRAY_LEN(rsamples); i++) {
		size_t n = encode_rsp(&rsamples[i]);
		struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
		struct zkp_response d;
		int rc = zkp_decode_response(wbuf, n, rsamples[i].type, &a, &d);
		if (rc != 0 || !rsp_eq(&rsamples[i], &d)) {
			CU_FAIL("response round trip");
			fprintf(stderr, "rsample %zu type %d rc %d\n", i, rsamples[i].type, rc);
		}
		CU_ASSERT(a.used <= ZKP_ARENA_FOR_REPLY(n));
		if (rsamples[i].hdr.xid != ZKP_XID_WATCH) {
			bool body =
			    rsamples[i].hdr.err == 0 && zkp_reply_has_body(rsamples[i].type);
			CU_ASSERT_EQUAL(n > ZKP_REPLY_HDR_LEN, body);
		}
		for (size_t cut = 0; cut < n; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, wbuf, cut);
			a = tn_arena_init(arena_mem, sizeof(arena_mem));
			rc = zkp_decode_response(copy, cut, rsamples[i].type, &a, &d);
			free(copy);
			if (rc != -EBADMSG) {
				CU_FAIL("truncated response accepted");
				fprintf(stderr, "rsample %zu cut %zu/%zu rc %d\n", i, cut, n, rc);
			}
		}
	}
}

static void test_response_errors_header_only(void)
{
	struct zkp_response r = {.hdr = {3, 10, ZK_ENONODE},
				 .type = ZK_OP_GETDATA,
				 .stat = st1,
				 .data_len = 5,
				 .data = (const uint8_t *)"ignored"};
	size_t n = encode_rsp(&r);
	CU_ASSERT_EQUAL(n, (size_t)ZKP_REPLY_HDR_LEN);
	const uint8_t want[16] = {0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 10, 0xff, 0xff, 0xff, 0x9b};
	CU_ASSERT_EQUAL(memcmp(wbuf, want, 16), 0);
	r.type = 1000;
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	CU_ASSERT_EQUAL(zkp_encode_response(&w, &r), -EINVAL);
	struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
	struct zkp_response d;
	CU_ASSERT_EQUAL(zkp_decode_response(want, 16, 1000, &a, &d), -EINVAL);
	/* addWatch replies carry a 4-byte ErrorResponse */
	struct zkp_response aw = {.hdr = {4, 1, 0}, .type = ZK_OP_ADDWATCH};
	CU_ASSERT_EQUAL(encode_rsp(&aw), (size_t)ZKP_REPLY_HDR_LEN + 4);
}

static void test_watch_event_bytes(void)
{
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	size_t s = zkp_frame_begin(&w);
	CU_ASSERT_EQUAL(zkp_encode_watch_event(&w, -1, ZK_EVENT_CHILDREN_CHANGED, "/q"), 0);
	CU_ASSERT_EQUAL(zkp_frame_end(&w, s), 0);
	const uint8_t want[] = {0,    0,    0,    30,   0xff, 0xff, 0xff, 0xff, /* xid -1 */
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* zxid -1 */
				0,    0,    0,    0,                            /* err */
				0,    0,    0,    4,    0,    0,    0,    3,    /* type, state */
				0,    0,    0,    2,    '/',  'q'};
	CU_ASSERT_EQUAL_FATAL(w.len, sizeof(want));
	CU_ASSERT_EQUAL(memcmp(wbuf, want, sizeof(want)), 0);
}

static void test_multi_response_bytes(void)
{
	/* a failed multi: error 0, error -101, then the terminator */
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	CU_ASSERT_EQUAL(zkp_encode_multi_rsp(&w, mres_fail, 2), 0);
	const uint8_t want[] = {0xff, 0xff, 0xff, 0xff, 0, 0,    0,    0,    0, /* {-1,false,0} */
				0,    0,    0,    0, /* ErrorResponse 0 */
				0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b,
				0xff, 0xff, 0xff, 0x9b, /* -101 */
				0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff};
	CU_ASSERT_EQUAL_FATAL(w.len, sizeof(want));
	CU_ASSERT_EQUAL(memcmp(wbuf, want, sizeof(want)), 0);
	CU_ASSERT_EQUAL(zkp_multi_error(mres_fail, 3), ZK_ENONODE);
	CU_ASSERT_EQUAL(zkp_multi_error(mres_fail, 1), ZK_OK);
	CU_ASSERT_EQUAL(zkp_multi_error(mres_ok, 5), ZK_OK);
	CU_ASSERT_EQUAL(zkp_multi_error(mres_read, 4), ZK_ENONODE);
	/* a success result's MultiHeader.err is 0 whatever the struct's err says */
	struct zkp_multi_result ok = {.type = ZK_OP_DELETE, .err = ZK_EMARSHALLING};
	w = tn_wr_init(wbuf, sizeof(wbuf));
	CU_ASSERT_EQUAL(zkp_encode_multi_result(&w, &ok), 0);
	const uint8_t ok_want[9] = {0, 0, 0, 2, 0, 0, 0, 0, 0};
	CU_ASSERT(w.len == 9 && memcmp(wbuf, ok_want, 9) == 0);
	/* createTTL results must be reported as create2: anything else is refused */
	struct zkp_multi_result ttl = {.type = ZK_OP_CREATETTL, .path = "/t"};
	w = tn_wr_init(wbuf, sizeof(wbuf));
	CU_ASSERT_EQUAL(zkp_encode_multi_rsp(&w, &ttl, 1), -EINVAL);
	/* a client meeting an unknown result type rejects the reply */
	const uint8_t bad[] = {0, 0, 0,  1, 0, 0, 0, 0, 0,    0,    0,    0,    0, 0, 0, 0, 0,
			       0, 0, 21, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0};
	struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
	struct zkp_response d;
	CU_ASSERT_EQUAL(zkp_decode_response(bad, sizeof(bad), ZK_OP_MULTI, &a, &d), -EBADMSG);
}

/* ---- real bytes: kazoo and the Java CLI against Apache ZooKeeper 3.8.0 ----
 * fixtures/zkp/capture.py recorded both directions of one session each.
 * Every frame must decode, and re-encoding it must give the same bytes. */

#ifndef ZKP_FIXTURE_DIR
#define ZKP_FIXTURE_DIR "tests/unit/fixtures/zkp"
#endif
#define FX_MAX 64

struct fx_stream {
	uint8_t bytes[8192];
	size_t len;
	uint32_t count;
	const uint8_t *frame[FX_MAX];
	uint32_t frame_len[FX_MAX];
};

struct fx_session {
	struct fx_stream c2s, s2c;
	int32_t xids[FX_MAX], types[FX_MAX];
	uint32_t events, multis, seen[128]; /* seen[op & 127]: requests per type */
	struct zkp_connect_req cr;
	struct zkp_request setwatches; /* the last one seen (arena copy not kept) */
	int32_t setwatches_counts[ZKP_WL_COUNT];
};

static struct fx_session fx;

static int fx_load(const char *name, const char *dir, struct fx_stream *s)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s_%s.bin", ZKP_FIXTURE_DIR, name, dir);
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	s->len = fread(s->bytes, 1, sizeof(s->bytes), f);
	fclose(f);
	s->count = 0;
	for (size_t off = 0; off < s->len && s->count < FX_MAX;) {
		uint32_t n;
		if (zkp_frame_len(s->bytes + off, s->len - off, ZKP_FRAME_MAX, &n) != ZKP_FRAME_OK)
			return -EBADMSG;
		s->frame[s->count] = s->bytes + off + 4;
		s->frame_len[s->count++] = n;
		off += 4 + n;
	}
	return 0;
}

static void fx_handshake(void)
{
	CU_ASSERT_EQUAL(zkp_4lw_detect(fx.c2s.bytes, 4), ZKP_4LW_NONE);
	struct zkp_connect_req *cr = &fx.cr;
	CU_ASSERT_EQUAL_FATAL(fx.c2s.frame_len[0], (uint32_t)ZKP_CONNECT_REQ_LEN);
	CU_ASSERT_EQUAL(zkp_decode_connect_req(fx.c2s.frame[0], fx.c2s.frame_len[0], cr), 0);
	CU_ASSERT(cr->has_read_only && cr->passwd_len == 16);
	struct zkp_connect_rsp rsp;
	CU_ASSERT_EQUAL_FATAL(fx.s2c.frame_len[0], (uint32_t)ZKP_CONNECT_RSP_LEN);
	CU_ASSERT_EQUAL(zkp_decode_connect_rsp(fx.s2c.frame[0], fx.s2c.frame_len[0], &rsp), 0);
	CU_ASSERT(rsp.has_read_only && !rsp.read_only && rsp.session_id != 0);
	CU_ASSERT(rsp.passwd_len == 16 && rsp.timeout_ms == cr->timeout_ms);
	if (cr->session_id != 0) /* a reconnect gets its own session back */
		CU_ASSERT(rsp.session_id == cr->session_id &&
			  memcmp(rsp.passwd, cr->passwd, ZKP_PASSWD_LEN) == 0);
	/* re-encoding gives the server's exact 41 framed bytes */
	struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
	size_t s = zkp_frame_begin(&w);
	zkp_encode_connect_rsp(&w, &rsp);
	CU_ASSERT_EQUAL(zkp_frame_end(&w, s), 0);
	CU_ASSERT(w.len == 41 && memcmp(wbuf, fx.s2c.bytes, 41) == 0);
}

static void fx_check_request(const struct zkp_request *d)
{
	if (d->type == ZK_OP_CREATE2) {
		CU_ASSERT(str_eq(d->op.path, "/tern-fx/c2") && d->op.data_len == 20);
		CU_ASSERT(d->op.acl.count == 1 && str_eq(d->op.acl.v[0].id.scheme, "world"));
	}
	if (d->type == ZK_OP_MULTI && d->op.sub_count == 2)
		CU_ASSERT(d->op.sub[1].type == ZK_OP_CHECK && d->op.sub[1].version == 99);
	if (d->type == ZK_OP_AUTH)
		CU_ASSERT(d->xid == ZKP_XID_AUTH && str_eq(d->auth.scheme, "digest") &&
			  d->auth.auth_len == 3);
	if (d->type == ZK_OP_CREATETTL)
		CU_ASSERT(d->op.ttl == 5000 && d->op.flags == ZK_CREATE_TTL);
	if (d->type == ZK_OP_CREATECONTAINER)
		CU_ASSERT(d->op.flags == ZK_CREATE_CONTAINER && str_eq(d->op.path, "/jx/cont"));
	if (d->type == ZK_OP_ADDWATCH)
		CU_ASSERT(d->op.mode == ZK_ADDWATCH_PERSISTENT_RECURSIVE);
	if (d->type == ZK_OP_REMOVEWATCHES)
		CU_ASSERT(d->op.mode == ZK_WATCHER_ANY);
}

static void fx_requests(void)
{
	CU_ASSERT_FATAL(fx.c2s.count > 4);
	for (uint32_t i = 1; i < fx.c2s.count; i++) {
		struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
		struct zkp_request d;
		CU_ASSERT_EQUAL_FATAL(
		    zkp_decode_request(fx.c2s.frame[i], fx.c2s.frame_len[i], &a, &d), ZKP_DEC_OK);
		CU_ASSERT_EQUAL(d.trailing_bytes, 0u);
		fx.xids[i] = d.xid;
		fx.types[i] = d.type;
		fx.seen[d.type & 127]++;
		fx_check_request(&d);
		if (d.type == ZK_OP_SETWATCHES || d.type == ZK_OP_SETWATCHES2) {
			fx.setwatches = d;
			for (int k = 0; k < ZKP_WL_COUNT; k++)
				fx.setwatches_counts[k] = d.watches.lists[k].count;
		}
		struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
		CU_ASSERT_EQUAL(zkp_encode_request(&w, &d), 0);
		CU_ASSERT(w.len == fx.c2s.frame_len[i] &&
			  memcmp(wbuf, fx.c2s.frame[i], w.len) == 0);
	}
	CU_ASSERT_EQUAL(fx.types[fx.c2s.count - 1], ZK_OP_CLOSESESSION);
}

static int32_t fx_type_of(int32_t xid)
{
	for (uint32_t i = 1; i < fx.c2s.count; i++)
		if (fx.xids[i] == xid)
			return fx.types[i];
	return -1000;
}

static void fx_check_reply(const struct zkp_response *d)
{
	if (d->hdr.xid == ZKP_XID_WATCH) {
		CU_ASSERT(d->event.state == 3 && d->event.type > 0);
		return;
	}
	if (d->type == ZK_OP_CREATE && d->hdr.err == 0 && strstr(d->path, "seq-"))
		CU_ASSERT(str_eq(d->path, "/tern-fx/seq-0000000000"));
	if (d->type == ZK_OP_MULTI && d->multi_count == 2) {
		/* failed multi: ok-then-rolled-back, BadVersion; outer err stays 0 */
		CU_ASSERT(d->hdr.err == 0 && d->multi[0].type == ZK_OP_ERROR &&
			  d->multi[0].err == 0);
		CU_ASSERT(d->multi[1].type == ZK_OP_ERROR && d->multi[1].err == ZK_EBADVERSION);
	}
	if (d->type == ZK_OP_MULTI && d->multi_count == 4 && d->multi[0].type == ZK_OP_CREATE) {
		CU_ASSERT(str_eq(d->multi[0].path, "/tern-fx/t2"));
		CU_ASSERT(d->multi[1].type == ZK_OP_SETDATA && d->multi[1].stat.version == 1);
		CU_ASSERT(d->multi[2].type == ZK_OP_CHECK && d->multi[3].type == ZK_OP_DELETE);
	}
	/* Clients never see the container/TTL owner markers: ZooKeeper reports
	 * ephemeralOwner 0 for them (DataNode.getClientEphemeralOwner). */
	if (d->type == ZK_OP_CREATETTL || d->type == ZK_OP_CREATECONTAINER)
		CU_ASSERT(d->stat.czxid > 0 && d->stat.ephemeral_owner == 0);
	if (d->type == ZK_OP_GETEPHEMERALS)
		CU_ASSERT(d->names.count == 1 && str_eq(d->names.v[0], "/jx/eph"));
	if (d->type == ZK_OP_GETALLCHILDRENNUMBER)
		CU_ASSERT_EQUAL(d->number, 3);
	if (d->type == ZK_OP_WHOAMI)
		CU_ASSERT(d->who.count == 1 && str_eq(d->who.v[0].scheme, "ip"));
}

static void fx_replies(void)
{
	for (uint32_t i = 1; i < fx.s2c.count; i++) {
		int32_t xid = (int32_t)tn_load_be32(fx.s2c.frame[i]);
		/* for xid -1 any known type will do: the header decides */
		int32_t type = xid == ZKP_XID_WATCH ? ZK_OP_GETDATA : fx_type_of(xid);
		struct tn_arena a = tn_arena_init(arena_mem, sizeof(arena_mem));
		struct zkp_response d;
		CU_ASSERT_EQUAL_FATAL(
		    zkp_decode_response(fx.s2c.frame[i], fx.s2c.frame_len[i], type, &a, &d), 0);
		fx_check_reply(&d);
		fx.events += xid == ZKP_XID_WATCH;
		fx.multis += type == ZK_OP_MULTI;
		struct tn_wr w = tn_wr_init(wbuf, sizeof(wbuf));
		CU_ASSERT_EQUAL(zkp_encode_response(&w, &d), 0);
		if (w.len != fx.s2c.frame_len[i] || memcmp(wbuf, fx.s2c.frame[i], w.len) != 0) {
			CU_FAIL("re-encoded reply differs from ZooKeeper's bytes");
			fprintf(stderr, "reply %u xid %d type %d\n", i, xid, type);
		}
	}
}

static void fx_run(const char *name)
{
	memset(&fx, 0, sizeof(fx));
	CU_ASSERT_EQUAL_FATAL(fx_load(name, "c2s", &fx.c2s), 0);
	CU_ASSERT_EQUAL_FATAL(fx_load(name, "s2c", &fx.s2c), 0);
	fx_handshake();
	fx_requests();
	fx_replies();
}

static void test_real_kazoo(void)
{
	fx_run("kazoo");
	CU_ASSERT_EQUAL(fx.cr.session_id, 0);
	CU_ASSERT_EQUAL(fx.events, 2u);
	CU_ASSERT_EQUAL(fx.multis, 2u);
	CU_ASSERT(fx.seen[ZK_OP_AUTH] == 1 && fx.seen[ZK_OP_CREATE2] == 1 &&
		  fx.seen[ZK_OP_SETACL] == 1);
}

/* The Java client lost its connection after setting watches: the second
 * connection resumes the session and re-registers them with SetWatches2.
 * (3.8.0's client sends it with a normal xid, not -8; the reply echoes it.) */
static void test_real_java_reconnect(void)
{
	fx_run("javarc");
	CU_ASSERT(fx.cr.session_id != 0 && fx.cr.last_zxid_seen > 0);
	CU_ASSERT_EQUAL(fx.seen[ZK_OP_SETWATCHES2 & 127], 1u);
	CU_ASSERT(fx.setwatches.watches.relative_zxid == fx.cr.last_zxid_seen);
	/* get -w /rc, stat -w /nope, ls -w /, addWatch /rc (persistent recursive) */
	const int32_t want[ZKP_WL_COUNT] = {1, 1, 1, 0, 1};
	CU_ASSERT_EQUAL(memcmp(fx.setwatches_counts, want, sizeof(want)), 0);
	CU_ASSERT(fx.events >= 2);
}

static void test_real_java_cli(void)
{
	fx_run("java");
	CU_ASSERT_EQUAL(fx.cr.session_id, 0);
	CU_ASSERT_EQUAL(fx.events, 1u);
	CU_ASSERT_EQUAL(fx.multis, 1u);
	const int32_t want[] = {ZK_OP_CREATECONTAINER,      ZK_OP_CREATETTL, ZK_OP_GETEPHEMERALS,
				ZK_OP_GETALLCHILDRENNUMBER, ZK_OP_ADDWATCH,  ZK_OP_WHOAMI,
				ZK_OP_REMOVEWATCHES,        ZK_OP_SYNC,      ZK_OP_GETCHILDREN2};
	for (size_t i = 0; i < TN_ARRAY_LEN(want); i++)
		CU_ASSERT(fx.seen[want[i] & 127] == 1);
}

static CU_TestInfo tests[] = {
    {"frame_len", test_frame_len},
    {"frame_begin_end_overflow", test_frame_begin_end_overflow},
    {"4lw", test_4lw},
    {"connect_req", test_connect_req},
    {"connect_rsp_41_bytes", test_connect_rsp_41_bytes},
    {"create_bytes", test_create_bytes},
    {"request_roundtrip_all", test_request_roundtrip_all},
    {"request_truncated_every_length", test_request_truncated_every_length},
    {"request_trailing_ignored", test_request_trailing_ignored},
    {"request_bad_strings_and_counts", test_request_bad_strings_and_counts},
    {"request_unimplemented", test_request_unimplemented},
    {"multi_rules", test_multi_rules},
    {"arena_limits", test_arena_limits},
    {"request_encode_overflow", test_request_encode_overflow},
    {"response_roundtrip_all", test_response_roundtrip_all},
    {"response_errors_header_only", test_response_errors_header_only},
    {"watch_event_bytes", test_watch_event_bytes},
    {"multi_response_bytes", test_multi_response_bytes},
    {"real_kazoo", test_real_kazoo},
    {"real_java_cli", test_real_java_cli},
    {"real_java_reconnect", test_real_java_reconnect},
    {"stat_owner_markers_hidden", test_stat_owner_markers_hidden},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"zkp", NULL, NULL, NULL, NULL, tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
