/* consensus/zab_reconf.c: membership change (ZooKeeper's reconfig).
 *
 * The new configuration travels as an ordinary txn (the host's setData of
 * /zookeeper/config); the core never parses txns. The leader proposes it with
 * zab_propose_config(), which records the new member list: from then on
 * every txn at or above that zxid commits only when a voter quorum of the
 * current config AND a voter quorum of the new one have it durable (a
 * joint quorum; new voters that are not synced with us simply have not
 * acked). Learners (and a restarted server) hear of a config txn they log
 * through zab_note_config(), so if one of them becomes the leader before it
 * commits, the same joint rule holds for it (establishment commits the
 * inherited history only up to the config txn until a new-config quorum has
 * it too). The host, on every server, applies the committed config with
 * zab_set_config() once it executes that COMMIT (or installs a snapshot, or
 * recovers, holding it): the member table is rebuilt by id, per-peer state of
 * the members that stay is kept, and
 *   - a leader that is no voter of the new config steps down (a new election
 *     runs among the new voters);
 *   - a learner whose own role flipped (observer <-> participant) goes
 *     LOOKING and reconnects in its new role;
 *   - a server not in the new config keeps itself as a non-voting member and
 *     goes LOOKING: nobody answers it any more.
 */
#include <errno.h>
#include <string.h>

#include "consensus/zab_int.h"

static bool members_ok(const struct zab_member *m, uint32_t n)
{
	uint32_t voters = 0;

	if (!m || n == 0 || n > ZAB_MEMBERS_MAX)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (m[i].id == 0)
			return false;
		for (uint32_t j = 0; j < i; j++)
			if (m[j].id == m[i].id)
				return false;
		voters += !m[i].observer;
	}
	return voters > 0;
}

/* The highest zxid a voter quorum of the NEW config has durable (0: none);
 * a new voter not synced with us counts as having nothing. */
static tn_zxid new_quorum_point(const struct zab *z)
{
	tn_zxid v[ZAB_MEMBERS_MAX];
	uint32_t n = 0, voters = 0, q;

	for (uint32_t i = 0; i < z->joint_count; i++) {
		const struct zab_member *jm = &z->joint_members[i];
		int k;
		tn_zxid have = 0;
		if (jm->observer)
			continue;
		voters++;
		k = zab_idx(z, jm->id);
		if (k == (int)z->my_idx) {
			have = TN_MIN(z->last_durable, z->last_proposed);
		} else if (k >= 0) {
			const struct learner *l = &z->ln[k];
			if (!l->observer && l->st == LN_SYNCED)
				have = TN_MAX(l->acked, l->nl_zxid);
		}
		v[n++] = have;
	}
	q = voters / 2 + 1;
	TN_ASSERT(n == voters && q <= n);
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
			tn_zxid t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[q - 1];
}

/* A config txn is noted, not applied yet and still in our log. Applied
 * means the host called zab_set_config, which clears @joint: our own commit
 * point says nothing after a restart, since recovery applies the whole log
 * (and keeps only its last zxid as the history's base). A truncation below
 * it or a snapshot installed over it clears @joint too (zab.c, learner). */
static bool joint_live(const struct zab *z)
{
	return z->joint && (z->joint_zxid <= z->h.base || zab_hist_contains(z, z->joint_zxid));
}

tn_zxid zab_reconf_clamp(const struct zab *z, tn_zxid c)
{
	tn_zxid cn;

	if (!joint_live(z) || c < z->joint_zxid)
		return c;
	cn = new_quorum_point(z);
	if (cn < z->joint_zxid)
		return z->joint_zxid - 1; /* everything before the config txn only */
	return TN_MIN(c, cn);
}

/* Whether a voter quorum of the pending new config is us or learners at
 * @st or later (@as_voter: connected as voters, not as observers). */
