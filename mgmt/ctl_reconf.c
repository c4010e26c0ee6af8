/* mgmt/ctl_reconf.c: dynamic reconfiguration (ZooKeeper's reconfig op) on
 * the control thread.
 *
 * As in ZooKeeper, a reconfig is a setData txn of /zookeeper/config whose
 * data is the new config ("server.N=..." lines sorted by id, then
 * "version=<hex zxid of that txn>"). The leader checks the request
 * (reconfigEnabled, super or skipACL, curConfigId, one at a time, a quorum of
 * the new voters synced with it), builds the txn without store_prep and hands
 * it to zab_propose_config (joint quorum until applied). Every server, when it
 * applies a setData of /zookeeper/config, parses the data and makes it the
 * membership: zab_set_config, peer links opened/closed, and the committed
 * config written durably to dataDir/zoo.cfg.dynamic, which a restart starts
 * from. Recovery applies the whole log, so a later config in the recovered
 * /zookeeper/config may be uncommitted: it is applied once the commit point
 * this server hears reaches it (ctl_reconf_check). With no reconfig ever committed
 * /zookeeper/config shows the static config, versioned epoch << 32 of the
 * first epoch served, as ZooKeeper does.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/tn_err.h"
#include "common/tn_fs.h"
#include "common/tn_log.h"
#include "mgmt/ctl_int.h"

#define RECONF_PATH "/zookeeper/config"
#define RECONF_TEXT_MAX (ZAB_MEMBERS_MAX * (2u * CFG_HOST_MAX + 96u) + 64u)

struct ctl_reconf {
	struct cfg_server sv[ZAB_MEMBERS_MAX]; /* the committed config */
	unsigned n;
	uint64_t version;                      /* zxid of the txn that made it; 0: static */
	/* recovery applies the whole log: a config txn above the committed one
	 * may not be committed; it is applied once zab_known_committed reaches it */
	tn_zxid pend_zxid;                     /* 0: none */
};

#define RECONF_FILE "zoo.cfg.dynamic"          /* in dataDir: the last committed config */

void ctl_reconf_check(struct ctl *c);

