/* store/apply.c: store_apply(), txn -> tree mutation + watch events.
 *
 * The writer thread applies txns in zxid order. Each txn is idempotent on
 * replay (a fuzzy snapshot may already hold part of its effect), so every
 * case tolerates a tree that is "ahead":
 *   create of an existing node   -> only the parent's cversion/pzxid move, as
 *                                   ZooKeeper's FileTxnSnapLog does on replay
 *   delete/setData/setACL of a missing node -> no change (result NoNode)
 *   delete of a node with children (a later create in the snapshot)
 *                                -> no change (result NotEmpty), the tree
 *                                   stays well-formed
 * Stat rules follow ZooKeeper's DataTree (ZOOKEEPER.md §2.5): the parent's
 * cversion becomes txn.parent_cversion only if that is larger (pzxid moves
 * with it); a delete moves the parent's pzxid only forward.
 *
 * Output (results, events, their strings) lives in store-owned buffers that
 * are reused by the next store_apply().
 */
#define STORE_TREE_INTERNAL
#include <errno.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store_int.h"

#define APPLY_MULTI_MAX 1000000u /* a bound, far above jute.maxbuffer's reach */

static int grow(struct store *s, void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	uint32_t ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	void *p = store_mem_alloc(s, (size_t)ncap * elem);
	if (!p)
		return -ENOMEM;
	if (*arr)
		memcpy(p, *arr, (size_t)*cap * elem);
	store_mem_free(s, *arr);
	*arr = p;
	*cap = ncap;
	return 0;
}

int store_event_push(struct store *s, uint64_t session, int32_t type, tn_zxid zxid,
		     const char *path)
{
	if (grow(s, (void **)&s->ev, &s->ev_cap, s->ev_n + 1, sizeof(*s->ev)) < 0)
		return -ENOMEM;
	s->ev[s->ev_n++] = (struct store_event){ session, type, zxid, path };
	return 0;
}

static void scratch_reset(struct store *s)
{
	struct store_scratch_chunk *c = s->scratch;
	if (!c)
		return;
	while (c->next) {
		struct store_scratch_chunk *old = c->next;
		c->next = old->next;
		store_mem_free(s, old);
	}
	c->used = 0;
}

static void parent_on_create(struct znode *parent, const struct txn *t, tn_zxid zxid, bool added)
{
	int32_t pc = t->parent_cversion == -1 ? parent->cversion + 1 : t->parent_cversion;
	TN_ASSERT(parent->nkids >= 0);
	znode_write_begin(parent);
	if (added)
		parent->nkids++;
	if (pc > parent->cversion) {
		parent->cversion = pc;
		parent->pzxid = (int64_t)zxid;
	}
	znode_write_end(parent);
}

/* A new node for @t, not yet published. *@eph_added: its path was new in
 * the session's ephemeral set (to undo if the path turns out taken). */
static struct znode *create_node(struct store *s, const struct txn_hdr *h, const struct txn *t,
				 size_t len, bool *eph_added)
{
	struct znode *n = znode_new(s, t->path, len);
	*eph_added = false;
	if (!n)
		return NULL;
	n->czxid = n->mzxid = n->pzxid = (int64_t)h->zxid;
	n->ctime = n->mtime = h->time_ms;
	struct store_acl *a = store_acl_intern(s, &t->acl);
	if (!a)
		goto fail_node;
	if (znode_set_blob(s, n, a, t->ephemeral_owner, t->data, t->data_len) < 0)
		goto fail_acl;
	if (store_owner_is_session(t->ephemeral_owner)) {
		int rc = store_session_eph_add(s, (uint64_t)t->ephemeral_owner, t->path, len);
		if (rc < 0)
			goto fail_node; /* znode_discard drops the blob and its ACL */
		*eph_added = rc == 1;
	}
	return n;
fail_acl:
	store_acl_put(s, a);
fail_node:
	znode_discard(s, n);
	return NULL;
}

/* Undo create_node() for a node that was never published. */
static void discard_node(struct store *s, struct znode *n, bool eph_added)
{
	if (eph_added)
		store_session_eph_del(s, (uint64_t)znode_owner(n), n->path, znode_path_len(n));
	znode_discard(s, n);
}

static int apply_create(struct store *s, const struct txn_hdr *h, const struct txn *t,
			struct store_result *r)
{
	size_t len = strlen(t->path);
	bool eph_added;
	if (len < 2 || t->path[0] != '/' || t->path[len - 1] == '/')
		return -EINVAL;
	if (t->data_len > 0 && !t->data)
		return -EINVAL;
	struct znode *parent = ztree_parent(s, t->path, len);
	if (!parent) {
		r->err = ZK_ENONODE;
		return 0;
	}
	struct znode *n = create_node(s, h, t, len, &eph_added);
	if (!n)
		return -ENOMEM;
	struct znode *old = ztree_link_unique(s, parent, n);
	if (old) {
		discard_node(s, n, eph_added); /* replay onto a fuzzy snapshot */
		n = old;
		parent_on_create(parent, t, h->zxid, false);
	} else {
		parent_on_create(parent, t, h->zxid, true);
		store_special_note(s, n, true);
		if (store_watch_trigger_create(s, n->path, h->zxid) < 0)
			return -ENOMEM;
	}
	if (!(r->path = store_scratch_strdup(s, t->path, len)))
		return -ENOMEM;
	znode_stat(n, &r->stat);
	return 0;
}

