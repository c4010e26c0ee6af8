/* mgmt/peer_udp.h: the ensemble's peer channels over datagrams (peer_udp.c).
 * PRIVATE to mgmt/: peer.c dispatches its peer_net_* functions here when
 * peer_udp_wanted() says so; the rest of tern sees only mgmt.h. */
#ifndef TN_PEER_UDP_H
#define TN_PEER_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/mgmt.h"

struct peer_udp;
struct dp_port_stats;

/* tern.peer.transport=udp, or tern.dataplane=dpdk. */
bool peer_udp_wanted(const struct cfg *cfg);
/* Open the port (kernel UDP on my quorum and election ports, or the DPDK
 * port) and a channel per peer and link. Return 0, -EINVAL, -ENOTSUP, -errno. */
int peer_udp_create(struct peer_udp **out, const struct cfg *cfg, const struct peer_cb *cb);
void peer_udp_destroy(struct peer_udp *pu);
unsigned peer_udp_pollfds(struct peer_udp *pu, struct pollfd *pfd, unsigned max, uint64_t now_ms);
void peer_udp_run(struct peer_udp *pu, const struct pollfd *pfd, unsigned n, uint64_t now_ms);
int peer_udp_send(struct peer_udp *pu, uint32_t peer, bool election, const void *msg, size_t len);
void peer_udp_flush(struct peer_udp *pu);
/* Reconfig (peer_net_member_add/remove): channels to a new member; a
 * removed member's channels closed without a down callback. 0, -EINVAL, -ENOMEM. */
int peer_udp_member_add(struct peer_udp *pu, const struct cfg_server *srv);
void peer_udp_member_remove(struct peer_udp *pu, uint32_t peer);
bool peer_udp_is_up(struct peer_udp *pu, uint32_t peer, bool election);
void peer_udp_stats(struct peer_udp *pu, uint64_t *sent, uint64_t *recvd);
/* peer_net_link_bytes over UDP: message bytes of the quorum channel (raw =
 * wire: no compression). Return 0 or -ENOENT. */
int peer_udp_link_bytes(struct peer_udp *pu, uint32_t peer, struct peer_bytes *out);

/* The port counters of the running peer transport (any thread); false when
 * the peers use TCP. One process runs one ensemble member, so this is global. */
bool peer_udp_port_stats(struct dp_port_stats *out);
/* The DPDK port when it has worker queues (the dataplane's workers serve
 * native datagram clients on them: dp_cfg.nic), else NULL. */
struct dp_port *peer_udp_nic(void);

#endif
