/* tools/ternr_queue.c: barriers, the double barrier and the FIFO/priority
 * queue (blocking calls). Design: tools/ternr.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "tools/ternr_int.h"

#define READY_NAME "ready" /* the double barrier's "all entered" node */
#define ITEM_NAME_LEN 33   /* "q-PPP-" guid16 "-" seq10 */

/* A blocking wait for one watch event. Lives on the caller's stack; its
 * tokens are orphaned before it goes away. */
struct waiter {
	struct tr_owner own;
	bool woken;
};

static void waiter_watch(struct ternc *c, const struct ternc_event *ev, void *arg)
{
	struct waiter *w = (struct waiter *)tr_tok_take(arg);
	(void)c;
	(void)ev;
	if (w)
		w->woken = true;
}

/* exists(@path) with a watch. Return: ZK_OK (exists: wait), ZK_ENONODE, errors. */
static int waiter_exists(struct waiter *w, struct ternc *c, const char *path)
{
	struct tr_tok *t = tr_tok_new(&w->own);
	if (!t)
		return ZK_ESYSTEM;
	w->woken = false;
	TN_ASSERT(path[0] == '/');
	int rc = ternc_exists_sync(c, path, waiter_watch, t, NULL);
	tr_tok_settle(t, rc, true);
	return rc;
}

/* Run the loop until the watch fired. Return: ZK_OK, errors of tr_step. */
static int waiter_wait(struct waiter *w, struct ternc *c, int64_t deadline_ms)
{
	TN_ASSERT(w && c);
	int rc = ZK_OK;
	for (uint32_t i = 0; rc == ZK_OK && !w->woken && i < TERNR_STEPS_MAX; i++)
		rc = tr_step(c, deadline_ms);
	return rc;
}

/* Turn a lost reply into "look again" once the session is back. */
static int settle(struct ternc *c, int rc, int64_t deadline_ms)
{
	if (!tr_retryable(rc))
		return rc;
	return tr_wait_connected(c, deadline_ms);
}

/* ---- barrier ---- */

int ternr_barrier_set(struct ternc *c, const char *path)
{
	if (!c || tr_check_path(path) != ZK_OK)
		return ZK_EBADARGUMENTS;
	return tr_ensure_path(c, path);
}

int ternr_barrier_remove(struct ternc *c, const char *path)
{
	if (!c || tr_check_path(path) != ZK_OK)
		return ZK_EBADARGUMENTS;
	return tr_delete(c, path);
}

int ternr_barrier_wait(struct ternc *c, const char *path, int timeout_ms)
{
	if (!c || tr_check_path(path) != ZK_OK)
		return ZK_EBADARGUMENTS;
	struct waiter w = {0};
	int64_t deadline_ms = tr_deadline(timeout_ms);
	int rc = ZK_OK;
	for (uint32_t i = 0; i < TERNR_STEPS_MAX && rc == ZK_OK; i++) {
		rc = waiter_exists(&w, c, path);
		if (rc == ZK_ENONODE)
			break;
		rc = rc == ZK_OK ? waiter_wait(&w, c, deadline_ms) : settle(c, rc, deadline_ms);
	}
	tr_owner_orphan(&w.own);
	return rc == ZK_ENONODE ? ZK_OK : rc == ZK_OK ? ZK_EOPERATIONTIMEOUT : rc;
}

/* ---- double barrier ---- */

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The participants (without "ready"), sorted; borrowed from *@r. */
static int dbarrier_list(struct ternc *c, const char *path, const char ***names, uint32_t *n,
			 struct ternc_result **r)
{
	int rc = tr_children(c, path, NULL, NULL, r);
	if (rc != ZK_OK)
		return rc;
	*names = calloc((size_t)(*r)->count + 1, sizeof(char *));
	if (!*names) {
		ternc_result_free(*r);
		return ZK_ESYSTEM;
	}
	*n = 0;
	for (int32_t i = 0; i < (*r)->count; i++)
		if (strcmp((*r)->names[i], READY_NAME) != 0)
			(*names)[(*n)++] = (*r)->names[i];
	qsort(*names, *n, sizeof(char *), str_cmp);
	return ZK_OK;
}

