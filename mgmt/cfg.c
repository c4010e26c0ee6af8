/* mgmt/cfg.c: zoo.cfg + Java -D properties -> struct cfg (design in cfg.h).
 *
 * Order of work in cfg_parse_buffer():
 *   1. cfg_defaults();
 *   2. -D flags (SERVER_JVMFLAGS words, then JVMFLAGS words) into the property table;
 *   3. zoo.cfg logical lines (java.util.Properties rules) -> apply_key(): a
 *      QuorumPeerConfig key sets its field at once (errors name the line); any
 *      other key becomes a property ("zookeeper." + key unless it already is a
 *      well-known property name);
 *   4. finish(): read well-known properties, derive defaults that depend on
 *      tickTime, check cross-key rules, read the JAAS file and dataDir/myid.
 *
 * java.util.Properties line rules as implemented here:
 *   | leading " \t\f" skipped; blank lines skipped                            |
 *   | '#' or '!' as first non-blank char: comment (no continuation)          |
 *   | odd number of trailing '\' joins the next line (its leading blanks go) |
 *   | key ends at the first unescaped '=', ':' or blank; then blanks, at most |
 *   | one '=' or ':', blanks; the rest is the value                           |
 *   | escapes: \t \n \r \f \uXXXX (to UTF-8), \x = x                          |
 * The value is then trimmed of chars <= ' ' (QuorumPeerConfig does trim()).
 */
#include "mgmt/cfg.h"

#include <ctype.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"

#define CFG_WORDS_MAX 4096 /* -D flag words per env var */

struct pctx {
	struct cfg *c;
	char *err;
	unsigned line; /* current zoo.cfg line */
	const char *key;
	int min_line, max_line; /* lines of min/maxSessionTimeout, for messages */
	int32_t min_to, max_to; /* -1 = unset */
};

static const char *const src_names[] = { "", "SERVER_JVMFLAGS", "JVMFLAGS", "-D" };

static int fail(struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int load_dynamic_file(struct pctx *p, const char *zoo_path);
static void errf(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Messages are cut at CFG_ERR_MAX on purpose (a long path must not hide the
 * line and key; they come first), hence vsnprintf, which gcc does not
 * check for truncation. */
static void errf(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, CFG_ERR_MAX, fmt, ap);
	va_end(ap);
}

/* Fill p->err with "file:line: key: message" and return -EINVAL. */
static int fail(struct pctx *p, const char *fmt, ...)
{
	char msg[CFG_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->line && p->key)
		errf(p->err, "%s:%u: %s: %s", p->c->path, p->line, p->key, msg);
	else if (p->line)
		errf(p->err, "%s:%u: %s", p->c->path, p->line, msg);
	else
		errf(p->err, "%s: %s%s%s", p->c->path, p->key ? p->key : "",
			 p->key ? ": " : "", msg);
	return -EINVAL;
}

/* Error about property @pr, naming its origin. */
static int fail_prop(struct pctx *p, const struct cfg_prop *pr, const char *msg)
{
	if (pr->src == CFG_SRC_FILE)
		errf(p->err, "%s:%u: %s: %s", p->c->path, pr->line, pr->key, msg);
	else
		errf(p->err, "%s: -D%s: %s", src_names[pr->src], pr->key, msg);
	return -EINVAL;
}

static int copy_str(struct pctx *p, char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);
	if (n >= cap)
		return fail(p, "value is longer than %zu bytes", cap - 1);
	memcpy(dst, v, n + 1);
	return 0;
}

/* Decimal (or, with @base 0, java Integer.decode style) unsigned in [lo, hi]. */
static int parse_u64(const char *v, int base, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	const char *s = v;
	if (*s == '+')
		s++;
	if (!isdigit((unsigned char)*s) && !(base == 0 && *s == '#'))
		return -EINVAL;
	errno = 0;
	unsigned long long x = *s == '#' ? strtoull(s + 1, &end, 16) : strtoull(s, &end, base);
	if (errno || *end || end == s)
		return -EINVAL;
	if (x < lo || x > hi)
		return -ERANGE;
	*out = x;
	return 0;
}

static int num_key(struct pctx *p, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	int rc = parse_u64(v, 10, lo, hi, out);
	if (rc == -EINVAL)
		return fail(p, "'%s' is not a number", v);
	if (rc == -ERANGE)
		return fail(p, "%s is out of range [%llu, %llu]", v, (unsigned long long)lo,
			    (unsigned long long)hi);
	return 0;
}

/* java-ish "true"/"false" (case-insensitive); also yes/no for forceSync. */
static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "true") || !strcasecmp(v, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(v, "false") || !strcasecmp(v, "no")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int bool_key(struct pctx *p, const char *v, bool *out)
{
	if (parse_bool(v, out) < 0)
		return fail(p, "'%s' is not true or false", v);
	return 0;
}

/* ---- the property table ---- */

static struct cfg_prop *prop_find(const struct cfg *c, const char *key)
{
	for (unsigned i = 0; i < c->prop_count; i++)
		if (!strcmp(c->props[i].key, key))
			return &c->props[i];
	return NULL;
}

const char *cfg_prop(const struct cfg *c, const char *key)
{
	const struct cfg_prop *pr = prop_find(c, key);
	return pr ? pr->val : NULL;
}

/* Set @key=@val (a later setting replaces an earlier one, as in java). */
static int prop_set(struct pctx *p, const char *key, const char *val, enum cfg_src src,
		    unsigned line)
{
	struct cfg *c = p->c;
	struct cfg_prop *pr = prop_find(c, key);
	char *v = strdup(val);
	if (!v)
		return -ENOMEM;
	if (!pr) {
		if (c->prop_count == CFG_PROPS_MAX) {
			free(v);
			errf(p->err, "%s: more than %u properties", c->path,
				 CFG_PROPS_MAX);
			return -E2BIG;
		}
		if (c->prop_count == c->prop_cap) {
			unsigned n = TN_MIN(c->prop_cap ? c->prop_cap * 2 : 16, CFG_PROPS_MAX);
			struct cfg_prop *np = realloc(c->props, n * sizeof *np);
			if (!np) {
				free(v);
				return -ENOMEM;
			}
			c->props = np;
			c->prop_cap = n;
		}
		pr = &c->props[c->prop_count];
		if (!(pr->key = strdup(key))) {
			free(v);
			return -ENOMEM;
		}
		c->prop_count++;
	} else {
		free(pr->val);
	}
	pr->val = v;
	pr->src = src;
	pr->line = line;
	TN_ASSERT(c->prop_count <= CFG_PROPS_MAX);
	return 0;
}

/* ---- java.util.Properties reader ---- */

struct lines {
	const char *p, *end;
	unsigned line; /* physical line of p */
};

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\f';
}

/* Copy the next logical line (continuations joined, escapes kept) into @out
 * (capacity >= the whole input + 1). Return 1 and its first line number in
 * *@first, or 0 at the end. */
static int next_line(struct lines *l, char *out, unsigned *first)
{
	size_t n = 0;
	bool joining = false;
	while (l->p < l->end) {
		const char *s = l->p;
		while (s < l->end && is_blank(*s))
			s++;
		const char *e = s;
		while (e < l->end && *e != '\n' && *e != '\r')
			e++;
		unsigned this_line = l->line;
		/* step over \n, \r or \r\n */
		l->p = e;
		if (l->p < l->end && *l->p == '\r')
			l->p++;
		if (l->p < l->end && *l->p == '\n' && (l->p == e || l->p[-1] == '\r'))
			l->p++;
		l->line++;
		if (!joining && (s == e || *s == '#' || *s == '!'))
			continue; /* blank or comment */
		if (!joining)
			*first = this_line;
		size_t bs = 0;
		for (const char *q = e; q > s && q[-1] == '\\'; q--)
			bs++;
		TN_ASSERT(s <= e && e <= l->end);
		memcpy(out + n, s, (size_t)(e - s));
		n += (size_t)(e - s);
		if (bs % 2 == 1) {
			n--; /* drop the joining backslash */
			joining = true;
			continue;
		}
		out[n] = '\0';
		return 1;
	}
	if (joining) { /* a continuation at end of input: java keeps what it has */
		out[n] = '\0';
		return 1;
	}
	return 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Append code point @u as UTF-8. */
static size_t put_utf8(char *o, unsigned u)
{
	if (u < 0x80) {
		o[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		o[0] = (char)(0xc0 | (u >> 6));
		o[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | (u >> 12));
	o[1] = (char)(0x80 | ((u >> 6) & 0x3f));
	o[2] = (char)(0x80 | (u & 0x3f));
	return 3;
}

/* Unescape @s[0..n) into @o (needs n+1 bytes: \uXXXX is 6 chars, <= 3 out).
 * Return 0 or -EINVAL for a malformed \uXXXX (java throws there too). */
static int unescape(const char *s, size_t n, char *o)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch != '\\' || i + 1 == n) {
			o[j++] = ch;
			continue;
		}
		ch = s[++i];
		if (ch == 'u') {
			unsigned u = 0;
			for (int k = 0; k < 4; k++) {
				int h = i + 1 < n ? hexval(s[i + 1]) : -1;
				if (h < 0)
					return -EINVAL;
				u = u << 4 | (unsigned)h;
				i++;
			}
			j += put_utf8(o + j, u);
			continue;
		}
		o[j++] = ch == 't' ? '\t' : ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch == 'f' ? '\f' : ch;
	}
	o[j] = '\0';
	return 0;
}

