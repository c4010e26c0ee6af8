/* tools/ternc.h: tern's C client library (ZooKeeper client protocol over TCP,
 * or tern's native datagram protocol over UDP: see enum ternc_transport).
 *
 * Design
 * ------
 * A struct ternc_loop is one epoll instance driven by the caller's thread: it
 * owns many struct ternc sessions and does nothing until ternc_loop_run() is
 * called. Nothing here is thread-safe; use one loop per thread. Every async
 * call encodes its request at once (paths get the chroot prefix) and either
 * appends it to the session's output buffer (connected) or to a queue that is
 * flushed right after the next handshake. Requests are pipelined without
 * limit other than TERNC_OUTBUF_MAX bytes queued; replies come back in
 * request order (ZooKeeper's rule), so the pending queue is a FIFO matched by
 * xid, and a mismatch closes the connection.
 *
 * Every async call that returns ZK_OK runs its callback exactly once: with
 * the reply, with ZK_ECONNECTIONLOSS when the connection drops before the
 * reply (a call made while disconnected waits for the next handshake, but
 * fails once every host of a round refused), or with ZK_ESESSIONEXPIRED /
 * ZK_EAUTHFAILED once the session is dead, or when ternc_close() runs. A
 * call that returns an error runs no callback. Callbacks run inside
 * ternc_loop_run() (never inside the call that queued them), may queue new
 * async calls, and may call ternc_close(); they must not call *_sync
 * wrappers (those return ZK_EAPI there) nor ternc_loop_run().
 *
 * Connection: the host list is shuffled once; the session connects to one
 * host, on failure tries the next, and after a full round without success
 * waits TERNC_BACKOFF_MS before the next round. A reconnect sends the session
 * id and password: the server either resumes the session (state CONNECTED
 * again, ephemerals intact) or answers timeout 0 (state EXPIRED: the session
 * is dead, every pending call and watcher is told, and the struct only waits
 * for ternc_close()). After a resumed handshake the client re-sends its
 * addauth credentials, then one or more setWatches2 (op 105) carrying every
 * watch it still holds and the last zxid it saw, so the server fires what
 * changed while it was away. A ping goes out when nothing was sent for
 * timeout/3; when nothing was received for 2/3 of the negotiated timeout the
 * connection is considered dead and dropped (pending calls: CONNECTIONLOSS).
 * A malformed or oversized frame from the server drops the connection the
 * same way; nothing the server sends can make the library abort.
 *
 * Watches are client-side registrations {fn, arg} keyed by (path, kind), as
 * in ZooKeeper's own clients: a data event (created/changed/deleted) fires
 * the path's data and exists watchers, a deletion also its child watchers, a
 * children event its child watchers. One-shot watchers are removed before
 * their fn runs; persistent and persistent-recursive ones (ternc_add_watch)
 * stay until removed. A watcher is registered only if its call succeeds
 * (exists also on ZK_ENONODE, then as an exists watch). When the session
 * expires or is closed every watcher gets one event with type ZK_EVENT_NONE
 * and state TERNC_EXPIRED (or TERNC_CLOSED) and is dropped.
 *
 * Error conventions
 * -----------------
 * - Setup calls (ternc_loop_new, ternc_open, ternc_loop_run) return 0 or -errno.
 * - Everything else returns and reports enum zk_err codes from
 *   store/store-t.h (ZK_OK = 0, negative = error), never -errno, because the
 *   two ranges collide (-110 is both ETIMEDOUT and ZK_ENODEEXISTS). Codes the
 *   client itself produces:
 *     ZK_EBADARGUMENTS    bad path (not absolute, trailing '/', NUL), bad mode,
 *                         bad ACL text, NULL where not allowed
 *     ZK_ESYSTEM          out of memory, or TERNC_OUTBUF_MAX bytes already queued
 *     ZK_ECONNECTIONLOSS  the connection dropped before the reply
 *     ZK_EOPERATIONTIMEOUT a *_sync wrapper waited its bound (the request may
 *                         still complete on the server)
 *     ZK_ESESSIONEXPIRED  the session expired or was closed
 *     ZK_EAUTHFAILED      the server refused addauth; the session is dead
 *     ZK_EAPI             *_sync called from inside a callback
 *   (a reply that cannot be decoded drops the connection: ZK_ECONNECTIONLOSS)
 *   ternc_strerror() names any of them ("NoNode", "NodeExists", ...).
 *
 * Tested against ternd and Apache ZooKeeper 3.8 (tests/integration/
 * test_client.py). One ZooKeeper 3.8 quirk to know: it keeps one watch mode
 * per (session, path), so a persistent or recursive watch and another kind
 * on the same path of the same session may lose events there; ternd keeps
 * them apart.
 *
 * Ownership: every pointer in a struct ternc_result or struct ternc_event is
 * valid only during the callback that receives it; copy what you keep.
 * *_sync wrappers that return data hand out a malloc'd deep copy
 * (struct ternc_result *) that the caller frees with ternc_result_free().
 */
