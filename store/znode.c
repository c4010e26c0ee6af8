/* store/znode.c: znode allocation, byte accounting, deferred frees, ACL interning.
 *
 * Memory. Every allocation the tree makes goes through store_mem_alloc(),
 * which adds the allocator's usable size to s->mem_bytes (so jemalloc's size
 * class rounding is counted honestly); frees subtract it again.
 *
 * Deferred frees. Readers hold no locks, so a removed znode, a replaced blob
 * or a dropped ACL list may still be in use until every reader thread
 * has passed a quiescent state. Rather than paying a 16-byte rcu_head in every
 * znode, the writer collects retired pointers in a batch of
 * STORE_RETIRE_BATCH_MAX and hands the whole batch to call_rcu() once; the
 * callback (on liburcu's call_rcu thread) frees them all.
 *
 * Blobs. A node's data, data length, ACL reference and ephemeral owner sit in
 * one immutable allocation (struct znode_blob) that setData, setACL and
 * snapshot loading replace whole; keeping them out of the node header is
 * what lets a typical node fit jemalloc's 128-byte class, and the 12-byte
 * blob head usually fits in the rounding slack of the data's size class.
 * The owner (8 bytes) is stored only when non-zero (ZBLOB_OWNER).
 *
 * ACL lists are interned: identical lists share one refcounted struct
 * store_acl (writer-only table), so a million nodes with OPEN_ACL_UNSAFE hold
 * one copy.
 */
#define STORE_TREE_INTERNAL
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store_int.h"

#define STORE_RETIRE_BATCH_MAX 1024u
#define STORE_ACL_TAB_MIN 64u

/* The znode header is packed by hand (store_int.h); keep it that way. */
TN_STATIC_ASSERT(offsetof(struct znode, path) == 108, "znode header grew");
TN_STATIC_ASSERT(ZBLOB_HEAD == 12, "blob head grew");

struct store_retire_batch {
	struct rcu_head rcu;
	struct store *s;
	uint32_t n;
	void *ptr[STORE_RETIRE_BATCH_MAX];
};

void *store_mem_alloc(struct store *s, size_t n)
{
	void *p = malloc(n);
	if (!p)
		return NULL;
	atomic_fetch_add_explicit(&s->mem_bytes, (int64_t)malloc_usable_size(p),
				  memory_order_relaxed); /* a statistic: no ordering */
	return p;
}

void store_mem_free(struct store *s, void *p)
{
	if (!p)
		return;
	atomic_fetch_sub_explicit(&s->mem_bytes, (int64_t)malloc_usable_size(p),
				  memory_order_relaxed);
	free(p);
}

/* call_rcu callback: every reader has passed a quiescent state since the
 * batch was queued, so nothing can still see these pointers. */
static void retire_batch_free(struct rcu_head *head)
{
	struct store_retire_batch *b = caa_container_of(head, struct store_retire_batch, rcu);
	TN_ASSERT(b->n <= STORE_RETIRE_BATCH_MAX);
	for (uint32_t i = 0; i < b->n; i++)
		store_mem_free(b->s, b->ptr[i]);
	store_mem_free(b->s, b);
}

void store_retire_flush(struct store *s)
{
	struct store_retire_batch *b = s->retire;
	if (!b || b->n == 0)
		return;
	s->retire = NULL;
	call_rcu(&b->rcu, retire_batch_free);
}

void store_mem_retire(struct store *s, void *p)
{
	if (!p)
		return;
	if (!s->retire) {
		s->retire = store_mem_alloc(s, sizeof(*s->retire));
		if (!s->retire) {
			/* UNTESTED: no memory for a batch; wait out a grace period
			 * instead, so the free stays safe. */
			synchronize_rcu();
			store_mem_free(s, p);
			return;
		}
		s->retire->s = s;
		s->retire->n = 0;
	}
	TN_ASSERT(s->retire->n < STORE_RETIRE_BATCH_MAX);
	s->retire->ptr[s->retire->n++] = p;
	if (s->retire->n == STORE_RETIRE_BATCH_MAX)
		store_retire_flush(s);
}

