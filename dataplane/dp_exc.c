/* dataplane/dp_exc.c: the exception path of the DPDK port (see dp_exc.h):
 * the routing rule and the kernel tap it feeds.
 *
 * The tap is configured with plain ioctls on an AF_INET datagram socket
 * (SIOCSIFHWADDR, SIOCSIFMTU, SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFFLAGS):
 * no netlink library, and the kernel adds the connected route of the
 * subnet itself, so replies to hosts on the DPDK subnet leave by the tap.
 */
#include "dataplane/dp_exc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/tn_assert.h"
#include "common/tn_log.h"

#define TUN_DEV "/dev/net/tun"
#define EXC_MTU_MIN 576u   /* the IPv4 minimum; below it the port refuses too */
#define EXC_MTU_MAX 9216u  /* jumbo frames */

TN_STATIC_ASSERT(DP_EXC_NAME_MAX < IFNAMSIZ, "a tap name must fit an ifreq");
TN_STATIC_ASSERT(sizeof DP_EXC_TAP_NAME_DEFAULT - 1 <= DP_EXC_NAME_MAX, "default tap name");

enum dp_exc_route dp_exc_route(enum dp_net_kind kind, bool tap)
{
	switch (kind) {
	case DP_NET_UDP_FOR_US:
		return DP_EXC_TERN;
	case DP_NET_ARP_REQ_FOR_US:
	case DP_NET_ARP_REPLY:
		/* tern answers and learns for its own sends; the kernel needs the
		 * same neighbours for its traffic (it would also answer a request:
		 * the same MAC twice, harmless) */
		return tap ? DP_EXC_BOTH : DP_EXC_TERN;
	case DP_NET_NOT_OURS:
		return tap ? DP_EXC_KERNEL : DP_EXC_DROP;
	case DP_NET_DROP:
	default:
		/* bad checksums, other MACs/IPs, fragments: the kernel must not
		 * see them either (a lone fragment of tern's UDP would draw an
		 * ICMP error) */
		return DP_EXC_DROP;
	}
}

bool dp_exc_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, DP_EXC_NAME_MAX + 1) : 0;
	if (n == 0 || n > DP_EXC_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch == '/' || ch == ':' || isspace(ch) || !isprint(ch))
			return false;
	}
	return true;
}

static void ifr_init(struct ifreq *ifr, const char *name)
{
	size_t n = strlen(name);
	TN_ASSERT(n < sizeof ifr->ifr_name);
	memset(ifr, 0, sizeof *ifr);
	memcpy(ifr->ifr_name, name, n);
}

static int set_ip(int s, const char *name, unsigned long req, uint32_t ip)
{
	struct ifreq ifr;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(ip) };
	ifr_init(&ifr, name);
	memcpy(&ifr.ifr_addr, &sa, sizeof sa);
	return ioctl(s, req, &ifr) < 0 ? -errno : 0;
}

/* 0.0.0.0/0 via @gw out of @name: a host whose only NIC DPDK owns still
 * reaches beyond its subnet. Metric DP_EXC_ROUTE_METRIC: another default
 * route (a management port's) wins. */
static int add_default_route(int s, const char *name, uint32_t gw)
{
	struct rtentry rt;
	struct sockaddr_in any = { .sin_family = AF_INET };
	struct sockaddr_in via = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(gw) };
	char dev[IFNAMSIZ];

	TN_ASSERT(gw != 0 && strlen(name) < sizeof dev);
	memset(&rt, 0, sizeof rt);
	memcpy(&rt.rt_dst, &any, sizeof any);
	memcpy(&rt.rt_genmask, &any, sizeof any);
	memcpy(&rt.rt_gateway, &via, sizeof via);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_metric = DP_EXC_ROUTE_METRIC + 1;   /* the ioctl stores metric - 1 */
	snprintf(dev, sizeof dev, "%s", name);
	rt.rt_dev = dev;
	if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* MAC, MTU, address, up: in that order (the MAC only changes while down). */
static int configure(const char *name, const struct dp_exc_tap_cfg *c)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;
	const char *what = "socket";

	if (s < 0)
		return -errno;
	ifr_init(&ifr, name);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, c->mac, DP_NET_MAC_LEN);
	if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0) {
		rc = -errno;
		what = "set MAC";
		goto out;
	}
	ifr_init(&ifr, name);
	ifr.ifr_mtu = (int)c->mtu;
	if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
		rc = -errno;
		what = "set MTU";
		goto out;
	}
	if (c->ip) {
		if ((rc = set_ip(s, name, SIOCSIFADDR, c->ip)) < 0) {
			what = "set address";
			goto out;
		}
		if (c->netmask && (rc = set_ip(s, name, SIOCSIFNETMASK, c->netmask)) < 0) {
			what = "set netmask";
			goto out;
		}
	}
	ifr_init(&ifr, name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		rc = -errno;
		what = "get flags";
		goto out;
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		rc = -errno;
		what = "bring up";
		goto out;
	}
	/* without the route the tap still serves its subnet: say so, go on */
	if (c->gateway && c->ip && (rc = add_default_route(s, name, c->gateway)) < 0) {
		TN_WARN("dpdk", "exception tap %s: no default route via the gateway: %s", name,
			strerror(-rc));
		rc = 0;
	}
out:
	if (rc < 0)
		TN_ERROR("dpdk", "exception tap %s: %s: %s", name, what, strerror(-rc));
	close(s);
	return rc;
}

int dp_exc_tap_open(const struct dp_exc_tap_cfg *c)
{
	const char *name = c->name ? c->name : DP_EXC_TAP_NAME_DEFAULT;
	struct ifreq ifr;
	int fd, rc;

	if (!dp_exc_name_ok(name) || c->mtu < EXC_MTU_MIN || c->mtu > EXC_MTU_MAX)
		return -EINVAL;
	if ((fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
		rc = -errno;
		TN_ERROR("dpdk", "exception tap: open %s: %s", TUN_DEV, strerror(-rc));
		return rc;
	}
	ifr_init(&ifr, name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		TN_ERROR("dpdk", "exception tap: create %s: %s", name, strerror(-rc));
		goto fail;
	}
	/* the kernel may have changed nothing, but never a longer name than asked */
	TN_ASSERT(strncmp(ifr.ifr_name, name, IFNAMSIZ) == 0);
	if ((rc = configure(name, c)) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return rc;
}

void dp_exc_tap_close(int fd)
{
	if (fd >= 0)
		close(fd);   /* not persistent: the interface goes with its last fd */
}

int dp_exc_tap_write(int fd, const void *frame, size_t len)
{
	TN_ASSERT_HOT(fd >= 0 && len > 0);
	ssize_t w = write(fd, frame, len);
	if (w < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (size_t)w == len ? 0 : -EIO;   /* a tap takes a frame whole or not at all */
}

ssize_t dp_exc_tap_read(int fd, void *buf, size_t cap)
{
	TN_ASSERT_HOT(fd >= 0 && cap >= DP_NET_ETH_HDR_LEN);
	ssize_t r = read(fd, buf, cap);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if ((size_t)r >= cap)
		return -EMSGSIZE;   /* may have been cut: never send half a frame */
	if ((size_t)r < DP_NET_ETH_HDR_LEN)
		return -EBADMSG;
	return r;
}