/* Split logical line @s into unescaped @key and @val (each cap >= strlen(s)+1),
 * and trim the value. Return 0 or -EINVAL. */
static int split_kv(const char *s, char *key, char *val)
{
	size_t n = strlen(s), k = 0;
	while (k < n && s[k] != '=' && s[k] != ':' && !is_blank(s[k]))
		k += s[k] == '\\' && k + 1 < n ? 2 : 1;
	if (k > n)
		k = n;
	size_t v = k;
	while (v < n && is_blank(s[v]))
		v++;
	if (v < n && (s[v] == '=' || s[v] == ':')) {
		v++;
		while (v < n && is_blank(s[v]))
			v++;
	}
	TN_ASSERT(k <= v && v <= n);
	if (unescape(s, k, key) < 0 || unescape(s + v, n - v, val) < 0)
		return -EINVAL;
	size_t vl = strlen(val);
	while (vl > 0 && (unsigned char)val[vl - 1] <= ' ')
		val[--vl] = '\0';
	size_t lead = 0;
	while (lead < vl && (unsigned char)val[lead] <= ' ')
		lead++;
	memmove(val, val + lead, vl - lead + 1);
	return 0;
}

/* ---- server.N ---- */

/* Parse "host:port" or "[v6]:port" prefix of @s into @host; return the rest
 * after the host's ':' or NULL. */
static const char *take_host(const char *s, char *host)
{
	const char *e;
	if (*s == '[') {
		e = strchr(s, ']');
		if (!e || e[1] != ':' || (size_t)(e - s) - 1 >= CFG_HOST_MAX || e == s + 1)
			return NULL;
		memcpy(host, s + 1, (size_t)(e - s) - 1);
		host[e - s - 1] = '\0';
		return e + 2;
	}
	e = strchr(s, ':');
	if (!e || e == s || (size_t)(e - s) >= CFG_HOST_MAX)
		return NULL;
	memcpy(host, s, (size_t)(e - s));
	host[e - s] = '\0';
	return e + 1;
}

static int port_of(const char *s, size_t n, uint16_t *out)
{
	char tmp[8];
	uint64_t v;
	if (n == 0 || n >= sizeof tmp)
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (parse_u64(tmp, 10, 1, 65535, &v) < 0)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* One address "host:qport:eport[:type]" (@n bytes) into @sv. */
static int parse_addr(struct pctx *p, const char *s, size_t n, struct cfg_server *sv)
{
	char buf[CFG_HOST_MAX + 64];
	if (n >= sizeof buf)
		return fail(p, "server address is too long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	const char *r = take_host(buf, sv->host);
	if (!r)
		return fail(p, "'%s' is not host:quorumPort:electionPort", buf);
	const char *c1 = strchr(r, ':');
	if (!c1 || port_of(r, (size_t)(c1 - r), &sv->quorum_port) < 0)
		return fail(p, "'%s': bad or missing quorum port", buf);
	const char *c2 = strchr(c1 + 1, ':');
	size_t elen = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
	if (port_of(c1 + 1, elen, &sv->election_port) < 0)
		return fail(p, "'%s': bad or missing election port", buf);
	if (c2) {
		if (!strcasecmp(c2 + 1, "participant"))
			sv->type = CFG_PEER_PARTICIPANT;
		else if (!strcasecmp(c2 + 1, "observer"))
			sv->type = CFG_PEER_OBSERVER;
		else
			return fail(p, "'%s': role must be participant or observer", c2 + 1);
	}
	return 0;
}

/* Client part "[clientHost:]clientPort". */
static int parse_client(struct pctx *p, const char *s, struct cfg_server *sv)
{
	uint16_t port;
	const char *colon = strrchr(s, ':');
	strcpy(sv->client_host, "0.0.0.0");
	if (colon) {
		char host[CFG_HOST_MAX];
		const char *rest = take_host(s, host);
		if (!rest || rest != colon + 1)
			return fail(p, "'%s' is not [clientHost:]clientPort", s);
		strcpy(sv->client_host, host);
		s = colon + 1;
	}
	if (port_of(s, strlen(s), &port) < 0)
		return fail(p, "'%s' is not a client port", s);
	sv->client_port = port;
	return 0;
}

static int server_line(struct pctx *p, const char *idtxt, const char *v)
{
	struct cfg *c = p->c;
	uint64_t id;
	if (parse_u64(idtxt, 10, 0, CFG_ID_MAX, &id) < 0)
		return fail(p, "server id '%s' is not a number", idtxt);
	for (unsigned i = 0; i < c->server_count; i++)
		if (c->servers[i].id == id)
			return fail(p, "duplicate server id %llu (first on line %u)",
				    (unsigned long long)id, c->servers[i].line);
	if (c->server_count == CFG_SERVERS_MAX)
		return fail(p, "more than %u servers", CFG_SERVERS_MAX);
	struct cfg_server sv = { .id = id, .client_port = -1, .line = p->line, .addr_count = 0 };
	const char *semi = strchr(v, ';');
	size_t alen = semi ? (size_t)(semi - v) : strlen(v);
	const char *a = v;
	int rc;
	while (a < v + alen) { /* '|'-separated addresses: check all, keep the first */
		const char *bar = memchr(a, '|', (size_t)(v + alen - a));
		size_t n = bar ? (size_t)(bar - a) : (size_t)(v + alen - a);
		struct cfg_server tmp = sv;
		if ((rc = parse_addr(p, a, n, sv.addr_count ? &tmp : &sv)) < 0)
			return rc;
		sv.addr_count++;
		a += n + (bar ? 1 : 0);
	}
	if (sv.addr_count == 0)
		return fail(p, "no address");
	if (semi && (rc = parse_client(p, semi + 1, &sv)) < 0)
		return rc;
	TN_ASSERT(sv.addr_count >= 1 && c->server_count < CFG_SERVERS_MAX);
	c->servers[c->server_count++] = sv;
	return 0;
}

/* ---- zoo.cfg keys that QuorumPeerConfig parses itself ---- */

struct num_key_def {
	const char *name;
	size_t off;
	uint64_t lo, hi;
};

#define NK(n, f, lo, hi) { n, offsetof(struct cfg, f), lo, hi }
static const struct num_key_def num_keys[] = {
	NK("tickTime", tick_ms, 1, INT32_MAX),
	NK("initLimit", init_limit, 1, INT32_MAX),
	NK("syncLimit", sync_limit, 1, INT32_MAX),
	NK("maxClientCnxns", max_client_cnxns, 0, INT32_MAX),
	NK("autopurge.snapRetainCount", snap_retain_count, 0, INT32_MAX),
	NK("autopurge.purgeInterval", purge_interval_h, 0, INT32_MAX),
	NK("electionAlg", election_alg, 0, INT32_MAX),
};
#undef NK

/* Keys QuorumPeerConfig consumes that tern records as properties, unprefixed. */
static const char *const recorded_keys[] = {
	"localSessionsUpgradingEnabled", "secureClientPortAddress", "observerMasterPort",
	"connectToLearnerMasterLimit", "quorumListenOnAllIPs", "syncEnabled", "dynamicConfigFile",
	"sslQuorum", "portUnification", "sslQuorumReloadCertFiles", "client.portUnification",
	"quorum.cnxn.threads.size", "multiAddress.enabled", "multiAddress.reachabilityCheckEnabled",
	"multiAddress.reachabilityCheckTimeoutMs", "quorum.auth.enableSasl",
	"quorum.auth.learnerRequireSasl", "quorum.auth.serverRequireSasl",
	"quorum.auth.learner.saslLoginContext", "quorum.auth.server.saslLoginContext",
	"quorum.auth.kerberos.servicePrincipal",
};

/* Properties tern reads or records; a zoo.cfg key mapping elsewhere warns. */
static const char *const known_props[] = {
	"zookeeper.snapCount", "zookeeper.preAllocSize", "zookeeper.globalOutstandingLimit",
	"zookeeper.forceSync", "zookeeper.extendedTypesEnabled", "zookeeper.skipACL",
	"zookeeper.maxCnxns", "zookeeper.sessionRequireClientSASLAuth",
	"zookeeper.4lw.commands.whitelist", "zookeeper.admin.enableServer",
	"zookeeper.admin.serverPort", "zookeeper.admin.serverAddress",
	"zookeeper.admin.commandURL", "zookeeper.DigestAuthenticationProvider.superDigest",
	"zookeeper.snapSizeLimitInKb", "zookeeper.fsync.warningthresholdms",
	"zookeeper.sasl.serverconfig", "zookeeper.digest.enabled", "zookeeper.enforceQuota",
	"zookeeper.commitLogCount", "zookeeper.snapshotSizeFactor", "zookeeper.cnxTimeout",
	"readonlymode.enabled", "jute.maxbuffer", "java.security.auth.login.config",
	"znode.container.checkIntervalMs", "znode.container.maxPerMinute",
	"znode.container.maxNeverUsedIntervalMs", "tern.workers", "tern.polling",
	"tern.dataplane", "tern.log.level", "tern.udp.port", "tern.observer.master",
	"tern.peer.compress",                 /* mgmt/peer.c: zstd[:level] | none | auto */
	"tern.peer.transport", "tern.peer.mtu", /* mgmt/peer_udp.c: tcp | udp; payload bytes */
	"tern.dpdk.eal", "tern.dpdk.port", "tern.dpdk.ip", "tern.dpdk.netmask",
	"tern.dpdk.gateway", "tern.dpdk.mbufs",
	"tern.dpdk.exception", "tern.dpdk.tap", /* dataplane/dp_exc.h: tap | none; tap name */
};

static bool in_list(const char *const *list, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], key))
			return true;
	return false;
}