struct znode *znode_new(struct store *s, const char *path, size_t path_len)
{
	TN_ASSERT(path_len > 0 && path[0] == '/');
	TN_ASSERT(memchr(path, '\0', path_len) == NULL); /* the length is strlen */
	struct znode *n = store_mem_alloc(s, offsetof(struct znode, path) + path_len + 1);
	if (!n)
		return NULL;
	memset(n, 0, offsetof(struct znode, path));
	cds_lfht_node_init(&n->ht);
	memcpy(n->path, path, path_len);
	n->path[path_len] = '\0';
	return n;
}

int znode_set_blob(struct store *s, struct znode *n, struct store_acl *acl, int64_t owner,
		   const uint8_t *data, int32_t len)
{
	if (len > 0 && (uint32_t)len > ZBLOB_LEN_MASK)
		return -ENOMEM; /* UNTESTED: beyond any data limit ZooKeeper allows */
	size_t olen = owner ? sizeof(owner) : 0, dlen = len > 0 ? (size_t)len : 0;
	struct znode_blob *b = store_mem_alloc(s, ZBLOB_HEAD + olen + dlen);
	if (!b)
		return -ENOMEM;
	b->acl = acl;
	b->meta = (owner ? ZBLOB_OWNER : 0) | (len < 0 ? ZBLOB_NULL : (uint32_t)dlen);
	if (owner)
		memcpy(b->bytes, &owner, sizeof(owner));
	if (dlen) {
		TN_ASSERT(data != NULL);
		memcpy(b->bytes + olen, data, dlen);
	}
	struct znode_blob *old = n->blob;
	/* Release: a reader that loads the pointer sees the blob's contents. The
	 * caller brackets the change with the seq counter, so a reader never
	 * pairs the new blob with the old stat; the old blob lives until a
	 * grace period has passed. */
	rcu_assign_pointer(n->blob, b);
	store_mem_retire(s, old);
	return 0;
}

int znode_set_data(struct store *s, struct znode *n, const uint8_t *data, int32_t len)
{
	TN_ASSERT(n->blob != NULL);
	return znode_set_blob(s, n, n->blob->acl, zblob_owner(n->blob), data, len);
}

void znode_discard(struct store *s, struct znode *n)
{
	if (n->blob) {
		store_acl_put(s, n->blob->acl);
		store_mem_free(s, n->blob);
	}
	store_mem_free(s, n);
}

/* The fields kept in the node header; the caller holds seq. */
static void znode_stat_hdr(const struct znode *n, struct zstat *st)
{
	st->czxid = n->czxid;
	st->mzxid = n->mzxid;
	st->ctime = n->ctime;
	st->mtime = n->mtime;
	st->version = n->version;
	st->cversion = n->cversion;
	st->aversion = n->aversion;
	st->num_children = n->nkids;
	st->pzxid = n->pzxid;
}

static void znode_stat_blob(const struct znode_blob *b, struct zstat *st)
{
	int32_t len = zblob_len(b);
	st->ephemeral_owner = zblob_owner(b);
	st->data_length = len > 0 ? len : 0;
}

void znode_stat(const struct znode *n, struct zstat *st)
{
	znode_stat_hdr(n, st);
	znode_stat_blob(n->blob, st);
}

static const uint8_t empty_data[1];

