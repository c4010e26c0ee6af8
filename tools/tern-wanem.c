/* tools/tern-wanem.c: a userspace WAN emulator between two network interfaces.
 *
 * This kernel has no netem qdisc, so the rack's sites are joined by this
 * relay instead: it runs in its own namespace with one veth end in each
 * site's bridge, reads every Ethernet frame on either interface through an
 * AF_PACKET socket and sends it out of the other one later, after:
 *
 *   cut      everything is dropped (a WAN cut; `heal` clears it)
 *   loss     a seeded coin drops the frame
 *   rate     a token bucket (tokens may go negative: the deficit is the
 *            queue) serialises frames; a frame that would make the queue
 *            exceed `queue` bytes is tail-dropped
 *   delay    a fixed one-way delay plus uniform jitter in [-jitter, +jitter];
 *            frames are released by due time, so jitter reorders naturally
 *   reorder  a seeded coin sends the frame without the delay (it overtakes)
 *   dup      a seeded coin sends a second copy
 *
 * Both directions use the same settings and separate state (bucket, RNG,
 * queue, counters). Settings are "key=value" words, on the command line and
 * in the --conf file, which SIGHUP re-reads (so `rack.sh wan set` is a file
 * write and a signal). SIGUSR1 writes the counters as JSON to --stats (and
 * stderr without it); so does exit. SIGTERM/SIGINT exit cleanly.
 *
 * Memory is fixed at start: WANEM_SLOTS_MAX frame slots of WANEM_FRAME_MAX
 * bytes per direction; frames over that size (a GSO super-frame: turn
 * offloads off on the site veths) are counted and dropped.
 *
 * The pure parts (settings parser, RNG, bucket, decisions, heap) come first;
 * tests/unit/test_tools_wanem.c includes this file with WANEM_NO_MAIN.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* ppoll */
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"

#define WANEM_SLOTS_MAX 4096u         /* frames held per direction */
#define WANEM_FRAME_MAX 2048u         /* bytes per frame (MTU 1500 + headers) */
#define WANEM_DELAY_US_MAX 10000000u  /* 10 s one way */
#define WANEM_PPM 1000000u            /* probabilities are in parts per million */
#define WANEM_QUEUE_MIN 16384u        /* default bucket queue, bytes, at least */
#define WANEM_QUEUE_MS 50u            /* default bucket queue: this long at the rate */
#define WANEM_HIST_BUCKETS 16u        /* delay histogram: <1 ms, <2, <4 ... <16384, more */
#define WANEM_WORDS_MAX 32u           /* key=value words per settings string */
#define WANEM_CONF_MAX 4096u          /* bytes of a --conf file */

struct wan_params {
	uint64_t delay_us, jitter_us;
	uint32_t loss_ppm, dup_ppm, reorder_ppm;
	uint64_t rate_bps;            /* bits per second; 0 = unlimited */
	uint64_t queue_bytes;         /* bucket queue; 0 = derived from the rate */
	uint64_t burst_bytes;         /* bucket depth */
	bool cut;
};

enum wan_drop { DROP_CUT, DROP_LOSS, DROP_QUEUE, DROP_SLOTS, DROP_OVERSIZE, DROP_SEND, DROP_N };
static const char *const drop_name[DROP_N] = { "cut", "loss", "queue", "slots", "oversize", "send" };

struct wan_bucket {
	int64_t tokens;               /* bit-us (BUCKET_UNIT a byte); negative = queued */
	uint64_t last_us;
};

struct wan_stats {
	uint64_t rx_frames, rx_bytes, fwd_frames, fwd_bytes, dup_frames, reordered;
	uint64_t drops[DROP_N];
	uint64_t hist[WANEM_HIST_BUCKETS + 1];
	uint64_t held_max;
};

struct wan_verdict {
	unsigned copies;              /* 0: dropped for @drop; 1 or 2 (duplicated) */
	enum wan_drop drop;
	uint64_t due_us[2];
};

/* ---- settings ---- */

static void params_default(struct wan_params *p)
{
	*p = (struct wan_params){ .burst_bytes = 3000 };
}