static bool has_prefix(const char *s, const char *pre)
{
	return !strncmp(s, pre, strlen(pre));
}

/* A name that is a system property already (tern stores it unprefixed). */
static bool is_prop_name(const char *key)
{
	return has_prefix(key, "zookeeper.") || has_prefix(key, "znode.container.") ||
	       has_prefix(key, "tern.") || !strcmp(key, "readonlymode.enabled") ||
	       !strcmp(key, "jute.maxbuffer") || !strcmp(key, "java.security.auth.login.config");
}

static int apply_num(struct pctx *p, const char *key, const char *v, bool *done)
{
	for (size_t i = 0; i < TN_ARRAY_LEN(num_keys); i++) {
		if (strcmp(num_keys[i].name, key))
			continue;
		uint64_t x;
		int rc = num_key(p, v, num_keys[i].lo, num_keys[i].hi, &x);
		if (rc < 0)
			return rc;
		*(uint32_t *)(void *)((char *)p->c + num_keys[i].off) = (uint32_t)x;
		*done = true;
		return 0;
	}
	return 0;
}

/* Session timeouts: -1 (ZooKeeper's "use the default") or a number. */
static int session_timeout(struct pctx *p, const char *v, int32_t *out, int *line)
{
	uint64_t x;
	if (!strcmp(v, "-1")) {
		*out = -1;
	} else {
		int rc = num_key(p, v, 0, INT32_MAX, &x);
		if (rc < 0)
			return rc;
		*out = (int32_t)x;
	}
	*line = (int)p->line;
	return 0;
}

static int client_port_key(struct pctx *p, const char *v, int32_t *out)
{
	uint64_t x;
	if (!strcmp(v, "-1")) { /* what the conf 4lw prints for "unset" */
		*out = -1;
		return 0;
	}
	int rc = num_key(p, v, 0, 65535, &x);
	if (rc < 0)
		return rc;
	*out = x ? (int32_t)x : -1; /* 0 means unset in QuorumPeerConfig */
	return 0;
}

static int apply_str_key(struct pctx *p, const char *key, const char *v, bool *done)
{
	struct cfg *c = p->c;
	*done = true;
	if (!strcmp(key, "dataDir"))
		return copy_str(p, c->data_dir, sizeof c->data_dir, v);
	if (!strcmp(key, "dataLogDir"))
		return copy_str(p, c->data_log_dir, sizeof c->data_log_dir, v);
	if (!strcmp(key, "clientPortAddress"))
		return copy_str(p, c->client_port_address, sizeof c->client_port_address, v);
	if (!strcmp(key, "clientPort"))
		return client_port_key(p, v, &c->client_port);
	if (!strcmp(key, "secureClientPort"))
		return client_port_key(p, v, &c->secure_client_port);
	if (!strcmp(key, "minSessionTimeout"))
		return session_timeout(p, v, &p->min_to, &p->min_line);
	if (!strcmp(key, "maxSessionTimeout"))
		return session_timeout(p, v, &p->max_to, &p->max_line);
	if (!strcmp(key, "standaloneEnabled"))
		return bool_key(p, v, &c->standalone_enabled);
	if (!strcmp(key, "reconfigEnabled"))
		return bool_key(p, v, &c->reconfig_enabled);
	if (!strcmp(key, "localSessionsEnabled"))
		return bool_key(p, v, &c->local_sessions_enabled);
	if (!strcmp(key, "clientPortListenBacklog")) {
		uint64_t x;
		if (!strcmp(v, "-1"))
			return 0;
		int rc = num_key(p, v, 0, INT32_MAX, &x);
		c->client_port_listen_backlog = rc < 0 ? -1 : (int32_t)x;
		return rc;
	}
	if (!strcmp(key, "peerType")) {
		if (!strcasecmp(v, "observer"))
			c->peer_type = CFG_PEER_OBSERVER;
		else if (!strcasecmp(v, "participant"))
			c->peer_type = CFG_PEER_PARTICIPANT;
		else
			return fail(p, "unrecognised peer type '%s'", v);
		return 0;
	}
	*done = false;
	return 0;
}

/* Apply one zoo.cfg line (@key already unescaped, @v trimmed). */
static int apply_key(struct pctx *p, const char *key, const char *v)
{
	bool done = false;
	int rc;
	p->key = key;
	if (!*key)
		return fail(p, "empty key");
	if ((rc = apply_num(p, key, v, &done)) < 0 || done)
		return rc;
	if ((rc = apply_str_key(p, key, v, &done)) < 0 || done)
		return rc;
	if (has_prefix(key, "server."))
		return server_line(p, key + 7, v);
	if (has_prefix(key, "group.") || has_prefix(key, "weight.") ||
	    has_prefix(key, "metricsProvider.") ||
	    in_list(recorded_keys, TN_ARRAY_LEN(recorded_keys), key))
		return prop_set(p, key, v, CFG_SRC_FILE, p->line);
	if (is_prop_name(key)) {
		if (!in_list(known_props, TN_ARRAY_LEN(known_props), key) &&
		    !has_prefix(key, "zookeeper.authProvider."))
			TN_WARN("cfg", "%s:%u: property %s is not used by tern", p->c->path, p->line,
				key);
		return prop_set(p, key, v, CFG_SRC_FILE, p->line);
	}
	/* ZooKeeper: any other key becomes the system property zookeeper.<key>. */
	char name[CFG_HOST_MAX + 16];
	if (strlen(key) >= CFG_HOST_MAX)
		return fail(p, "key is too long");
	snprintf(name, sizeof name, "zookeeper.%s", key);
	if (!in_list(known_props, TN_ARRAY_LEN(known_props), name) &&
	    !has_prefix(name, "zookeeper.authProvider."))
		TN_WARN("cfg", "%s:%u: unknown key %s (kept as property %s; tern does not use it)",
			p->c->path, p->line, key, name);
	return prop_set(p, name, v, CFG_SRC_FILE, p->line);
}