#ifndef TERNC_H
#define TERNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store-t.h"

#define TERNC_HOSTS_MAX 64                  /* servers in one connection string */
#define TERNC_PATH_MAX 4096                 /* bytes of a path, chroot included */
#define TERNC_OUTBUF_MAX (64u << 20)        /* bytes queued for sending per session */
#define TERNC_BACKOFF_MS 200                /* pause after a full round of failed hosts */
#define TERNC_TIMEOUT_MS_DEFAULT 10000      /* session timeout asked for when cfg says 0 */
#define TERNC_SETWATCHES_CHUNK (128u << 10) /* bytes of paths per setWatches2 */
#define TERNC_UDP_WINDOW 32                 /* requests in flight per session over UDP */
#define TERNC_UDP_RTO_MS_INIT 100           /* retransmission timeout before an RTT sample */
#define TERNC_UDP_RTO_MS_MIN 20             /* floor of the adaptive timeout */
#define TERNC_UDP_RTO_MS_MAX 2000           /* backoff ceiling */

/* Transports (ternc_cfg.transport).
 * TCP: ZooKeeper's wire protocol, works with any ZooKeeper server.
 * UDP: tern's native datagram protocol (dataplane/dp_udp.h, docs/FORMATS.md),
 * same jute bodies, one per datagram, on the server's UDP port (the client
 * port unless tern.udp.port says otherwise). Requests and the handshake are
 * retransmitted until answered, after 2 x the smoothed round trip + 10 ms
 * (TERNC_UDP_RTO_MS_INIT before the first sample, never below
 * TERNC_UDP_RTO_MS_MIN), doubling up to TERNC_UDP_RTO_MS_MAX while nothing
 * comes back (Karn: retransmitted requests give no sample); the server's per-session reply cache
 * makes a retried write apply once. At most TERNC_UDP_WINDOW requests are in
 * flight (the rest wait, in order). Watch events are best effort over UDP: a
 * lost event is not resent (compare zxids of replies to notice a change).
 * addauth and setWatches2 are sent once, not retried. A reply larger than a
 * datagram (about 64 KiB) fails that call with ZK_EMARSHALLING; a retry whose
 * reply the server no longer has fails with ZK_ECONNECTIONLOSS; a server that
 * no longer knows the session on this socket makes the client resume it (as
 * after a TCP connection loss). The datagrams go through a kernel UDP
 * socket, or through the loop's own DPDK port (ternc_loop_dpdk). */
enum ternc_transport {
	TERNC_TCP = 0,
	TERNC_UDP = 1,
};

struct ternc_loop;
struct ternc;

/* Session states, as given to ternc_cfg.state_fn and ternc_state(). */
enum ternc_state {
	TERNC_CONNECTING = 1,   /* no connection yet, or trying after a loss */
	TERNC_CONNECTED = 2,    /* handshake done (new or resumed session) */
	TERNC_DISCONNECTED = 3, /* connection lost; retrying; the session may live on */
	TERNC_EXPIRED = 4,      /* server said the session is gone: terminal */
	TERNC_AUTH_FAILED = 5,  /* server refused addauth: terminal */
	TERNC_CLOSED = 6,       /* ternc_close() was called: terminal */
};

