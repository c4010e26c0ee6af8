/* store/watch.c: watch tables and triggering (ZOOKEEPER.md §2.6).
 *
 * One record per (session, path) holds a bit mask of the kinds that session
 * set on that path. Records are on two doubly linked lists: the path's (to
 * trigger) and the session's (to drop a closed session in O(its watches)).
 * ZooKeeper's two tables map onto the bits:
 *   data table:  DATA, EXIST, PERSIST, RECURSIVE (RECURSIVE also matches
 *                every descendant path)
 *   child table: CHILD, PERSIST
 * A trigger fires the matching records of one table, clears the one-shot bits
 * (DATA, EXIST, CHILD) and frees empty records. Per trigger a session gets at
 * most one event: a per-trigger "seen" set (stamped, so it needs no clearing)
 * dedups it; delete's data and child triggers of the node share one stamp, so
 * the child one is suppressed for sessions the data one already notified.
 *
 * Locking: one mutex guards everything; the writer's triggers and any thread's
 * registrations take it. A writer with no watches registered skips the lock:
 * it changes the tree, then (seq_cst fence) reads the watch count; a
 * registrant increments the count (seq_cst) and then reads the tree. One of
 * the two always sees the other (store-load ordering), so a watch is either
 * triggered or fires at registration — never lost.
 */
#define STORE_TREE_INTERNAL
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store_int.h"

enum { W_DATA = 1, W_EXIST = 2, W_CHILD = 4, W_PERSIST = 8, W_RECURSIVE = 16 };
#define W_DATA_TABLE (W_DATA | W_EXIST | W_PERSIST | W_RECURSIVE)
#define W_CHILD_TABLE (W_CHILD | W_PERSIST)
#define W_ONESHOT (W_DATA | W_EXIST | W_CHILD)
#define W_TAB_MIN 64u

struct wpath;
struct wsess;

struct wrec {
	struct wrec *pnext, *pprev; /* the path's records */
	struct wrec *snext, *sprev; /* the session's records */
	struct wpath *wp;
	struct wsess *ws;
	uint32_t mask;
};

struct wpath {
	struct wpath *next; /* bucket chain */
	uint64_t hash;
	struct wrec *head;
	uint32_t len;
	char path[];
};

struct wsess {
	struct wsess *next;
	uint64_t id;
	struct wrec *head;
};

struct seen_slot {
	uint64_t session;
	uint32_t stamp;
};

struct store_watches {
	pthread_mutex_t lock;
	struct wpath **ptab;
	uint32_t pmask, pcount;
	struct wsess **stab;
	uint32_t smask, scount;
	_Atomic uint64_t total;  /* set bits over all records */
	uint64_t recursive;      /* records with W_RECURSIVE */
	struct seen_slot *seen;
	uint32_t seen_mask, seen_n, stamp;
};

/* ---- tables ---- */

static int tab_grow(void ***tab, uint32_t *mask, size_t next_off, size_t hash_off,
		    bool session_keyed)
{
	uint32_t cap = *tab ? (*mask + 1) * 2 : W_TAB_MIN;
	void **t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; *tab && i <= *mask; i++) {
		char *e = (*tab)[i], *next;
		for (; e; e = next) {
			next = *(char **)(e + next_off);
			uint64_t key = *(uint64_t *)(e + hash_off);
			uint64_t h = session_keyed ? store_hash64(&key, 8, 0) : key;
			*(void **)(e + next_off) = t[h & (cap - 1)];
			t[h & (cap - 1)] = e;
		}
	}
	free(*tab);
	*tab = t;
	*mask = cap - 1;
	return 0;
}

static struct wpath *wpath_find(struct store_watches *w, const char *p, size_t len, uint64_t h)
{
	struct wpath *wp = w->ptab[h & w->pmask];
	for (; wp; wp = wp->next)
		if (wp->hash == h && wp->len == len && memcmp(wp->path, p, len) == 0)
			return wp;
	return NULL;
}

static struct wsess *wsess_find(struct store_watches *w, uint64_t id)
{
	struct wsess *ws = w->stab[store_hash64(&id, 8, 0) & w->smask];
	while (ws && ws->id != id)
		ws = ws->next;
	return ws;
}

