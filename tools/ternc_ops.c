/* tools/ternc_ops.c: the client library's calls (each builds one request and
 * hands it to tc_submit), the blocking wrappers over them, result copies,
 * ACL text and error names. The protocol engine is in ternc.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/tn_assert.h"
#include "store/store.h"
#include "tools/ternc_int.h"

static const struct zk_acl open_acl_v[] = {{ZK_PERM_ALL, {"world", "anyone"}}};
static const struct zk_acl read_acl_v[] = {{ZK_PERM_READ, {"world", "anyone"}}};
static const struct zk_acl creator_acl_v[] = {{ZK_PERM_ALL, {"auth", ""}}};
const struct zk_acl_list TERNC_OPEN_ACL = {1, open_acl_v};
const struct zk_acl_list TERNC_READ_ACL = {1, read_acl_v};
const struct zk_acl_list TERNC_CREATOR_ACL = {1, creator_acl_v};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A call on one path; @path is checked and prefixed into @buf. */
static int call_path(struct ternc *c, struct tc_call *call, int32_t type, const char *path,
		     char *buf)
{
	if (!c)
		return ZK_EBADARGUMENTS;
	int rc = tc_path_out(c, path, false, buf);
	if (rc != ZK_OK)
		return rc;
	call->req.type = type;
	call->req.op.type = type;
	call->req.op.path = buf;
	call->req.op.data_len = -1;
	call->req.op.version = -1;
	return ZK_OK;
}

static void call_watch(struct tc_call *call, const char *path, ternc_watch_fn wfn, void *warg,
		       int kind)
{
	call->req.op.watch = wfn != NULL;
	call->wfn = wfn;
	call->warg = warg;
	call->wkind = wfn ? kind : TC_W_NONE;
	call->wpath = path;
}

static int create_op_type(int mode, int64_t ttl_ms, int32_t *type)
{
	switch (mode) {
	case TERNC_PERSISTENT:
	case TERNC_EPHEMERAL:
	case TERNC_SEQUENTIAL:
	case TERNC_EPHEMERAL_SEQUENTIAL:
		*type = ZK_OP_CREATE2;
		return ttl_ms == 0 ? ZK_OK : ZK_EBADARGUMENTS;
	case TERNC_CONTAINER:
		*type = ZK_OP_CREATECONTAINER;
		return ttl_ms == 0 ? ZK_OK : ZK_EBADARGUMENTS;
	case TERNC_TTL:
	case TERNC_SEQUENTIAL_TTL:
		*type = ZK_OP_CREATETTL;
		return ttl_ms > 0 && (uint64_t)ttl_ms <= ZK_TTL_MAX ? ZK_OK : ZK_EBADARGUMENTS;
	default:
		return ZK_EBADARGUMENTS;
	}
}

static bool data_ok(const void *data, int32_t len)
{
	return len >= -1 && (len <= 0 || data) && (uint32_t)(len < 0 ? 0 : len) < ZKP_FRAME_MAX;
}

int ternc_create(struct ternc *c, const char *path, const void *data, int32_t len,
		 const struct zk_acl_list *acl, int mode, int64_t ttl_ms, ternc_cb cb, void *arg)
{
	char buf[TERNC_PATH_MAX];
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	int32_t type;
	int rc = create_op_type(mode, ttl_ms, &type);
	if (rc != ZK_OK || !c || !data_ok(data, len))
		return ZK_EBADARGUMENTS;
	bool seq = mode == TERNC_SEQUENTIAL || mode == TERNC_EPHEMERAL_SEQUENTIAL ||
		   mode == TERNC_SEQUENTIAL_TTL;
	if ((rc = tc_path_out(c, path, seq, buf)) != ZK_OK)
		return rc;
	if (acl && (acl->count <= 0 || !acl->v))
		return ZK_EINVALIDACL;
	call.req.type = type;
	call.req.op = (struct zk_op){.type = type,
				     .path = buf,
				     .data = data,
				     .data_len = len,
				     .acl = acl ? *acl : TERNC_OPEN_ACL,
				     .flags = mode,
				     .ttl = ttl_ms,
				     .version = -1};
	return tc_submit(c, &call);
}

int ternc_delete(struct ternc *c, const char *path, int32_t version, ternc_cb cb, void *arg)
{
	char buf[TERNC_PATH_MAX];
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	int rc = call_path(c, &call, ZK_OP_DELETE, path, buf);
	if (rc != ZK_OK)
		return rc;
	call.req.op.version = version;
	return tc_submit(c, &call);
}