static bool joint_quorum_at(const struct zab *z, enum ln_state st, bool as_voter)
{
	uint32_t voters = 0, have = 0;

	for (uint32_t i = 0; i < z->joint_count; i++) {
		int k;
		if (z->joint_members[i].observer)
			continue;
		voters++;
		k = zab_idx(z, z->joint_members[i].id);
		if (k == (int)z->my_idx ||
		    (k >= 0 && z->ln[k].st >= st && !(as_voter && z->ln[k].observer)))
			have++;
	}
	return have >= voters / 2 + 1;
}

bool zab_reconf_may_establish(const struct zab *z)
{
	/* a config txn in our log may have committed: a new leader needs a
	 * quorum of it too, or the new config could elect another leader */
	return !joint_live(z) || joint_quorum_at(z, LN_SYNCED, true);
}

bool zab_reconf_joint_voter(const struct zab *z, uint32_t k)
{
	if (!joint_live(z))
		return false;
	for (uint32_t i = 0; i < z->joint_count; i++)
		if (z->joint_members[i].id == z->cfg.members[k].id)
			return !z->joint_members[i].observer;
	return false;
}

bool zab_reconf_quorum_at(const struct zab *z, enum ln_state st)
{
	return !joint_live(z) || joint_quorum_at(z, st, false);
}

int zab_propose_config(struct zab *z, tn_zxid zxid, const void *txn, size_t len,
		       const struct zab_member *members, uint32_t n)
{
	int rc;

	if (!members_ok(members, n))
		return -EINVAL;
	if (zab_config_pending(z))
		return -EBUSY;
	rc = zab_propose(z, zxid, txn, len);
	if (rc < 0)
		return rc;
	z->joint = true;
	z->joint_zxid = zxid;
	z->joint_count = n;
	memcpy(z->joint_members, members, n * sizeof(*members));
	return 0;
}

int zab_note_config(struct zab *z, tn_zxid zxid, const struct zab_member *members, uint32_t n)
{
	if (!members_ok(members, n))
		return -EINVAL;
	/* a restarted host notes the config txn of its recovered tail that it
	 * has not applied as committed: our last_committed (all it recovered)
	 * does not prove it committed. One no newer than the config in force
	 * (a learner re-logging history, after adopting a newer one) binds
	 * nothing. */
	if (zxid <= z->cfg_version)
		return 0;
	z->joint = true;
	z->joint_zxid = zxid;
	z->joint_count = n;
	memcpy(z->joint_members, members, n * sizeof(*members));
	return 0;
}

tn_zxid zab_known_committed(const struct zab *z)
{
	if (!z->serving)
		return 0;
	if (z->role == ZAB_LEADING)
		return z->last_committed;
	return z->leader_commit;
}

bool zab_config_pending(const struct zab *z)
{
	/* a leader's commit point is its own: committed is not pending, even
	 * before the host applies it */
	return z->role == ZAB_LEADING && joint_live(z) && z->joint_zxid > z->last_committed;
}

uint32_t zab_synced_voters(const struct zab *z, const struct zab_member *members, uint32_t n)
{
	uint32_t c = 0;

	if (z->role != ZAB_LEADING)
		return 0;
	for (uint32_t i = 0; i < n && i < ZAB_MEMBERS_MAX; i++) {
		int k;
		if (members[i].observer)
			continue;
		k = zab_idx(z, members[i].id);
		if (k == (int)z->my_idx)
			c++;
		else if (k >= 0 && z->ln[k].st == LN_SYNCED && !z->ln[k].observer)
			c++; /* an observer to promote does not ACK until it reconnects */
	}
	return c;
}

int zab_config_blob(struct zab *z, tn_zxid version, const void *blob, size_t len)
{
	uint8_t *b;

	if (len > ZAB_CONFIG_BLOB_MAX)
		return -EINVAL;
	if (version < z->cfg_version)
		return 0;   /* an older one: keep ours */
	if (!(b = malloc(len ? len : 1)))
		return -ENOMEM;
	if (len)
		memcpy(b, blob, len);
	free(z->cfg_blob);
	z->cfg_blob = b;
	z->cfg_blob_len = len;
	z->cfg_version = version;
	z->cfg_offered = TN_MAX(z->cfg_offered, version);
	return 0;
}

