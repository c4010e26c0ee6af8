/* store/store_int.h: declarations shared inside store/ only.
 *
 * struct store is defined by the tree code (ztree.c and friends). Other store
 * files keep their own state behind the pointers below, so each part can
 * change its internals alone.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "store/store.h"

struct prep_state; /* prep.c: the overlay of prepped, unapplied changes */

/* prep.c sets *store_prep_free_slot(s) when it creates its overlay;
 * store_destroy() calls it with *store_prep_slot(s) if both are set. Going
 * through a pointer lets the tree code link (and be tested) without prep.c. */
typedef void (*store_prep_free_fn)(struct prep_state *p);
store_prep_free_fn *store_prep_free_slot(struct store *s);

/* acl.c: ZooKeeper's fixupACL for create/setACL. @out gets a deduplicated copy
 * of @in in @a, with "auth" entries expanded to @auth's authenticated ids.
 * Return ZK_OK, ZK_EINVALIDACL, or -EMSGSIZE (@a full). */
int store_acl_fixup(const struct zk_acl_list *in, const struct store_auth *auth,
		    struct tn_arena *a, struct zk_acl_list *out);

/* Snapshot loading (implemented by the tree code, called by snap.c).
 * Nodes arrive parents first. A node that already exists (/, /zookeeper...)
 * is replaced. numChildren is recomputed from the links, not taken from @st.
 * Return 0, -ENOENT (no parent), -EINVAL (bad path), -ENOMEM. */
int store_load_node(struct store *s, const char *path, const struct zstat *st,
		    const uint8_t *data, int32_t data_len, const struct zk_acl_list *acl);
int store_load_session(struct store *s, uint64_t session, int32_t timeout_ms);
void store_set_last_zxid(struct store *s, tn_zxid zxid);

/* The store's copy of its config and the prep overlay; the tree code must keep
 * these two members in struct store. */
const struct store_cfg *store_cfg_of(const struct store *s);
struct prep_state **store_prep_slot(struct store *s);

/* A fast 64-bit hash of @len bytes (paths, ACL lists, digests). */
uint64_t store_hash64(const void *p, size_t len, uint64_t seed);

/* Threads. The writer (store_apply, store_load_*) and every reader must be
 * registered RCU threads. A thread that calls a store function without
 * store_reader_register() is registered on first use (and unregistered when
 * it exits, by a pthread key destructor) but kept offline between store
 * calls: it never holds up a grace period, and the pointers a read gave it
 * stay valid only while no other thread changes the tree (single-threaded
 * tools and tests). store_rcu_enter() puts such a thread online and returns
 * true; pass that to store_rcu_exit(). Explicit readers are untouched. */
bool store_rcu_enter(void);
void store_rcu_exit(bool entered);

/* ---- snapshots (snap.c; used by recover.c, tern-inspect and fuzz_snap) ---- */

struct snap_decode_cb {
	/* Each returns 0 to go on, or a negative code that stops the decode. */
	int (*session)(void *arg, uint64_t session, int32_t timeout_ms);
	int (*node)(void *arg, const char *path, const struct zstat *st, const uint8_t *data,
		    int32_t data_len, const struct zk_acl_list *acl);
};

struct snap_info {
	tn_zxid zxid;
	uint32_t flags;
	uint64_t sessions, acls, nodes;
};

/* Decode a whole snapshot image in memory; no I/O, never reads past @len.
 * Callbacks may have run before a later error is found: the caller discards
 * what it built. Return 0 (and *@info), -TN_ECORRUPT (*@bad_off and *@why say
 * where and what), -ENOMEM, or a callback's code. */
int snap_decode(const uint8_t *buf, size_t len, const struct snap_decode_cb *cb, void *arg,
		struct snap_info *info, size_t *bad_off, const char **why);
/* The zxids of the snapshot.<zxid> files in @dir, newest first, in a malloc'd
 * array *@out (the caller frees it). Return the count or -errno. */
int snap_list(const char *dir, tn_zxid **out);

#ifdef STORE_TREE_INTERNAL
/* ---- tree-internal: only ztree.c, znode.c, apply.c, watch.c, session.c ----
 *
 * A znode is one allocation: this header then the full path, NUL-terminated
 * (its length is strlen: no length field). The path is the hash key and the
 * child's name (path + name offset), so it is stored once. Stat fields change
 * in place under @seq (a sequence counter: odd while the writer updates,
 * readers retry). The data, its length, the ACL and the ephemeral owner live
 * in one immutable blob replaced whole (setData, setACL) and retired to RCU.
 * Layout is packed by hand: 108 bytes before the path, so a node with a path
 * of up to 19 bytes fits jemalloc's 128-byte class, and the blob's 12-byte
 * head often fits the slack of the data's own size class (100 B -> 112).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>
#include <urcu/rcuhlist.h>

struct store_acl {                /* an interned, refcounted ACL list */
	struct zk_acl_list list;  /* what readers see; list.v points into v[] */
	struct store_acl *next;   /* intern bucket chain (writer only) */
	uint64_t hash;
	uint32_t refs;            /* nodes using it (writer only) */
	struct zk_acl v[];        /* then the id strings */
};

