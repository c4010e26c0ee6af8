/* tools/ternr.h: coordination recipes over the ternc client library.
 *
 * Design
 * ------
 * Every recipe is a few znodes under a caller-chosen path plus the classic
 * ZooKeeper algorithms, written against ternc's blocking wrappers: the
 * blocking calls here run the session's loop (other sessions on the loop
 * progress too) and so must not be called from a ternc callback. Watch-driven
 * observers (leader, group, config) are asynchronous: they run inside
 * ternc_loop_run() and call the caller's function from there.
 *
 * Herd freedom. A waiter watches only the node it waits for: a lock waiter
 * its immediate predecessor (a reader: the nearest earlier writer), so one
 * release wakes exactly one waiter. ternr_lock_wakeups() counts the watch
 * events a waiter received, which the tests use to prove it.
 *
 * Connection loss. A create of a sequential node may succeed on the server
 * while the reply is lost. Every recipe node is therefore named
 * "_c_<guid>-<kind>-<seq>" (Curator's protection mode): after
 * CONNECTIONLOSS the recipe waits for the session to come back, lists the
 * parent and adopts its own node by the 16-hex-digit guid prefix instead of
 * creating a second one. Idempotent reads are retried; a delete that comes
 * back NoNode after a retry counts as done.
 *
 * Session expiry. A holder keeps an exists watch on its own lock node: the
 * session's end (or someone deleting the node) fires it and the lock reports
 * loss through its lost_fn. A client that cannot reach any server does not
 * learn of expiry from the server, so ternr_lock_check() also declares the
 * lock lost once the session has been disconnected for longer than its
 * negotiated timeout (the server has expired it by then, or will at once).
 *
 * Fencing token (Chubby's sequencer). The token is the czxid of the
 * holder's lock node: the zxid of the txn that created it. Zxids only grow
 * across the whole ensemble (epoch << 32 | counter, surviving restarts and
 * leader changes), lock nodes are granted in sequence order, which is their
 * creation order, so tokens strictly increase in acquisition order, and
 * unlike the sequence suffix they do not restart if the lock directory is
 * deleted and recreated. A guarded resource remembers the largest token it
 * has accepted and refuses smaller ones; one with its own session can also
 * ask ternr_fence_check() whether a token is still the current holder's.
 *
 * Queues. push creates a persistent sequential "q-PPP-" node (PPP = priority,
 * 000 first; equal priorities in push order). pop reads the lowest item and
 * takes it with one multi {delete item (at the version read), create an
 * ephemeral claim "c-<item>" holding a guid}: exactly one consumer's multi
 * succeeds. After CONNECTIONLOSS the claim tells whether the take happened;
 * the claim is then deleted. If the session expires during that window the
 * item is lost (at most once), which the call reports as SessionExpired.
 *
 * Barriers. A simple barrier is a node: wait() blocks while it exists. The
 * double barrier is ZooKeeper's recipe: enter creates an ephemeral child and
 * the N-th participant creates "ready"; leave is the herd-free variant (the
 * lowest waits on the highest, the others delete themselves and wait on the
 * lowest). A double-barrier path serves one round.
 *
 * Errors: enum zk_err codes (ZK_OK = 0), as in ternc.h, plus TERNR_ECANCELED.
 * Ownership: strings passed in are copied; results are malloc'd and freed by
 * the caller with the named free function.
 */
#ifndef TERNR_H
#define TERNR_H

#include <stdbool.h>
#include <stdint.h>

#include "tools/ternc.h"

#define TERNR_ECANCELED (-1000)  /* the cancel hook asked a blocking call to stop */
#define TERNR_RETRY_MAX 64       /* connection-loss retries of one step */
#define TERNR_STEPS_MAX 100000   /* list/watch rounds of one blocking call */
#define TERNR_CHILDREN_MAX 65536 /* recipe nodes considered under one path */
#define TERNR_ID_MAX 256         /* bytes of a participant or member name */
#define TERNR_PRIO_MAX 999       /* queue priorities 0 (first) .. 999 */