static struct wrec *wrec_get(struct store_watches *w, uint64_t session, const char *p,
			     size_t len)
{
	uint64_t h = store_hash64(p, len, 0);
	struct wpath *wp = wpath_find(w, p, len, h);
	struct wsess *ws = wsess_find(w, session);
	if (!wp || !ws)
		return NULL;
	for (struct wrec *r = wp->head; r; r = r->pnext)
		if (r->ws == ws)
			return r;
	return NULL;
}

static struct wpath *wpath_add(struct store_watches *w, const char *p, size_t len, uint64_t h)
{
	if (w->pcount > w->pmask &&
	    tab_grow((void ***)&w->ptab, &w->pmask, offsetof(struct wpath, next),
		     offsetof(struct wpath, hash), false) < 0)
		return NULL;
	struct wpath *wp = calloc(1, sizeof(*wp) + len + 1);
	if (!wp)
		return NULL;
	wp->hash = h;
	wp->len = (uint32_t)len;
	memcpy(wp->path, p, len);
	wp->next = w->ptab[h & w->pmask];
	w->ptab[h & w->pmask] = wp;
	w->pcount++;
	return wp;
}

static struct wsess *wsess_add(struct store_watches *w, uint64_t id)
{
	if (w->scount > w->smask &&
	    tab_grow((void ***)&w->stab, &w->smask, offsetof(struct wsess, next),
		     offsetof(struct wsess, id), true) < 0)
		return NULL;
	struct wsess *ws = calloc(1, sizeof(*ws));
	if (!ws)
		return NULL;
	ws->id = id;
	uint64_t h = store_hash64(&id, 8, 0);
	ws->next = w->stab[h & w->smask];
	w->stab[h & w->smask] = ws;
	w->scount++;
	return ws;
}

/* The record of (@session, @p), created with an empty mask if missing. */
static struct wrec *wrec_get_or_add(struct store_watches *w, uint64_t session, const char *p,
				    size_t len)
{
	uint64_t h = store_hash64(p, len, 0);
	struct wpath *wp = wpath_find(w, p, len, h);
	struct wsess *ws = wsess_find(w, session);
	if (wp && ws)
		for (struct wrec *r = wp->head; r; r = r->pnext)
			if (r->ws == ws)
				return r;
	if (!wp && !(wp = wpath_add(w, p, len, h)))
		return NULL;
	if (!ws && !(ws = wsess_add(w, session)))
		return NULL; /* an empty wpath is harmless: triggers skip it, free reclaims */
	struct wrec *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->wp = wp;
	r->ws = ws;
	if ((r->pnext = wp->head))
		wp->head->pprev = r;
	wp->head = r;
	if ((r->snext = ws->head))
		ws->head->sprev = r;
	ws->head = r;
	return r;
}

static void wpath_free(struct store_watches *w, struct wpath *wp)
{
	TN_ASSERT(wp->head == NULL && w->pcount > 0);
	struct wpath **pp = &w->ptab[wp->hash & w->pmask];
	while (*pp != wp)
		pp = &(*pp)->next;
	*pp = wp->next;
	w->pcount--;
	free(wp);
}

static void wsess_free(struct store_watches *w, struct wsess *ws)
{
	TN_ASSERT(ws->head == NULL && w->scount > 0);
	struct wsess **pp = &w->stab[store_hash64(&ws->id, 8, 0) & w->smask];
	while (*pp != ws)
		pp = &(*pp)->next;
	*pp = ws->next;
	w->scount--;
	free(ws);
}

/* Set @r's mask to @mask, keeping the counters; an empty record is unlinked
 * and freed with any path or session entry it leaves empty. */
static void wrec_set_mask(struct store_watches *w, struct wrec *r, uint32_t mask)
{
	TN_ASSERT(r->wp != NULL && r->ws != NULL);
	TN_ASSERT((mask & ~(uint32_t)(W_DATA_TABLE | W_CHILD_TABLE)) == 0);
	int64_t d = (int64_t)__builtin_popcount(mask) - __builtin_popcount(r->mask);
	atomic_fetch_add_explicit(&w->total, (uint64_t)d, memory_order_seq_cst);
	w->recursive += (uint64_t)(((mask & W_RECURSIVE) != 0) - ((r->mask & W_RECURSIVE) != 0));
	r->mask = mask;
	if (mask)
		return;
	if (r->pprev)
		r->pprev->pnext = r->pnext;
	else
		r->wp->head = r->pnext;
	if (r->pnext)
		r->pnext->pprev = r->pprev;
	if (r->sprev)
		r->sprev->snext = r->snext;
	else
		r->ws->head = r->snext;
	if (r->snext)
		r->snext->sprev = r->sprev;
	if (!r->wp->head)
		wpath_free(w, r->wp);
	if (!r->ws->head)
		wsess_free(w, r->ws);
	free(r);
}

