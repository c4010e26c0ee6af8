/* dataplane/dp_sasl.c: the server side of SASL DIGEST-MD5 (RFC 2831), as
 * ZooKeeper's DigestLoginModule offers it, against the JAAS users the config
 * names (user_<name>="<password>" in the Server section).
 *
 * Exchange (each token travels in a sasl request, op 102, normal xid):
 *   client: empty token
 *   server: realm="zk-sasl-md5",nonce="<random>",qop="auth",charset=utf-8,
 *           algorithm=md5-sess
 *   client: username="u",realm="r",nonce="n",cnonce="c",nc=00000001,qop=auth,
 *           digest-uri="zookeeper/zk-sasl-md5",response=<32 hex>[,authzid="z"]
 *   server: rspauth=<32 hex>       the connection now holds id sasl:<authzid|u>
 * The digests (qop=auth):
 *   A1 = MD5(u:r:password) ":" n ":" c [":" z]      A2 = "AUTHENTICATE:" uri
 *   response = HEX(MD5(HEX(MD5(A1)) ":" n ":" nc ":" c ":" qop ":" HEX(MD5(A2))))
 *   rspauth  = the same with A2 = ":" uri
 * Anything else (a GSSAPI/Kerberos token, an unknown user, a wrong digest, a
 * stale nonce, a third step) fails: the caller answers AuthFailed and closes.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "dataplane/dp_int.h"

#define SASL_REALM "zk-sasl-md5"
#define SASL_FIELD_MAX 256

struct digest_rsp {
	char username[SASL_FIELD_MAX], realm[SASL_FIELD_MAX], nonce[SASL_FIELD_MAX];
	char cnonce[SASL_FIELD_MAX], nc[16], qop[32], uri[SASL_FIELD_MAX];
	char response[40], authzid[SASL_FIELD_MAX];
};

static void md5_hex(const void *p, size_t n, char out[33])
{
	uint8_t d[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(p, n, d, &len, EVP_md5(), NULL);
	TN_ASSERT(len == 16);
	for (unsigned i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The field of @r named @key, and its capacity; NULL for keys we ignore. */
static char *field(struct digest_rsp *r, const char *key, size_t klen, size_t *cap)
{
	static const struct { const char *k; size_t off, cap; } tab[] = {
		{ "username", offsetof(struct digest_rsp, username), SASL_FIELD_MAX },
		{ "realm", offsetof(struct digest_rsp, realm), SASL_FIELD_MAX },
		{ "nonce", offsetof(struct digest_rsp, nonce), SASL_FIELD_MAX },
		{ "cnonce", offsetof(struct digest_rsp, cnonce), SASL_FIELD_MAX },
		{ "nc", offsetof(struct digest_rsp, nc), 16 },
		{ "qop", offsetof(struct digest_rsp, qop), 32 },
		{ "digest-uri", offsetof(struct digest_rsp, uri), SASL_FIELD_MAX },
		{ "response", offsetof(struct digest_rsp, response), 40 },
		{ "authzid", offsetof(struct digest_rsp, authzid), SASL_FIELD_MAX },
	};
	for (size_t i = 0; i < TN_ARRAY_LEN(tab); i++) {
		if (strlen(tab[i].k) == klen && !strncmp(tab[i].k, key, klen)) {
			*cap = tab[i].cap;
			return (char *)r + tab[i].off;
		}
	}
	return NULL;
}

/* Parse k=v pairs, values quoted ("..." with \ escapes) or bare. Return 0, -EBADMSG. */
static int parse_rsp(const uint8_t *p, size_t n, struct digest_rsp *r)
{
	size_t i = 0;

	memset(r, 0, sizeof *r);
	while (i < n) {
		while (i < n && (p[i] == ',' || p[i] == ' ' || p[i] == '\t'))
			i++;
		size_t k0 = i;
		while (i < n && p[i] != '=')
			i++;
		if (i >= n || i == k0)
			return i == k0 && i >= n ? 0 : -EBADMSG;
		size_t klen = i - k0, cap = 0, len = 0;
		char *dst = field(r, (const char *)p + k0, klen, &cap), tmp;
		bool quoted = ++i < n && p[i] == '"';
		if (quoted)
			i++;
		while (i < n && (quoted ? p[i] != '"' : p[i] != ',')) {
			if (quoted && p[i] == '\\' && i + 1 < n)
				i++;
			tmp = (char)p[i++];
			if (tmp == '\0')
				return -EBADMSG;
			if (dst) {
				if (len + 1 >= cap)
					return -EBADMSG;
				dst[len++] = tmp;
			}
		}
		if (quoted) {
			if (i >= n)
				return -EBADMSG; /* unterminated quote */
			i++;
		}
	}
	return 0;
}

