/* store/ztree.c: the znode tree: path table, child index, reads, walk, digest.
 *
 * One writer, lock-free readers (liburcu QSBR). Every znode sits in one
 * cds_lfht keyed by its full path, so a read is one hash lookup and never
 * walks the tree. Each parent keeps its children in an RCU hlist: a child is
 * linked at the head in O(1) and unlinked in O(1) through its own list node
 * (found via the path table), however many siblings it has; readers iterate
 * the list without locks. A reader that races a removal may still visit the
 * removed child: that is the usual RCU view ("existed during the read").
 *
 * Stat consistency: znode_read() (znode.c) copies the stat under the node's
 * sequence counter and retries if the writer was mid-update. Blobs (data,
 * ACL, owner) are immutable, so the pointer copied with the stat stays valid
 * until the reader's next quiescent state.
 *
 * Threads must be registered RCU readers. store_reader_register() does it
 * explicitly; any thread that calls into the store without it is registered
 * on first use and kept online only inside store calls (store_rcu_enter), so
 * a forgetful thread can never stall a grace period.
 */
#define STORE_TREE_INTERNAL
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store_int.h"

#define ZTREE_HT_INIT 1024u
#define ZTREE_LOAD_MAX 2u    /* nodes per bucket before the table grows */
#define ZTREE_GROW_FACTOR 4u /* load 2 -> 0.5 */
#define ZTREE_SCRATCH_CHUNK 65536u

enum { RCU_NONE, RCU_EXPLICIT, RCU_IMPLICIT };
static __thread int tls_rcu_state;
static pthread_key_t rcu_key;
static pthread_once_t rcu_once = PTHREAD_ONCE_INIT;

static void rcu_key_dtor(void *arg)
{
	(void)arg;
	if (tls_rcu_state != RCU_NONE) {
		rcu_unregister_thread();
		tls_rcu_state = RCU_NONE;
	}
}

static void rcu_key_init(void)
{
	TN_ASSERT(pthread_key_create(&rcu_key, rcu_key_dtor) == 0);
}

static void rcu_register_as(int state)
{
	TN_ASSERT(state != RCU_NONE);
	if (tls_rcu_state == RCU_NONE) {
		pthread_once(&rcu_once, rcu_key_init);
		rcu_register_thread();
		pthread_setspecific(rcu_key, (void *)1);
	}
	tls_rcu_state = state;
}

void store_reader_register(void)
{
	if (tls_rcu_state == RCU_IMPLICIT && !rcu_read_ongoing())
		rcu_thread_online();
	rcu_register_as(RCU_EXPLICIT);
}

void store_reader_unregister(void)
{
	if (tls_rcu_state == RCU_NONE)
		return;
	rcu_unregister_thread();
	pthread_setspecific(rcu_key, NULL);
	tls_rcu_state = RCU_NONE;
}

bool store_rcu_enter(void)
{
	if (__builtin_expect(tls_rcu_state == RCU_EXPLICIT, 1))
		return false;
	if (tls_rcu_state == RCU_NONE) {
		rcu_register_as(RCU_IMPLICIT); /* registers online */
		return true;
	}
	if (rcu_read_ongoing())
		return false; /* a nested call: the outer one goes offline */
	rcu_thread_online();
	return true;
}

void store_rcu_exit(bool entered)
{
	if (entered) {
		TN_ASSERT(tls_rcu_state == RCU_IMPLICIT);
		rcu_thread_offline();
	}
}

void store_quiescent(void)
{
	if (tls_rcu_state == RCU_EXPLICIT)
		rcu_quiescent_state();
}

/* Wait for every queued call_rcu callback. An online QSBR thread would stall
 * its own grace period, so go offline meanwhile. */
static void rcu_barrier_offline(void)
{
	bool online = tls_rcu_state != RCU_NONE && rcu_read_ongoing();
	if (online)
		rcu_thread_offline();
	rcu_barrier();
	if (online)
		rcu_thread_online();
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ull;
	x ^= x >> 32;
	return x;
}

