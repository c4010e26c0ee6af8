/* store/recover.c: rebuild the store from snapshots and the txn log.
 *
 * Recovery loads the newest snapshot that verifies (snap.c), falling back to
 * older ones when a newer one is corrupt, then replays every log record with
 * a zxid above the snapshot's. Snapshots are fuzzy, so the tree may already
 * hold part of what the replayed txns do; txns are idempotent (store-t.h), so
 * the result is the exact tree as of the last logged txn.
 *
 * Refusals (-TN_ECORRUPT), because a silently shorter history is worse than a
 * server that will not start:
 *  - the log is corrupt before its tail (the WAL reports it; a torn tail is
 *    not corruption, wal_open truncates it);
 *  - a record's body does not decode, or names a different zxid than its frame;
 *  - the first replayed record leaves a gap after the snapshot within the same
 *    epoch (zxid counters are consecutive inside an epoch: the log was purged
 *    too far for this snapshot);
 *  - no snapshot verifies (or none is there) and the log does not reach back
 *    to the first txn of its epoch (counter 1): the history before it is lost
 *    (ZooKeeper likewise refuses logs without a snapshot).
 * No snapshot at all gives an empty tree and a replay of the whole log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/tn_assert.h"
#include "common/tn_err.h"
#include "common/tn_log.h"
#include "store/store_int.h"

#define RECOVER_ARENA_MIN (64u << 10)  /* decode arena for one txn, bytes */
#define RECOVER_ARENA_MAX (256u << 20) /* a txn needing more is refused */
#define RECOVER_ARENA_PER_BYTE 16u     /* decoded structs per encoded byte, a first guess */

/* Load the newest valid snapshot into *@out (an empty store if none).
 * *@lost says snapshot files were there but none verified. */
static int load_newest(const struct store_cfg *cfg, const char *snap_dir, struct store **out,
		       tn_zxid *zxid, bool *lost)
{
	tn_zxid *v;
	char path[4096];
	int n = snap_list(snap_dir, &v);
	if (n < 0) {
		TN_ERROR("recover", "%s: cannot list snapshots: %s", snap_dir, tn_strerror(n));
		return n;
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/snapshot.%016" PRIx64, snap_dir, v[i]);
		int rc = snap_load(path, cfg, out, zxid);
		if (rc == 0) {
			if (i > 0)
				TN_WARN("recover", "using older snapshot %s: %d newer one(s) corrupt",
					path, i);
			free(v);
			return 0;
		}
		if (rc != -TN_ECORRUPT) {
			free(v);
			return rc;
		}
		TN_WARN("recover", "%s is corrupt; falling back to an older snapshot", path);
	}
	free(v);
	*lost = n > 0;
	if (n > 0)
		TN_WARN("recover", "%s: no snapshot verifies; replaying the whole log", snap_dir);
	*zxid = 0;
	return store_create(out, cfg);
}

/* Decode @rec into @t, growing *@abuf until the txn fits. */
static int decode_rec(const uint8_t *rec, uint32_t len, struct txn *t, uint8_t **abuf,
		      size_t *acap)
{
	size_t want = TN_MAX((size_t)RECOVER_ARENA_MIN, (size_t)len * RECOVER_ARENA_PER_BYTE);
	for (;;) {
		if (*acap < want) {
			uint8_t *p = realloc(*abuf, want);
			if (!p)
				return -ENOMEM;
			*abuf = p;
			*acap = want;
		}
		struct tn_arena a = tn_arena_init(*abuf, *acap);
		int rc = txn_decode(rec, len, t, &a);
		if (rc != -EMSGSIZE)
			return rc;
		if (*acap >= RECOVER_ARENA_MAX)
			return -TN_ELIMIT;
		want = TN_MIN(*acap * 2, (size_t)RECOVER_ARENA_MAX);
	}
}

/* Is @first a sound first record after snapshot @base (0: none loaded)?
 * See the file comment. */
static int check_first(const char *log_dir, tn_zxid base, tn_zxid first, bool lost_snaps)
{
	if ((lost_snaps || base == 0) && ZK_COUNTER(first) > 1) {
		TN_ERROR("recover", "%s: no usable snapshot and the log starts at 0x%" PRIx64
			 ", after the start of its epoch (purged)", log_dir, first);
		return -TN_ECORRUPT;
	}
	if (base != 0 && ZK_EPOCH(first) == ZK_EPOCH(base) && first != base + 1) {
		TN_ERROR("recover", "%s: log gap: snapshot at 0x%" PRIx64 ", next record 0x%" PRIx64,
			 log_dir, base, first);
		return -TN_ECORRUPT;
	}
	return 0;
}

static int apply_rec(struct store *s, tn_zxid zxid, const uint8_t *rec, uint32_t len,
		     uint8_t **abuf, size_t *acap, const char *log_dir)
{
	struct txn t;
	struct store_apply_out ao;
	int rc = decode_rec(rec, len, &t, abuf, acap);
	if (rc == -EBADMSG || (rc == 0 && t.hdr.zxid != zxid)) {
		TN_ERROR("recover", "%s: record 0x%" PRIx64 " does not hold a valid txn", log_dir,
			 zxid);
		return -TN_ECORRUPT;
	}
	if (rc < 0)
		return rc;
	if ((rc = store_apply(s, &t, &ao)) < 0)
		TN_ERROR("recover", "apply of 0x%" PRIx64 " failed: %s", zxid, tn_strerror(rc));
	return rc;
}

/* Replay every record above @base into @s. Return the count or an error. */
static int replay(struct store *s, const char *log_dir, tn_zxid base, bool lost_snaps)
{
	struct wal_iter *it;
	uint8_t *abuf = NULL;
	size_t acap = 0;
	int64_t count = 0;
	int rc = wal_iter_open(&it, log_dir, base + 1);
	if (rc == -ENOENT)
		return 0; /* no log directory: nothing was ever logged */
	if (rc < 0)
		return rc;
	for (;;) {
		tn_zxid z;
		const uint8_t *rec;
		uint32_t len;
		if ((rc = wal_iter_next(it, &z, &rec, &len)) <= 0)
			break;
		TN_ASSERT(z > base);
		if (count == 0 && (rc = check_first(log_dir, base, z, lost_snaps)) < 0)
			break;
		if ((rc = apply_rec(s, z, rec, len, &abuf, &acap, log_dir)) < 0)
			break;
		count++;
	}
	wal_iter_close(it);
	free(abuf);
	return rc < 0 ? rc : (int)TN_MIN(count, (int64_t)INT32_MAX);
}

int store_recover(const struct store_cfg *cfg, const char *snap_dir, const char *log_dir,
		  struct store **out)
{
	struct store *s = NULL;
	tn_zxid base = 0;
	bool lost = false;
	TN_ASSERT(cfg && snap_dir && log_dir && out);
	int rc = load_newest(cfg, snap_dir, &s, &base, &lost);
	if (rc < 0)
		return rc;
	TN_ASSERT(store_last_zxid(s) == base);
	rc = replay(s, log_dir, base, lost);
	if (rc < 0) {
		TN_ERROR("recover", "replay of %s failed: %s", log_dir, tn_strerror(rc));
		store_destroy(s);
		return rc;
	}
	TN_INFO("recover", "snapshot 0x%" PRIx64 " + %d log records: last zxid 0x%" PRIx64, base,
		rc, store_last_zxid(s));
	*out = s;
	return 0;
}