/* Read the zoo.cfg text @buf/@len line by line. */
static int parse_file_text(struct pctx *p, const char *buf, size_t len)
{
	struct lines l = { .p = buf, .end = buf + len, .line = 1 };
	TN_ASSERT(p->c && (buf || len == 0));
	char *ln = malloc(len + 1), *key = malloc(len + 1), *val = malloc(len + 1);
	unsigned first = 0;
	int rc = ln && key && val ? 0 : -ENOMEM;
	while (rc == 0 && next_line(&l, ln, &first) == 1) {
		p->line = first;
		p->key = NULL;
		if (split_kv(ln, key, val) < 0)
			rc = fail(p, "malformed \\uxxxx encoding");
		else
			rc = apply_key(p, key, val);
	}
	p->line = 0;
	p->key = NULL;
	free(ln);
	free(key);
	free(val);
	return rc;
}

/* ---- -D flags ---- */

int cfg_split_words(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	int words = 0;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
			char q = *s;
			if (q == '\'' || q == '"') {
				const char *e = s + 1;
				for (; *e && *e != q; e++) {
					if (q == '"' && *e == '\\' && e[1] && strchr("\"\\$`", e[1]))
						e++;
					if (n + 1 >= cap)
						return -E2BIG;
					out[n++] = *e;
				}
				if (!*e)
					return -EINVAL;
				s = e + 1;
				continue;
			}
			if (q == '\\' && s[1])
				s++;
			if (n + 1 >= cap)
				return -E2BIG;
			out[n++] = *s++;
		}
		if (n >= cap)
			return -E2BIG;
		out[n++] = '\0';
		words++;
	}
	return words;
}

/* Store each "-Dname[=value]" word of @words[0..n); other words (-Xmx...) are ignored. */
static int apply_dflags(struct pctx *p, const char *const *words, unsigned n, enum cfg_src src)
{
	for (unsigned i = 0; i < n; i++) {
		const char *w = words[i];
		if (strncmp(w, "-D", 2) || !w[2])
			continue;
		char key[CFG_HOST_MAX];
		const char *eq = strchr(w + 2, '=');
		size_t kl = eq ? (size_t)(eq - w - 2) : strlen(w + 2);
		if (kl == 0 || kl >= sizeof key) {
			errf(p->err, "%s: '%.64s': bad -D flag", src_names[src], w);
			return -EINVAL;
		}
		memcpy(key, w + 2, kl);
		key[kl] = '\0';
		int rc = prop_set(p, key, eq ? eq + 1 : "", src, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Split env var @name and apply its -D flags. */
static int apply_env(struct pctx *p, const char *name, enum cfg_src src)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return 0;
	size_t cap = strlen(s) + 1;
	char *buf = malloc(cap);
	const char **words = calloc(CFG_WORDS_MAX, sizeof *words);
	int rc = buf && words ? cfg_split_words(s, buf, cap) : -ENOMEM;
	if (rc == -EINVAL || rc == -E2BIG || rc > CFG_WORDS_MAX) {
		errf(p->err, "%s: %s", name, rc == -EINVAL ? "unterminated quote" : "too many words");
		rc = rc == -EINVAL ? -EINVAL : -E2BIG;
	}
	if (rc >= 0) {
		const char *w = buf;
		for (int i = 0; i < rc; i++, w += strlen(w) + 1)
			words[i] = w;
		rc = apply_dflags(p, words, (unsigned)rc, src);
	}
	free(words);
	free(buf);
	return rc;
}

/* ---- JAAS login configuration ----
 * Grammar (javax.security.auth.login.ConfigFile):
 *   file   := { NAME '{' { module } '}' ';' }
 *   module := CLASS FLAG { KEY '=' VALUE } ';'
 * Comments: // to end of line, and C-style. VALUE is a word or "quoted". Only
 * the section named by zookeeper.sasl.serverconfig ("Server") is kept, and of it
 * only the user_NAME="password" options (DigestLoginModule's user table). */

struct jtok {
	const char *p, *end;
	unsigned line;
	char text[CFG_PATH_MAX];
	char kind; /* 'w' word, 's' string, one of "{};=", or 0 at the end */
};

static void jaas_skip(struct jtok *t)
{
	while (t->p < t->end) {
		if (*t->p == '\n') {
			t->line++;
			t->p++;
		} else if (isspace((unsigned char)*t->p)) {
			t->p++;
		} else if (t->end - t->p >= 2 && t->p[0] == '/' && t->p[1] == '/') {
			while (t->p < t->end && *t->p != '\n')
				t->p++;
		} else if (t->end - t->p >= 2 && t->p[0] == '/' && t->p[1] == '*') {
			t->p += 2;
			while (t->p < t->end && !(t->end - t->p >= 2 && t->p[0] == '*' && t->p[1] == '/'))
				t->line += *t->p++ == '\n';
			t->p = t->end - t->p >= 2 ? t->p + 2 : t->end;
		} else {
			return;
		}
	}
}

/* Next token; return 0, or -EINVAL (unterminated string) / -E2BIG. */
static int jaas_next(struct jtok *t)
{
	size_t n = 0;
	jaas_skip(t);
	t->text[0] = '\0';
	if (t->p == t->end) {
		t->kind = 0;
		return 0;
	}
	if (strchr("{};=", *t->p)) {
		t->kind = *t->p++;
		return 0;
	}
	if (*t->p == '"') {
		for (t->p++; t->p < t->end && *t->p != '"'; t->p++) {
			if (*t->p == '\\' && t->end - t->p >= 2)
				t->p++;
			t->line += *t->p == '\n';
			if (n + 1 >= sizeof t->text)
				return -E2BIG;
			t->text[n++] = *t->p;
		}
		if (t->p == t->end)
			return -EINVAL;
		t->p++;
		t->kind = 's';
	} else {
		while (t->p < t->end && !isspace((unsigned char)*t->p) && !strchr("{};=\"", *t->p)) {
			if (n + 1 >= sizeof t->text)
				return -E2BIG;
			t->text[n++] = *t->p++;
		}
		t->kind = 'w';
	}
	t->text[n] = '\0';
	return 0;
}

static int jaas_fail(struct pctx *p, const struct jtok *t, const char *what)
{
	errf(p->err, "%s:%u: JAAS: %s", p->c->jaas_path, t->line, what);
	return -EINVAL;
}

static int jaas_add_user(struct pctx *p, const struct jtok *t, const char *name, const char *pw)
{
	struct cfg *c = p->c;
	for (unsigned i = 0; i < c->user_count; i++) {
		if (!strcmp(c->users[i].name, name)) { /* a later option wins */
			char *np = strdup(pw);
			if (!np)
				return -ENOMEM;
			free(c->users[i].password);
			c->users[i].password = np;
			return 0;
		}
	}
	if (c->user_count == CFG_USERS_MAX)
		return jaas_fail(p, t, "too many users");
	struct cfg_user *u = &c->users[c->user_count];
	u->name = strdup(name);
	u->password = strdup(pw);
	if (!u->name || !u->password) {
		free(u->name);
		free(u->password);
		return -ENOMEM;
	}
	c->user_count++;
	TN_ASSERT(c->user_count <= CFG_USERS_MAX);
	return 0;
}

/* Next token, which must be one of @kinds; else a JAAS error saying @what. */
static int jaas_expect(struct pctx *p, struct jtok *t, const char *kinds, const char *what)
{
	if (jaas_next(t) < 0)
		return jaas_fail(p, t, "unterminated string or token too long");
	if (!strchr(kinds, t->kind) || t->kind == 0)
		return jaas_fail(p, t, what);
	return 0;
}

/* One module entry "CLASS FLAG {KEY=VALUE} ;" (CLASS already in t->text). */
static int jaas_module(struct pctx *p, struct jtok *t, bool keep)
{
	int rc;
	if ((rc = jaas_expect(p, t, "w", "expected a control flag")) < 0)
		return rc;
	for (;;) {
		char key[CFG_PATH_MAX];
		if ((rc = jaas_expect(p, t, ";w", "expected an option name or ';'")) < 0)
			return rc;
		if (t->kind == ';')
			return 0;
		strcpy(key, t->text);
		if ((rc = jaas_expect(p, t, "=", "expected '=' after an option name")) < 0 ||
		    (rc = jaas_expect(p, t, "sw", "expected an option value")) < 0)
			return rc;
		if (keep && has_prefix(key, "user_") && key[5] &&
		    (rc = jaas_add_user(p, t, key + 5, t->text)) < 0)
			return rc;
	}
}

static int jaas_parse(struct pctx *p, const char *buf, size_t len, const char *section)
{
	struct jtok t = { .p = buf, .end = buf + len, .line = 1 };
	bool found = false;
	int rc;
	for (;;) {
		if (jaas_next(&t) < 0)
			return jaas_fail(p, &t, "unterminated string or token too long");
		if (t.kind == 0)
			break;
		if (t.kind != 'w')
			return jaas_fail(p, &t, "expected a section name");
		bool keep = !strcmp(t.text, section);
		found |= keep;
		if ((rc = jaas_expect(p, &t, "{", "expected '{'")) < 0)
			return rc;
		for (;;) {
			if ((rc = jaas_expect(p, &t, "}w", "expected a login module or '}'")) < 0)
				return rc;
			if (t.kind == '}')
				break;
			if ((rc = jaas_module(p, &t, keep)) < 0)
				return rc;
		}
		if ((rc = jaas_expect(p, &t, ";", "expected ';' after '}'")) < 0)
			return rc;
	}
	if (!found)
		TN_WARN("cfg", "%s: no JAAS section '%s': SASL has no users", p->c->jaas_path, section);
	return 0;
}

/* Read a whole file of at most CFG_FILE_MAX bytes into a malloc'd buffer. */
static int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	char *buf = NULL;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail_close;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > CFG_FILE_MAX) {
		rc = S_ISREG(st.st_mode) ? -E2BIG : -EINVAL;
		goto fail_close;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		rc = -ENOMEM;
		goto fail_close;
	}
	size_t n = 0;
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) { /* a file that shrank under us reads short: keep what we have */
			if (r < 0)
				rc = -errno;
			break;
		}
		n += (size_t)r;
	}
	if (rc < 0) {
		free(buf);
		goto fail_close;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
fail_close:
	close(fd);
	return rc;
}