static int cmp_id(const void *a, const void *b)
{
	const struct cfg_server *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The /zookeeper/config text of @sv (sorted here) at @version. */
static int config_text(struct cfg_server *sv, unsigned n, uint64_t version, char *out, size_t cap)
{
	size_t len = 0;
	char spec[2 * CFG_HOST_MAX + 64];
	int k;

	qsort(sv, n, sizeof *sv, cmp_id);
	for (unsigned i = 0; i < n; i++) {
		if (cfg_server_str(&sv[i], spec, sizeof spec) < 0)
			return -ENOSPC;
		k = snprintf(out + len, cap - len, "server.%" PRIu64 "=%s\n", sv[i].id, spec);
		if (k < 0 || (size_t)k >= cap - len)
			return -ENOSPC;
		len += (size_t)k;
	}
	k = snprintf(out + len, cap - len, "version=%" PRIx64, version);
	if (k < 0 || (size_t)k >= cap - len)
		return -ENOSPC;
	return (int)(len + (size_t)k);
}

static void to_members(const struct cfg_server *sv, unsigned n, struct zab_member *m)
{
	for (unsigned i = 0; i < n; i++)
		m[i] = (struct zab_member){ (uint32_t)sv[i].id, sv[i].type == CFG_PEER_OBSERVER };
}

static const struct cfg_server *find(const struct cfg_server *sv, unsigned n, uint64_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (sv[i].id == id)
			return &sv[i];
	return NULL;
}

/* dataDir/zoo.cfg.dynamic, if a reconfig ever committed here. */
static int read_committed(struct ctl *c, struct ctl_reconf *r, char *err)
{
	char path[CFG_PATH_MAX + 32], *buf;
	FILE *f;
	size_t len;
	int rc;

	snprintf(path, sizeof path, "%s/%s", c->cc.cfg->data_dir, RECONF_FILE);
	if (!(f = fopen(path, "re")))
		return -errno;
	buf = malloc(RECONF_TEXT_MAX);
	len = buf ? fread(buf, 1, RECONF_TEXT_MAX, f) : 0;
	fclose(f);
	if (!buf)
		return -ENOMEM;
	rc = cfg_parse_dynamic(buf, len, r->sv, ZAB_MEMBERS_MAX, &r->n, &r->version, err);
	if (rc < 0)
		TN_ERROR("ctl", "%s: %s", path, err);
	free(buf);
	return rc;
}

int ctl_reconf_init(struct ctl *c, struct zab_cfg *zc)
{
	const struct cfg *cfg = c->cc.cfg;
	struct ctl_reconf *r = calloc(1, sizeof *r);
	struct store_node_view v;
	char err[CFG_ERR_MAX];
	char *text = NULL;
	int rc = 0;

	if (!r)
		return -ENOMEM;
	c->reconf = r;
	store_reader_register(); /* before the control thread runs: a short read here */
	if (store_get(c->s, RECONF_PATH, &v) == ZK_OK && v.stat.mzxid != 0)
		r->pend_zxid = (tn_zxid)v.stat.mzxid;
	store_reader_unregister();
	if (read_committed(c, r, err) == 0) {
		TN_INFO("ctl", "config version %" PRIx64 " (%u servers) from %s/%s", r->version, r->n,
			cfg->data_dir, RECONF_FILE);
		if (r->pend_zxid <= r->version)
			r->pend_zxid = 0;
	} else {
		if (cfg->server_count > ZAB_MEMBERS_MAX)
			return -EINVAL;
		memcpy(r->sv, cfg->servers, cfg->server_count * sizeof r->sv[0]);
		r->n = cfg->server_count;
		r->version = 0;
	}
	/* the node shows the committed config unless the log has a later one */
	if (!r->pend_zxid) {
		if (!(text = malloc(RECONF_TEXT_MAX)))
			return -ENOMEM;
		rc = config_text(r->sv, r->n, r->version, text, RECONF_TEXT_MAX);
		if (rc >= 0)
			rc = store_config_init(c->s, text, rc, r->version, 0);
		free(text);
		if (rc < 0)
			return rc;
	}
	to_members(r->sv, r->n, zc->members);
	zc->member_count = r->n;
	if (!find(r->sv, r->n, cfg->server_id)) {
		/* removed by a reconfig: stay up, silent (zab_set_config does the same) */
		if (zc->member_count == ZAB_MEMBERS_MAX)
			return -ENOSPC;
		zc->members[zc->member_count++] = (struct zab_member){ (uint32_t)cfg->server_id, true };
	}
	return 0;
}

/* Peer links follow the committed config (zoo.cfg may be older). */
static void sync_peers(struct ctl *c)
{
	const struct cfg *cfg = c->cc.cfg;
	struct ctl_reconf *r = c->reconf;

	for (unsigned i = 0; i < r->n; i++)
		if (r->sv[i].id != cfg->server_id && peer_net_member_add(c->pn, &r->sv[i]) < 0)
			TN_WARN("ctl", "cannot open links to server %" PRIu64, r->sv[i].id);
	for (unsigned i = 0; i < cfg->server_count; i++)
		if (!find(r->sv, r->n, cfg->servers[i].id))
			peer_net_member_remove(c->pn, (uint32_t)cfg->servers[i].id);
}

void ctl_reconf_peers(struct ctl *c)
{
	struct ctl_reconf *r = c->reconf;
	struct store_node_view v;
	char *text;
	int len;

	if (r && r->pend_zxid) {
		/* the recovered log holds a later config txn, maybe uncommitted:
		 * should we lead before it commits, the joint rule holds for it */
		store_reader_register();
		if (store_get(c->s, RECONF_PATH, &v) == ZK_OK && v.data_len > 0) {
			struct cfg_server *sv = calloc(ZAB_MEMBERS_MAX, sizeof *sv);
			struct zab_member m[ZAB_MEMBERS_MAX];
			char err[CFG_ERR_MAX];
			unsigned n = 0;
			uint64_t ver;
			if (sv && cfg_parse_dynamic((const char *)v.data, (size_t)v.data_len, sv,
						    ZAB_MEMBERS_MAX, &n, &ver, err) == 0) {
				to_members(sv, n, m);
				zab_note_config(c->zab, r->pend_zxid, m, n);
			}
			free(sv);
		}
		store_reader_unregister();
	}
	if (!r || !r->version)
		return;
	sync_peers(c);
	/* the committed config we start from rides in our votes */
	if ((text = malloc(RECONF_TEXT_MAX)) != NULL &&
	    (len = config_text(r->sv, r->n, r->version, text, RECONF_TEXT_MAX)) >= 0)
		zab_config_blob(c->zab, r->version, text, (size_t)len);
	free(text);
}

void ctl_reconf_adopt(struct ctl *c, tn_zxid version, const uint8_t *data, size_t len,
		      uint32_t from)
{
	struct ctl_reconf *r = c->reconf;
	struct txn t = { 0 };

	if (!r || version <= r->version || version <= r->pend_zxid)
		return;   /* ours is as new (or a newer one waits for its commit) */
	TN_INFO("ctl", "server %u votes under config %" PRIx64 ", ours is %" PRIx64 ": adopting it",
		from, version, r->version);
	t.hdr.type = t.type = ZK_OP_SETDATA;
	t.hdr.zxid = version;
	t.path = RECONF_PATH;
	t.data = data;
	t.data_len = (int32_t)len;
	ctl_reconf_applied(c, &t);
}

void ctl_reconf_free(struct ctl *c)
{
	free(c->reconf);
	c->reconf = NULL;
}

/* dataDir/zoo.cfg.dynamic: the committed config, durably, before the next
 * txn applies (docs/FORMATS.md). */
static void write_dynamic_file(struct ctl *c, const char *text, size_t len)
{
	char path[CFG_PATH_MAX + 32], tmp[CFG_PATH_MAX + 40];
	int fd;
	bool ok;

	snprintf(path, sizeof path, "%s/%s", c->cc.cfg->data_dir, RECONF_FILE);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		TN_WARN("ctl", "%s: %s", tmp, strerror(errno));
		return;
	}
	ok = write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) < 0 || tn_fsync_dir(c->cc.cfg->data_dir) < 0) {
		TN_ERROR("ctl", "cannot write %s", path);
		unlink(tmp);
	}
}

