/* tests/unit/test_dataplane_port.c: dp_port's kernel UDP backend and the
 * dp_chan reliable channels over it, on real loopback sockets.
 *
 * - datagrams sent in bursts arrive with the right source and local port;
 *   oversized ones are refused on send and counted as truncated on receive
 * - two channels exchange messages of 1 byte .. 3 MiB both ways, each
 *   exactly once and in order, then see UP; a restarted end (new channel,
 *   higher incarnation) is seen as DOWN then UP; a silent peer goes DOWN
 * - garbage datagrams fed to a channel are counted as malformed
 * Every wait is bounded by a loop count, never by wall-clock asserts. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dataplane/dp_port.h"
#include "tests/lib/tn_test.h"

#define LOOPBACK 0x7f000001u
#define TURNS_MAX 200000u

/* A free UDP port on loopback (bind 0, read it back, close). */
static uint16_t free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LOOPBACK) };
	socklen_t sl = sizeof sa;
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static struct dp_port *open_port(uint16_t port, uint32_t dgram_max)
{
	struct dp_port_cfg c = { .kind = DP_PORT_KERNEL, .ip = LOOPBACK, .udp_ports = { port },
				 .udp_port_count = 1, .dgram_max = dgram_max };
	struct dp_port *p = NULL;
	CU_ASSERT_FATAL(dp_port_open(&p, &c) == 0);
	return p;
}

static void test_port_datagrams(void)
{
	uint16_t pa = free_udp_port(), pb = free_udp_port();
	struct dp_port *a = open_port(pa, 2000), *b = open_port(pb, 2000);
	struct dp_port_addr to_b = { LOOPBACK, pb };
	struct dp_port_dgram d[DP_PORT_BURST_MAX];
	uint8_t buf[3000];
	unsigned got = 0;
	int fds[DP_PORT_UDP_PORTS_MAX];

	CU_ASSERT_EQUAL(dp_port_fds(b, fds), 1);
	CU_ASSERT_EQUAL(dp_port_idle_us(b), UINT64_MAX);
	CU_ASSERT_EQUAL(dp_port_send(a, pa, &to_b, buf, 2001, 0), -EMSGSIZE);
	CU_ASSERT_EQUAL(dp_port_send(a, 1, &to_b, buf, 10, 0), -EINVAL);
	for (unsigned i = 0; i < 40; i++) {   /* more than a burst: the send side flushes */
		memset(buf, (int)i, sizeof buf);
		CU_ASSERT_EQUAL(dp_port_send(a, pa, &to_b, buf, 100 + i, 0), 0);
	}
	dp_port_flush(a, 0);
	for (unsigned t = 0; t < TURNS_MAX && got < 40; t++) {
		unsigned n = dp_port_recv(b, d, DP_PORT_BURST_MAX, 0);
		for (unsigned i = 0; i < n; i++, got++) {
			CU_ASSERT_EQUAL(d[i].len, 100 + got);
			CU_ASSERT_EQUAL(d[i].data[0], (uint8_t)got);
			CU_ASSERT_EQUAL(d[i].src.ip, LOOPBACK);
			CU_ASSERT_EQUAL(d[i].src.port, pa);
			CU_ASSERT_EQUAL(d[i].dst_port, pb);
		}
		if (!n)
			poll(NULL, 0, 1);
	}
	CU_ASSERT_EQUAL(got, 40);
	/* a datagram over b's limit, from a plain socket: counted, not delivered */
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sb = { .sin_family = AF_INET, .sin_port = htons(pb),
				  .sin_addr.s_addr = htonl(LOOPBACK) };
	CU_ASSERT(sendto(fd, buf, 2500, 0, (struct sockaddr *)&sb, sizeof sb) == 2500);
	CU_ASSERT(sendto(fd, buf, 50, 0, (struct sockaddr *)&sb, sizeof sb) == 50);
	close(fd);
	got = 0;
	for (unsigned t = 0; t < TURNS_MAX && got == 0; t++) {
		got = dp_port_recv(b, d, DP_PORT_BURST_MAX, 0);
		if (!got)
			poll(NULL, 0, 1);
	}
	CU_ASSERT_EQUAL(got, 1);
	CU_ASSERT_EQUAL(d[0].len, 50);
	struct dp_port_stats st;
	dp_port_stats(b, &st);
	CU_ASSERT_EQUAL(st.drop[DP_PORT_DROP_TRUNC], 1);
	CU_ASSERT_EQUAL(st.rx_pkts, 41);
	dp_port_stats(a, &st);
	CU_ASSERT_EQUAL(st.tx_pkts, 40);
	char text[4096];
	size_t tl = dp_port_stats_text(&st, "zk_x", text, sizeof text);
	CU_ASSERT(tl > 0 && tl < sizeof text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text, "zk_x_tx_packets\t40\n"));
	CU_ASSERT(dp_port_stats_text(&st, "zk_x", text, 10) <= 10);
	dp_port_close(a);
	dp_port_close(b);
}

