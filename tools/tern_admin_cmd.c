/* tools/tern_admin_cmd.c: the `tern` commands that talk to the admin HTTP
 * server (mgmt/http.c, ZooKeeper's AdminServer on admin.serverPort):
 *
 *   tern metrics [--raw]            a summary per server (mode, zxid, znodes,
 *                                   watches, sessions, outstanding, latency,
 *                                   fsync, group commit, workers, per-peer lag);
 *                                   --json: the same as JSON; --raw: /metrics
 *   tern snapshot                   take a snapshot now on each server; print
 *                                   its zxid and file
 *   tern admin CMD [k=v...]         any admin command, its JSON pretty-printed
 *
 * --server lists ADMIN addresses here (h:8080,h2:8080); without it
 * 127.0.0.1:8080. The HTTP client is a plain HTTP/1.1 GET/POST over a socket
 * with "Connection: close": one request per connection, the reply read to
 * EOF (bounded by ADMIN_REPLY_MAX), Content-Length honoured, chunked replies
 * refused (libmicrohttpd sends buffers with a length). Every socket step is
 * bounded by ADMIN_IO_MS.
 *
 * Exit: 0 ok; 1 a server unreachable, not serving, or an "error" in its
 * reply (the message says which, and hints at admin.enableServer); 2 usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "tools/tern_cli.h"

#define ADMIN_DEFAULT "127.0.0.1:8080" /* admin.serverPort's default */
#define ADMIN_IO_MS 5000               /* connect, send, each read */
#define ADMIN_SNAP_IO_MS 60000         /* a snapshot of a big tree takes a while */
#define ADMIN_REPLY_MAX (64u << 20)    /* largest reply kept (wchc of a big tree) */
#define ADMIN_REQ_MAX 4096             /* request line + headers */
#define ADMIN_HOSTS_MAX 64             /* servers in one --server list */
#define ADMIN_LIST_MAX 4096            /* bytes of the --server list */

struct http_rsp {
	int status;
	char *buf;        /* the whole reply, NUL-terminated (owned) */
	const char *body; /* into buf */
	size_t body_len;
};

