/* mgmt/http.c: the admin HTTP server (ZooKeeper's AdminServer) and /metrics.
 *
 * libmicrohttpd runs one internal polling thread (epoll); each request is
 * answered there, to completion: ctl_admin_fill() takes a fresh view of the
 * server (mgmt/ctl_admin.c says what it may read from this thread), a
 * command turns it into a jansson object, and the object is dumped into the
 * response. Nothing is cached between requests, so what a reply says is what
 * the server held while the request ran.
 *
 * Reply shapes follow ZooKeeper 3.8's JSON (checked against the Debian
 * package's AdminServer): snake_case keys, "command" (the primary name, even
 * when called by alias) and "error" (null or text) last. Where tern cannot
 * know a field ZooKeeper shows (JVM details, proposal sizes, session expiry
 * times) the field is left out rather than invented.
 *
 * /metrics is Prometheus text format 0.0.4: "# HELP", "# TYPE", then the
 * samples. ZooKeeper's names where it has the metric (its Prometheus
 * provider exports mntr's keys without the zk_ prefix; summaries as
 * name_sum/name_count), tern_* for the rest: per-worker ops and ring depths
 * ({worker="i"}), group commit, Zab, and per-peer lag in txns and ms
 * ({peer="id",type="participant|observer"}; zab.h's zab_peer_info says
 * what each number measures on a leader and on a learner).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <microhttpd.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_err.h"
#include "common/tn_log.h"
#include "consensus/zab.h"
#include "dataplane/dp_port.h"
#include "mgmt/admin.h"
#include "mgmt/mgmt.h"
#include "mgmt/peer_udp.h"

#define HTTP_NOT_SERVING "This ZooKeeper instance is not currently serving requests"
#define HTTP_URL_CMD "/commands/"
#define HTTP_ADDR_MAX 96

struct adm_http {
	struct MHD_Daemon *d;
	const struct cfg *cfg;
	struct ctl *ctl;
};

/* Per request: the body bytes seen (bodies are not used, only bounded). */
struct req_state {
	size_t body_bytes;
};

/* One command's handler: fills @o from @a; returns the HTTP status. */
struct req {
	struct adm_http *h;
	struct ctl_admin *a;
	bool post;
};
typedef unsigned (*cmd_fn)(struct req *r, json_t *o);

/* ---- JSON helpers ---- */

static void set_int(json_t *o, const char *k, int64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, json_string(v ? v : ""));
}

static void set_bool(json_t *o, const char *k, bool v)
{
	json_object_set_new(o, k, json_boolean(v));
}

/* java's Math.round(x * 1e4) / 1e4, as ServerStats reports averages */
static double avg4(uint64_t sum, uint64_t count)
{
	if (!count)
		return 0.0;
	uint64_t r = (uint64_t)((double)sum / (double)count * 10000.0 + 0.5);
	return (double)r / 10000.0;
}

static void set_hex(json_t *o, const char *k, uint64_t v)
{
	char b[24];
	snprintf(b, sizeof b, "0x%" PRIx64, v);
	set_str(o, k, b);
}

/* ZooKeeper prints session ids as java longs (signed) */
static json_t *sid_json(uint64_t sid)
{
	return json_integer((json_int_t)(int64_t)sid);
}

static void sid_key(char out[24], uint64_t sid)
{
	snprintf(out, 24, "%" PRId64, (int64_t)sid);
}

/* ---- commands ---- */

static json_t *conn_json(const struct adm_conn *c, bool brief)
{
	json_t *o = json_object();
	char addr[ADM_ADDR_MAX + 8];
	snprintf(addr, sizeof addr, "%s:%u", c->addr, c->port);
	set_str(o, "remote_socket_address", addr);
	set_int(o, "interest_ops", c->interest_ops);
	set_int(o, "outstanding_requests", (int64_t)c->queued);
	set_int(o, "packets_received", (int64_t)c->recved);
	set_int(o, "packets_sent", (int64_t)c->sent);
	if (brief || !c->has_session)
		return o;
	json_object_set_new(o, "session_id", sid_json(c->sid));
	set_str(o, "last_operation", c->lop[0] ? c->lop : "NA");
	set_int(o, "established", (int64_t)c->est_ms);
	set_int(o, "session_timeout", c->to_ms);
	if (c->lcxid >= 0)
		set_int(o, "last_cxid", c->lcxid);
	set_int(o, "last_zxid", c->lzxid);
	set_int(o, "last_response_time", (int64_t)c->lresp_ms);
	set_int(o, "last_latency", (int64_t)c->llat);
	set_int(o, "min_latency", (int64_t)c->minlat);
	set_int(o, "avg_latency", (int64_t)(c->lat_count ? c->lat_sum / c->lat_count : 0));
	set_int(o, "max_latency", (int64_t)c->maxlat);
	return o;
}

static json_t *conns_json(const struct adm_info *in, bool brief)
{
	json_t *v = json_array();
	for (unsigned i = 0; i < in->conn_count; i++)
		json_array_append_new(v, conn_json(&in->conns[i], brief));
	return v;
}

static const char *version(void)
{
	return ADM_ZK_VERSION;
}

static unsigned c_ruok(struct req *r, json_t *o)
{
	(void)r;
	(void)o;
	return MHD_HTTP_OK;
}

