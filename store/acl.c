/* store/acl.c: ZooKeeper ACL checks, fixupACL and digest ids.
 *
 * A node's ACL is a list of (perms, scheme:id). A caller holds a set of ids
 * (struct store_auth): "ip:<addr>" for its connection, "digest:user:hash" for
 * each digest auth, and the super flag for the super digest. The check rule
 * (ZooKeeperServer.checkACL): skip_acl, an empty list or super allow all;
 * otherwise some entry with the wanted perm bit must match a caller id of the
 * same scheme, or be world:anyone. Matching is per provider: digest, sasl and
 * x509 compare strings; ip compares an address against an address or CIDR
 * (IPv4 and IPv6, as IPAuthenticationProvider). Unknown schemes never match.
 *
 * fixupACL (PrepRequestProcessor) runs on create and setACL: duplicates go
 * (first one wins, order kept), an empty list is InvalidACL, world must be
 * "anyone", "auth" expands to every authenticated (non-ip) id of the caller
 * and is InvalidACL when there is none, digest ids must be "user:hash" and
 * ip ids a valid address or CIDR. Anything else is InvalidACL.
 *
 * The digest id is "user:" + base64(SHA1("user:password")), computed with
 * OpenSSL's libcrypto.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/tn_assert.h"
#include "store/store.h"
#include "store/store_int.h"

#define ACL_ADDR_MAX 16 /* IPv6 address bytes */

/* Parse an IPv4 or IPv6 address into @out; return its length (4, 16) or 0. */
static size_t addr_parse(const char *s, size_t len, uint8_t out[ACL_ADDR_MAX])
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof buf)
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, buf, out) == 1)
		return 16;
	return 0;
}

/* Parse "addr" or "addr/bits" into @addr, *@alen and *@bits. Return 0 or -EINVAL. */
static int cidr_parse(const char *expr, uint8_t addr[ACL_ADDR_MAX], size_t *alen, int *bits)
{
	const char *slash = strchr(expr, '/');
	size_t len = slash ? (size_t)(slash - expr) : strlen(expr);

	*alen = addr_parse(expr, len, addr);
	if (*alen == 0)
		return -EINVAL;
	*bits = (int)(*alen * 8);
	if (slash) {
		const char *p = slash + 1;
		long v = 0;
		if (*p == '\0')
			return -EINVAL;
		for (; *p; p++) {
			if (*p < '0' || *p > '9' || v > 1000)
				return -EINVAL;
			v = v * 10 + (*p - '0');
		}
		if (v > (long)(*alen * 8))
			return -EINVAL;
		*bits = (int)v;
	}
	return 0;
}

static void addr_mask(uint8_t *a, size_t alen, int bits)
{
	for (size_t i = 0; i < alen; i++) {
		int keep = bits - (int)(i * 8);
		if (keep >= 8)
			continue;
		a[i] &= keep <= 0 ? 0 : (uint8_t)(0xffu << (8 - keep));
	}
}

/* IPAuthenticationProvider.matches: the caller's address @id against @expr. */
static bool ip_matches(const char *id, const char *expr)
{
	uint8_t want[ACL_ADDR_MAX], have[ACL_ADDR_MAX];
	size_t wlen, hlen;
	int bits;

	if (cidr_parse(expr, want, &wlen, &bits) < 0)
		return false;
	hlen = addr_parse(id, strlen(id), have);
	if (hlen != wlen)
		return false;
	addr_mask(want, wlen, bits);
	addr_mask(have, hlen, bits);
	return memcmp(want, have, wlen) == 0;
}

/* DigestAuthenticationProvider.isValid: id.split(":") has exactly two parts
 * (Java drops trailing empty strings, so "user:" is invalid). */
static bool digest_valid(const char *id)
{
	const char *c = strchr(id, ':');
	return c && !strchr(c + 1, ':') && c[1] != '\0';
}

static bool id_matches(const struct zk_id *acl_id, const struct zk_id *caller)
{
	if (strcmp(acl_id->scheme, caller->scheme) != 0)
		return false;
	if (strcmp(acl_id->scheme, "ip") == 0)
		return ip_matches(caller->id, acl_id->id);
	if (strcmp(acl_id->scheme, "digest") == 0 || strcmp(acl_id->scheme, "sasl") == 0 ||
	    strcmp(acl_id->scheme, "x509") == 0)
		return strcmp(acl_id->id, caller->id) == 0;
	return false; /* no provider for the scheme */
}

