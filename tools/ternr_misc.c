/* tools/ternr_misc.c: the watch-driven observers (leader, group, config),
 * group membership and naming, barriers and queues. Design: tools/ternr.h.
 *
 * An observer is a chain of async calls: one generation at a time (w->gen);
 * a reply or watch event of an older generation is dropped, so a stale watch
 * that fires later cannot start a second chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "tools/ternr_int.h"

enum { OP_LIST, OP_LIST_WATCH, OP_GET, OP_EXISTS };
enum { W_LEADER, W_GROUP, W_CONFIG };
#define GROUP_HASH_EMPTY 0xcbf29ce484222325ull /* FNV-1a offset basis: no names */

struct ternr_watcher {
	struct tr_owner own; /* first: tokens point here */
	struct ternc *c;
	int kind;
	uint32_t gen;
	bool done;
	bool have_last;
	char path[TERNC_PATH_MAX];
	char node[TERNC_PATH_MAX]; /* leader: the node being watched */
	char last_id[TERNR_ID_MAX];
	int64_t last_mzxid; /* config: last version reported (mzxid; -1 absent) */
	uint64_t last_hash; /* group: hash of the last list reported */
	union {
		ternr_leader_fn leader;
		ternr_group_fn group;
		ternr_config_fn config;
	} fn;
	void *arg;
};

static void w_start(struct ternr_watcher *w);

static void w_end(struct ternr_watcher *w, int err)
{
	if (w->done)
		return;
	w->done = true;
	if (w->kind == W_LEADER)
		w->fn.leader(w->c, err, NULL, w->arg);
	else if (w->kind == W_GROUP)
		w->fn.group(w->c, err, NULL, 0, w->arg);
	else
		w->fn.config(w->c, err, NULL, -1, NULL, w->arg);
}

static void w_watch(struct ternc *c, const struct ternc_event *ev, void *arg)
{
	struct tr_tok *t = arg;
	uint32_t gen = t->gen;
	struct ternr_watcher *w = (struct ternr_watcher *)tr_tok_take(t);
	(void)c;
	if (!w || w->done)
		return;
	if (ev->type == ZK_EVENT_NONE) {
		w_end(w, ZK_ESESSIONEXPIRED);
		return;
	}
	if (gen != w->gen)
		return;
	w->gen++;
	w_start(w);
}

static void w_reply(struct ternc *c, const struct ternc_result *r, void *arg);

static void w_call(struct ternr_watcher *w, int op, const char *path)
{
	TN_ASSERT(op >= OP_LIST && op <= OP_EXISTS);
	TN_ASSERT(!w->done);
	struct tr_tok *ct = tr_tok_new(&w->own);
	struct tr_tok *wt = op == OP_LIST ? NULL : tr_tok_new(&w->own);
	int rc = ZK_ESYSTEM;
	if (ct && (op == OP_LIST || wt)) {
		ct->op = op;
		ct->gen = wt ? (wt->gen = w->gen) : w->gen;
		ct->pair = wt;
		if (op == OP_LIST || op == OP_LIST_WATCH)
			rc = ternc_children(w->c, path, wt ? w_watch : NULL, wt, w_reply, ct);
		else if (op == OP_GET)
			rc = ternc_get(w->c, path, w_watch, wt, w_reply, ct);
		else
			rc = ternc_exists(w->c, path, w_watch, wt, w_reply, ct);
	}
	if (rc == ZK_OK)
		return;
	if (ct)
		tr_tok_take(ct);
	if (wt)
		tr_tok_take(wt);
	w_end(w, rc);
}

static void leader_report(struct ternr_watcher *w, const char *id)
{
	bool same = w->have_last && (id ? strcmp(w->last_id, id) == 0 : w->last_id[0] == '\0');
	if (same)
		return;
	w->have_last = true;
	snprintf(w->last_id, sizeof(w->last_id), "%s", id ? id : "");
	w->fn.leader(w->c, ZK_OK, id, w->arg);
}

