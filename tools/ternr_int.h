/* tools/ternr_int.h: helpers shared by the recipe files (not public). */
#ifndef TERNR_INT_H
#define TERNR_INT_H

#include "tools/ternr.h"

#define TR_GUID_LEN 16  /* hex digits of a protected node's guid */
#define TR_NAME_MAX 256 /* bytes of one recipe child name */

struct tr_tok;
/* Embedded first in every object that hands tokens to ternc. */
struct tr_owner {
	struct tr_tok *toks;
};
struct tr_tok {
	struct tr_owner *owner; /* NULL: the owner is gone */
	struct tr_tok *next;
	struct tr_tok *pair; /* an async call's watch token (freed if not registered) */
	int op;              /* what the async call was */
	uint32_t gen;        /* the owner's generation when issued */
};
struct tr_tok *tr_tok_new(struct tr_owner *o);
/* Free @t; return its owner (NULL if orphaned). */
struct tr_owner *tr_tok_take(struct tr_tok *t);
/* After a blocking watch call returned @rc: drop the token if no watcher was registered. */
void tr_tok_settle(struct tr_tok *t, int rc, bool exists_call);
void tr_owner_orphan(struct tr_owner *o);

/* One protected recipe child, with its sequence number and lock kind. */
struct tr_node {
	char name[TR_NAME_MAX];
	int64_t seq;
	int kind;
};
struct tr_list {
	struct tr_node *v; /* sorted by seq */
	uint32_t count;
};

bool tr_cancelled(void);
int64_t tr_now_ms(void);
int64_t tr_deadline(int timeout_ms);
bool tr_dead(struct ternc *c);
bool tr_retryable(int rc);
int tr_step(struct ternc *c, int64_t deadline_ms);
int tr_wait_connected(struct ternc *c, int64_t deadline_ms);
int tr_join(char *out, const char *dir, const char *name);
int tr_check_path(const char *path);
int tr_children(struct ternc *c, const char *path, ternc_watch_fn wfn, void *warg,
		struct ternc_result **out);
int tr_ensure_path(struct ternc *c, const char *path);
int tr_delete(struct ternc *c, const char *path);
void tr_guid(char out[TR_GUID_LEN + 1]);
/* Create @dir/@base (sequential @mode) whose name holds @guid; after a lost
 * reply find it by @guid instead of creating twice. */
int tr_create_protected(struct ternc *c, const char *dir, const char *base, const char *guid,
			const void *data, int32_t len, int mode, char *out, struct zstat *st);
int tr_list(struct ternc *c, const char *dir, struct tr_list *out);
/* Recipe children of a getChildren reply. Return: ZK_OK, ZK_ESYSTEM. */
int tr_parse(const struct ternc_result *r, struct tr_list *out);
void tr_list_free(struct tr_list *l);

#endif