/* Create modes for ternc_create (same numbers as ZooKeeper's CreateMode). */
enum ternc_create_mode {
	TERNC_PERSISTENT = ZK_CREATE_PERSISTENT,
	TERNC_EPHEMERAL = ZK_CREATE_EPHEMERAL,
	TERNC_SEQUENTIAL = ZK_CREATE_SEQUENTIAL,
	TERNC_EPHEMERAL_SEQUENTIAL = ZK_CREATE_EPHEMERAL_SEQUENTIAL,
	TERNC_CONTAINER = ZK_CREATE_CONTAINER,
	TERNC_TTL = ZK_CREATE_TTL,                       /* needs ttl_ms > 0 */
	TERNC_SEQUENTIAL_TTL = ZK_CREATE_SEQUENTIAL_TTL, /* needs ttl_ms > 0 */
};

/* A watch notification (or a session-end notice, type ZK_EVENT_NONE). */
struct ternc_event {
	int32_t type;     /* ZK_EVENT_CREATED/DELETED/DATA_CHANGED/CHILDREN_CHANGED/NONE */
	int32_t state;    /* TERNC_CONNECTED for server events; TERNC_EXPIRED/CLOSED/AUTH_FAILED */
	const char *path; /* chroot already stripped */
	int64_t zxid;     /* the txn that fired it (-1 if the server does not say) */
};

typedef void (*ternc_watch_fn)(struct ternc *c, const struct ternc_event *ev, void *arg);

/* One result inside a multi reply. */
struct ternc_multi_result {
	int32_t type; /* ZK_OP_CREATE2, ZK_OP_DELETE, ZK_OP_SETDATA, ZK_OP_CHECK, or ZK_OP_ERROR */
	int32_t err;  /* ZK_OK, or this op's error (ZK_ERUNTIMEINCONSISTENCY: not run) */
	const char *path;  /* create: the created path, chroot stripped */
	struct zstat stat; /* create, setData */
};

/* The reply to one call. Which fields are set depends on @op:
 *   create*      path (created, chroot stripped), stat
 *   exists       stat (err ZK_ENONODE if absent)     setData, setACL: stat
 *   getData      data/data_len (-1 = null), stat     getACL: acl, stat
 *   getChildren  names/count (stat too via getChildren2, which ternc uses)
 *   getAllChildrenNumber: number                     sync: path
 *   multi        multi/multi_count (err = first failing op's error)
 *   whoAmI       names = "scheme:user" strings, count
 *   addauth, delete, addWatch, removeWatches: only err. */
struct ternc_result {
	int32_t err;  /* ZK_OK or an enum zk_err */
	int32_t op;   /* the enum zk_opcode that was sent */
	int64_t zxid; /* from the reply header; 0 if no reply came */
	const char *path;
	struct zstat stat;
	const uint8_t *data;
	int32_t data_len;
	struct zk_acl_list acl;
	const char *const *names;
	int32_t count;
	int32_t number;
	const struct ternc_multi_result *multi;
	uint32_t multi_count;
};

typedef void (*ternc_cb)(struct ternc *c, const struct ternc_result *r, void *arg);
typedef void (*ternc_state_fn)(struct ternc *c, int state, void *arg);

struct ternc_cfg {
	const char *hosts;          /* "host:port,host:port[/chroot]"; required */
	int32_t session_timeout_ms; /* asked for; 0 = TERNC_TIMEOUT_MS_DEFAULT */
	int64_t session_id;         /* nonzero: resume this session ... */
	const uint8_t *passwd;      /* ... with these 16 bytes */
	ternc_state_fn state_fn;    /* optional: every state change */
	void *state_arg;
	int transport;              /* enum ternc_transport; 0 = TCP */
};

/* ---- loop ---- */

/* Return: 0, -errno (epoll_create1). */
int ternc_loop_new(struct ternc_loop **out);
/* Close every session still open (no network wait: their calls complete
 * with ZK_ESESSIONEXPIRED), then free. Not from a callback. NULL is ok. */