int zab_set_config(struct zab *z, const struct zab_member *members, uint32_t n, uint64_t now_ms)
{
	struct zab_member nm[ZAB_MEMBERS_MAX];
	struct learner nln[ZAB_MEMBERS_MAX];
	struct peer_vote nrecv[ZAB_MEMBERS_MAX], nout[ZAB_MEMBERS_MAX];
	bool nup[ZAB_MEMBERS_MAX];
	bool was_observer = z->i_observer, same;
	uint32_t count = n, voters = 0;
	int me = -1;

	if (!members_ok(members, n))
		return -EINVAL;
	z->now_ms = TN_MAX(z->now_ms, now_ms);
	memcpy(nm, members, n * sizeof(*members));
	for (uint32_t i = 0; i < n; i++)
		if (nm[i].id == z->cfg.my_id)
			me = (int)i;
	if (me < 0) {
		if (count == ZAB_MEMBERS_MAX)
			return -ENOSPC;
		nm[count] = (struct zab_member){ z->cfg.my_id, true }; /* removed: keep us, silent */
		me = (int)count++;
	}
	same = count == z->cfg.member_count;
	for (uint32_t i = 0; same && i < count; i++)
		same = nm[i].id == z->cfg.members[i].id && nm[i].observer == z->cfg.members[i].observer;
	z->joint = false;
	if (same)
		return 0;
	for (uint32_t i = 0; i < count; i++) {
		int k = zab_idx(z, nm[i].id);
		voters += !nm[i].observer;
		if (k < 0) {
			memset(&nln[i], 0, sizeof(nln[i]));
			memset(&nrecv[i], 0, sizeof(nrecv[i]));
			memset(&nout[i], 0, sizeof(nout[i]));
			nup[i] = false;
			continue;
		}
		nln[i] = z->ln[k];
		nrecv[i] = z->recv[k];
		nout[i] = z->outset[k];
		nup[i] = z->peer_up[k];
		if (nln[i].st != LN_NONE && nln[i].observer != nm[i].observer) {
			/* its role flipped: it reconnects as what it is now */
			zab_sync_drop_peer(z, nm[i].id);
			memset(&nln[i], 0, sizeof(nln[i]));
		}
	}
	for (uint32_t k = 0; k < z->cfg.member_count; k++) {
		bool kept = false;
		for (uint32_t i = 0; i < count && !kept; i++)
			kept = nm[i].id == z->cfg.members[k].id;
		if (!kept)
			zab_sync_drop_peer(z, z->cfg.members[k].id);
	}
	TN_ASSERT(voters > 0);
	memset(z->cfg.members, 0, sizeof(z->cfg.members));
	memcpy(z->cfg.members, nm, count * sizeof(nm[0]));
	z->cfg.member_count = count;
	memcpy(z->ln, nln, count * sizeof(nln[0]));
	memcpy(z->recv, nrecv, count * sizeof(nrecv[0]));
	memcpy(z->outset, nout, count * sizeof(nout[0]));
	memcpy(z->peer_up, nup, count * sizeof(nup[0]));
	for (uint32_t i = count; i < ZAB_MEMBERS_MAX; i++) {
		memset(&z->ln[i], 0, sizeof(z->ln[i]));
		memset(&z->recv[i], 0, sizeof(z->recv[i]));
		memset(&z->outset[i], 0, sizeof(z->outset[i]));
		z->peer_up[i] = false;
	}
	z->voters = voters;
	z->quorum = voters / 2 + 1;
	z->my_idx = (uint32_t)me;
	z->i_observer = nm[me].observer;
	if (!z->started || z->failed)
		return 0;
	if (z->role == ZAB_LEADING && z->i_observer)
		zab_go_looking(z); /* not a voter any more: hand over */
	else if ((z->role == ZAB_FOLLOWING || z->role == ZAB_OBSERVING) &&
		 (was_observer != z->i_observer || !zab_is_voter(z, z->leader)))
		zab_go_looking(z);
	else if (z->role == ZAB_LOOKING)
		zab_go_looking(z); /* a fresh round under the new quorum */
	return 0;
}