/* "20ms", "500us", "1s", "1.5ms" → microseconds. */
static int parse_time_us(const char *v, uint64_t *out)
{
	char *end;
	double x = strtod(v, &end);
	double mul;

	if (end == v || x < 0)
		return -EINVAL;
	if (!strcmp(end, "us"))
		mul = 1;
	else if (!strcmp(end, "ms") || !*end)
		mul = 1e3;
	else if (!strcmp(end, "s"))
		mul = 1e6;
	else
		return -EINVAL;
	x *= mul;
	if (x > WANEM_DELAY_US_MAX)
		return -ERANGE;
	*out = (uint64_t)(x + 0.5);
	return 0;
}

/* "1%", "0.25%", "0" → parts per million. */
static int parse_pct_ppm(const char *v, uint32_t *out)
{
	char *end;
	double x = strtod(v, &end);

	if (end == v || x < 0 || x > 100 || (*end && strcmp(end, "%")))
		return -EINVAL;
	*out = (uint32_t)(x * 1e4 + 0.5);
	return 0;
}

/* "100mbit", "10kbit", "1gbit", "12500kbps" (bytes), "0" → bits per second. */
static int parse_rate_bps(const char *v, uint64_t *out)
{
	static const struct { const char *sfx; double mul; } units[] = {
		{ "", 1 }, { "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 },
		{ "bps", 8 }, { "kbps", 8e3 }, { "mbps", 8e6 }, { "gbps", 8e9 },
	};
	char *end;
	double x = strtod(v, &end);

	if (end == v || x < 0)
		return -EINVAL;
	for (size_t i = 0; i < TN_ARRAY_LEN(units); i++)
		if (!strcmp(end, units[i].sfx)) {
			x *= units[i].mul;
			if (x > 1e12)
				return -ERANGE;
			*out = (uint64_t)(x + 0.5);
			return 0;
		}
	return -EINVAL;
}

/* "256kb", "1mb", "3000" → bytes. */
static int parse_bytes(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long x = strtoull(v, &end, 10);
	uint64_t mul = 1;

	if (end == v || *v == '-')
		return -EINVAL;
	if (!strcmp(end, "k") || !strcmp(end, "kb"))
		mul = 1024;
	else if (!strcmp(end, "m") || !strcmp(end, "mb"))
		mul = 1024 * 1024;
	else if (*end && strcmp(end, "b"))
		return -EINVAL;
	if (x > (1ull << 32))
		return -ERANGE;
	*out = x * mul;
	return 0;
}

/* Apply one settings string ("delay=20ms loss=1% cut", words split by
 * spaces, tabs, commas or newlines; '#' starts a comment to the line's end)
 * to @p. On an error @p is unchanged and @bad (if given, @bad_cap bytes)
 * names the word. */
static int params_apply(struct wan_params *p, const char *s, char *bad, size_t bad_cap)
{
	struct wan_params n = *p;
	char word[128];
	unsigned words = 0;

	while (*s) {
		size_t len = 0;
		if (*s == '#') {
			while (*s && *s != '\n')
				s++;
			continue;
		}
		if (strchr(" \t\r\n,", *s)) {
			s++;
			continue;
		}
		while (s[len] && !strchr(" \t\r\n,#", s[len]))
			len++;
		if (len >= sizeof word || ++words > WANEM_WORDS_MAX)
			goto bad_word;
		memcpy(word, s, len);
		word[len] = 0;
		s += len;

		char *v = strchr(word, '=');
		int rc = 0;
		if (!v) {
			if (!strcmp(word, "cut"))
				n.cut = true;
			else if (!strcmp(word, "heal"))
				n.cut = false;
			else if (!strcmp(word, "clear"))
				params_default(&n);
			else
				goto bad_word;
			continue;
		}
		*v++ = 0;
		if (!strcmp(word, "delay"))
			rc = parse_time_us(v, &n.delay_us);
		else if (!strcmp(word, "jitter"))
			rc = parse_time_us(v, &n.jitter_us);
		else if (!strcmp(word, "loss"))
			rc = parse_pct_ppm(v, &n.loss_ppm);
		else if (!strcmp(word, "dup"))
			rc = parse_pct_ppm(v, &n.dup_ppm);
		else if (!strcmp(word, "reorder"))
			rc = parse_pct_ppm(v, &n.reorder_ppm);
		else if (!strcmp(word, "rate"))
			rc = parse_rate_bps(v, &n.rate_bps);
		else if (!strcmp(word, "queue"))
			rc = parse_bytes(v, &n.queue_bytes);
		else if (!strcmp(word, "burst"))
			rc = parse_bytes(v, &n.burst_bytes);
		else if (!strcmp(word, "cut"))
			n.cut = strcmp(v, "0") != 0;
		else
			rc = -EINVAL;
		if (rc < 0) {
			v[-1] = '=';
			goto bad_word;
		}
	}
	if (n.jitter_us > n.delay_us)
		n.jitter_us = n.delay_us;     /* a frame never leaves before it came */
	*p = n;
	return 0;
bad_word:
	if (bad && bad_cap) {
		size_t l = strnlen(s, bad_cap - 1);
		if (words && strlen(word) < bad_cap) {
			memcpy(bad, word, strlen(word) + 1);
		} else {
			memcpy(bad, s, l);
			bad[l] = 0;
		}
	}
	return -EINVAL;
}

/* The queue bound in bytes: as set, or WANEM_QUEUE_MS at the rate. */
static uint64_t params_queue_bytes(const struct wan_params *p)
{
	if (p->queue_bytes)
		return p->queue_bytes;
	return TN_MAX((uint64_t)WANEM_QUEUE_MIN, p->rate_bps / 8 * WANEM_QUEUE_MS / 1000);
}

static int params_json(const struct wan_params *p, char *buf, size_t cap)
{
	return snprintf(buf, cap,
			"{\"delay_us\":%" PRIu64 ",\"jitter_us\":%" PRIu64 ",\"loss_ppm\":%u,"
			"\"dup_ppm\":%u,\"reorder_ppm\":%u,\"rate_bps\":%" PRIu64
			",\"queue_bytes\":%" PRIu64 ",\"cut\":%s}",
			p->delay_us, p->jitter_us, p->loss_ppm, p->dup_ppm, p->reorder_ppm,
			p->rate_bps, params_queue_bytes(p), p->cut ? "true" : "false");
}

/* ---- seeded randomness (splitmix64: small, and the same on every host) ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool rng_chance(uint64_t *s, uint32_t ppm)
{
	if (ppm == 0)
		return false;          /* no draw: a zero setting leaves the sequence alone */
	return rng_next(s) % WANEM_PPM < ppm;
}