void ctl_reconf_applied(struct ctl *c, const struct txn *t)
{
	struct ctl_reconf *r = c->reconf;
	struct cfg_server *sv;
	struct zab_member m[ZAB_MEMBERS_MAX];
	char err[CFG_ERR_MAX];
	unsigned n = 0;
	uint64_t version = 0;
	int rc;

	if (r && r->pend_zxid && c->zab)
		ctl_reconf_check(c);
	if (!r || !c->zab || t->hdr.type != ZK_OP_SETDATA || !t->path ||
	    strcmp(t->path, RECONF_PATH) != 0 || t->data_len <= 0)
		return;
	r->pend_zxid = 0;
	if (!(sv = calloc(ZAB_MEMBERS_MAX, sizeof *sv)))
		goto nomem;
	if (cfg_parse_dynamic((const char *)t->data, (size_t)t->data_len, sv, ZAB_MEMBERS_MAX, &n,
			      &version, err) < 0) {
		TN_WARN("ctl", "%s at 0x%" PRIx64 " is no config (%s): membership unchanged",
			RECONF_PATH, t->hdr.zxid, err);
		free(sv);
		return;
	}
	memcpy(r->sv, sv, n * sizeof *sv);
	r->n = n;
	r->version = version;
	free(sv);
	to_members(r->sv, r->n, m);
	TN_INFO("ctl", "config version %" PRIx64 " committed: %u servers", version, n);
	sync_peers(c);
	if ((rc = zab_set_config(c->zab, m, n, dp_now_ms())) < 0)
		TN_ERROR("ctl", "cannot apply config %" PRIx64 ": %s", version, tn_strerror(rc));
	/* our votes carry it from now on */
	else if ((rc = zab_config_blob(c->zab, version, t->data, (size_t)t->data_len)) < 0)
		TN_WARN("ctl", "config %" PRIx64 " not carried in votes: %s", version,
			tn_strerror(rc));
	write_dynamic_file(c, (const char *)t->data, (size_t)t->data_len);
	return;
nomem:
	TN_ERROR("ctl", "out of memory applying config 0x%" PRIx64, t->hdr.zxid);
	atomic_store(&c->failed, true);
}

