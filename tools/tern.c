/* tools/tern.c: the `tern` CLI's main, command table, shared helpers and
 * `tern status`. The znode commands are in tern_cmds.c; the recipe commands
 * register themselves the same way (tools/tern_cli.h).
 *
 *   tern [--server H:P,...] [--json] [--auth scheme:cred] [--timeout MS] CMD ARGS...
 *
 * Exit codes: 0 ok, 1 a ZooKeeper error (the message names it: NoNode, ...)
 * or a server that is down (status), 2 usage.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"
#include "tools/tern_cli.h"

#define STATUS_IO_MS 3000      /* per server: connect + one four-letter word */
#define STATUS_REPLY_MAX 65536 /* bytes kept of one four-letter word's answer */

static const struct tern_cmd *cmds[TERN_CLI_CMDS_MAX];
static int ncmds;
static volatile sig_atomic_t interrupted;

void tern_cli_register(const struct tern_cmd *cmd)
{
	TN_ASSERT(cmd && cmd->name && cmd->fn);
	TN_ASSERT(ncmds < TERN_CLI_CMDS_MAX);
	cmds[ncmds++] = cmd;
}

bool tern_cli_interrupted(void)
{
	return interrupted != 0;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- JSON ---- */

/* Length of the UTF-8 sequence at @s (at most @n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t k = s[0] < 0x80         ? 1
		   : (s[0] >> 5) == 6  ? 2
		   : (s[0] >> 4) == 14 ? 3
		   : (s[0] >> 3) == 30 ? 4
				       : 0;
	if (k == 0 || k > n || (k == 2 && s[0] < 0xc2))
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return k;
}

void tern_json_str(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned char ch = p[i];
		size_t k = utf8_len(p + i, len - i);
		if (ch == '"' || ch == '\\') {
			fprintf(f, "\\%c", ch);
		} else if (ch == '\n') {
			fputs("\\n", f);
		} else if (ch == '\t') {
			fputs("\\t", f);
		} else if (ch < 0x20 || ch == 0x7f || k == 0) {
			fprintf(f, "\\u%04x", ch);
		} else {
			fwrite(p + i, 1, k, f);
			i += k;
			continue;
		}
		i++;
	}
	fputc('"', f);
}

void tern_json_stat(FILE *f, const struct zstat *st)
{
	fprintf(f,
		"{\"czxid\":%lld,\"mzxid\":%lld,\"pzxid\":%lld,\"ctime\":%lld,\"mtime\":%lld,"
		"\"version\":%d,\"cversion\":%d,\"aversion\":%d,\"ephemeralOwner\":%lld,"
		"\"dataLength\":%d,\"numChildren\":%d}",
		(long long)st->czxid, (long long)st->mzxid, (long long)st->pzxid,
		(long long)st->ctime, (long long)st->mtime, st->version, st->cversion, st->aversion,
		(long long)st->ephemeral_owner, st->data_length, st->num_children);
}

/* ---- shared helpers ---- */

static const char *err_text(int err)
{
	switch (err) {
	case ZK_ENONODE:
		return "node does not exist";
	case ZK_ENODEEXISTS:
		return "node already exists";
	case ZK_ENOTEMPTY:
		return "node has children";
	case ZK_EBADVERSION:
		return "version does not match";
	case ZK_ENOAUTH:
		return "not authorized";
	case ZK_EAUTHFAILED:
		return "authentication failed";
	case ZK_EINVALIDACL:
		return "invalid ACL";
	case ZK_ECONNECTIONLOSS:
		return "connection lost";
	case ZK_EOPERATIONTIMEOUT:
		return "no answer in time";
	case ZK_ENOCHILDRENFOREPHEMERALS:
		return "ephemeral nodes cannot have children";
	case ZK_EBADARGUMENTS:
		return "bad arguments";
	case ZK_EUNIMPLEMENTED:
		return "not supported by the server";
	case ZK_ESESSIONEXPIRED:
		return "session expired";
	default:
		return "ZooKeeper error";
	}
}

int tern_cli_zkerr(struct tern_cli *ctx, const char *what, const char *path, int err)
{
	if (ctx->json) {
		fprintf(stderr, "{\"error\":\"%s\",\"code\":%d,\"op\":", ternc_strerror(err), err);
		tern_json_str(stderr, what, strlen(what));
		if (path) {
			fputs(",\"path\":", stderr);
			tern_json_str(stderr, path, strlen(path));
		}
		fputs("}\n", stderr);
	} else {
		fprintf(stderr, "tern: %s%s%s: %s (%s)\n", what, path ? " " : "", path ? path : "",
			ternc_strerror(err), err_text(err));
	}
	return TERN_EXIT_ZK;
}

int tern_cli_usage(struct tern_cli *ctx, const char *why)
{
	if (why)
		fprintf(stderr, "tern: %s\n", why);
	if (ctx->cmd)
		fprintf(stderr, "usage: tern %s\n", ctx->cmd->usage);
	else
		fprintf(stderr, "usage: tern [OPTIONS] COMMAND ARGS... (tern --help)\n");
	return TERN_EXIT_USAGE;
}

static int send_auths(struct tern_cli *ctx)
{
	for (int i = 0; i < ctx->nauth; i++) {
		const char *a = ctx->auth[i];
		const char *colon = strchr(a, ':');
		char scheme[64];
		size_t sl = colon ? (size_t)(colon - a) : 0;
		if (!colon || sl == 0 || sl >= sizeof(scheme)) {
			fprintf(stderr,
				"tern: --auth wants scheme:credential, e.g. digest:user:pass\n");
			return TERN_EXIT_USAGE;
		}
		memcpy(scheme, a, sl);
		scheme[sl] = '\0';
		int rc =
		    ternc_add_auth_sync(ctx->zk, scheme, colon + 1, (int32_t)strlen(colon + 1));
		if (rc != ZK_OK)
			return tern_cli_zkerr(ctx, "addauth", NULL, rc);
	}
	return TERN_EXIT_OK;
}

int tern_cli_session(struct tern_cli *ctx, struct ternc **out)
{
	if (ctx->zk) {
		*out = ctx->zk;
		return TERN_EXIT_OK;
	}
	int rc = ternc_loop_new(&ctx->loop);
	if (rc < 0) {
		fprintf(stderr, "tern: %s\n", strerror(-rc));
		return TERN_EXIT_ZK;
	}
	if (ctx->dpdk.port) {
		const char *bad = NULL;
		tn_log_set_level(TN_LOG_WARN); /* the port's start-up notes are not output */
		rc = ternc_loop_dpdk(ctx->loop, &ctx->dpdk, &bad);
		if (rc == -EINVAL && bad) {
			fprintf(stderr, "tern: bad --dpdk-%s\n", strcmp(bad, "dev") ? bad : "port");
			return TERN_EXIT_USAGE;
		}
		if (rc < 0) {
			fprintf(stderr, "tern: cannot open DPDK port %s: %s\n", ctx->dpdk.port,
				rc == -ENOTSUP ? "this tern was built without DPDK" : strerror(-rc));
			return TERN_EXIT_ZK;
		}
	}
	struct ternc_cfg cfg = {.hosts = ctx->server, .session_timeout_ms = ctx->timeout_ms,
				.transport = ctx->transport};
	rc = ternc_open_sync(ctx->loop, &cfg, -1, &ctx->zk);
	if (rc == ZK_EBADARGUMENTS) {
		fprintf(stderr, "tern: cannot use server list '%s'\n", ctx->server);
		return TERN_EXIT_USAGE;
	}
	if (rc != ZK_OK) {
		if (!ctx->json)
			fprintf(stderr, "tern: cannot connect to %s: %s\n", ctx->server,
				rc == ZK_EOPERATIONTIMEOUT ? "no server answered in time"
							   : ternc_strerror(rc));
		else
			tern_cli_zkerr(ctx, "connect", NULL, rc);
		return TERN_EXIT_ZK;
	}
	rc = send_auths(ctx);
	if (rc == TERN_EXIT_OK)
		*out = ctx->zk;
	return rc;
}

/* ---- tern status ---- */

/* Send @word to @host ("h:p") and read the answer until EOF into @buf.
 * Return: bytes read (>= 0), or -errno with @why set. */
static int fourlw(const char *host, const char *word, char *buf, size_t cap, const char **why)
{
	char h[256];
	snprintf(h, sizeof(h), "%s", host);
	char *colon = strrchr(h, ':');
	const char *port = "2181";
	if (colon) {
		*colon = '\0';
		port = colon + 1;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	if (getaddrinfo(h, port, &hints, &ai) != 0 || !ai) {
		*why = "cannot resolve host";
		return -ENOENT;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = fd < 0 ? -errno : 0;
	if (rc == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		rc = -errno;
	freeaddrinfo(ai);
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	if (rc == 0 && poll(&pfd, 1, STATUS_IO_MS) != 1)
		rc = -ETIMEDOUT;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
		rc = -soerr;
	if (rc == 0 && send(fd, word, strlen(word), MSG_NOSIGNAL) != (ssize_t)strlen(word))
		rc = -EIO;
	size_t len = 0;
	pfd.events = POLLIN;
	while (rc == 0 && len + 1 < cap && poll(&pfd, 1, STATUS_IO_MS) == 1) {
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	buf[len] = '\0';
	if (rc < 0)
		*why = strerror(-rc);
	return rc < 0 ? rc : (int)len;
}

/* The value after "@key" on its line of @text into @out ("" if absent). */
static void field(const char *text, const char *key, char *out, size_t cap)
{
	const char *p = strstr(text, key);
	out[0] = '\0';
	if (!p)
		return;
	p += strlen(key);
	while (*p == ' ' || *p == '\t' || *p == ':')
		p++;
	size_t n = strcspn(p, "\r\n");
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

struct srv_status {
	char mode[32], zxid[32], latency[64], conns[16], znodes[24], outstanding[16], watches[16];
};

static void status_parse(const char *srvr, const char *mntr, struct srv_status *s)
{
	field(srvr, "\nMode", s->mode, sizeof(s->mode));
	field(srvr, "\nZxid", s->zxid, sizeof(s->zxid));
	field(srvr, "Latency min/avg/max", s->latency, sizeof(s->latency));
	field(srvr, "\nConnections", s->conns, sizeof(s->conns));
	field(srvr, "\nNode count", s->znodes, sizeof(s->znodes));
	field(srvr, "\nOutstanding", s->outstanding, sizeof(s->outstanding));
	field(mntr, "zk_watch_count", s->watches, sizeof(s->watches));
	if (!s->mode[0])
		field(mntr, "zk_server_state", s->mode, sizeof(s->mode));
	if (!s->znodes[0])
		field(mntr, "zk_znode_count", s->znodes, sizeof(s->znodes));
	if (!s->conns[0])
		field(mntr, "zk_num_alive_connections", s->conns, sizeof(s->conns));
}

static void status_print(struct tern_cli *ctx, const char *host, const struct srv_status *s,
			 const char *err, bool first)
{
	if (ctx->json) {
		fputs(first ? "[" : ",", stdout);
		fputs("{\"server\":", stdout);
		tern_json_str(stdout, host, strlen(host));
		fprintf(stdout, ",\"up\":%s", err ? "false" : "true");
		if (err) {
			fputs(",\"error\":", stdout);
			tern_json_str(stdout, err, strlen(err));
		} else {
			const char *k[] = {"mode",   "zxid",        "latency", "connections",
					   "znodes", "outstanding", "watches"};
			const char *v[] = {s->mode,   s->zxid,        s->latency, s->conns,
					   s->znodes, s->outstanding, s->watches};
			for (size_t i = 0; i < TN_ARRAY_LEN(k); i++) {
				fprintf(stdout, ",\"%s\":", k[i]);
				tern_json_str(stdout, v[i], strlen(v[i]));
			}
		}
		fputs("}", stdout);
		return;
	}
	if (err) {
		printf("%-22s DOWN  %s\n", host, err);
		return;
	}
	printf("%-22s up    mode=%s zxid=%s latency(min/avg/max)=%s ms connections=%s znodes=%s"
	       " outstanding=%s%s%s\n",
	       host, s->mode[0] ? s->mode : "?", s->zxid[0] ? s->zxid : "?",
	       s->latency[0] ? s->latency : "?", s->conns[0] ? s->conns : "?",
	       s->znodes[0] ? s->znodes : "?", s->outstanding[0] ? s->outstanding : "?",
	       s->watches[0] ? " watches=" : "", s->watches);
}

static int cmd_status(int argc, char **argv, struct tern_cli *ctx)
{
	if (argc > 1)
		return tern_cli_usage(ctx, "status takes no arguments (use --server)");
	char list[4096];
	snprintf(list, sizeof(list), "%s", ctx->server);
	list[strcspn(list, "/")] = '\0'; /* a chroot does not matter here */
	static char srvr[STATUS_REPLY_MAX], mntr[STATUS_REPLY_MAX];
	int down = 0, n = 0;
	char *save = NULL;
	for (char *host = strtok_r(list, ",", &save); host; host = strtok_r(NULL, ",", &save)) {
		const char *why = NULL;
		struct srv_status s = {0};
		int rc = fourlw(host, "srvr", srvr, sizeof(srvr), &why);
		if (rc == 0)
			why = "no answer to srvr (is 4lw.commands.whitelist set?)";
		if (rc > 0 && fourlw(host, "mntr", mntr, sizeof(mntr), &why) < 0)
			mntr[0] = '\0';
		if (rc > 0 && strstr(srvr, "not currently serving"))
			why = "not currently serving requests";
		else if (rc > 0)
			why = NULL;
		if (rc > 0)
			status_parse(srvr, mntr, &s);
		down += why != NULL;
		status_print(ctx, host, &s, why, n++ == 0);
	}
	if (ctx->json)
		fputs(n ? "]\n" : "[]\n", stdout);
	return down ? TERN_EXIT_ZK : TERN_EXIT_OK;
}

static const struct tern_cmd status_cmd = {
    "status", "status", "mode, zxid, latency, connections, znodes of every server (srvr/mntr)",
    cmd_status};
TERN_CLI_REGISTER(status_cmd)

/* ---- main ---- */

static int cmd_order(const void *a, const void *b)
{
	return strcmp((*(const struct tern_cmd *const *)a)->name,
		      (*(const struct tern_cmd *const *)b)->name);
}

static void help(FILE *f)
{
	qsort(cmds, (size_t)ncmds, sizeof(cmds[0]), cmd_order);
	fprintf(
	    f,
	    "usage: tern [OPTIONS] COMMAND ARGS...\n\n"
	    "options (before any \"--\"):\n"
	    "  --server H:P[,H:P...][/chroot]  ensemble (default $TERN_SERVER or %s)\n"
	    "  --json                          machine-readable output\n"
	    "  --auth SCHEME:CRED              addauth, e.g. --auth digest:user:pass\n"
	    "  --timeout MS                    session timeout (default 10000)\n"
	    "  --transport tcp|udp             udp: tern's native datagram protocol (ternd only)\n"
	    "  --dpdk-port DEV --dpdk-ip A.B.C.D [--dpdk-netmask M] [--dpdk-gateway G]\n"
	    "  [--dpdk-eal \"ARGS\"]              udp through a DPDK port of our own (PCI or vdev)\n"
	    "  --help                          this text; tern COMMAND --help for one command\n\n"
	    "commands:\n",
	    TERN_SERVER_DEFAULT);
	for (int i = 0; i < ncmds; i++)
		fprintf(f, "  %-38s %s\n", cmds[i]->usage, cmds[i]->summary);
	fprintf(f, "\nexit status: 0 ok, 1 ZooKeeper error or server down, 2 usage\n");
}

static const struct tern_cmd *find_cmd(const char *name)
{
	for (int i = 0; i < ncmds; i++)
		if (strcmp(cmds[i]->name, name) == 0)
			return cmds[i];
	return NULL;
}

/* The field of @d that --dpdk-@name sets, or NULL. */
static const char **dpdk_opt(struct ternc_dpdk_cfg *d, const char *name)
{
	return strcmp(name, "port") == 0      ? &d->port
	       : strcmp(name, "ip") == 0      ? &d->ip
	       : strcmp(name, "netmask") == 0 ? &d->netmask
	       : strcmp(name, "gateway") == 0 ? &d->gateway
	       : strcmp(name, "eal") == 0     ? &d->eal
					      : NULL;
}

/* Take the global options out of @argv (before any "--"); return the new argc,
 * -1 on a usage error. */
static int global_opts(struct tern_cli *ctx, int argc, char **argv, bool *want_help)
{
	int out = 1;
	bool rest = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (rest || strcmp(a, "--") == 0) {
			rest = true;
			argv[out++] = argv[i];
		} else if (strcmp(a, "--json") == 0) {
			ctx->json = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			*want_help = true;
		} else if (strcmp(a, "--server") == 0 && has_val) {
			ctx->server = argv[++i];
		} else if (strcmp(a, "--timeout") == 0 && has_val) {
			ctx->timeout_ms = atoi(argv[++i]);
			if (ctx->timeout_ms <= 0)
				return -1;
		} else if (strcmp(a, "--transport") == 0 && has_val) {
			const char *t = argv[++i];
			if (strcmp(t, "udp") != 0 && strcmp(t, "tcp") != 0)
				return -1;
			ctx->transport = strcmp(t, "udp") == 0 ? TERNC_UDP : TERNC_TCP;
			ctx->transport_set = true;
		} else if (strncmp(a, "--dpdk-", 7) == 0 && has_val) {
			const char **slot = dpdk_opt(&ctx->dpdk, a + 7);
			if (!slot)
				return -1;
			*slot = argv[++i];
		} else if (strcmp(a, "--auth") == 0 && has_val) {
			if (ctx->nauth >= TERN_CLI_AUTH_MAX)
				return -1;
			ctx->auth[ctx->nauth++] = argv[++i];
		} else if (strcmp(a, "--server") == 0 || strcmp(a, "--timeout") == 0 ||
			   strcmp(a, "--auth") == 0 || strcmp(a, "--transport") == 0 ||
			   strncmp(a, "--dpdk-", 7) == 0) {
			return -1;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	if (ctx->dpdk.port || ctx->dpdk.ip || ctx->dpdk.eal || ctx->dpdk.netmask ||
	    ctx->dpdk.gateway) {
		/* DPDK carries the datagram protocol: it implies --transport udp */
		if (!ctx->dpdk.port || !ctx->dpdk.ip ||
		    (ctx->transport_set && ctx->transport != TERNC_UDP))
			return -1;
		ctx->transport = TERNC_UDP;
	}
	return out;
}

int main(int argc, char **argv)
{
	struct tern_cli ctx = {.timeout_ms = TERNC_TIMEOUT_MS_DEFAULT};
	const char *env = getenv("TERN_SERVER");
	ctx.server = env && *env ? env : TERN_SERVER_DEFAULT;
	bool want_help = false;
	argc = global_opts(&ctx, argc, argv, &want_help);
	if (argc < 0)
		return tern_cli_usage(&ctx, "bad global option");
	if (argc < 2) {
		help(want_help ? stdout : stderr);
		return want_help ? TERN_EXIT_OK : TERN_EXIT_USAGE;
	}
	ctx.cmd = find_cmd(argv[1]);
	if (!ctx.cmd) {
		fprintf(stderr, "tern: unknown command '%s'\n", argv[1]);
		help(stderr);
		return TERN_EXIT_USAGE;
	}
	if (want_help) {
		printf("usage: tern %s\n  %s\n", ctx.cmd->usage, ctx.cmd->summary);
		return TERN_EXIT_OK;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = ctx.cmd->fn(argc - 1, argv + 1, &ctx);
	fflush(stdout);
	ternc_close(ctx.zk);
	ternc_loop_free(ctx.loop);
	return rc;
}
