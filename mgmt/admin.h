/* mgmt/admin.h: ZooKeeper four-letter-word replies, as text.
 *
 * A pure generator: the server fills a struct adm_info (plain fields and
 * caller-owned arrays; nothing here takes locks or does I/O) and adm_4lw()
 * writes the reply ZooKeeper 3.8/3.9 would write for the same state, byte for
 * byte where the state is the same. The connection is then closed by the caller.
 *
 * Formats (checked against Apache ZooKeeper 3.8.0, Debian's package):
 *   ruok  "imok" (no newline)
 *   srvr  "Zookeeper version: V\nLatency min/avg/max: a/b/c\nReceived: n\nSent: n\n
 *          Connections: n\nOutstanding: n\nZxid: 0x..\nMode: m\nNode count: n\n"
 *          (+ "Proposal sizes last/min/max: l/a/b\n" on a leader; tern adds
 *          "Force sync: no (fsync disabled)\n" when forceSync=no)
 *   stat  srvr's first line, "Clients:\n", one " /ip:port[ops](queued=,recved=,sent=)\n"
 *         per connection, "\n", then srvr's other lines
 *   cons  " /ip:port[ops](queued=,recved=,sent=,sid=0x..,lop=,est=,to=,lcxid=0x..,
 *          lzxid=0x..,lresp=,llat=,minlat=,avglat=,maxlat=)\n" each (short form when
 *          the connection has no session; no lcxid after crst), then "\n"
 *   mntr  "zk_key\tvalue\n" lines
 *   conf  clientPort=.. serverId= (+ quorum keys, "membership: \n", server.N, version=)
 *   envi  "Environment:\n" + key=value lines, zookeeper.version first
 *   wchs  "N connections watching P paths\nTotal watches:W\n"
 *   wchc  "0x<sid>\n\t<path>\n...\n"   wchp "<path>\n\t0x<sid>\n...\n"
 *   dirs  "datadir_size: N\nlogdir_size: N\n"    isro "rw" | "ro" | "null"
 *   dump, crst, srst, gtmk: see admin.c.
 * Avg latency is printed as java prints a double rounded to 4 places ("0.0", "3.2222").
 */
#ifndef TN_MGMT_ADMIN_H
#define TN_MGMT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/cfg.h"

#define ADM_ZK_VERSION "3.9.2-tern"  /* what clients see; kazoo parses "3.9.2" */
#define ADM_TERN_VERSION "0.1.0"     /* envi's tern.server line */
#define ADM_OUT_MAX (64u << 20)      /* largest reply (wchc on a big tree) */
#define ADM_ADDR_MAX 64
#define ADM_MEMBERS_MAX 32u         /* servers conf and the admin server list */

/* One client connection (cons, stat, dump). */
struct adm_conn {
	char addr[ADM_ADDR_MAX]; /* remote ip as text: "127.0.0.1" or "0:0:0:0:0:0:0:1" */
	uint16_t port;
	int interest_ops;        /* java's selection key ops: 1 = read, 0 = none */
	uint64_t queued, recved, sent;
	bool has_session;        /* false: only queued/recved/sent are printed */
	uint64_t sid;
	char lop[8];             /* last op: "NA", "GETD", "EXIS", ... */
	uint64_t est_ms;         /* established, ms since the epoch */
	uint32_t to_ms;          /* negotiated session timeout */
	int64_t lcxid, lzxid;    /* last cxid / zxid; lcxid -1: omitted, lzxid -1: 0xffffffffffffffff */
	uint64_t lresp_ms;       /* time of the last response, ms since the epoch */
	uint64_t llat, minlat, maxlat, lat_sum, lat_count; /* ms */
	uint64_t expire_ms;      /* dump: when the idle connection expires */
};

/* One watch: session @sid watches @path (wchc, wchp, wchs). */
struct adm_watch {
	uint64_t sid;
	const char *path;
};

/* One session (dump): expiry and ephemeral node paths. */
struct adm_session {
	uint64_t sid;
	uint64_t expire_ms;
	const char *const *ephemerals;
	unsigned ephemeral_count;
};

/* An extra mntr metric. A summary prints avg/min/max/cnt/sum lines. */
struct adm_metric {
	const char *name; /* without the zk_ prefix */
	bool summary;
	int64_t value;    /* a gauge or counter */
	int64_t min, max, sum, count;
};