static int read_call(struct ternc *c, int32_t type, const char *path, ternc_watch_fn wfn,
		     void *warg, int kind, ternc_cb cb, void *arg)
{
	char buf[TERNC_PATH_MAX];
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	int rc = call_path(c, &call, type, path, buf);
	if (rc != ZK_OK)
		return rc;
	call_watch(&call, path, wfn, warg, kind);
	return tc_submit(c, &call);
}

int ternc_exists(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg, ternc_cb cb,
		 void *arg)
{
	return read_call(c, ZK_OP_EXISTS, path, wfn, warg, TC_W_EXIST, cb, arg);
}

int ternc_get(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg, ternc_cb cb,
	      void *arg)
{
	return read_call(c, ZK_OP_GETDATA, path, wfn, warg, TC_W_DATA, cb, arg);
}

int ternc_children(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg, ternc_cb cb,
		   void *arg)
{
	return read_call(c, ZK_OP_GETCHILDREN2, path, wfn, warg, TC_W_CHILD, cb, arg);
}

int ternc_get_acl(struct ternc *c, const char *path, ternc_cb cb, void *arg)
{
	return read_call(c, ZK_OP_GETACL, path, NULL, NULL, TC_W_NONE, cb, arg);
}

int ternc_children_count(struct ternc *c, const char *path, ternc_cb cb, void *arg)
{
	return read_call(c, ZK_OP_GETALLCHILDRENNUMBER, path, NULL, NULL, TC_W_NONE, cb, arg);
}

int ternc_sync(struct ternc *c, const char *path, ternc_cb cb, void *arg)
{
	return read_call(c, ZK_OP_SYNC, path, NULL, NULL, TC_W_NONE, cb, arg);
}

int ternc_set(struct ternc *c, const char *path, const void *data, int32_t len, int32_t version,
	      ternc_cb cb, void *arg)
{
	char buf[TERNC_PATH_MAX];
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	if (!data_ok(data, len))
		return ZK_EBADARGUMENTS;
	int rc = call_path(c, &call, ZK_OP_SETDATA, path, buf);
	if (rc != ZK_OK)
		return rc;
	call.req.op.data = data;
	call.req.op.data_len = len;
	call.req.op.version = version;
	return tc_submit(c, &call);
}

int ternc_set_acl(struct ternc *c, const char *path, const struct zk_acl_list *acl, int32_t version,
		  ternc_cb cb, void *arg)
{
	char buf[TERNC_PATH_MAX];
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	if (!acl || acl->count <= 0 || !acl->v)
		return ZK_EINVALIDACL;
	int rc = call_path(c, &call, ZK_OP_SETACL, path, buf);
	if (rc != ZK_OK)
		return rc;
	call.req.op.acl = *acl;
	call.req.op.version = version;
	return tc_submit(c, &call);
}

/* Copy and prefix one multi sub-op; its path goes to @pbuf. */
static int multi_sub(struct ternc *c, const struct zk_op *in, struct zk_op *out, char *pbuf)
{
	*out = *in;
	bool seq = false;
	switch (in->type) {
	case ZK_OP_CREATE:
	case ZK_OP_CREATE2:
	case ZK_OP_CREATECONTAINER:
	case ZK_OP_CREATETTL:
		if (create_op_type(in->flags, in->ttl, &out->type) != ZK_OK)
			return ZK_EBADARGUMENTS;
		seq = in->flags == TERNC_SEQUENTIAL || in->flags == TERNC_EPHEMERAL_SEQUENTIAL ||
		      in->flags == TERNC_SEQUENTIAL_TTL;
		if (out->type == ZK_OP_CREATE2)
			out->type =
			    ZK_OP_CREATE; /* a multi's create replies with create2 data anyway */
		if (in->acl.count <= 0 || !in->acl.v)
			out->acl = TERNC_OPEN_ACL;
		if (!data_ok(in->data, in->data_len))
			return ZK_EBADARGUMENTS;
		break;
	case ZK_OP_SETDATA:
		if (!data_ok(in->data, in->data_len))
			return ZK_EBADARGUMENTS;
		break;
	case ZK_OP_DELETE:
	case ZK_OP_CHECK:
		break;
	default:
		return ZK_EBADARGUMENTS;
	}
	int rc = tc_path_out(c, in->path, seq, pbuf);
	out->path = pbuf;
	return rc;
}

