/* dataplane/zkp.h: the ZooKeeper client wire-protocol codec (ZOOKEEPER.md §1).
 *
 * A pure codec: no I/O, no malloc, no global state. Decoders read a bounded
 * cursor over one frame's payload and place every string, byte buffer and
 * array in a caller-provided struct tn_arena (so the input buffer may be
 * reused as soon as a decoder returns). Encoders append to a caller's
 * struct tn_wr; past its capacity the writer keeps counting, so a reply frame
 * is built in one pass and, on -EMSGSIZE, w->len says how big a buffer the
 * next attempt needs.
 *
 * Both sides live here: the server decodes requests and encodes replies; the
 * client tools (tern CLI, tern-bench) encode requests and decode replies.
 *
 * Wire format (all big-endian jute, §1.2):
 *
 *   frame          int32 len (0..jute.maxbuffer) | len bytes
 *   ConnectRequest int32 protoVer | int64 lastZxidSeen | int32 timeOut |
 *                  int64 sessionId | buffer passwd (16) | [bool readOnly]   45 B
 *   ConnectResp    int32 protoVer | int32 timeOut | int64 sessionId |
 *                  buffer passwd (16) | [bool readOnly]                      37 B
 *   request        RequestHeader{int32 xid; int32 type} | body by type (§1.5)
 *   reply          ReplyHeader{int32 xid; int64 zxid; int32 err} | body iff err == 0
 *   multi          { MultiHeader{int32 type; bool done; int32 err} | body }* |
 *                  MultiHeader{-1, true, -1}
 *   watch event    ReplyHeader{-1, zxid, 0} |
 *                  WatcherEvent{int32 type; int32 state (3); ustring path}
 *
 * Policies (matching Apache ZooKeeper 3.9 where it is lenient):
 * - Trailing bytes after a request or reply body are ignored (Java reads a
 *   record from the frame and never checks the rest); zkp_request.trailing_bytes
 *   reports how many there were.
 * - Strings holding a NUL byte are rejected (-EBADMSG): tern keeps C strings.
 * - A null (-1) path is rejected; null data, null ACL vectors and null
 *   reconfig strings are kept (count/len -1, pointer NULL).
 * - multi holds only write ops (create*, delete, setData, check) and multiRead
 *   only getData/getChildren; mixing kinds, nesting, or any other type is
 *   -EBADMSG (Java: IOException, the request is dropped). A MultiHeader with
 *   done = true ends the list whatever its type and err (as in Java).
 * - Unknown opcodes (also notification 0, createSession -10 and error -1),
 *   and a standalone check (13), decode to ZKP_DEC_UNIMPLEMENTED: the server
 *   replies err -6 and closes.
 * - The codec does not tie xids to types: the Java 3.8 client was seen
 *   sending setWatches2 with a normal xid (not -8), so echo what came.
 */
#ifndef ZKP_H
#define ZKP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tn_arena.h"
#include "common/tn_rd.h"
#include "store/store-t.h"

#define ZKP_FRAME_MAX 0xfffffu /* jute.maxbuffer default */
#define ZKP_LEN_PREFIX 4       /* bytes of the frame length */
#define ZKP_PASSWD_LEN 16      /* session password bytes */
#define ZKP_CONNECT_REQ_LEN 45 /* ConnectRequest body with readOnly */
#define ZKP_CONNECT_RSP_LEN 37 /* ConnectResponse body with readOnly */
#define ZKP_REQ_HDR_LEN 8
#define ZKP_REPLY_HDR_LEN 16
#define ZKP_STAT_LEN 68
#define ZKP_MULTI_HDR_LEN 9

/* Special xids (§1.4). */
#define ZKP_XID_WATCH (-1)
#define ZKP_XID_PING (-2)
#define ZKP_XID_AUTH (-4)
#define ZKP_XID_SETWATCHES (-8)

#define ZKP_WATCH_STATE_SYNC_CONNECTED 3 /* the only state a server sends */

/* Arena bytes that always suffice to decode a frame payload of @len bytes:
 * the worst case is a multi of minimal getData ops (14 wire bytes each, one
 * struct zk_op plus an empty string each); zkp.c asserts the ratio holds. */