static unsigned c_srvr(struct req *r, json_t *o)
{
	const struct adm_info *in = r->a->info;
	json_t *st = json_object();
	set_str(o, "version", version());
	set_bool(o, "read_only", in->mode && !strcmp(in->mode, "read-only"));
	set_int(st, "packets_sent", (int64_t)in->packets_sent);
	set_int(st, "packets_received", (int64_t)in->packets_received);
	set_int(st, "data_dir_size", (int64_t)in->datadir_bytes);
	set_int(st, "log_dir_size", (int64_t)in->logdir_bytes);
	set_str(st, "server_state", in->mode);
	set_int(st, "last_processed_zxid", (int64_t)in->zxid);
	set_int(st, "outstanding_requests", (int64_t)in->outstanding);
	json_object_set_new(st, "avg_latency", json_real(avg4(in->lat_sum, in->lat_count)));
	set_int(st, "max_latency", (int64_t)in->lat_max);
	set_int(st, "min_latency", (int64_t)in->lat_min);
	set_int(st, "num_alive_client_connections", in->conn_count);
	set_int(st, "uptime", (int64_t)in->uptime_ms);
	json_object_set_new(o, "server_stats", st);
	set_int(o, "node_count", (int64_t)in->node_count);
	return MHD_HTTP_OK;
}

static unsigned c_stat(struct req *r, json_t *o)
{
	c_srvr(r, o);
	json_object_set_new(o, "connections", conns_json(r->a->info, true));
	json_object_set_new(o, "secure_connections", json_array());
	return MHD_HTTP_OK;
}

static unsigned c_cons(struct req *r, json_t *o)
{
	json_object_set_new(o, "connections", conns_json(r->a->info, false));
	json_object_set_new(o, "secure_connections", json_array());
	return MHD_HTTP_OK;
}

static unsigned c_mntr(struct req *r, json_t *o)
{
	const struct ctl_admin *a = r->a;
	const struct adm_info *in = a->info;
	set_str(o, "version", version());
	set_str(o, "server_state", in->mode);
	if (in->peer_state)
		set_str(o, "peer_state", in->peer_state);
	set_int(o, "ephemerals_count", (int64_t)in->ephemerals_count);
	set_int(o, "num_alive_connections", in->conn_count);
	json_object_set_new(o, "avg_latency", json_real(avg4(in->lat_sum, in->lat_count)));
	set_int(o, "outstanding_requests", (int64_t)in->outstanding);
	set_int(o, "znode_count", (int64_t)in->node_count);
	set_int(o, "global_sessions", (int64_t)in->global_sessions);
	set_int(o, "packets_sent", (int64_t)in->packets_sent);
	set_int(o, "packets_received", (int64_t)in->packets_received);
	set_int(o, "watch_count", (int64_t)in->watch_count);
	set_int(o, "min_latency", (int64_t)in->lat_min);
	set_int(o, "max_file_descriptor_count", (int64_t)in->max_fds);
	set_int(o, "approximate_data_size", (int64_t)in->approximate_data_size);
	set_int(o, "open_file_descriptor_count", (int64_t)in->open_fds);
	set_int(o, "local_sessions", (int64_t)in->local_sessions);
	set_int(o, "uptime", (int64_t)in->uptime_ms);
	set_int(o, "max_latency", (int64_t)in->lat_max);
	set_int(o, "quorum_size", in->quorum_size);
	if (in->leader) {
		set_int(o, "learners", (int64_t)in->learners);
		set_int(o, "synced_followers", (int64_t)in->synced_followers);
		set_int(o, "synced_observers", (int64_t)in->synced_observers);
	}
	uint64_t fs_ms = a->wal.fsync_ns_total / 1000000u;
	json_object_set_new(o, "avg_fsynctime", json_real(avg4(fs_ms, a->wal.fsyncs)));
	set_int(o, "max_fsynctime", (int64_t)(a->wal.fsync_ns_max / 1000000u));
	set_int(o, "cnt_fsynctime", (int64_t)a->wal.fsyncs);
	set_int(o, "sum_fsynctime", (int64_t)fs_ms);
	return MHD_HTTP_OK;
}

static unsigned c_conf(struct req *r, json_t *o)
{
	const struct cfg *c = r->h->cfg;
	char dir[CFG_PATH_MAX + 16];
	set_int(o, "client_port", c->client_port);
	snprintf(dir, sizeof dir, "%s/version-2", c->data_dir);
	set_str(o, "data_dir", dir);
	snprintf(dir, sizeof dir, "%s/version-2", c->data_log_dir[0] ? c->data_log_dir : c->data_dir);
	set_str(o, "data_log_dir", dir);
	set_int(o, "tick_time", c->tick_ms);
	set_int(o, "max_client_cnxns", c->max_client_cnxns);
	set_int(o, "min_session_timeout", c->session_timeout_ms_min);
	set_int(o, "max_session_timeout", c->session_timeout_ms_max);
	set_int(o, "server_id", (int64_t)c->server_id);
	set_int(o, "client_port_listen_backlog", c->client_port_listen_backlog);
	if (!r->a->ensemble)
		return MHD_HTTP_OK;
	/* tern: the quorum keys the conf four-letter word prints */
	set_int(o, "init_limit", c->init_limit);
	set_int(o, "sync_limit", c->sync_limit);
	set_int(o, "election_alg", c->election_alg);
	set_int(o, "peer_type", (int)c->peer_type);
	return MHD_HTTP_OK;
}

static unsigned c_envi(struct req *r, json_t *o)
{
	const struct adm_info *in = r->a->info;
	char b[32];
	set_str(o, "zookeeper.version", version());
	set_str(o, "host.name", in->host_name);
	set_str(o, "os.name", in->os_name);
	set_str(o, "os.arch", in->os_arch);
	set_str(o, "os.version", in->os_version);
	set_str(o, "user.name", in->user_name);
	set_str(o, "user.home", in->user_home);
	set_str(o, "user.dir", in->user_dir);
	snprintf(b, sizeof b, "%" PRIu64 "MB", in->mem_free_mb);
	set_str(o, "os.memory.free", b);
	snprintf(b, sizeof b, "%" PRIu64 "MB", in->mem_max_mb);
	set_str(o, "os.memory.max", b);
	snprintf(b, sizeof b, "%" PRIu64 "MB", in->mem_total_mb);
	set_str(o, "os.memory.total", b);
	set_str(o, "tern.server", "tern " ADM_TERN_VERSION);
	return MHD_HTTP_OK;
}

