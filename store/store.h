/* store/store.h: the only store header other modules include.
 *
 * The store holds ZooKeeper's data tree for one server: znodes with their
 * Stat, data and ACLs; watches; the sessions table; the txn codec; the txn
 * log (WAL) with io_uring group commit; fuzzy snapshots and recovery.
 *
 * Threads. One writer thread (the apply thread) calls store_prep() and
 * store_apply(); nothing else mutates the tree. Any number of reader threads
 * call the read functions without locks: the store uses liburcu's QSBR flavour,
 * so a reader registers once (store_reader_register) and announces a quiescent
 * state once per loop turn (store_quiescent). Pointers a read returns stay valid
 * until that thread's next quiescent state. Watch registration and the session
 * table are thread-safe but may take a short internal lock (they are not on
 * the plain read path).
 *
 * Errors. Functions returning int give >= 0 on success and -errno (or
 * -TN_E*) on failure, except where a ZooKeeper code (enum zk_err, 0 or < 0)
 * is documented: those are what a client sees.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tn_arena.h"
#include "store/store-t.h"

#define STORE_DATA_MAX_DEFAULT 0xfffffu /* jute.maxbuffer */
#define STORE_AUTH_MAX 16               /* ids one session may hold */

struct store;

struct store_cfg {
	uint32_t data_max_bytes;        /* largest znode data; default STORE_DATA_MAX_DEFAULT */
	bool extended_types;            /* TTL nodes allowed (zookeeper.extendedTypesEnabled) */
	const char *super_digest;       /* "super:<base64 sha1>" or NULL */
	bool skip_acl;                  /* zookeeper.skipACL */
	uint64_t container_never_used_ms; /* reap never-used containers after this; 0 = never */
};

/* The ids a session has authenticated as; @super bypasses ACL checks. */
struct store_auth {
	uint32_t count;
	struct zk_id ids[STORE_AUTH_MAX];
	bool super;
};

/* ---- lifecycle (store/ztree.c) ---- */

/* A new tree holding /, /zookeeper, /zookeeper/quota and /zookeeper/config.
 * @cfg is copied (super_digest too). Return 0, -ENOMEM. */
int store_create(struct store **out, const struct store_cfg *cfg);
/* Free the store. No reader may be inside a read. */
void store_destroy(struct store *s);

/* RCU: call once per reader thread, and unregister before the thread ends. */
void store_reader_register(void);
void store_reader_unregister(void);
/* Announce a quiescent state: the caller holds no pointer from a read. */
void store_quiescent(void);
/* Writer: run deferred frees now (tests, shutdown). Blocks for a grace period. */
void store_reclaim(struct store *s);

/* ---- writer side: prep and apply (store/prep.c, store/apply.c) ---- */

struct store_req {
	struct txn_hdr hdr;              /* session, cxid, zxid, time_ms set by the caller */
	const struct zk_op *op;          /* a write op, multi, or createSession/closeSession */
	const struct store_auth *auth;   /* the caller's ids, for ACL checks; NULL = none */
	int32_t session_timeout_ms;      /* createSession */
};

/* Turn @req into an idempotent txn in @out, allocating from @a. Checks
 * arguments, paths, ACLs, versions, parents and ephemeral rules against the
 * tree plus every txn prepped but not yet applied (an overlay), so many writes
 * can be in flight. Writer thread only.
 * Return ZK_OK (out is a write txn), or a zk_err: then @out is an ERROR txn
 * (for a multi, a MULTI of per-op ERROR txns: 0 before the failing op, its
 * code, ZK_ERUNTIMEINCONSISTENCY after). -ENOMEM/-EMSGSIZE if @a is too small. */
int store_prep(struct store *s, const struct store_req *req, struct txn *out, struct tn_arena *a);

/* Forget the overlay (after a failed log write, or a leader change). */
void store_prep_reset(struct store *s);

