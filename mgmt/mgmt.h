/* mgmt/mgmt.h: the control thread of a standalone ternd (mgmt/control.c).
 *
 * The control thread is the sequencer and the apply step in one: it owns
 * zxid assignment, store_prep, the WAL appends, store_apply in zxid order,
 * session creation/expiry, container/TTL reaping and snapshot scheduling.
 * Workers reach it through one MPSC ring (ctl_ring) and it answers through
 * each worker's ring (dp_post).
 */
#ifndef TN_MGMT_H
#define TN_MGMT_H

#include <stddef.h>

#include "common/tn_env.h"
#include "dataplane/dp.h"
#include "mgmt/cfg.h"
#include "store/store.h"

struct ctl;

struct ctl_cfg {
	struct store *store;       /* recovered; the control thread becomes its writer */
	const struct cfg *cfg;
	const char *snap_dir;      /* dataDir/version-2 */
	const char *log_dir;       /* dataLogDir/version-2 */
	struct tn_env *env;
};

/* Open the WAL (wal_open on @cc->log_dir) and the ring. Return 0, -errno,
 * -TN_ECORRUPT. */
int ctl_create(struct ctl **out, const struct ctl_cfg *cc);
/* The ring workers push to, and its wake function (dp_cfg.to_ctl/ctl_wake). */
struct dp_ring *ctl_ring(struct ctl *c);
void ctl_wake(void *arg);
/* Start the thread, answering through @dp. Return 0, -errno. */
int ctl_start(struct ctl *c, struct dp *dp);
/* Stop taking requests, finish what is in flight (bounded wait), join. */
void ctl_stop(struct ctl *c);
/* Close the WAL (flushes) and free. After ctl_stop and dp_stop. */
void ctl_destroy(struct ctl *c);
/* dp_cfg.fourlw: the text of a four-letter word. Any worker thread. */
size_t ctl_fourlw(void *arg, const char *cmd, char *out, size_t cap);
/* True once the WAL failed: ternd exits non-zero. */
bool ctl_failed(struct ctl *c);

#endif