uint64_t store_hash64(const void *p, size_t len, uint64_t seed)
{
	const uint8_t *b = p;
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ull), w;
	for (; len >= 8; len -= 8, b += 8) {
		memcpy(&w, b, 8);
		h = (h ^ mix64(w)) * 0x9e3779b97f4a7c15ull;
		h = (h << 29) | (h >> 35);
	}
	w = 0;
	memcpy(&w, b, len);
	h ^= mix64(w ^ ((uint64_t)len << 56));
	return mix64(h);
}

/* ---- path table ---- */

struct ht_key {
	const char *p;
	size_t len;
};

static int ht_match(struct cds_lfht_node *node, const void *key)
{
	const struct znode *n = caa_container_of(node, struct znode, ht);
	const struct ht_key *k = key;
	/* No stored length: strncmp stops at the node path's NUL, so the index
	 * k->len is read only when the node's path is at least that long. */
	return strncmp(n->path, k->p, k->len) == 0 && n->path[k->len] == '\0';
}

struct znode *ztree_lookup(struct store *s, const char *path, size_t len)
{
	struct ht_key k = { path, len };
	struct cds_lfht_iter it;
	cds_lfht_lookup(s->ht, store_hash64(path, len, 0), ht_match, &k, &it);
	struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct znode, ht) : NULL;
}

struct znode *ztree_parent(struct store *s, const char *path, size_t len)
{
	if (len <= 1)
		return NULL;
	size_t i = len - 1;
	while (i > 0 && path[i] != '/')
		i--;
	return ztree_lookup(s, path, i == 0 ? 1 : i);
}

size_t ztree_name_off(size_t parent_len)
{
	return parent_len == 1 ? 1 : parent_len + 1;
}

/* The path table grows when it averages more than ZTREE_LOAD_MAX nodes a
 * bucket. liburcu 0.13's lazy auto-resize proved unreliable here (tables of
 * 200k nodes stayed at 1024 buckets), and a synchronous cds_lfht_resize()
 * would stall the writer for the O(n) rehash, so a store-owned thread does
 * it: lfht allows adds and removes while a resize runs. The writer only
 * raises the target and signals. */
static void *resizer_main(void *arg)
{
	struct store *s = arg;
	rcu_register_thread();
	rcu_thread_offline(); /* online only while resizing */
	pthread_mutex_lock(&s->resizer_lock);
	for (;;) {
		while (!s->resizer_stop &&
		       s->resizer_target <= atomic_load_explicit(&s->ht_buckets, memory_order_relaxed))
			pthread_cond_wait(&s->resizer_cond, &s->resizer_lock);
		if (s->resizer_stop)
			break;
		uint64_t target = s->resizer_target;
		pthread_mutex_unlock(&s->resizer_lock);
		rcu_thread_online();
		cds_lfht_resize(s->ht, target);
		rcu_thread_offline();
		/* Relaxed: a statistic (store_stats' memory estimate). */
		atomic_store_explicit(&s->ht_buckets, target, memory_order_relaxed);
		pthread_mutex_lock(&s->resizer_lock);
	}
	pthread_mutex_unlock(&s->resizer_lock);
	rcu_unregister_thread();
	return NULL;
}

static void ztree_maybe_grow(struct store *s)
{
	uint64_t count = atomic_load_explicit(&s->node_count, memory_order_relaxed);
	if (count <= s->ht_target * ZTREE_LOAD_MAX || !s->resizer_started)
		return;
	s->ht_target *= ZTREE_GROW_FACTOR;
	pthread_mutex_lock(&s->resizer_lock);
	s->resizer_target = s->ht_target;
	pthread_cond_signal(&s->resizer_cond);
	pthread_mutex_unlock(&s->resizer_lock);
}

static int resizer_start(struct store *s)
{
	pthread_mutex_init(&s->resizer_lock, NULL);
	pthread_cond_init(&s->resizer_cond, NULL);
	if (pthread_create(&s->resizer, NULL, resizer_main, s) != 0)
		return -ENOMEM;
	s->resizer_started = true;
	return 0;
}