void ternc_loop_free(struct ternc_loop *loop);
/**
 * Wait up to @timeout_ms (-1 = until something happens, 0 = poll) for
 * socket readiness or a timer, then do all work that is due: read replies
 * and run callbacks, send, ping, reconnect. Return: number of sockets that
 * were ready (>= 0), -errno (epoll_wait failed, not EINTR), -EDEADLK (called
 * from a callback).
 */
int ternc_loop_run(struct ternc_loop *loop, int timeout_ms);
/* ternc_loop_run(loop, 0). */
int ternc_loop_poll(struct ternc_loop *loop);
/* Run the loop until *@done is true or @timeout_ms passes (-1: no bound).
 * Return: 0 (*@done), -ETIMEDOUT, or ternc_loop_run's errors. */
int ternc_loop_run_until(struct ternc_loop *loop, const bool *done, int timeout_ms);
/* The epoll fd, to nest this loop in another event loop (readable = call
 * ternc_loop_poll). A loop with a DPDK port must also be polled at least
 * every DP_PORT_IDLE_US_MAX µs: the port has no fd. */
int ternc_loop_fd(const struct ternc_loop *loop);

/* The native datagram protocol through a DPDK port of the loop's own, on a
 * host whose NIC DPDK drives (no kernel in the path). Every TERNC_UDP
 * session of the loop then sends from local UDP port 40000 of @ip
 * (DP_PORT_CLIENT_UDP_PORT) to its servers' IPv4 addresses; ARP is answered
 * and resolved by tern's own network layer; replies find their session by
 * the connect nonce they echo. The EAL starts once per process (the first
 * port's @eal words count). While idle the loop spins 50 µs, then sleeps up
 * to 1 ms between polls. */
struct ternc_dpdk_cfg {
	const char *eal;     /* EAL arguments, space separated, e.g. "-l 0 --no-huge -m 256" */
	const char *port;    /* PCI address or vdev, e.g. "net_af_packet0,iface=eth1" */
	const char *ip;      /* this host's IPv4 address on that port */
	const char *netmask; /* NULL: 255.255.255.0 */
	const char *gateway; /* NULL: none (servers on the same subnet) */
};
/* Give @loop a DPDK port; before any ternc_open on it. On -EINVAL, *@bad
 * (if not NULL) names the bad field ("ip", "netmask", "gateway", "eal",
 * "dev"). Return: 0, -EINVAL, -EBUSY (the loop has a port or sessions),
 * -ENOTSUP (built without DPDK), -ENODEV (no such device), -errno. */
int ternc_loop_dpdk(struct ternc_loop *loop, const struct ternc_dpdk_cfg *cfg, const char **bad);

/* ---- sessions ---- */

/**
 * Create a session on @loop and start connecting (non-blocking; the host
 * names are resolved here with getaddrinfo). Return: 0, -EINVAL (bad host
 * string or chroot), -ENOENT (no host resolved), -ENOMEM.
 */
int ternc_open(struct ternc_loop *loop, const struct ternc_cfg *cfg, struct ternc **out);
/**
 * End the session: send closeSession and, when not inside a callback, run
 * the loop until the server answers or min(timeout, 2 s) passes; pending
 * calls still complete (normally, or with ZK_ESESSIONEXPIRED), watchers get
 * a TERNC_CLOSED event, state_fn gets TERNC_CLOSED, then @c is freed
 * (inside a callback: freed once that callback returns). NULL is ok.
 */
void ternc_close(struct ternc *c);
/* Open a session and wait until it is CONNECTED (or @timeout_ms, -1 = the
 * session timeout). Return: ZK_OK (*@out set), ZK_EOPERATIONTIMEOUT,
 * ZK_EBADARGUMENTS (bad hosts), ZK_ESESSIONEXPIRED, ZK_ESYSTEM. */
int ternc_open_sync(struct ternc_loop *loop, const struct ternc_cfg *cfg, int timeout_ms,
		    struct ternc **out);