/* ---- token bucket ---- */

/* Tokens are kept in bit-microseconds (1 byte = 8e6): refilling whole
 * bytes only would lose the remainder of every short interval. */
#define BUCKET_UNIT 8000000ll
__extension__ typedef __int128 wan_i128;

/* Admit @len bytes at @now_us. Returns the time the last byte leaves (now if
 * tokens cover it), or UINT64_MAX to drop: the queue (the token deficit)
 * would pass @queue_max bytes. Rate 0 means no limit. */
static uint64_t bucket_admit(struct wan_bucket *b, uint64_t rate_bps, uint64_t burst,
			     uint64_t queue_max, uint64_t now_us, uint32_t len)
{
	TN_ASSERT(now_us >= b->last_us);
	TN_ASSERT(burst <= (1ull << 32) && queue_max <= (1ull << 32));
	if (rate_bps == 0) {
		b->last_us = now_us;
		return now_us;
	}
	int64_t cap = (int64_t)burst * BUCKET_UNIT;
	/* 128 bits: a long idle time times a high rate must not overflow */
	wan_i128 t = (wan_i128)b->tokens + (wan_i128)(now_us - b->last_us) * rate_bps;
	b->tokens = t > cap ? cap : (int64_t)t;
	b->last_us = now_us;
	int64_t after = b->tokens - (int64_t)len * BUCKET_UNIT;
	if (after < 0 && -after > (int64_t)queue_max * BUCKET_UNIT)
		return UINT64_MAX;
	b->tokens = after;
	if (after >= 0)
		return now_us;
	return now_us + (uint64_t)(-after) / rate_bps;
}

/* ---- the decision for one frame ---- */

struct wan_dir {
	uint64_t rng;
	struct wan_bucket bucket;
	struct wan_stats st;
};

static void dir_init(struct wan_dir *d, uint64_t seed, unsigned which)
{
	*d = (struct wan_dir){ .rng = seed * 2 + which + 1 };
	TN_ASSERT(which < 2);
}

