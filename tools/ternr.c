/* tools/ternr.c: shared recipe plumbing (retries, protected creates, child
 * lists, watch tokens) and the locks, fencing and election. The design is in
 * tools/ternr.h; observers, groups and naming are in ternr_misc.c, barriers
 * and queues in ternr_queue.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/tn_assert.h"
#include "tools/ternr_int.h"

#define WAIT_SLICE_MS 50 /* loop slice between cancel/deadline checks */

static bool (*cancel_fn)(void);

void ternr_set_cancel(bool (*fn)(void))
{
	cancel_fn = fn;
}

bool tr_cancelled(void)
{
	return cancel_fn && cancel_fn();
}

int64_t tr_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tr_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? INT64_MAX : tr_now_ms() + timeout_ms;
}

bool tr_dead(struct ternc *c)
{
	int s = ternc_state(c);
	return s == TERNC_EXPIRED || s == TERNC_CLOSED || s == TERNC_AUTH_FAILED;
}

/* Run the loop one slice. Return: ZK_OK, ZK_ESESSIONEXPIRED, TERNR_ECANCELED,
 * ZK_EOPERATIONTIMEOUT (past @deadline_ms). */
int tr_step(struct ternc *c, int64_t deadline_ms)
{
	if (tr_dead(c))
		return ZK_ESESSIONEXPIRED;
	if (tr_cancelled())
		return TERNR_ECANCELED;
	TN_ASSERT(ternc_loop_of(c));
	int64_t left = deadline_ms - tr_now_ms();
	if (left <= 0)
		return ZK_EOPERATIONTIMEOUT;
	int rc = ternc_loop_run(ternc_loop_of(c), (int)TN_MIN(left, (int64_t)WAIT_SLICE_MS));
	if (rc < 0 && rc != -EINTR)
		return ZK_ESYSTEM;
	return tr_dead(c) ? ZK_ESESSIONEXPIRED : ZK_OK;
}

int tr_wait_connected(struct ternc *c, int64_t deadline_ms)
{
	for (uint32_t i = 0; i < TERNR_STEPS_MAX; i++) {
		if (ternc_state(c) == TERNC_CONNECTED)
			return ZK_OK;
		int rc = tr_step(c, deadline_ms);
		if (rc != ZK_OK)
			return rc;
	}
	return ZK_EOPERATIONTIMEOUT;
}

bool tr_retryable(int rc)
{
	return rc == ZK_ECONNECTIONLOSS || rc == ZK_EOPERATIONTIMEOUT;
}

int tr_join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, TERNC_PATH_MAX, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name);
	return n > 0 && n < TERNC_PATH_MAX ? ZK_OK : ZK_EBADARGUMENTS;
}

int tr_check_path(const char *path)
{
	size_t n = path ? strlen(path) : 0;
	if (n == 0 || path[0] != '/' || n >= TERNC_PATH_MAX - 64 || (n > 1 && path[n - 1] == '/'))
		return ZK_EBADARGUMENTS;
	return ZK_OK;
}

/* ---- retried blocking calls ---- */

int tr_children(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg,
		struct ternc_result **out)
{
	int rc = ZK_ECONNECTIONLOSS;
	for (uint32_t i = 0; i < TERNR_RETRY_MAX && tr_retryable(rc); i++) {
		*out = NULL;
		rc = ternc_children_sync(c, path, wfn, warg, out);
		if (tr_retryable(rc)) {
			ternc_result_free(*out);
			*out = NULL;
			int w = tr_wait_connected(c, tr_deadline(ternc_session_timeout(c)));
			if (w != ZK_OK && w != ZK_EOPERATIONTIMEOUT)
				return w;
		}
	}
	if (rc != ZK_OK) {
		ternc_result_free(*out);
		*out = NULL;
	}
	return rc;
}