static void resizer_stop(struct store *s)
{
	if (!s->resizer_started)
		return;
	pthread_mutex_lock(&s->resizer_lock);
	s->resizer_stop = true;
	pthread_cond_signal(&s->resizer_cond);
	pthread_mutex_unlock(&s->resizer_lock);
	/* The resizer waits for grace periods: do not hold one up meanwhile. */
	bool online = tls_rcu_state != RCU_NONE && rcu_read_ongoing();
	if (online)
		rcu_thread_offline();
	pthread_join(s->resizer, NULL);
	if (online)
		rcu_thread_online();
	s->resizer_started = false;
	pthread_mutex_destroy(&s->resizer_lock);
	pthread_cond_destroy(&s->resizer_cond);
}

/* Publish @n under @parent, or return the node already at its path (one
 * walk of the bucket chain for both). The caller updates the parent's stat. */
struct znode *ztree_link_unique(struct store *s, struct znode *parent, struct znode *n)
{
	TN_ASSERT(parent != NULL && n != NULL);
	size_t plen = znode_path_len(n);
	struct ht_key k = { n->path, plen };
	struct cds_lfht_node *got =
		cds_lfht_add_unique(s->ht, store_hash64(n->path, plen, 0), ht_match, &k, &n->ht);
	if (got != &n->ht)
		return caa_container_of(got, struct znode, ht);
	ztree_maybe_grow(s);
	cds_hlist_add_head_rcu(&n->sib, &parent->kids);
	atomic_fetch_add_explicit(&s->node_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->data_bytes, plen + (size_t)TN_MAX(znode_data_len(n), 0),
				  memory_order_relaxed);
	if (store_owner_is_session(znode_owner(n)))
		atomic_fetch_add_explicit(&s->ephemeral_count, 1, memory_order_relaxed);
	return NULL;
}

void ztree_link(struct store *s, struct znode *parent, struct znode *n)
{
	struct znode *dup = ztree_link_unique(s, parent, n);
	TN_ASSERT(dup == NULL); /* callers looked the path up first */
}

/* Unpublish a childless @n and retire it with its data and ACL reference. */
void ztree_unlink(struct store *s, struct znode *parent, struct znode *n)
{
	TN_ASSERT(n->kids.next == NULL && n != s->root);
	(void)parent;
	TN_ASSERT(cds_lfht_del(s->ht, &n->ht) == 0);
	cds_hlist_del_rcu(&n->sib);
	atomic_fetch_sub_explicit(&s->node_count, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&s->data_bytes,
				  znode_path_len(n) + (size_t)TN_MAX(znode_data_len(n), 0),
				  memory_order_relaxed);
	if (store_owner_is_session(znode_owner(n)))
		atomic_fetch_sub_explicit(&s->ephemeral_count, 1, memory_order_relaxed);
	store_acl_put(s, znode_acl(n));
	store_mem_retire(s, n->blob);
	store_mem_retire(s, n);
}

char *store_scratch_strdup(struct store *s, const char *p, size_t len)
{
	struct store_scratch_chunk *c = s->scratch;
	if (!c || c->cap - c->used < len + 1) {
		size_t cap = TN_MAX((size_t)ZTREE_SCRATCH_CHUNK, len + 1);
		struct store_scratch_chunk *nc = store_mem_alloc(s, sizeof(*nc) + cap);
		if (!nc)
			return NULL;
		nc->next = c;
		nc->used = 0;
		nc->cap = cap;
		s->scratch = c = nc;
	}
	char *d = c->buf + c->used;
	memcpy(d, p, len);
	d[len] = '\0';
	c->used += len + 1;
	return d;
}

/* Containers and TTL nodes are indexed by path for store_reap_scan(). */
void store_special_note(struct store *s, const struct znode *n, bool add)
{
	int64_t owner = znode_owner(n);
	if (!store_owner_is_container(owner) && !store_owner_is_ttl(owner))
		return;
	pthread_mutex_lock(&s->special_lock);
	if (add)
		store_strset_add(s->special, n->path, znode_path_len(n));
	else
		store_strset_del(s->special, n->path, znode_path_len(n));
	pthread_mutex_unlock(&s->special_lock);
}