/* Delete @n (childless, not the root) and fire its watches. */
static int delete_node(struct store *s, struct znode *n, tn_zxid zxid)
{
	size_t plen = znode_path_len(n);
	struct znode *parent = ztree_parent(s, n->path, plen);
	TN_ASSERT(parent != NULL && parent->nkids > 0);
	TN_ASSERT(n->kids.next == NULL);
	char *path = store_scratch_strdup(s, n->path, plen);
	if (!path)
		return -ENOMEM;
	if (store_owner_is_session(znode_owner(n)))
		store_session_eph_del(s, (uint64_t)znode_owner(n), n->path, plen);
	store_special_note(s, n, false);
	ztree_unlink(s, parent, n);
	znode_write_begin(parent);
	parent->nkids--;
	if ((int64_t)zxid > parent->pzxid)
		parent->pzxid = (int64_t)zxid;
	znode_write_end(parent);
	TN_ASSERT(parent->nkids >= 0);
	return store_watch_trigger_delete(s, path, zxid);
}

static int apply_delete(struct store *s, const char *path, tn_zxid zxid, struct store_result *r)
{
	size_t len = strlen(path);
	struct znode *n = ztree_lookup(s, path, len);
	if (!n) {
		r->err = ZK_ENONODE;
		return 0;
	}
	if (n == s->root) {
		r->err = ZK_EBADARGUMENTS;
		return 0;
	}
	if (n->kids.next) {
		r->err = ZK_ENOTEMPTY;
		return 0;
	}
	return delete_node(s, n, zxid);
}

static int apply_set_data(struct store *s, const struct txn_hdr *h, const struct txn *t,
			  struct store_result *r)
{
	if (t->data_len > 0 && !t->data)
		return -EINVAL;
	struct znode *n = ztree_lookup(s, t->path, strlen(t->path));
	if (!n) {
		r->err = ZK_ENONODE;
		return 0;
	}
	int64_t old_len = TN_MAX(znode_data_len(n), 0);
	znode_write_begin(n);
	int rc = znode_set_data(s, n, t->data, t->data_len);
	if (rc == 0) {
		n->version = t->version;
		n->mzxid = (int64_t)h->zxid;
		n->mtime = h->time_ms;
	}
	znode_write_end(n);
	if (rc < 0)
		return rc;
	TN_ASSERT(znode_data_len(n) == (t->data_len < 0 ? -1 : t->data_len));
	atomic_fetch_add_explicit(&s->data_bytes, TN_MAX(znode_data_len(n), 0) - old_len,
				  memory_order_relaxed); /* a statistic */
	znode_stat(n, &r->stat);
	return store_watch_trigger_data(s, n->path, h->zxid);
}

static int apply_set_acl(struct store *s, const struct txn *t, struct store_result *r)
{
	struct znode *n = ztree_lookup(s, t->path, strlen(t->path));
	if (!n) {
		r->err = ZK_ENONODE;
		return 0;
	}
	struct store_acl *a = store_acl_intern(s, &t->acl), *old = znode_acl(n);
	if (!a)
		return -ENOMEM;
	/* The ACL lives in the immutable blob: copy the data into a new one. */
	znode_write_begin(n);
	int rc = znode_set_blob(s, n, a, znode_owner(n), zblob_data(n->blob), znode_data_len(n));
	if (rc == 0)
		n->aversion = t->version;
	znode_write_end(n);
	if (rc < 0) {
		store_acl_put(s, a);
		return rc;
	}
	store_acl_put(s, old);
	znode_stat(n, &r->stat);
	return 0;
}

static int apply_close_session(struct store *s, const struct txn_hdr *h, const struct txn *t)
{
	int rc = 0;
	for (uint32_t i = 0; i < t->path_count; i++) {
		struct store_result ignored = { 0 };
		if (!t->paths || !t->paths[i])
			return -EINVAL;
		if ((rc = apply_delete(s, t->paths[i], h->zxid, &ignored)) < 0)
			return rc;
	}
	/* Ephemerals the txn did not list (it was prepped earlier) go too, so no
	 * node outlives its session; the order is deterministic per tree. */
	char **left = NULL;
	int n = store_session_eph_list(s, h->session, &left);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		struct store_result ignored = { 0 };
		if ((rc = apply_delete(s, left[i], h->zxid, &ignored)) < 0)
			break;
	}
	free(left);
	if (rc < 0)
		return rc;
	store_session_remove(s, h->session);
	return 0;
}