static int load_jaas(struct pctx *p)
{
	const struct cfg_prop *pr = prop_find(p->c, "java.security.auth.login.config");
	char *buf;
	size_t len;
	if (!pr)
		return 0;
	if (!*pr->val)
		return fail_prop(p, pr, "empty path");
	if (strlen(pr->val) >= sizeof p->c->jaas_path)
		return fail_prop(p, pr, "path is too long");
	strcpy(p->c->jaas_path, pr->val);
	int rc = read_file(pr->val, &buf, &len);
	if (rc < 0) {
		char msg[CFG_ERR_MAX];
		snprintf(msg, sizeof msg, "cannot read %.120s: %s", pr->val, strerror(-rc));
		fail_prop(p, pr, msg);
		return rc;
	}
	const char *section = cfg_prop(p->c, "zookeeper.sasl.serverconfig");
	rc = jaas_parse(p, buf, len, section ? section : "Server");
	free(buf);
	return rc;
}

/* ---- well-known properties -> fields ---- */

static int prop_u64(struct pctx *p, const char *key, int base, uint64_t lo, uint64_t hi,
		    uint64_t *out)
{
	const struct cfg_prop *pr = prop_find(p->c, key);
	char msg[96];
	if (!pr)
		return 0;
	int rc = parse_u64(pr->val, base, lo, hi, out);
	if (rc == -EINVAL) {
		snprintf(msg, sizeof msg, "'%.40s' is not a number", pr->val);
		return fail_prop(p, pr, msg);
	}
	if (rc == -ERANGE) {
		snprintf(msg, sizeof msg, "%.24s is out of range [%llu, %llu]", pr->val,
			 (unsigned long long)lo, (unsigned long long)hi);
		return fail_prop(p, pr, msg);
	}
	return 0;
}

static int prop_u32(struct pctx *p, const char *key, uint64_t lo, uint64_t hi, uint32_t *out)
{
	uint64_t x = *out;
	int rc = prop_u64(p, key, 10, lo, hi, &x);
	*out = (uint32_t)x;
	return rc;
}

static int prop_bool(struct pctx *p, const char *key, bool *out)
{
	const struct cfg_prop *pr = prop_find(p->c, key);
	if (pr && parse_bool(pr->val, out) < 0)
		return fail_prop(p, pr, "not true or false (or yes/no)");
	return 0;
}

static int read_props(struct pctx *p)
{
	struct cfg *c = p->c;
	uint64_t x = c->jute_maxbuffer;
	int rc = 0;
	if (!rc)
		rc = prop_u32(p, "zookeeper.globalOutstandingLimit", 1, INT32_MAX,
			      &c->global_outstanding_limit);
	if (!rc)
		rc = prop_u32(p, "zookeeper.snapCount", 2, INT32_MAX, &c->snap_count);
	if (!rc)
		rc = prop_u64(p, "zookeeper.preAllocSize", 10, 1, UINT64_MAX >> 10, &c->pre_alloc_kib);
	if (!rc)
		rc = prop_u64(p, "jute.maxbuffer", 0, 1, INT32_MAX, &x);
	c->jute_maxbuffer = (uint32_t)x;
	if (!rc)
		rc = prop_bool(p, "zookeeper.forceSync", &c->force_sync);
	if (!rc)
		rc = prop_bool(p, "zookeeper.extendedTypesEnabled", &c->extended_types);
	if (!rc)
		rc = prop_bool(p, "readonlymode.enabled", &c->readonly_mode);
	if (!rc)
		rc = prop_bool(p, "zookeeper.skipACL", &c->skip_acl);
	if (!rc)
		rc = prop_bool(p, "zookeeper.sessionRequireClientSASLAuth", &c->sasl_required);
	if (!rc)
		rc = prop_u32(p, "zookeeper.maxCnxns", 0, INT32_MAX, &c->max_cnxns);
	if (!rc)
		rc = prop_u32(p, "zookeeper.commitLogCount", 1, INT32_MAX, &c->commit_log_count);
	if (!rc)
		rc = prop_u64(p, "znode.container.checkIntervalMs", 10, 1, INT64_MAX,
			      &c->container_check_ms);
	if (!rc)
		rc = prop_u32(p, "znode.container.maxPerMinute", 1, INT32_MAX,
			      &c->container_max_per_min);
	if (!rc)
		rc = prop_u64(p, "znode.container.maxNeverUsedIntervalMs", 10, 0, INT64_MAX,
			      &c->container_never_used_ms);
	if (!rc)
		rc = prop_bool(p, "zookeeper.admin.enableServer", &c->admin_enable);
	x = c->admin_port;
	if (!rc)
		rc = prop_u64(p, "zookeeper.admin.serverPort", 10, 1, 65535, &x);
	c->admin_port = (uint16_t)x;
	const struct cfg_prop *pr = prop_find(c, "zookeeper.admin.serverAddress");
	if (!rc && pr) {
		if (strlen(pr->val) >= sizeof c->admin_address)
			return fail_prop(p, pr, "too long");
		strcpy(c->admin_address, pr->val);
	}
	c->super_digest = cfg_prop(c, "zookeeper.DigestAuthenticationProvider.superDigest");
	return rc;
}

/* An interface name the kernel takes (IFNAMSIZ - 1 printable bytes, no '/',
 * ':' or blanks). */
static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || !isgraph((unsigned char)s[i]))
			return false;
	return true;
}

/* tern.peer.transport and tern.dpdk.*: addresses must be IPv4 literals,
 * numbers in range (mgmt/peer_udp.c opens the port). */
static int check_peer_transport(struct pctx *p)
{
	static const char *const ips[] = { "tern.dpdk.ip", "tern.dpdk.netmask", "tern.dpdk.gateway" };
	struct cfg *c = p->c;
	const struct cfg_prop *pr;
	struct in_addr a;
	uint32_t x;
	int rc;

	if ((pr = prop_find(c, "tern.peer.transport")) && strcmp(pr->val, "tcp") &&
	    strcmp(pr->val, "udp"))
		return fail_prop(p, pr, "must be tcp or udp");
	for (size_t i = 0; i < TN_ARRAY_LEN(ips); i++)
		if ((pr = prop_find(c, ips[i])) && inet_pton(AF_INET, pr->val, &a) != 1)
			return fail_prop(p, pr, "not an IPv4 address");
	if (prop_find(c, "tern.dpdk.mbufs") &&
	    (rc = prop_u32(p, "tern.dpdk.mbufs", 1024, 1u << 24, &x)) < 0)
		return rc;
	if (prop_find(c, "tern.peer.mtu") && (rc = prop_u32(p, "tern.peer.mtu", 256, 65000, &x)) < 0)
		return rc;
	if ((pr = prop_find(c, "tern.dpdk.exception")) && strcmp(pr->val, "tap") &&
	    strcmp(pr->val, "none"))
		return fail_prop(p, pr, "must be tap or none");
	if ((pr = prop_find(c, "tern.dpdk.tap")) && !ifname_ok(pr->val))
		return fail_prop(p, pr, "must be an interface name of 1..15 characters");
	/* a missing tern.dpdk.port is reported when the port opens (peer_udp.c):
	 * a standalone server with tern.dataplane=dpdk has no peers to carry */
	return 0;
}