/* Decide what happens to a frame of @len bytes that arrived at @now_us. */
static void wan_decide(struct wan_dir *d, const struct wan_params *p, uint64_t now_us,
		       uint32_t len, struct wan_verdict *v)
{
	*v = (struct wan_verdict){ 0 };
	d->st.rx_frames++;
	d->st.rx_bytes += len;
	if (p->cut) {
		v->drop = DROP_CUT;
		return;
	}
	if (rng_chance(&d->rng, p->loss_ppm)) {
		v->drop = DROP_LOSS;
		return;
	}
	uint64_t out = bucket_admit(&d->bucket, p->rate_bps, p->burst_bytes,
				    params_queue_bytes(p), now_us, len);
	if (out == UINT64_MAX) {
		v->drop = DROP_QUEUE;
		return;
	}
	uint64_t delay = p->delay_us;
	if (p->jitter_us) {
		uint64_t span = 2 * p->jitter_us + 1;
		delay = delay - p->jitter_us + rng_next(&d->rng) % span;
	}
	if (rng_chance(&d->rng, p->reorder_ppm)) {
		delay = 0;
		d->st.reordered++;
	}
	v->copies = 1;
	v->due_us[0] = out + delay;
	if (rng_chance(&d->rng, p->dup_ppm)) {
		v->copies = 2;
		v->due_us[1] = v->due_us[0] + 1;
		d->st.dup_frames++;
	}
	TN_ASSERT(v->due_us[0] >= now_us);
}

static unsigned hist_bucket(uint64_t delay_us)
{
	uint64_t ms = delay_us / 1000;
	unsigned b = 0;
	while (b < WANEM_HIST_BUCKETS && ms >= (1ull << b))
		b++;
	return b;                     /* b: delay < 2^b ms; WANEM_HIST_BUCKETS: more */
}

/* ---- the schedule: a min-heap of slots by (due, seq) ---- */

struct wan_slot {
	uint64_t due_us, seq, rx_us;
	uint32_t len;
	uint8_t *frame;
};

struct wan_heap {
	struct wan_slot *slot;        /* WANEM_SLOTS_MAX entries */
	uint32_t *heap;               /* slot indices, heap-ordered */
	uint32_t *free_idx;           /* free slot indices (a stack) */
	uint32_t count, nfree, cap;
	uint64_t seq;
	uint8_t *frames;              /* cap * WANEM_FRAME_MAX bytes */
};

static int heap_init(struct wan_heap *h, uint32_t cap)
{
	*h = (struct wan_heap){ .cap = cap };
	h->slot = calloc(cap, sizeof *h->slot);
	h->heap = calloc(cap, sizeof *h->heap);
	h->free_idx = calloc(cap, sizeof *h->free_idx);
	h->frames = malloc((size_t)cap * WANEM_FRAME_MAX);
	if (!h->slot || !h->heap || !h->free_idx || !h->frames)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++) {
		h->free_idx[i] = cap - 1 - i;
		h->slot[i].frame = h->frames + (size_t)i * WANEM_FRAME_MAX;
	}
	h->nfree = cap;
	return 0;
}

static void heap_free(struct wan_heap *h)
{
	free(h->slot);
	free(h->heap);
	free(h->free_idx);
	free(h->frames);
	*h = (struct wan_heap){ 0 };
}

static bool slot_before(const struct wan_heap *h, uint32_t a, uint32_t b)
{
	const struct wan_slot *x = &h->slot[a], *y = &h->slot[b];
	return x->due_us < y->due_us || (x->due_us == y->due_us && x->seq < y->seq);
}

/* Take a free slot (NULL when all are held). Its frame buffer is the caller's
 * to fill before heap_push. */
static struct wan_slot *heap_take(struct wan_heap *h)
{
	if (h->nfree == 0)
		return NULL;
	return &h->slot[h->free_idx[--h->nfree]];
}

static void heap_push(struct wan_heap *h, struct wan_slot *s, uint64_t due_us)
{
	uint32_t i = h->count++;
	TN_ASSERT(h->count <= h->cap);
	s->due_us = due_us;
	s->seq = h->seq++;
	h->heap[i] = (uint32_t)(s - h->slot);
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!slot_before(h, h->heap[i], h->heap[parent]))
			break;
		uint32_t t = h->heap[i];
		h->heap[i] = h->heap[parent];
		h->heap[parent] = t;
		i = parent;
	}
}

static const struct wan_slot *heap_peek(const struct wan_heap *h)
{
	return h->count ? &h->slot[h->heap[0]] : NULL;
}

/* Remove the earliest slot and return it to the free stack (its frame stays
 * readable until the next heap_take). */