/* ---- lifecycle ---- */

static const struct zk_acl acl_open_v[] = { { ZK_PERM_ALL, { "world", "anyone" } } };
static const struct zk_acl acl_read_v[] = { { ZK_PERM_READ, { "world", "anyone" } } };
static const struct zk_acl_list acl_open = { 1, acl_open_v };
static const struct zk_acl_list acl_read = { 1, acl_read_v };

static int add_special(struct store *s, const char *path, const struct zk_acl_list *acl)
{
	struct znode *n = znode_new(s, path, strlen(path));
	if (!n)
		return -ENOMEM;
	struct store_acl *a = store_acl_intern(s, acl);
	if (!a || znode_set_blob(s, n, a, 0, NULL, 0) < 0) {
		store_acl_put(s, a);
		znode_discard(s, n);
		return -ENOMEM;
	}
	if (!s->root) {
		s->root = n;
		cds_lfht_add(s->ht, store_hash64(n->path, znode_path_len(n), 0), &n->ht);
		atomic_fetch_add_explicit(&s->node_count, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->data_bytes, 1, memory_order_relaxed);
		return 0;
	}
	struct znode *parent = ztree_parent(s, n->path, znode_path_len(n));
	TN_ASSERT(parent != NULL);
	ztree_link(s, parent, n);
	parent->nkids++;
	return 0;
}

static int store_init_parts(struct store *s, const struct store_cfg *cfg)
{
	s->cfg = *cfg;
	if (cfg->super_digest) {
		size_t l = strlen(cfg->super_digest);
		if (!(s->super_digest = store_mem_alloc(s, l + 1)))
			return -ENOMEM;
		memcpy(s->super_digest, cfg->super_digest, l + 1);
		s->cfg.super_digest = s->super_digest;
	}
	if (!s->cfg.data_max_bytes)
		s->cfg.data_max_bytes = STORE_DATA_MAX_DEFAULT;
	pthread_mutex_init(&s->special_lock, NULL);
	s->ht = cds_lfht_new(ZTREE_HT_INIT, ZTREE_HT_INIT, 0, 0, NULL);
	s->ht_target = ZTREE_HT_INIT;
	atomic_store_explicit(&s->ht_buckets, ZTREE_HT_INIT, memory_order_relaxed);
	if (!s->ht || !(s->special = store_strset_new()))
		return -ENOMEM;
	int rc;
	if ((rc = resizer_start(s)) < 0)
		return rc;
	if ((rc = store_watches_new(s)) < 0 || (rc = store_sessions_new(s)) < 0)
		return rc;
	if ((rc = add_special(s, "/", &acl_open)) < 0 ||
	    (rc = add_special(s, "/zookeeper", &acl_open)) < 0 ||
	    (rc = add_special(s, "/zookeeper/config", &acl_read)) < 0 ||
	    (rc = add_special(s, "/zookeeper/quota", &acl_open)) < 0)
		return rc;
	return 0;
}

static int store_create_rcu(struct store **out, const struct store_cfg *cfg)
{
	static const struct store_cfg defaults;
	TN_ASSERT(out != NULL);
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	atomic_store_explicit(&s->mem_bytes, (int64_t)malloc_usable_size(s), memory_order_relaxed);
	int rc = store_init_parts(s, cfg ? cfg : &defaults);
	if (rc < 0) {
		store_destroy(s);
		return rc;
	}
	*out = s;
	return 0;
}

int store_create(struct store **out, const struct store_cfg *cfg)
{
	bool on = store_rcu_enter();
	int rc = store_create_rcu(out, cfg);
	store_rcu_exit(on);
	return rc;
}

/* Free every node; no reader may run. Children before parents is not needed:
 * the whole table goes at once. */
