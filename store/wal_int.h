/* store/wal_int.h: private declarations of the txn log (wal.c, wal_uring.c).
 *
 * wal.c holds the pure parts: the on-disk format (encode, decode, the segment
 * scanner that decides "clean end / torn tail / corruption"), recovery,
 * iteration, purge and truncate, and the append queue. wal_uring.c is the I/O
 * backend: the log thread, io_uring submission (write linked to fdatasync),
 * segment creation and fsync timing. docs/FORMATS.md describes the format.
 *
 * Segment file "log.<16 hex first zxid>":
 *   off  size  field
 *     0     4  magic 0x54574c47 ("TWLG"), big-endian like every field
 *     4     4  version (1)
 *     8     8  first zxid (the zxid of the first record; equals the name)
 *    16    12  reserved, zero
 *    28     4  CRC32C of bytes 0..27
 *    32   ...  records, each 8-byte aligned; an all-zero record header ends the log
 * Record:
 *     0     4  CRC32C of bytes 4..23 and the payload
 *     4     4  payload length
 *     8     8  zxid (strictly increasing across the whole log)
 *    16     4  batch offset: where the group-commit write holding it began
 *    20     4  reserved, zero
 *    24   len  payload, then zero padding to a multiple of 8
 */
#ifndef WAL_INT_H
#define WAL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define WAL_MAGIC 0x54574c47u
#define WAL_VERSION 1u
#define WAL_SEG_HDR_LEN 32u
#define WAL_REC_HDR_LEN 24u
#define WAL_REC_MAX (16u << 20) /* payload bytes, whatever the config says */
#define WAL_SEGMENT_DEFAULT (64ull << 20)
#define WAL_SEGMENT_MIN 4096ull
#define WAL_BATCH_DEFAULT (4u << 20)
#define WAL_BATCH_MIN 4096u
#define WAL_SEGMENTS_MAX 65536u /* segment files one directory may hold */

/* The on-disk layouts, as C structs only for their sizes and offsets: every
 * field is written big-endian by the encoders below, never by memcpy. */
struct wal_seg_hdr {
	uint32_t magic;
	uint32_t version;
	uint64_t first_zxid;
	uint8_t reserved[12];
	uint32_t crc;
};
struct wal_rec_hdr {
	uint32_t crc;
	uint32_t len;
	uint64_t zxid;
	uint32_t batch_off;
	uint32_t reserved;
};
_Static_assert(sizeof(struct wal_seg_hdr) == WAL_SEG_HDR_LEN, "on-disk layout is frozen");
_Static_assert(__builtin_offsetof(struct wal_seg_hdr, crc) == 28, "on-disk layout is frozen");
_Static_assert(sizeof(struct wal_rec_hdr) == WAL_REC_HDR_LEN, "on-disk layout is frozen");
_Static_assert(__builtin_offsetof(struct wal_rec_hdr, batch_off) == 16, "on-disk layout is frozen");

static inline uint64_t wal_rec_size(uint32_t len)
{
	return WAL_REC_HDR_LEN + (((uint64_t)len + 7u) & ~7ull);
}

/* One decoded record; @payload points into the scanned buffer. */
struct wal_rec {
	tn_zxid zxid;
	uint32_t len;
	uint32_t batch_off;
	const uint8_t *payload;
};

/* Encode a record at @buf (needs wal_rec_size(@len) bytes). Return the size. */
size_t wal_rec_encode(uint8_t *buf, tn_zxid zxid, uint32_t batch_off, const void *payload,
		      uint32_t len);
/* Decode the record at offset @off of @buf[0..@size). Return its size (> 0),
 * 0 if the header is all zero (end of log), -TN_ECORRUPT if it is not a valid
 * record with zxid > @after. Never reads outside @buf. */
int64_t wal_rec_decode(const uint8_t *buf, size_t size, size_t off, tn_zxid after,
		       struct wal_rec *out);