static unsigned c_wchs(struct req *r, json_t *o)
{
	const struct adm_info *in = r->a->info;
	set_int(o, "num_connections", (int64_t)in->watch_sessions);
	set_int(o, "num_paths", (int64_t)in->watch_paths);
	set_int(o, "num_total_watches", (int64_t)in->watch_count);
	return MHD_HTTP_OK;
}

/* wchc (@by_path false) and wchp: a map of one key to a list of the other */
static json_t *watch_map(const struct adm_info *in, bool by_path)
{
	json_t *m = json_object();
	for (size_t i = 0; i < in->watch_count; i++) {
		const struct adm_watch *w = &in->watches[i];
		char k[24];
		if (!by_path)
			sid_key(k, w->sid);
		const char *key = by_path ? w->path : k;
		json_t *v = json_object_get(m, key);
		if (!v) {
			v = json_array();
			json_object_set_new(m, key, v);
		}
		json_array_append_new(v, by_path ? sid_json(w->sid) : json_string(w->path));
	}
	return m;
}

static unsigned c_wchc(struct req *r, json_t *o)
{
	json_object_set_new(o, "session_id_to_watched_paths", watch_map(r->a->info, false));
	return MHD_HTTP_OK;
}

static unsigned c_wchp(struct req *r, json_t *o)
{
	json_object_set_new(o, "path_to_session_ids", watch_map(r->a->info, true));
	return MHD_HTTP_OK;
}

static unsigned c_dirs(struct req *r, json_t *o)
{
	set_int(o, "datadir_size", (int64_t)r->a->info->datadir_bytes);
	set_int(o, "logdir_size", (int64_t)r->a->info->logdir_bytes);
	return MHD_HTTP_OK;
}

static unsigned c_isro(struct req *r, json_t *o)
{
	const char *m = r->a->info->mode;
	set_bool(o, "read_only", m && !strcmp(m, "read-only"));
	return MHD_HTTP_OK;
}

/* ZooKeeper's dump also has expiry_time_to_session_ids; tern's expiry clock
 * lives in the control thread's session table, so it is left out. */
static unsigned c_dump(struct req *r, json_t *o)
{
	const struct adm_info *in = r->a->info;
	json_t *m = json_object();
	for (unsigned i = 0; i < in->session_count; i++) {
		const struct adm_session *s = &in->sessions[i];
		char k[24];
		if (!s->ephemeral_count)
			continue;
		json_t *v = json_array();
		for (unsigned j = 0; j < s->ephemeral_count; j++)
			json_array_append_new(v, json_string(s->ephemerals[j]));
		sid_key(k, s->sid);
		json_object_set_new(m, k, v);
	}
	json_object_set_new(o, "session_id_to_ephemeral_paths", m);
	return MHD_HTTP_OK;
}