struct side {
	struct dp_port *port;
	struct dp_chan *ch;
	uint16_t lport;
	int ups, downs;
	uint64_t rcvd, rcvd_bytes;
	uint64_t expect_seq;
	int bad;
};

static void drain(struct side *s, uint64_t now)
{
	struct dp_port_dgram d[DP_PORT_BURST_MAX];
	const uint8_t *m;
	size_t len;
	int ev;

	for (unsigned b = 0; b < 64; b++) {
		unsigned n = dp_port_recv(s->port, d, DP_PORT_BURST_MAX, now / 1000);
		for (unsigned i = 0; i < n; i++)
			dp_chan_input(s->ch, d[i].data, d[i].len, now);
		if (n < DP_PORT_BURST_MAX)
			break;
	}
	if (dp_chan_next_timer(s->ch) <= now)
		dp_chan_poll(s->ch, now);
	dp_port_flush(s->port, now / 1000);
	while ((ev = dp_chan_event(s->ch)) != DP_CHAN_EV_NONE) {
		if (ev == DP_CHAN_EV_UP)
			s->ups++;
		else
			s->downs++;
	}
	while (dp_chan_recv(s->ch, &m, &len) > 0) {
		uint64_t seq;
		if (len < 8) {
			s->bad++;
			continue;
		}
		memcpy(&seq, m, 8);
		if (seq != s->expect_seq || (len > 8 && m[len - 1] != (uint8_t)seq))
			s->bad++;
		s->expect_seq = seq + 1;
		s->rcvd++;
		s->rcvd_bytes += len;
	}
}

static struct dp_chan_cfg chan_cfg(uint64_t inc)
{
	return (struct dp_chan_cfg){ .incarnation = inc, .mtu = 1400, .wnd_segs = 128,
				     .msg_max = 8u << 20, .sndbuf_bytes = 64u << 20,
				     .keepalive_ms = 50, .dead_ms = 400 };
}

static void make_side(struct side *s, uint16_t lport, uint16_t rport, uint64_t inc)
{
	struct dp_port_addr peer = { LOOPBACK, rport };
	struct dp_chan_cfg cc = chan_cfg(inc);
	memset(s, 0, sizeof *s);
	s->lport = lport;
	s->port = open_port(lport, 1400 + dp_chan_overhead());
	CU_ASSERT_FATAL(dp_chan_create(&s->ch, s->port, lport, &peer, &cc, dp_port_now_us()) == 0);
}

static void free_side(struct side *s)
{
	dp_chan_destroy(s->ch);
	dp_port_close(s->port);
}

static void run_until(struct side *a, struct side *b, int (*done)(struct side *, struct side *))
{
	for (unsigned t = 0; t < TURNS_MAX && !done(a, b); t++) {
		uint64_t now = dp_port_now_us();
		drain(a, now);
		drain(b, now);
		if ((t & 63) == 63)
			poll(NULL, 0, 1);
	}
}