int tr_ensure_path(struct ternc *c, const char *path)
{
	char buf[TERNC_PATH_MAX];
	int rc = ternc_exists_sync(c, path, NULL, NULL, NULL);
	if (rc == ZK_OK)
		return ZK_OK;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = strchr(buf + 1, '/');; p = strchr(p + 1, '/')) {
		if (p)
			*p = '\0';
		rc = ZK_ECONNECTIONLOSS;
		for (uint32_t i = 0; i < TERNR_RETRY_MAX && tr_retryable(rc); i++) {
			rc = ternc_create_sync(c, buf, NULL, 0, NULL, TERNC_PERSISTENT, 0, NULL);
			if (tr_retryable(rc))
				tr_wait_connected(c, tr_deadline(ternc_session_timeout(c)));
		}
		if (rc != ZK_OK && rc != ZK_ENODEEXISTS)
			return rc;
		if (!p)
			return ZK_OK;
		*p = '/';
	}
}

int tr_delete(struct ternc *c, const char *path)
{
	int rc = ZK_ECONNECTIONLOSS;
	for (uint32_t i = 0; i < TERNR_RETRY_MAX && tr_retryable(rc); i++) {
		rc = ternc_delete_sync(c, path, -1);
		if (tr_retryable(rc)) {
			int w = tr_wait_connected(c, tr_deadline(ternc_session_timeout(c)));
			if (w == ZK_ESESSIONEXPIRED)
				return ZK_OK; /* ephemeral: the session's end deleted it */
		}
	}
	return rc == ZK_ENONODE ? ZK_OK : rc;
}

/* ---- protected sequential creates ---- */