struct store_result {
	int32_t type;      /* op type of the result: create results of createTTL/container are CREATE2 */
	int32_t err;       /* zk_err */
	const char *path;  /* create: the created path */
	struct zstat stat; /* create2/setData/setACL */
};

struct store_apply_out {
	const struct store_result *results; /* 1 for a single op, sub_count for a multi */
	uint32_t result_count;
	const struct store_event *events;   /* watch events, in delivery order */
	uint32_t event_count;
};

/* Apply @t (zxid greater than the last applied, or replay: any order-preserving
 * re-apply is harmless). Fills @out with memory the store owns until the next
 * store_apply. Writer thread only. Return 0, -ENOMEM (store cap), -EINVAL. */
int store_apply(struct store *s, const struct txn *t, struct store_apply_out *out);

/* Show a config in /zookeeper/config outside the log (ZooKeeper's static
 * config at start, and its version once a leader activated it), unless the
 * node holds one at least as new (mzxid >= @zxid, @zxid != 0). @zxid 0:
 * data only; else the Stat becomes mzxid @zxid, mtime @time_ms, version -1.
 * Writer thread only. Return 0, -EINVAL, -ENOMEM. */
int store_config_init(struct store *s, const void *data, int32_t len, tn_zxid zxid,
		      int64_t time_ms);

/* Highest zxid applied. Any thread. */
tn_zxid store_last_zxid(const struct store *s);

/* ---- reads (any registered reader thread, lock-free) ---- */

struct store_node_view {
	struct zstat stat;
	const uint8_t *data;
	int32_t data_len;                /* -1 = null */
	const struct zk_acl_list *acl;
};

/* Return ZK_OK or ZK_ENONODE. */
int store_get(struct store *s, const char *path, struct store_node_view *out);

/* Call @fn for each child name of @path (unordered); stops early if @fn
 * returns non-zero. @stat (may be NULL) gets the parent's Stat.
 * Return ZK_OK, ZK_ENONODE, or @fn's non-zero value. */
int store_children(struct store *s, const char *path, struct zstat *stat,
		   int (*fn)(void *arg, const char *name), void *arg);

/* Number of all descendants of @path (getAllChildrenNumber). ZK_OK/ZK_ENONODE. */
int store_count_descendants(struct store *s, const char *path, int32_t *out);

/* Call @fn for each ephemeral path of @session starting with @prefix. */
int store_ephemerals(struct store *s, uint64_t session, const char *prefix,
		     int (*fn)(void *arg, const char *path), void *arg);

/* True if @auth may do @perm on a node with @acl (super and skip_acl pass). */
bool store_acl_allows(const struct store *s, const struct zk_acl_list *acl, int32_t perm,
		      const struct store_auth *auth);

/* ---- ACL helpers (store/acl.c) ---- */

/* "user:password" -> "user:base64(sha1(user:password))" into @out.
 * Return length, -EINVAL (no ':'), -ENOSPC. */
int store_digest_id(const char *user_password, char *out, size_t cap);

/* ---- watches (store/watch.c; thread-safe, short internal lock) ---- */

enum store_watch_kind { STORE_WATCH_DATA, STORE_WATCH_EXIST, STORE_WATCH_CHILD,
			STORE_WATCH_PERSISTENT, STORE_WATCH_RECURSIVE };

/* Register a watch of @session on @path, as if set when the client had seen
 * @rel_zxid (SetWatches rules): if the node already changed past @rel_zxid the
 * watch fires now instead and the event is written to @fired (return 1);
 * otherwise it is registered (return 0). A reader passes the mzxid (data/exist
 * on a present node), pzxid (child) it read, or its read zxid; persistent kinds
 * are just registered. Return 0, 1, -ENOMEM. */
int store_watch_add(struct store *s, uint64_t session, const char *path,
		    enum store_watch_kind kind, tn_zxid rel_zxid, struct store_event *fired);

