/* store/session.c: the sessions table and per-session ephemeral paths.
 *
 * The table maps a session id to its negotiated timeout and the set of its
 * ephemeral node paths (for closeSession prep and getEphemerals). It is small
 * next to the tree and touched from several threads (apply, prep, session
 * expiry, admin commands), so one mutex guards it; no read of the tree takes
 * it. An entry stays while the session is open or still owns ephemerals
 * (replay may create an ephemeral before its createSession is seen).
 *
 * struct store_strset is a chained hash set of path strings, also used by
 * ztree.c for the container/TTL index.
 */
#define STORE_TREE_INTERNAL
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store_int.h"

#define STRSET_MIN 16u
#define SESS_TAB_MIN 64u

struct strent {
	struct strent *next;
	uint64_t hash;
	uint32_t len;
	char s[];
};

struct store_strset {
	struct strent **tab;
	uint32_t mask, count;
};

struct sess {
	struct sess *next;
	uint64_t id;
	int32_t timeout_ms;
	bool open;
	struct store_strset *eph;
};

struct store_sessions {
	pthread_mutex_t lock;
	struct sess **tab;
	uint32_t mask, n, open_count;
};

/* ---- string sets ---- */

struct store_strset *store_strset_new(void)
{
	struct store_strset *set = calloc(1, sizeof(*set));
	if (!set)
		return NULL;
	if (!(set->tab = calloc(STRSET_MIN, sizeof(*set->tab)))) {
		free(set);
		return NULL;
	}
	set->mask = STRSET_MIN - 1;
	return set;
}

void store_strset_free(struct store_strset *set)
{
	if (!set)
		return;
	for (uint32_t i = 0; i <= set->mask; i++) {
		struct strent *e = set->tab[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(set->tab);
	free(set);
}

static int strset_grow(struct store_strset *set)
{
	uint32_t cap = (set->mask + 1) * 2;
	struct strent **t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i <= set->mask; i++) {
		struct strent *e = set->tab[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = t[e->hash & (cap - 1)];
			t[e->hash & (cap - 1)] = e;
		}
	}
	free(set->tab);
	set->tab = t;
	set->mask = cap - 1;
	return 0;
}

static struct strent **strset_find(struct store_strset *set, const char *p, size_t len,
				   uint64_t h)
{
	struct strent **pp = &set->tab[h & set->mask];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->s, p, len) == 0)
			break;
	return pp;
}

/* Return 1 if added, 0 if present, -ENOMEM. */
int store_strset_add(struct store_strset *set, const char *p, size_t len)
{
	uint64_t h = store_hash64(p, len, 0x73657421u);
	if (*strset_find(set, p, len, h))
		return 0;
	if (set->count > set->mask && strset_grow(set) < 0)
		return -ENOMEM;
	struct strent *e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->hash = h;
	e->len = (uint32_t)len;
	memcpy(e->s, p, len);
	e->s[len] = '\0';
	struct strent **pp = &set->tab[h & set->mask];
	e->next = *pp;
	*pp = e;
	set->count++;
	return 1;
}

void store_strset_del(struct store_strset *set, const char *p, size_t len)
{
	uint64_t h = store_hash64(p, len, 0x73657421u);
	struct strent **pp = strset_find(set, p, len, h), *e = *pp;
	if (!e)
		return;
	*pp = e->next;
	free(e);
	TN_ASSERT(set->count > 0);
	set->count--;
}

int store_strset_list(struct store_strset *set, const char *prefix, char ***out)
{
	if (!prefix)
		prefix = "";
	size_t plen = strlen(prefix), bytes = 0, n = 0;
	*out = NULL;
	for (uint32_t i = 0; set && i <= set->mask; i++)
		for (struct strent *e = set->tab[i]; e; e = e->next)
			if (e->len >= plen && memcmp(e->s, prefix, plen) == 0) {
				n++;
				bytes += e->len + 1;
			}
	if (n == 0)
		return 0;
	if (n > INT32_MAX)
		return -ENOMEM;
	char **v = malloc(n * sizeof(*v) + bytes);
	if (!v)
		return -ENOMEM;
	char *p = (char *)(v + n);
	size_t k = 0;
	for (uint32_t i = 0; i <= set->mask; i++)
		for (struct strent *e = set->tab[i]; e; e = e->next)
			if (e->len >= plen && memcmp(e->s, prefix, plen) == 0) {
				v[k++] = memcpy(p, e->s, e->len + 1);
				p += e->len + 1;
			}
	TN_ASSERT(k == n);
	*out = v;
	return (int)n;
}

/* ---- sessions ---- */

int store_sessions_new(struct store *s)
{
	struct store_sessions *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (!(t->tab = calloc(SESS_TAB_MIN, sizeof(*t->tab)))) {
		free(t);
		return -ENOMEM;
	}
	t->mask = SESS_TAB_MIN - 1;
	pthread_mutex_init(&t->lock, NULL);
	s->sessions = t;
	return 0;
}