/* Serving on zoo.cfg's static config (version 0): as ZooKeeper, give it the
 * version of the epoch it first serves in (epoch << 32, the same on every
 * server of that epoch), show it and keep it in dataDir. */
static void activate_static(struct ctl *c, struct ctl_reconf *r)
{
	struct zab_info zi;
	char *text = malloc(RECONF_TEXT_MAX);
	int len;

	if (!text)
		return;
	zab_info(c->zab, &zi);
	r->version = (tn_zxid)zi.current_epoch << 32;
	len = config_text(r->sv, r->n, r->version, text, RECONF_TEXT_MAX);
	if (len >= 0 && store_config_init(c->s, text, len, r->version,
					  (int64_t)c->cc.env->now_ms(c->cc.env)) == 0) {
		write_dynamic_file(c, text, (size_t)len);
		zab_config_blob(c->zab, r->version, text, (size_t)len);   /* votes carry it */
	}
	free(text);
}

void ctl_reconf_check(struct ctl *c)
{
	struct ctl_reconf *r = c->reconf;
	struct store_node_view v;
	struct txn t = { 0 };

	if (r && c->zab && !r->version && !r->pend_zxid && atomic_load(&c->serving))
		activate_static(c, r);
	if (!r || !r->pend_zxid || !c->zab || zab_known_committed(c->zab) < r->pend_zxid)
		return;
	TN_INFO("ctl", "recovered config txn 0x%" PRIx64 " is committed", r->pend_zxid);
	r->pend_zxid = 0;
	if (store_get(c->s, RECONF_PATH, &v) != ZK_OK || v.data_len <= 0)
		return;
	t.hdr.type = t.type = ZK_OP_SETDATA;
	t.hdr.zxid = (tn_zxid)v.stat.mzxid;
	t.path = RECONF_PATH;
	t.data = v.data;
	t.data_len = v.data_len;
	ctl_reconf_applied(c, &t);
}

/* Split @s at ',' and newlines into server specs for cfg_parse_dynamic. */
static int add_joining(const char *s, struct cfg_server *sv, unsigned *n, char *err)
{
	size_t len = strlen(s);
	char *text = malloc(len + 1);
	struct cfg_server *add = calloc(ZAB_MEMBERS_MAX, sizeof *add);
	unsigned k = 0;
	uint64_t v;
	int rc = -ENOMEM;

	if (!text || !add)
		goto out;
	for (size_t i = 0; i <= len; i++)
		text[i] = s[i] == ',' ? '\n' : s[i];
	rc = cfg_parse_dynamic(text, len, add, ZAB_MEMBERS_MAX, &k, &v, err);
	for (unsigned i = 0; rc == 0 && i < k; i++) {
		struct cfg_server *old = (struct cfg_server *)find(sv, *n, add[i].id);
		if (old) {
			*old = add[i]; /* an existing id: its new address or role */
		} else if (*n == ZAB_MEMBERS_MAX) {
			rc = -ENOSPC;
		} else {
			sv[(*n)++] = add[i];
		}
	}
out:
	free(text);
	free(add);
	return rc;
}

