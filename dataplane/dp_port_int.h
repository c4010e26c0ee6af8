/* dataplane/dp_port_int.h: what the port backends share (dp_port.c, the
 * kernel UDP backend and the generic part; dp_dpdk.c, the DPDK backend).
 * PRIVATE to dataplane/. */
#ifndef DP_PORT_INT_H
#define DP_PORT_INT_H

#include "dataplane/dp_port.h"

struct dp_port_ops {
	unsigned (*recv)(struct dp_port *p, struct dp_port_dgram *d, unsigned max, uint64_t now_ms);
	int (*send)(struct dp_port *p, uint16_t src_port, const struct dp_port_addr *dst,
		    const void *data, size_t len, uint64_t now_ms);
	void (*flush)(struct dp_port *p, uint64_t now_ms);
	unsigned (*fds)(const struct dp_port *p, int *fds);
	uint64_t (*idle_us)(const struct dp_port *p);
	void (*close)(struct dp_port *p);
	/* worker queues; NULL when the backend has none (kernel UDP) */
	struct dp_portq *(*queue)(struct dp_port *p, unsigned i);
};

/* A worker queue: the backend's own struct starts with this. */
struct dp_portq_ops {
	void (*set_wake)(struct dp_portq *q, void (*wake)(void *arg), void *arg);
	void (*thread_attach)(struct dp_portq *q);
	unsigned (*recv)(struct dp_portq *q, struct dp_portq_dgram *d, unsigned max);
	int (*send)(struct dp_portq *q, const uint8_t dst_mac[6], const struct dp_port_addr *dst,
		    const void *data, size_t len);
	void (*flush)(struct dp_portq *q);
	uint64_t (*idle_us)(struct dp_portq *q);
	int (*sleep_fd)(const struct dp_portq *q);
	void (*stats)(const struct dp_portq *q, struct dp_portq_stats *out);
};

struct dp_portq {
	const struct dp_portq_ops *ops;
};

struct dp_port {
	struct dp_port_cfg cfg;
	const struct dp_port_ops *ops;
	struct dp_port_stats st;    /* written by the owner thread only */
	void *be;                   /* the backend's state */
};

/* DPDK backend (dp_dpdk.c): fill @p->ops/@p->be, may lower @p->cfg.dgram_max
 * to the device MTU. Return 0 or -errno. */
int dp_dpdk_open(struct dp_port *p);

#endif