int ternc_multi(struct ternc *c, const struct zk_op *ops, uint32_t n, ternc_cb cb, void *arg)
{
	if (!c || !ops || n == 0 || n > TERNC_MULTI_MAX)
		return ZK_EBADARGUMENTS;
	size_t bytes = 0; /* each prefixed path, exactly (tc_path_out checks the limit) */
	for (uint32_t i = 0; i < n; i++)
		bytes +=
		    tc_chroot_len(c) + strnlen(ops[i].path ? ops[i].path : "", TERNC_PATH_MAX) + 1;
	struct zk_op *sub = calloc(n, sizeof(*sub));
	char *paths = malloc(bytes);
	int rc = ZK_ESYSTEM;
	if (!sub || !paths)
		goto out;
	size_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		if ((rc = multi_sub(c, &ops[i], &sub[i], paths + off)) != ZK_OK)
			goto out;
		off += strlen(paths + off) + 1;
		TN_ASSERT(off <= bytes);
	}
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	call.req.type = ZK_OP_MULTI;
	call.req.op =
	    (struct zk_op){.type = ZK_OP_MULTI, .data_len = -1, .sub = sub, .sub_count = n};
	rc = tc_submit(c, &call); /* encodes now: sub and paths may go */
out:
	free(sub);
	free(paths);
	return rc;
}

int ternc_add_watch(struct ternc *c, const char *path, bool recursive, ternc_watch_fn wfn,
		    void *warg, ternc_cb cb, void *arg)
{
	char buf[TERNC_PATH_MAX];
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	if (!wfn)
		return ZK_EBADARGUMENTS;
	int rc = call_path(c, &call, ZK_OP_ADDWATCH, path, buf);
	if (rc != ZK_OK)
		return rc;
	call.req.op.mode = recursive ? ZK_ADDWATCH_PERSISTENT_RECURSIVE : ZK_ADDWATCH_PERSISTENT;
	call_watch(&call, path, wfn, warg, recursive ? TC_W_RECURSIVE : TC_W_PERSIST);
	call.req.op.watch = false;
	return tc_submit(c, &call);
}

int ternc_remove_watches(struct ternc *c, const char *path, int type, ternc_cb cb, void *arg)
{
	char buf[TERNC_PATH_MAX];
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	if (type < ZK_WATCHER_CHILDREN || type > ZK_WATCHER_PERSISTENT_RECURSIVE)
		return ZK_EBADARGUMENTS;
	int rc = call_path(c, &call, ZK_OP_REMOVEWATCHES, path, buf);
	if (rc != ZK_OK)
		return rc;
	call.req.op.mode = type;
	tc_watch_remove(c, path, type);
	return tc_submit(c, &call);
}

int ternc_whoami(struct ternc *c, ternc_cb cb, void *arg)
{
	if (!c)
		return ZK_EBADARGUMENTS;
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	call.req.type = ZK_OP_WHOAMI;
	call.req.op.type = ZK_OP_WHOAMI;
	call.req.op.data_len = -1;
	return tc_submit(c, &call);
}

int ternc_reconfig(struct ternc *c, const char *joining, const char *leaving,
		   const char *new_members, int64_t from_config, ternc_cb cb, void *arg)
{
	if (!c || (new_members && (joining || leaving)))
		return ZK_EBADARGUMENTS;
	struct tc_call call = {.cb = cb, .arg = arg, .wkind = TC_W_NONE};
	call.req.type = ZK_OP_RECONFIG;
	call.req.op.type = ZK_OP_RECONFIG;
	call.req.op.data_len = -1;
	call.req.reconfig.joining = joining;
	call.req.reconfig.leaving = leaving;
	call.req.reconfig.new_members = new_members;
	call.req.reconfig.cur_config_id = from_config;
	return tc_submit(c, &call);
}

/* ---- result copies ---- */

/* @n bytes at *@off aligned to @align; NULL while measuring (@base NULL). */
static void *take(uint8_t *base, size_t *off, size_t n, size_t align)
{
	*off = (*off + align - 1) & ~(align - 1);
	*off += n;
	return base ? base + *off - n : NULL;
}

