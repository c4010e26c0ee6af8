/* store/prep.c: request -> idempotent txn (ZooKeeper's PrepRequestProcessor).
 *
 * store_prep() checks one write request (or a multi, createSession,
 * closeSession) and turns it into a txn whose effect no longer depends on the
 * tree: the final sequential path, the ephemeral owner, the parent's new
 * cversion, the node's new version, the fixed-up ACL. The checks, their order
 * and their error codes follow ZooKeeper 3.9's PrepRequestProcessor, so a
 * client sees the same code for the same mistake (ZOOKEEPER.md 1.5, 1.8,
 * 1.11-1.15, 2.2-2.5).
 *
 * The overlay. Writes are pipelined: the leader preps create /a and then
 * create /a/b before /a is applied. So prep reads through an overlay, a hash
 * of path -> pending node state (exists?, versions, numChildren, owner, ACL)
 * holding the effect of every txn prepped but not applied yet (ZooKeeper's
 * outstandingChanges). Each entry is tagged with the zxid of the last txn that
 * changed it and sits on a FIFO in zxid order; once store_last_zxid() reaches
 * that zxid the tree holds the same state and the entry is dropped (at the
 * start of the next prep). Pending createSession/closeSession go on a short
 * list the same way, so an ephemeral create after a prepped closeSession is
 * refused rather than orphaned.
 *
 * All or nothing. Each prep opens an undo scope: the first time it changes an
 * entry it saves the old state. A failed op, a failed multi (whatever op of it
 * failed) and a full arena roll every change back, so the next prep never
 * sees a rolled-back change; success just forgets the undo log.
 *
 * Deliberate differences from ZooKeeper, each to keep the tree well-formed:
 * closeSession decrements the parents' numChildren in the overlay (ZooKeeper
 * only moves pzxid, so a pipelined delete of the parent could fail NotEmpty);
 * createTTL with a non-TTL mode is BadArguments (ZooKeeper's apply would throw);
 * deleteContainer refuses a node that is not a container or TTL node.
 *
 * Sessions: as ZooKeeper's checkGlobalSession, an ephemeral create needs an
 * open session that is not closing (SessionExpired otherwise); other ops do
 * not check the session here, the server does that before prep.
 *
 * Return codes: ZK codes and -ENOMEM/-EMSGSIZE share the negative range;
 * -ENOMEM is -12 like ZK_EUNKNOWNSESSION, which prep never returns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store.h"
#include "store/store_int.h"

#define PREP_BUCKETS_MIN 64u
#define PREP_SEQ_DIGITS_MAX 12 /* "%010d" of an int32: 11 chars at most, plus NUL */

/* An ACL copy owned by an overlay entry. */
struct pacl {
	struct pacl *next;
	struct zk_acl_list list;
	struct zk_acl v[]; /* then the strings */
};

struct pstate {
	bool exists;
	int32_t version, cversion, aversion, num_children;
	int64_t owner;
	const struct pacl *acl; /* NULL when !exists */
};

struct pnode {
	struct pnode *hnext;         /* hash chain */
	struct pnode *qprev, *qnext; /* FIFO, oldest zxid first */
	tn_zxid zxid;                /* the last txn that changed this entry */
	uint64_t hash;
	uint64_t undo_gen;           /* == prep_state.gen: saved in the current undo scope */
	struct pstate st;
	struct pacl *acls;           /* every ACL copy st.acl may point at */
	char path[];
};

struct psess {
	struct psess *next;
	uint64_t session;
	tn_zxid zxid;
	bool open;
};

struct undo {
	struct pnode *n;
	struct pstate saved;
	tn_zxid saved_zxid;
	bool fresh; /* the entry was made in this scope: rollback frees it */
};

struct prep_state {
	struct pnode **tab;
	uint32_t mask, count;
	struct pnode *qhead, *qtail;
	struct psess *sessions;      /* newest first */
	struct undo *undo;
	uint32_t undo_n, undo_cap;
	uint64_t gen;
	char *scratch;               /* parent paths */
	size_t scratch_cap;
};

/* One prep call. */
struct pctx {
	struct store *s;
	struct prep_state *p;
	const struct store_cfg *cfg;
	const struct store_req *req;
	struct tn_arena *a;
	tn_zxid zxid;
};

/* What prep knows of one path, through the overlay. */
struct pview {
	bool exists;
	int32_t version, cversion, aversion, num_children;
	int64_t owner;
	const struct zk_acl_list *acl;
};

static bool is_syserr(int rc)
{
	return rc == -ENOMEM || rc == -EMSGSIZE;
}

/* ---- paths (PathUtils.validatePath, as Java sees UTF-8 paths) ---- */

/* Decode one UTF-8 code point at @p; return its byte length, or 0 if malformed
 * (Java turns malformed input into U+FFFD, which the path rules reject). */