int store_watches_new(struct store *s)
{
	struct store_watches *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	s->watches = w;
	if (tab_grow((void ***)&w->ptab, &w->pmask, 0, 0, false) < 0 ||
	    tab_grow((void ***)&w->stab, &w->smask, 0, 0, true) < 0)
		return -ENOMEM;
	return 0;
}

void store_watches_free(struct store *s)
{
	struct store_watches *w = s->watches;
	if (!w)
		return;
	for (uint32_t i = 0; w->stab && i <= w->smask; i++) {
		struct wsess *ws = w->stab[i], *nws;
		for (; ws; ws = nws) {
			nws = ws->next;
			struct wrec *r = ws->head, *nr;
			for (; r; r = nr) {
				nr = r->snext;
				free(r);
			}
			free(ws);
		}
	}
	for (uint32_t i = 0; w->ptab && i <= w->pmask; i++) {
		struct wpath *wp = w->ptab[i], *nwp;
		for (; wp; wp = nwp) {
			nwp = wp->next;
			free(wp);
		}
	}
	pthread_mutex_destroy(&w->lock);
	free(w->ptab);
	free(w->stab);
	free(w->seen);
	free(w);
	s->watches = NULL;
}

/* ---- triggering ---- */

static void seen_begin(struct store_watches *w)
{
	if (++w->stamp == 0) { /* wrapped: old stamps could collide */
		if (w->seen)
			memset(w->seen, 0, (w->seen_mask + 1) * sizeof(*w->seen));
		w->stamp = 1;
	}
	w->seen_n = 0;
}

/* Return 1 if @session was already notified in this trigger, 0 if not (now
 * marked), -ENOMEM. */
static int seen_mark(struct store_watches *w, uint64_t session)
{
	if (!w->seen || (w->seen_n + 1) * 2 > w->seen_mask + 1) {
		uint32_t cap = w->seen ? (w->seen_mask + 1) * 2 : 64;
		struct seen_slot *t = calloc(cap, sizeof(*t));
		if (!t)
			return -ENOMEM;
		for (uint32_t i = 0; w->seen && i <= w->seen_mask; i++) {
			if (w->seen[i].stamp != w->stamp)
				continue;
			uint32_t j = (uint32_t)store_hash64(&w->seen[i].session, 8, 1) & (cap - 1);
			while (t[j].stamp == w->stamp)
				j = (j + 1) & (cap - 1);
			t[j] = w->seen[i];
		}
		free(w->seen);
		w->seen = t;
		w->seen_mask = cap - 1;
	}
	TN_ASSERT(w->seen_n < w->seen_mask); /* at most half full: probing ends */
	uint32_t j = (uint32_t)store_hash64(&session, 8, 1) & w->seen_mask;
	for (; w->seen[j].stamp == w->stamp; j = (j + 1) & w->seen_mask)
		if (w->seen[j].session == session)
			return 1;
	w->seen[j] = (struct seen_slot){ session, w->stamp };
	w->seen_n++;
	return 0;
}

/* Fire the records of @p that match @match, clearing their one-shot bits. */
static int fire_path(struct store *s, const char *p, size_t len, uint32_t match, int32_t type,
		     tn_zxid zxid, const char *ev_path)
{
	struct store_watches *w = s->watches;
	TN_ASSERT(len > 0 && p[0] == '/');
	struct wpath *wp = wpath_find(w, p, len, store_hash64(p, len, 0));
	struct wrec *r = wp ? wp->head : NULL, *next;
	for (; r; r = next) {
		next = r->pnext; /* r may be freed below; its wpath only with the last one */
		if (!(r->mask & match))
			continue;
		int seen = seen_mark(w, r->ws->id);
		if (seen < 0 || (!seen && store_event_push(s, r->ws->id, type, zxid, ev_path) < 0))
			return -ENOMEM;
		wrec_set_mask(w, r, r->mask & ~(match & W_ONESHOT));
	}
	return 0;
}