/* Lay out a deep copy of @r in @dst (NULL: only measure). Return: bytes. */
static size_t result_layout(const struct ternc_result *r, struct ternc_result *dst)
{
	size_t off = sizeof(*r);
	uint8_t *base = (uint8_t *)dst;
	if (dst)
		*dst = *r;
	if (r->path) {
		size_t n = strlen(r->path) + 1;
		char *p = take(base, &off, n, 1);
		if (p)
			dst->path = memcpy(p, r->path, n);
	}
	if (r->data_len > 0) {
		uint8_t *p = take(base, &off, (size_t)r->data_len + 1, 1);
		if (p) {
			memcpy(p, r->data, (size_t)r->data_len);
			p[r->data_len] = 0; /* a NUL after the bytes, for printing */
			dst->data = p;
		}
	} else if (dst) {
		dst->data = NULL;
	}
	if (r->count > 0 && r->names) {
		const char **v =
		    take(base, &off, (size_t)r->count * sizeof(char *), sizeof(char *));
		for (int32_t i = 0; i < r->count; i++) {
			size_t n = strlen(r->names[i]) + 1;
			char *p = take(base, &off, n, 1);
			if (v)
				v[i] = memcpy(p, r->names[i], n);
		}
		if (dst)
			dst->names = v;
	}
	if (r->acl.count > 0 && r->acl.v) {
		struct zk_acl *v =
		    take(base, &off, (size_t)r->acl.count * sizeof(*v), sizeof(void *));
		for (int32_t i = 0; i < r->acl.count; i++) {
			const struct zk_acl *a = &r->acl.v[i];
			size_t ns = strlen(a->id.scheme ? a->id.scheme : "") + 1;
			size_t ni = strlen(a->id.id ? a->id.id : "") + 1;
			char *ps = take(base, &off, ns, 1), *pi = take(base, &off, ni, 1);
			if (v) {
				v[i].perms = a->perms;
				v[i].id.scheme = memcpy(ps, a->id.scheme ? a->id.scheme : "", ns);
				v[i].id.id = memcpy(pi, a->id.id ? a->id.id : "", ni);
			}
		}
		if (dst)
			dst->acl.v = v;
	}
	if (r->multi_count > 0) {
		struct ternc_multi_result *v =
		    take(base, &off, r->multi_count * sizeof(*v), sizeof(void *));
		for (uint32_t i = 0; i < r->multi_count; i++) {
			if (v)
				v[i] = r->multi[i];
			if (r->multi[i].path) {
				size_t n = strlen(r->multi[i].path) + 1;
				char *p = take(base, &off, n, 1);
				if (v)
					v[i].path = memcpy(p, r->multi[i].path, n);
			}
		}
		if (dst)
			dst->multi = v;
	}
	return off;
}

static struct ternc_result *result_copy(const struct ternc_result *r)
{
	size_t n = result_layout(r, NULL);
	struct ternc_result *d = malloc(n);
	if (d)
		TN_ASSERT(result_layout(r, d) == n);
	return d;
}

void ternc_result_free(struct ternc_result *r)
{
	free(r);
}

/* ---- blocking wrappers ---- */

struct tc_wait {
	bool done, abandoned, want_copy;
	int err;
	struct ternc_result *copy;
	struct zstat stat;
	int32_t number;
};

static void wait_cb(struct ternc *c, const struct ternc_result *r, void *arg)
{
	struct tc_wait *w = arg;
	(void)c;
	if (w->abandoned) { /* the waiter timed out and left */
		free(w);
		return;
	}
	w->done = true;
	w->err = r->err;
	w->stat = r->stat;
	w->number = r->number;
	if (w->want_copy)
		w->copy = result_copy(r);
}

static struct tc_wait *wait_new(const struct ternc *c, bool want_copy, int *rc)
{
	if (!c) {
		*rc = ZK_EBADARGUMENTS;
		return NULL;
	}
	if (tc_in_callback(c)) {
		*rc = ZK_EAPI;
		return NULL;
	}
	struct tc_wait *w = calloc(1, sizeof(*w));
	*rc = w ? ZK_OK : ZK_ESYSTEM;
	if (w)
		w->want_copy = want_copy;
	return w;
}