static size_t utf8_next(const unsigned char *p, uint32_t *cp)
{
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf && (p[1] & 0xc0) == 0x80) {
		*cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
		return 2;
	}
	if (p[0] >= 0xe0 && p[0] <= 0xef && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
		*cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
		return *cp >= 0x800 ? 3 : 0;
	}
	return 0; /* 4-byte forms are surrogate pairs in Java: rejected anyway */
}

static bool cp_forbidden(uint32_t cp)
{
	return (cp >= 0x01 && cp <= 0x1f) || (cp >= 0x7f && cp <= 0x9f) ||
	       (cp >= 0xd800 && cp <= 0xf8ff) || cp >= 0xfff0;
}

static bool path_valid(const char *path)
{
	const unsigned char *p = (const unsigned char *)path;
	size_t len = strlen(path), i = 1;

	if (len == 0 || p[0] != '/')
		return false;
	if (len == 1)
		return true;
	if (p[len - 1] == '/')
		return false;
	while (i < len) {
		uint32_t cp;
		size_t k;
		if (p[i] == '/' && p[i - 1] == '/')
			return false;
		if (p[i] == '.' && p[i - 1] == '/') {
			size_t j = i + 1 + (p[i + 1] == '.');
			if (p[j] == '\0' || p[j] == '/')
				return false; /* a "." or ".." segment */
		}
		k = utf8_next(p + i, &cp);
		if (k == 0 || cp_forbidden(cp))
			return false;
		i += k;
	}
	TN_ASSERT(i == len);
	return true;
}

static bool path_special(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/zookeeper") == 0 ||
	       strcmp(path, "/zookeeper/quota") == 0 || strcmp(path, "/zookeeper/config") == 0;
}

/* The parent of @path ("/" for "/a") in the scratch buffer, or NULL if @path
 * has no '/'. *@err gets -ENOMEM if the scratch could not grow. */
static const char *parent_of(struct prep_state *p, const char *path, int *err)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	*err = 0;
	if (!slash)
		return NULL;
	len = (size_t)(slash - path);
	if (len + 2 > p->scratch_cap) {
		char *n = realloc(p->scratch, len + 64);
		if (!n) {
			*err = -ENOMEM;
			return NULL;
		}
		p->scratch = n;
		p->scratch_cap = len + 64;
	}
	if (len == 0) {
		memcpy(p->scratch, "/", 2); /* ZooKeeper's "" is the root */
	} else {
		memcpy(p->scratch, path, len);
		p->scratch[len] = '\0';
	}
	return p->scratch;
}

/* ---- ephemeral types (EphemeralType.get) ---- */

static bool owner_is_normal_ephemeral(const struct store_cfg *cfg, int64_t owner)
{
	uint64_t o = (uint64_t)owner;
	if (o == 0 || o == ZK_OWNER_CONTAINER)
		return false;
	if (cfg->extended_types && (o & ZK_OWNER_TTL_MASK) == ZK_OWNER_TTL_MASK)
		return false;
	return true;
}

/* Containers, and TTL nodes when extended types are on. */
static bool owner_is_reapable(const struct store_cfg *cfg, int64_t owner)
{
	uint64_t o = (uint64_t)owner;
	return o == ZK_OWNER_CONTAINER ||
	       (cfg->extended_types && (o & ZK_OWNER_TTL_MASK) == ZK_OWNER_TTL_MASK);
}

/* ---- the overlay ---- */

static uint64_t path_hash(const char *path)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const unsigned char *q = (const unsigned char *)path; *q; q++)
		h = (h ^ *q) * 0x100000001b3ull;
	return h;
}

static struct pnode *ov_find(const struct prep_state *p, const char *path, uint64_t h)
{
	if (!p->tab)
		return NULL;
	for (struct pnode *n = p->tab[h & p->mask]; n; n = n->hnext)
		if (n->hash == h && strcmp(n->path, path) == 0)
			return n;
	return NULL;
}

static int ov_grow(struct prep_state *p)
{
	uint32_t cap = p->tab ? (p->mask + 1) * 2 : PREP_BUCKETS_MIN;
	struct pnode **tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t i = 0; p->tab && i <= p->mask; i++) {
		struct pnode *n = p->tab[i], *next;
		for (; n; n = next) {
			next = n->hnext;
			n->hnext = tab[n->hash & (cap - 1)];
			tab[n->hash & (cap - 1)] = n;
		}
	}
	free(p->tab);
	p->tab = tab;
	p->mask = cap - 1;
	return 0;
}

static void q_unlink(struct prep_state *p, struct pnode *n)
{
	if (n->qprev)
		n->qprev->qnext = n->qnext;
	else
		p->qhead = n->qnext;
	if (n->qnext)
		n->qnext->qprev = n->qprev;
	else
		p->qtail = n->qprev;
	n->qprev = n->qnext = NULL;
}