int ternc_state(const struct ternc *c);          /* enum ternc_state */
int64_t ternc_session_id(const struct ternc *c); /* 0 before the first handshake */
/* Copies the 16 password bytes to @out (for resuming in another process). */
void ternc_session_passwd(const struct ternc *c, uint8_t out[16]);
int32_t ternc_session_timeout(const struct ternc *c); /* negotiated, ms */
int64_t ternc_last_zxid(const struct ternc *c);       /* highest zxid seen */
/* "host:port" of the current (or last) server, NULL if none yet. */
const char *ternc_server(const struct ternc *c);
struct ternc_loop *ternc_loop_of(const struct ternc *c);
/* Drop the current connection as if the network failed (tests, and a way to
 * move to another server). Pending calls: ZK_ECONNECTIONLOSS. */
void ternc_disconnect(struct ternc *c);
/* User data slot. */
void ternc_set_data(struct ternc *c, void *data);
void *ternc_get_data(const struct ternc *c);

/* Name of a zk_err ("NoNode", "ConnectionLoss", ...); "Unknown" otherwise. */
const char *ternc_strerror(int err);
/* Name of a state ("CONNECTED", ...) or event type ("NodeCreated", ...). */
const char *ternc_state_name(int state);
const char *ternc_event_name(int type);

/* ---- ACL helpers ---- */

/* world:anyone:cdrwa, the default for every create when @acl is NULL. */
extern const struct zk_acl_list TERNC_OPEN_ACL;
/* world:anyone:r, and auth::cdrwa (the creator's authenticated ids). */
extern const struct zk_acl_list TERNC_READ_ACL;
extern const struct zk_acl_list TERNC_CREATOR_ACL;

/**
 * Parse zkCli's ACL syntax "scheme:id:perms[,scheme:id:perms...]" (perms from
 * "cdrwa"; the id may itself hold ':' as in digest:user:hash) into a malloc'd
 * list freed with ternc_acl_free. Return: ZK_OK, ZK_EBADARGUMENTS, ZK_ESYSTEM.
 */
int ternc_acl_parse(const char *text, struct zk_acl_list *out);
void ternc_acl_free(struct zk_acl_list *acl);
/* "cdrwa"-style text for @perms into @buf (6 bytes suffice). */
const char *ternc_perms_str(int32_t perms, char buf[6]);
/* The digest id "user:base64(sha1(user:pass))" of @user_pass ("user:pass")
 * into @buf. Return: ZK_OK, ZK_EBADARGUMENTS (no ':' or @cap too small). */
int ternc_digest_id(const char *user_pass, char *buf, size_t cap);

/* ---- async calls ----
 * Each returns ZK_OK (the callback will run exactly once) or an error (no
 * callback): ZK_EBADARGUMENTS, ZK_ESYSTEM, ZK_ESESSIONEXPIRED (session
 * expired/closed), ZK_EAUTHFAILED. @cb may be NULL (fire and forget).
 * @wfn/@warg: a watcher to register (NULL = none). @acl NULL = TERNC_OPEN_ACL.
 * @version -1 = any. Data may be NULL with @len -1 (null) or 0. */

int ternc_create(struct ternc *c, const char *path, const void *data, int32_t len,
		 const struct zk_acl_list *acl, int mode, int64_t ttl_ms, ternc_cb cb, void *arg);
int ternc_delete(struct ternc *c, const char *path, int32_t version, ternc_cb cb, void *arg);
int ternc_exists(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg, ternc_cb cb,
		 void *arg);
int ternc_get(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg, ternc_cb cb,
	      void *arg);
int ternc_set(struct ternc *c, const char *path, const void *data, int32_t len, int32_t version,
	      ternc_cb cb, void *arg);
int ternc_get_acl(struct ternc *c, const char *path, ternc_cb cb, void *arg);
int ternc_set_acl(struct ternc *c, const char *path, const struct zk_acl_list *acl, int32_t version,
		  ternc_cb cb, void *arg);
/* getChildren2: names and the parent's stat. */
int ternc_children(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg, ternc_cb cb,
		   void *arg);
int ternc_children_count(struct ternc *c, const char *path, ternc_cb cb, void *arg);
int ternc_sync(struct ternc *c, const char *path, ternc_cb cb, void *arg);
/* @ops: ZK_OP_CREATE (flags = create mode, ttl for TTL modes), ZK_OP_DELETE,
 * ZK_OP_SETDATA, ZK_OP_CHECK, with path/data/data_len/acl/version set
 * (acl.count 0 with v NULL = TERNC_OPEN_ACL). 1..TERNC_MULTI_MAX ops. */
