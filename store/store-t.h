/* store/store-t.h: record types shared by store/, dataplane/ (the jute codec
 * decodes into struct zk_op) and later consensus/. Only libc and common/ here.
 *
 * Strings are NUL-terminated C strings. Decoders place them (and arrays) in a
 * caller-provided struct tn_arena; the pointers are valid as long as it is.
 * Byte buffers keep ZooKeeper's null/empty distinction: len -1 = null.
 */
#ifndef STORE_T_H
#define STORE_T_H

#include <stdbool.h>
#include <stdint.h>

typedef uint64_t tn_zxid; /* epoch << 32 | counter */

#define ZK_EPOCH(z) ((uint32_t)((z) >> 32))
#define ZK_COUNTER(z) ((uint32_t)(z))

/* Operation codes (ZooDefs.OpCode). */
enum zk_opcode {
	ZK_OP_NOTIFICATION = 0,
	ZK_OP_CREATE = 1,
	ZK_OP_DELETE = 2,
	ZK_OP_EXISTS = 3,
	ZK_OP_GETDATA = 4,
	ZK_OP_SETDATA = 5,
	ZK_OP_GETACL = 6,
	ZK_OP_SETACL = 7,
	ZK_OP_GETCHILDREN = 8,
	ZK_OP_SYNC = 9,
	ZK_OP_PING = 11,
	ZK_OP_GETCHILDREN2 = 12,
	ZK_OP_CHECK = 13,
	ZK_OP_MULTI = 14,
	ZK_OP_CREATE2 = 15,
	ZK_OP_RECONFIG = 16,
	ZK_OP_CHECKWATCHES = 17,
	ZK_OP_REMOVEWATCHES = 18,
	ZK_OP_CREATECONTAINER = 19,
	ZK_OP_DELETECONTAINER = 20,
	ZK_OP_CREATETTL = 21,
	ZK_OP_MULTIREAD = 22,
	ZK_OP_AUTH = 100,
	ZK_OP_SETWATCHES = 101,
	ZK_OP_SASL = 102,
	ZK_OP_GETEPHEMERALS = 103,
	ZK_OP_GETALLCHILDRENNUMBER = 104,
	ZK_OP_SETWATCHES2 = 105,
	ZK_OP_ADDWATCH = 106,
	ZK_OP_WHOAMI = 107,
	ZK_OP_CREATESESSION = -10,
	ZK_OP_CLOSESESSION = -11,
	ZK_OP_ERROR = -1,
};

/* Error codes as on the wire (KeeperException.Code). */
enum zk_err {
	ZK_OK = 0,
	ZK_ESYSTEM = -1,
	ZK_ERUNTIMEINCONSISTENCY = -2,
	ZK_EDATAINCONSISTENCY = -3,
	ZK_ECONNECTIONLOSS = -4,
	ZK_EMARSHALLING = -5,
	ZK_EUNIMPLEMENTED = -6,
	ZK_EOPERATIONTIMEOUT = -7,
	ZK_EBADARGUMENTS = -8,
	ZK_EUNKNOWNSESSION = -12,
	ZK_ENEWCONFIGNOQUORUM = -13,
	ZK_ERECONFIGINPROGRESS = -14,
	ZK_EAPI = -100,
	ZK_ENONODE = -101,
	ZK_ENOAUTH = -102,
	ZK_EBADVERSION = -103,
	ZK_ENOCHILDRENFOREPHEMERALS = -108,
	ZK_ENODEEXISTS = -110,
	ZK_ENOTEMPTY = -111,
	ZK_ESESSIONEXPIRED = -112,
	ZK_EINVALIDCALLBACK = -113,
	ZK_EINVALIDACL = -114,
	ZK_EAUTHFAILED = -115,
	ZK_ESESSIONMOVED = -118,
	ZK_ENOTREADONLY = -119,
	ZK_EEPHEMERALONLOCALSESSION = -120,
	ZK_ENOWATCHER = -121,
	ZK_EREQUESTTIMEOUT = -122,
	ZK_ERECONFIGDISABLED = -123,
	ZK_ESESSIONCLOSEDREQUIRESASLAUTH = -124,
	ZK_EQUOTAEXCEEDED = -125,
	ZK_ETHROTTLEDOP = -127,
};

/* Permission bits. */
enum { ZK_PERM_READ = 1, ZK_PERM_WRITE = 2, ZK_PERM_CREATE = 4, ZK_PERM_DELETE = 8,
       ZK_PERM_ADMIN = 16, ZK_PERM_ALL = 31 };