static void q_append(struct prep_state *p, struct pnode *n)
{
	n->qprev = p->qtail;
	n->qnext = NULL;
	if (p->qtail)
		p->qtail->qnext = n;
	else
		p->qhead = n;
	p->qtail = n;
}

static void pacl_free_all(struct pacl *a)
{
	while (a) {
		struct pacl *next = a->next;
		free(a);
		a = next;
	}
}

/* Unlink @n from the hash and the FIFO and free it. */
static void ov_remove(struct prep_state *p, struct pnode *n)
{
	struct pnode **pp = &p->tab[n->hash & p->mask];
	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	q_unlink(p, n);
	TN_ASSERT(p->count > 0);
	p->count--;
	pacl_free_all(n->acls);
	free(n);
}

/* Copy @src into a new block owned by @n; return it or NULL (-ENOMEM). */
static const struct pacl *pacl_add(struct pnode *n, const struct zk_acl_list *src)
{
	int32_t cnt = src && src->count > 0 ? src->count : 0;
	size_t size = sizeof(struct pacl) + sizeof(struct zk_acl) * (size_t)cnt;
	struct pacl *a;
	char *q;

	for (int32_t i = 0; i < cnt; i++)
		size += strlen(src->v[i].id.scheme) + strlen(src->v[i].id.id) + 2;
	if (!(a = malloc(size)))
		return NULL;
	q = (char *)&a->v[cnt];
	for (int32_t i = 0; i < cnt; i++) {
		size_t ls = strlen(src->v[i].id.scheme) + 1, li = strlen(src->v[i].id.id) + 1;
		a->v[i].perms = src->v[i].perms;
		a->v[i].id.scheme = memcpy(q, src->v[i].id.scheme, ls);
		a->v[i].id.id = memcpy(q + ls, src->v[i].id.id, li);
		q += ls + li;
	}
	TN_ASSERT((size_t)(q - (char *)a) == size);
	a->list.count = cnt;
	a->list.v = a->v;
	a->next = n->acls;
	n->acls = a;
	return a;
}

/* A new entry holding the tree's state of @path: @known if the caller just
 * read it (saves a tree lookup), else read now. */
static struct pnode *ov_load(struct pctx *c, const char *path, uint64_t h,
			     const struct pview *known)
{
	struct prep_state *p = c->p;
	size_t len = strlen(path);
	struct store_node_view v;
	struct pnode *n;

	if (p->count >= p->mask + 1 || !p->tab)
		if (ov_grow(p) < 0)
			return NULL;
	if (!(n = calloc(1, sizeof(*n) + len + 1)))
		return NULL;
	memcpy(n->path, path, len + 1);
	n->hash = h;
	if (known && known->exists) {
		n->st = (struct pstate){ true, known->version, known->cversion, known->aversion,
					 known->num_children, known->owner, NULL };
		if (!(n->st.acl = pacl_add(n, known->acl))) {
			free(n);
			return NULL;
		}
	} else if (!known && path_valid(path) && store_get(c->s, path, &v) == ZK_OK) {
		n->st = (struct pstate){ true, v.stat.version, v.stat.cversion, v.stat.aversion,
					 v.stat.num_children, v.stat.ephemeral_owner, NULL };
		if (!(n->st.acl = pacl_add(n, v.acl))) {
			free(n);
			return NULL;
		}
	}
	n->hnext = p->tab[h & p->mask];
	p->tab[h & p->mask] = n;
	q_append(p, n);
	p->count++;
	return n;
}

static int undo_push(struct prep_state *p, struct pnode *n, bool fresh)
{
	if (p->undo_n == p->undo_cap) {
		uint32_t cap = p->undo_cap ? p->undo_cap * 2 : 16;
		struct undo *u = realloc(p->undo, sizeof(*u) * cap);
		if (!u)
			return -ENOMEM;
		p->undo = u;
		p->undo_cap = cap;
	}
	p->undo[p->undo_n++] = (struct undo){ n, n->st, n->zxid, fresh };
	n->undo_gen = p->gen;
	return 0;
}

/* The entry for @path, ready to change: loaded from the tree if new (@known:
 * what view() just returned for it, or NULL), its old state saved for
 * rollback, re-tagged with this txn's zxid. */
static int touch(struct pctx *c, const char *path, const struct pview *known, struct pnode **out)
{
	struct prep_state *p = c->p;
	uint64_t h = path_hash(path);
	struct pnode *n = ov_find(p, path, h);
	bool fresh = !n;

	if (!n && !(n = ov_load(c, path, h, known)))
		return -ENOMEM;
	if (n->undo_gen != p->gen && undo_push(p, n, fresh) < 0) {
		if (fresh)
			ov_remove(p, n);
		return -ENOMEM;
	}
	n->zxid = c->zxid;
	q_unlink(p, n);
	q_append(p, n);
	*out = n;
	return 0;
}