static int both_up(struct side *a, struct side *b)
{
	return dp_chan_is_up(a->ch) && dp_chan_is_up(b->ch) && a->ups > 0 && b->ups > 0;
}

static uint64_t want_msgs;
static int all_in(struct side *a, struct side *b)
{
	return a->rcvd >= want_msgs && b->rcvd >= want_msgs;
}

static int a_reup(struct side *a, struct side *b)
{
	return a->ups > 1 && dp_chan_is_up(a->ch) && b->ups > 0 && dp_chan_is_up(b->ch);
}

static void send_msgs(struct side *s, uint64_t first, uint64_t n)
{
	static const size_t sizes[] = { 8, 9, 1000, 1400, 1401, 65536, 3u << 20, 200 };
	for (uint64_t i = first; i < first + n; i++) {
		size_t len = sizes[i % (sizeof sizes / sizeof sizes[0])];
		uint8_t *m = malloc(len);
		CU_ASSERT_FATAL(m != NULL);
		memset(m, (int)(uint8_t)i, len);
		memcpy(m, &i, 8);
		CU_ASSERT_EQUAL(dp_chan_send(s->ch, m, len), 0);
		free(m);
	}
}

static int a_drained(struct side *a, struct side *b)
{
	(void)b;
	return dp_chan_drained(a->ch);
}

static void test_chan_exchange_restart_timeout(void)
{
	uint16_t pa = free_udp_port(), pb = free_udp_port();
	struct side a, b;
	struct dp_port_stats st;

	make_side(&a, pa, pb, 1000);
	make_side(&b, pb, pa, 2000);
	CU_ASSERT_EQUAL(dp_chan_peer(a.ch)->port, pb);
	CU_ASSERT_EQUAL(dp_chan_src_port(a.ch), pa);
	run_until(&a, &b, both_up);
	CU_ASSERT_FATAL(both_up(&a, &b));
	CU_ASSERT_EQUAL(dp_chan_send(a.ch, "x", (8u << 20) + 1), -EMSGSIZE);

	/* both ways at once, mixed sizes up to 3 MiB */
	want_msgs = 24;
	CU_ASSERT(dp_chan_drained(a.ch));
	send_msgs(&a, 0, want_msgs);
	send_msgs(&b, 0, want_msgs);
	CU_ASSERT(!dp_chan_drained(a.ch));   /* queued, not yet acknowledged */
	run_until(&a, &b, all_in);
	run_until(&a, &b, a_drained);   /* the last acks may trail the data */
	CU_ASSERT(dp_chan_drained(a.ch));
	CU_ASSERT_EQUAL(a.rcvd, want_msgs);
	CU_ASSERT_EQUAL(b.rcvd, want_msgs);
	CU_ASSERT_EQUAL(a.bad + b.bad, 0);
	uint64_t s_a, r_a;
	dp_chan_bytes(a.ch, &s_a, &r_a);
	CU_ASSERT_EQUAL(r_a, a.rcvd_bytes);
	CU_ASSERT_EQUAL(s_a, b.rcvd_bytes);

	/* garbage from the peer's address is counted, not delivered */
	CU_ASSERT(dp_chan_input(a.ch, "garbage!", 8, dp_port_now_us()) < 0);
	dp_port_stats(a.port, &st);
	CU_ASSERT(st.chan_malformed >= 1);

	/* b restarts: a new channel with a higher incarnation on the same port */
	dp_chan_destroy(b.ch);
	struct dp_port_addr to_a = { LOOPBACK, pa };
	struct dp_chan_cfg cc = chan_cfg(3000);
	CU_ASSERT_FATAL(dp_chan_create(&b.ch, b.port, pb, &to_a, &cc, dp_port_now_us()) == 0);
	b.ups = b.downs = 0;
	b.expect_seq = 0;
	b.rcvd = 0;
	run_until(&a, &b, a_reup);
	CU_ASSERT(a.downs >= 1);
	CU_ASSERT(a_reup(&a, &b));
	/* the stream starts over and still works */
	a.expect_seq = 0;
	a.rcvd = 0;
	want_msgs = 3;
	send_msgs(&a, 0, want_msgs);
	send_msgs(&b, 0, want_msgs);
	run_until(&a, &b, all_in);
	CU_ASSERT_EQUAL(a.rcvd + b.rcvd, 2 * want_msgs);
	CU_ASSERT_EQUAL(a.bad + b.bad, 0);

	/* a reset (like a send buffer overflow) is DOWN at once, then UP again */
	int downs = a.downs;
	CU_ASSERT_EQUAL(dp_chan_reset(a.ch, dp_port_now_us()), 0);
	CU_ASSERT_EQUAL(dp_chan_event(a.ch), DP_CHAN_EV_DOWN);
	a.downs = downs + 1;
	int ups = a.ups;
	for (unsigned t = 0; t < TURNS_MAX && a.ups == ups; t++) {
		uint64_t now = dp_port_now_us();
		drain(&a, now);
		drain(&b, now);
		if ((t & 63) == 63)
			poll(NULL, 0, 1);
	}
	CU_ASSERT(a.ups > ups);

	/* b goes silent: a declares it down after dead_ms */
	dp_chan_destroy(b.ch);
	b.ch = NULL;
	downs = a.downs;
	for (unsigned t = 0; t < TURNS_MAX && a.downs == downs; t++) {
		drain(&a, dp_port_now_us());
		poll(NULL, 0, 1);
	}
	CU_ASSERT(a.downs > downs);
	CU_ASSERT(!dp_chan_is_up(a.ch));
	free_side(&a);
	dp_port_close(b.port);
}