static struct wan_slot *heap_pop(struct wan_heap *h)
{
	if (h->count == 0)
		return NULL;
	uint32_t top = h->heap[0];
	h->heap[0] = h->heap[--h->count];
	for (uint32_t i = 0;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->count && slot_before(h, h->heap[l], h->heap[m]))
			m = l;
		if (r < h->count && slot_before(h, h->heap[r], h->heap[m]))
			m = r;
		if (m == i)
			break;
		uint32_t t = h->heap[i];
		h->heap[i] = h->heap[m];
		h->heap[m] = t;
		i = m;
	}
	h->free_idx[h->nfree++] = top;
	TN_ASSERT(h->nfree + h->count == h->cap);
	return &h->slot[top];
}

static int stats_json(const struct wan_stats *st, char *buf, size_t cap)
{
	size_t n = 0;
	int w;

#define OUT(...)                                                                   \
	do {                                                                       \
		w = snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__);          \
		if (w < 0)                                                         \
			return -EINVAL;                                            \
		n += (size_t)w;                                                    \
	} while (0)
	OUT("{\"rx_frames\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"fwd_frames\":%" PRIu64
	    ",\"fwd_bytes\":%" PRIu64 ",\"dup_frames\":%" PRIu64 ",\"reordered\":%" PRIu64
	    ",\"held_max\":%" PRIu64 ",\"drops\":{",
	    st->rx_frames, st->rx_bytes, st->fwd_frames, st->fwd_bytes, st->dup_frames,
	    st->reordered, st->held_max);
	for (unsigned i = 0; i < DROP_N; i++)
		OUT("%s\"%s\":%" PRIu64, i ? "," : "", drop_name[i], st->drops[i]);
	OUT("},\"delay_ms_hist\":{");
	for (unsigned i = 0; i <= WANEM_HIST_BUCKETS; i++) {
		if (i < WANEM_HIST_BUCKETS)
			OUT("%s\"<%llu\":%" PRIu64, i ? "," : "", 1ull << i, st->hist[i]);
		else
			OUT(",\"more\":%" PRIu64, st->hist[i]);
	}
	OUT("}}");
#undef OUT
	return n < cap ? (int)n : -ENOSPC;
}

#ifndef WANEM_NO_MAIN
/* ---- the relay ---- */

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WANEM_BURST 64u               /* frames read or sent per socket per turn */
#define WANEM_JSON_MAX 8192u

static volatile sig_atomic_t got_term, got_hup, got_usr1;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct side {
	const char *ifname;
	int fd, ifindex;
};

struct relay {
	struct side side[2];
	struct wan_dir dir[2];        /* [0]: side 0 → side 1 */
	struct wan_heap q[2];
	struct wan_params p;
	const char *conf, *stats_path;
	uint64_t seed, start_us, reports;
};

static int open_side(struct side *s)
{
	int one = 1;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };

	s->ifindex = (int)if_nametoindex(s->ifname);
	if (s->ifindex == 0)
		return -ENODEV;
	s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (s->fd < 0)
		return -errno;
	sll.sll_ifindex = s->ifindex;
	mr.mr_ifindex = s->ifindex;
	/* without IGNORE_OUTGOING we would read back what we send (checked below too) */
	setsockopt(s->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
	if (bind(s->fd, (struct sockaddr *)&sll, sizeof sll) < 0 ||
	    setsockopt(s->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
		int rc = -errno;
		close(s->fd);
		s->fd = -1;
		return rc;
	}
	return 0;
}

static void write_report(struct relay *r, const char *why)
{
	static char buf[3 * WANEM_JSON_MAX];
	char a[WANEM_JSON_MAX], b[WANEM_JSON_MAX], p[512];
	int n;

	if (stats_json(&r->dir[0].st, a, sizeof a) < 0 || stats_json(&r->dir[1].st, b, sizeof b) < 0 ||
	    params_json(&r->p, p, sizeof p) < 0)
		return;
	r->reports++;
	n = snprintf(buf, sizeof buf,
		     "{\"report\":%" PRIu64 ",\"why\":\"%s\",\"uptime_ms\":%" PRIu64
		     ",\"seed\":%" PRIu64 ",\"a\":\"%s\",\"b\":\"%s\",\"held\":[%u,%u],"
		     "\"settings\":%s,\"a_to_b\":%s,\"b_to_a\":%s}\n",
		     r->reports, why, (now_us() - r->start_us) / 1000, r->seed, r->side[0].ifname,
		     r->side[1].ifname, r->q[0].count, r->q[1].count, p, a, b);
	if (n < 0 || (size_t)n >= sizeof buf)
		return;
	if (!r->stats_path) {
		fputs(buf, stderr);
		return;
	}
	/* write then rename: a reader never sees half a report */
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", r->stats_path) >= (int)sizeof tmp)
		return;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	bool ok = fputs(buf, f) >= 0;
	ok = fclose(f) == 0 && ok;
	if (ok)
		rename(tmp, r->stats_path);
}

static void reload(struct relay *r)
{
	char buf[WANEM_CONF_MAX + 1], bad[128] = "";
	int fd = open(r->conf, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "tern-wanem: cannot read %s: %s\n", r->conf, strerror(errno));
		return;
	}
	n = read(fd, buf, WANEM_CONF_MAX);
	close(fd);
	if (n < 0)
		return;
	buf[n] = 0;
	/* the file holds the whole setting: start from defaults */
	struct wan_params p;
	params_default(&p);
	if (params_apply(&p, buf, bad, sizeof bad) < 0) {
		fprintf(stderr, "tern-wanem: %s: bad setting '%s'; keeping the old ones\n", r->conf, bad);
		return;
	}
	r->p = p;
	char js[512];
	params_json(&r->p, js, sizeof js);
	fprintf(stderr, "tern-wanem: settings %s\n", js);
}