static bool is_anyone(const struct zk_id *id)
{
	return strcmp(id->scheme, "world") == 0 && strcmp(id->id, "anyone") == 0;
}

static bool auth_is_super(const struct store_auth *auth)
{
	if (!auth)
		return false;
	if (auth->super)
		return true;
	for (uint32_t i = 0; i < auth->count; i++)
		if (strcmp(auth->ids[i].scheme, "super") == 0)
			return true;
	return false;
}

bool store_acl_allows(const struct store *s, const struct zk_acl_list *acl, int32_t perm,
		      const struct store_auth *auth)
{
	TN_ASSERT(perm != 0);
	TN_ASSERT(!auth || auth->count <= STORE_AUTH_MAX);
	if (s && store_cfg_of(s)->skip_acl)
		return true;
	if (!acl || acl->count <= 0)
		return true;
	if (auth_is_super(auth))
		return true;
	for (int32_t i = 0; i < acl->count; i++) {
		const struct zk_acl *e = &acl->v[i];
		if ((e->perms & perm) == 0)
			continue;
		if (is_anyone(&e->id))
			return true;
		for (uint32_t j = 0; auth && j < auth->count; j++)
			if (id_matches(&e->id, &auth->ids[j]))
				return true;
	}
	return false;
}

/* Providers whose ids count as "authenticated" for the auth scheme. */
static bool scheme_authenticated(const char *scheme)
{
	return strcmp(scheme, "digest") == 0 || strcmp(scheme, "sasl") == 0 ||
	       strcmp(scheme, "x509") == 0;
}

/* Provider isValid for an explicit (non-auth) entry. */
static bool id_valid(const struct zk_id *id)
{
	uint8_t a[ACL_ADDR_MAX];
	size_t alen;
	int bits;

	if (is_anyone(id))
		return true;
	if (strcmp(id->scheme, "digest") == 0)
		return digest_valid(id->id);
	if (strcmp(id->scheme, "ip") == 0)
		return cidr_parse(id->id, a, &alen, &bits) == 0;
	if (strcmp(id->scheme, "sasl") == 0 || strcmp(id->scheme, "x509") == 0)
		return id->id[0] != '\0';
	return false; /* world:<other>, super, unknown: no provider accepts it */
}

static bool acl_equal(const struct zk_acl *a, const struct zk_acl *b)
{
	return a->perms == b->perms && strcmp(a->id.scheme, b->id.scheme) == 0 &&
	       strcmp(a->id.id, b->id.id) == 0;
}

static uint64_t fnv1a(uint64_t h, const char *p)
{
	for (; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return (h ^ 0xffu) * 0x100000001b3ull; /* a separator, so "ab","c" != "a","bc" */
}

static uint64_t acl_hash(const struct zk_acl *e)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint32_t)e->perms;
	return fnv1a(fnv1a(h, e->id.scheme), e->id.id);
}

/* Dedup set: open addressing over entry indexes (+1; 0 = empty), so long
 * lists cost O(n) rather than O(n^2). */
struct dedup {
	uint32_t *slot;
	size_t mask;
};

static int dedup_init(struct dedup *d, int32_t count, struct tn_arena *a)
{
	size_t n = 8;
	while (n < (size_t)count * 2)
		n <<= 1;
	d->slot = tn_arena_alloc(a, n * sizeof(*d->slot));
	if (!d->slot)
		return -EMSGSIZE;
	memset(d->slot, 0, n * sizeof(*d->slot));
	d->mask = n - 1;
	return 0;
}

/* Return true if an equal entry was seen before; else remember @i. */
static bool dedup_seen(struct dedup *d, const struct zk_acl *v, int32_t i)
{
	size_t k = (size_t)acl_hash(&v[i]) & d->mask;
	for (size_t probes = 0; probes <= d->mask; probes++, k = (k + 1) & d->mask) {
		if (d->slot[k] == 0) {
			d->slot[k] = (uint32_t)i + 1;
			return false;
		}
		if (acl_equal(&v[d->slot[k] - 1], &v[i]))
			return true;
	}
	TN_ASSERT(0 && "dedup table sized at 2x entries cannot fill");
	return true;
}