#define ZKP_ARENA_FOR(len) ((size_t)(len)*8u + 256u)
/* The same for a reply payload (a multi result is larger than its 9 wire bytes). */
#define ZKP_ARENA_FOR_REPLY(len) ((size_t)(len)*16u + 256u)

/* ---- framing and four-letter words ---- */

enum { ZKP_FRAME_NEED_MORE = 0, ZKP_FRAME_OK = 1 };

/**
 * Parse the length prefix at @buf (@len bytes buffered so far).
 * *@frame_len is set to the payload length (without the prefix) as soon as
 * the 4 prefix bytes are there.
 * Return: ZKP_FRAME_OK (4 + *@frame_len bytes are buffered), ZKP_FRAME_NEED_MORE,
 * -EBADMSG (length < 0 or > @max: ZooKeeper closes with "Len error").
 */
int zkp_frame_len(const void *buf, size_t len, uint32_t max, uint32_t *frame_len);

/* Reserve a length prefix at the writer's position; returns its offset for zkp_frame_end. */
size_t zkp_frame_begin(struct tn_wr *w);
/* Patch the prefix reserved at @start with the bytes written since.
 * Return: 0, -EMSGSIZE (the buffer overflowed: w->len is the size needed). */
int zkp_frame_end(struct tn_wr *w, size_t start);

enum zkp_4lw {
	ZKP_4LW_NONE = 0,
	ZKP_4LW_RUOK,
	ZKP_4LW_SRVR,
	ZKP_4LW_STAT,
	ZKP_4LW_MNTR,
	ZKP_4LW_CONF,
	ZKP_4LW_CONS,
	ZKP_4LW_CRST,
	ZKP_4LW_SRST,
	ZKP_4LW_ENVI,
	ZKP_4LW_WCHS,
	ZKP_4LW_WCHC,
	ZKP_4LW_WCHP,
	ZKP_4LW_DIRS,
	ZKP_4LW_ISRO,
	ZKP_4LW_DUMP,
	ZKP_4LW_GTMK,
	ZKP_4LW_STMK,
	ZKP_4LW_HASH,
	ZKP_4LW_COUNT
};

/**
 * Check the first bytes of a fresh connection for a four-letter word (§1.16).
 * stmk is followed by an 8-byte trace mask, which the caller reads.
 * Return: a ZKP_4LW_* (> 0), ZKP_4LW_NONE (a length prefix, go on with the
 * handshake), -EAGAIN (fewer than 4 bytes buffered).
 */
int zkp_4lw_detect(const void *buf, size_t len);
/* "ruok" etc. for a ZKP_4LW_* value; NULL for anything else. */
const char *zkp_4lw_name(int word);
/* stmk's argument: the int64 trace mask in the 8 bytes after the word.
 * Return: 0, -EAGAIN (fewer than 12 bytes buffered). */
int zkp_4lw_stmk_mask(const void *buf, size_t len, int64_t *mask);

/* ---- handshake (§1.3) ---- */

struct zkp_connect_req {
	int32_t protocol_version;
	int64_t last_zxid_seen;
	int32_t timeout_ms;
	int64_t session_id;
	int32_t passwd_len; /* 0..16 on the wire; -1 = null */
	uint8_t passwd[ZKP_PASSWD_LEN];
	bool read_only;
	bool has_read_only; /* the trailing byte was present (3.4+ clients) */
};

struct zkp_connect_rsp {
	int32_t protocol_version;
	int32_t timeout_ms; /* 0 = session expired or invalid */
	int64_t session_id;
	int32_t passwd_len;
	uint8_t passwd[ZKP_PASSWD_LEN];
	bool read_only;
	bool has_read_only; /* server: copy from the request */
};

/* Decode a ConnectRequest payload. Return: 0, -EBADMSG (truncated, or a
 * password longer than 16 bytes). Bytes after readOnly are ignored. */
int zkp_decode_connect_req(const void *buf, size_t len, struct zkp_connect_req *out);
/* Return: 0, -EMSGSIZE. Body only; wrap in zkp_frame_begin/end. */
int zkp_encode_connect_req(struct tn_wr *w, const struct zkp_connect_req *req);
/* Return: 0, -EMSGSIZE. 37 bytes with readOnly (41 framed), 36 without. */
int zkp_encode_connect_rsp(struct tn_wr *w, const struct zkp_connect_rsp *rsp);
/* Return: 0, -EBADMSG. */
int zkp_decode_connect_rsp(const void *buf, size_t len, struct zkp_connect_rsp *out);