int ternr_dbarrier_enter(struct ternc *c, const char *path, const char *name, uint32_t n,
			 int timeout_ms)
{
	char ready[TERNC_PATH_MAX];
	if (!c || tr_check_path(path) != ZK_OK || n == 0 || !name ||
	    strcmp(name, READY_NAME) == 0 || tr_join(ready, path, READY_NAME) != ZK_OK)
		return ZK_EBADARGUMENTS;
	int64_t deadline_ms = tr_deadline(timeout_ms);
	struct waiter w = {0};
	int rc = tr_ensure_path(c, path);
	if (rc == ZK_OK)
		rc = waiter_exists(&w, c, ready); /* before joining: no event can be missed */
	if (rc == ZK_OK || rc == ZK_ENONODE) {
		bool is_ready = rc == ZK_OK;
		rc = ternr_group_join(c, path, name, NULL, 0);
		if (rc == ZK_OK && !is_ready) {
			struct ternc_result *r = NULL;
			const char **names = NULL;
			uint32_t count = 0;
			rc = dbarrier_list(c, path, &names, &count, &r);
			if (rc == ZK_OK) {
				free(names);
				ternc_result_free(r);
				if (count >= n) {
					rc = ternc_create_sync(c, ready, NULL, 0, NULL,
							       TERNC_PERSISTENT, 0, NULL);
					rc = rc == ZK_ENODEEXISTS || tr_retryable(rc) ? ZK_OK : rc;
					w.woken = true;
				}
				if (rc == ZK_OK)
					rc = waiter_wait(&w, c, deadline_ms);
			}
		}
	}
	tr_owner_orphan(&w.own);
	return rc;
}

/* One round of leave. Return: ZK_OK (done), 1 (wait on @watch), errors. */
static int dbarrier_leave_step(struct ternc *c, const char *path, const char *name, char *watch)
{
	struct ternc_result *r = NULL;
	const char **v = NULL;
	uint32_t n = 0;
	char mine[TERNC_PATH_MAX];
	int rc = dbarrier_list(c, path, &v, &n, &r);
	if (rc != ZK_OK)
		return rc;
	bool present = false;
	for (uint32_t i = 0; i < n; i++)
		present |= strcmp(v[i], name) == 0;
	tr_join(mine, path, name);
	if (n == 0 || (n == 1 && present)) {
		rc = present ? tr_delete(c, mine) : ZK_OK;
		if (rc == ZK_OK) { /* last one out: the path can serve another round */
			tr_join(mine, path, READY_NAME);
			tr_delete(c, mine);
		}
	} else if (present && strcmp(v[0], name) == 0) {
		rc = tr_join(watch, path, v[n - 1]) == ZK_OK ? 1 : ZK_EBADARGUMENTS;
	} else {
		rc = present ? tr_delete(c, mine) : ZK_OK;
		if (rc == ZK_OK)
			rc = tr_join(watch, path, v[0]) == ZK_OK ? 1 : ZK_EBADARGUMENTS;
	}
	free(v);
	ternc_result_free(r);
	return rc;
}

int ternr_dbarrier_leave(struct ternc *c, const char *path, const char *name, int timeout_ms)
{
	if (!c || tr_check_path(path) != ZK_OK || !name || strchr(name, '/'))
		return ZK_EBADARGUMENTS;
	int64_t deadline_ms = tr_deadline(timeout_ms);
	struct waiter w = {0};
	char watch[TERNC_PATH_MAX];
	int rc = 1;
	for (uint32_t i = 0; i < TERNR_STEPS_MAX && rc == 1; i++) {
		rc = dbarrier_leave_step(c, path, name, watch);
		if (rc == 1) {
			rc = waiter_exists(&w, c, watch);
			if (rc == ZK_OK)
				rc = waiter_wait(&w, c, deadline_ms);
			else if (rc != ZK_ENONODE)
				rc = settle(c, rc, deadline_ms);
			rc = rc == ZK_OK || rc == ZK_ENONODE ? 1 : rc;
		}
	}
	tr_owner_orphan(&w.own);
	return rc == 1 ? ZK_EOPERATIONTIMEOUT : rc;
}