static void rsp_free(struct http_rsp *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to @host ("h:p", "[v6]:p") within ADMIN_IO_MS. Return fd or -errno. */
static int dial(const char *host, int io_ms)
{
	char h[256];
	const char *port = "8080";
	snprintf(h, sizeof(h), "%s", host);
	char *hp = h, *colon = strrchr(h, ':');
	if (h[0] == '[') {
		char *rb = strchr(h, ']');
		if (!rb)
			return -EINVAL;
		*rb = '\0';
		hp = h + 1;
		colon = rb[1] == ':' ? rb + 1 : NULL;
	}
	if (colon) {
		*colon = '\0';
		port = colon + 1;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (getaddrinfo(hp, port, &hints, &ai) != 0 || !ai)
		return -EHOSTUNREACH;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = fd < 0 ? -errno : 0;
	if (rc == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		rc = -errno;
	freeaddrinfo(ai);
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	if (rc == 0 && poll(&pfd, 1, io_ms) != 1)
		rc = -ETIMEDOUT;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
		rc = -soerr;
	if (rc < 0 && fd >= 0)
		close(fd);
	return rc < 0 ? rc : fd;
}

/* Send all of @p within @io_ms per step. */
static int send_all(int fd, const char *p, size_t len, int io_ms)
{
	size_t done = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	while (done < len) {
		if (poll(&pfd, 1, io_ms) != 1)
			return -ETIMEDOUT;
		ssize_t n = send(fd, p + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0)
			done += (size_t)n;
	}
	return 0;
}

/* Split the reply in @r->buf (@len bytes): status line, headers, body. */
static int parse_rsp(struct http_rsp *r, size_t len)
{
	int major = 0, minor = 0;
	TN_ASSERT(r->buf && r->buf[len] == '\0');
	if (sscanf(r->buf, "HTTP/%d.%d %d", &major, &minor, &r->status) != 3 || major != 1)
		return -EBADMSG;
	char *end = strstr(r->buf, "\r\n\r\n");
	if (!end)
		return -EBADMSG;
	*end = '\0'; /* headers are now one string */
	r->body = end + 4;
	r->body_len = len - (size_t)(r->body - r->buf);
	for (char *line = strstr(r->buf, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
		const char *h = line + 2;
		if (!strncasecmp(h, "Transfer-Encoding:", 18) && strstr(h, "chunked"))
			return -EPROTO;
		if (!strncasecmp(h, "Content-Length:", 15)) {
			unsigned long long cl = strtoull(h + 15, NULL, 10);
			if (cl > r->body_len)
				return -EPIPE; /* cut short */
			r->body_len = (size_t)cl;
		}
	}
	((char *)r->body)[r->body_len] = '\0';
	return 0;
}

/**
 * One HTTP/1.1 request to @host: @method @path, no body. On success @r holds
 * the status and body (free with rsp_free). Return 0, or -errno with a
 * sentence in @why (connection refused, timeout, not HTTP).
 */
static int http_req(const char *host, const char *method, const char *path, int io_ms,
		    struct http_rsp *r, char *why, size_t why_cap)
{
	char req[ADMIN_REQ_MAX];
	size_t cap = 65536, len = 0;
	int fd, rc;

	TN_ASSERT(host && method && path && r && why && why_cap > 0);
	TN_ASSERT(path[0] == '/');
	memset(r, 0, sizeof(*r));
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tern\r\nAccept: */*\r\n"
			 "Content-Length: 0\r\nConnection: close\r\n\r\n",
			 method, path, host);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(why, why_cap, "request too long");
		return -E2BIG;
	}
	fd = dial(host, io_ms);
	if (fd < 0) {
		rc = fd;
		snprintf(why, why_cap,
			 "admin server unreachable (%s); is admin.enableServer=true "
			 "and admin.serverPort this port?",
			 strerror(-rc));
		return rc;
	}
	if ((rc = send_all(fd, req, (size_t)n, io_ms)) < 0) {
		snprintf(why, why_cap, "sending the request: %s", strerror(-rc));
		goto fail_close;
	}
	if (!(r->buf = malloc(cap))) {
		rc = -ENOMEM;
		snprintf(why, why_cap, "out of memory");
		goto fail_close;
	}
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int64_t deadline = mono_ms() + io_ms;
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
			rc = -ETIMEDOUT;
			snprintf(why, why_cap, "no complete reply within %d ms", io_ms);
			goto fail_free;
		}
		if (len + 1 == cap) {
			if (cap >= ADMIN_REPLY_MAX) {
				rc = -E2BIG;
				snprintf(why, why_cap, "reply larger than %u bytes",
					 ADMIN_REPLY_MAX);
				goto fail_free;
			}
			char *nb = realloc(r->buf, cap * 2);
			if (!nb) {
				rc = -ENOMEM;
				snprintf(why, why_cap, "out of memory");
				goto fail_free;
			}
			r->buf = nb;
			cap *= 2;
		}
		ssize_t got = recv(fd, r->buf + len, cap - 1 - len, 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got < 0) {
			rc = -errno;
			snprintf(why, why_cap, "reading the reply: %s", strerror(-rc));
			goto fail_free;
		}
		if (got == 0)
			break;
		len += (size_t)got;
		deadline = mono_ms() + io_ms; /* progress: the bound is per read */
	}
	close(fd);
	r->buf[len] = '\0';
	if ((rc = parse_rsp(r, len)) < 0) {
		snprintf(why, why_cap,
			 rc == -EPROTO  ? "chunked reply (not supported)"
			 : rc == -EPIPE ? "reply cut short"
					: "not an HTTP reply (is this the admin port?)");
		rsp_free(r);
	}
	return rc;
fail_free:
	rsp_free(r);
fail_close:
	close(fd);
	return rc;
}

/* GET/POST @path and parse the body as JSON. Return the object (owned) or
 * NULL with @why set. A reply whose "error" is not null is returned too
 * (callers show the error); *@status gets the HTTP status. */
static json_t *http_json(const char *host, const char *method, const char *path, int io_ms,
			 int *status, char *why, size_t why_cap)
{
	struct http_rsp r;
	json_error_t je;

	if (http_req(host, method, path, io_ms, &r, why, why_cap) < 0)
		return NULL;
	*status = r.status;
	json_t *o = json_loadb(r.body, r.body_len, 0, &je);
	if (!o || !json_is_object(o)) {
		snprintf(why, why_cap, "HTTP %d, not a JSON object: %.120s", r.status, r.body);
		json_decref(o);
		o = NULL;
	}
	rsp_free(&r);
	return o;
}

/* The "error" text of an admin reply, or NULL when it is null/absent. */
static const char *reply_error(const json_t *o)
{
	const json_t *e = json_object_get(o, "error");
	return json_is_string(e) ? json_string_value(e) : NULL;
}

/* Split --server (admin addresses) into @hosts; return the count. */
static int admin_hosts(const struct tern_cli *ctx, char *list, size_t cap,
		       char *hosts[ADMIN_HOSTS_MAX])
{
	TN_ASSERT(ctx && ctx->server && cap > 0);
	const char *src = strcmp(ctx->server, TERN_SERVER_DEFAULT) ? ctx->server : ADMIN_DEFAULT;
	int n = 0;
	char *save = NULL;
	snprintf(list, cap, "%s", src);
	list[strcspn(list, "/")] = '\0'; /* a chroot suffix does not apply */
	for (char *h = strtok_r(list, ",", &save); h && n < ADMIN_HOSTS_MAX;
	     h = strtok_r(NULL, ",", &save))
		hosts[n++] = h;
	return n;
}

static void err_line(struct tern_cli *ctx, const char *host, const char *why)
{
	if (ctx->json) {
		json_t *o = json_pack("{s:s, s:b, s:s}", "server", host, "up", 0, "error", why);
		char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
		fprintf(stderr, "%s\n", s ? s : why);
		free(s);
		json_decref(o);
		return;
	}
	fprintf(stderr, "tern: %s: %s\n", host, why);
}

/* ---- tern admin CMD [k=v...] ---- */

/* Append @s to @out percent-encoded (RFC 3986 unreserved bytes kept). */
static size_t url_enc(char *out, size_t cap, size_t at, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s && at + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[at++] = (char)c;
		} else {
			out[at++] = '%';
			out[at++] = hex[c >> 4];
			out[at++] = hex[c & 15];
		}
	}
	out[at] = '\0';
	return at;
}

static int cmd_admin(int argc, char **argv, struct tern_cli *ctx)
{
	char list[ADMIN_LIST_MAX], path[ADMIN_REQ_MAX / 2], why[512];
	char *hosts[ADMIN_HOSTS_MAX];
	int bad = 0;

	if (argc < 2)
		return tern_cli_usage(ctx, "which command? (tern admin commands lists them)");
	if (!strcmp(argv[1], "commands"))
		snprintf(path, sizeof(path), "/commands");
	else
		url_enc(path, sizeof(path), (size_t)snprintf(path, sizeof(path), "/commands/"),
			argv[1]);
	for (int i = 2; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		size_t at = strlen(path);
		if (!eq || eq == argv[i])
			return tern_cli_usage(ctx, "parameters are key=value");
		if (at + 2 >= sizeof(path))
			return tern_cli_usage(ctx, "parameters too long");
		path[at++] = i == 2 ? '?' : '&';
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		at = url_enc(path, sizeof(path), at, key);
		if (at + 2 >= sizeof(path))
			return tern_cli_usage(ctx, "parameters too long");
		path[at++] = '=';
		url_enc(path, sizeof(path), at, eq + 1);
	}
	bool post = !strcmp(argv[1], "snapshot");
	int n = admin_hosts(ctx, list, sizeof(list), hosts);
	for (int i = 0; i < n; i++) {
		int status = 0;
		json_t *o =
		    http_json(hosts[i], post ? "POST" : "GET", path,
			      post ? ADMIN_SNAP_IO_MS : ADMIN_IO_MS, &status, why, sizeof(why));
		if (!o) {
			err_line(ctx, hosts[i], why);
			bad++;
			continue;
		}
		if (n > 1 && !ctx->json)
			printf("# %s\n", hosts[i]);
		char *s =
		    json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
		printf("%s\n", s ? s : "null");
		free(s);
		if (reply_error(o) || status >= 400) {
			fprintf(stderr, "tern: %s: %s (HTTP %d)\n", hosts[i],
				reply_error(o) ? reply_error(o) : "request failed", status);
			bad++;
		}
		json_decref(o);
	}
	return bad ? TERN_EXIT_ZK : TERN_EXIT_OK;
}

static const struct tern_cmd admin_cmd = {
    "admin", "admin CMD [KEY=VALUE...]",
    "run an admin server command (--server H:ADMINPORT; 'commands' lists them)", cmd_admin};
TERN_CLI_REGISTER(admin_cmd)

/* ---- tern snapshot ---- */

static int cmd_snapshot(int argc, char **argv, struct tern_cli *ctx)
{
	char list[ADMIN_LIST_MAX], why[512];
	char *hosts[ADMIN_HOSTS_MAX];
	int bad = 0;

	(void)argv;
	if (argc > 1)
		return tern_cli_usage(ctx,
				      "snapshot takes no arguments (use --server H:ADMINPORT)");
	int n = admin_hosts(ctx, list, sizeof(list), hosts);
	json_t *all = json_array();
	for (int i = 0; i < n; i++) {
		int status = 0, cst = 0;
		json_t *o = http_json(hosts[i], "POST", "/commands/snapshot", ADMIN_SNAP_IO_MS,
				      &status, why, sizeof(why));
		if (o && (reply_error(o) || status >= 400)) {
			snprintf(why, sizeof(why), "snapshot refused: %s (HTTP %d)",
				 reply_error(o) ? reply_error(o) : "?", status);
			json_decref(o);
			o = NULL;
		}
		if (!o) {
			err_line(ctx, hosts[i], why);
			bad++;
			continue;
		}
		const char *zx = json_string_value(json_object_get(o, "zxid"));
		json_int_t ms = json_integer_value(json_object_get(o, "elapsed_ms"));
		uint64_t z = zx ? strtoull(zx, NULL, 16) : 0;
		/* where it went: the configuration's data_dir (".../version-2") */
		json_t *conf = http_json(hosts[i], "GET", "/commands/configuration", ADMIN_IO_MS,
					 &cst, why, sizeof(why));
		const char *dir =
		    conf ? json_string_value(json_object_get(conf, "data_dir")) : NULL;
		char file[4200];
		snprintf(file, sizeof(file), "%s/snapshot.%016" PRIx64, dir ? dir : "?", z);
		if (ctx->json) {
			json_array_append_new(all, json_pack("{s:s, s:s, s:s, s:I}", "server",
							     hosts[i], "zxid", zx ? zx : "", "file",
							     file, "elapsed_ms", ms));
		} else {
			printf("%-22s snapshot zxid=%s file=%s (%" JSON_INTEGER_FORMAT " ms)\n",
			       hosts[i], zx ? zx : "?", file, ms);
		}
		json_decref(conf);
		json_decref(o);
	}
	if (ctx->json) {
		char *s =
		    json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
		printf("%s\n", s ? s : "[]");
		free(s);
	}
	json_decref(all);
	return bad ? TERN_EXIT_ZK : TERN_EXIT_OK;
}

static const struct tern_cmd snapshot_cmd = {
    "snapshot", "snapshot", "take a snapshot now on each server (--server H:ADMINPORT,...)",
    cmd_snapshot};
TERN_CLI_REGISTER(snapshot_cmd)

/* ---- tern metrics ---- */

/* The value of the unlabelled sample @name in Prometheus text @t (NAN: absent). */
static double prom_get(const char *t, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = t; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (*p == '#' || strncmp(p, name, nl) != 0 || p[nl] != ' ')
			continue;
		return strtod(p + nl + 1, NULL);
	}
	return (double)NAN;
}