static int remove_leaving(const char *s, struct cfg_server *sv, unsigned *n)
{
	while (*s) {
		char *end;
		unsigned long long id;
		while (*s == ',' || *s == ' ')
			s++;
		if (!*s)
			break;
		id = strtoull(s, &end, 10);
		if (end == s)
			return -EINVAL;
		s = end;
		for (unsigned i = 0; i < *n; i++)
			if (sv[i].id == id) {
				sv[i] = sv[--*n];
				break;
			}
	}
	return 0;
}

static bool same_config(const struct cfg_server *a, unsigned na, const struct cfg_server *b,
			unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++) {
		const struct cfg_server *o = find(b, nb, a[i].id);
		if (!o || o->type != a[i].type || strcmp(o->host, a[i].host) != 0 ||
		    o->quorum_port != a[i].quorum_port || o->election_port != a[i].election_port ||
		    o->client_port != a[i].client_port)
			return false;
	}
	return true;
}

/* Decide the new config for @rq: a zk error, or ZK_OK with it in @sv/@n. */
static int32_t new_config(struct ctl *c, const struct zkp_request *rq, const struct store_auth *au,
			  struct cfg_server *sv, unsigned *n)
{
	struct ctl_reconf *r = c->reconf;
	struct zab_member m[ZAB_MEMBERS_MAX];
	char err[CFG_ERR_MAX];
	const char *nm = rq->reconfig.new_members;
	unsigned voters = 0;
	int rc;

	/* ZooKeeper's order: the ACL of /zookeeper/config is checked last */
	if (!c->cc.cfg->reconfig_enabled)
		return ZK_ERECONFIGDISABLED;
	if (zab_config_pending(c->zab))
		return ZK_ERECONFIGINPROGRESS;
	if (nm && *nm) {
		*n = 0;
		rc = add_joining(nm, sv, n, err);
	} else {
		memcpy(sv, r->sv, r->n * sizeof *sv);
		*n = r->n;
		rc = rq->reconfig.leaving ? remove_leaving(rq->reconfig.leaving, sv, n) : 0;
		if (rc == 0 && rq->reconfig.joining && *rq->reconfig.joining)
			rc = add_joining(rq->reconfig.joining, sv, n, err);
	}
	if (rc < 0) {
		TN_INFO("ctl", "reconfig refused: %s", rc == -EINVAL ? err : tn_strerror(rc));
		return ZK_EBADARGUMENTS;
	}
	if (rq->reconfig.cur_config_id != -1 && (uint64_t)rq->reconfig.cur_config_id != r->version)
		return ZK_EBADVERSION;
	for (unsigned i = 0; i < *n; i++)
		voters += sv[i].type != CFG_PEER_OBSERVER;
	if (*n == 0 || voters == 0 || same_config(sv, *n, r->sv, r->n))
		return ZK_EBADARGUMENTS;
	to_members(sv, *n, m);
	if (zab_synced_voters(c->zab, m, *n) < voters / 2 + 1)
		return ZK_ENEWCONFIGNOQUORUM;
	if (!c->cc.cfg->skip_acl && !(au && au->super))
		return ZK_ENOAUTH; /* /zookeeper/config is read-only to all but the superuser */
	return ZK_OK;
}

