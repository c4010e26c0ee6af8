/* tests/lib/tn_zk_eq.h: field-by-field equality of decoded ZooKeeper records
 * (strings with NULL distinct from "", buffers with null -1 distinct from
 * empty, ACL lists, ops with their multi subs). Used by the codec's unit test
 * and its fuzz target to compare a decode with the decode of a re-encoding. */
#ifndef TN_ZK_EQ_H
#define TN_ZK_EQ_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "store/store-t.h"

static inline bool str_eq(const char *a, const char *b)
{
	return (!a || !b) ? a == b : strcmp(a, b) == 0;
}

static inline bool buf_eq(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	return alen == blen && (alen <= 0 || memcmp(a, b, (size_t)alen) == 0);
}

static inline bool acl_eq(const struct zk_acl_list *a, const struct zk_acl_list *b)
{
	if (a->count != b->count)
		return false;
	for (int32_t i = 0; i < a->count; i++)
		if (a->v[i].perms != b->v[i].perms ||
		    !str_eq(a->v[i].id.scheme, b->v[i].id.scheme) ||
		    !str_eq(a->v[i].id.id, b->v[i].id.id))
			return false;
	return true;
}

static inline bool op_eq(const struct zk_op *a, const struct zk_op *b)
{
	if (a->type != b->type || !str_eq(a->path, b->path) ||
	    !buf_eq(a->data, a->data_len, b->data, b->data_len) || !acl_eq(&a->acl, &b->acl) ||
	    a->flags != b->flags || a->ttl != b->ttl || a->version != b->version ||
	    a->watch != b->watch || a->mode != b->mode || a->sub_count != b->sub_count)
		return false;
	for (uint32_t i = 0; i < a->sub_count; i++)
		if (!op_eq(&a->sub[i], &b->sub[i]))
			return false;
	return true;
}

#endif
