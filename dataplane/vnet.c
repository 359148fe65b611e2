/* SPDX-License-Identifier: Apache-2.0 */
/* Pod ports on a tap with the virtio-net header: see vnet.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <rte_debug.h>
#include <rte_ether.h>
#include <rte_kvargs.h>
#include <rte_mbuf.h>

#include "gso.h"
#include "vnet.h"

/*
 * The virtio-net header as the tap reads and writes it: virtio_net_hdr_v1
 * with the hash and UDP tunnel fields (virtio_net_hdr_v1_hash_tunnel,
 * Linux 6.17; older kernels read the first 10 bytes and skip the rest).
 * Spelled out here: Debian 12's headers predate the tunnel fields.
 */
struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
	uint32_t hash_value;
	uint16_t hash_report;
	uint16_t padding;
	uint16_t outer_th_offset; /* the outer UDP header */
	uint16_t inner_nh_offset; /* the inner IPv4 header */
};
_Static_assert(sizeof(struct vnet_hdr) == 24, "virtio_net_hdr_v1_hash_tunnel is 24 bytes");

#define VNET_GSO_UDP_TUNNEL_IPV4 0x20
#ifndef TUN_F_UDP_TUNNEL_GSO
#define TUN_F_UDP_TUNNEL_GSO 0x080
#endif

bool dp_vnet_takes_gso(const struct dp_vnet *v, uint64_t ol_flags)
{
	return v && (!(ol_flags & RTE_MBUF_F_TX_TUNNEL_MASK) || v->tnl);
}

int dp_vnet_devargs(const char *devargs)
{
	return !strncmp(devargs, "vnet", 4) && (devargs[4] == ',' || !devargs[4]);
}

void dp_vnet_close(struct dp_vnet *v)
{
	for (unsigned i = 0; i < v->n_fds; i++)
		close(v->fds[i]);
	v->n_fds = 0;
}

/* kvargs' value of key, copied into out (outlen with the NUL). */
static int kv_copy(const struct rte_kvargs *kv, const char *key, char *out, size_t outlen)
{
	const char *val = rte_kvargs_get(kv, key);
	if (!val)
		return -ENOENT;
	if (!val[0] || strlen(val) >= outlen)
		return -EINVAL;
	strcpy(out, val);
	return 0;
}

int dp_vnet_parse(struct dp_vnet *v, const char *devargs, char *err, size_t errlen)
{
	static const char *const keys[] = { "netns", "iface", "mac", NULL };
	memset(v, 0, sizeof(*v));
	/* "vnet,k=v,...": DPDK's own devargs syntax, parsed by rte_kvargs */
	struct rte_kvargs *kv = rte_kvargs_parse(devargs[4] ? devargs + 5 : "", keys);
	if (!kv) {
		snprintf(err, errlen, "devargs: expected vnet,netns=PATH,iface=NAME[,mac=MAC] "
			 "(no other keys, each once)");
		return -EINVAL;
	}
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	int rc = 0, mrc = kv_copy(kv, "mac", mac, sizeof(mac));
	if (kv_copy(kv, "netns", v->netns, sizeof(v->netns))) {
		snprintf(err, errlen, "devargs: netns: missing or longer than %zu characters",
			 sizeof(v->netns) - 1);
		rc = -EINVAL;
	} else if (kv_copy(kv, "iface", v->ifname, sizeof(v->ifname))) {
		snprintf(err, errlen, "devargs: iface: missing or longer than %d characters",
			 IF_NAMESIZE - 1);
		rc = -EINVAL;
	} else if (mrc == -EINVAL || (mrc == 0 && rte_ether_unformat_addr(mac, &v->mac))) {
		snprintf(err, errlen, "devargs: mac: not a MAC address (aa:bb:cc:dd:ee:ff)");
		rc = -EINVAL;
	}
	rte_kvargs_free(kv);
	if (rc)
		return rc;
	v->has_mac = mrc == 0;
	struct stat st;
	if (stat(v->netns, &st)) {
		rc = -errno;
		snprintf(err, errlen, "devargs: netns: %s: %s", v->netns, strerror(-rc));
		return rc;
	}
	v->ns_dev = st.st_dev;
	v->ns_ino = st.st_ino;
	return 0;
}