void znode_read(const struct znode *n, struct store_node_view *v)
{
	const struct znode_blob *b;
	for (;;) {
		/* Acquire: pairs with znode_write_end's release. */
		uint32_t s0 = atomic_load_explicit(&n->seq, memory_order_acquire);
		if (s0 & 1u) {
			caa_cpu_relax();
			continue;
		}
		b = rcu_dereference(n->blob);
		znode_stat_hdr(n, &v->stat);
		/* Acquire fence: the reads above happen before the re-check. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&n->seq, memory_order_relaxed) == s0)
			break;
	}
	/* The blob is immutable: read it outside the retry loop. */
	TN_ASSERT_HOT(b != NULL);
	int32_t len = zblob_len(b);
	znode_stat_blob(b, &v->stat);
	v->data_len = len;
	v->data = len > 0 ? zblob_data(b) : len == 0 ? empty_data : NULL;
	v->acl = &b->acl->list;
}

/* ---- ACL interning ---- */

static uint64_t acl_hash(const struct zk_acl_list *acl)
{
	uint64_t h = store_hash64(&acl->count, sizeof(acl->count), 0x61636cu);
	for (int32_t i = 0; i < acl->count; i++) {
		const struct zk_acl *a = &acl->v[i];
		h = store_hash64(&a->perms, sizeof(a->perms), h);
		h = store_hash64(a->id.scheme, strlen(a->id.scheme) + 1, h);
		h = store_hash64(a->id.id, strlen(a->id.id) + 1, h);
	}
	return h;
}

static bool acl_equal(const struct zk_acl_list *x, const struct zk_acl_list *y)
{
	if (x->count != y->count)
		return false;
	for (int32_t i = 0; i < x->count; i++) {
		if (x->v[i].perms != y->v[i].perms || strcmp(x->v[i].id.scheme, y->v[i].id.scheme) ||
		    strcmp(x->v[i].id.id, y->v[i].id.id))
			return false;
	}
	return true;
}

static struct store_acl *acl_copy(struct store *s, const struct zk_acl_list *acl, uint64_t h)
{
	size_t n = acl->count > 0 ? (size_t)acl->count : 0, str = 0;
	for (size_t i = 0; i < n; i++)
		str += strlen(acl->v[i].id.scheme) + strlen(acl->v[i].id.id) + 2;
	struct store_acl *a = store_mem_alloc(s, sizeof(*a) + n * sizeof(a->v[0]) + str);
	if (!a)
		return NULL;
	char *p = (char *)&a->v[n];
	for (size_t i = 0; i < n; i++) {
		size_t ls = strlen(acl->v[i].id.scheme) + 1, li = strlen(acl->v[i].id.id) + 1;
		a->v[i].perms = acl->v[i].perms;
		a->v[i].id.scheme = memcpy(p, acl->v[i].id.scheme, ls);
		a->v[i].id.id = memcpy(p + ls, acl->v[i].id.id, li);
		p += ls + li;
	}
	a->list.count = acl->count;
	a->list.v = a->v;
	a->hash = h;
	a->refs = 0;
	a->next = NULL;
	return a;
}

static int acl_tab_grow(struct store *s)
{
	uint32_t cap = s->acl_tab ? (s->acl_mask + 1) * 2 : STORE_ACL_TAB_MIN;
	struct store_acl **t = store_mem_alloc(s, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t, 0, cap * sizeof(*t));
	for (uint32_t i = 0; s->acl_tab && i <= s->acl_mask; i++) {
		struct store_acl *a = s->acl_tab[i], *next;
		for (; a; a = next) {
			next = a->next;
			a->next = t[a->hash & (cap - 1)];
			t[a->hash & (cap - 1)] = a;
		}
	}
	store_mem_free(s, s->acl_tab);
	s->acl_tab = t;
	s->acl_mask = cap - 1;
	return 0;
}

/* Return the shared copy of @acl with one more reference, or NULL (-ENOMEM).
 * Writer only. A NULL @acl is the null list. */
struct store_acl *store_acl_intern(struct store *s, const struct zk_acl_list *acl)
{
	static const struct zk_acl_list null_list = { -1, NULL };
	if (!acl || (acl->count > 0 && !acl->v))
		acl = &null_list;
	if (!s->acl_tab && acl_tab_grow(s) < 0)
		return NULL;
	uint64_t h = acl_hash(acl);
	struct store_acl *a = s->acl_tab[h & s->acl_mask];
	for (; a; a = a->next)
		if (a->hash == h && acl_equal(&a->list, acl))
			break;
	if (!a) {
		if (s->acl_count >= s->acl_mask && acl_tab_grow(s) < 0)
			return NULL;
		if (!(a = acl_copy(s, acl, h)))
			return NULL;
		a->next = s->acl_tab[h & s->acl_mask];
		s->acl_tab[h & s->acl_mask] = a;
		s->acl_count++;
	}
	a->refs++;
	TN_ASSERT(a->refs > 0);
	return a;
}

/* Drop one reference; the last one unlinks the list and retires it (readers
 * may still hold it). Writer only. */
void store_acl_put(struct store *s, struct store_acl *a)
{
	if (!a)
		return;
	TN_ASSERT(a->refs > 0);
	if (--a->refs > 0)
		return;
	struct store_acl **pp = &s->acl_tab[a->hash & s->acl_mask];
	while (*pp != a) {
		TN_ASSERT(*pp != NULL);
		pp = &(*pp)->next;
	}
	*pp = a->next;
	s->acl_count--;
	store_mem_retire(s, a);
}