/* Wait for @w after its call returned @rc; fill the outputs; free @w. */
static int wait_end(struct ternc *c, struct tc_wait *w, int rc, struct ternc_result **out,
		    struct zstat *st)
{
	if (out)
		*out = NULL;
	if (rc != ZK_OK) {
		free(w);
		return rc;
	}
	int lrc = ternc_loop_run_until(ternc_loop_of(c), &w->done, tc_wait_bound_ms(c));
	if (!w->done) {
		w->abandoned = true; /* wait_cb frees it when the call completes */
		return lrc == -ETIMEDOUT ? ZK_EOPERATIONTIMEOUT : ZK_ESYSTEM;
	}
	rc = w->err;
	if (st)
		*st = w->stat;
	if (out && w->want_copy && !w->copy)
		rc = ZK_ESYSTEM;
	if (out)
		*out = w->copy;
	else
		free(w->copy);
	free(w);
	return rc;
}

#define TC_SYNC(c, out, st, call_expr)                                                             \
	do {                                                                                       \
		int rc_;                                                                           \
		struct tc_wait *w_ = wait_new((c), (out) != NULL, &rc_);                           \
		if (!w_)                                                                           \
			return rc_;                                                                \
		rc_ = (call_expr);                                                                 \
		return wait_end((c), w_, rc_, (out), (st));                                        \
	} while (0)

int ternc_create_sync(struct ternc *c, const char *path, const void *data, int32_t len,
		      const struct zk_acl_list *acl, int mode, int64_t ttl_ms,
		      struct ternc_result **out)
{
	TC_SYNC(c, out, NULL, ternc_create(c, path, data, len, acl, mode, ttl_ms, wait_cb, w_));
}

int ternc_delete_sync(struct ternc *c, const char *path, int32_t version)
{
	TC_SYNC(c, (struct ternc_result **)NULL, NULL, ternc_delete(c, path, version, wait_cb, w_));
}

int ternc_exists_sync(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg,
		      struct zstat *st)
{
	TC_SYNC(c, (struct ternc_result **)NULL, st, ternc_exists(c, path, wfn, warg, wait_cb, w_));
}

int ternc_get_sync(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg,
		   struct ternc_result **out)
{
	TC_SYNC(c, out, NULL, ternc_get(c, path, wfn, warg, wait_cb, w_));
}

int ternc_set_sync(struct ternc *c, const char *path, const void *data, int32_t len,
		   int32_t version, struct zstat *st)
{
	TC_SYNC(c, (struct ternc_result **)NULL, st,
		ternc_set(c, path, data, len, version, wait_cb, w_));
}

int ternc_get_acl_sync(struct ternc *c, const char *path, struct ternc_result **out)
{
	TC_SYNC(c, out, NULL, ternc_get_acl(c, path, wait_cb, w_));
}

int ternc_set_acl_sync(struct ternc *c, const char *path, const struct zk_acl_list *acl,
		       int32_t version)
{
	TC_SYNC(c, (struct ternc_result **)NULL, NULL,
		ternc_set_acl(c, path, acl, version, wait_cb, w_));
}

int ternc_children_sync(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg,
			struct ternc_result **out)
{
	TC_SYNC(c, out, NULL, ternc_children(c, path, wfn, warg, wait_cb, w_));
}

int ternc_children_count_sync(struct ternc *c, const char *path, int32_t *count)
{
	struct ternc_result *r = NULL;
	int rc;
	{
		struct tc_wait *w = wait_new(c, true, &rc);
		if (!w)
			return rc;
		rc = wait_end(c, w, ternc_children_count(c, path, wait_cb, w), &r, NULL);
	}
	if (r && count)
		*count = r->number;
	ternc_result_free(r);
	return rc;
}

int ternc_sync_sync(struct ternc *c, const char *path)
{
	TC_SYNC(c, (struct ternc_result **)NULL, NULL, ternc_sync(c, path, wait_cb, w_));
}

int ternc_multi_sync(struct ternc *c, const struct zk_op *ops, uint32_t n,
		     struct ternc_result **out)
{
	TC_SYNC(c, out, NULL, ternc_multi(c, ops, n, wait_cb, w_));
}

int ternc_add_watch_sync(struct ternc *c, const char *path, bool recursive, ternc_watch_fn wfn,
			 void *warg)
{
	TC_SYNC(c, (struct ternc_result **)NULL, NULL,
		ternc_add_watch(c, path, recursive, wfn, warg, wait_cb, w_));
}