/* One queue of the tap, in the current namespace: its fd or -errno. */
static int attach_queue(struct dp_vnet *v, bool uplink, bool first, char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		snprintf(err, errlen, "opening /dev/net/tun: %s", strerror(-rc));
		return rc;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", v->ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	int hl = (int)sizeof(struct vnet_hdr);
	unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN;
	if (ioctl(fd, TUNSETIFF, &ifr)) {
		int rc = -errno;
		snprintf(err, errlen,
			 "devargs: iface: attaching a queue to %s in %s: %s (a multi-queue tap "
			 "with vnet_hdr is needed)",
			 v->ifname, v->netns, strerror(-rc));
		close(fd);
		return rc;
	}
	/* An uplink asks for the tunnel offload with its first queue (the
	 * kernel wants the 24-byte header first); the others follow what the
	 * first got. */
	int rc = ioctl(fd, TUNSETVNETHDRSZ, &hl);
	if (!rc && uplink && first)
		v->tnl = ioctl(fd, TUNSETOFFLOAD, off | TUN_F_UDP_TUNNEL_GSO) == 0;
	if (rc || ioctl(fd, TUNSETOFFLOAD, off | (v->tnl ? TUN_F_UDP_TUNNEL_GSO : 0))) {
		int rc = -errno;
		snprintf(err, errlen, "%s: setting the virtio-net header and offloads: %s",
			 v->ifname, strerror(-rc));
		close(fd);
		return rc;
	}
	return fd;
}

int dp_vnet_attach(struct dp_vnet *v, unsigned queues, bool uplink, char *err, size_t errlen)
{
	if (queues < 1 || queues > DP_VNET_MAX_QUEUES) {
		snprintf(err, errlen, "queues: %u is out of range (1..%d)", queues,
			 DP_VNET_MAX_QUEUES);
		return -EINVAL;
	}
	int target = open(v->netns, O_RDONLY | O_CLOEXEC);
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (target < 0 || self < 0 || setns(target, CLONE_NEWNET)) {
		int rc = -errno;
		snprintf(err, errlen, "devargs: netns: entering %s: %s", v->netns, strerror(-rc));
		if (self >= 0)
			close(self);
		if (target >= 0)
			close(target);
		return rc;
	}
	int rc = 0;
	/* TUNSETIFF would create a tap that is not there: the pod's must be. */
	if (!if_nametoindex(v->ifname)) {
		rc = -ENODEV;
		snprintf(err, errlen, "devargs: iface: no interface %s in %s", v->ifname, v->netns);
	}
	for (unsigned q = 0; !rc && q < queues; q++) {
		int fd = attach_queue(v, uplink, q == 0, err, errlen);
		if (fd < 0)
			rc = fd;
		else
			v->fds[v->n_fds++] = fd;
	}
	/* Staying in the pod's namespace would put every later port and
	 * socket of this thread there. */
	if (setns(self, CLONE_NEWNET))
		rte_panic("vnet: cannot return from %s to the dataplane's namespace: %s\n",
			  v->netns, strerror(errno));
	close(self);
	close(target);
	if (rc)
		dp_vnet_close(v);
	return rc;
}

bool dp_vnet_up(const struct dp_vnet *v)
{
	struct ifreq ifr;
	/* A queue of a tap that was deleted (its namespace gone) is detached. */
	return v->n_fds && ioctl(v->fds[0], TUNGETIFF, &ifr) == 0;
}

/*
 * The GSO fields of a TCP/IPv4 segment into the mbuf, plain or (tunnel
 * uplinks only) inside VXLAN/Geneve over IPv4. The header's offsets are
 * checked against the frame and bounded for the mbuf's bit fields;
 * classify() checks the rest against the parsed headers (gso_frame_ok).
 * 0, or -1 for a frame to drop.
 */
static int rx_gso(const struct dp_vnet *v, struct rte_mbuf *m, const struct vnet_hdr *h)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);
	unsigned type = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	bool tnl = v->tnl && type == (VIRTIO_NET_HDR_GSO_TCPV4 | VNET_GSO_UDP_TUNNEL_IPV4);
	/* the (inner) IPv4 header, the outer UDP header of a tunnel frame */
	unsigned nh = tnl ? h->inner_nh_offset : RTE_ETHER_HDR_LEN, th = h->outer_th_offset;
	unsigned cs = h->csum_start;

	if ((type != VIRTIO_NET_HDR_GSO_TCPV4 && !tnl) || !h->gso_size ||
	    !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->csum_offset != 16 ||
	    nh < RTE_ETHER_HDR_LEN || cs < nh + 20 || cs > nh + 60 || cs + 20u > len ||
	    d[nh - 2] != 0x08 || d[nh - 1] != 0x00)
		return -1;
	if (tnl && (d[12] != 0x08 || d[13] != 0x00 || th < RTE_ETHER_HDR_LEN + 20 ||
		    th > RTE_ETHER_HDR_LEN + 60 || nh < th + 8 + RTE_ETHER_HDR_LEN ||
		    nh > th + 127))
		return -1;
	m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
	m->tso_segsz = h->gso_size;
	m->l3_len = cs - nh;
	if (tnl) {
		m->ol_flags |= RTE_MBUF_F_TX_OUTER_IPV4 | RTE_MBUF_F_TX_TUNNEL_VXLAN;
		m->outer_l2_len = RTE_ETHER_HDR_LEN;
		m->outer_l3_len = th - RTE_ETHER_HDR_LEN;
		m->l2_len = nh - th;
	} else {
		m->l2_len = RTE_ETHER_HDR_LEN;
	}
	return 0;
}

/* The frame's virtio-net header into the mbuf: 0, or -1 for a frame to
 * drop. */