static void leader_reply(struct ternr_watcher *w, int op, const struct ternc_result *r)
{
	TN_ASSERT(w->kind == W_LEADER &&
		  (op == OP_GET || op == OP_LIST || op == OP_LIST_WATCH || op == OP_EXISTS));
	if (op == OP_EXISTS) { /* the election path appeared meanwhile: list it */
		if (r->err == ZK_OK) {
			w->gen++;
			w_start(w);
		} else if (r->err != ZK_ENONODE) {
			w_end(w, r->err);
		}
		return;
	}
	if (op == OP_GET) {
		if (r->err == ZK_ENONODE) { /* resigned between list and get */
			w->gen++;
			w_start(w);
			return;
		}
		char id[TERNR_ID_MAX];
		size_t n = r->data_len > 0 ? TN_MIN((size_t)r->data_len, sizeof(id) - 1) : 0;
		memcpy(id, r->data, n);
		id[n] = '\0';
		leader_report(w, id);
		return;
	}
	struct tr_list ls;
	if (r->err != ZK_OK && r->err != ZK_ENONODE) {
		w_end(w, r->err);
		return;
	}
	if (r->err == ZK_ENONODE || tr_parse(r, &ls) != ZK_OK)
		ls = (struct tr_list){0};
	if (ls.count == 0 && op == OP_LIST) {
		tr_list_free(&ls);
		leader_report(w, NULL);
		w_call(w, r->err == ZK_ENONODE ? OP_EXISTS : OP_LIST_WATCH, w->path);
		return;
	}
	if (ls.count > 0 && tr_join(w->node, w->path, ls.v[0].name) == ZK_OK)
		w_call(w, OP_GET, w->node);
	tr_list_free(&ls);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void group_reply(struct ternr_watcher *w, int op, const struct ternc_result *r)
{
	TN_ASSERT(w->kind == W_GROUP && op != OP_GET);
	if (op == OP_EXISTS) { /* the group appeared meanwhile: list it */
		if (r->err == ZK_OK) {
			w->gen++;
			w_start(w);
		}
		return;
	}
	if (r->err == ZK_ENONODE) {
		if (!w->have_last || w->last_hash != GROUP_HASH_EMPTY)
			w->fn.group(w->c, ZK_OK, NULL, 0, w->arg);
		w->have_last = true;
		w->last_hash = GROUP_HASH_EMPTY;
		w_call(w, OP_EXISTS, w->path);
		return;
	}
	if (r->err != ZK_OK) {
		w_end(w, r->err);
		return;
	}
	const char **v = calloc((size_t)r->count + 1, sizeof(*v));
	if (!v) {
		w_end(w, ZK_ESYSTEM);
		return;
	}
	for (int32_t i = 0; i < r->count; i++)
		v[i] = r->names[i];
	qsort(v, (size_t)r->count, sizeof(*v), name_cmp);
	uint64_t h = GROUP_HASH_EMPTY; /* FNV-1a over the sorted names: report changes only */
	for (int32_t i = 0; i < r->count; i++)
		for (const char *p = v[i];; p++) {
			h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
			if (!*p)
				break;
		}
	if (!w->have_last || h != w->last_hash)
		w->fn.group(w->c, ZK_OK, v, (uint32_t)r->count, w->arg);
	w->have_last = true;
	w->last_hash = h;
	free(v);
}

static void config_reply(struct ternr_watcher *w, int op, const struct ternc_result *r)
{
	TN_ASSERT(w->kind == W_CONFIG && (op == OP_GET || op == OP_EXISTS));
	if (op == OP_EXISTS) {
		if (r->err == ZK_OK) {
			w->gen++;
			w_start(w);
		} else if (r->err != ZK_ENONODE) {
			w_end(w, r->err);
		}
		return;
	}
	if (r->err == ZK_ENONODE) {
		if (w->last_mzxid != -1) {
			w->last_mzxid = -1;
			w->fn.config(w->c, ZK_ENONODE, NULL, -1, NULL, w->arg);
		}
		w_call(w, OP_EXISTS, w->path);
		return;
	}
	if (r->err != ZK_OK) {
		w_end(w, r->err);
		return;
	}
	if (r->stat.mzxid == w->last_mzxid)
		return;
	w->last_mzxid = r->stat.mzxid;
	w->fn.config(w->c, ZK_OK, r->data, r->data_len, &r->stat, w->arg);
}

static void w_reply(struct ternc *c, const struct ternc_result *r, void *arg)
{
	struct tr_tok *t = arg;
	int op = t->op;
	uint32_t gen = t->gen;
	struct tr_tok *pair = t->pair;
	struct ternr_watcher *w = (struct ternr_watcher *)tr_tok_take(t);
	bool registered = r->err == ZK_OK || (op == OP_EXISTS && r->err == ZK_ENONODE);
	(void)c;
	if (pair && !registered)
		tr_tok_take(pair);
	if (!w || w->done || gen != w->gen)
		return;
	if (r->err == ZK_ECONNECTIONLOSS) { /* queued until the next handshake */
		w->gen++;
		w_start(w);
		return;
	}
	if (w->kind == W_LEADER)
		leader_reply(w, op, r);
	else if (w->kind == W_GROUP)
		group_reply(w, op, r);
	else
		config_reply(w, op, r);
}

static void w_start(struct ternr_watcher *w)
{
	if (w->kind == W_LEADER)
		w_call(w, OP_LIST, w->path);
	else if (w->kind == W_GROUP)
		w_call(w, OP_LIST_WATCH, w->path);
	else
		w_call(w, OP_GET, w->path);
}

static int w_new(struct ternc *c, const char *path, int kind, void *arg, struct ternr_watcher **out)
{
	if (!c || !out || tr_check_path(path) != ZK_OK)
		return ZK_EBADARGUMENTS;
	struct ternr_watcher *w = calloc(1, sizeof(*w));
	if (!w)
		return ZK_ESYSTEM;
	w->c = c;
	w->kind = kind;
	w->arg = arg;
	w->last_mzxid = -2;
	snprintf(w->path, sizeof(w->path), "%s", path);
	*out = w;
	return ZK_OK;
}

int ternr_leader_watch(struct ternc *c, const char *path, ternr_leader_fn fn, void *arg,
		       struct ternr_watcher **out)
{
	if (!fn)
		return ZK_EBADARGUMENTS;
	int rc = w_new(c, path, W_LEADER, arg, out);
	if (rc == ZK_OK) {
		(*out)->fn.leader = fn;
		w_start(*out);
	}
	return rc;
}

int ternr_group_watch(struct ternc *c, const char *path, ternr_group_fn fn, void *arg,
		      struct ternr_watcher **out)
{
	if (!fn)
		return ZK_EBADARGUMENTS;
	int rc = w_new(c, path, W_GROUP, arg, out);
	if (rc == ZK_OK) {
		(*out)->fn.group = fn;
		w_start(*out);
	}
	return rc;
}

int ternr_config_subscribe(struct ternc *c, const char *path, ternr_config_fn fn, void *arg,
			   struct ternr_watcher **out)
{
	if (!fn)
		return ZK_EBADARGUMENTS;
	int rc = w_new(c, path, W_CONFIG, arg, out);
	if (rc == ZK_OK) {
		(*out)->fn.config = fn;
		w_start(*out);
	}
	return rc;
}

void ternr_watcher_free(struct ternr_watcher *w)
{
	if (!w)
		return;
	tr_owner_orphan(&w->own);
	free(w);
}

/* ---- group membership and naming ---- */

int ternr_group_join(struct ternc *c, const char *path, const char *name, const void *data,
		     int32_t len)
{
	char node[TERNC_PATH_MAX];
	if (!c || tr_check_path(path) != ZK_OK || !name || !name[0] || strchr(name, '/') ||
	    strlen(name) >= TERNR_ID_MAX || tr_join(node, path, name) != ZK_OK)
		return ZK_EBADARGUMENTS;
	int rc = ZK_ECONNECTIONLOSS;
	bool retried = false;
	for (uint32_t i = 0; i < TERNR_RETRY_MAX; i++) {
		rc = ternc_create_sync(c, node, data, len, NULL, TERNC_EPHEMERAL, 0, NULL);
		if (rc == ZK_ENONODE) {
			rc = tr_ensure_path(c, path);
			if (rc != ZK_OK)
				return rc;
			continue;
		}
		if (!tr_retryable(rc))
			break;
		retried = true;
		rc = tr_wait_connected(c, tr_deadline(ternc_session_timeout(c)));
		if (rc != ZK_OK && rc != ZK_EOPERATIONTIMEOUT)
			return rc;
	}
	if (rc == ZK_ENODEEXISTS && retried) { /* ours, if the lost create happened */
		struct zstat st;
		if (ternc_exists_sync(c, node, NULL, NULL, &st) == ZK_OK &&
		    st.ephemeral_owner == ternc_session_id(c))
			return ZK_OK;
	}
	return rc;
}

int ternr_group_leave(struct ternc *c, const char *path, const char *name)
{
	char node[TERNC_PATH_MAX];
	if (!c || tr_check_path(path) != ZK_OK || !name || tr_join(node, path, name) != ZK_OK)
		return ZK_EBADARGUMENTS;
	return tr_delete(c, node);
}

void ternr_members_free(struct ternr_members *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->count; i++) {
		free(m->v[i].name);
		free(m->v[i].data);
	}
	free(m->v);
	free(m);
}