/* Create flags (CreateMode). */
enum { ZK_CREATE_PERSISTENT = 0, ZK_CREATE_EPHEMERAL = 1, ZK_CREATE_SEQUENTIAL = 2,
       ZK_CREATE_EPHEMERAL_SEQUENTIAL = 3, ZK_CREATE_CONTAINER = 4, ZK_CREATE_TTL = 5,
       ZK_CREATE_SEQUENTIAL_TTL = 6 };

/* Watch event types (Watcher.Event.EventType). */
enum { ZK_EVENT_NONE = -1, ZK_EVENT_CREATED = 1, ZK_EVENT_DELETED = 2, ZK_EVENT_DATA_CHANGED = 3,
       ZK_EVENT_CHILDREN_CHANGED = 4 };

/* Watcher types for checkWatches/removeWatches. */
enum { ZK_WATCHER_CHILDREN = 1, ZK_WATCHER_DATA = 2, ZK_WATCHER_ANY = 3,
       ZK_WATCHER_PERSISTENT = 4, ZK_WATCHER_PERSISTENT_RECURSIVE = 5 };

/* addWatch modes. */
enum { ZK_ADDWATCH_PERSISTENT = 0, ZK_ADDWATCH_PERSISTENT_RECURSIVE = 1 };

/* ephemeralOwner markers. */
#define ZK_OWNER_CONTAINER 0x8000000000000000ull
#define ZK_OWNER_TTL_MASK 0xFF00000000000000ull
#define ZK_TTL_MAX 0xFFFFFFFFFFull /* 2^40 - 1 ms */

struct zstat {
	int64_t czxid, mzxid, ctime, mtime;
	int32_t version, cversion, aversion;
	int64_t ephemeral_owner;
	int32_t data_length, num_children;
	int64_t pzxid;
};

struct zk_id {
	const char *scheme; /* "world", "auth", "digest", "ip", "super", ... */
	const char *id;
};

struct zk_acl {
	int32_t perms;
	struct zk_id id;
};

struct zk_acl_list {
	int32_t count; /* -1 = null vector */
	const struct zk_acl *v;
};

/* One decoded client request body, or one op inside a multi. Which fields
 * matter depends on @type; the rest are zero. */
struct zk_op {
	int32_t type;          /* enum zk_opcode */
	const char *path;      /* create/delete/get/set/... and getEphemerals prefix */
	const uint8_t *data;   /* create/setData */
	int32_t data_len;      /* -1 = null */
	struct zk_acl_list acl;/* create/setACL */
	int32_t flags;         /* create mode */
	int64_t ttl;           /* createTTL */
	int32_t version;       /* delete/setData/setACL/check: expected, -1 = any */
	bool watch;            /* exists/getData/getChildren(2) */
	int32_t mode;          /* addWatch mode; watcher type for check/removeWatches */
	uint32_t sub_count;    /* multi/multiRead */
	struct zk_op *sub;
};

/* A txn header, as ordered by the sequencer. */
struct txn_hdr {
	uint64_t session;
	int32_t cxid;
	tn_zxid zxid;
	int64_t time_ms;
	int32_t type; /* enum zk_opcode of the txn (create, delete, multi, error, ...) */
};

/* An idempotent txn: applying it twice, or to a fuzzy snapshot that already
 * holds part of its effect, leaves the same tree (so replay is exact).
 *
 * Types and fields used:
 *   CREATE/CREATE2/CREATECONTAINER/CREATETTL: path (final, with any sequence
 *      suffix), data/data_len, acl, ephemeral_owner (session, container or TTL
 *      marker), parent_cversion (the parent's cversion after this create).
 *   DELETE/DELETECONTAINER: path.
 *   SETDATA: path, data/data_len, version (the node's new version).
 *   SETACL: path, acl, version (the new aversion).
 *   CHECK: path, version (only inside a multi; no effect).
 *   CREATESESSION: session in hdr, timeout_ms.
 *   CLOSESESSION: session in hdr; paths/path_count = its ephemerals to delete.
 *   ERROR: err (a failed request; also each op of a failed multi).
 *   MULTI: sub/sub_count; every sub shares hdr.zxid and hdr.time_ms.
 */
struct txn {
	struct txn_hdr hdr;
	int32_t type; /* for subs of a multi; equals hdr.type at top level */
	const char *path;
	const uint8_t *data;
	int32_t data_len;
	struct zk_acl_list acl;
	int64_t ephemeral_owner;
	int32_t parent_cversion;
	int32_t version;
	int32_t timeout_ms;
	int32_t err;
	uint32_t path_count;
	const char *const *paths;
	uint32_t sub_count;
	struct txn *sub;
};

/* A watch event to deliver to @session. */
struct store_event {
	uint64_t session;
	int32_t type;      /* ZK_EVENT_* */
	tn_zxid zxid;      /* the txn that fired it */
	const char *path;
};

#endif