static bool is_create(int32_t type)
{
	return type == ZK_OP_CREATE || type == ZK_OP_CREATE2 || type == ZK_OP_CREATECONTAINER ||
	       type == ZK_OP_CREATETTL;
}

static int apply_one(struct store *s, const struct txn_hdr *h, const struct txn *t,
		     struct store_result *r)
{
	r->type = t->type;
	r->err = ZK_OK;
	if (t->type != ZK_OP_ERROR && t->type != ZK_OP_CREATESESSION &&
	    t->type != ZK_OP_CLOSESESSION && (!t->path || t->path[0] != '/'))
		return -EINVAL;
	if (is_create(t->type)) {
		if (t->type != ZK_OP_CREATE)
			r->type = ZK_OP_CREATE2;
		return apply_create(s, h, t, r);
	}
	switch (t->type) {
	case ZK_OP_DELETE:
	case ZK_OP_DELETECONTAINER:
		return apply_delete(s, t->path, h->zxid, r);
	case ZK_OP_SETDATA:
		return apply_set_data(s, h, t, r);
	case ZK_OP_SETACL:
		return apply_set_acl(s, t, r);
	case ZK_OP_CHECK:
		return 0;
	case ZK_OP_ERROR:
		r->err = t->err;
		return 0;
	case ZK_OP_CREATESESSION:
		return store_session_add(s, h->session, t->timeout_ms);
	case ZK_OP_CLOSESESSION:
		return apply_close_session(s, h, t);
	default:
		return -EINVAL;
	}
}

static int apply_multi(struct store *s, const struct txn *t)
{
	if (t->sub_count > APPLY_MULTI_MAX || (t->sub_count && !t->sub))
		return -EINVAL;
	if (grow(s, (void **)&s->res, &s->res_cap, TN_MAX(t->sub_count, 1u), sizeof(*s->res)) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->sub_count; i++) {
		const struct txn *sub = &t->sub[i];
		struct store_result *r = &s->res[s->res_n++];
		memset(r, 0, sizeof(*r));
		if (sub->type == ZK_OP_MULTI || sub->type == ZK_OP_CREATESESSION ||
		    sub->type == ZK_OP_CLOSESESSION)
			return -EINVAL;
		int rc = apply_one(s, &t->hdr, sub, r);
		if (rc < 0)
			return rc;
	}
	TN_ASSERT(s->res_n == t->sub_count && s->res_n <= s->res_cap);
	return 0;
}

static int store_apply_rcu(struct store *s, const struct txn *t, struct store_apply_out *out)
{
	TN_ASSERT(s != NULL && t != NULL && out != NULL);
	scratch_reset(s);
	s->res_n = 0;
	s->ev_n = 0;
	int32_t type = t->type ? t->type : t->hdr.type;
	int rc;
	if (type == ZK_OP_MULTI) {
		rc = apply_multi(s, t);
	} else if ((rc = grow(s, (void **)&s->res, &s->res_cap, 1, sizeof(*s->res))) == 0) {
		struct txn one = *t;
		one.type = type;
		memset(&s->res[0], 0, sizeof(s->res[0]));
		s->res_n = 1;
		rc = apply_one(s, &t->hdr, &one, &s->res[0]);
	}
	if (t->hdr.zxid > store_last_zxid(s))
		store_set_last_zxid(s, t->hdr.zxid); /* release: the tree change is visible first */
	TN_ASSERT(s->res_n <= s->res_cap && s->ev_n <= s->ev_cap);
	out->results = s->res;
	out->result_count = s->res_n;
	out->events = s->ev;
	out->event_count = s->ev_n;
	return rc < 0 ? rc : 0;
}

int store_apply(struct store *s, const struct txn *t, struct store_apply_out *out)
{
	bool on = store_rcu_enter();
	int rc = store_apply_rcu(s, t, out);
	store_rcu_exit(on);
	return rc;
}

int store_config_init(struct store *s, const void *data, int32_t len, tn_zxid zxid,
		      int64_t time_ms)
{
	struct znode *n = ztree_lookup(s, "/zookeeper/config", strlen("/zookeeper/config"));
	int64_t old_len;
	int rc;

	if (!n || len < 0 || (len > 0 && !data))
		return -EINVAL;
	if ((tn_zxid)n->mzxid > zxid || (n->mzxid != 0 && (tn_zxid)n->mzxid == zxid))
		return 0; /* a later (or this) config is there already */
	old_len = TN_MAX(znode_data_len(n), 0);
	znode_write_begin(n);
	rc = znode_set_data(s, n, data, len);
	if (rc == 0 && zxid) {
		n->version = -1; /* as ZooKeeper shows its config node */
		n->mzxid = (int64_t)zxid;
		n->mtime = time_ms;
	}
	znode_write_end(n);
	if (rc < 0)
		return rc;
	atomic_fetch_add_explicit(&s->data_bytes, TN_MAX(znode_data_len(n), 0) - old_len,
				  memory_order_relaxed);
	return 0;
}
