/* dataplane/dp_exc.h: the exception path of the DPDK port. PRIVATE to dataplane/.
 *
 * When DPDK owns the NIC the kernel no longer sees it, so the host would
 * lose ssh, ping and metrics scraping on that address. The DPDK port hands
 * every frame that is not tern's to the kernel through a tap interface
 * carrying the port's MAC, IPv4 address and MTU, and sends what the kernel
 * writes to the tap out of the port (frames from the tap's own MAC only):
 *
 *   frame (dp_net_parse)     tern                      kernel (tap)
 *   UDP to our ports         handled                   never (it would answer
 *                                                      ICMP port unreachable)
 *   ARP request for us       answered                  copy: it learns the sender
 *   ARP reply                learnt                    copy: it learns the sender
 *   not ours (TCP, ICMP,     -                         written to the tap
 *     other UDP, IPv6, mc)
 *   dropped (bad checksum,   counted                   never
 *     other MAC or IP, ...)
 *
 * The tap is a kernel TUN/TAP device (IFF_TAP | IFF_NO_PI, non-blocking): a
 * frame per read or write, no header, no offloads (the kernel sums and
 * segments in software before the frame reaches us). It lives as long as
 * its fd (not persistent): a crashed ternd leaves nothing behind. Reads and
 * writes never block; a full tap queue drops the frame (TCP resends).
 *
 * The port counts exc_to_kernel, exc_from_kernel, exc_tap_full and
 * exc_errors (dp_port_stats). Pure Linux, no DPDK: the unit test drives a
 * real tap in a private network namespace.
 */
#ifndef DP_EXC_H
#define DP_EXC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dataplane/dp_net.h"

#define DP_EXC_TAP_NAME_DEFAULT "tern-exc0"
#define DP_EXC_NAME_MAX 15u    /* IFNAMSIZ - 1 */
#define DP_EXC_BURST_MAX 32u   /* frames taken from the kernel per poll turn */

/* Where a received frame goes (dp_exc_route). */
enum dp_exc_route {
	DP_EXC_DROP = 0,   /* counted by its dp_net reason, nobody sees it */
	DP_EXC_TERN,       /* tern's alone (its UDP ports) */
	DP_EXC_KERNEL,     /* the kernel's alone (through the tap) */
	DP_EXC_BOTH,       /* tern handles it and the kernel gets a copy (ARP) */
};

/* Pure: where a frame dp_net_parse() classified as @kind goes, with the
 * exception path on (@tap) or off (then the kernel's share is dropped). */
enum dp_exc_route dp_exc_route(enum dp_net_kind kind, bool tap);

struct dp_exc_tap_cfg {
	const char *name;              /* <= DP_EXC_NAME_MAX chars; NULL: the default */
	uint8_t mac[DP_NET_MAC_LEN];   /* the port's */
	uint32_t ip, netmask;          /* host order; ip 0: no address */
	uint32_t gateway;              /* host order; 0: none. A default route via it,
					* metric DP_EXC_ROUTE_METRIC */
	uint32_t mtu;                  /* the port's */
};

/* The tap's default route yields to any other (a management port's). */
#define DP_EXC_ROUTE_METRIC 1000

/* Whether @name is a usable interface name (1..DP_EXC_NAME_MAX characters,
 * no '/', ':' or whitespace). */
bool dp_exc_name_ok(const char *name);

/* Create the tap, give it @c's MAC, MTU and address, bring it up, add the
 * default route via @c->gateway (one already there is kept; a failure is
 * only logged).
 * Needs CAP_NET_ADMIN. Return the fd (>= 0, non-blocking) or -errno
 * (-EINVAL bad name, -EBUSY the name is taken, -EPERM, -ENOENT no /dev/net/tun). */
int dp_exc_tap_open(const struct dp_exc_tap_cfg *c);
void dp_exc_tap_close(int fd);

/* Hand one frame to the kernel. Return 0, -EAGAIN (tap queue full: dropped)
 * or -errno. */
int dp_exc_tap_write(int fd, const void *frame, size_t len);

/* Take one frame the kernel sent into @buf (@cap bytes). Return its length,
 * 0 if none is waiting, -EMSGSIZE if it did not fit or -EBADMSG if shorter
 * than an Ethernet header (dropped either way), -errno. */
ssize_t dp_exc_tap_read(int fd, void *buf, size_t cap);

#endif