/* Process-wide: blocking calls poll @fn every few ms and return
 * TERNR_ECANCELED when it says true (the CLI passes its SIGINT flag). */
void ternr_set_cancel(bool (*fn)(void));

/* ---- locks: exclusive, read/write, with fencing token; also election ---- */

enum ternr_lock_kind { TERNR_LOCK_EXCLUSIVE = 0, TERNR_LOCK_READ = 1, TERNR_LOCK_WRITE = 2 };

struct ternr_lock;
/* Called from inside the loop when a held lock is lost: @err is
 * ZK_ESESSIONEXPIRED (session ended) or ZK_ENONODE (node deleted). */
typedef void (*ternr_lost_fn)(struct ternr_lock *l, int err, void *arg);

struct ternr_lock_cfg {
	const char *path; /* lock directory (created if missing) */
	int kind;         /* enum ternr_lock_kind; election uses EXCLUSIVE */
	const void *data; /* stored in the lock node (an election candidate's id) */
	int32_t len;
	ternr_lost_fn lost_fn; /* optional */
	void *lost_arg;
};

/* Return: ZK_OK, ZK_EBADARGUMENTS, ZK_ESYSTEM. */
int ternr_lock_new(struct ternc *c, const struct ternr_lock_cfg *cfg, struct ternr_lock **out);
/* Release if held (best effort) and free. NULL is ok. */
void ternr_lock_free(struct ternr_lock *l);
/**
 * Block until the lock is held or @timeout_ms passes (-1: no bound).
 * Return: ZK_OK, ZK_EOPERATIONTIMEOUT (our node is removed again),
 * ZK_ESESSIONEXPIRED, TERNR_ECANCELED, or another error of the server.
 */
int ternr_lock_acquire(struct ternr_lock *l, int timeout_ms);
/* Delete our node. Return: ZK_OK (also when it was already gone), errors. */
int ternr_lock_release(struct ternr_lock *l);
/**
 * Poll the ownership of a held lock (cheap; runs no loop).
 * Return: ZK_OK held; ZK_ECONNECTIONLOSS disconnected but still held for
 * now; ZK_ESESSIONEXPIRED or ZK_ENONODE lost (lost_fn has run once);
 * ZK_EAPI not held.
 */
int ternr_lock_check(struct ternr_lock *l);
/* The fencing token (czxid of our node) once held; 0 before. */
int64_t ternr_lock_token(const struct ternr_lock *l);
/* Our node's full path ("" if none). */
const char *ternr_lock_node(const struct ternr_lock *l);
/* Watch events that woke this waiter during the last acquire. */
uint32_t ternr_lock_wakeups(const struct ternr_lock *l);
/**
 * Is @token the fencing token of the current exclusive holder of @path?
 * Return: ZK_OK yes, ZK_EBADVERSION no (stale), errors.
 */
int ternr_fence_check(struct ternc *c, const char *path, int64_t token);

/* ---- leader election (a ternr_lock whose data is the candidate id) ---- */

/**
 * The current leader of @path: its id into @id (NUL-terminated, cut to
 * @cap-1) and its node's czxid into *@token (may be NULL).
 * Return: ZK_OK, ZK_ENONODE (no candidate), errors.
 */
int ternr_leader_get(struct ternc *c, const char *path, char *id, size_t cap, int64_t *token);

struct ternr_watcher;
/* Leader change: @id NULL when nobody leads; @err nonzero (session ended)
 * on the last call. */
typedef void (*ternr_leader_fn)(struct ternc *c, int err, const char *id, void *arg);
/* Call @fn with the current leader and again on every change. Return: ZK_OK,
 * ZK_ESYSTEM, ZK_EBADARGUMENTS, the first call's error. */
int ternr_leader_watch(struct ternc *c, const char *path, ternr_leader_fn fn, void *arg,
		       struct ternr_watcher **out);