void tr_guid(char out[TR_GUID_LEN + 1])
{
	uint8_t b[TR_GUID_LEN / 2];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		uint64_t x = (uint64_t)tr_now_ms() ^ ((uint64_t)(uintptr_t)out << 16);
		memcpy(b, &x, sizeof(b)); /* UNTESTED: getrandom cannot fail for 8 bytes */
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Our node among @dir's children, by guid. Return: ZK_OK (@out set), ZK_ENONODE. */
static int find_protected(struct ternc *c, const char *dir, const char *guid, char *out)
{
	struct ternc_result *r = NULL;
	int rc = tr_children(c, dir, NULL, NULL, &r);
	if (rc != ZK_OK)
		return rc;
	rc = ZK_ENONODE;
	for (int32_t i = 0; i < r->count && rc == ZK_ENONODE; i++)
		if (strstr(r->names[i], guid))
			rc = tr_join(out, dir, r->names[i]);
	ternc_result_free(r);
	return rc;
}

int tr_create_protected(struct ternc *c, const char *dir, const char *base, const char *guid,
			const void *data, int32_t len, int mode, char *out, struct zstat *st)
{
	char name[TERNC_PATH_MAX];
	int rc = tr_join(name, dir, base);
	for (uint32_t i = 0; i < TERNR_RETRY_MAX && rc == ZK_OK; i++) {
		struct ternc_result *r = NULL;
		rc = ternc_create_sync(c, name, data, len, NULL, mode, 0, &r);
		if (rc == ZK_OK) {
			snprintf(out, TERNC_PATH_MAX, "%s", r->path);
			*st = r->stat;
			ternc_result_free(r);
			return ZK_OK;
		}
		ternc_result_free(r);
		if (rc == ZK_ENONODE) {
			rc = tr_ensure_path(c, dir);
			continue;
		}
		if (!tr_retryable(rc))
			return rc;
		/* the create may have happened: look for our guid before retrying */
		rc = tr_wait_connected(c, tr_deadline(ternc_session_timeout(c)));
		if (rc == ZK_EOPERATIONTIMEOUT)
			rc = ZK_OK;
		if (rc != ZK_OK)
			return rc;
		rc = find_protected(c, dir, guid, out);
		if (rc == ZK_OK) {
			rc = ternc_exists_sync(c, out, NULL, NULL, st);
			if (rc == ZK_OK)
				return ZK_OK;
		}
		if (rc == ZK_ENONODE || tr_retryable(rc))
			rc = ZK_OK;
	}
	return rc == ZK_OK ? ZK_ECONNECTIONLOSS : rc;
}

/* ---- sorted recipe children ---- */

static int seq_cmp(const void *a, const void *b)
{
	const struct tr_node *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int tr_parse(const struct ternc_result *r, struct tr_list *out)
{
	memset(out, 0, sizeof(*out));
	uint32_t n = (uint32_t)TN_MIN(r->count, TERNR_CHILDREN_MAX);
	out->v = calloc(n ? n : 1, sizeof(*out->v));
	if (!out->v)
		return ZK_ESYSTEM;
	for (uint32_t i = 0; i < n; i++) {
		const char *nm = r->names[i];
		size_t l = strlen(nm);
		/* "_c_" guid "-" kind "-" 10 digits */
		if (strncmp(nm, "_c_", 3) != 0 || l < 3 + TR_GUID_LEN + 1 + 1 + 11 ||
		    l >= sizeof(out->v[0].name))
			continue;
		struct tr_node *nd = &out->v[out->count];
		snprintf(nd->name, sizeof(nd->name), "%s", nm);
		nd->seq = strtoll(nm + l - 10, NULL, 10);
		const char *kind = nm + 3 + TR_GUID_LEN + 1;
		nd->kind = strncmp(kind, "read-", 5) == 0    ? TERNR_LOCK_READ
			   : strncmp(kind, "write-", 6) == 0 ? TERNR_LOCK_WRITE
							     : TERNR_LOCK_EXCLUSIVE;
		out->count++;
	}
	qsort(out->v, out->count, sizeof(*out->v), seq_cmp);
	return ZK_OK;
}

int tr_list(struct ternc *c, const char *dir, struct tr_list *out)
{
	struct ternc_result *r = NULL;
	memset(out, 0, sizeof(*out));
	int rc = tr_children(c, dir, NULL, NULL, &r);
	if (rc != ZK_OK)
		return rc;
	rc = tr_parse(r, out);
	ternc_result_free(r);
	return rc;
}

void tr_list_free(struct tr_list *l)
{
	free(l->v);
	l->v = NULL;
	l->count = 0;
}

/* ---- watch tokens ----
 * ternc calls a registered one-shot watcher exactly once (an event, or the
 * session's end), and an accepted async call's callback exactly once. Their
 * @arg is a token naming the owner; an owner freed earlier orphans its
 * tokens, and the token is freed when ternc hands it back. */

struct tr_tok *tr_tok_new(struct tr_owner *o)
{
	struct tr_tok *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->owner = o;
	t->next = o->toks;
	o->toks = t;
	return t;
}

struct tr_owner *tr_tok_take(struct tr_tok *t)
{
	TN_ASSERT(t);
	struct tr_owner *o = t->owner;
	if (o) {
		struct tr_tok **pp = &o->toks;
		while (*pp != t) {
			TN_ASSERT(*pp); /* a live owner lists every token it handed out */
			pp = &(*pp)->next;
		}
		*pp = t->next;
	}
	free(t);
	return o;
}

void tr_owner_orphan(struct tr_owner *o)
{
	for (struct tr_tok *t = o->toks; t; t = t->next)
		t->owner = NULL;
	o->toks = NULL;
}

/* A watch call came back: if the watcher was not registered, ternc will
 * never hand the token back, so take it now. On a lost reply it is unknown:
 * the token is orphaned and leaks (bounded by the number of such losses). */
void tr_tok_settle(struct tr_tok *t, int rc, bool exists_call)
{
	if (rc == ZK_OK || (exists_call && rc == ZK_ENONODE))
		return;
	if (tr_retryable(rc)) {
		struct tr_owner *o = t->owner;
		if (o) {
			struct tr_tok **pp = &o->toks;
			while (*pp != t) {
				TN_ASSERT(*pp);
				pp = &(*pp)->next;
			}
			*pp = t->next;
		}
		t->owner = NULL;
		return;
	}
	tr_tok_take(t);
}

/* ---- locks ---- */

enum { LK_IDLE, LK_WAITING, LK_HELD, LK_LOST };

struct ternr_lock {
	struct tr_owner own; /* first: tokens point here */
	struct ternc *c;
	char dir[TERNC_PATH_MAX];
	char node[TERNC_PATH_MAX];
	char guid[TR_GUID_LEN + 1];
	int kind;
	uint8_t *data;
	int32_t len;
	ternr_lost_fn lost_fn;
	void *lost_arg;
	int state;
	int lost_err;
	bool woken;
	uint32_t wait_gen; /* which wait a waiter token belongs to */
	uint32_t wakeups;
	int64_t token;
	int64_t disc_since_ms;
};

int ternr_lock_new(struct ternc *c, const struct ternr_lock_cfg *cfg, struct ternr_lock **out)
{
	if (!c || !cfg || !out || tr_check_path(cfg->path) != ZK_OK ||
	    cfg->kind < TERNR_LOCK_EXCLUSIVE || cfg->kind > TERNR_LOCK_WRITE || cfg->len < -1 ||
	    (cfg->len > 0 && !cfg->data))
		return ZK_EBADARGUMENTS;
	struct ternr_lock *l = calloc(1, sizeof(*l));
	if (!l)
		return ZK_ESYSTEM;
	if (cfg->len > 0) {
		l->data = malloc((size_t)cfg->len);
		if (!l->data) {
			free(l);
			return ZK_ESYSTEM;
		}
		memcpy(l->data, cfg->data, (size_t)cfg->len);
	}
	l->c = c;
	l->len = cfg->len;
	l->kind = cfg->kind;
	l->lost_fn = cfg->lost_fn;
	l->lost_arg = cfg->lost_arg;
	snprintf(l->dir, sizeof(l->dir), "%s", cfg->path);
	tr_guid(l->guid);
	*out = l;
	return ZK_OK;
}

void ternr_lock_free(struct ternr_lock *l)
{
	if (!l)
		return;
	if (l->node[0] && !tr_dead(l->c) && ternc_state(l->c) == TERNC_CONNECTED)
		ternr_lock_release(l);
	tr_owner_orphan(&l->own);
	free(l->data);
	free(l);
}

static void lock_lost(struct ternr_lock *l, int err)
{
	if (l->state != LK_HELD)
		return;
	l->state = LK_LOST;
	l->lost_err = err;
	if (l->lost_fn)
		l->lost_fn(l, err, l->lost_arg);
}

static void lock_held_watch(struct ternc *c, const struct ternc_event *ev, void *arg)
{
	struct ternr_lock *l = (struct ternr_lock *)tr_tok_take(arg);
	if (!l || l->state != LK_HELD)
		return;
	if (ev->type == ZK_EVENT_NONE) {
		lock_lost(l, ZK_ESESSIONEXPIRED);
	} else if (ev->type == ZK_EVENT_DELETED) {
		lock_lost(l, ZK_ENONODE);
	} else { /* someone touched our node: keep watching */
		struct tr_tok *t = tr_tok_new(&l->own);
		if (t && ternc_exists(c, l->node, lock_held_watch, t, NULL, NULL) != ZK_OK)
			tr_tok_take(t);
	}
}

static void lock_wait_watch(struct ternc *c, const struct ternc_event *ev, void *arg)
{
	uint32_t gen = ((struct tr_tok *)arg)->gen;
	struct ternr_lock *l = (struct ternr_lock *)tr_tok_take(arg);
	(void)c;
	if (!l || (gen != l->wait_gen && ev->type != ZK_EVENT_NONE))
		return; /* a watch left from an earlier wait (its node was gone, or we gave up) */
	l->woken = true;
	if (ev->type != ZK_EVENT_NONE && l->state == LK_WAITING)
		l->wakeups++;
}

/* The node we must wait for, or -1 if we hold the lock; -2 if ours is gone. */
static int32_t lock_pred(const struct ternr_lock *l, const struct tr_list *ls)
{
	TN_ASSERT(l->node[0] == '/' && l->state == LK_WAITING);
	const char *mine = strrchr(l->node, '/') + 1;
	for (uint32_t i = 0; i < ls->count; i++) {
		if (strcmp(ls->v[i].name, mine) != 0)
			continue;
		if (l->kind != TERNR_LOCK_READ)
			return (int32_t)i - 1;
		for (int32_t j = (int32_t)i - 1; j >= 0; j--)
			if (ls->v[j].kind != TERNR_LOCK_READ)
				return j;
		return -1;
	}
	return -2;
}

/* Wait for @pred's deletion. Return: ZK_OK (look again), errors. */
static int lock_wait_pred(struct ternr_lock *l, const char *pred, int64_t deadline_ms)
{
	char path[TERNC_PATH_MAX];
	int rc = tr_join(path, l->dir, pred);
	if (rc != ZK_OK)
		return rc;
	struct tr_tok *t = tr_tok_new(&l->own);
	if (!t)
		return ZK_ESYSTEM;
	t->gen = ++l->wait_gen;
	l->woken = false;
	rc = ternc_exists_sync(l->c, path, lock_wait_watch, t, NULL);
	tr_tok_settle(t, rc, true);
	if (rc == ZK_ENONODE)
		return ZK_OK;
	if (tr_retryable(rc)) {
		rc = tr_wait_connected(l->c, deadline_ms);
		return rc;
	}
	for (uint32_t i = 0; rc == ZK_OK && !l->woken && i < TERNR_STEPS_MAX; i++)
		rc = tr_step(l->c, deadline_ms);
	return rc;
}

static int lock_make_node(struct ternr_lock *l)
{
	static const char *const kinds[] = {"lock", "read", "write"};
	struct zstat st;
	char base[64];
	snprintf(base, sizeof(base), "_c_%s-%s-", l->guid, kinds[l->kind]);
	int rc = tr_create_protected(l->c, l->dir, base, l->guid, l->data, l->data ? l->len : 0,
				     TERNC_EPHEMERAL_SEQUENTIAL, l->node, &st);
	if (rc == ZK_OK)
		l->token = st.czxid;
	return rc;
}

static int lock_got(struct ternr_lock *l)
{
	TN_ASSERT(l->node[0] && l->token > 0);
	l->state = LK_HELD;
	l->disc_since_ms = 0;
	struct tr_tok *t = tr_tok_new(&l->own);
	if (!t)
		return ZK_ESYSTEM;
	int rc = ternc_exists_sync(l->c, l->node, lock_held_watch, t, NULL);
	tr_tok_settle(t, rc, true);
	if (rc == ZK_ENONODE)
		lock_lost(l, ZK_ENONODE);
	return l->state == LK_HELD ? ZK_OK : l->lost_err;
}

int ternr_lock_acquire(struct ternr_lock *l, int timeout_ms)
{
	TN_ASSERT(l);
	if (l->state == LK_HELD)
		return ZK_OK;
	int64_t deadline_ms = tr_deadline(timeout_ms);
	int rc = ZK_OK;
	l->state = LK_WAITING;
	l->wakeups = 0;
	l->token = 0;
	for (uint32_t i = 0; i < TERNR_STEPS_MAX && rc == ZK_OK; i++) {
		if (!l->node[0] && (rc = lock_make_node(l)) != ZK_OK)
			break;
		struct tr_list ls;
		if ((rc = tr_list(l->c, l->dir, &ls)) != ZK_OK)
			break;
		int32_t p = lock_pred(l, &ls);
		char pred[TR_NAME_MAX];
		if (p >= 0)
			snprintf(pred, sizeof(pred), "%s", ls.v[p].name);
		tr_list_free(&ls);
		if (p == -1)
			return lock_got(l);
		if (p == -2) { /* our node vanished (deleted, or a new session) */
			if (tr_dead(l->c)) {
				rc = ZK_ESESSIONEXPIRED;
				break;
			}
			l->node[0] = '\0';
			continue;
		}
		rc = lock_wait_pred(l, pred, deadline_ms);
	}
	l->state = LK_IDLE;
	if (l->node[0] && !tr_dead(l->c)) /* give our place up */
		tr_delete(l->c, l->node);
	l->node[0] = '\0';
	return rc == ZK_OK ? ZK_EOPERATIONTIMEOUT : rc;
}

int ternr_lock_release(struct ternr_lock *l)
{
	TN_ASSERT(l);
	int rc = ZK_OK;
	if (l->node[0]) {
		l->state = LK_IDLE; /* before the delete: its watch event is not a loss */
		rc = tr_delete(l->c, l->node);
	}
	l->node[0] = '\0';
	l->state = LK_IDLE;
	return rc;
}

int ternr_lock_check(struct ternr_lock *l)
{
	TN_ASSERT(l);
	if (l->state == LK_LOST)
		return l->lost_err;
	if (l->state != LK_HELD)
		return ZK_EAPI;
	if (tr_dead(l->c)) {
		lock_lost(l, ZK_ESESSIONEXPIRED);
		return ZK_ESESSIONEXPIRED;
	}
	if (ternc_state(l->c) == TERNC_CONNECTED) {
		l->disc_since_ms = 0;
		return ZK_OK;
	}
	int64_t now = tr_now_ms();
	if (!l->disc_since_ms)
		l->disc_since_ms = now;
	if (now - l->disc_since_ms > ternc_session_timeout(l->c)) {
		lock_lost(l, ZK_ESESSIONEXPIRED); /* the server has expired us by now */
		return ZK_ESESSIONEXPIRED;
	}
	return ZK_ECONNECTIONLOSS;
}

int64_t ternr_lock_token(const struct ternr_lock *l)
{
	return l->state == LK_HELD || l->state == LK_LOST ? l->token : 0;
}

const char *ternr_lock_node(const struct ternr_lock *l)
{
	return l->node;
}

uint32_t ternr_lock_wakeups(const struct ternr_lock *l)
{
	return l->wakeups;
}

/* The first exclusive/write node of @path (the holder, or the leader). */
static int first_node(struct ternc *c, const char *path, char *out)
{
	struct tr_list ls;
	int rc = tr_list(c, path, &ls);
	if (rc != ZK_OK)
		return rc;
	rc = ls.count ? tr_join(out, path, ls.v[0].name) : ZK_ENONODE;
	tr_list_free(&ls);
	return rc;
}

int ternr_fence_check(struct ternc *c, const char *path, int64_t token)
{
	char node[TERNC_PATH_MAX];
	struct zstat st;
	if (!c || tr_check_path(path) != ZK_OK)
		return ZK_EBADARGUMENTS;
	int rc = ternc_sync_sync(c, path); /* read the leader's latest state */
	if (rc != ZK_OK && rc != ZK_ENONODE)
		return rc;
	rc = first_node(c, path, node);
	if (rc == ZK_ENONODE)
		return ZK_EBADVERSION;
	if (rc == ZK_OK)
		rc = ternc_exists_sync(c, node, NULL, NULL, &st);
	if (rc == ZK_ENONODE)
		return ZK_EBADVERSION;
	if (rc != ZK_OK)
		return rc;
	return st.czxid == token ? ZK_OK : ZK_EBADVERSION;
}

/* ---- election: who leads ---- */

int ternr_leader_get(struct ternc *c, const char *path, char *id, size_t cap, int64_t *token)
{
	char node[TERNC_PATH_MAX];
	if (!c || tr_check_path(path) != ZK_OK || !id || cap == 0)
		return ZK_EBADARGUMENTS;
	for (uint32_t i = 0; i < TERNR_RETRY_MAX; i++) {
		int rc = first_node(c, path, node);
		if (rc != ZK_OK)
			return rc;
		struct ternc_result *r = NULL;
		rc = ternc_get_sync(c, node, NULL, NULL, &r);
		if (rc == ZK_OK) {
			size_t n = r->data_len > 0 ? TN_MIN((size_t)r->data_len, cap - 1) : 0;
			memcpy(id, r->data, n);
			id[n] = '\0';
			if (token)
				*token = r->stat.czxid;
		}
		ternc_result_free(r);
		if (rc != ZK_ENONODE && !tr_retryable(rc))
			return rc;
		/* the leader went away between list and get: look again */
	}
	return ZK_ECONNECTIONLOSS;
}