static void test_bad_config(void)
{
	struct dp_port_cfg c = { .kind = DP_PORT_KERNEL, .ip = LOOPBACK, .udp_port_count = 0,
				 .dgram_max = 1500 };
	struct dp_port *p = NULL;
	CU_ASSERT_EQUAL(dp_port_open(&p, &c), -EINVAL);
	c.udp_port_count = 1;   /* port 0 */
	CU_ASSERT_EQUAL(dp_port_open(&p, &c), -EINVAL);
	c.udp_ports[0] = free_udp_port();
	c.dgram_max = 10;
	CU_ASSERT_EQUAL(dp_port_open(&p, &c), -EINVAL);
	c.kind = DP_PORT_DPDK;
	c.dgram_max = 1500;
	if (!dp_port_dpdk_built())
		CU_ASSERT_EQUAL(dp_port_open(&p, &c), -ENOTSUP);
	c.kind = DP_PORT_KERNEL;
	struct dp_port *a = open_port(c.udp_ports[0], 1500);
	CU_ASSERT_EQUAL(dp_port_open(&p, &c), -EADDRINUSE);   /* the port is taken */
	struct dp_chan *ch = NULL;
	struct dp_chan_cfg cc = chan_cfg(1);
	struct dp_port_addr peer = { LOOPBACK, 9 };
	cc.mtu = 1500;   /* plus the header: over dgram_max */
	CU_ASSERT_EQUAL(dp_chan_create(&ch, a, c.udp_ports[0], &peer, &cc, 1), -EINVAL);
	cc = chan_cfg(1);
	peer.ip = 0;
	CU_ASSERT_EQUAL(dp_chan_create(&ch, a, c.udp_ports[0], &peer, &cc, 1), -EINVAL);
	dp_port_close(a);
}

static CU_TestInfo tests[] = {
	{ "port_datagrams", test_port_datagrams },
	{ "chan_exchange_restart_timeout", test_chan_exchange_restart_timeout },
	{ "bad_config", test_bad_config },
	CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = { { "dp_port", NULL, NULL, NULL, NULL, tests }, CU_SUITE_INFO_NULL };

int main(int argc, char **argv)
{
	return tn_test_main(argc, argv, suites);
}
