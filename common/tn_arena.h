/* common/tn_arena.h: a bump allocator over a caller buffer, for decoders that
 * must hand out NUL-terminated strings and arrays without malloc. Running out
 * returns NULL, which a decoder reports as -EMSGSIZE. */
#ifndef TN_ARENA_H
#define TN_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct tn_arena {
	uint8_t *base;
	size_t cap, used;
};

static inline struct tn_arena tn_arena_init(void *buf, size_t cap)
{
	return (struct tn_arena){ (uint8_t *)buf, cap, 0 };
}

/* @n bytes aligned to 8, or NULL if the arena is full. */
static inline void *tn_arena_alloc(struct tn_arena *a, size_t n)
{
	size_t off = (a->used + 7u) & ~(size_t)7u;
	if (off > a->cap || a->cap - off < n)
		return NULL;
	a->used = off + n;
	return a->base + off;
}

/* Copy @len bytes and a NUL; NULL if full. */
static inline char *tn_arena_strndup(struct tn_arena *a, const void *p, size_t len)
{
	char *s = (char *)tn_arena_alloc(a, len + 1);
	if (s) {
		if (len)
			memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

#endif