static void free_all_nodes(struct store *s)
{
	struct cds_lfht_iter it;
	/* Open-coded: cds_lfht_for_each_entry forms container_of(NULL) at the
	 * end, which UBSan reports as an offset applied to a null pointer. ACLs
	 * are freed whole by free_acls(), so no reference is dropped here. */
	cds_lfht_first(s->ht, &it);
	for (struct cds_lfht_node *hn; (hn = cds_lfht_iter_get_node(&it)) != NULL;) {
		struct znode *n = caa_container_of(hn, struct znode, ht);
		cds_lfht_next(s->ht, &it);
		cds_lfht_del(s->ht, hn);
		store_mem_free(s, n->blob);
		store_mem_free(s, n);
	}
}

static void free_acls(struct store *s)
{
	for (uint32_t i = 0; s->acl_tab && i <= s->acl_mask; i++) {
		struct store_acl *a = s->acl_tab[i], *next;
		for (; a; a = next) {
			next = a->next;
			store_mem_free(s, a);
		}
	}
	store_mem_free(s, s->acl_tab);
	s->acl_tab = NULL;
}

void store_destroy(struct store *s)
{
	if (!s)
		return;
	if (s->prep && s->prep_free)
		s->prep_free(s->prep);
	s->prep = NULL;
	resizer_stop(s);
	store_retire_flush(s);
	rcu_barrier_offline();
	bool online = tls_rcu_state != RCU_NONE && rcu_read_ongoing();
	if (online)
		rcu_thread_offline(); /* cds_lfht_destroy must not run online */
	if (s->ht) {
		free_all_nodes(s);
		TN_ASSERT(cds_lfht_destroy(s->ht, NULL) == 0);
	}
	if (online)
		rcu_thread_online();
	free_acls(s);
	store_watches_free(s);
	store_sessions_free(s);
	store_strset_free(s->special);
	pthread_mutex_destroy(&s->special_lock);
	while (s->scratch) {
		struct store_scratch_chunk *c = s->scratch;
		s->scratch = c->next;
		store_mem_free(s, c);
	}
	store_mem_free(s, s->res);
	store_mem_free(s, s->ev);
	store_mem_free(s, s->super_digest);
	free(s);
}

void store_reclaim(struct store *s)
{
	store_retire_flush(s);
	rcu_barrier_offline();
}

tn_zxid store_last_zxid(const struct store *s)
{
	/* Acquire: pairs with the release in store_apply, so a reader that sees
	 * zxid Z sees the tree with Z applied. */
	return atomic_load_explicit(&((struct store *)s)->last_zxid, memory_order_acquire);
}

void store_set_last_zxid(struct store *s, tn_zxid zxid)
{
	atomic_store_explicit(&s->last_zxid, zxid, memory_order_release);
}

const struct store_cfg *store_cfg_of(const struct store *s)
{
	return &s->cfg;
}

struct prep_state **store_prep_slot(struct store *s)
{
	return &s->prep;
}

store_prep_free_fn *store_prep_free_slot(struct store *s)
{
	return &s->prep_free;
}

/* ---- reads ---- */

static bool path_ok(const char *path, size_t *len)
{
	if (!path || path[0] != '/')
		return false;
	*len = strlen(path);
	return true;
}

static int store_get_rcu(struct store *s, const char *path, struct store_node_view *out)
{
	size_t len;
	if (!path_ok(path, &len))
		return ZK_ENONODE;
	struct znode *n = ztree_lookup(s, path, len);
	if (!n)
		return ZK_ENONODE;
	znode_read(n, out);
	return ZK_OK;
}

int store_get(struct store *s, const char *path, struct store_node_view *out)
{
	bool on = store_rcu_enter();
	int rc = store_get_rcu(s, path, out);
	store_rcu_exit(on);
	return rc;
}