/* Read up to a burst of frames from side @i and schedule them toward 1 - i. */
static void rx_side(struct relay *r, unsigned i, uint64_t now)
{
	struct wan_dir *d = &r->dir[i];
	struct wan_heap *h = &r->q[i];
	static uint8_t scratch[65536 + 64];

	for (unsigned k = 0; k < WANEM_BURST; k++) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof from;
		struct wan_slot *s = heap_take(h);
		uint8_t *buf = s ? s->frame : scratch;
		/* MSG_TRUNC: the frame's real length, so an oversized one is seen */
		ssize_t n = recvfrom(r->side[i].fd, buf, s ? WANEM_FRAME_MAX : sizeof scratch,
				     MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (s)
				h->free_idx[h->nfree++] = (uint32_t)(s - h->slot);
			return;
		}
		if (from.sll_pkttype == PACKET_OUTGOING) {
			if (s)
				h->free_idx[h->nfree++] = (uint32_t)(s - h->slot);
			continue;
		}
		struct wan_verdict v;
		wan_decide(d, &r->p, now, (uint32_t)n, &v);
		if (v.copies && !s) {
			v.copies = 0;
			v.drop = DROP_SLOTS;
		}
		if (v.copies && (size_t)n > WANEM_FRAME_MAX) {
			v.copies = 0;
			v.drop = DROP_OVERSIZE;
		}
		if (v.copies == 0) {
			d->st.drops[v.drop]++;
			if (s)
				h->free_idx[h->nfree++] = (uint32_t)(s - h->slot);
			continue;
		}
		s->len = (uint32_t)n;
		s->rx_us = now;
		heap_push(h, s, v.due_us[0]);
		if (v.copies == 2) {
			struct wan_slot *c = heap_take(h);
			if (c) {
				memcpy(c->frame, s->frame, s->len);
				c->len = s->len;
				c->rx_us = now;
				heap_push(h, c, v.due_us[1]);
			} else {
				d->st.drops[DROP_SLOTS]++;
			}
		}
		if (h->count > d->st.held_max)
			d->st.held_max = h->count;
	}
}