static void undo_rollback(struct prep_state *p)
{
	while (p->undo_n > 0) {
		struct undo *u = &p->undo[--p->undo_n];
		if (u->fresh) {
			ov_remove(p, u->n);
		} else {
			u->n->st = u->saved;
			u->n->zxid = u->saved_zxid;
		}
	}
}

/* Success: forget the undo log and free ACL copies nothing points at now. */
static void undo_commit(struct prep_state *p)
{
	for (uint32_t i = 0; i < p->undo_n; i++) {
		struct pnode *n = p->undo[i].n;
		struct pacl **pp = &n->acls;
		while (*pp) {
			struct pacl *a = *pp;
			if (a == n->st.acl) {
				pp = &a->next;
				continue;
			}
			*pp = a->next;
			free(a);
		}
	}
	p->undo_n = 0;
}

/* Drop what the tree has caught up with. */
static void ov_drop_applied(struct prep_state *p, tn_zxid last)
{
	struct psess **sp = &p->sessions;

	while (p->qhead && p->qhead->zxid <= last)
		ov_remove(p, p->qhead);
	while (*sp) {
		struct psess *e = *sp;
		if (e->zxid <= last) {
			*sp = e->next;
			free(e);
		} else {
			sp = &e->next;
		}
	}
}

static void ov_clear(struct prep_state *p)
{
	while (p->qhead)
		ov_remove(p, p->qhead);
	ov_drop_applied(p, UINT64_MAX);
	TN_ASSERT(p->count == 0 && !p->sessions);
	p->undo_n = 0;
}

/* Read @path through the overlay. Invalid paths do not exist. */
static void view(struct pctx *c, const char *path, struct pview *out)
{
	struct pnode *n = ov_find(c->p, path, path_hash(path));
	struct store_node_view v;

	memset(out, 0, sizeof(*out));
	if (n) {
		if (!n->st.exists)
			return;
		*out = (struct pview){ true, n->st.version, n->st.cversion, n->st.aversion,
				       n->st.num_children, n->st.owner, &n->st.acl->list };
		return;
	}
	if (!path_valid(path) || store_get(c->s, path, &v) != ZK_OK)
		return;
	*out = (struct pview){ true, v.stat.version, v.stat.cversion, v.stat.aversion,
			       v.stat.num_children, v.stat.ephemeral_owner, v.acl };
}

/* Is @session open, counting prepped createSession/closeSession? */
static bool session_open(struct pctx *c, uint64_t session)
{
	int32_t to;
	for (const struct psess *e = c->p->sessions; e; e = e->next)
		if (e->session == session)
			return e->open; /* newest first */
	return store_session_get(c->s, session, &to);
}

static int session_note(struct pctx *c, uint64_t session, bool open)
{
	struct psess *e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (struct psess){ c->p->sessions, session, c->zxid, open };
	c->p->sessions = e;
	return 0;
}

static void prep_state_free(struct prep_state *p)
{
	if (!p)
		return;
	ov_clear(p);
	free(p->tab);
	free(p->undo);
	free(p->scratch);
	free(p);
}

/* ---- helpers for the ops ---- */

static int arena_str(struct tn_arena *a, const char *s, const char **out)
{
	char *d = tn_arena_strndup(a, s, strlen(s));
	if (!d)
		return -EMSGSIZE;
	*out = d;
	return 0;
}

/* Copy request data into the txn (null stays null, empty stays empty). */
static int arena_data(struct tn_arena *a, const struct zk_op *op, struct txn *t)
{
	t->data_len = op->data_len;
	t->data = NULL;
	if (op->data_len > 0) {
		uint8_t *d = tn_arena_alloc(a, (size_t)op->data_len);
		if (!d)
			return -EMSGSIZE;
		memcpy(d, op->data, (size_t)op->data_len);
		t->data = d;
	}
	return 0;
}

static int data_check(const struct pctx *c, const struct zk_op *op)
{
	uint32_t max = c->cfg->data_max_bytes ? c->cfg->data_max_bytes : STORE_DATA_MAX_DEFAULT;
	if (op->data_len < -1 || (op->data_len > 0 && !op->data))
		return ZK_EBADARGUMENTS;
	if (op->data_len > 0 && (uint32_t)op->data_len > max)
		return ZK_EBADARGUMENTS;
	return ZK_OK;
}

/* checkAndIncVersion: -1 matches any; the next version wraps like Java's int. */
static int version_check(int32_t cur, int32_t expected, int32_t *next)
{
	if (expected != -1 && expected != cur)
		return ZK_EBADVERSION;
	*next = (int32_t)((uint32_t)cur + 1u);
	return ZK_OK;
}

static bool allows(const struct pctx *c, const struct zk_acl_list *acl, int32_t perm)
{
	return store_acl_allows(c->s, acl, perm, c->req->auth);
}