void ctl_reconf_submit(struct ctl *c, struct pend *p, const struct zkp_request *rq,
		       const struct store_auth *au)
{
	struct cfg_server *sv = calloc(ZAB_MEMBERS_MAX, sizeof *sv);
	struct zab_member m[ZAB_MEMBERS_MAX];
	struct store_node_view v;
	struct txn *t = &p->txn;
	unsigned n = 0;
	int32_t zerr;
	int rc;

	memset(t, 0, sizeof *t);
	t->hdr.session = p->session;
	t->hdr.cxid = rq->xid;
	t->hdr.time_ms = (int64_t)c->cc.env->now_ms(c->cc.env);
	t->hdr.zxid = zab_next_zxid(c->zab);
	if (!sv || !t->hdr.zxid) {
		rc = sv ? -EAGAIN : -ENOMEM;
		goto fail;
	}
	zerr = new_config(c, rq, au, sv, &n);
	if (zerr == ZK_OK) {
		free(p->arena2);
		if (!(p->arena2 = malloc(RECONF_TEXT_MAX))) {
			rc = -ENOMEM;
			goto fail;
		}
		rc = config_text(sv, n, t->hdr.zxid, (char *)p->arena2, RECONF_TEXT_MAX);
		if (rc < 0 || store_get(c->s, RECONF_PATH, &v) != ZK_OK) {
			rc = rc < 0 ? rc : -ENOENT;
			goto fail;
		}
		t->hdr.type = t->type = ZK_OP_SETDATA;
		t->path = RECONF_PATH;
		t->data = p->arena2;
		t->data_len = rc;
		t->version = -1; /* ZooKeeper's config node keeps version -1 */
	} else {
		t->hdr.type = t->type = ZK_OP_ERROR;
		t->err = zerr;
	}
	rc = (int)txn_encoded_len(t);
	if ((size_t)rc > c->enc_cap) {
		uint8_t *e = realloc(c->enc, (size_t)rc);
		if (!e) {
			rc = -ENOMEM;
			goto fail;
		}
		c->enc = e;
		c->enc_cap = (size_t)rc;
	}
	rc = txn_encode(t, c->enc, c->enc_cap);
	if (rc >= 0 && zerr == ZK_OK) {
		to_members(sv, n, m);
		rc = zab_propose_config(c->zab, t->hdr.zxid, c->enc, (size_t)rc, m, n);
		if (rc == 0)
			TN_INFO("ctl", "reconfig proposed at 0x%" PRIx64 ": %u servers", t->hdr.zxid, n);
	} else if (rc >= 0) {
		rc = zab_propose(c->zab, t->hdr.zxid, c->enc, (size_t)rc);
	}
	if (rc < 0)
		goto fail;
	free(sv);
	p->zxid = t->hdr.zxid;
	c->next_zxid = p->zxid;
	if (p->foreign) {
		ctl_pend_free(p); /* its learner answers the client */
		return;
	}
	ctl_pend_push(c, p);
	return;
fail:
	free(sv);
	TN_WARN("ctl", "reconfig: %s", tn_strerror(rc));
	ctl_fail_client(c, p);
	ctl_pend_free(p);
}

void ctl_reconf_logged(struct ctl *c, tn_zxid zxid, const uint8_t *data, size_t len)
{
	struct cfg_server *sv;
	struct zab_member m[ZAB_MEMBERS_MAX];
	struct txn t;
	struct tn_arena a;
	uint8_t *mem;
	char err[CFG_ERR_MAX];
	unsigned n = 0;
	uint64_t version;
	size_t cap = ZKP_ARENA_FOR(len);

	/* cheap filter first: only a txn naming the node can be one; one no
	 * newer than the config in force binds nothing */
	if (!c->zab || !c->reconf || zxid <= c->reconf->version ||
	    !memmem(data, len, RECONF_PATH, sizeof(RECONF_PATH) - 1))
		return;
	mem = malloc(cap);
	sv = calloc(ZAB_MEMBERS_MAX, sizeof *sv);
	if (!mem || !sv)
		goto out;
	a = tn_arena_init(mem, cap);
	if (txn_decode(data, len, &t, &a) < 0 || t.hdr.type != ZK_OP_SETDATA || !t.path ||
	    strcmp(t.path, RECONF_PATH) != 0 || t.data_len <= 0 ||
	    cfg_parse_dynamic((const char *)t.data, (size_t)t.data_len, sv, ZAB_MEMBERS_MAX, &n,
			      &version, err) < 0)
		goto out;
	to_members(sv, n, m);
	if (zab_note_config(c->zab, zxid, m, n) == 0)
		TN_DEBUG("ctl", "config txn 0x%" PRIx64 " logged (%u servers)", zxid, n);
out:
	free(mem);
	free(sv);
}