static int rx_offload(const struct dp_vnet *v, struct rte_mbuf *m, const struct vnet_hdr *h)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m);

	if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		return rx_gso(v, m, h);
	if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	/* The sum ends with the IPv4 payload (a frame may be padded). */
	uint32_t end = len;
	if (len >= RTE_ETHER_HDR_LEN + 20 && d[12] == 0x08 && d[13] == 0x00) {
		uint32_t ip = RTE_ETHER_HDR_LEN + ((uint32_t)d[16] << 8 | d[17]);
		end = ip < len ? ip : len;
	}
	return gso_csum_complete(d, end, h->csum_start, h->csum_offset) ? -1 : 0;
}

uint16_t dp_vnet_rx(struct dp_vnet *v, unsigned q, struct rte_mempool *pool,
		    struct rte_mempool *big, struct rte_mbuf **spare, struct rte_mbuf **pkts,
		    uint16_t n, uint64_t *bad)
{
	const int fd = v->fds[q];
	uint16_t got = 0;

	while (got < n) {
		/* A frame's first bytes land in a small mbuf and the rest in a
		 * large one, after as many bytes: a small frame is ready where
		 * it was read and the large mbuf waits for the next read; a
		 * large frame (or a GSO one) gets its first bytes copied in. */
		struct rte_mbuf *s = rte_pktmbuf_alloc(pool);
		struct rte_mbuf *b = *spare ? *spare : rte_pktmbuf_alloc(big);
		*spare = b;
		if (!s || !b) {
			rte_pktmbuf_free(s);
			break; /* frames wait in the tap */
		}
		struct vnet_hdr h;
		uint32_t head = rte_pktmbuf_tailroom(s), room = rte_pktmbuf_tailroom(b);
		uint8_t *bd = rte_pktmbuf_mtod(b, uint8_t *);
		struct iovec iov[3] = { { &h, sizeof(h) },
					{ rte_pktmbuf_mtod(s, void *), head },
					{ bd + head, room - head } };
		ssize_t r = readv(fd, iov, 3);
		if (r < (ssize_t)sizeof(h)) {
			rte_pktmbuf_free(s);
			if (r >= 0)
				(*bad)++;
			break; /* EAGAIN: nothing more now */
		}
		uint32_t len = (uint32_t)r - sizeof(h);
		/* A frame that filled the buffers may have been cut. */
		if (len >= room || len < RTE_ETHER_HDR_LEN) {
			rte_pktmbuf_free(s);
			(*bad)++;
			continue;
		}
		struct rte_mbuf *m = s;
		if (len > head || h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
			rte_memcpy(bd, rte_pktmbuf_mtod(s, void *), RTE_MIN(len, head));
			rte_pktmbuf_free(s);
			m = b;
			*spare = NULL;
		}
		m->data_len = (uint16_t)len;
		m->pkt_len = len;
		if (rx_offload(v, m, &h)) {
			rte_pktmbuf_free(m);
			(*bad)++;
			continue;
		}
		pkts[got++] = m;
	}
	return got;
}

uint16_t dp_vnet_tx(struct dp_vnet *v, unsigned q, struct rte_mbuf **pkts, uint16_t n,
		    uint64_t *bytes, uint64_t *bad)
{
	const int fd = v->fds[q % v->n_fds];
	uint16_t i;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		struct vnet_hdr h;
		memset(&h, 0, sizeof(h));
		if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) {
			unsigned outer = 0;
			h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
			if (m->ol_flags & RTE_MBUF_F_TX_TUNNEL_MASK) {
				outer = m->outer_l2_len + m->outer_l3_len;
				h.gso_type |= VNET_GSO_UDP_TUNNEL_IPV4;
				h.outer_th_offset = (uint16_t)outer;
				h.inner_nh_offset = (uint16_t)(outer + m->l2_len);
			}
			h.gso_size = m->tso_segsz;
			h.csum_start = (uint16_t)(outer + m->l2_len + m->l3_len);
			h.csum_offset = 16;
			h.hdr_len = (uint16_t)(h.csum_start + m->l4_len);
			/* CWR on the first segment only (tcp_gso_segment does it) */
			if (rte_pktmbuf_mtod(m, const uint8_t *)[h.csum_start + 13] & 0x80)
				h.gso_type |= VIRTIO_NET_HDR_GSO_ECN;
		}
		struct iovec iov[2] = { { &h, sizeof(h) },
					{ rte_pktmbuf_mtod(m, void *), rte_pktmbuf_data_len(m) } };
		if (writev(fd, iov, 2) < 0) {
			/* The tap is down or gone: the caller drops the rest. A
			 * frame the kernel refused goes alone. */
			if (errno == EIO || errno == EBADFD || errno == EAGAIN || errno == ENXIO)
				break;
			(*bad)++;
		} else {
			*bytes += rte_pktmbuf_data_len(m);
		}
		rte_pktmbuf_free(m);
	}
	return i;
}