static void host_port(char *out, size_t cap, const char *host, int port)
{
	snprintf(out, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

static const struct ctl_peer_lag *lag_find(const struct ctl_zab_pub *z, uint32_t id)
{
	for (unsigned i = 0; i < z->lag_count && i < CTL_ADM_MEMBERS_MAX; i++)
		if (z->lag[i].id == id)
			return &z->lag[i];
	return NULL;
}

/* tern: a peer's lag (zab_peer_info); "synced": false while it is not in
 * the broadcast stream (no lag known) */
static void lag_fields(json_t *e, const struct ctl_peer_lag *l)
{
	set_bool(e, "synced", l && l->synced);
	if (!l)
		return;
	set_hex(e, "zxid", l->zxid);
	set_hex(e, "target_zxid", l->target);
	set_int(e, "lag_txns", (int64_t)l->lag_txns);
	set_int(e, "lag_ms", (int64_t)l->lag_ms);
	set_bool(e, "lag_live", l->live);
	set_int(e, "last_heard_ms_ago", (int64_t)l->report_age_ms);
}

static json_t *peers_json(const struct ctl_zab_pub *z)
{
	json_t *v = json_array();
	for (unsigned i = 0; z->valid && i < z->lag_count && i < CTL_ADM_MEMBERS_MAX; i++) {
		json_t *e = json_object();
		set_int(e, "sid", z->lag[i].id);
		set_str(e, "type", z->lag[i].observer ? "observer" : "participant");
		lag_fields(e, &z->lag[i]);
		json_array_append_new(v, e);
	}
	return v;
}

/* The membership in force (a reconfig changes it), else zoo.cfg's. */
static const struct cfg_server *members(const struct req *r, unsigned *n)
{
	const struct adm_info *in = r->a->info;
	if (in->member_count) {
		*n = in->member_count;
		return in->members;
	}
	*n = r->h->cfg->server_count;
	return r->h->cfg->servers;
}

static const struct cfg_server *member_find(const struct req *r, uint64_t id)
{
	unsigned n;
	const struct cfg_server *sv = members(r, &n);
	for (unsigned i = 0; i < n; i++)
		if (sv[i].id == id)
			return &sv[i];
	return NULL;
}

static unsigned c_leader(struct req *r, json_t *o)
{
	const struct ctl_admin *a = r->a;
	char b[HTTP_ADDR_MAX + 8] = "";
	if (!a->ensemble) {
		set_str(o, "error", "server is not initialized"); /* ZooKeeper's text */
		return MHD_HTTP_OK;
	}
	const struct cfg_server *sv = a->leader ? member_find(r, a->leader) : NULL;
	if (sv)
		host_port(b, sizeof b, sv->host, sv->quorum_port);
	set_bool(o, "is_leader", a->role == ZAB_LEADING);
	set_int(o, "leader_id", a->leader);
	set_str(o, "leader_ip", b);
	/* tern */
	set_bool(o, "serving", a->info->serving);
	if (a->zab.valid)
		set_int(o, "epoch", a->zab.current_epoch);
	/* leader: each learner's lag; learner: its own lag behind the leader */
	json_object_set_new(o, "peers", peers_json(&a->zab));
	return MHD_HTTP_OK;
}

static unsigned c_voting_view(struct req *r, json_t *o)
{
	json_t *m = json_object();
	unsigned n;
	const struct cfg_server *all = members(r, &n);
	for (unsigned i = 0; r->a->ensemble && i < n; i++) {
		const struct cfg_server *sv = &all[i];
		char k[24], b[HTTP_ADDR_MAX + 8];
		if (sv->type == CFG_PEER_OBSERVER)
			continue;
		json_t *e = json_object();
		host_port(b, sizeof b, sv->host, sv->quorum_port);
		json_object_set_new(e, "server_addresses", json_pack("[s]", b));
		host_port(b, sizeof b, sv->host, sv->election_port);
		json_object_set_new(e, "election_addresses", json_pack("[s]", b));
		b[0] = '\0';
		if (sv->client_port > 0)
			host_port(b, sizeof b, sv->client_host, sv->client_port);
		set_str(e, "client_address", b);
		set_str(e, "learner_type", "participant");
		snprintf(k, sizeof k, "%" PRIu64, sv->id);
		json_object_set_new(m, k, e);
	}
	json_object_set_new(o, "current_config", m);
	return MHD_HTTP_OK;
}

/* The leader lists the configured observers, whether each one's quorum
 * link is up, and how far behind it is as its last PONG showed. */
static unsigned c_observers(struct req *r, json_t *o)
{
	const struct ctl_admin *a = r->a;
	json_t *v = json_array();
	bool leading = a->ensemble && a->role == ZAB_LEADING && a->zab.valid;
	for (unsigned i = 0; leading && i < a->zab.member_count; i++) {
		const struct cfg_server *sv = member_find(r, a->zab.member_id[i]);
		char b[HTTP_ADDR_MAX + 8];
		if (!sv || sv->type != CFG_PEER_OBSERVER)
			continue;
		json_t *e = json_object();
		set_int(e, "sid", (int64_t)sv->id);
		host_port(b, sizeof b, sv->host, sv->quorum_port);
		set_str(e, "quorum_address", b);
		set_bool(e, "connected", a->zab.member_up[i]);
		lag_fields(e, lag_find(&a->zab, sv->id));
		json_array_append_new(v, e);
	}
	set_int(o, "synced_observers", (int64_t)a->info->synced_observers);
	json_object_set_new(o, "observers", v);
	return MHD_HTTP_OK;
}

static unsigned c_lsnp(struct req *r, json_t *o)
{
	char b[24];
	snprintf(b, sizeof b, "%" PRIx64, (uint64_t)r->a->last_snap_zxid);
	set_str(o, "zxid", b); /* java's Long.toHexString: "ffffffffffffffff" for none */
	set_int(o, "timestamp", r->a->last_snap_time_s);
	return MHD_HTTP_OK;
}

static unsigned c_snapshot(struct req *r, json_t *o)
{
	uint64_t zxid = 0, ms = 0;
	int rc = ctl_admin_snapshot(r->h->ctl, &zxid, &ms);
	if (rc == -EBUSY) {
		set_str(o, "error", "a snapshot is being written; try again");
		return MHD_HTTP_CONFLICT;
	}
	if (rc < 0) {
		set_str(o, "error", tn_strerror(rc));
		return rc == -EAGAIN ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	set_hex(o, "zxid", zxid);
	set_int(o, "elapsed_ms", (int64_t)ms);
	return MHD_HTTP_OK;
}

static unsigned c_sessions(struct req *r, json_t *o)
{
	const struct adm_info *in = r->a->info;
	json_t *v = json_array();
	for (unsigned i = 0; i < in->session_count; i++) {
		const struct adm_session *s = &in->sessions[i];
		json_t *e = json_object(), *eph = json_array();
		json_object_set_new(e, "session_id", sid_json(s->sid));
		set_hex(e, "session_id_hex", s->sid);
		set_int(e, "timeout", r->a->session_timeouts[i]);
		for (unsigned j = 0; j < s->ephemeral_count; j++)
			json_array_append_new(eph, json_string(s->ephemerals[j]));
		json_object_set_new(e, "ephemerals", eph);
		json_t *conn = json_null();
		for (unsigned k = 0; k < in->conn_count; k++) {
			if (in->conns[k].has_session && in->conns[k].sid == s->sid) {
				json_decref(conn);
				conn = conn_json(&in->conns[k], true);
				break;
			}
		}
		json_object_set_new(e, "connection", conn);
		json_array_append_new(v, e);
	}
	set_int(o, "count", in->session_count);
	json_object_set_new(o, "sessions", v);
	return MHD_HTTP_OK;
}

static unsigned c_health(struct req *r, json_t *o)
{
	const struct adm_info *in = r->a->info;
	set_bool(o, "serving", in->serving);
	set_str(o, "mode", in->mode);
	set_hex(o, "zxid", in->zxid);
	if (!in->serving)
		set_str(o, "error", HTTP_NOT_SERVING);
	return in->serving ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
}

static const struct cmd {
	const char *names[3];  /* primary first */
	unsigned what;         /* CTL_ADM_* arrays it needs */
	bool needs_server;     /* ZooKeeper's isServerRequired */
	bool post;             /* POST accepted */
	cmd_fn fn;
} cmds[] = {
	{ { "configuration", "conf", "config" }, 0, true, false, c_conf },
	{ { "connections", "cons" }, CTL_ADM_CONNS, true, false, c_cons },
	{ { "dirs" }, 0, true, false, c_dirs },
	{ { "dump" }, CTL_ADM_SESSIONS, true, false, c_dump },
	{ { "environment", "env", "envi" }, 0, false, false, c_envi },
	{ { "health" }, 0, false, false, c_health },
	{ { "is_read_only", "isro" }, 0, true, false, c_isro },
	{ { "last_snapshot", "lsnp" }, 0, true, false, c_lsnp },
	{ { "leader", "lead" }, 0, true, false, c_leader },
	{ { "monitor", "mntr" }, CTL_ADM_CONNS, false, false, c_mntr },
	{ { "observers", "obsr" }, 0, true, false, c_observers },
	{ { "ruok" }, 0, true, false, c_ruok },
	{ { "server_stats", "srvr" }, CTL_ADM_CONNS, true, false, c_srvr },
	{ { "sessions" }, CTL_ADM_SESSIONS | CTL_ADM_CONNS, true, false, c_sessions },
	{ { "snapshot" }, 0, true, true, c_snapshot },
	{ { "stats", "stat" }, CTL_ADM_CONNS, true, false, c_stat },
	{ { "voting_view" }, 0, true, false, c_voting_view },
	{ { "watch_summary", "wchs" }, 0, true, false, c_wchs },
	{ { "watches", "wchc" }, CTL_ADM_WATCHES, true, false, c_wchc },
	{ { "watches_by_path", "wchp" }, CTL_ADM_WATCHES, true, false, c_wchp },
};

static const struct cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < TN_ARRAY_LEN(cmds); i++)
		for (size_t j = 0; j < TN_ARRAY_LEN(cmds[i].names) && cmds[i].names[j]; j++)
			if (!strcmp(cmds[i].names[j], name))
				return &cmds[i];
	return NULL;
}

/* ---- /metrics ---- */

static void m_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void m_u64(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	m_head(f, name, type, help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* A summary without quantiles: name_sum and name_count. */
static void m_summary(FILE *f, const char *name, const char *help, uint64_t sum, uint64_t count)
{
	m_head(f, name, "summary", help);
	fprintf(f, "%s_sum %" PRIu64 "\n%s_count %" PRIu64 "\n", name, sum, name, count);
}

static void metrics_zk(FILE *f, const struct ctl_admin *a)
{
	const struct adm_info *in = a->info;
	m_u64(f, "znode_count", "gauge", "znodes, as mntr counts them", in->node_count);
	m_u64(f, "watch_count", "gauge", "watches set", in->watch_count);
	m_u64(f, "ephemerals_count", "gauge", "ephemeral znodes", in->ephemerals_count);
	m_u64(f, "approximate_data_size", "gauge", "bytes of paths and data",
	      in->approximate_data_size);
	m_u64(f, "num_alive_connections", "gauge", "client connections", in->conn_count);
	m_u64(f, "outstanding_requests", "gauge", "requests not yet answered", in->outstanding);
	m_head(f, "avg_latency", "gauge", "mean request latency, ms");
	fprintf(f, "avg_latency %.4f\n", avg4(in->lat_sum, in->lat_count));
	m_u64(f, "min_latency", "gauge", "least request latency, ms", in->lat_min);
	m_u64(f, "max_latency", "gauge", "greatest request latency, ms", in->lat_max);
	m_u64(f, "packets_received", "counter", "client packets received", in->packets_received);
	m_u64(f, "packets_sent", "counter", "client packets sent", in->packets_sent);
	m_u64(f, "global_sessions", "gauge", "open sessions", in->global_sessions);
	m_u64(f, "local_sessions", "gauge", "local sessions", in->local_sessions);
	m_u64(f, "open_file_descriptor_count", "gauge", "open fds", in->open_fds);
	m_u64(f, "max_file_descriptor_count", "gauge", "fd limit", in->max_fds);
	m_u64(f, "uptime", "gauge", "ms since start", in->uptime_ms);
	m_u64(f, "quorum_size", "gauge", "voters needed for a quorum", in->quorum_size);
	if (in->leader) {
		m_u64(f, "learners", "gauge", "learners in broadcast", in->learners);
		m_u64(f, "synced_followers", "gauge", "followers in broadcast",
		      in->synced_followers);
		m_u64(f, "synced_observers", "gauge", "observers in broadcast",
		      in->synced_observers);
	}
	m_summary(f, "fsynctime", "txn log fsync time, ms", a->wal.fsync_ns_total / 1000000u,
		  a->wal.fsyncs);
	m_summary(f, "snapshottime", "snapshots taken via the admin server, ms", a->snap_ms_sum,
		  a->snap_count);
}

/* The fsync histogram: cumulative buckets of 16 us << k, then +Inf. */
static void metrics_fsync_hist(FILE *f, const struct wal_stats *w)
{
	const char *name = "tern_wal_fsync_duration_seconds";
	uint64_t cum = 0;
	m_head(f, name, "histogram", "txn log write + fsync time per group commit");
	for (unsigned k = 0; k < WAL_FSYNC_BUCKETS; k++) {
		cum += w->fsync_hist[k];
		if (k + 1 < WAL_FSYNC_BUCKETS)
			fprintf(f, "%s_bucket{le=\"%.6f\"} %" PRIu64 "\n", name,
				(double)((uint64_t)WAL_FSYNC_US_MIN << k) / 1e6, cum);
		else
			fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	}
	fprintf(f, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name,
		cum ? (double)w->fsync_ns_total / 1e9 : 0.0, name, cum);
}

static void metrics_workers(FILE *f, const struct ctl_admin *a)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} wm[] = {
		{ "tern_worker_reads_total", "counter", "requests a worker answered itself",
		  offsetof(struct dp_worker_stats, reads) },
		{ "tern_worker_writes_total", "counter", "requests a worker handed to the control thread",
		  offsetof(struct dp_worker_stats, writes) },
		{ "tern_worker_packets_received_total", "counter", "client packets received",
		  offsetof(struct dp_worker_stats, packets_recv) },
		{ "tern_worker_packets_sent_total", "counter", "client packets sent",
		  offsetof(struct dp_worker_stats, packets_sent) },
		{ "tern_worker_connections", "gauge", "client connections",
		  offsetof(struct dp_worker_stats, conns) },
		{ "tern_worker_ring_depth", "gauge", "messages queued from the control thread",
		  offsetof(struct dp_worker_stats, inbox_depth) },
		{ "tern_worker_ring_depth_max", "gauge",
		  "most messages queued from the control thread (sampled)",
		  offsetof(struct dp_worker_stats, inbox_depth_max) },
	};
	for (size_t k = 0; k < TN_ARRAY_LEN(wm); k++) {
		m_head(f, wm[k].name, wm[k].type, wm[k].help);
		for (unsigned i = 0; i < a->workers && i < DP_WORKERS_MAX; i++) {
			uint64_t v;
			memcpy(&v, (const char *)&a->wk[i] + wm[k].off, sizeof v);
			fprintf(f, "%s{worker=\"%u\"} %" PRIu64 "\n", wm[k].name, i, v);
		}
	}
	m_u64(f, "tern_ctl_ring_depth", "gauge", "messages queued from the workers to the control thread",
	      a->ctl_ring_depth);
	m_u64(f, "tern_ctl_ring_depth_max", "gauge",
	      "most messages queued from the workers to the control thread (sampled)",
	      a->ctl_ring_depth_max);
}

/* Per-peer lag: zxids and ms (a leader's learners; a learner's leader). */
static void metrics_lag(FILE *f, const struct ctl_zab_pub *z)
{
	static const char *names[][2] = {
		{ "tern_peer_lag_txns", "txns the peer lacks (learner: we lack of the leader's commits)" },
		{ "tern_peer_lag_ms", "age of the oldest txn the peer lacks, ms" },
		{ "tern_peer_zxid", "zxid the peer has (learner: our last commit)" },
		{ "tern_peer_last_heard_ms", "ms since the peer was last heard from" },
	};
	for (size_t k = 0; k < TN_ARRAY_LEN(names); k++) {
		m_head(f, names[k][0], "gauge", names[k][1]);
		for (unsigned i = 0; i < z->lag_count && i < CTL_ADM_MEMBERS_MAX; i++) {
			const struct ctl_peer_lag *l = &z->lag[i];
			uint64_t v = k == 0 ? l->lag_txns : k == 1 ? l->lag_ms
				   : k == 2 ? l->zxid : l->report_age_ms;
			fprintf(f, "%s{peer=\"%u\",type=\"%s\"} %" PRIu64 "\n", names[k][0], l->id,
				l->observer ? "observer" : "participant", v);
		}
	}
}

/* The native datagram protocol's counters, and the peer port's (UDP/DPDK
 * peer transport) in the same words mntr uses for zk_peer_port_*. */
static void metrics_datagrams(FILE *f, const struct ctl_admin *a)
{
	const struct dp_udp_stats *u = &a->udp;
	static const struct {
		const char *name, *help;
		size_t off;
	} udp[] = {
		{ "rx", "datagrams received", offsetof(struct dp_udp_stats, rx) },
		{ "tx", "datagrams sent", offsetof(struct dp_udp_stats, tx) },
		{ "bad", "dropped: malformed or too big", offsetof(struct dp_udp_stats, bad) },
		{ "unknown", "for no session here (answered UNKNOWN)",
		  offsetof(struct dp_udp_stats, unknown) },
		{ "retry_cached", "retries answered from the reply cache",
		  offsetof(struct dp_udp_stats, retry_cached) },
		{ "retry_dropped", "retries dropped (in flight, ahead, window full)",
		  offsetof(struct dp_udp_stats, retry_dropped) },
		{ "evicted", "retries answered EVICTED", offsetof(struct dp_udp_stats, evicted) },
		{ "send_fail", "sends that failed (the client retries)",
		  offsetof(struct dp_udp_stats, send_fail) },
	};
	char name[64];
	for (size_t i = 0; i < sizeof udp / sizeof udp[0]; i++) {
		uint64_t v;
		memcpy(&v, (const uint8_t *)u + udp[i].off, sizeof v);
		snprintf(name, sizeof name, "tern_udp_%s_total", udp[i].name);
		m_u64(f, name, "counter", udp[i].help, v);
	}
	m_u64(f, "tern_udp_sessions", "gauge", "sessions on the datagram protocol", u->sessions);

	struct dp_port_stats st;
	char buf[16384];
	if (!peer_udp_port_stats(&st))
		return;
	size_t n = dp_port_stats_text(&st, "tern_peer_port", buf, sizeof buf - 1);
	struct dp_port *nic = peer_udp_nic();
	if (nic)   /* the workers' DPDK queues */
		n += dp_port_queues_text(nic, "tern_peer_port", buf + n, sizeof buf - 1 - n);
	buf[n] = '\0';
	/* "name\tvalue\n" lines: one untyped family each */
	for (char *line = buf, *next; *line; line = next) {
		char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
		next = nl ? nl + 1 : line + strlen(line);
		if (!tab || !nl || tab > nl)
			continue;
		fprintf(f, "# TYPE %.*s untyped\n%.*s %.*s\n", (int)(tab - line), line,
			(int)(tab - line), line, (int)(nl - tab - 1), tab + 1);
	}
}

static void metrics_tern(FILE *f, const struct ctl_admin *a)
{
	const struct adm_info *in = a->info;
	m_head(f, "tern_server_state", "gauge", "1 for the current mode");
	fprintf(f, "tern_server_state{state=\"%s\"} 1\n", in->mode ? in->mode : "standalone");
	m_u64(f, "tern_serving", "gauge", "1 while clients are answered", in->serving);
	m_u64(f, "tern_last_zxid", "gauge", "last applied zxid", in->zxid);
	m_u64(f, "tern_workers", "gauge", "client worker threads", a->workers);
	m_u64(f, "tern_connections_total", "counter", "client connections accepted",
	      a->conns_total);
	m_u64(f, "tern_store_mem_bytes", "gauge", "bytes the store holds", a->store_mem_bytes);
	m_u64(f, "tern_wal_records_total", "counter", "txn log records", a->wal.records);
	m_u64(f, "tern_wal_batches_total", "counter", "txn log group commits", a->wal.batches);
	m_u64(f, "tern_wal_bytes_total", "counter", "txn log bytes", a->wal.bytes);
	m_u64(f, "tern_wal_fsyncs_total", "counter", "txn log fsyncs", a->wal.fsyncs);
	m_head(f, "tern_wal_batch_records_avg", "gauge", "records per group commit");
	fprintf(f, "tern_wal_batch_records_avg %.4f\n", avg4(a->wal.records, a->wal.batches));
	m_u64(f, "tern_wal_batch_records_max", "gauge", "most records in one group commit",
	      a->wal.batch_records_max);
	metrics_workers(f, a);
	m_head(f, "tern_wal_fsync_seconds_total", "counter", "time in fsync");
	fprintf(f, "tern_wal_fsync_seconds_total %.9f\n", (double)a->wal.fsync_ns_total / 1e9);
	m_head(f, "tern_wal_fsync_seconds_max", "gauge", "longest fsync");
	fprintf(f, "tern_wal_fsync_seconds_max %.9f\n", (double)a->wal.fsync_ns_max / 1e9);
	metrics_fsync_hist(f, &a->wal);
	metrics_datagrams(f, a);
	m_u64(f, "tern_snapshot_last_zxid", "gauge", "zxid of the newest snapshot file (0: none)",
	      a->last_snap_zxid > 0 ? (uint64_t)a->last_snap_zxid : 0);
	m_u64(f, "tern_snapshot_last_ms", "gauge", "last admin snapshot's time, ms",
	      a->snap_ms_last);
	if (!a->zab.valid)
		return;
	const struct ctl_zab_pub *z = &a->zab;
	m_u64(f, "tern_zab_proposals_total", "counter", "txns proposed (leader)", z->proposals);
	m_u64(f, "tern_zab_batches_total", "counter", "PROPOSAL batches sent", z->batches);
	m_u64(f, "tern_zab_commits_total", "counter", "txns committed", z->commits);
	m_u64(f, "tern_zab_elections_total", "counter", "elections started", z->elections);
	m_u64(f, "tern_zab_dropped_total", "counter", "malformed or unexpected messages",
	      z->dropped);
	m_u64(f, "tern_zab_inflight", "gauge", "proposed, uncommitted txns", z->inflight);
	m_u64(f, "tern_zab_epoch", "gauge", "current epoch", z->current_epoch);
	m_u64(f, "tern_zab_last_committed_zxid", "gauge", "highest zxid committed",
	      z->last_committed);
	m_u64(f, "tern_zab_last_logged_zxid", "gauge", "highest zxid logged", z->last_logged);
	m_u64(f, "tern_peer_bytes_sent_total", "counter", "bytes sent to peers", z->peer_sent);
	m_u64(f, "tern_peer_bytes_received_total", "counter", "bytes received from peers",
	      z->peer_recv);
	m_head(f, "tern_peer_up", "gauge", "1 while the quorum link to the peer is up");
	for (unsigned i = 0; i < z->member_count; i++)
		fprintf(f, "tern_peer_up{peer=\"%u\"} %d\n", z->member_id[i], z->member_up[i]);
	/* quorum link bytes before (raw) and after (wire) zstd, tern.peer.compress */
	m_head(f, "tern_peer_link_bytes_total", "counter",
	       "quorum link bytes per peer: dir=out|in, kind=raw (Zab frames)|wire (after zstd)");
	for (unsigned i = 0; i < z->member_count; i++) {
		const struct peer_bytes *b = &z->member_bytes[i];
		if (z->member_id[i] == 0 || (!b->raw_out && !b->raw_in))
			continue;
		fprintf(f, "tern_peer_link_bytes_total{peer=\"%u\",dir=\"out\",kind=\"raw\"} %" PRIu64 "\n"
			"tern_peer_link_bytes_total{peer=\"%u\",dir=\"out\",kind=\"wire\"} %" PRIu64 "\n"
			"tern_peer_link_bytes_total{peer=\"%u\",dir=\"in\",kind=\"raw\"} %" PRIu64 "\n"
			"tern_peer_link_bytes_total{peer=\"%u\",dir=\"in\",kind=\"wire\"} %" PRIu64 "\n",
			z->member_id[i], b->raw_out, z->member_id[i], b->wire_out, z->member_id[i],
			b->raw_in, z->member_id[i], b->wire_in);
	}
	m_head(f, "tern_peer_link_compressed", "gauge", "1 while the quorum link uses zstd");
	for (unsigned i = 0; i < z->member_count; i++)
		if (z->member_bytes[i].raw_out || z->member_bytes[i].raw_in)
			fprintf(f, "tern_peer_link_compressed{peer=\"%u\"} %d\n", z->member_id[i],
				z->member_bytes[i].compressed);
	metrics_lag(f, z);
}

/* ---- requests ---- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body,
			       const char *type)
{
	struct MHD_Response *rsp;
	enum MHD_Result rc;

	if (!body)
		return MHD_NO; /* out of memory: MHD closes the connection */
	rsp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!rsp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	rc = MHD_queue_response(conn, status, rsp);
	MHD_destroy_response(rsp);
	return rc;
}