int ternc_remove_watches_sync(struct ternc *c, const char *path, int type)
{
	TC_SYNC(c, (struct ternc_result **)NULL, NULL,
		ternc_remove_watches(c, path, type, wait_cb, w_));
}

int ternc_add_auth_sync(struct ternc *c, const char *scheme, const void *cred, int32_t len)
{
	TC_SYNC(c, (struct ternc_result **)NULL, NULL,
		ternc_add_auth(c, scheme, cred, len, wait_cb, w_));
}

int ternc_reconfig_sync(struct ternc *c, const char *joining, const char *leaving,
			const char *new_members, int64_t from_config, struct ternc_result **out)
{
	TC_SYNC(c, out, NULL,
		ternc_reconfig(c, joining, leaving, new_members, from_config, wait_cb, w_));
}

int ternc_whoami_sync(struct ternc *c, struct ternc_result **out)
{
	TC_SYNC(c, out, NULL, ternc_whoami(c, wait_cb, w_));
}

int ternc_open_sync(struct ternc_loop *loop, const struct ternc_cfg *cfg, int timeout_ms,
		    struct ternc **out)
{
	struct ternc *c = NULL;
	int rc = ternc_open(loop, cfg, &c);
	if (rc < 0)
		return rc == -ENOMEM ? ZK_ESYSTEM : ZK_EBADARGUMENTS;
	if (tc_in_callback(c)) {
		ternc_close(c);
		return ZK_EAPI;
	}
	int64_t end = mono_ms() + (timeout_ms >= 0 ? timeout_ms : tc_wait_bound_ms(c));
	for (;;) {
		int st = ternc_state(c);
		int64_t left = end - mono_ms();
		if (st == TERNC_CONNECTED || st == TERNC_EXPIRED || st == TERNC_AUTH_FAILED ||
		    left <= 0)
			break;
		if (ternc_loop_run(loop, (int)(left < 50 ? left : 50)) < 0)
			break;
	}
	if (ternc_state(c) == TERNC_CONNECTED) {
		*out = c;
		return ZK_OK;
	}
	rc = ternc_state(c) == TERNC_EXPIRED ? ZK_ESESSIONEXPIRED : ZK_EOPERATIONTIMEOUT;
	ternc_close(c);
	return rc;
}

/* ---- ACL text ---- */

static int parse_perms(const char *s, size_t n, int32_t *perms)
{
	*perms = 0;
	for (size_t i = 0; i < n; i++) {
		const char *k = strchr("rwcda", s[i]);
		if (!k || !s[i])
			return ZK_EBADARGUMENTS;
		static const int32_t bit[] = {ZK_PERM_READ, ZK_PERM_WRITE, ZK_PERM_CREATE,
					      ZK_PERM_DELETE, ZK_PERM_ADMIN};
		*perms |= bit[k - "rwcda"];
	}
	return n > 0 ? ZK_OK : ZK_EBADARGUMENTS;
}

int ternc_acl_parse(const char *text, struct zk_acl_list *out)
{
	if (!text || !out || !*text)
		return ZK_EBADARGUMENTS;
	size_t n = 1, tl = strlen(text);
	for (const char *p = text; *p; p++)
		n += *p == ',';
	/* one block: the array, then a copy of the text cut into strings */
	struct zk_acl *v = calloc(1, n * sizeof(*v) + tl + 1);
	if (!v)
		return ZK_ESYSTEM;
	char *buf = memcpy((char *)(v + n), text, tl + 1);
	size_t i = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *c1 = strchr(tok, ':'), *c2 = strrchr(tok, ':');
		if (!c1 || c1 == c2 || c1 == tok)
			goto fail;
		*c1 = *c2 = '\0';
		if (parse_perms(c2 + 1, strlen(c2 + 1), &v[i].perms) != ZK_OK)
			goto fail;
		v[i].id.scheme = tok;
		v[i].id.id = c1 + 1;
		i++;
	}
	if (i == 0)
		goto fail;
	out->count = (int32_t)i;
	out->v = v;
	return ZK_OK;
fail:
	free(v);
	return ZK_EBADARGUMENTS;
}

void ternc_acl_free(struct zk_acl_list *acl)
{
	if (!acl)
		return;
	free((void *)acl->v);
	acl->v = NULL;
	acl->count = 0;
}