static int member_add(struct ternc *c, const char *path, const char *name, struct ternr_members *m)
{
	char node[TERNC_PATH_MAX];
	struct ternc_result *r = NULL;
	int rc = tr_join(node, path, name);
	if (rc == ZK_OK)
		rc = ternc_get_sync(c, node, NULL, NULL, &r);
	if (rc == ZK_ENONODE) { /* left meanwhile */
		ternc_result_free(r);
		return ZK_OK;
	}
	if (rc != ZK_OK) {
		ternc_result_free(r);
		return rc;
	}
	TN_ASSERT(m->v);
	struct ternr_member *mb = &m->v[m->count];
	size_t n = r->data_len > 0 ? (size_t)r->data_len : 0;
	mb->name = strdup(name);
	mb->data = malloc(n + 1);
	if (mb->name && mb->data) {
		memcpy(mb->data, r->data, n);
		mb->data[n] = '\0';
		mb->len = r->data_len;
		m->count++;
	} else {
		free(mb->name);
		free(mb->data);
		rc = ZK_ESYSTEM;
	}
	ternc_result_free(r);
	return rc;
}

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ternr_member *)a)->name,
		      ((const struct ternr_member *)b)->name);
}

int ternr_group_list(struct ternc *c, const char *path, struct ternr_members **out)
{
	struct ternc_result *r = NULL;
	if (!c || !out || tr_check_path(path) != ZK_OK)
		return ZK_EBADARGUMENTS;
	int rc = tr_children(c, path, NULL, NULL, &r);
	if (rc != ZK_OK)
		return rc;
	struct ternr_members *m = calloc(1, sizeof(*m));
	if (m)
		m->v = calloc((size_t)r->count + 1, sizeof(*m->v));
	rc = m && m->v ? ZK_OK : ZK_ESYSTEM;
	for (int32_t i = 0; i < r->count && rc == ZK_OK; i++)
		rc = member_add(c, path, r->names[i], m);
	ternc_result_free(r);
	if (rc != ZK_OK) {
		if (m && !m->v)
			free(m);
		else
			ternr_members_free(m);
		return rc;
	}
	qsort(m->v, m->count, sizeof(*m->v), member_cmp);
	*out = m;
	return ZK_OK;
}

int ternr_service_register(struct ternc *c, const char *service, const char *instance,
			   const char *endpoint)
{
	if (!endpoint)
		return ZK_EBADARGUMENTS;
	return ternr_group_join(c, service, instance, endpoint, (int32_t)strlen(endpoint));
}

int ternr_service_lookup(struct ternc *c, const char *service, struct ternr_members **out)
{
	return ternr_group_list(c, service, out);
}