/* Send every frame due by @now from queue @i out of side 1 - i. */
static void tx_due(struct relay *r, unsigned i, uint64_t now)
{
	struct wan_dir *d = &r->dir[i];
	struct wan_heap *h = &r->q[i];
	const struct side *out = &r->side[1 - i];

	for (unsigned k = 0; k < WANEM_SLOTS_MAX; k++) {
		const struct wan_slot *top = heap_peek(h);
		if (!top || top->due_us > now)
			return;
		struct wan_slot *s = heap_pop(h);
		if (r->p.cut) {
			d->st.drops[DROP_CUT]++;      /* cut while held: it never arrives */
			continue;
		}
		if (send(out->fd, s->frame, s->len, 0) < 0) {
			d->st.drops[DROP_SEND]++;
			continue;
		}
		d->st.fwd_frames++;
		d->st.fwd_bytes += s->len;
		d->st.hist[hist_bucket(now - s->rx_us)]++;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tern-wanem --a IFACE --b IFACE [--seed N] [--conf FILE] [--stats FILE]\n"
		"                  [SETTING...]\n"
		"Relays every frame between two interfaces after a WAN's delay, loss, ...\n"
		"SETTING words: delay=20ms jitter=2ms loss=1%% dup=0.1%% reorder=0.5%%\n"
		"  rate=100mbit queue=256kb burst=3000 cut heal clear\n"
		"SIGHUP re-reads --conf (the whole setting), SIGUSR1 writes a JSON report to\n"
		"--stats (or stderr), SIGTERM exits after a final report.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "a", required_argument, NULL, 'a' },     { "b", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 's' },  { "conf", required_argument, NULL, 'c' },
		{ "stats", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct relay r = { .side = { { .fd = -1 }, { .fd = -1 } }, .seed = 1 };
	char bad[128];
	int c, rc = 1;

	params_default(&r.p);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': r.side[0].ifname = optarg; break;
		case 'b': r.side[1].ifname = optarg; break;
		case 's': r.seed = strtoull(optarg, NULL, 0); break;
		case 'c': r.conf = optarg; break;
		case 'o': r.stats_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!r.side[0].ifname || !r.side[1].ifname) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++)
		if (params_apply(&r.p, argv[i], bad, sizeof bad) < 0) {
			fprintf(stderr, "tern-wanem: bad setting '%s'\n", bad);
			return 2;
		}
	if (r.conf && access(r.conf, R_OK) == 0)
		reload(&r);

	for (unsigned i = 0; i < 2; i++) {
		dir_init(&r.dir[i], r.seed, i);
		if (heap_init(&r.q[i], WANEM_SLOTS_MAX) < 0) {
			fprintf(stderr, "tern-wanem: out of memory\n");
			goto out;
		}
		int e = open_side(&r.side[i]);
		if (e < 0) {
			fprintf(stderr, "tern-wanem: %s: %s\n", r.side[i].ifname, strerror(-e));
			goto out;
		}
	}

	sigset_t block, orig;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (unsigned i = 0; i < 4; i++) {
		static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	/* signals arrive only inside ppoll, so none is lost between checks */
	sigprocmask(SIG_BLOCK, &block, &orig);
	r.start_us = now_us();
	{
		char js[512];
		params_json(&r.p, js, sizeof js);
		fprintf(stderr, "tern-wanem: relaying %s <-> %s, seed %" PRIu64 ", settings %s\n",
			r.side[0].ifname, r.side[1].ifname, r.seed, js);
	}
	while (!got_term) {
		if (got_hup) {
			got_hup = 0;
			if (r.conf)
				reload(&r);
		}
		if (got_usr1) {
			got_usr1 = 0;
			write_report(&r, "sigusr1");
		}
		uint64_t now = now_us(), next = UINT64_MAX;
		for (unsigned i = 0; i < 2; i++) {
			tx_due(&r, i, now);
			const struct wan_slot *top = heap_peek(&r.q[i]);
			if (top && top->due_us < next)
				next = top->due_us;
		}
		struct pollfd pfd[2] = { { .fd = r.side[0].fd, .events = POLLIN },
					 { .fd = r.side[1].fd, .events = POLLIN } };
		struct timespec ts = { .tv_sec = 1 }, *tsp = &ts;
		if (next != UINT64_MAX) {
			uint64_t wait = next > now ? next - now : 0;
			ts = (struct timespec){ .tv_sec = (time_t)(wait / 1000000u),
						.tv_nsec = (long)(wait % 1000000u) * 1000 };
		}
		int n = ppoll(pfd, 2, tsp, &orig);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "tern-wanem: poll: %s\n", strerror(errno));
			break;
		}
		now = now_us();
		for (unsigned i = 0; i < 2 && n > 0; i++)
			if (pfd[i].revents & POLLIN)
				rx_side(&r, i, now);
			else if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				fprintf(stderr, "tern-wanem: %s went away\n", r.side[i].ifname);
				got_term = 1;
			}
	}
	write_report(&r, "exit");
	rc = 0;
out:
	for (unsigned i = 0; i < 2; i++) {
		if (r.side[i].fd >= 0)
			close(r.side[i].fd);
		heap_free(&r.q[i]);
	}
	return rc;
}
#endif /* WANEM_NO_MAIN */