/* State the server hands to adm_4lw(). Arrays are caller-owned and only read. */
struct adm_info {
	const struct cfg *cfg;      /* whitelist, conf; NULL: all words allowed, no conf */
	bool serving;               /* false: "not currently serving requests" */
	const char *mode;           /* standalone|leader|follower|observer|read-only */
	const char *peer_state;     /* mntr zk_peer_state in quorum mode, or NULL */
	const char *version;        /* NULL: ADM_ZK_VERSION */
	const char *built_on;       /* NULL: this binary's build date */
	uint64_t zxid;
	uint64_t lat_min, lat_max, lat_sum, lat_count; /* request latency, ms */
	uint64_t packets_received, packets_sent;
	uint64_t outstanding;
	uint64_t node_count, ephemerals_count, approximate_data_size;
	uint64_t global_sessions, local_sessions;
	uint64_t open_fds, max_fds;
	uint64_t uptime_ms;
	uint64_t datadir_bytes, logdir_bytes;
	uint64_t trace_mask;        /* gtmk */
	uint64_t config_version;    /* conf: dynamic config version (hex) */
	/* the membership in force: /zookeeper/config, which is zoo.cfg's servers
	 * until a reconfig commits (member_count 0: use cfg's) */
	struct cfg_server members[ADM_MEMBERS_MAX];
	unsigned member_count;
	bool leader;                /* proposal sizes, leader-only mntr keys */
	int64_t proposal_last, proposal_min, proposal_max; /* -1 when none */
	uint64_t learners, synced_followers, synced_non_voting_followers, synced_observers,
		pending_syncs;
	uint32_t quorum_size;
	const struct adm_conn *conns;
	unsigned conn_count;
	/* watches: an array (needed for wchc/wchp), or, when NULL, these totals for wchs */
	const struct adm_watch *watches;
	size_t watch_count;
	uint64_t watch_sessions, watch_paths;
	const struct adm_session *sessions;
	unsigned session_count;
	const struct adm_metric *metrics;
	unsigned metric_count;
	/* envi; adm_env_fill() fills these from the OS */
	char host_name[256], os_name[64], os_arch[64], os_version[128], user_name[64],
		user_home[256], user_dir[1024];
	uint64_t mem_free_mb, mem_max_mb, mem_total_mb;
};

/* A growable reply buffer, capped at ADM_OUT_MAX. */
struct adm_out {
	char *buf;
	size_t len, cap;
	int err; /* first error (-ENOMEM, -E2BIG); sticky */
};

void adm_out_init(struct adm_out *o);
void adm_out_free(struct adm_out *o);

/* Whether @w is a four-letter word tern knows (ZooKeeper's list). */
bool adm_is_4lw(const char w[4]);

/**
 * Append the reply to the four-letter word @w to @o.
 * A word not in @info->cfg's whitelist gets "<w> is not executed because it is
 * not in the whitelist.\n"; most words get the not-serving text when
 * !@info->serving. crst/srst only write their text: the caller resets.
 * Return: the reply's length; -ENOENT (not a four-letter word: the caller
 * treats the bytes as a length prefix); -ENOMEM or -E2BIG (reply too large).
 */
int adm_4lw(const char w[4], const struct adm_info *info, struct adm_out *o);

/* As adm_4lw into @buf/@cap (NUL-terminated). Return the length, -ENOSPC, -ENOENT. */
int adm_4lw_buf(const char w[4], const struct adm_info *info, char *buf, size_t cap);

/* Fill @info's envi fields (host, os, user, cwd, memory) from the OS. */
void adm_env_fill(struct adm_info *info);

/* Extra mntr lines ("zk_name\tvalue\n"...) from a module that is not in
 * adm_info (the datagram peer port, mgmt/peer_udp.c): @fn writes at most @cap
 * bytes and returns the length. Set once at start; NULL removes it. */
typedef size_t (*adm_mntr_extra_fn)(char *buf, size_t cap);
void adm_mntr_extra_set(adm_mntr_extra_fn fn);

/* Fill @info->open_fds and max_fds from /proc/self/fd and RLIMIT_NOFILE. */
void adm_fds_fill(struct adm_info *info);

/**
 * Sum the sizes of the regular files directly in @dir (ZooKeeper's
 * dataDirSize / dataLogSize, taken over <dir>/version-2) into *@bytes.
 * Return: 0 or -errno from opendir.
 */
int adm_dir_bytes(const char *dir, uint64_t *bytes);

/* java's Double.toString of @v rounded to 4 places, as ServerStats prints it. */
void adm_fmt_avg(char out[32], uint64_t sum, uint64_t count);

/* ---- the admin HTTP server (mgmt/http.c) ----
 *
 * ZooKeeper's AdminServer on admin.serverAddress:admin.serverPort (default
 * 0.0.0.0:8080, admin.enableServer=true), run by libmicrohttpd on its own
 * thread, JSON by jansson:
 *   GET /commands                 {"commands":[primary names], "command", "error"}
 *   GET /commands/<name or alias> one command's JSON; every reply has
 *                                 "command" and "error" (null or text), as 3.8
 *   GET|POST /commands/snapshot   take a snapshot now (409 while one is written)
 *   GET /commands/health          200 serving, 503 not
 *   GET /metrics                  Prometheus text format 0.0.4
 * Unknown command: 404 with ZooKeeper's "Unknown command: x" error. At most
 * ADM_HTTP_CONNS_MAX connections; request bodies above ADM_HTTP_BODY_MAX get
 * 413; idle connections close after ADM_HTTP_TIMEOUT_S.
 */
#define ADM_HTTP_CONNS_MAX 32u
#define ADM_HTTP_BODY_MAX 4096u
#define ADM_HTTP_MEM_MAX (64u << 10)   /* per-connection header/buffer pool */
#define ADM_HTTP_TIMEOUT_S 10u

struct ctl;
struct adm_http;

/**
 * Start serving @ctl's state as @cfg's admin.* keys say. @cfg and @ctl must
 * outlive the server. With admin.enableServer=false: 0 and *@out NULL.
 * Return: 0; -EADDRINUSE (port taken), -EINVAL (bad address), -ENOMEM,
 * -EIO (libmicrohttpd refused): the caller logs and serves on without it.
 */
int adm_http_start(struct adm_http **out, const struct cfg *cfg, struct ctl *ctl);
/* Stop the thread, close every connection, free. NULL is fine. */
void adm_http_stop(struct adm_http *h);

#endif