const char *ternc_perms_str(int32_t perms, char buf[6])
{
	size_t n = 0;
	static const char ch[] = "cdrwa";
	static const int32_t bit[] = {ZK_PERM_CREATE, ZK_PERM_DELETE, ZK_PERM_READ, ZK_PERM_WRITE,
				      ZK_PERM_ADMIN};
	for (size_t i = 0; i < 5; i++)
		if (perms & bit[i])
			buf[n++] = ch[i];
	buf[n] = '\0';
	return buf;
}

int ternc_digest_id(const char *user_pass, char *buf, size_t cap)
{
	if (!user_pass || !buf)
		return ZK_EBADARGUMENTS;
	return store_digest_id(user_pass, buf, cap) < 0 ? ZK_EBADARGUMENTS : ZK_OK;
}

/* ---- names ---- */

const char *ternc_strerror(int err)
{
	switch (err) {
	case ZK_OK:
		return "OK";
	case ZK_ESYSTEM:
		return "SystemError";
	case ZK_ERUNTIMEINCONSISTENCY:
		return "RuntimeInconsistency";
	case ZK_EDATAINCONSISTENCY:
		return "DataInconsistency";
	case ZK_ECONNECTIONLOSS:
		return "ConnectionLoss";
	case ZK_EMARSHALLING:
		return "MarshallingError";
	case ZK_EUNIMPLEMENTED:
		return "Unimplemented";
	case ZK_EOPERATIONTIMEOUT:
		return "OperationTimeout";
	case ZK_EBADARGUMENTS:
		return "BadArguments";
	case ZK_EUNKNOWNSESSION:
		return "UnknownSession";
	case ZK_ENEWCONFIGNOQUORUM:
		return "NewConfigNoQuorum";
	case ZK_ERECONFIGINPROGRESS:
		return "ReconfigInProgress";
	case ZK_EAPI:
		return "APIError";
	case ZK_ENONODE:
		return "NoNode";
	case ZK_ENOAUTH:
		return "NoAuth";
	case ZK_EBADVERSION:
		return "BadVersion";
	case ZK_ENOCHILDRENFOREPHEMERALS:
		return "NoChildrenForEphemerals";
	case ZK_ENODEEXISTS:
		return "NodeExists";
	case ZK_ENOTEMPTY:
		return "NotEmpty";
	case ZK_ESESSIONEXPIRED:
		return "SessionExpired";
	case ZK_EINVALIDCALLBACK:
		return "InvalidCallback";
	case ZK_EINVALIDACL:
		return "InvalidACL";
	case ZK_EAUTHFAILED:
		return "AuthFailed";
	case ZK_ESESSIONMOVED:
		return "SessionMoved";
	case ZK_ENOTREADONLY:
		return "NotReadOnly";
	case ZK_EEPHEMERALONLOCALSESSION:
		return "EphemeralOnLocalSession";
	case ZK_ENOWATCHER:
		return "NoWatcher";
	case ZK_EREQUESTTIMEOUT:
		return "RequestTimeout";
	case ZK_ERECONFIGDISABLED:
		return "ReconfigDisabled";
	case ZK_ESESSIONCLOSEDREQUIRESASLAUTH:
		return "SessionClosedRequireSaslAuth";
	case ZK_EQUOTAEXCEEDED:
		return "QuotaExceeded";
	case ZK_ETHROTTLEDOP:
		return "ThrottledOp";
	default:
		return "Unknown";
	}
}

const char *ternc_state_name(int state)
{
	switch (state) {
	case TERNC_CONNECTING:
		return "CONNECTING";
	case TERNC_CONNECTED:
		return "CONNECTED";
	case TERNC_DISCONNECTED:
		return "DISCONNECTED";
	case TERNC_EXPIRED:
		return "EXPIRED";
	case TERNC_AUTH_FAILED:
		return "AUTH_FAILED";
	case TERNC_CLOSED:
		return "CLOSED";
	default:
		return "UNKNOWN";
	}
}

const char *ternc_event_name(int type)
{
	switch (type) {
	case ZK_EVENT_NONE:
		return "None";
	case ZK_EVENT_CREATED:
		return "NodeCreated";
	case ZK_EVENT_DELETED:
		return "NodeDeleted";
	case ZK_EVENT_DATA_CHANGED:
		return "NodeDataChanged";
	case ZK_EVENT_CHILDREN_CHANGED:
		return "NodeChildrenChanged";
	default:
		return "Unknown";
	}
}