/* As prom_get, for an integer sample printed exactly (a zxid needs all 64
 * bits; a double keeps 53). Return false when absent. */
static bool prom_get_u64(const char *t, const char *name, uint64_t *out)
{
	size_t nl = strlen(name);
	for (const char *p = t; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (*p == '#' || strncmp(p, name, nl) != 0 || p[nl] != ' ')
			continue;
		*out = strtoull(p + nl + 1, NULL, 10);
		return true;
	}
	return false;
}

/* The upper bound (ms) of the bucket holding the 99th percentile of the
 * histogram @name (buckets in ascending order, as Prometheus writes them);
 * NAN when empty, absent, or only in +Inf. */
static double hist_p99_ms(const char *t, const char *name)
{
	char bn[128], cn[128];
	snprintf(bn, sizeof(bn), "%s_bucket{le=\"", name);
	snprintf(cn, sizeof(cn), "%s_count", name);
	double count = prom_get(t, cn);
	if (isnan(count) || count <= 0)
		return (double)NAN;
	double want = ceil(count * 0.99);
	size_t bl = strlen(bn);
	for (const char *p = t; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, bn, bl) != 0 || !strncmp(p + bl, "+Inf", 4))
			continue;
		char *end;
		double le = strtod(p + bl, &end);
		if (strncmp(end, "\"} ", 3) != 0)
			continue;
		if (strtod(end + 3, NULL) >= want)
			return le * 1000.0;
	}
	return (double)NAN;
}