/* Stop calling; the watcher's outstanding watches end with the session. */
void ternr_watcher_free(struct ternr_watcher *w);

/* ---- group membership and naming service ---- */

/* Create the ephemeral member @path/@name with @data (parents created).
 * Return: ZK_OK (also when a lost reply's create was ours),
 * ZK_ENODEEXISTS (another session holds the name), errors. */
int ternr_group_join(struct ternc *c, const char *path, const char *name, const void *data,
		     int32_t len);
int ternr_group_leave(struct ternc *c, const char *path, const char *name);

struct ternr_member {
	char *name;
	uint8_t *data; /* NUL-terminated copy too */
	int32_t len;
};
struct ternr_members {
	uint32_t count;
	struct ternr_member *v; /* sorted by name */
};
/* List members with their data. Return: ZK_OK, ZK_ENONODE, errors. */
int ternr_group_list(struct ternc *c, const char *path, struct ternr_members **out);
void ternr_members_free(struct ternr_members *m);
/* Membership change: the sorted names (valid during the call); @err nonzero
 * (session ended) on the last call. */
typedef void (*ternr_group_fn)(struct ternc *c, int err, const char *const *names, uint32_t count,
			       void *arg);
int ternr_group_watch(struct ternc *c, const char *path, ternr_group_fn fn, void *arg,
		      struct ternr_watcher **out);

/* Naming service: provider @instance of @service at @endpoint ("host:port"). */
int ternr_service_register(struct ternc *c, const char *service, const char *instance,
			   const char *endpoint);
int ternr_service_lookup(struct ternc *c, const char *service, struct ternr_members **out);

/* ---- config subscription ---- */

/* Each new version of @path: data/len (len -1 = null, ZK_ENONODE: absent),
 * its stat; @err ZK_ESESSIONEXPIRED on the last call. */
typedef void (*ternr_config_fn)(struct ternc *c, int err, const void *data, int32_t len,
				const struct zstat *st, void *arg);
int ternr_config_subscribe(struct ternc *c, const char *path, ternr_config_fn fn, void *arg,
			   struct ternr_watcher **out);

/* ---- barriers ---- */

int ternr_barrier_set(struct ternc *c, const char *path);    /* ZK_OK also if set */
int ternr_barrier_remove(struct ternc *c, const char *path); /* ZK_OK also if gone */
/* Block while @path exists. Return: ZK_OK, ZK_EOPERATIONTIMEOUT, errors. */
int ternr_barrier_wait(struct ternc *c, const char *path, int timeout_ms);
/* Double barrier: block until @n participants entered (ours is @name). */
int ternr_dbarrier_enter(struct ternc *c, const char *path, const char *name, uint32_t n,
			 int timeout_ms);
/* Block until every participant left. */
int ternr_dbarrier_leave(struct ternc *c, const char *path, const char *name, int timeout_ms);

/* ---- FIFO / priority queue ---- */

/* Append an item with priority @prio (0..TERNR_PRIO_MAX, 0 first; FIFO
 * queues use 0). Return: ZK_OK, ZK_EBADARGUMENTS, errors. */
int ternr_queue_push(struct ternc *c, const char *path, uint32_t prio, const void *data,
		     int32_t len);
struct ternr_item {
	char *name;    /* "q-PPP-SSSSSSSSSS" */
	uint8_t *data; /* NUL-terminated copy */
	int32_t len;
};
/* Take the first item, waiting up to @timeout_ms for one (0: do not wait,
 * -1: no bound). Return: ZK_OK (*@out set), ZK_ENONODE (empty, no wait),
 * ZK_EOPERATIONTIMEOUT, ZK_ESESSIONEXPIRED, TERNR_ECANCELED, errors. */
int ternr_queue_pop(struct ternc *c, const char *path, int timeout_ms, struct ternr_item **out);
void ternr_item_free(struct ternr_item *it);

#endif