/* ---- requests ---- */

/* A jute vector<ustring>: count -1 = null. */
struct zkp_strv {
	int32_t count;
	const char *const *v;
};

enum zkp_watch_list {
	ZKP_WL_DATA,
	ZKP_WL_EXIST,
	ZKP_WL_CHILD,
	ZKP_WL_PERSISTENT,
	ZKP_WL_PERSISTENT_RECURSIVE,
	ZKP_WL_COUNT
};

/* One decoded request. Bodies that fit struct zk_op live in @op (with
 * op.type == type); the others have their own fields:
 *   auth (100)           @auth (op unused)
 *   setWatches(2)        @watches (3 lists for 101, 5 for 105)
 *   reconfig (16)        @reconfig
 *   sasl (102)           token in op.data / op.data_len
 *   getEphemerals (103)  prefix in op.path
 *   multi/multiRead      op.sub / op.sub_count; a sub-op's type is its
 *                        MultiHeader type as sent (Java turns a create2 in a
 *                        multi into create, and picks createContainer/TTL by flags)
 *   check/remove/addWatch op.mode = watcher type / add mode
 *   ping, closeSession, whoAmI: no body */
struct zkp_request {
	int32_t xid;
	int32_t type; /* enum zk_opcode */
	struct zk_op op;
	struct {
		int32_t type;
		const char *scheme;
		const uint8_t *auth;
		int32_t auth_len;
	} auth;
	struct {
		int64_t relative_zxid;
		struct zkp_strv lists[ZKP_WL_COUNT]; /* [3], [4] only for setWatches2 */
	} watches;
	struct {
		const char *joining, *leaving, *new_members; /* NULL = null */
		int64_t cur_config_id;
	} reconfig;
	uint32_t trailing_bytes; /* ignored bytes after the body */
};

enum { ZKP_DEC_OK = 0, ZKP_DEC_UNIMPLEMENTED = 1 };

/**
 * Decode one request frame payload (RequestHeader + body) into @out; strings
 * and arrays go to @a (ZKP_ARENA_FOR(@len) bytes always suffice).
 * Return: ZKP_DEC_OK; ZKP_DEC_UNIMPLEMENTED (xid and type are set: reply -6
 * and close); -EBADMSG (malformed: close the connection); -EMSGSIZE (@a too small).
 */
int zkp_decode_request(const void *buf, size_t len, struct tn_arena *a, struct zkp_request *out);

/**
 * Client: encode RequestHeader + body of @req (not the length prefix).
 * Return: 0, -EMSGSIZE (w->len = size needed), -EINVAL (a type this codec
 * cannot encode, or a bad multi sub-op type).
 */
int zkp_encode_request(struct tn_wr *w, const struct zkp_request *req);

/* ---- replies ---- */

struct zkp_reply_hdr {
	int32_t xid;
	int64_t zxid;
	int32_t err; /* enum zk_err */
};

/* One result of a multi/multiRead reply. @type is the result type on the
 * wire: 1 create, 15 create2 (also for createTTL/createContainer), 2 delete,
 * 13 check, 5 setData, 4 getData, 8 getChildren, -1 error (then @err). */
struct zkp_multi_result {
	int32_t type;
	int32_t err;
	const char *path;    /* create, create2 */
	struct zstat stat;   /* create2, setData, getData */
	const uint8_t *data; /* getData */
	int32_t data_len;
	struct zkp_strv children; /* getChildren */
};

struct zkp_client_info {
	const char *scheme; /* ClientInfo.authScheme */
	const char *user;
};

/* One reply: the header, then the body of @type (the opcode of the request
 * this answers; the client knows it from its xid queue). Only the fields of
 * that body are used:
 *   create: path | create2/createContainer/createTTL: path, stat
 *   exists/setData/setACL: stat | getData, reconfig: data, stat
 *   getACL: acl, stat | getChildren: names | getChildren2: names, stat
 *   sync: path | getAllChildrenNumber: number | getEphemerals: names
 *   addWatch: number (ErrorResponse.err) | whoAmI: who | sasl: data
 *   multi/multiRead: multi, multi_count
 *   xid -1 (any @type): event
 *   no body: delete, ping, auth, setWatches(2), check/removeWatches,
 *   closeSession, and every reply with err != 0. */