static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned status, json_t *o,
				    const char *command)
{
	/* "command" and "error" last, as ZooKeeper's CommandResponse */
	json_t *err = json_object_get(o, "error");
	json_incref(err);
	json_object_del(o, "error");
	set_str(o, "command", command);
	json_object_set_new(o, "error", err ? err : json_null());
	char *body = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	return respond(conn, status, body, "application/json");
}

static enum MHD_Result run_cmd(struct adm_http *h, struct MHD_Connection *conn,
			       const char *name, bool post)
{
	const struct cmd *cmd = cmd_find(name);
	struct ctl_admin a = { 0 };
	struct req r = { h, &a, post };
	json_t *o = json_object();
	unsigned status;

	if (!cmd) {
		char e[96];
		snprintf(e, sizeof e, "Unknown command: %.60s", name);
		set_str(o, "error", e);
		return respond_json(conn, MHD_HTTP_NOT_FOUND, o, name);
	}
	if (post && !cmd->post) {
		set_str(o, "error", "use GET");
		return respond_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED, o, cmd->names[0]);
	}
	if (ctl_admin_fill(h->ctl, cmd->what, &a) < 0) {
		set_str(o, "error", "out of memory");
		return respond_json(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, o, cmd->names[0]);
	}
	if (cmd->needs_server && !a.info->serving) {
		set_str(o, "error", HTTP_NOT_SERVING);
		status = MHD_HTTP_OK; /* as ZooKeeper: the error field says it */
	} else {
		status = cmd->fn(&r, o);
	}
	ctl_admin_release(&a);
	return respond_json(conn, status, o, cmd->names[0]);
}