static int store_children_rcu(struct store *s, const char *path, struct zstat *stat,
		   int (*fn)(void *arg, const char *name), void *arg)
{
	size_t len;
	if (!path_ok(path, &len))
		return ZK_ENONODE;
	struct znode *n = ztree_lookup(s, path, len), *c;
	if (!n)
		return ZK_ENONODE;
	if (stat) {
		struct store_node_view v;
		znode_read(n, &v);
		*stat = v.stat;
	}
	size_t off = ztree_name_off(znode_path_len(n));
	/* Open-coded: the liburcu macro forms container_of(NULL) at the end. */
	for (struct cds_hlist_node *pos = rcu_dereference(n->kids.next); pos;
	     pos = rcu_dereference(pos->next)) {
		c = caa_container_of(pos, struct znode, sib);
		int rc = fn(arg, c->path + off);
		if (rc)
			return rc;
	}
	return ZK_OK;
}

int store_children(struct store *s, const char *path, struct zstat *stat,
		   int (*fn)(void *arg, const char *name), void *arg)
{
	bool on = store_rcu_enter();
	int rc = store_children_rcu(s, path, stat, fn, arg);
	store_rcu_exit(on);
	return rc;
}

/* Depth-first iteration with an explicit stack (paths may nest deeply). */
struct dfs {
	struct cds_hlist_node **stack;
	size_t sp, cap;
};

static int dfs_push(struct dfs *d, struct znode *n)
{
	if (d->sp == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		void *p = realloc(d->stack, cap * sizeof(*d->stack));
		if (!p)
			return -ENOMEM;
		d->stack = p;
		d->cap = cap;
	}
	d->stack[d->sp++] = rcu_dereference(n->kids.next);
	return 0;
}

/* The next node in pre-order below the pushed ones, or NULL when done. */
static struct znode *dfs_next(struct dfs *d)
{
	while (d->sp > 0) {
		struct cds_hlist_node *pos = d->stack[d->sp - 1];
		if (!pos) {
			d->sp--;
			continue;
		}
		d->stack[d->sp - 1] = rcu_dereference(pos->next);
		return caa_container_of(pos, struct znode, sib);
	}
	return NULL;
}

static int store_count_descendants_rcu(struct store *s, const char *path, int32_t *out)
{
	size_t len;
	if (!path_ok(path, &len))
		return ZK_ENONODE;
	struct znode *n = ztree_lookup(s, path, len);
	if (!n)
		return ZK_ENONODE;
	struct dfs d = { 0 };
	int64_t count = 0;
	int rc = dfs_push(&d, n);
	while (rc == 0 && (n = dfs_next(&d)) != NULL) {
		count++;
		rc = dfs_push(&d, n);
	}
	free(d.stack);
	if (rc < 0)
		return ZK_ESYSTEM;
	*out = count > INT32_MAX ? INT32_MAX : (int32_t)count;
	return ZK_OK;
}

int store_count_descendants(struct store *s, const char *path, int32_t *out)
{
	bool on = store_rcu_enter();
	int rc = store_count_descendants_rcu(s, path, out);
	store_rcu_exit(on);
	return rc;
}

static int store_walk_rcu(struct store *s, int (*fn)(void *arg, const char *path,
					  const struct store_node_view *v), void *arg)
{
	struct store_node_view v;
	struct dfs d = { 0 };
	struct znode *n = s->root;
	znode_read(n, &v);
	int rc = fn(arg, n->path, &v);
	if (rc == 0)
		rc = dfs_push(&d, n);
	while (rc == 0 && (n = dfs_next(&d)) != NULL) {
		znode_read(n, &v);
		if ((rc = fn(arg, n->path, &v)) != 0)
			break;
		rc = dfs_push(&d, n);
	}
	free(d.stack);
	return rc;
}

int store_walk(struct store *s, int (*fn)(void *arg, const char *path,
					  const struct store_node_view *v), void *arg)
{
	bool on = store_rcu_enter();
	int rc = store_walk_rcu(s, fn, arg);
	store_rcu_exit(on);
	return rc;
}

/* ---- stats and digest ---- */

