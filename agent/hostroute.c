/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's route to its own pods through the dataplane's host port
 * (nsdp-agent --host-route IFACE): POD_CIDR via GATEWAY dev IFACE onlink
 * [src HOST_IP], in the agent's network namespace (the host's, in the
 * DaemonSet), set with rtnetlink. The routes carry protocol
 * AG_RTPROT_NSDP, so `ip route show proto 110` lists what nsdp set.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "agent.h"

static void put_attr(struct nlmsghdr *n, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

int ag_host_route(bool add, const char *ifname, uint32_t prefix, uint8_t len, uint32_t via,
		  uint32_t src, char *err, size_t errlen)
{
	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		snprintf(err, errlen, "%s: %s", ifname, strerror(errno));
		return -errno;
	}
	struct {
		struct nlmsghdr n;
		struct rtmsg r;
		char attrs[128];
	} req;
	memset(&req, 0, sizeof(req));
	req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.n.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
	req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	req.n.nlmsg_seq = 1;
	req.r.rtm_family = AF_INET;
	req.r.rtm_dst_len = len;
	req.r.rtm_table = RT_TABLE_MAIN;
	req.r.rtm_protocol = AG_RTPROT_NSDP;
	req.r.rtm_scope = RT_SCOPE_UNIVERSE;
	req.r.rtm_type = RTN_UNICAST;
	req.r.rtm_flags = RTNH_F_ONLINK;
	uint32_t oif = ifindex;
	put_attr(&req.n, RTA_DST, &prefix, 4);
	put_attr(&req.n, RTA_GATEWAY, &via, 4);
	put_attr(&req.n, RTA_OIF, &oif, 4);
	if (src)
		put_attr(&req.n, RTA_PREFSRC, &src, 4);

	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) {
		snprintf(err, errlen, "netlink: %s", strerror(errno));
		return -errno;
	}
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	int rc = 0;
	if (sendto(fd, &req, req.n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		rc = -errno;
	} else {
		char buf[512];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		if (n < 0)
			rc = -errno;
		else if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR)
			rc = -EPROTO;
		else
			rc = ((const struct nlmsgerr *)NLMSG_DATA(h))->error;
	}
	close(fd);
	if (rc)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}