static void digest(const char *ha1, const struct digest_rsp *r, const char *a2, char out[33])
{
	char ha2[33], buf[4 * SASL_FIELD_MAX];
	int n;

	md5_hex(a2, strlen(a2), ha2);
	n = snprintf(buf, sizeof buf, "%s:%s:%s:%s:%s:%s", ha1, r->nonce, r->nc, r->cnonce,
		     r->qop, ha2);
	md5_hex(buf, (size_t)TN_MIN(n, (int)sizeof buf - 1), out);
}

/* HEX(MD5(A1)) of RFC 2831 for @r and @password. */
static void ha1_of(const struct digest_rsp *r, const char *password, char out[33])
{
	uint8_t a1[16 + 3 * SASL_FIELD_MAX + 4];
	char up[3 * SASL_FIELD_MAX + 4];
	unsigned int len = 0;
	int n;

	n = snprintf(up, sizeof up, "%s:%s:%s", r->username, r->realm, password);
	EVP_Digest(up, (size_t)TN_MIN(n, (int)sizeof up - 1), a1, &len, EVP_md5(), NULL);
	n = snprintf((char *)a1 + 16, sizeof a1 - 16, ":%s:%s%s%s", r->nonce, r->cnonce,
		     r->authzid[0] ? ":" : "", r->authzid);
	md5_hex(a1, 16 + (size_t)TN_MIN(n, (int)(sizeof a1 - 17)), out);
}

static int sasl_challenge(struct dp_conn *c, char *out, size_t cap)
{
	uint8_t rnd[16];

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return -EIO;
	for (unsigned i = 0; i < sizeof rnd; i++)
		snprintf(c->sasl_nonce + 2 * i, 3, "%02x", rnd[i]);
	c->sasl_step = 1;
	return snprintf(out, cap,
			"realm=\"" SASL_REALM "\",nonce=\"%s\",qop=\"auth\",charset=utf-8,"
			"algorithm=md5-sess", c->sasl_nonce);
}

/* The second step: check the client's digest. Fills @user on success. */
static int sasl_verify(struct dp_conn *c, const uint8_t *tok, size_t len, char *out, size_t cap,
		       char *user, size_t user_cap)
{
	const struct dp_cfg *cfg = &c->w->dp->cfg;
	struct digest_rsp r;
	const char *pw;
	char ha1[33], want[33], a2[SASL_FIELD_MAX + 16];

	if (parse_rsp(tok, len, &r) < 0 || !r.username[0] || !r.response[0])
		return -EBADMSG;
	if (strcmp(r.nonce, c->sasl_nonce) != 0 || (r.qop[0] && strcmp(r.qop, "auth") != 0) ||
	    strncmp(r.uri, "zookeeper/", 10) != 0)
		return -EPROTO;
	if (!r.qop[0])
		snprintf(r.qop, sizeof r.qop, "auth");
	pw = cfg->sasl_password ? cfg->sasl_password(cfg->sasl_arg, r.username) : NULL;
	if (!pw)
		return -ENOENT;
	ha1_of(&r, pw, ha1);
	snprintf(a2, sizeof a2, "AUTHENTICATE:%s", r.uri);
	digest(ha1, &r, a2, want);
	if (strcasecmp(want, r.response) != 0)
		return -EACCES;
	snprintf(a2, sizeof a2, ":%s", r.uri);
	digest(ha1, &r, a2, want);
	snprintf(user, user_cap, "%s", r.authzid[0] ? r.authzid : r.username);
	c->sasl_step = 2;
	return snprintf(out, cap, "rspauth=%s", want);
}

int dp_sasl_step(struct dp_conn *c, const uint8_t *tok, int32_t len, char *out, size_t cap,
		 char *user, size_t user_cap)
{
	int rc;

	user[0] = '\0';
	if (c->sasl_step == 0 && len <= 0)
		return sasl_challenge(c, out, cap);
	if (c->sasl_step == 1 && len > 0) {
		rc = sasl_verify(c, tok, (size_t)len, out, cap, user, user_cap);
		if (rc < 0)
			TN_INFO("dp", "%s: SASL DIGEST-MD5 failed: %s", c->ip,
				rc == -ENOENT ? "unknown user" : rc == -EACCES ? "wrong password"
								: "malformed or unsupported response");
		return rc;
	}
	TN_INFO("dp", "%s: SASL token at step %d refused (only DIGEST-MD5 is supported; "
		"GSSAPI/Kerberos is not)", c->ip, c->sasl_step);
	return -EPROTO;
}