/* Each sample of @name with labels: @fn(label text inside {}, value). */
static void prom_each(const char *t, const char *name, json_t *acc,
		      void (*fn)(json_t *acc, const char *labels, size_t llen, double v))
{
	size_t nl = strlen(name);
	for (const char *p = t; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (*p == '#' || strncmp(p, name, nl) != 0 || p[nl] != '{')
			continue;
		const char *lb = p + nl + 1, *rb = strchr(lb, '}');
		const char *eol = strchr(lb, '\n');
		if (!rb || (eol && rb > eol))
			continue;
		fn(acc, lb, (size_t)(rb - lb), strtod(rb + 1, NULL));
	}
}

/* The value of label @key in @labels ("a=\"1\",b=\"x\"") into @out. */
static bool label(const char *labels, size_t llen, const char *key, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "%s=\"", key);
	for (const char *p = labels; p && p < labels + llen;
	     p = strchr(p, ','), p = p ? p + 1 : NULL) {
		if (strncmp(p, pat, strlen(pat)) != 0)
			continue;
		const char *v = p + strlen(pat), *q = strchr(v, '"');
		if (!q || q > labels + llen)
			return false;
		snprintf(out, cap, "%.*s", (int)(q - v), v);
		return true;
	}
	return false;
}

static void num(json_t *o, const char *k, double v)
{
	if (isnan(v))
		return;                      /* absent */
	if (fabs(v) < 9e15 && v == floor(v)) /* exact in a double: an integer */
		json_object_set_new(o, k, json_integer((json_int_t)v));
	else
		json_object_set_new(o, k, json_real(v));
}