static int read_tern_props(struct pctx *p)
{
	struct cfg *c = p->c;
	const struct cfg_prop *pr;
	enum tn_log_level lvl;
	int rc = prop_u32(p, "tern.workers", 1, 1024, &c->workers);
	if (rc < 0)
		return rc;
	if (prop_find(c, "tern.udp.port")) {
		uint32_t up = 0;
		if ((rc = prop_u32(p, "tern.udp.port", 0, 65535, &up)) < 0)
			return rc;
		c->udp_port = (int32_t)up;
	}
	if ((pr = prop_find(c, "tern.polling"))) {
		if (!strcmp(pr->val, "adaptive"))
			c->polling = CFG_POLL_ADAPTIVE;
		else if (!strcmp(pr->val, "busy"))
			c->polling = CFG_POLL_BUSY;
		else
			return fail_prop(p, pr, "must be adaptive or busy");
	}
	if ((pr = prop_find(c, "tern.dataplane"))) {
		if (!strcmp(pr->val, "kernel"))
			c->dataplane = CFG_DP_KERNEL;
		else if (!strcmp(pr->val, "dpdk"))
			c->dataplane = CFG_DP_DPDK;
		else
			return fail_prop(p, pr, "must be kernel or dpdk");
	}
	if ((rc = check_peer_transport(p)) < 0)
		return rc;
	if ((pr = prop_find(c, "tern.log.level"))) {
		if (tn_log_parse_level(pr->val, &lvl) < 0)
			return fail_prop(p, pr, "must be debug, info, warn or error");
		c->log_level = (int)lvl;
	}
	return 0;
}

/* 4lw.commands.whitelist: comma separated, trimmed; "*" = all; isro joins in
 * readonly mode. Words that are not 4 chars can never match: warn, drop. */
static void read_whitelist(struct pctx *p)
{
	struct cfg *c = p->c;
	const char *s = cfg_prop(c, "zookeeper.4lw.commands.whitelist");
	c->wl_count = 0;
	c->wl_all = false;
	if (!s)
		memcpy(c->wl[c->wl_count++], "srvr", 4);
	while (s && *s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		const char *a = s, *b = s + n;
		while (a < b && (unsigned char)*a <= ' ')
			a++;
		while (b > a && (unsigned char)b[-1] <= ' ')
			b--;
		if (b - a == 1 && *a == '*')
			c->wl_all = true;
		else if (b - a == 4 && c->wl_count < CFG_4LW_MAX)
			memcpy(c->wl[c->wl_count++], a, 4);
		else if (b > a)
			TN_WARN("cfg", "4lw.commands.whitelist: '%.*s' is not a four-letter word",
				(int)TN_MIN(b - a, 64), a);
		s = e ? e + 1 : NULL;
	}
	if (c->readonly_mode && c->wl_count < CFG_4LW_MAX)
		memcpy(c->wl[c->wl_count++], "isro", 4);
	TN_ASSERT(c->wl_count <= CFG_4LW_MAX);
}

/* ---- cross-key checks ---- */

static int check_sessions(struct pctx *p)
{
	struct cfg *c = p->c;
	uint64_t lo = p->min_to < 0 ? 2ull * c->tick_ms : (uint64_t)p->min_to;
	uint64_t hi = p->max_to < 0 ? 20ull * c->tick_ms : (uint64_t)p->max_to;
	if (lo > UINT32_MAX || hi > UINT32_MAX) {
		p->key = "tickTime";
		return fail(p, "session timeouts derived from tickTime %u overflow", c->tick_ms);
	}
	if (lo > hi) {
		p->line = (unsigned)(p->min_line > 0 ? p->min_line : p->max_line);
		p->key = p->min_line > 0 ? "minSessionTimeout" : "maxSessionTimeout";
		return fail(p, "minSessionTimeout %llu is larger than maxSessionTimeout %llu",
			    (unsigned long long)lo, (unsigned long long)hi);
	}
	c->session_timeout_ms_min = (uint32_t)lo;
	c->session_timeout_ms_max = (uint32_t)hi;
	TN_ASSERT(c->session_timeout_ms_min <= c->session_timeout_ms_max);
	return 0;
}

/* dataDir/myid: the decimal id (trimmed), as QuorumPeerConfig reads it. */
static int read_myid(struct pctx *p)
{
	struct cfg *c = p->c;
	char path[CFG_PATH_MAX + 8], *buf;
	size_t len;
	uint64_t id;
	snprintf(path, sizeof path, "%s/myid", c->data_dir);
	int rc = read_file(path, &buf, &len);
	if (rc < 0) {
		errf(p->err, "%s: %s (needed with server.N lines)", path,
			 strerror(-rc));
		return rc;
	}
	char *s = buf, *e = buf + len;
	while (s < e && (unsigned char)*s <= ' ')
		s++;
	while (e > s && (unsigned char)e[-1] <= ' ')
		*--e = '\0';
	rc = parse_u64(s, 10, 0, CFG_ID_MAX, &id);
	if (rc < 0)
		errf(p->err, "%s: serverid '%.32s' is not a number", path, s);
	free(buf);
	if (rc < 0)
		return -EINVAL;
	c->server_id = id;
	return 0;
}

static int check_quorum(struct pctx *p)
{
	struct cfg *c = p->c;
	int rc;
	if (c->server_count == 0 || (c->server_count == 1 && c->standalone_enabled)) {
		if (c->server_count == 1 && c->client_port < 0 && c->servers[0].client_port > 0)
			c->client_port = c->servers[0].client_port;
		return 0; /* standalone, as ZooKeeper runs it with one server line */
	}
	p->key = c->init_limit ? "syncLimit" : "initLimit";
	if (!c->init_limit || !c->sync_limit)
		return fail(p, "is not set (required with server.N lines)");
	p->key = NULL;
	if ((rc = read_myid(p)) < 0)
		return rc;
	const struct cfg_server *me = cfg_server_find(c, c->server_id);
	if (!me) {
		errf(p->err, "%s: my id %llu (dataDir/myid) is not in the server.N list",
			 c->path, (unsigned long long)c->server_id);
		return -EINVAL;
	}
	if (me->type != c->peer_type) { /* QuorumPeerConfig: the server list wins, with a warning */
		TN_WARN("cfg", "%s: peerType %s differs from server.%llu's role: using the server list",
			c->path, c->peer_type == CFG_PEER_OBSERVER ? "observer" : "participant",
			(unsigned long long)me->id);
		c->peer_type = me->type;
	}
	if (me->client_port > 0 && c->client_port > 0 && me->client_port != c->client_port) {
		char key[32];
		snprintf(key, sizeof key, "server.%llu", (unsigned long long)me->id);
		p->line = me->line;
		p->key = key;
		return fail(p, "client port %d differs from clientPort=%d", me->client_port,
			    c->client_port);
	}
	if (c->client_port < 0)
		c->client_port = me->client_port;
	return 0;
}

/* tern.observer.master (or observerMasterPort): whom an observer follows.
 * A server that names itself, or an unknown or repeated id, is refused
 * (longer loops are broken at run time, zab.h); a participant ignores it. */