static enum MHD_Result list_cmds(struct MHD_Connection *conn)
{
	json_t *o = json_object(), *v = json_array();
	for (size_t i = 0; i < TN_ARRAY_LEN(cmds); i++)
		json_array_append_new(v, json_string(cmds[i].names[0]));
	json_object_set_new(o, "commands", v);
	return respond_json(conn, MHD_HTTP_OK, o, "commands");
}

static enum MHD_Result metrics(struct adm_http *h, struct MHD_Connection *conn)
{
	struct ctl_admin a = { 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (ctl_admin_fill(h->ctl, CTL_ADM_CONNS, &a) < 0)
		return MHD_NO;
	f = open_memstream(&buf, &len);
	if (!f) {
		ctl_admin_release(&a);
		return MHD_NO;
	}
	metrics_zk(f, &a);
	metrics_tern(f, &a);
	ctl_admin_release(&a);
	if (fclose(f) != 0) {
		free(buf);
		return MHD_NO;
	}
	return respond(conn, MHD_HTTP_OK, buf, "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *ver, const char *upload,
				  size_t *upload_size, void **state)
{
	struct adm_http *h = cls;
	struct req_state *rs = *state;
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);

	(void)ver;
	(void)upload;
	if (!rs) { /* the headers: come back for the body */
		if (!(rs = calloc(1, sizeof *rs)))
			return MHD_NO;
		*state = rs;
		return MHD_YES;
	}
	if (*upload_size) { /* bodies are ignored, but bounded */
		rs->body_bytes += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	if (rs->body_bytes > ADM_HTTP_BODY_MAX)
		return respond(conn, MHD_HTTP_CONTENT_TOO_LARGE, strdup("request body too large\n"),
			       "text/plain");
	if (!post && strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("GET or POST\n"),
			       "text/plain");
	if (!strcmp(url, "/metrics"))
		return metrics(h, conn);
	if (!strcmp(url, "/commands") || !strcmp(url, "/commands/"))
		return list_cmds(conn);
	if (!strncmp(url, HTTP_URL_CMD, strlen(HTTP_URL_CMD)))
		return run_cmd(h, conn, url + strlen(HTTP_URL_CMD), post);
	return respond(conn, MHD_HTTP_NOT_FOUND, strdup("try /commands or /metrics\n"),
		       "text/plain");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*state);
	*state = NULL;
}

/* ---- lifecycle ---- */

/* Resolve @host:@port; probe-bind it so a taken port gives its errno
 * (libmicrohttpd only says "failed"). */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM }, *res;
	char ps[8];
	int one = 1, fd, rc = 0;

	snprintf(ps, sizeof ps, "%u", port);
	if (getaddrinfo(host[0] ? host : NULL, ps, &hints, &res) != 0 || !res)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)ss, *len) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int adm_http_start(struct adm_http **out, const struct cfg *cfg, struct ctl *ctl)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	struct adm_http *h;
	int rc;

	TN_ASSERT(out && cfg && ctl);
	*out = NULL;
	if (!cfg->admin_enable)
		return 0;
	if ((rc = resolve(cfg->admin_address, cfg->admin_port, &ss, &len)) < 0)
		return rc;
	if (!(h = calloc(1, sizeof *h)))
		return -ENOMEM;
	h->cfg = cfg;
	h->ctl = ctl;
	h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
					(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				cfg->admin_port, NULL, NULL, on_request, h,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)ADM_HTTP_CONNS_MAX,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ADM_HTTP_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADM_HTTP_MEM_MAX,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
	if (!h->d) {
		free(h);
		return -EIO;
	}
	TN_INFO("admin", "admin server on %s:%u (/commands, /metrics)", cfg->admin_address,
		cfg->admin_port);
	*out = h;
	return 0;
}

void adm_http_stop(struct adm_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