/* Per worker: {"worker": i, "reads": n, "writes": n, ...} by label. */
static void worker_sample(json_t *acc, const char *labels, size_t llen, double v, const char *field)
{
	char w[16];
	if (!label(labels, llen, "worker", w, sizeof(w)))
		return;
	json_int_t id = strtoll(w, NULL, 10);
	json_t *e = NULL;
	size_t i;
	for (i = 0; i < json_array_size(acc); i++) {
		e = json_array_get(acc, i);
		if (json_integer_value(json_object_get(e, "worker")) == id)
			break;
	}
	if (i == json_array_size(acc)) {
		e = json_pack("{s:I}", "worker", id);
		json_array_append_new(acc, e);
	}
	num(e, field, v);
}

static void w_reads(json_t *a, const char *l, size_t n, double v)
{
	worker_sample(a, l, n, v, "reads");
}
static void w_writes(json_t *a, const char *l, size_t n, double v)
{
	worker_sample(a, l, n, v, "writes");
}
static void w_ring(json_t *a, const char *l, size_t n, double v)
{
	worker_sample(a, l, n, v, "ring_depth");
}
static void w_ring_max(json_t *a, const char *l, size_t n, double v)
{
	worker_sample(a, l, n, v, "ring_depth_max");
}

/* One server's summary as JSON, from /metrics and the leader command. */
static json_t *summary(const char *host, const char *prom, const json_t *mntr, const json_t *lead)
{
	json_t *o = json_object(), *wk = json_array();
	const char *mode = json_string_value(json_object_get(mntr, "server_state"));
	double v;

	json_object_set_new(o, "server", json_string(host));
	json_object_set_new(o, "up", json_true());
	json_object_set_new(o, "mode", json_string(mode ? mode : "?"));
	json_object_set_new(o, "serving", json_boolean(prom_get(prom, "tern_serving") == 1.0));
	uint64_t zxid;
	if (prom_get_u64(prom, "tern_last_zxid", &zxid)) {
		char z[24];
		snprintf(z, sizeof(z), "0x%" PRIx64, zxid);
		json_object_set_new(o, "zxid", json_string(z));
	}
	num(o, "znode_count", prom_get(prom, "znode_count"));
	num(o, "watch_count", prom_get(prom, "watch_count"));
	num(o, "sessions", prom_get(prom, "global_sessions"));
	num(o, "connections", prom_get(prom, "num_alive_connections"));
	num(o, "outstanding_requests", prom_get(prom, "outstanding_requests"));
	num(o, "avg_latency_ms", prom_get(prom, "avg_latency"));
	num(o, "max_latency_ms", prom_get(prom, "max_latency"));
	double fs = prom_get(prom, "fsynctime_sum"), fc = prom_get(prom, "fsynctime_count");
	if (!isnan(fc) && fc > 0)
		num(o, "fsync_avg_ms", (double)(int64_t)(fs / fc * 1000.0 + 0.5) / 1000.0);
	v = prom_get(prom, "tern_wal_fsync_seconds_max");
	if (!isnan(v))
		num(o, "fsync_max_ms", (double)(int64_t)(v * 1e6 + 0.5) / 1000.0);
	/* an upper bound: the histogram's bucket that holds the 99th percentile */
	num(o, "fsync_p99_ms_le", hist_p99_ms(prom, "tern_wal_fsync_duration_seconds"));
	num(o, "wal_batch_avg", prom_get(prom, "tern_wal_batch_records_avg"));
	num(o, "wal_batch_max", prom_get(prom, "tern_wal_batch_records_max"));
	num(o, "proposals_in_flight", prom_get(prom, "tern_zab_inflight"));
	num(o, "ctl_ring_depth", prom_get(prom, "tern_ctl_ring_depth"));
	num(o, "ctl_ring_depth_max", prom_get(prom, "tern_ctl_ring_depth_max"));
	prom_each(prom, "tern_worker_reads_total", wk, w_reads);
	prom_each(prom, "tern_worker_writes_total", wk, w_writes);
	prom_each(prom, "tern_worker_ring_depth", wk, w_ring);
	prom_each(prom, "tern_worker_ring_depth_max", wk, w_ring_max);
	json_object_set_new(o, "workers", wk);
	json_t *peers = lead ? json_object_get(lead, "peers") : NULL;
	json_object_set_new(o, "peers",
			    json_is_array(peers) ? json_deep_copy(peers) : json_array());
	return o;
}