static int check_observer_master(struct pctx *p)
{
	struct cfg *c = p->c;
	const struct cfg_prop *pr = prop_find(c, "tern.observer.master");
	unsigned n = 0;

	if (!pr) {
		/* ZooKeeper 3.6: observers spread over the voters (followers serve them) */
		if (!c->server_id || c->peer_type != CFG_PEER_OBSERVER ||
		    !prop_find(c, "observerMasterPort"))
			return 0;
		for (unsigned i = 1; i <= c->server_count && n < CFG_OBS_MASTER_MAX; i++) {
			const struct cfg_server *sv =
				&c->servers[(c->server_id + i) % c->server_count];
			if (sv->type != CFG_PEER_OBSERVER)
				c->observer_master[n++] = (uint32_t)sv->id;
		}
		return 0;
	}
	if (!c->server_id)
		return fail_prop(p, pr, "needs server.N lines (an ensemble)");
	if (c->peer_type != CFG_PEER_OBSERVER) /* reconfiguration may make it one */
		TN_WARN("cfg", "%s: tern.observer.master: ignored while this server is a participant",
			c->path);
	for (const char *s = pr->val; *s;) {
		char *end;
		unsigned long long id = strtoull(s, &end, 10);
		if (end == s || (*end && *end != ',') || n >= CFG_OBS_MASTER_MAX)
			return fail_prop(p, pr, "not a list of up to 8 server ids (K[,K...])");
		if (id == c->server_id)
			return fail_prop(p, pr, "a server cannot follow itself (a loop)");
		if (!cfg_server_find(c, id) || id > UINT32_MAX)
			return fail_prop(p, pr, "names a server that is not in the server.N list");
		for (unsigned j = 0; j < n; j++)
			if (c->observer_master[j] == id)
				return fail_prop(p, pr, "names a server twice");
		c->observer_master[n++] = (uint32_t)id;
		s = *end ? end + 1 : end;
	}
	return 0;
}

static int finish(struct pctx *p)
{
	struct cfg *c = p->c;
	int rc;
	if ((rc = read_props(p)) < 0 || (rc = read_tern_props(p)) < 0)
		return rc;
	read_whitelist(p);
	if ((rc = check_sessions(p)) < 0)
		return rc;
	p->key = "dataDir";
	if (!c->data_dir[0])
		return fail(p, "is not set");
	p->key = NULL;
	if (!c->data_log_dir[0])
		strcpy(c->data_log_dir, c->data_dir);
	if (c->election_alg != 3) {
		p->key = "electionAlg";
		return fail(p, "%u is not supported: only 3 (fast leader election) is", c->election_alg);
	}
	if (c->snap_retain_count < 3) {
		TN_WARN("cfg", "%s: autopurge.snapRetainCount %u is below 3: using 3", c->path,
			c->snap_retain_count);
		c->snap_retain_count = 3;
	}
	if (c->secure_client_port > 0)
		TN_WARN("cfg", "%s: secureClientPort=%d: TLS is not supported by tern; ignored",
			c->path, c->secure_client_port);
	if ((rc = check_quorum(p)) < 0 || (rc = check_observer_master(p)) < 0)
		return rc;
	if (c->client_port < 0) {
		p->key = "clientPort";
		return fail(p, "is not set");
	}
	return load_jaas(p);
}

/* ---- public ---- */

void cfg_defaults(struct cfg *c)
{
	TN_ASSERT(c != NULL);
	memset(c, 0, sizeof *c);
	c->tick_ms = 3000;
	c->client_port = -1;
	c->secure_client_port = -1;
	c->client_port_listen_backlog = -1;
	c->session_timeout_ms_min = 2 * c->tick_ms;
	c->session_timeout_ms_max = 20 * c->tick_ms;
	c->max_client_cnxns = 60;
	c->snap_retain_count = 3;
	c->election_alg = 3;
	c->standalone_enabled = true;
	c->admin_enable = true;
	c->admin_port = 8080;
	strcpy(c->admin_address, "0.0.0.0");
	c->global_outstanding_limit = 1000;
	c->snap_count = 100000;
	c->pre_alloc_kib = 65536;
	c->jute_maxbuffer = 0xfffff;
	c->force_sync = true;
	c->container_check_ms = 60000;
	c->container_max_per_min = 10000;
	memcpy(c->wl[0], "srvr", 4);
	c->wl_count = 1;
	/* one core stays for the control and log threads: on 2 cores shared with
	 * a load generator, 1 worker did 257k mixed ops/s where 2 did 189k */
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	c->workers = n > 1 ? (uint32_t)TN_MIN(n - 1, 1024) : 1;
	c->log_level = TN_LOG_INFO;
	c->udp_port = -1;
	TN_ASSERT(c->session_timeout_ms_min < c->session_timeout_ms_max);
}

void cfg_free(struct cfg *c)
{
	for (unsigned i = 0; i < c->prop_count; i++) {
		free(c->props[i].key);
		free(c->props[i].val);
	}
	free(c->props);
	c->props = NULL;
	c->prop_count = c->prop_cap = 0;
	for (unsigned i = 0; i < c->user_count; i++) {
		free(c->users[i].name);
		free(c->users[i].password);
	}
	c->user_count = 0;
	c->super_digest = NULL;
}

static void begin(struct pctx *p, struct cfg *c, const char *name, char *err)
{
	cfg_defaults(c);
	snprintf(c->path, sizeof c->path, "%s", name);
	*p = (struct pctx){ .c = c, .err = err, .min_to = -1, .max_to = -1 };
	err[0] = '\0';
}

int cfg_parse_buffer(const char *name, const char *buf, size_t len, const char *const *jvmflags,
		     unsigned n, struct cfg *c, char err[CFG_ERR_MAX])
{
	struct pctx p;
	int rc;
	TN_ASSERT(name && c && err && (buf || len == 0));
	begin(&p, c, name, err);
	if (len > CFG_FILE_MAX) {
		errf(err, "%s: larger than %u bytes", name, CFG_FILE_MAX);
		return -E2BIG;
	}
	if ((rc = apply_dflags(&p, jvmflags, jvmflags ? n : 0, CFG_SRC_ARG)) < 0 ||
	    (rc = parse_file_text(&p, buf, len)) < 0 || (rc = finish(&p)) < 0)
		goto fail_free;
	return 0;
fail_free:
	if (!err[0])
		errf(err, "%s: %s", name, strerror(-rc));
	cfg_free(c);
	return rc;
}

int cfg_load(const char *path, struct cfg *c, char err[CFG_ERR_MAX])
{
	struct pctx p;
	char *buf = NULL;
	size_t len = 0;
	int rc;
	TN_ASSERT(path && c && err);
	begin(&p, c, path, err);
	if ((rc = apply_env(&p, "SERVER_JVMFLAGS", CFG_SRC_SERVER_JVMFLAGS)) < 0 ||
	    (rc = apply_env(&p, "JVMFLAGS", CFG_SRC_JVMFLAGS)) < 0)
		goto fail_free;
	if ((rc = read_file(path, &buf, &len)) < 0) {
		errf(err, "%s: %s", path, strerror(-rc));
		goto fail_free;
	}
	if ((rc = parse_file_text(&p, buf, len)) < 0 || (rc = load_dynamic_file(&p, path)) < 0 ||
	    (rc = finish(&p)) < 0)
		goto fail_free;
	free(buf);
	return 0;
fail_free:
	if (!err[0])
		errf(err, "%s: %s", path, strerror(-rc));
	free(buf);
	cfg_free(c);
	return rc;
}

bool cfg_4lw_allowed(const struct cfg *c, const char word[4])
{
	if (c->wl_all)
		return true;
	for (unsigned i = 0; i < c->wl_count; i++)
		if (!memcmp(c->wl[i], word, 4))
			return true;
	return false;
}

const char *cfg_user_password(const struct cfg *c, const char *user)
{
	for (unsigned i = 0; i < c->user_count; i++)
		if (!strcmp(c->users[i].name, user))
			return c->users[i].password;
	return NULL;
}

const struct cfg_server *cfg_server_find(const struct cfg *c, uint64_t id)
{
	for (unsigned i = 0; i < c->server_count; i++)
		if (c->servers[i].id == id)
			return &c->servers[i];
	return NULL;
}

static void bracket_host(char *out, size_t cap, const char *h)
{
	snprintf(out, cap, strchr(h, ':') ? "[%s]" : "%s", h);
}

