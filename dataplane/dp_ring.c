/* dataplane/dp_ring.c: a bounded lock-free ring of pointers.
 *
 * Design: Dmitry Vyukov's bounded queue. Each cell carries a sequence number.
 * A producer claims position @pos with a CAS on @tail when cell[pos].seq == pos,
 * writes the pointer, then publishes with seq = pos + 1 (release). The single
 * consumer reads cell[head] when seq == head + 1 (acquire), then frees the
 * cell for the next lap with seq = head + cap (release). Producers never wait
 * on each other beyond the CAS, the consumer never waits at all, and a full
 * ring is reported rather than overwritten.
 *
 *   cell.seq == pos        free for the producer of lap pos/cap
 *   cell.seq == pos + 1    holds a value for the consumer at head == pos
 *   cell.seq == pos + cap  consumed; free for the next lap
 *
 * The head and tail counters sit on separate cache lines so producers and the
 * consumer do not false-share.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/tn_assert.h"
#include "dataplane/dp.h"

struct cell {
	_Atomic uint64_t seq;
	void *val;
};

#define DP_RING_SAMPLE_MASK 15u /* the consumer samples the depth every 16 pops */

struct dp_ring {
	_Alignas(64) _Atomic uint64_t tail; /* producers */
	_Alignas(64) uint64_t head;         /* the consumer only (metrics read it relaxed) */
	uint64_t depth_max;                 /* the consumer only (metrics read it relaxed) */
	_Alignas(64) uint32_t mask;
	struct cell *cells;
};

int dp_ring_create(struct dp_ring **out, uint32_t cap)
{
	struct dp_ring *r;

	if (cap < 2 || (cap & (cap - 1)) != 0)
		return -EINVAL;
	r = aligned_alloc(64, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->cells = calloc(cap, sizeof *r->cells);
	if (!r->cells) {
		free(r);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cap; i++)
		atomic_init(&r->cells[i].seq, i);
	atomic_init(&r->tail, 0);
	r->head = 0;
	r->depth_max = 0;
	r->mask = cap - 1;
	*out = r;
	return 0;
}

void dp_ring_destroy(struct dp_ring *r)
{
	if (!r)
		return;
	free(r->cells);
	free(r);
}

bool dp_ring_push(struct dp_ring *r, void *p)
{
	uint64_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);

	TN_ASSERT(p != NULL);
	for (;;) {
		struct cell *c = &r->cells[pos & r->mask];
		/* Acquire: pairs with the consumer's release that freed the cell. */
		uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				c->val = p;
				/* Release: the consumer that sees seq sees val. */
				atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
				return true;
			}
			/* pos was reloaded by the failed CAS */
		} else if (dif < 0) {
			return false; /* a full lap behind: the ring is full */
		} else {
			pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
		}
	}
}

void *dp_ring_pop(struct dp_ring *r)
{
	struct cell *c = &r->cells[r->head & r->mask];
	/* Acquire: pairs with the producer's release publishing val. */
	uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
	void *p;

	if (seq != r->head + 1)
		return NULL;
	p = c->val;
	TN_ASSERT_HOT(p != NULL);
	c->val = NULL;
	/* Release: the producer of the next lap may now reuse the cell. */
	atomic_store_explicit(&c->seq, r->head + r->mask + 1, memory_order_release);
	r->head++;
	if ((r->head & DP_RING_SAMPLE_MASK) == 0) {
		/* +1: the entry just taken was queued too. Relaxed: a gauge. */
		uint64_t d = atomic_load_explicit(&r->tail, memory_order_relaxed) - r->head + 1;
		if (d > r->depth_max)
			__atomic_store_n(&r->depth_max, d, __ATOMIC_RELAXED);
	}
	return p;
}

bool dp_ring_nonempty(struct dp_ring *r)
{
	struct cell *c = &r->cells[r->head & r->mask];
	return atomic_load_explicit(&c->seq, memory_order_acquire) == r->head + 1;
}

uint64_t dp_ring_depth(const struct dp_ring *r, uint64_t *max_out)
{
	TN_ASSERT(r);
	/* Relaxed loads of the consumer's plain fields from another thread:
	 * aligned 64-bit words, read as gauges; a stale value is fine. */
	uint64_t head = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t d = tail > head ? tail - head : 0;
	d = d > (uint64_t)r->mask + 1 ? (uint64_t)r->mask + 1 : d;
	if (max_out) {
		uint64_t m = __atomic_load_n(&r->depth_max, __ATOMIC_RELAXED);
		*max_out = m > d ? m : d;
	}
	return d;
}