static void summary_print(const json_t *s)
{
	const char *z = json_string_value(json_object_get(s, "zxid"));
	printf("%-22s %-10s zxid=%s znodes=%" JSON_INTEGER_FORMAT " watches=%" JSON_INTEGER_FORMAT
	       " sessions=%" JSON_INTEGER_FORMAT " outstanding=%" JSON_INTEGER_FORMAT "\n",
	       json_string_value(json_object_get(s, "server")),
	       json_string_value(json_object_get(s, "mode")), z ? z : "?",
	       json_integer_value(json_object_get(s, "znode_count")),
	       json_integer_value(json_object_get(s, "watch_count")),
	       json_integer_value(json_object_get(s, "sessions")),
	       json_integer_value(json_object_get(s, "outstanding_requests")));
	printf("%-22s latency avg/max=%.4g/%" JSON_INTEGER_FORMAT " ms", "",
	       json_number_value(json_object_get(s, "avg_latency_ms")),
	       json_integer_value(json_object_get(s, "max_latency_ms")));
	if (json_object_get(s, "fsync_avg_ms"))
		printf("  fsync avg/max=%.3f/%.3f ms",
		       json_number_value(json_object_get(s, "fsync_avg_ms")),
		       json_number_value(json_object_get(s, "fsync_max_ms")));
	if (json_object_get(s, "fsync_p99_ms_le"))
		printf(" p99<=%.3f ms", json_number_value(json_object_get(s, "fsync_p99_ms_le")));
	printf("  batch avg/max=%.4g/%" JSON_INTEGER_FORMAT,
	       json_number_value(json_object_get(s, "wal_batch_avg")),
	       json_integer_value(json_object_get(s, "wal_batch_max")));
	if (json_object_get(s, "proposals_in_flight"))
		printf("  inflight=%" JSON_INTEGER_FORMAT,
		       json_integer_value(json_object_get(s, "proposals_in_flight")));
	printf("  ctl ring=%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "\n",
	       json_integer_value(json_object_get(s, "ctl_ring_depth")),
	       json_integer_value(json_object_get(s, "ctl_ring_depth_max")));
	size_t i;
	json_t *e;
	const json_t *wk = json_object_get(s, "workers"), *peers = json_object_get(s, "peers");
	for (i = 0; i < json_array_size(wk); i++) {
		e = json_array_get(wk, i);
		printf("%-22s worker %" JSON_INTEGER_FORMAT ": reads=%" JSON_INTEGER_FORMAT
		       " writes=%" JSON_INTEGER_FORMAT " ring=%" JSON_INTEGER_FORMAT
		       "/%" JSON_INTEGER_FORMAT "\n",
		       "", json_integer_value(json_object_get(e, "worker")),
		       json_integer_value(json_object_get(e, "reads")),
		       json_integer_value(json_object_get(e, "writes")),
		       json_integer_value(json_object_get(e, "ring_depth")),
		       json_integer_value(json_object_get(e, "ring_depth_max")));
	}
	for (i = 0; i < json_array_size(peers); i++) {
		e = json_array_get(peers, i);
		const char *pz = json_string_value(json_object_get(e, "zxid"));
		printf(
		    "%-22s peer %" JSON_INTEGER_FORMAT " (%s)%s: zxid=%s lag=%" JSON_INTEGER_FORMAT
		    " txns %" JSON_INTEGER_FORMAT " ms%s\n",
		    "", json_integer_value(json_object_get(e, "sid")),
		    json_string_value(json_object_get(e, "type")),
		    json_is_true(json_object_get(e, "synced")) ? "" : " not synced", pz ? pz : "?",
		    json_integer_value(json_object_get(e, "lag_txns")),
		    json_integer_value(json_object_get(e, "lag_ms")),
		    json_is_false(json_object_get(e, "lag_live")) ? " (as of its last PONG)" : "");
	}
}