void store_stats(struct store *s, struct store_stats *out)
{
	out->node_count = atomic_load_explicit(&s->node_count, memory_order_relaxed);
	out->ephemeral_count = atomic_load_explicit(&s->ephemeral_count, memory_order_relaxed);
	out->data_bytes = atomic_load_explicit(&s->data_bytes, memory_order_relaxed);
	int64_t mem = atomic_load_explicit(&s->mem_bytes, memory_order_relaxed);
	/* The path table's buckets are allocated by liburcu, outside our
	 * accounting: one 16-byte bucket node each. */
	uint64_t buckets = atomic_load_explicit(&s->ht_buckets, memory_order_relaxed);
	out->mem_bytes = (uint64_t)(mem > 0 ? mem : 0) + buckets * sizeof(struct cds_lfht_node);
	out->last_zxid = store_last_zxid(s);
}

static uint64_t node_digest(const char *path, const struct store_node_view *v)
{
	const struct zstat *st = &v->stat;
	int64_t f[11] = { st->czxid, st->mzxid, st->ctime, st->mtime, st->version, st->cversion,
			  st->aversion, st->ephemeral_owner, v->data_len, st->num_children,
			  st->pzxid };
	uint64_t h = store_hash64(path, strlen(path), 0x7a6e6f6465ull);
	h = store_hash64(f, sizeof(f), h);
	if (v->data_len > 0)
		h = store_hash64(v->data, (size_t)v->data_len, h);
	for (int32_t i = 0; v->acl && i < v->acl->count; i++) {
		const struct zk_acl *a = &v->acl->v[i];
		h = store_hash64(&a->perms, sizeof(a->perms), h);
		h = store_hash64(a->id.scheme, strlen(a->id.scheme) + 1, h);
		h = store_hash64(a->id.id, strlen(a->id.id) + 1, h);
	}
	return h;
}

static uint64_t store_digest_rcu(struct store *s)
{
	struct cds_lfht_iter it;
	struct store_node_view v;
	uint64_t sum = 0;
	/* A sum of per-node hashes does not depend on iteration order. Open-coded
	 * for the same reason as free_all_nodes(). */
	cds_lfht_first(s->ht, &it);
	for (struct cds_lfht_node *hn; (hn = cds_lfht_iter_get_node(&it)) != NULL;
	     cds_lfht_next(s->ht, &it)) {
		const struct znode *n = caa_container_of(hn, struct znode, ht);
		znode_read(n, &v);
		sum += node_digest(n->path, &v);
	}
	return sum;
}

uint64_t store_digest(struct store *s)
{
	bool on = store_rcu_enter();
	uint64_t rc = store_digest_rcu(s);
	store_rcu_exit(on);
	return rc;
}

/* ---- containers and TTL ---- */

static bool reap_due(const struct store *s, const struct store_node_view *v, uint64_t now_ms)
{
	const struct zstat *st = &v->stat;
	if (st->num_children != 0)
		return false;
	int64_t elapsed = (int64_t)now_ms - st->mtime;
	if (store_owner_is_container(st->ephemeral_owner)) {
		if (st->cversion > 0)
			return true;
		return s->cfg.container_never_used_ms > 0 &&
		       elapsed > (int64_t)s->cfg.container_never_used_ms;
	}
	if (store_owner_is_ttl(st->ephemeral_owner)) {
		int64_t ttl = (int64_t)((uint64_t)st->ephemeral_owner & ZK_TTL_MAX);
		return ttl != 0 && elapsed > ttl;
	}
	return false;
}

static void store_reap_scan_rcu(struct store *s, uint64_t now_ms,
		     void (*fn)(void *arg, const char *path, bool container), void *arg)
{
	char **paths = NULL;
	pthread_mutex_lock(&s->special_lock);
	int n = store_strset_list(s->special, "/", &paths);
	pthread_mutex_unlock(&s->special_lock);
	for (int i = 0; i < n; i++) {
		struct store_node_view v;
		if (store_get(s, paths[i], &v) != ZK_OK || !reap_due(s, &v, now_ms))
			continue;
		fn(arg, paths[i], store_owner_is_container(v.stat.ephemeral_owner));
	}
	free(paths);
}

void store_reap_scan(struct store *s, uint64_t now_ms,
		     void (*fn)(void *arg, const char *path, bool container), void *arg)
{
	bool on = store_rcu_enter();
	store_reap_scan_rcu(s, now_ms, fn, arg);
	store_rcu_exit(on);
}