/* ZooKeeper's dataWatches.triggerWatch: the path's own data-table watches,
 * then recursive watches on every ancestor. */
static int fire_data(struct store *s, const char *path, int32_t type, tn_zxid zxid)
{
	size_t len = strlen(path);
	int rc = fire_path(s, path, len, W_DATA_TABLE, type, zxid, path);
	if (rc < 0 || s->watches->recursive == 0)
		return rc;
	while (len > 1 && rc == 0) {
		while (len > 1 && path[len - 1] != '/')
			len--;
		if (len > 1)
			len--; /* drop the '/' unless it is the root */
		rc = fire_path(s, path, len, W_RECURSIVE, type, zxid, path);
	}
	return rc;
}

static int fire_parent_children(struct store *s, const char *path, tn_zxid zxid)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] != '/')
		len--;
	if (len > 1)
		len--;
	char *parent = store_scratch_strdup(s, path, len);
	if (!parent)
		return -ENOMEM;
	seen_begin(s->watches);
	return fire_path(s, parent, len, W_CHILD_TABLE, ZK_EVENT_CHILDREN_CHANGED, zxid, parent);
}

static bool any_watch(struct store *s)
{
	/* seq_cst: the tree change before this load, against the registrant's
	 * seq_cst increment before its tree read (see the file comment). */
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&s->watches->total, memory_order_seq_cst) != 0;
}