#define TERNC_MULTI_MAX 4096
int ternc_multi(struct ternc *c, const struct zk_op *ops, uint32_t n, ternc_cb cb, void *arg);
/* addWatch (op 106): a persistent watcher on @path, recursive if @recursive. */
int ternc_add_watch(struct ternc *c, const char *path, bool recursive, ternc_watch_fn wfn,
		    void *warg, ternc_cb cb, void *arg);
/* Remove every local watcher of @type (ZK_WATCHER_CHILDREN/DATA/ANY/
 * PERSISTENT/PERSISTENT_RECURSIVE) on @path and tell the server
 * (removeWatches, op 18). err ZK_ENOWATCHER if the server had none. */
int ternc_remove_watches(struct ternc *c, const char *path, int type, ternc_cb cb, void *arg);
/* addauth: @cred is e.g. "user:pass" for "digest". Kept and re-sent on
 * every reconnect. A refusal ends the session (TERNC_AUTH_FAILED). */
int ternc_add_auth(struct ternc *c, const char *scheme, const void *cred, int32_t len, ternc_cb cb,
		   void *arg);
int ternc_whoami(struct ternc *c, ternc_cb cb, void *arg);
/* reconfig (ZooKeeper 3.5+): @joining "server.N=spec,...", @leaving "N,...",
 * or @new_members (the whole list; then the others must be NULL); any may
 * be NULL. @from_config: the config version it applies to, -1 = any. The
 * result has the new config (data) and /zookeeper/config's Stat. */
int ternc_reconfig(struct ternc *c, const char *joining, const char *leaving,
		   const char *new_members, int64_t from_config, ternc_cb cb, void *arg);

/* ---- blocking wrappers ----
 * Each runs the session's loop (other sessions on it progress too) until the
 * reply comes, at most the negotiated session timeout (the requested one
 * before the first handshake). Return: the reply's err, or the async call's
 * error, ZK_EOPERATIONTIMEOUT, ZK_EAPI (inside a callback). @out (may be
 * NULL) receives a malloc'd deep copy of the result whenever a reply came
 * (also for err != 0); free it with ternc_result_free. */

void ternc_result_free(struct ternc_result *r);

int ternc_create_sync(struct ternc *c, const char *path, const void *data, int32_t len,
		      const struct zk_acl_list *acl, int mode, int64_t ttl_ms,
		      struct ternc_result **out);
int ternc_delete_sync(struct ternc *c, const char *path, int32_t version);
/* @st may be NULL. ZK_ENONODE when absent (the watcher is still set). */
int ternc_exists_sync(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg,
		      struct zstat *st);
int ternc_get_sync(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg,
		   struct ternc_result **out);
int ternc_set_sync(struct ternc *c, const char *path, const void *data, int32_t len,
		   int32_t version, struct zstat *st);
int ternc_get_acl_sync(struct ternc *c, const char *path, struct ternc_result **out);
int ternc_set_acl_sync(struct ternc *c, const char *path, const struct zk_acl_list *acl,
		       int32_t version);
int ternc_children_sync(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg,
			struct ternc_result **out);
int ternc_children_count_sync(struct ternc *c, const char *path, int32_t *count);
int ternc_sync_sync(struct ternc *c, const char *path);
int ternc_multi_sync(struct ternc *c, const struct zk_op *ops, uint32_t n,
		     struct ternc_result **out);
int ternc_add_watch_sync(struct ternc *c, const char *path, bool recursive, ternc_watch_fn wfn,
			 void *warg);
int ternc_remove_watches_sync(struct ternc *c, const char *path, int type);
int ternc_add_auth_sync(struct ternc *c, const char *scheme, const void *cred, int32_t len);
int ternc_whoami_sync(struct ternc *c, struct ternc_result **out);
int ternc_reconfig_sync(struct ternc *c, const char *joining, const char *leaving,
			const char *new_members, int64_t from_config, struct ternc_result **out);

#endif