static int fixup(struct pctx *c, const struct zk_acl_list *in, struct zk_acl_list *out)
{
	int rc = store_acl_fixup(in, c->req->auth, c->a, out);
	TN_ASSERT(rc == ZK_OK || rc == ZK_EINVALIDACL || rc == -EMSGSIZE);
	return rc;
}

/* ---- create (pRequest2TxnCreate) ---- */

struct create_mode {
	bool ephemeral, sequential, ttl;
};

/* CreateMode.fromFlag and validateCreateRequest. */
static int create_mode_check(struct pctx *c, const struct zk_op *op, struct create_mode *m)
{
	int64_t ttl = op->type == ZK_OP_CREATETTL ? op->ttl : -1;
	int32_t f = op->flags;

	if (f < ZK_CREATE_PERSISTENT || f > ZK_CREATE_SEQUENTIAL_TTL)
		return ZK_EBADARGUMENTS;
	m->ephemeral = f == ZK_CREATE_EPHEMERAL || f == ZK_CREATE_EPHEMERAL_SEQUENTIAL;
	m->sequential = f == ZK_CREATE_SEQUENTIAL || f == ZK_CREATE_EPHEMERAL_SEQUENTIAL ||
			f == ZK_CREATE_SEQUENTIAL_TTL;
	m->ttl = f == ZK_CREATE_TTL || f == ZK_CREATE_SEQUENTIAL_TTL;
	if (m->ttl && !c->cfg->extended_types)
		return ZK_EUNIMPLEMENTED;
	if (m->ttl ? (ttl <= 0 || (uint64_t)ttl > ZK_TTL_MAX) : ttl >= 0)
		return ZK_EBADARGUMENTS;
	if (op->type == ZK_OP_CREATETTL && !m->ttl)
		return ZK_EBADARGUMENTS; /* tern: ZooKeeper's apply would throw */
	if (m->ephemeral && !session_open(c, c->req->hdr.session))
		return ZK_ESESSIONEXPIRED;
	return data_check(c, op);
}

/* The owner the tree ends up with (DataTree.processTxn decides by txn type). */
static int64_t create_owner(const struct pctx *c, const struct zk_op *op,
			    const struct create_mode *m)
{
	if (op->type == ZK_OP_CREATECONTAINER)
		return (int64_t)ZK_OWNER_CONTAINER;
	if (op->type == ZK_OP_CREATETTL)
		return (int64_t)(ZK_OWNER_TTL_MASK | (uint64_t)op->ttl);
	return m->ephemeral ? (int64_t)c->req->hdr.session : 0;
}

/* The final path: @path plus "%010d" of the parent's cversion if sequential. */
static int create_path(struct pctx *c, const char *path, bool seq, int32_t cversion,
		       const char **out)
{
	char suffix[PREP_SEQ_DIGITS_MAX];
	size_t plen = strlen(path), slen = 0;
	char *d;

	if (seq) {
		int n = snprintf(suffix, sizeof suffix, "%010d", cversion);
		TN_ASSERT(n > 0 && (size_t)n < sizeof suffix);
		slen = (size_t)n;
	}
	if (!(d = tn_arena_alloc(c->a, plen + slen + 1)))
		return -EMSGSIZE;
	memcpy(d, path, plen);
	memcpy(d + plen, suffix, slen);
	d[plen + slen] = '\0';
	*out = d;
	return 0;
}

/* Record the create in the overlay: the parent gains a child, the node exists. */
static int create_note(struct pctx *c, const char *parent, const struct pview *pv,
		       const struct txn *t, const struct pview *nv)
{
	struct pnode *pn, *n;
	int rc;

	if ((rc = touch(c, parent, pv, &pn)) < 0)
		return rc;
	TN_ASSERT(pn->st.exists);
	pn->st.num_children++;
	pn->st.cversion = t->parent_cversion;
	if ((rc = touch(c, t->path, nv, &n)) < 0)
		return rc;
	TN_ASSERT(!n->st.exists);
	n->st = (struct pstate){ true, 0, 0, 0, 0, t->ephemeral_owner, NULL };
	if (!(n->st.acl = pacl_add(n, &t->acl)))
		return -ENOMEM;
	return 0;
}

static int prep_create(struct pctx *c, const struct zk_op *op, struct txn *t)
{
	struct create_mode m;
	struct pview pv, nv;
	const char *parent;
	int rc;

	if ((rc = create_mode_check(c, op, &m)) != ZK_OK)
		return rc;
	if (!op->path || !(parent = parent_of(c->p, op->path, &rc)))
		return rc ? rc : ZK_EBADARGUMENTS;
	if ((rc = fixup(c, &op->acl, &t->acl)) != ZK_OK)
		return rc;
	view(c, parent, &pv);
	if (!pv.exists)
		return ZK_ENONODE;
	if (!allows(c, pv.acl, ZK_PERM_CREATE))
		return ZK_ENOAUTH;
	if ((rc = create_path(c, op->path, m.sequential, pv.cversion, &t->path)) < 0)
		return rc;
	if (!path_valid(t->path))
		return ZK_EBADARGUMENTS;
	view(c, t->path, &nv);
	if (nv.exists)
		return ZK_ENODEEXISTS;
	if (owner_is_normal_ephemeral(c->cfg, pv.owner))
		return ZK_ENOCHILDRENFOREPHEMERALS;
	if ((rc = arena_data(c->a, op, t)) < 0)
		return rc;
	t->ephemeral_owner = create_owner(c, op, &m);
	t->parent_cversion = (int32_t)((uint32_t)pv.cversion + 1u);
	/* parent_of's scratch was not reused since: view() does not touch it. */
	return create_note(c, parent, &pv, t, &nv);
}

