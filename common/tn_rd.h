/* common/tn_rd.h: bounded big-endian cursors for jute-style encodings.
 *
 * Reader: every get checks the remaining length first and returns -EBADMSG
 * rather than reading past @end (STYLE rule 17). Decoders never assert on input.
 * Writer: writes into a caller buffer; past capacity it keeps counting @len and
 * sets @overflow, so a pass with cap 0 measures the encoded size.
 *
 * Jute: int = 4 bytes, long = 8, boolean = 1, buffer/ustring/vector = int32
 * length (or count) then bytes; length -1 means null.
 */
#ifndef TN_RD_H
#define TN_RD_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t tn_load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t tn_load_be64(const uint8_t *p)
{
	return (uint64_t)tn_load_be32(p) << 32 | tn_load_be32(p + 4);
}

static inline void tn_store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void tn_store_be64(uint8_t *p, uint64_t v)
{
	tn_store_be32(p, (uint32_t)(v >> 32));
	tn_store_be32(p + 4, (uint32_t)v);
}

struct tn_rd {
	const uint8_t *p, *end;
};

static inline struct tn_rd tn_rd_init(const void *buf, size_t len)
{
	return (struct tn_rd){ (const uint8_t *)buf, (const uint8_t *)buf + len };
}

static inline size_t tn_rd_left(const struct tn_rd *r)
{
	return (size_t)(r->end - r->p);
}

static inline int tn_rd_u8(struct tn_rd *r, uint8_t *v)
{
	if (r->end - r->p < 1)
		return -EBADMSG;
	*v = *r->p++;
	return 0;
}

static inline int tn_rd_bool(struct tn_rd *r, bool *v)
{
	uint8_t b;
	int rc = tn_rd_u8(r, &b);
	if (rc == 0)
		*v = b != 0;
	return rc;
}

static inline int tn_rd_u32(struct tn_rd *r, uint32_t *v)
{
	if (r->end - r->p < 4)
		return -EBADMSG;
	*v = tn_load_be32(r->p);
	r->p += 4;
	return 0;
}

static inline int tn_rd_i32(struct tn_rd *r, int32_t *v)
{
	uint32_t u;
	int rc = tn_rd_u32(r, &u);
	if (rc == 0)
		*v = (int32_t)u;
	return rc;
}

static inline int tn_rd_u64(struct tn_rd *r, uint64_t *v)
{
	if (r->end - r->p < 8)
		return -EBADMSG;
	*v = tn_load_be64(r->p);
	r->p += 8;
	return 0;
}

static inline int tn_rd_i64(struct tn_rd *r, int64_t *v)
{
	uint64_t u;
	int rc = tn_rd_u64(r, &u);
	if (rc == 0)
		*v = (int64_t)u;
	return rc;
}

/* A jute buffer or ustring: *@p points into the input (not NUL-terminated),
 * *@len is -1 for null. Fails if the length is below -1 or past the end. */
static inline int tn_rd_buf(struct tn_rd *r, const uint8_t **p, int32_t *len)
{
	int32_t n;
	int rc = tn_rd_i32(r, &n);
	if (rc < 0)
		return rc;
	if (n < -1 || (n > 0 && (size_t)n > tn_rd_left(r)))
		return -EBADMSG;
	*p = n > 0 ? r->p : NULL;
	*len = n;
	if (n > 0)
		r->p += n;
	return 0;
}

static inline int tn_rd_skip(struct tn_rd *r, size_t n)
{
	if (tn_rd_left(r) < n)
		return -EBADMSG;
	r->p += n;
	return 0;
}

struct tn_wr {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
};

static inline struct tn_wr tn_wr_init(void *buf, size_t cap)
{
	return (struct tn_wr){ (uint8_t *)buf, cap, 0, false };
}

static inline void tn_wr_bytes(struct tn_wr *w, const void *p, size_t n)
{
	if (!w->overflow && w->cap - w->len >= n) {
		if (n)
			memcpy(w->buf + w->len, p, n);
	} else {
		w->overflow = true;
	}
	w->len += n;
}

static inline void tn_wr_u8(struct tn_wr *w, uint8_t v)
{
	tn_wr_bytes(w, &v, 1);
}

static inline void tn_wr_bool(struct tn_wr *w, bool v)
{
	tn_wr_u8(w, v ? 1 : 0);
}

static inline void tn_wr_u32(struct tn_wr *w, uint32_t v)
{
	uint8_t b[4];
	tn_store_be32(b, v);
	tn_wr_bytes(w, b, 4);
}

static inline void tn_wr_i32(struct tn_wr *w, int32_t v)
{
	tn_wr_u32(w, (uint32_t)v);
}

static inline void tn_wr_u64(struct tn_wr *w, uint64_t v)
{
	uint8_t b[8];
	tn_store_be64(b, v);
	tn_wr_bytes(w, b, 8);
}

static inline void tn_wr_i64(struct tn_wr *w, int64_t v)
{
	tn_wr_u64(w, (uint64_t)v);
}

/* A jute buffer: @len -1 writes null. */
static inline void tn_wr_buf(struct tn_wr *w, const void *p, int32_t len)
{
	tn_wr_i32(w, len);
	if (len > 0)
		tn_wr_bytes(w, p, (size_t)len);
}

/* A jute ustring from a C string; NULL writes null. */
static inline void tn_wr_str(struct tn_wr *w, const char *s)
{
	tn_wr_buf(w, s, s ? (int32_t)strlen(s) : -1);
}

#endif