/* removeWatches/checkWatches: @type is ZK_WATCHER_*; @dry_run only checks.
 * Return ZK_OK or ZK_ENOWATCHER. */
int store_watch_remove(struct store *s, uint64_t session, const char *path, int32_t type,
		       bool dry_run);

/* Drop every watch of @session (session closed or expired). */
void store_watch_drop_session(struct store *s, uint64_t session);

struct store_watch_stats {
	uint64_t sessions; /* sessions with at least one watch */
	uint64_t paths;    /* distinct watched paths */
	uint64_t total;    /* watches */
};
void store_watch_stats(struct store *s, struct store_watch_stats *out);
/* wchc/wchp: call @fn once per (session, path) watch. */
void store_watch_foreach(struct store *s, void (*fn)(void *arg, uint64_t session, const char *path),
			 void *arg);

/* ---- sessions table (store/session.c; thread-safe) ---- */

/* Return true and the timeout if @session is open. */
bool store_session_get(struct store *s, uint64_t session, int32_t *timeout_ms);
/* Call @fn for each open session. */
void store_session_foreach(struct store *s, void (*fn)(void *arg, uint64_t session,
						       int32_t timeout_ms), void *arg);
uint64_t store_session_count(struct store *s);

/* ---- containers and TTL nodes (store/ztree.c) ---- */

/* Call @fn for each container that is empty and has had a child (or is older
 * than cfg.container_never_used_ms) and each TTL node that is empty and
 * unmodified for its TTL at @now_ms. The caller turns each into a
 * DELETECONTAINER (container) or DELETE (TTL) request; prep re-checks. */
void store_reap_scan(struct store *s, uint64_t now_ms,
		     void (*fn)(void *arg, const char *path, bool container), void *arg);

/* ---- stats and digest ---- */

struct store_stats {
	uint64_t node_count;      /* znodes, root included */
	uint64_t ephemeral_count;
	uint64_t data_bytes;      /* sum of path + data lengths (approximate_data_size) */
	uint64_t mem_bytes;       /* bytes the store holds from the allocator */
	tn_zxid last_zxid;
};
void store_stats(struct store *s, struct store_stats *out);

/* An order-independent 64-bit digest of every node's path, data, Stat and
 * ACL. Equal trees give equal digests. Any registered reader thread. */
uint64_t store_digest(struct store *s);

/* Walk every node depth-first, parents before children (snapshots, dumps).
 * A registered reader thread; fuzzy if the writer runs meanwhile. */
int store_walk(struct store *s, int (*fn)(void *arg, const char *path,
					  const struct store_node_view *v), void *arg);

/* ---- txn codec (store/txn.c) ---- */

/* Bytes txn_encode() will write for @t. */
size_t txn_encoded_len(const struct txn *t);
/* Encode @t into @buf. Return the length, or -EMSGSIZE if @cap is short. */
int txn_encode(const struct txn *t, uint8_t *buf, size_t cap);
/* Decode one txn; strings and arrays go to @a. Return 0, -EBADMSG (malformed),
 * -EMSGSIZE (@a too small). Never reads past @len. */
int txn_decode(const uint8_t *buf, size_t len, struct txn *out, struct tn_arena *a);

/* ---- txn log (store/wal.c, store/wal_uring.c) ---- */

struct wal;

struct wal_cfg {
	const char *dir;           /* dataLogDir/version-2 */
	uint64_t segment_bytes;    /* preallocation size of a segment (default 64 MiB) */
	bool force_sync;           /* false: no fdatasync (forceSync=no), and srvr says so */
	uint32_t batch_bytes_max;  /* largest group commit (default 4 MiB) */
};

/* Called on the log thread with the highest zxid now durable (every record
 * appended up to it is on disk). @err < 0 means the disk failed: the WAL
 * stops accepting appends. */
typedef void (*wal_cb)(void *arg, tn_zxid durable_zxid, int err);