/* ---- delete, deleteContainer ---- */

/* Record a delete: the parent loses a child, the node is gone. */
static int delete_note(struct pctx *c, const char *parent, const struct pview *pv,
		       const char *path, const struct pview *nv)
{
	struct pnode *pn, *n;
	int rc;

	if ((rc = touch(c, parent, pv, &pn)) < 0)
		return rc;
	TN_ASSERT(pn->st.exists && pn->st.num_children > 0);
	pn->st.num_children--;
	if ((rc = touch(c, path, nv, &n)) < 0)
		return rc;
	TN_ASSERT(n->st.exists);
	n->st = (struct pstate){ 0 };
	return 0;
}

/* getParentPathAndValidate: a '/' somewhere, not one of the special nodes. */
static const char *delete_parent(struct pctx *c, const char *path, int *rc)
{
	const char *parent;
	if (!path || path_special(path)) {
		*rc = ZK_EBADARGUMENTS;
		return NULL;
	}
	parent = parent_of(c->p, path, rc);
	if (!parent && *rc == 0)
		*rc = ZK_EBADARGUMENTS;
	return parent;
}

static int prep_delete(struct pctx *c, const struct zk_op *op, struct txn *t)
{
	struct pview pv, nv;
	const char *parent;
	int32_t unused;
	int rc;

	if (!(parent = delete_parent(c, op->path, &rc)))
		return rc;
	view(c, parent, &pv);
	if (!pv.exists)
		return ZK_ENONODE;
	if (!allows(c, pv.acl, ZK_PERM_DELETE))
		return ZK_ENOAUTH;
	view(c, op->path, &nv);
	if (!nv.exists)
		return ZK_ENONODE;
	if ((rc = version_check(nv.version, op->version, &unused)) != ZK_OK)
		return rc;
	if (nv.num_children > 0)
		return ZK_ENOTEMPTY;
	if ((rc = arena_str(c->a, op->path, &t->path)) < 0)
		return rc;
	return delete_note(c, parent, &pv, op->path, &nv);
}

/* The container reaper's delete: no ACL or version check; refused if a child
 * appeared (NotEmpty) or the node is not a container or TTL node (BadVersion,
 * ZooKeeper's code for a plain ephemeral; ZooKeeper would delete a plain
 * persistent node that replaced a reaped container, tern refuses). */
static int prep_delete_container(struct pctx *c, const struct zk_op *op, struct txn *t)
{
	struct pview pv, nv;
	const char *parent;
	int rc;

	if (!(parent = delete_parent(c, op->path, &rc)))
		return rc;
	view(c, op->path, &nv);
	if (!nv.exists)
		return ZK_ENONODE;
	if (nv.num_children > 0)
		return ZK_ENOTEMPTY;
	if (!owner_is_reapable(c->cfg, nv.owner))
		return ZK_EBADVERSION;
	view(c, parent, &pv);
	if (!pv.exists)
		return ZK_ENONODE; /* UNTESTED: a node's parent always exists */
	if ((rc = arena_str(c->a, op->path, &t->path)) < 0)
		return rc;
	return delete_note(c, parent, &pv, op->path, &nv);
}

/* ---- setData, setACL, check ---- */

static int prep_set_data(struct pctx *c, const struct zk_op *op, struct txn *t)
{
	struct pnode *n;
	struct pview nv;
	int rc;

	if (!op->path || !path_valid(op->path))
		return ZK_EBADARGUMENTS;
	if ((rc = data_check(c, op)) != ZK_OK)
		return rc;
	view(c, op->path, &nv);
	if (!nv.exists)
		return ZK_ENONODE;
	if (!allows(c, nv.acl, ZK_PERM_WRITE))
		return ZK_ENOAUTH;
	if ((rc = version_check(nv.version, op->version, &t->version)) != ZK_OK)
		return rc;
	if ((rc = arena_str(c->a, op->path, &t->path)) < 0 || (rc = arena_data(c->a, op, t)) < 0)
		return rc;
	if ((rc = touch(c, op->path, &nv, &n)) < 0)
		return rc;
	n->st.version = t->version;
	return ZK_OK;
}