/* meta: ZBLOB_OWNER set = an 8-byte owner precedes the data in bytes[];
 * ZBLOB_NULL set = null data; else the low bits are the data length. */
#define ZBLOB_OWNER 0x80000000u
#define ZBLOB_NULL 0x40000000u
#define ZBLOB_LEN_MASK 0x3fffffffu

struct znode_blob {
	struct store_acl *acl;        /* one reference held by the blob's node */
	uint32_t meta;
	uint8_t bytes[];              /* [owner, unaligned] then data */
};
#define ZBLOB_HEAD offsetof(struct znode_blob, bytes) /* 12: bytes are unaligned */

struct znode {
	struct cds_lfht_node ht;      /* path table link */
	struct cds_hlist_node sib;    /* link in the parent's child list */
	struct cds_hlist_head kids;   /* children, RCU list */
	struct znode_blob *blob;      /* immutable; rcu_assign_pointer/rcu_dereference */
	int64_t czxid, mzxid, ctime, mtime, pzxid;
	int32_t version, cversion, aversion;
	int32_t nkids;
	_Atomic uint32_t seq;         /* odd while the writer changes the stat */
	char path[];
};

static inline size_t znode_path_len(const struct znode *n)
{
	return strlen(n->path);
}
static inline int64_t zblob_owner(const struct znode_blob *b)
{
	int64_t o = 0;
	if (b && (b->meta & ZBLOB_OWNER))
		memcpy(&o, b->bytes, sizeof(o));
	return o;
}
/* -1 for null data. */
static inline int32_t zblob_len(const struct znode_blob *b)
{
	return !b || (b->meta & ZBLOB_NULL) ? -1 : (int32_t)(b->meta & ZBLOB_LEN_MASK);
}
static inline const uint8_t *zblob_data(const struct znode_blob *b)
{
	return b->bytes + (b->meta & ZBLOB_OWNER ? sizeof(int64_t) : 0);
}
/* Writer-side shorthands (the writer is the only one that changes blob). */
static inline int64_t znode_owner(const struct znode *n)
{
	return zblob_owner(n->blob);
}
static inline int32_t znode_data_len(const struct znode *n)
{
	return zblob_len(n->blob);
}
static inline struct store_acl *znode_acl(const struct znode *n)
{
	return n->blob ? n->blob->acl : NULL;
}

struct store_retire_batch;         /* znode.c */
struct store_watches;              /* watch.c */
struct store_sessions;             /* session.c */
struct store_strset;               /* session.c: a set of path strings */

struct store_scratch_chunk {
	struct store_scratch_chunk *next;
	size_t used, cap;
	char buf[];
};

struct store {
	struct store_cfg cfg;
	char *super_digest;               /* cfg.super_digest points here */
	struct prep_state *prep;
	store_prep_free_fn prep_free;
	struct cds_lfht *ht;              /* full path -> znode */
	uint64_t ht_target;               /* buckets asked for (writer only) */
	_Atomic uint64_t ht_buckets;      /* buckets the resizer has reached */
	pthread_t resizer;                /* grows the path table off the writer */
	bool resizer_started, resizer_stop;
	uint64_t resizer_target;          /* under resizer_lock */
	pthread_mutex_t resizer_lock;
	pthread_cond_t resizer_cond;
	struct znode *root;
	_Atomic uint64_t last_zxid;
	_Atomic uint64_t node_count, ephemeral_count, data_bytes;
	_Atomic int64_t mem_bytes;
	/* ACL intern table (writer only) */
	struct store_acl **acl_tab;
	uint32_t acl_mask, acl_count;
	/* deferred frees (writer only) */
	struct store_retire_batch *retire;
	/* per-apply output, owned until the next apply (writer only) */
	struct store_result *res;
	uint32_t res_cap, res_n;
	struct store_event *ev;
	uint32_t ev_cap, ev_n;
	struct store_scratch_chunk *scratch;
	struct store_watches *watches;
	struct store_sessions *sessions;
	pthread_mutex_t special_lock;     /* guards special (reap_scan may run anywhere) */
	struct store_strset *special;     /* containers and TTL nodes by path */
};