int cfg_server_str(const struct cfg_server *s, char *buf, size_t cap)
{
	char h[CFG_HOST_MAX + 2], ch[CFG_HOST_MAX + 2];
	int n;
	bracket_host(h, sizeof h, s->host);
	if (s->client_port > 0) {
		bracket_host(ch, sizeof ch, s->client_host);
		n = snprintf(buf, cap, "%s:%u:%u:%s;%s:%d", h, s->quorum_port, s->election_port,
			     s->type == CFG_PEER_OBSERVER ? "observer" : "participant", ch,
			     s->client_port);
	} else {
		n = snprintf(buf, cap, "%s:%u:%u:%s", h, s->quorum_port, s->election_port,
			     s->type == CFG_PEER_OBSERVER ? "observer" : "participant");
	}
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

static void dump_servers(const struct cfg *c, FILE *f)
{
	char line[2 * CFG_HOST_MAX + 64];
	for (unsigned i = 0; i < c->server_count; i++)
		if (cfg_server_str(&c->servers[i], line, sizeof line) >= 0)
			fprintf(f, "server.%llu=%s\n", (unsigned long long)c->servers[i].id, line);
}

/* @v escaped (backslash, control chars) so a dumped line reads back the same. */
static void put_esc(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if ((unsigned char)*v < 0x20)
			fprintf(f, "\\u%04x", (unsigned)(unsigned char)*v);
		else
			fputc(*v, f);
	}
}

static void dump_val(FILE *f, const char *key, const char *v)
{
	fprintf(f, "%s=", key);
	put_esc(f, v);
	fputc('\n', f);
}

void cfg_dump(const struct cfg *c, FILE *f)
{
	static const char *const pol[] = { "adaptive", "busy" }, *const dp[] = { "kernel", "dpdk" };
	static const char *const lvl[] = { "debug", "info", "warn", "error" };
	fprintf(f, "# effective configuration from %s\n", c->path);
	fprintf(f, "tickTime=%u\n", c->tick_ms);
	if (c->init_limit)
		fprintf(f, "initLimit=%u\n", c->init_limit);
	if (c->sync_limit)
		fprintf(f, "syncLimit=%u\n", c->sync_limit);
	dump_val(f, "dataDir", c->data_dir);
	dump_val(f, "dataLogDir", c->data_log_dir);
	dump_val(f, "clientPortAddress", c->client_port_address);
	fprintf(f, "clientPort=%d\nsecureClientPort=%d\n", c->client_port, c->secure_client_port);
	fprintf(f, "clientPortListenBacklog=%d\n", c->client_port_listen_backlog);
	fprintf(f, "minSessionTimeout=%u\nmaxSessionTimeout=%u\nmaxClientCnxns=%u\n",
		c->session_timeout_ms_min, c->session_timeout_ms_max, c->max_client_cnxns);
	fprintf(f, "autopurge.snapRetainCount=%u\nautopurge.purgeInterval=%u\n",
		c->snap_retain_count, c->purge_interval_h);
	fprintf(f, "electionAlg=%u\npeerType=%s\n", c->election_alg,
		c->peer_type == CFG_PEER_OBSERVER ? "observer" : "participant");
	fprintf(f, "standaloneEnabled=%s\nreconfigEnabled=%s\nlocalSessionsEnabled=%s\n",
		c->standalone_enabled ? "true" : "false", c->reconfig_enabled ? "true" : "false",
		c->local_sessions_enabled ? "true" : "false");
	fprintf(f, "admin.enableServer=%s\nadmin.serverPort=%u\n", c->admin_enable ? "true" : "false",
		c->admin_port);
	dump_val(f, "admin.serverAddress", c->admin_address);
	fprintf(f, "globalOutstandingLimit=%u\nsnapCount=%u\npreAllocSize=%llu\n",
		c->global_outstanding_limit, c->snap_count, (unsigned long long)c->pre_alloc_kib);
	fprintf(f, "jute.maxbuffer=%u\nforceSync=%s\nextendedTypesEnabled=%s\n", c->jute_maxbuffer,
		c->force_sync ? "yes" : "no", c->extended_types ? "true" : "false");
	fprintf(f, "readonlymode.enabled=%s\nzookeeper.skipACL=%s\nzookeeper.maxCnxns=%u\n",
		c->readonly_mode ? "true" : "false", c->skip_acl ? "yes" : "no", c->max_cnxns);
	char wl[CFG_4LW_MAX * 5 + 4] = "", *w = wl;
	for (unsigned i = 0; i < c->wl_count; i++, w += strlen(w))
		snprintf(w, 6, "%s%.4s", i ? "," : "", c->wl[i]);
	strcat(wl, c->wl_all ? (c->wl_count ? ",*" : "*") : "");
	dump_val(f, "4lw.commands.whitelist", wl);
	fprintf(f, "tern.workers=%u\ntern.polling=%s\ntern.dataplane=%s\ntern.log.level=%s\n",
		c->workers, pol[c->polling], dp[c->dataplane], lvl[c->log_level & 3]);
	dump_servers(c, f);
	if (c->server_id)
		fprintf(f, "# myid=%llu\n", (unsigned long long)c->server_id);
	if (c->user_count)
		fprintf(f, "# %u SASL users from %s\n", c->user_count, c->jaas_path);
	for (unsigned i = 0; i < c->prop_count; i++) { /* as comments: the fields above rule */
		fputs("# property ", f);
		put_esc(f, c->props[i].key);
		fputc('=', f);
		put_esc(f, strstr(c->props[i].key, "superDigest") ? "(hidden)" : c->props[i].val);
		fputc('\n', f);
	}
}

/* ---- dynamic config (reconfig): server.N lines and version=<hex zxid> ---- */

/* Parse the lines of a dynamic config into @p->c's servers. */
static int dyn_lines(struct pctx *p, const char *buf, size_t len, uint64_t *version)
{
	char line[CFG_HOST_MAX * 2 + 128];
	const char *s = buf, *end = buf + len;
	int rc = 0;

	*version = 0;
	p->line = 0;
	while (s < end && rc == 0) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		p->line++;
		while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n >= sizeof line)
			return fail(p, "line too long");
		memcpy(line, s, n);
		line[n] = '\0';
		s = nl ? nl + 1 : end;
		char *eq = strchr(line, '=');
		if (!n || line[0] == '#')
			continue;
		if (!eq)
			return fail(p, "'%s' is not key=value", line);
		*eq = '\0';
		if (!strncmp(line, "server.", 7))
			rc = server_line(p, line + 7, eq + 1);
		else if (!strcmp(line, "version"))
			rc = parse_u64(eq + 1, 16, 0, UINT64_MAX, version) < 0 ?
				     fail(p, "version '%s' is not a hex zxid", eq + 1) : 0;
		else
			rc = fail(p, "'%s' has no place in a dynamic config", line);
	}
	p->line = 0;
	return rc;
}

int cfg_parse_dynamic(const char *text, size_t len, struct cfg_server *out, unsigned max,
		      unsigned *count, uint64_t *version, char err[CFG_ERR_MAX])
{
	struct cfg *tmp = calloc(1, sizeof *tmp);
	struct pctx p;
	int rc;

	TN_ASSERT(out && count && version && err && (text || len == 0));
	if (!tmp)
		return -ENOMEM;
	begin(&p, tmp, "dynamic config", err);
	rc = dyn_lines(&p, text, len, version);
	if (rc == 0 && (tmp->server_count == 0 || tmp->server_count > max)) {
		errf(err, "dynamic config: %u servers", tmp->server_count);
		rc = -EINVAL;
	}
	if (rc == 0) {
		memcpy(out, tmp->servers, tmp->server_count * sizeof *out);
		*count = tmp->server_count;
	}
	cfg_free(tmp);
	free(tmp);
	return rc;
}

/* zoo.cfg names a dynamicConfigFile (as ZooKeeper writes after a reconfig):
 * the server.N lines come from it. Relative names are taken next to zoo.cfg. */
static int load_dynamic_file(struct pctx *p, const char *zoo_path)
{
	const char *dyn = cfg_prop(p->c, "dynamicConfigFile");
	char path[CFG_PATH_MAX * 2];
	char *buf = NULL;
	size_t len = 0;
	uint64_t version;
	int rc;

	if (!dyn || !*dyn)
		return 0;
	if (p->c->server_count)
		return fail(p, "dynamicConfigFile and server.N lines in zoo.cfg");
	const char *slash = strrchr(zoo_path, '/');
	if (dyn[0] == '/' || !slash)
		snprintf(path, sizeof path, "%s", dyn);
	else
		snprintf(path, sizeof path, "%.*s/%s", (int)(slash - zoo_path), zoo_path, dyn);
	if ((rc = read_file(path, &buf, &len)) < 0) {
		errf(p->err, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = dyn_lines(p, buf, len, &version);
	free(buf);
	return rc;
}