/* ---- queue ---- */

int ternr_queue_push(struct ternc *c, const char *path, uint32_t prio, const void *data,
		     int32_t len)
{
	char guid[TR_GUID_LEN + 1], base[64], out[TERNC_PATH_MAX];
	struct zstat st;
	if (!c || tr_check_path(path) != ZK_OK || prio > TERNR_PRIO_MAX || len < -1 ||
	    (len > 0 && !data))
		return ZK_EBADARGUMENTS;
	tr_guid(guid);
	snprintf(base, sizeof(base), "q-%03u-%s-", prio, guid);
	return tr_create_protected(c, path, base, guid, data, len, TERNC_SEQUENTIAL, out, &st);
}

void ternr_item_free(struct ternr_item *it)
{
	if (!it)
		return;
	free(it->name);
	free(it->data);
	free(it);
}

static int item_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int c = strncmp(x + 2, y + 2, 3); /* priority */
	return c ? c : strcmp(x + ITEM_NAME_LEN - 10, y + ITEM_NAME_LEN - 10);
}

/* Items of a getChildren reply in (priority, sequence) order: the fixed
 * width of PPP and of the sequence number make that a string compare. */
static const char **queue_items(const struct ternc_result *r, uint32_t *n)
{
	const char **v = calloc((size_t)r->count + 1, sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (int32_t i = 0; i < r->count; i++)
		if (strncmp(r->names[i], "q-", 2) == 0 && strlen(r->names[i]) == ITEM_NAME_LEN)
			v[(*n)++] = r->names[i];
	qsort(v, *n, sizeof(*v), item_cmp);
	return v;
}

static int item_copy(const char *name, const struct ternc_result *r, struct ternr_item **out)
{
	struct ternr_item *it = calloc(1, sizeof(*it));
	size_t n = r->data_len > 0 ? (size_t)r->data_len : 0;
	if (it) {
		it->name = strdup(name);
		it->data = malloc(n + 1);
	}
	if (!it || !it->name || !it->data) {
		ternr_item_free(it);
		return ZK_ESYSTEM;
	}
	memcpy(it->data, r->data, n);
	it->data[n] = '\0';
	it->len = r->data_len;
	*out = it;
	return ZK_OK;
}

/* Did our take of the claim's item happen before the reply was lost? */
static bool claim_is_ours(struct ternc *c, const char *claim, const char *guid)
{
	struct ternc_result *r = NULL;
	bool ours = false;
	for (uint32_t i = 0; i < TERNR_RETRY_MAX; i++) {
		int rc = ternc_get_sync(c, claim, NULL, NULL, &r);
		ours = rc == ZK_OK && r->data_len == TR_GUID_LEN &&
		       memcmp(r->data, guid, TR_GUID_LEN) == 0;
		ternc_result_free(r);
		r = NULL;
		if (!tr_retryable(rc))
			break;
		if (tr_wait_connected(c, tr_deadline(ternc_session_timeout(c))) != ZK_OK)
			break;
	}
	return ours;
}

/* Take item @name with one multi {delete item, create our ephemeral claim}.
 * Return: ZK_OK (*@out set), ZK_ENONODE (gone: look again), errors. */
static int queue_take(struct ternc *c, const char *path, const char *name, struct ternr_item **out)
{
	char item[TERNC_PATH_MAX], claim[TERNC_PATH_MAX], cname[TR_NAME_MAX];
	char guid[TR_GUID_LEN + 1];
	struct ternc_result *r = NULL;
	TN_ASSERT(strlen(name) == ITEM_NAME_LEN && name[0] == 'q');
	snprintf(cname, sizeof(cname), "c-%s", name);
	if (tr_join(item, path, name) != ZK_OK || tr_join(claim, path, cname) != ZK_OK)
		return ZK_EBADARGUMENTS;
	int rc = ternc_get_sync(c, item, NULL, NULL, &r);
	if (rc != ZK_OK) {
		ternc_result_free(r);
		rc = tr_retryable(rc) ? tr_wait_connected(c, tr_deadline(-1)) : rc;
		return rc == ZK_OK ? ZK_ENONODE : rc;
	}
	tr_guid(guid);
	struct zk_op ops[2] = {
	    {.type = ZK_OP_DELETE, .path = item, .version = r->stat.version, .data_len = -1},
	    {.type = ZK_OP_CREATE,
	     .path = claim,
	     .data = (const uint8_t *)guid,
	     .data_len = TR_GUID_LEN,
	     .flags = TERNC_EPHEMERAL,
	     .version = -1},
	};
	rc = ternc_multi_sync(c, ops, 2, NULL);
	if (tr_retryable(rc)) {
		rc = tr_wait_connected(c, tr_deadline(-1));
		if (rc == ZK_OK)
			rc = claim_is_ours(c, claim, guid) ? ZK_OK : ZK_ENONODE;
	} else if (rc == ZK_EBADVERSION || rc == ZK_ENODEEXISTS) {
		rc = ZK_ENONODE; /* another consumer took it */
	}
	if (rc == ZK_OK) {
		rc = item_copy(name, r, out);
		tr_delete(c, claim);
	}
	ternc_result_free(r);
	return rc;
}

/* List the items, watching for new ones if @wt. */
static int queue_list(struct ternc *c, const char *path, struct waiter *w, const char ***v,
		      uint32_t *n)
{
	struct ternc_result *r = NULL;
	int rc;
	*v = NULL;
	*n = 0;
	if (w) {
		struct tr_tok *t = tr_tok_new(&w->own);
		if (!t)
			return ZK_ESYSTEM;
		w->woken = false;
		rc = ternc_children_sync(c, path, waiter_watch, t, &r);
		tr_tok_settle(t, rc, false);
	} else {
		rc = ternc_children_sync(c, path, NULL, NULL, &r);
	}
	if (rc == ZK_ENONODE && w)
		rc = tr_ensure_path(c, path) == ZK_OK ? ZK_ECONNECTIONLOSS : rc; /* look again */
	if (rc == ZK_OK) {
		*v = queue_items(r, n);
		rc = *v ? ZK_OK : ZK_ESYSTEM;
	}
	if (rc != ZK_OK) {
		ternc_result_free(r);
		return rc;
	}
	/* the names point into @r: copy them out in place of the array */
	size_t bytes = (size_t)(*n + 1) * sizeof(char *) + (size_t)*n * (ITEM_NAME_LEN + 1);
	const char **cp = malloc(bytes);
	if (cp) {
		char *s = (char *)(cp + *n + 1);
		for (uint32_t i = 0; i < *n; i++, s += ITEM_NAME_LEN + 1) {
			memcpy(s, (*v)[i], ITEM_NAME_LEN + 1);
			cp[i] = s;
		}
	}
	free(*v);
	ternc_result_free(r);
	*v = cp;
	return cp ? ZK_OK : ZK_ESYSTEM;
}

int ternr_queue_pop(struct ternc *c, const char *path, int timeout_ms, struct ternr_item **out)
{
	if (!c || !out || tr_check_path(path) != ZK_OK)
		return ZK_EBADARGUMENTS;
	int64_t deadline_ms = tr_deadline(timeout_ms);
	struct waiter w = {0};
	int rc = ZK_ENONODE;
	*out = NULL;
	for (uint32_t i = 0; i < TERNR_STEPS_MAX && rc == ZK_ENONODE; i++) {
		const char **v = NULL;
		uint32_t n = 0;
		bool watching = i > 0 && timeout_ms != 0;
		rc = queue_list(c, path, watching ? &w : NULL, &v, &n);
		if (rc == ZK_OK)
			rc = ZK_ENONODE;
		for (uint32_t k = 0; k < n && rc == ZK_ENONODE; k++)
			rc = queue_take(c, path, v[k], out);
		free(v);
		if (rc == ZK_ENONODE && n == 0 && watching)
			rc = waiter_wait(&w, c, deadline_ms);
		else if (tr_retryable(rc))
			rc = settle(c, rc, deadline_ms);
		if (rc == ZK_OK && !*out)
			rc = ZK_ENONODE;
		if (rc == ZK_ENONODE && timeout_ms == 0 && n == 0)
			break;
	}
	tr_owner_orphan(&w.own);
	return rc;
}
