/* store/store_int.h: declarations shared inside store/ only.
 *
 * struct store is defined by the tree code (ztree.c and friends). Other store
 * files keep their own state behind the pointers below, so each part can
 * change its internals alone.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "store/store.h"

struct prep_state; /* prep.c: the overlay of prepped, unapplied changes */

/* prep.c: free the overlay; store_destroy() calls it if s->prep is set. */
void prep_state_free(struct prep_state *p);

/* Snapshot loading (implemented by the tree code, called by snap.c).
 * Nodes arrive parents first. A node that already exists (/, /zookeeper...)
 * is replaced. numChildren is recomputed from the links, not taken from @st.
 * Return 0, -ENOENT (no parent), -ENOMEM. */
int store_load_node(struct store *s, const char *path, const struct zstat *st,
		    const uint8_t *data, int32_t data_len, const struct zk_acl_list *acl);
int store_load_session(struct store *s, uint64_t session, int32_t timeout_ms);
void store_set_last_zxid(struct store *s, tn_zxid zxid);

/* The store's copy of its config and the prep overlay; the tree code must keep
 * these two members in struct store. */
const struct store_cfg *store_cfg_of(const struct store *s);
struct prep_state **store_prep_slot(struct store *s);

#endif