static int cmd_metrics(int argc, char **argv, struct tern_cli *ctx)
{
	char list[ADMIN_LIST_MAX], why[512];
	char *hosts[ADMIN_HOSTS_MAX];
	bool raw = false;
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--raw"))
			raw = true;
		else
			return tern_cli_usage(ctx, "unknown option");
	}
	int n = admin_hosts(ctx, list, sizeof(list), hosts);
	json_t *all = json_array();
	for (int i = 0; i < n; i++) {
		struct http_rsp r;
		int st = 0;
		if (http_req(hosts[i], "GET", "/metrics", ADMIN_IO_MS, &r, why, sizeof(why)) < 0) {
			err_line(ctx, hosts[i], why);
			bad++;
			continue;
		}
		if (r.status != 200) {
			snprintf(why, sizeof(why), "/metrics answered HTTP %d", r.status);
			err_line(ctx, hosts[i], why);
			rsp_free(&r);
			bad++;
			continue;
		}
		if (raw) {
			if (n > 1)
				printf("# server %s\n", hosts[i]);
			fwrite(r.body, 1, r.body_len, stdout);
			rsp_free(&r);
			continue;
		}
		json_t *mntr = http_json(hosts[i], "GET", "/commands/monitor", ADMIN_IO_MS, &st,
					 why, sizeof(why));
		json_t *lead = http_json(hosts[i], "GET", "/commands/leader", ADMIN_IO_MS, &st, why,
					 sizeof(why));
		json_t *s = summary(hosts[i], r.body, mntr, lead);
		if (ctx->json)
			json_array_append(all, s);
		else
			summary_print(s);
		json_decref(s);
		json_decref(lead);
		json_decref(mntr);
		rsp_free(&r);
	}
	if (ctx->json && !raw) {
		char *s =
		    json_dumps(all, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
		printf("%s\n", s ? s : "[]");
		free(s);
	}
	json_decref(all);
	return bad ? TERN_EXIT_ZK : TERN_EXIT_OK;
}

static const struct tern_cmd metrics_cmd = {
    "metrics", "metrics [--raw]",
    "summary of /metrics per server: zxid, znodes, latency, fsync, lag (--server H:ADMINPORT,...)",
    cmd_metrics};
TERN_CLI_REGISTER(metrics_cmd)