static int prep_set_acl(struct pctx *c, const struct zk_op *op, struct txn *t)
{
	struct pnode *n;
	struct pview nv;
	int rc;

	if (!op->path || !path_valid(op->path))
		return ZK_EBADARGUMENTS;
	if ((rc = fixup(c, &op->acl, &t->acl)) != ZK_OK)
		return rc;
	view(c, op->path, &nv);
	if (!nv.exists)
		return ZK_ENONODE;
	if (!allows(c, nv.acl, ZK_PERM_ADMIN))
		return ZK_ENOAUTH;
	if ((rc = version_check(nv.aversion, op->version, &t->version)) != ZK_OK)
		return rc;
	if ((rc = arena_str(c->a, op->path, &t->path)) < 0)
		return rc;
	if ((rc = touch(c, op->path, &nv, &n)) < 0)
		return rc;
	n->st.aversion = t->version;
	if (!(n->st.acl = pacl_add(n, &t->acl)))
		return -ENOMEM;
	return ZK_OK;
}

/* check (multi only): READ on the node, version match; the txn carries the
 * node's version + 1 like ZooKeeper's CheckVersionTxn, and changes nothing. */
static int prep_check(struct pctx *c, const struct zk_op *op, struct txn *t)
{
	struct pview nv;
	int rc;

	if (!op->path || !path_valid(op->path))
		return ZK_EBADARGUMENTS;
	view(c, op->path, &nv);
	if (!nv.exists)
		return ZK_ENONODE;
	if (!allows(c, nv.acl, ZK_PERM_READ))
		return ZK_ENOAUTH;
	if ((rc = version_check(nv.version, op->version, &t->version)) != ZK_OK)
		return rc;
	return arena_str(c->a, op->path, &t->path);
}

/* ---- sessions ---- */

static int prep_create_session(struct pctx *c, struct txn *t)
{
	t->timeout_ms = c->req->session_timeout_ms;
	return session_note(c, c->req->hdr.session, true);
}

struct eph_list {
	struct pctx *c;
	const char **v;
	uint32_t n, cap;
	int err;
};

static int eph_push(struct eph_list *l, const char *path)
{
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 16;
		const char **v = realloc(l->v, sizeof(*v) * cap);
		if (!v)
			return l->err = -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if ((l->err = arena_str(l->c->a, path, &l->v[l->n])) < 0)
		return l->err;
	l->n++;
	return 0;
}

/* Tree ephemerals the overlay says nothing about (it knows the rest better). */
static int eph_from_tree(void *arg, const char *path)
{
	struct eph_list *l = arg;
	if (ov_find(l->c->p, path, path_hash(path)))
		return 0;
	return eph_push(l, path);
}

static int eph_collect(struct pctx *c, uint64_t session, struct eph_list *l)
{
	for (struct pnode *n = c->p->qhead; n; n = n->qnext)
		if (n->st.exists && n->st.owner == (int64_t)session &&
		    owner_is_normal_ephemeral(c->cfg, n->st.owner) && eph_push(l, n->path) < 0)
			return l->err;
	store_ephemerals(c->s, session, "", eph_from_tree, l);
	return l->err;
}

/* closeSession: the txn lists every ephemeral of the session, including those
 * created by prepped txns and minus those they delete. */
static int prep_close_session(struct pctx *c, struct txn *t)
{
	uint64_t session = c->req->hdr.session;
	struct eph_list l = { .c = c };
	int rc;

	if ((rc = eph_collect(c, session, &l)) < 0)
		goto out;
	for (uint32_t i = 0; i < l.n; i++) {
		const char *parent = parent_of(c->p, l.v[i], &rc);
		if (!parent)
			goto out;
		if ((rc = delete_note(c, parent, NULL, l.v[i], NULL)) < 0)
			goto out;
	}
	if (l.n) {
		const char **v = tn_arena_alloc(c->a, sizeof(*v) * l.n);
		if (!v) {
			rc = -EMSGSIZE;
			goto out;
		}
		memcpy(v, l.v, sizeof(*v) * l.n);
		t->paths = v;
	}
	t->path_count = l.n;
	rc = session_note(c, session, false);
out:
	free(l.v);
	return rc;
}

/* ---- dispatch and multi ---- */

static int prep_one(struct pctx *c, const struct zk_op *op, struct txn *t, bool in_multi)
{
	switch (op->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		return prep_create(c, op, t);
	case ZK_OP_DELETE:
		return prep_delete(c, op, t);
	case ZK_OP_SETDATA:
		return prep_set_data(c, op, t);
	case ZK_OP_CHECK:
		/* standalone check: Unimplemented, as ZooKeeper 3.9 */
		return in_multi ? prep_check(c, op, t) : ZK_EUNIMPLEMENTED;
	case ZK_OP_DELETECONTAINER:
		return in_multi ? ZK_EBADARGUMENTS : prep_delete_container(c, op, t);
	case ZK_OP_SETACL:
		return in_multi ? ZK_EBADARGUMENTS : prep_set_acl(c, op, t);
	default:
		/* MultiOperationRecord refuses other ops inside a multi; outside one,
		 * a read or unknown op is not a write ZooKeeper would prep. */
		return in_multi ? ZK_EBADARGUMENTS : ZK_EUNIMPLEMENTED;
	}
}

