/* tools/ternc_int.h: what ternc.c (loop, connection, protocol) and
 * ternc_ops.c (calls, blocking wrappers, ACL helpers) share. Not public. */
#ifndef TERNC_INT_H
#define TERNC_INT_H

#include "dataplane/zkp.h"
#include "tools/ternc.h"

/* Watch kinds, in setWatches2's list order (enum zkp_watch_list). */
enum tc_wkind {
	TC_W_NONE = -1,
	TC_W_DATA = ZKP_WL_DATA,
	TC_W_EXIST = ZKP_WL_EXIST,
	TC_W_CHILD = ZKP_WL_CHILD,
	TC_W_PERSIST = ZKP_WL_PERSISTENT,
	TC_W_RECURSIVE = ZKP_WL_PERSISTENT_RECURSIVE,
};

/* A call on its way in: @req's paths already carry the chroot. */
struct tc_call {
	struct zkp_request req;
	ternc_cb cb;
	void *arg;
	ternc_watch_fn wfn; /* registered with @wkind on @wpath if the reply allows */
	void *warg;
	int wkind;
	const char *wpath; /* the caller's path (without chroot); copied */
};

/* Validate @path (absolute, no empty or trailing component unless
 * @allow_trailing_slash, as a sequential create's parent/ prefix) and write
 * chroot + path to @buf (TERNC_PATH_MAX bytes).
 * Return: ZK_OK, ZK_EBADARGUMENTS. */
int tc_path_out(const struct ternc *c, const char *path, bool allow_trailing_slash, char *buf);
/* Bytes of the chroot prefix tc_path_out adds (0 without a chroot). */
size_t tc_chroot_len(const struct ternc *c);
/* Queue one call. Return: ZK_OK (cb runs once), or an error (no cb). */
int tc_submit(struct ternc *c, const struct tc_call *call);
/* Remove local watchers matching removeWatches' @type (ZK_WATCHER_*) on the
 * caller's @path. Return: true if any was removed. */
bool tc_watch_remove(struct ternc *c, const char *path, int type);
/* Is the caller inside a callback of @c's loop? */
bool tc_in_callback(const struct ternc *c);
/* Negotiated (or asked) session timeout for blocking waits. */
int tc_wait_bound_ms(const struct ternc *c);

#endif