void wal_seg_hdr_encode(uint8_t *buf, tn_zxid first_zxid);
/* Return 0 with *@first, or -TN_ECORRUPT. */
int wal_seg_hdr_decode(const uint8_t *buf, size_t size, tn_zxid *first);

enum wal_scan_status {
	WAL_SCAN_CLEAN,   /* records, then zeros to the end */
	WAL_SCAN_TORN,    /* a bad record at bad_off with only the last batch's debris after */
	WAL_SCAN_CORRUPT, /* damage at bad_off with durable records after it */
	WAL_SCAN_BADHDR,  /* the segment header is missing or damaged */
};

struct wal_scan {
	enum wal_scan_status status;
	tn_zxid first_zxid;
	tn_zxid last_zxid;    /* of the last good record; first_zxid - 1 if none */
	uint64_t count;       /* good records */
	uint64_t end_off;     /* one past the last good record */
	uint64_t bad_off;     /* first bad record (== end_off); CORRUPT: the damage */
	uint64_t proof_off;   /* CORRUPT: a valid record that proves it; BADHDR: one, or 0 */
	uint64_t nonzero_end; /* one past the last non-zero byte of the buffer */
};

/* Called for each good record in order; non-zero stops the scan (returned). */
typedef int (*wal_scan_fn)(void *arg, const struct wal_rec *r, uint64_t off);

/* Scan a whole segment image @buf[0..@size) (pure: fuzzed by fuzz_wal.c).
 * Return 0 with @out filled, or @fn's non-zero value. */
int wal_scan_buffer(const uint8_t *buf, size_t size, struct wal_scan *out, wal_scan_fn fn,
		    void *arg);

/* Segment list of a directory, sorted by first zxid. */
struct wal_seglist {
	uint32_t count;
	tn_zxid *first;
};
int wal_seglist_load(const char *dir, struct wal_seglist *out);
void wal_seglist_free(struct wal_seglist *l);
void wal_seg_path(char *buf, size_t cap, const char *dir, tn_zxid first);
int wal_fsync_dir(const char *dir);

/* A group-commit buffer: records bound for one write at @file_off of the
 * segment @seg_first. @new_seg: create the segment first (@data starts with
 * its header). */
struct wal_buf {
	uint8_t *data;
	size_t len, cap;
	uint64_t file_off;
	tn_zxid seg_first;
	tn_zxid last_zxid;
	uint64_t records;
	bool new_seg;
};

/* Test hooks: set by tests only (under w->mu), read by the log thread. */
struct wal_faults {
	int eio_after_batches; /* < 0 off; N: the write after N more fails, -EIO */
	int short_writes;      /* the next N writes go half their length */
};

struct wal {
	struct wal_cfg cfg;
	char *dir;
	wal_cb cb;
	void *cb_arg;

	pthread_mutex_t mu;
	pthread_cond_t work_cv;  /* log thread sleeps here when idle */
	pthread_cond_t space_cv; /* appenders wait here when the fill buffer is full */
	pthread_cond_t done_cv;  /* wal_sync waits here */
	struct wal_buf bufs[2];
	struct wal_buf *fill;   /* under mu */
	tn_zxid last_zxid;      /* under mu: highest appended */
	tn_zxid durable_zxid;   /* under mu */
	tn_zxid seg_first;      /* under mu: segment the next record goes to */
	uint64_t seg_tail;      /* under mu: its offset; 0 = no segment yet */
	bool roll;              /* under mu */
	bool stopping;          /* under mu */
	bool flushing;          /* under mu: a batch is out */
	int err;                /* under mu: sticky disk error */
	struct wal_stats stats; /* under mu */
	struct wal_faults faults;

	/* log thread only */
	pthread_t thread;
	int fd; /* the segment being written, -1 none */
	tn_zxid fd_first;
	void *ring; /* struct io_uring, owned by wal_uring.c */
};

/* wal_uring.c */
int wal_io_start(struct wal *w);
void wal_io_stop(struct wal *w);

#endif