static void txn_start(const struct pctx *c, struct txn *t, int32_t type)
{
	memset(t, 0, sizeof(*t));
	t->hdr = c->req->hdr;
	t->hdr.type = type;
	t->type = type;
}

/* Prep every op against the overlay as the earlier ones left it. On the
 * first failure return its code and index in *@failed. */
static int prep_multi(struct pctx *c, const struct zk_op *op, struct txn *t, uint32_t *failed)
{
	struct txn *sub = NULL;

	TN_ASSERT(!op->sub_count || op->sub);
	if (op->sub_count) {
		sub = tn_arena_alloc(c->a, sizeof(*sub) * op->sub_count);
		if (!sub)
			return -EMSGSIZE;
	}
	t->sub = sub;
	t->sub_count = op->sub_count;
	for (uint32_t i = 0; i < op->sub_count; i++) {
		int rc;
		txn_start(c, &sub[i], op->sub[i].type);
		rc = prep_one(c, &op->sub[i], &sub[i], true);
		if (rc != ZK_OK) {
			*failed = i;
			return rc;
		}
	}
	return ZK_OK;
}

/* A failed multi: ERROR subs, 0 before the failing op, its code, then
 * RuntimeInconsistency. Reuses the sub array prep_multi allocated. */
static void multi_fail(struct txn *t, uint32_t failed, int code)
{
	TN_ASSERT(failed < t->sub_count);
	for (uint32_t i = 0; i < t->sub_count; i++) {
		struct txn_hdr h = t->hdr;
		struct txn *sub = &t->sub[i];
		memset(sub, 0, sizeof(*sub));
		sub->hdr = h;
		sub->hdr.type = sub->type = ZK_OP_ERROR;
		sub->err = i < failed ? ZK_OK : i == failed ? code : ZK_ERUNTIMEINCONSISTENCY;
	}
}

static int prep_dispatch(struct pctx *c, int32_t type, struct txn *t, uint32_t *failed)
{
	const struct zk_op *op = c->req->op;

	switch (type) {
	case ZK_OP_CREATESESSION:
		return prep_create_session(c, t);
	case ZK_OP_CLOSESESSION:
		return prep_close_session(c, t);
	case ZK_OP_MULTI:
		return prep_multi(c, op, t, failed);
	default:
		return prep_one(c, op, t, false);
	}
}

static struct prep_state *state_of(struct store *s)
{
	struct prep_state **slot = store_prep_slot(s);
	if (!*slot) {
		if (!(*slot = calloc(1, sizeof(**slot))))
			return NULL;
		*store_prep_free_slot(s) = prep_state_free;
	}
	return *slot;
}

/* Undo every change of this prep: overlay entries and noted sessions. */
static void prep_rollback(struct prep_state *p, struct psess *mark)
{
	undo_rollback(p);
	while (p->sessions != mark) {
		struct psess *e = p->sessions;
		TN_ASSERT(e != NULL);
		p->sessions = e->next;
		free(e);
	}
}

int store_prep(struct store *s, const struct store_req *req, struct txn *out, struct tn_arena *a)
{
	struct prep_state *p;
	struct pctx c;
	struct psess *mark;
	uint32_t failed = 0;
	int32_t type;
	int rc;

	TN_ASSERT(s && req && out && a);
	type = req->op ? req->op->type : req->hdr.type;
	TN_ASSERT(req->op || type == ZK_OP_CREATESESSION || type == ZK_OP_CLOSESESSION);
	TN_ASSERT(req->hdr.zxid > store_last_zxid(s));
	if (!(p = state_of(s)))
		return -ENOMEM;
	ov_drop_applied(p, store_last_zxid(s));
	TN_ASSERT(p->undo_n == 0);
	p->gen++;
	mark = p->sessions;
	c = (struct pctx){ s, p, store_cfg_of(s), req, a, req->hdr.zxid };
	txn_start(&c, out, type);
	rc = prep_dispatch(&c, type, out, &failed);
	TN_ASSERT(rc <= 0);
	if (rc == ZK_OK) {
		undo_commit(p);
		return ZK_OK;
	}
	prep_rollback(p, mark);
	if (is_syserr(rc))
		return rc;
	if (type == ZK_OP_MULTI) {
		multi_fail(out, failed, rc);
		return rc;
	}
	txn_start(&c, out, ZK_OP_ERROR);
	out->err = rc;
	return rc;
}

void store_prep_reset(struct store *s)
{
	struct prep_state *p = *store_prep_slot(s);
	if (p)
		ov_clear(p);
}