int store_watch_trigger_create(struct store *s, const char *path, tn_zxid zxid)
{
	if (!any_watch(s))
		return 0;
	struct store_watches *w = s->watches;
	pthread_mutex_lock(&w->lock);
	seen_begin(w);
	char *p = store_scratch_strdup(s, path, strlen(path)); /* events outlive the node */
	int rc = p ? fire_data(s, p, ZK_EVENT_CREATED, zxid) : -ENOMEM;
	if (rc == 0)
		rc = fire_parent_children(s, p, zxid);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

int store_watch_trigger_delete(struct store *s, const char *path, tn_zxid zxid)
{
	if (!any_watch(s))
		return 0;
	struct store_watches *w = s->watches;
	pthread_mutex_lock(&w->lock);
	seen_begin(w);
	int rc = fire_data(s, path, ZK_EVENT_DELETED, zxid);
	if (rc == 0) /* same stamp: suppressed for sessions already notified */
		rc = fire_path(s, path, strlen(path), W_CHILD_TABLE, ZK_EVENT_DELETED, zxid, path);
	if (rc == 0)
		rc = fire_parent_children(s, path, zxid);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

int store_watch_trigger_data(struct store *s, const char *path, tn_zxid zxid)
{
	if (!any_watch(s))
		return 0;
	struct store_watches *w = s->watches;
	pthread_mutex_lock(&w->lock);
	seen_begin(w);
	char *p = store_scratch_strdup(s, path, strlen(path));
	int rc = p ? fire_data(s, p, ZK_EVENT_DATA_CHANGED, zxid) : -ENOMEM;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* ---- registration ---- */

static uint32_t kind_bit(enum store_watch_kind kind)
{
	switch (kind) {
	case STORE_WATCH_DATA:
		return W_DATA;
	case STORE_WATCH_EXIST:
		return W_EXIST;
	case STORE_WATCH_CHILD:
		return W_CHILD;
	case STORE_WATCH_PERSISTENT:
		return W_PERSIST;
	case STORE_WATCH_RECURSIVE:
		return W_RECURSIVE;
	}
	return 0;
}

/* The SetWatches rules: the event to fire now instead of registering, or 0. */
static int32_t fire_now(struct store *s, const char *path, enum store_watch_kind kind,
			tn_zxid rel)
{
	struct store_node_view v;
	bool exists = store_get(s, path, &v) == ZK_OK;
	switch (kind) {
	case STORE_WATCH_DATA:
		if (!exists)
			return ZK_EVENT_DELETED;
		return (uint64_t)v.stat.mzxid > rel ? ZK_EVENT_DATA_CHANGED : 0;
	case STORE_WATCH_EXIST:
		if (!exists)
			return 0;
		/* Created after the caller's view: NodeCreated; changed since the
		 * mzxid it read: NodeDataChanged; else a plain data-table watch. */
		if ((uint64_t)v.stat.czxid > rel)
			return ZK_EVENT_CREATED;
		return (uint64_t)v.stat.mzxid > rel ? ZK_EVENT_DATA_CHANGED : 0;
	case STORE_WATCH_CHILD:
		if (!exists)
			return ZK_EVENT_DELETED;
		return (uint64_t)v.stat.pzxid > rel ? ZK_EVENT_CHILDREN_CHANGED : 0;
	default:
		return 0;
	}
}

int store_watch_add(struct store *s, uint64_t session, const char *path,
		    enum store_watch_kind kind, tn_zxid rel_zxid, struct store_event *fired)
{
	struct store_watches *w = s->watches;
	uint32_t bit = kind_bit(kind);
	if (!path || path[0] != '/' || !bit)
		return -EINVAL;
	bool on = store_rcu_enter();
	pthread_mutex_lock(&w->lock);
	/* Count first (seq_cst), read the tree after: see the file comment. */
	atomic_fetch_add_explicit(&w->total, 1, memory_order_seq_cst);
	int32_t ev = fire_now(s, path, kind, rel_zxid);
	int rc = 0;
	if (ev) {
		if (fired)
			*fired = (struct store_event){ session, ev, store_last_zxid(s), path };
		rc = 1;
	} else {
		struct wrec *r = wrec_get_or_add(w, session, path, strlen(path));
		if (!r)
			rc = -ENOMEM;
		else
			wrec_set_mask(w, r, r->mask | bit);
	}
	atomic_fetch_sub_explicit(&w->total, 1, memory_order_seq_cst);
	TN_ASSERT(rc != 1 || ev != 0);
	pthread_mutex_unlock(&w->lock);
	store_rcu_exit(on);
	return rc;
}

static uint32_t remove_mask(int32_t type)
{
	switch (type) {
	case ZK_WATCHER_CHILDREN:
		return W_CHILD;
	case ZK_WATCHER_DATA:
		return W_DATA | W_EXIST;
	case ZK_WATCHER_ANY:
		return W_DATA | W_EXIST | W_CHILD | W_PERSIST | W_RECURSIVE;
	case ZK_WATCHER_PERSISTENT:
		return W_PERSIST;
	case ZK_WATCHER_PERSISTENT_RECURSIVE:
		return W_RECURSIVE;
	default:
		return 0;
	}
}

int store_watch_remove(struct store *s, uint64_t session, const char *path, int32_t type,
		       bool dry_run)
{
	struct store_watches *w = s->watches;
	uint32_t mask = remove_mask(type);
	if (!path || !mask)
		return ZK_EBADARGUMENTS;
	pthread_mutex_lock(&w->lock);
	struct wrec *r = wrec_get(w, session, path, strlen(path));
	int rc = r && (r->mask & mask) ? ZK_OK : ZK_ENOWATCHER;
	if (rc == ZK_OK && !dry_run)
		wrec_set_mask(w, r, r->mask & ~mask);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void store_watch_drop_session(struct store *s, uint64_t session)
{
	struct store_watches *w = s->watches;
	pthread_mutex_lock(&w->lock);
	struct wsess *ws = wsess_find(w, session);
	/* The last record frees the session entry. */
	while (ws && ws->head) {
		bool last = ws->head->snext == NULL;
		wrec_set_mask(w, ws->head, 0);
		if (last)
			break;
	}
	pthread_mutex_unlock(&w->lock);
}

void store_watch_stats(struct store *s, struct store_watch_stats *out)
{
	struct store_watches *w = s->watches;
	pthread_mutex_lock(&w->lock);
	out->sessions = w->scount;
	out->paths = w->pcount;
	out->total = atomic_load_explicit(&w->total, memory_order_relaxed);
	pthread_mutex_unlock(&w->lock);
}

/* @fn runs under the watch lock: it must not call the watch functions. */
void store_watch_foreach(struct store *s, void (*fn)(void *arg, uint64_t session, const char *path),
			 void *arg)
{
	struct store_watches *w = s->watches;
	pthread_mutex_lock(&w->lock);
	for (uint32_t i = 0; i <= w->smask; i++)
		for (struct wsess *ws = w->stab[i]; ws; ws = ws->next)
			for (struct wrec *r = ws->head; r; r = r->snext)
				fn(arg, ws->id, r->wp->path);
	pthread_mutex_unlock(&w->lock);
}