/* Append @perms:@id to @out (strings copied into @a). */
static int fixup_push(struct zk_acl *out, int32_t *n, size_t cap, int32_t perms,
		      const struct zk_id *id, struct tn_arena *a)
{
	TN_ASSERT((size_t)*n < cap);
	out[*n].perms = perms;
	out[*n].id.scheme = tn_arena_strndup(a, id->scheme, strlen(id->scheme));
	out[*n].id.id = tn_arena_strndup(a, id->id, strlen(id->id));
	if (!out[*n].id.scheme || !out[*n].id.id)
		return -EMSGSIZE;
	(*n)++;
	return 0;
}

/* Expand one "auth" entry with @perms; ZK_EINVALIDACL if no id qualifies. */
static int fixup_auth(struct zk_acl *out, int32_t *n, size_t cap, int32_t perms,
		      const struct store_auth *auth, struct tn_arena *a)
{
	bool any = false;
	int rc;

	for (uint32_t j = 0; auth && j < auth->count; j++) {
		if (!scheme_authenticated(auth->ids[j].scheme))
			continue;
		if ((rc = fixup_push(out, n, cap, perms, &auth->ids[j], a)) < 0)
			return rc;
		any = true;
	}
	return any ? ZK_OK : ZK_EINVALIDACL;
}

int store_acl_fixup(const struct zk_acl_list *in, const struct store_auth *auth,
		    struct tn_arena *a, struct zk_acl_list *out)
{
	struct dedup d;
	struct zk_acl *v;
	int32_t n = 0;
	size_t cap;
	int rc;

	size_t authed = 0;

	TN_ASSERT(!auth || auth->count <= STORE_AUTH_MAX);
	if (!in || in->count <= 0)
		return ZK_EINVALIDACL;
	for (uint32_t j = 0; auth && j < auth->count; j++)
		authed += scheme_authenticated(auth->ids[j].scheme);
	/* Each entry adds one id, or one per authenticated id when it is "auth". */
	cap = 0;
	for (int32_t i = 0; i < in->count; i++) {
		if (!in->v[i].id.scheme || !in->v[i].id.id)
			return ZK_EINVALIDACL;
		cap += strcmp(in->v[i].id.scheme, "auth") == 0 ? authed : 1;
	}
	if (cap > INT32_MAX)
		return -EMSGSIZE;
	if (cap == 0)
		return ZK_EINVALIDACL; /* only "auth" entries and no authenticated id */
	v = tn_arena_alloc(a, sizeof(*v) * cap);
	if (!v || (rc = dedup_init(&d, in->count, a)) < 0)
		return -EMSGSIZE;
	for (int32_t i = 0; i < in->count; i++) {
		const struct zk_acl *e = &in->v[i];
		if (dedup_seen(&d, in->v, i))
			continue;
		if (strcmp(e->id.scheme, "auth") == 0)
			rc = fixup_auth(v, &n, cap, e->perms, auth, a);
		else if (id_valid(&e->id))
			rc = fixup_push(v, &n, cap, e->perms, &e->id, a);
		else
			rc = ZK_EINVALIDACL;
		if (rc != 0)
			return rc;
	}
	TN_ASSERT(n > 0 && (size_t)n <= cap);
	out->count = n;
	out->v = v;
	return ZK_OK;
}

int store_digest_id(const char *user_password, char *out, size_t cap)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	const char *colon = strchr(user_password, ':');
	size_t ulen, need;
	int b64;

	if (!colon)
		return -EINVAL;
	ulen = (size_t)(colon - user_password);
	/* base64 of 20 bytes is 28 chars; plus "user:" and the NUL. */
	need = ulen + 1 + 28 + 1;
	if (cap < need)
		return -ENOSPC;
	SHA1((const unsigned char *)user_password, strlen(user_password), md);
	memcpy(out, user_password, ulen + 1);
	b64 = EVP_EncodeBlock((unsigned char *)out + ulen + 1, md, SHA_DIGEST_LENGTH);
	TN_ASSERT(b64 == 28);
	TN_ASSERT(strlen(out) == need - 1);
	return (int)(need - 1);
}