void store_sessions_free(struct store *s)
{
	struct store_sessions *t = s->sessions;
	if (!t)
		return;
	for (uint32_t i = 0; i <= t->mask; i++) {
		struct sess *e = t->tab[i], *next;
		for (; e; e = next) {
			next = e->next;
			store_strset_free(e->eph);
			free(e);
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t->tab);
	free(t);
	s->sessions = NULL;
}

static uint64_t sess_hash(uint64_t id)
{
	return store_hash64(&id, sizeof(id), 0x73657373u);
}

static struct sess **sess_find(struct store_sessions *t, uint64_t id)
{
	struct sess **pp = &t->tab[sess_hash(id) & t->mask];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

static int sess_grow(struct store_sessions *t)
{
	uint32_t cap = (t->mask + 1) * 2;
	struct sess **nt = calloc(cap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (uint32_t i = 0; i <= t->mask; i++) {
		struct sess *e = t->tab[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = nt[sess_hash(e->id) & (cap - 1)];
			nt[sess_hash(e->id) & (cap - 1)] = e;
		}
	}
	free(t->tab);
	t->tab = nt;
	t->mask = cap - 1;
	return 0;
}

/* The entry of @id, created closed if missing. Lock held. */
static struct sess *sess_get_or_add(struct store_sessions *t, uint64_t id)
{
	struct sess **pp = sess_find(t, id);
	if (*pp)
		return *pp;
	if (t->n > t->mask) {
		if (sess_grow(t) < 0)
			return NULL;
		pp = sess_find(t, id);
	}
	struct sess *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->id = id;
	*pp = e;
	t->n++;
	return e;
}

/* Drop the entry if it is closed and owns nothing. Lock held. */
static void sess_maybe_free(struct store_sessions *t, struct sess *e)
{
	if (e->open || (e->eph && e->eph->count))
		return;
	struct sess **pp = sess_find(t, e->id);
	TN_ASSERT(*pp == e);
	*pp = e->next;
	store_strset_free(e->eph);
	free(e);
	t->n--;
}

int store_session_add(struct store *s, uint64_t session, int32_t timeout_ms)
{
	struct store_sessions *t = s->sessions;
	int rc = 0;
	pthread_mutex_lock(&t->lock);
	struct sess *e = sess_get_or_add(t, session);
	if (!e) {
		rc = -ENOMEM;
	} else {
		if (!e->open)
			t->open_count++;
		e->open = true;
		e->timeout_ms = timeout_ms;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void store_session_remove(struct store *s, uint64_t session)
{
	struct store_sessions *t = s->sessions;
	pthread_mutex_lock(&t->lock);
	struct sess *e = *sess_find(t, session);
	if (e) {
		if (e->open)
			t->open_count--;
		e->open = false;
		sess_maybe_free(t, e);
	}
	pthread_mutex_unlock(&t->lock);
}

int store_session_eph_add(struct store *s, uint64_t session, const char *path, size_t len)
{
	struct store_sessions *t = s->sessions;
	int rc = -ENOMEM;
	pthread_mutex_lock(&t->lock);
	struct sess *e = sess_get_or_add(t, session);
	if (e && (e->eph || (e->eph = store_strset_new())))
		rc = store_strset_add(e->eph, path, len);
	if (e && rc < 0)
		sess_maybe_free(t, e);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void store_session_eph_del(struct store *s, uint64_t session, const char *path, size_t len)
{
	struct store_sessions *t = s->sessions;
	pthread_mutex_lock(&t->lock);
	struct sess *e = *sess_find(t, session);
	if (e && e->eph) {
		store_strset_del(e->eph, path, len);
		sess_maybe_free(t, e);
	}
	pthread_mutex_unlock(&t->lock);
}

static int eph_list(struct store *s, uint64_t session, const char *prefix, char ***out)
{
	struct store_sessions *t = s->sessions;
	int n = 0;
	*out = NULL;
	pthread_mutex_lock(&t->lock);
	struct sess *e = *sess_find(t, session);
	if (e && e->eph)
		n = store_strset_list(e->eph, prefix, out);
	pthread_mutex_unlock(&t->lock);
	return n;
}

int store_session_eph_list(struct store *s, uint64_t session, char ***out)
{
	return eph_list(s, session, NULL, out);
}

int store_ephemerals(struct store *s, uint64_t session, const char *prefix,
		     int (*fn)(void *arg, const char *path), void *arg)
{
	char **v;
	int n = eph_list(s, session, prefix ? prefix : "", &v), rc = ZK_OK;
	if (n < 0)
		return ZK_ESYSTEM;
	for (int i = 0; i < n && rc == ZK_OK; i++)
		rc = fn(arg, v[i]);
	free(v);
	return rc;
}

bool store_session_get(struct store *s, uint64_t session, int32_t *timeout_ms)
{
	struct store_sessions *t = s->sessions;
	bool open = false;
	pthread_mutex_lock(&t->lock);
	struct sess *e = *sess_find(t, session);
	if (e && e->open) {
		open = true;
		if (timeout_ms)
			*timeout_ms = e->timeout_ms;
	}
	pthread_mutex_unlock(&t->lock);
	return open;
}

/* @fn runs on a snapshot of the table, without the lock, so it may call back
 * into the store. */
void store_session_foreach(struct store *s, void (*fn)(void *arg, uint64_t session,
						       int32_t timeout_ms), void *arg)
{
	struct store_sessions *t = s->sessions;
	struct { uint64_t id; int32_t to; } *v = NULL;
	uint32_t n = 0;
	pthread_mutex_lock(&t->lock);
	if (t->open_count && (v = malloc(t->open_count * sizeof(*v)))) {
		for (uint32_t i = 0; i <= t->mask; i++)
			for (struct sess *e = t->tab[i]; e; e = e->next)
				if (e->open) {
					v[n].id = e->id;
					v[n++].to = e->timeout_ms;
				}
	}
	pthread_mutex_unlock(&t->lock);
	TN_ASSERT(v == NULL || n > 0);
	for (uint32_t i = 0; i < n; i++)
		fn(arg, v[i].id, v[i].to);
	free(v);
}

uint64_t store_session_count(struct store *s)
{
	struct store_sessions *t = s->sessions;
	pthread_mutex_lock(&t->lock);
	uint64_t n = t->open_count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