struct zkp_response {
	struct zkp_reply_hdr hdr;
	int32_t type;
	const char *path;
	struct zstat stat;
	const uint8_t *data;
	int32_t data_len;
	struct zk_acl_list acl;
	struct zkp_strv names;
	int32_t number;
	struct {
		int32_t count;
		const struct zkp_client_info *v;
	} who;
	struct {
		int32_t type; /* ZK_EVENT_* */
		int32_t state;
		const char *path;
	} event;
	uint32_t multi_count;
	const struct zkp_multi_result *multi;
};

/* Client: the error a failed multi stands for: the first result code that
 * is neither 0 nor -2 RuntimeInconsistency (the C client's rule); 0 if none. */
int32_t zkp_multi_error(const struct zkp_multi_result *r, uint32_t n);

/* True if a reply to @type with err 0 carries a body. */
bool zkp_reply_has_body(int32_t type);

/* Server encoders: each appends one record. Return: 0, -EMSGSIZE. */
int zkp_encode_reply_hdr(struct tn_wr *w, int32_t xid, int64_t zxid, int32_t err);
int zkp_encode_stat(struct tn_wr *w, const struct zstat *st);
int zkp_encode_create_rsp(struct tn_wr *w, const char *path);
int zkp_encode_create2_rsp(struct tn_wr *w, const char *path, const struct zstat *st);
/* ExistsResponse, SetDataResponse, SetACLResponse. */
int zkp_encode_stat_rsp(struct tn_wr *w, const struct zstat *st);
/* GetDataResponse, also the reconfig reply. @len -1 = null data. */
int zkp_encode_getdata_rsp(struct tn_wr *w, const void *data, int32_t len, const struct zstat *st);
int zkp_encode_getacl_rsp(struct tn_wr *w, const struct zk_acl_list *acl, const struct zstat *st);
/* GetChildrenResponse and GetEphemeralsResponse: vector<ustring>. */
int zkp_encode_names_rsp(struct tn_wr *w, const char *const *names, int32_t count);
int zkp_encode_children2_rsp(struct tn_wr *w, const char *const *names, int32_t count,
			     const struct zstat *st);
int zkp_encode_sync_rsp(struct tn_wr *w, const char *path);
int zkp_encode_number_rsp(struct tn_wr *w, int32_t total); /* GetAllChildrenNumberResponse */
int zkp_encode_error_rsp(struct tn_wr *w, int32_t err);    /* ErrorResponse (addWatch) */
int zkp_encode_whoami_rsp(struct tn_wr *w, const struct zkp_client_info *v, int32_t count);
int zkp_encode_sasl_rsp(struct tn_wr *w, const void *token, int32_t len);
/* One multi result (MultiHeader + body), then zkp_encode_multi_end once. */
int zkp_encode_multi_result(struct tn_wr *w, const struct zkp_multi_result *r);
int zkp_encode_multi_end(struct tn_wr *w);
int zkp_encode_multi_rsp(struct tn_wr *w, const struct zkp_multi_result *r, uint32_t n);
/* A whole notification payload: ReplyHeader{-1, @zxid, 0} + WatcherEvent{@type, 3, @path}.
 * @zxid is the triggering txn's zxid (3.9+) or -1. */
int zkp_encode_watch_event(struct tn_wr *w, int64_t zxid, int32_t type, const char *path);

/**
 * Encode a whole reply payload from @rsp: header, then the body of @rsp->type
 * iff hdr.err == 0 and the type has one (xid -1: @rsp->event, state as given).
 * Return: 0, -EMSGSIZE, -EINVAL (unknown type or multi result type).
 */
int zkp_encode_response(struct tn_wr *w, const struct zkp_response *rsp);

/**
 * Client: decode one reply payload to a request of opcode @type into @out,
 * arrays and strings in @a (ZKP_ARENA_FOR_REPLY(@len) bytes always suffice). Return: 0, -EBADMSG,
 * -EMSGSIZE (@a too small), -EINVAL (@type unknown).
 */
int zkp_decode_response(const void *buf, size_t len, int32_t type, struct tn_arena *a,
			struct zkp_response *out);

#endif