/* znode.c: allocation with byte accounting; retire = free after a grace period. */
void *store_mem_alloc(struct store *s, size_t n);
void store_mem_free(struct store *s, void *p);
void store_mem_retire(struct store *s, void *p);
void store_retire_flush(struct store *s);
struct znode *znode_new(struct store *s, const char *path, size_t path_len);
/* Give @n a new blob: @acl (the blob takes over the caller's reference),
 * @owner, and a copy of @data (NULL/-1 = null). The old blob is retired but
 * its ACL reference is the caller's to drop. Inside the caller's seq section
 * for a published node. Return 0, -ENOMEM (also for data of 1 GiB or more).
 * Writer only. */
int znode_set_blob(struct store *s, struct znode *n, struct store_acl *acl, int64_t owner,
		   const uint8_t *data, int32_t len);
/* Replace the data (NULL/-1 = null), keeping ACL and owner. Return 0, -ENOMEM. */
int znode_set_data(struct store *s, struct znode *n, const uint8_t *data, int32_t len);
/* Free an unpublished node's blob and ACL reference, then the node. */
void znode_discard(struct store *s, struct znode *n);
struct store_acl *store_acl_intern(struct store *s, const struct zk_acl_list *acl);
void store_acl_put(struct store *s, struct store_acl *a);
void znode_stat(const struct znode *n, struct zstat *st);   /* caller holds seq */
void znode_read(const struct znode *n, struct store_node_view *v); /* seq-consistent */
static inline void znode_write_begin(struct znode *n)
{
	/* Relaxed add then a release fence: readers that see the odd value retry,
	 * and no stat store can move above the increment. */
	atomic_fetch_add_explicit(&n->seq, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}
static inline void znode_write_end(struct znode *n)
{
	/* Release: a reader that sees the even value sees every stat store. */
	atomic_fetch_add_explicit(&n->seq, 1, memory_order_release);
}

/* Kinds of ephemeralOwner (§1.7): session, container marker, TTL marker. */
static inline bool store_owner_is_container(int64_t o)
{
	return (uint64_t)o == ZK_OWNER_CONTAINER;
}
static inline bool store_owner_is_ttl(int64_t o)
{
	return ((uint64_t)o & ZK_OWNER_TTL_MASK) == ZK_OWNER_TTL_MASK;
}
static inline bool store_owner_is_session(int64_t o)
{
	return o != 0 && !store_owner_is_container(o) && !store_owner_is_ttl(o);
}

/* ztree.c */
struct znode *ztree_lookup(struct store *s, const char *path, size_t len);
struct znode *ztree_parent(struct store *s, const char *path, size_t len);
void ztree_link(struct store *s, struct znode *parent, struct znode *n);
/* Publish @n unless its path exists: then return that node, @n untouched. */
struct znode *ztree_link_unique(struct store *s, struct znode *parent, struct znode *n);
void ztree_unlink(struct store *s, struct znode *parent, struct znode *n);
size_t ztree_name_off(size_t parent_len);
char *store_scratch_strdup(struct store *s, const char *p, size_t len);
void store_special_note(struct store *s, const struct znode *n, bool add);

/* apply.c: append one event to this apply's output. Return 0, -ENOMEM. */
int store_event_push(struct store *s, uint64_t session, int32_t type, tn_zxid zxid,
		     const char *path);

/* watch.c: triggers append to s->ev (writer only). */
int store_watches_new(struct store *s);
void store_watches_free(struct store *s);
int store_watch_trigger_create(struct store *s, const char *path, tn_zxid zxid);
int store_watch_trigger_delete(struct store *s, const char *path, tn_zxid zxid);
int store_watch_trigger_data(struct store *s, const char *path, tn_zxid zxid);

/* session.c */
int store_sessions_new(struct store *s);
void store_sessions_free(struct store *s);
int store_session_add(struct store *s, uint64_t session, int32_t timeout_ms);
void store_session_remove(struct store *s, uint64_t session);
/* Return 1 (added), 0 (already there), -ENOMEM. */
int store_session_eph_add(struct store *s, uint64_t session, const char *path, size_t len);
void store_session_eph_del(struct store *s, uint64_t session, const char *path, size_t len);
/* The paths of @session's ephemerals, copied into one malloc'd block: *out
 * gets an array of @n pointers (free(*out) frees all). Return n or -ENOMEM. */
int store_session_eph_list(struct store *s, uint64_t session, char ***out);
struct store_strset *store_strset_new(void);
void store_strset_free(struct store_strset *set);
int store_strset_add(struct store_strset *set, const char *p, size_t len);
void store_strset_del(struct store_strset *set, const char *p, size_t len);
/* Copy every member into one block (see store_session_eph_list). */
int store_strset_list(struct store_strset *set, const char *prefix, char ***out);
#endif /* STORE_TREE_INTERNAL */

#endif