/* Open (creating @cfg->dir if needed), scan every segment, verify CRCs,
 * truncate a torn tail, and start the log thread. Corruption before the tail
 * fails with -TN_ECORRUPT and a logged message naming file and offset.
 * Return 0, -TN_ECORRUPT, -errno. */
int wal_open(struct wal **out, const struct wal_cfg *cfg, wal_cb cb, void *arg);
/* Flush what is queued, wait for it, stop the thread, close files. */
void wal_close(struct wal *w);
/* Highest zxid in the log (appended, durable or not). */
tn_zxid wal_last_zxid(struct wal *w);
/* Queue one record; @rec is copied. Records appended while a write+fdatasync
 * is in flight go out together in the next one. Thread-safe.
 * Return 0, -EINVAL (zxid not above the last), -TN_ELIMIT (record too big),
 * -EIO (the log failed earlier), -TN_ESHUTDOWN. */
int wal_append(struct wal *w, tn_zxid zxid, const void *rec, uint32_t len);
/* Block until every record appended before the call is durable. Return 0 or -EIO. */
int wal_sync(struct wal *w);
/* Start a new segment with the next append (after a snapshot). */
void wal_roll(struct wal *w);

#define WAL_FSYNC_BUCKETS 20u      /* fsync time histogram: le 16 us << k, the last +Inf */
#define WAL_FSYNC_US_MIN 16u
struct wal_stats {
	uint64_t records, batches, fsyncs, bytes;
	uint64_t fsync_ns_total, fsync_ns_max;
	uint64_t batch_records_max;   /* most records one group commit made durable */
	uint64_t fsync_hist[WAL_FSYNC_BUCKETS]; /* fsyncs by write+fsync time (not cumulative) */
};
void wal_stats(struct wal *w, struct wal_stats *out);

/* Reading the log: records with zxid >= @from, in order, across segments. */
struct wal_iter;
int wal_iter_open(struct wal_iter **out, const char *dir, tn_zxid from);
/* Return 1 with the next record (valid until the next call), 0 at the end,
 * -TN_ECORRUPT (logged with file and offset). */
int wal_iter_next(struct wal_iter *it, tn_zxid *zxid, const uint8_t **rec, uint32_t *len);
void wal_iter_close(struct wal_iter *it);

/* Delete segments holding only records below @keep_zxid. Return count deleted. */
int wal_purge(const char *dir, tn_zxid keep_zxid);
/* Drop every record above @zxid (Zab TRUNC). The WAL must be closed. */
int wal_truncate(const char *dir, tn_zxid zxid);

/* ---- snapshots and recovery (store/snap.c, store/recover.c) ---- */

/* Write a fuzzy snapshot of @s to @dir as snapshot.<hex zxid>, where zxid is
 * store_last_zxid() when the walk starts (replay from it makes it exact).
 * Written to a temp file, fsynced, renamed. Runs on any registered reader
 * thread while the writer applies. Return 0 and *@zxid, or -errno. */
int snap_write(struct store *s, const char *dir, tn_zxid *zxid);
/* Load one snapshot file into a new store. Return 0, -TN_ECORRUPT, -errno. */
int snap_load(const char *path, const struct store_cfg *cfg, struct store **out, tn_zxid *zxid);
/* Keep the newest @retain snapshots in @snap_dir (at least 3 kept if @retain
 * < 3, as ZooKeeper) and the log segments they need in @log_dir.
 * Return files deleted or -errno. */
int snap_purge(const char *snap_dir, const char *log_dir, unsigned retain);

/* Recover a store: the newest valid snapshot in @snap_dir (older ones if the
 * newest is corrupt; an empty tree if none), then replay @log_dir from its
 * zxid. Return 0 with *@out, -TN_ECORRUPT, -errno. */
int store_recover(const struct store_cfg *cfg, const char *snap_dir, const char *log_dir,
		  struct store **out);

#endif