/* ---- snapshot loading ---- */

static void load_fill(struct znode *n, const struct zstat *st)
{
	n->czxid = st->czxid;
	n->mzxid = st->mzxid;
	n->ctime = st->ctime;
	n->mtime = st->mtime;
	n->version = st->version;
	n->cversion = st->cversion;
	n->aversion = st->aversion;
	n->pzxid = st->pzxid; /* the owner goes into the blob */
}

static int load_replace(struct store *s, struct znode *n, const struct zstat *st,
			const uint8_t *data, int32_t data_len, const struct zk_acl_list *acl)
{
	struct store_acl *a = store_acl_intern(s, acl), *old = znode_acl(n);
	if (!a)
		return -ENOMEM;
	size_t plen = znode_path_len(n);
	int64_t owner = znode_owner(n), old_len = TN_MAX(znode_data_len(n), 0);
	znode_write_begin(n);
	int rc = znode_set_blob(s, n, a, st->ephemeral_owner, data, data_len);
	if (rc == 0)
		load_fill(n, st);
	znode_write_end(n);
	if (rc < 0) {
		store_acl_put(s, a);
		return rc;
	}
	store_acl_put(s, old);
	if (store_owner_is_session(owner)) {
		store_session_eph_del(s, (uint64_t)owner, n->path, plen);
		atomic_fetch_sub_explicit(&s->ephemeral_count, 1, memory_order_relaxed);
	}
	if (store_owner_is_container(owner) || store_owner_is_ttl(owner)) {
		pthread_mutex_lock(&s->special_lock);
		store_strset_del(s->special, n->path, plen);
		pthread_mutex_unlock(&s->special_lock);
	}
	atomic_fetch_add_explicit(&s->data_bytes, TN_MAX(znode_data_len(n), 0) - old_len,
				  memory_order_relaxed);
	if (store_owner_is_session(st->ephemeral_owner)) {
		atomic_fetch_add_explicit(&s->ephemeral_count, 1, memory_order_relaxed);
		rc = store_session_eph_add(s, (uint64_t)st->ephemeral_owner, n->path, plen);
		rc = rc < 0 ? rc : 0;
	}
	store_special_note(s, n, true);
	return rc;
}

static int store_load_node_rcu(struct store *s, const char *path, const struct zstat *st,
		    const uint8_t *data, int32_t data_len, const struct zk_acl_list *acl)
{
	size_t len;
	if (!path_ok(path, &len) || !st || (data_len > 0 && !data))
		return -EINVAL;
	struct znode *n = ztree_lookup(s, path, len);
	if (n)
		return load_replace(s, n, st, data, data_len, acl);
	struct znode *parent = ztree_parent(s, path, len);
	if (!parent)
		return -ENOENT;
	if (!(n = znode_new(s, path, len)))
		return -ENOMEM;
	load_fill(n, st);
	struct store_acl *a = store_acl_intern(s, acl);
	if (!a || znode_set_blob(s, n, a, st->ephemeral_owner, data, data_len) < 0) {
		store_acl_put(s, a);
		znode_discard(s, n);
		return -ENOMEM;
	}
	if (store_owner_is_session(st->ephemeral_owner) &&
	    store_session_eph_add(s, (uint64_t)st->ephemeral_owner, path, len) < 0) {
		znode_discard(s, n);
		return -ENOMEM;
	}
	ztree_link(s, parent, n);
	znode_write_begin(parent);
	parent->nkids++;
	znode_write_end(parent);
	store_special_note(s, n, true);
	return 0;
}

int store_load_node(struct store *s, const char *path, const struct zstat *st,
		    const uint8_t *data, int32_t data_len, const struct zk_acl_list *acl)
{
	bool on = store_rcu_enter();
	int rc = store_load_node_rcu(s, path, st, data, data_len, acl);
	store_rcu_exit(on);
	return rc;
}

int store_load_session(struct store *s, uint64_t session, int32_t timeout_ms)
{
	return store_session_add(s, session, timeout_ms);
}
