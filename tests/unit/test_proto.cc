// SPDX-License-Identifier: Apache-2.0
//
// The control protocol end to end: the real server (dataplane/ctl.c) on a
// real Unix socket, driven by the real client library (agent/ctlclient.c)
// and the real nsdpctl binary, against a struct dp built here with no
// running ports or workers.

#include <gtest/gtest.h>

#include "ctl_tools.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <rte_malloc.h>

#include "shim_dp.h"
extern "C" {
#include "ctlclient.h"
}

namespace {

const char kConfig[] =
	"node = { name = \"test-node\"; vtep = \"192.168.100.1\"; overlay = \"vxlan\";"
	"  vni = 7; };\n"
	"workers = [1];\n"
	"ports = (\n"
	"  { name = \"uplink\"; devargs = \"net_null0\"; role = \"uplink\"; },\n"
	"  { name = \"pod0\"; devargs = \"net_null1\"; role = \"pod\"; },\n"
	"  { name = \"pod1\"; devargs = \"net_null2\"; role = \"pod\"; }\n"
	");\n"
	"tables = { conntrack = 1024; endpoints = 8; routes = 16; vteps = 8; };\n";

struct nsdp_ip ip4(const char *s)
{
	struct nsdp_ip ip;
	EXPECT_EQ(0, nsdp_parse_ip(s, &ip)) << s;
	return ip;
}

struct nsdp_endpoint make_ep(const char *ip, const char *port, uint8_t last,
			     uint32_t identity = 100, const char *name = "default/pod")
{
	struct nsdp_endpoint ep;
	memset(&ep, 0, sizeof(ep));
	ep.ip = ip4(ip);
	snprintf(ep.port, sizeof(ep.port), "%s", port);
	const uint8_t mac[6] = { 0x02, 0, 0, 0, 1, last };
	memcpy(ep.mac, mac, 6);
	ep.identity = identity;
	snprintf(ep.name, sizeof(ep.name), "%s", name);
	return ep;
}

struct nsdp_route make_route(const char *cidr, const char *vtep)
{
	struct nsdp_route r;
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(0, nsdp_parse_prefix(cidr, &r.prefix, &r.prefix_len)) << cidr;
	if (vtep)
		r.vtep = ip4(vtep);
	return r;
}

struct nsdp_vtep make_vtep(const char *ip, uint8_t last, const char *name)
{
	struct nsdp_vtep v;
	memset(&v, 0, sizeof(v));
	v.ip = ip4(ip);
	const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, last };
	memcpy(v.mac, mac, 6);
	snprintf(v.name, sizeof(v.name), "%s", name);
	return v;
}

template <typename T> std::vector<T> get_array(struct nsdp_client *c, uint16_t type)
{
	void *buf = nullptr;
	uint32_t len = 0;
	std::vector<T> out;
	EXPECT_EQ(0, nsdp_client_request(c, type, nullptr, 0, &buf, &len))
		<< nsdp_client_error(c);
	EXPECT_EQ(0u, len % sizeof(T));
	out.resize(len / sizeof(T));
	if (len)
		memcpy(out.data(), buf, len);
	free(buf);
	return out;
}

bool has_ep(const std::vector<nsdp_endpoint> &v, const char *ip)
{
	struct nsdp_ip want = ip4(ip);
	for (const auto &e : v)
		if (memcmp(&e.ip, &want, sizeof(want)) == 0)
			return true;
	return false;
}

typedef CtlRun run_result;

class ProtoTest : public ::testing::Test {
protected:
	struct dp *dp = nullptr;
	struct ctl_server *cs = nullptr;
	std::thread server;
	std::atomic<bool> stop{ false };
	char dir[64] = "/tmp/nsdp-proto-XXXXXX";
	std::string sock;

	void SetUp() override
	{
		ASSERT_EQ(0, shim_eal_init());
		ASSERT_NE(nullptr, mkdtemp(dir));
		// A directory that does not exist yet: ctl_open creates it.
		sock = std::string(dir) + "/run/nsdp/ctl.sock";

		dp = static_cast<struct dp *>(calloc(1, sizeof(*dp)));
		ASSERT_NE(nullptr, dp);
		char err[256] = "";
		ASSERT_EQ(0, dp_config_parse(kConfig, "test", &dp->cfg, err, sizeof(err))) << err;
		ASSERT_LT(sock.size(), sizeof(dp->cfg.ctl_socket));
		memcpy(dp->cfg.ctl_socket, sock.c_str(), sock.size() + 1);
		dp->n_ports = dp->cfg.n_ports;
		for (unsigned i = 0; i < dp->n_ports; i++) {
			struct dp_port *p = &dp->ports[i];
			memcpy(p->name, dp->cfg.ports[i].name, sizeof(p->name));
			p->role = dp->cfg.ports[i].role;
			p->port_id = 0xfff0 + i; // no such ethdev: GET_PORTS skips hw data
			p->n_rxq = 1;
			p->n_txq = 1;
			p->mtu = 1500;
			p->mac.addr_bytes[0] = 0x02;
			p->mac.addr_bytes[5] = (uint8_t)(0x10 + i);
		}
		dp->uplink = 0;
		dp->n_workers = 1;
		dp->stats = static_cast<struct dp_lcore_stats *>(
			rte_zmalloc("test_stats", sizeof(*dp->stats), RTE_CACHE_LINE_SIZE));
		ASSERT_NE(nullptr, dp->stats);
		dp->stats[0].lc.lcore_id = 3;
		ASSERT_EQ(0, dp_init_tables(dp, SOCKET_ID_ANY));

		cs = ctl_open(dp);
		ASSERT_NE(nullptr, cs) << strerror(errno);
		server = std::thread([this] {
			while (!stop.load())
				ASSERT_EQ(0, ctl_poll(cs, 5));
		});
	}

	void TearDown() override
	{
		stop = true;
		if (server.joinable())
			server.join();
		ctl_close(cs);
		if (dp) {
			if (dp->ct)
				ct_destroy(dp->ct);
			dp_tables_free(dp->tables);
			dp_state_free(&dp->state);
			rte_free(dp->qsv);
			rte_free(dp->stats);
			dp_config_release(&dp->cfg);
			free(dp);
		}
		std::string cmd = std::string("rm -rf ") + dir;
		if (system(cmd.c_str()) != 0)
			ADD_FAILURE() << cmd;
	}

	void connect(struct nsdp_client *c)
	{
		ASSERT_EQ(0, nsdp_client_connect(c, sock.c_str(), 5000)) << nsdp_client_error(c);
	}

	struct nsdp_ack commit(struct nsdp_client *c, uint64_t gen)
	{
		struct nsdp_ack ack;
		memset(&ack, 0xff, sizeof(ack));
		EXPECT_EQ(0, nsdp_client_commit(c, gen, &ack)) << nsdp_client_error(c);
		return ack;
	}

	// The state most tests start from: one remote node, two routes, one pod.
	void populate(struct nsdp_client *c, uint64_t gen)
	{
		struct nsdp_vtep v = make_vtep("192.168.100.2", 2, "node-b");
		struct nsdp_route local = make_route("10.244.1.0/24", nullptr);
		struct nsdp_route remote = make_route("10.244.2.0/24", "192.168.100.2");
		struct nsdp_endpoint ep = make_ep("10.244.1.5", "pod0", 5, 42, "default/a");
		ASSERT_EQ(0, nsdp_client_vtep_add(c, &v));
		ASSERT_EQ(0, nsdp_client_route_add(c, &local));
		ASSERT_EQ(0, nsdp_client_route_add(c, &remote));
		ASSERT_EQ(0, nsdp_client_ep_add(c, &ep));
		struct nsdp_ack ack = commit(c, gen);
		ASSERT_EQ(gen, ack.generation);
		ASSERT_EQ(4u, ack.applied);
		ASSERT_EQ(0u, ack.rejected) << ack.error;
		ASSERT_EQ(0, ack.status);
	}

	int raw_connect()
	{
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = {};
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock.c_str());
		EXPECT_EQ(0, ::connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
		struct timeval tv = { 5, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		return fd;
	}

	// Run nsdpctl (path from $NSDPCTL) with `args`; stdout/stderr captured.
	run_result nsdpctl(const std::string &args) { return run_nsdpctl(dir, sock, args); }

	// Parse `doc` with python3's json module (so it must be valid JSON) and
	// return str() of `expr` evaluated with the document as `d`.
	std::string json_eval(const std::string &doc, const std::string &expr)
	{
		return ::json_eval(dir, doc, expr);
	}
};

TEST(ProtoHelpers, Parsers)
{
	struct nsdp_ip ip;
	uint8_t len, mac[6];
	char buf[64];

	ASSERT_EQ(0, nsdp_parse_ip("10.0.0.1", &ip));
	EXPECT_EQ(AF_INET, ip.family);
	EXPECT_EQ(htonl(0x0a000001), *(uint32_t *)ip.addr);
	EXPECT_STREQ("10.0.0.1", nsdp_format_ip(&ip, buf, sizeof(buf)));
	ASSERT_EQ(0, nsdp_parse_ip("fd00::1", &ip));
	EXPECT_EQ(AF_INET6, ip.family);
	EXPECT_EQ(-EINVAL, nsdp_parse_ip("10.0.0", &ip));
	EXPECT_EQ(-EINVAL, nsdp_parse_ip("", &ip));

	ASSERT_EQ(0, nsdp_parse_prefix("10.0.0.0/24", &ip, &len));
	EXPECT_EQ(24, len);
	ASSERT_EQ(0, nsdp_parse_prefix("10.0.0.7", &ip, &len));
	EXPECT_EQ(32, len);
	ASSERT_EQ(0, nsdp_parse_prefix("fd00::/64", &ip, &len));
	EXPECT_EQ(64, len);
	EXPECT_EQ(-EINVAL, nsdp_parse_prefix("10.0.0.0/33", &ip, &len));
	EXPECT_EQ(-EINVAL, nsdp_parse_prefix("10.0.0.0/", &ip, &len));
	EXPECT_EQ(-EINVAL, nsdp_parse_prefix("10.0.0.0/2x", &ip, &len));
	EXPECT_EQ(-EINVAL, nsdp_parse_prefix("10.0.0.0/-1", &ip, &len));

	ASSERT_EQ(0, nsdp_parse_mac("02:aa:BB:0c:00:ff", mac));
	const uint8_t want[6] = { 0x02, 0xaa, 0xbb, 0x0c, 0x00, 0xff };
	EXPECT_EQ(0, memcmp(want, mac, 6));
	EXPECT_STREQ("02:aa:bb:0c:00:ff", nsdp_format_mac(mac, buf, sizeof(buf)));
	EXPECT_EQ(0, nsdp_parse_mac("02-aa-bb-0c-00-ff", mac));
	EXPECT_EQ(-EINVAL, nsdp_parse_mac("02:aa:bb:0c:00", mac));
	EXPECT_EQ(-EINVAL, nsdp_parse_mac("02:aa:bb:0c:00:fg", mac));
	EXPECT_EQ(-EINVAL, nsdp_parse_mac("02:aa-bb:0c:00:ff", mac));
	EXPECT_EQ(-EINVAL, nsdp_parse_mac("02:aa:bb:0c:00:ff:", mac));
}

TEST_F(ProtoTest, Handshake)
{
	struct stat st;
	ASSERT_EQ(0, stat(sock.c_str(), &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ(0660u, st.st_mode & 0777);

	struct nsdp_client c;
	connect(&c);
	EXPECT_EQ(NSDP_PROTO_VERSION, c.server.version);
	EXPECT_EQ((uint32_t)getpid(), c.server.pid);
	EXPECT_EQ(0u, c.server.generation);
	EXPECT_STREQ("test-node", c.server.name);
	nsdp_client_close(&c);

	struct nsdp_client bad;
	EXPECT_EQ(-ENOENT, nsdp_client_connect(&bad, (std::string(dir) + "/nope").c_str(), 1000));
	EXPECT_NE(nullptr, strstr(nsdp_client_error(&bad), "/nope"));
}

TEST_F(ProtoTest, SecondServerRefusesLiveSocket)
{
	errno = 0;
	EXPECT_EQ(nullptr, ctl_open(dp));
	EXPECT_EQ(EADDRINUSE, errno);
}

TEST_F(ProtoTest, CommitAndQuery)
{
	struct nsdp_client c;
	connect(&c);
	populate(&c, 5);

	auto eps = get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS);
	ASSERT_EQ(1u, eps.size());
	struct nsdp_endpoint want = make_ep("10.244.1.5", "pod0", 5, 42, "default/a");
	EXPECT_EQ(0, memcmp(&want, &eps[0], sizeof(want)));
	auto routes = get_array<nsdp_route>(&c, NSDP_MSG_GET_ROUTES);
	ASSERT_EQ(2u, routes.size());
	auto vteps = get_array<nsdp_vtep>(&c, NSDP_MSG_GET_VTEPS);
	ASSERT_EQ(1u, vteps.size());
	EXPECT_STREQ("node-b", vteps[0].name);

	auto info = get_array<nsdp_info>(&c, NSDP_MSG_GET_INFO);
	ASSERT_EQ(1u, info.size());
	EXPECT_EQ(5u, info[0].generation);
	EXPECT_EQ(3u, info[0].n_ports);
	EXPECT_EQ(1u, info[0].n_workers);
	EXPECT_EQ(7u, info[0].vni);
	EXPECT_EQ(NSDP_OVERLAY_VXLAN, info[0].overlay);
	EXPECT_EQ(ct_capacity(dp->ct), info[0].ct_size);
	EXPECT_EQ(0u, info[0].ct_used);
	EXPECT_STREQ("test-node", info[0].node);
	EXPECT_EQ(ip4("192.168.100.1").addr[3], info[0].vtep.addr[3]);

	auto ports = get_array<nsdp_port_info>(&c, NSDP_MSG_GET_PORTS);
	ASSERT_EQ(3u, ports.size());
	EXPECT_STREQ("uplink", ports[0].name);
	EXPECT_EQ(NSDP_ROLE_UPLINK, ports[0].role);
	EXPECT_STREQ("pod1", ports[2].name);
	EXPECT_EQ(NSDP_ROLE_POD, ports[2].role);
	EXPECT_EQ(0u, ports[2].hw_ipackets);

	// A new session sees the effective generation in HELLO.
	struct nsdp_client c2;
	connect(&c2);
	EXPECT_EQ(5u, c2.server.generation);

	// Deletes carry the add's struct; only the key is read.
	struct nsdp_ip ep_ip = ip4("10.244.1.5");
	ASSERT_EQ(0, nsdp_client_ep_del(&c2, &ep_ip));
	struct nsdp_ip pfx = ip4("10.244.2.0");
	ASSERT_EQ(0, nsdp_client_route_del(&c2, &pfx, 24));
	struct nsdp_ack ack = commit(&c2, 6);
	EXPECT_EQ(2u, ack.applied);
	EXPECT_EQ(0u, ack.rejected) << ack.error;
	EXPECT_EQ(0u, get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS).size());
	EXPECT_EQ(1u, get_array<nsdp_route>(&c, NSDP_MSG_GET_ROUTES).size());
	EXPECT_EQ(6u, dp->generation);
	nsdp_client_close(&c);
	nsdp_client_close(&c2);
}

TEST_F(ProtoTest, BadChangeRejectedAlone)
{
	struct nsdp_client c;
	connect(&c);
	populate(&c, 1);

	struct nsdp_route bad_len = make_route("10.244.3.0/24", nullptr);
	bad_len.prefix_len = 33;
	struct nsdp_endpoint unknown_port = make_ep("10.244.1.6", "pod9", 6);
	struct nsdp_endpoint on_uplink = make_ep("10.244.1.7", "uplink", 7);
	struct nsdp_endpoint good = make_ep("10.244.1.8", "pod1", 8);
	struct nsdp_ip missing = ip4("10.244.1.99");
	ASSERT_EQ(0, nsdp_client_route_add(&c, &bad_len));
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &unknown_port));
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &good));
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &on_uplink));
	ASSERT_EQ(0, nsdp_client_ep_del(&c, &missing));
	struct nsdp_ack ack = commit(&c, 2);
	EXPECT_EQ(2u, ack.generation);
	EXPECT_EQ(1u, ack.applied);
	EXPECT_EQ(4u, ack.rejected);
	EXPECT_EQ(-EINVAL, ack.status);
	// The first rejection is reported, naming the message and the field.
	EXPECT_NE(nullptr, strstr(ack.error, "ROUTE_ADD")) << ack.error;
	EXPECT_NE(nullptr, strstr(ack.error, "33")) << ack.error;
	EXPECT_NE(nullptr, strstr(nsdp_client_error(&c), "rejected 4")) << nsdp_client_error(&c);

	auto eps = get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS);
	EXPECT_EQ(2u, eps.size());
	EXPECT_TRUE(has_ep(eps, "10.244.1.5"));
	EXPECT_TRUE(has_ep(eps, "10.244.1.8"));
	EXPECT_FALSE(has_ep(eps, "10.244.1.6"));
	EXPECT_FALSE(has_ep(eps, "10.244.1.7"));

	// The next batch starts clean.
	ack = commit(&c, 3);
	EXPECT_EQ(0u, ack.applied);
	EXPECT_EQ(0u, ack.rejected);
	EXPECT_EQ(0, ack.status);
	EXPECT_STREQ("", ack.error);
	nsdp_client_close(&c);
}

TEST_F(ProtoTest, TableFullRejectsExcess)
{
	struct nsdp_client c;
	connect(&c);
	// tables.endpoints = 8
	for (int i = 0; i < 10; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.244.1.%d", 10 + i);
		struct nsdp_endpoint ep = make_ep(ip, "pod0", (uint8_t)i);
		ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
	}
	struct nsdp_ack ack = commit(&c, 1);
	EXPECT_EQ(8u, ack.applied);
	EXPECT_EQ(2u, ack.rejected);
	EXPECT_EQ(-ENOSPC, ack.status);
	EXPECT_EQ(8u, get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS).size());
	nsdp_client_close(&c);
}

TEST_F(ProtoTest, WrongPayloadSize)
{
	struct nsdp_client c;
	connect(&c);
	struct nsdp_endpoint ep = make_ep("10.244.1.5", "pod0", 5);
	struct nsdp_endpoint good = make_ep("10.244.1.6", "pod0", 6);
	ASSERT_EQ(0, nsdp_client_send(&c, NSDP_MSG_EP_ADD, 0, &ep, sizeof(ep) - 4));
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &good));
	ASSERT_EQ(0, nsdp_client_send(&c, NSDP_MSG_VTEP_ADD, 0, &ep, sizeof(ep)));
	struct nsdp_ack ack = commit(&c, 1);
	EXPECT_EQ(1u, ack.applied);
	EXPECT_EQ(2u, ack.rejected);
	EXPECT_EQ(-EINVAL, ack.status);
	char want[96];
	snprintf(want, sizeof(want), "EP_ADD: payload %zu bytes, expected %zu", sizeof(ep) - 4,
		 sizeof(ep));
	EXPECT_STREQ(want, ack.error);
	auto eps = get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS);
	ASSERT_EQ(1u, eps.size());
	EXPECT_TRUE(has_ep(eps, "10.244.1.6"));

	// GET_FLOWS with a malformed request: ERROR, connection kept.
	void *buf;
	uint32_t len;
	uint32_t junk = 1;
	EXPECT_EQ(-EINVAL, nsdp_client_request(&c, NSDP_MSG_GET_FLOWS, &junk, sizeof(junk), &buf,
					       &len));
	EXPECT_EQ(1u, get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS).size());
	nsdp_client_close(&c);
}

TEST_F(ProtoTest, UnknownTypeKeepsConnection)
{
	struct nsdp_client c;
	connect(&c);
	void *buf = nullptr;
	uint32_t len = 0;
	EXPECT_EQ(-ENOTSUP, nsdp_client_request(&c, 99, nullptr, 0, &buf, &len));
	EXPECT_NE(nullptr, strstr(nsdp_client_error(&c), "unknown message type 99"))
		<< nsdp_client_error(&c);
	// An unknown type nobody waits for: its ERROR is skipped by seq.
	ASSERT_EQ(0, nsdp_client_send(&c, 77, 0, nullptr, 0));
	auto info = get_array<nsdp_info>(&c, NSDP_MSG_GET_INFO);
	EXPECT_EQ(1u, info.size());
	nsdp_client_close(&c);
}

struct raw_reply {
	struct nsdp_msg_hdr h;
	struct nsdp_error e;
	bool closed;
};

static raw_reply raw_exchange(int fd, const struct nsdp_msg_hdr &h)
{
	raw_reply r;
	memset(&r, 0, sizeof(r));
	EXPECT_EQ((ssize_t)sizeof(h), send(fd, &h, sizeof(h), MSG_NOSIGNAL));
	EXPECT_EQ((ssize_t)sizeof(r.h), recv(fd, &r.h, sizeof(r.h), MSG_WAITALL));
	EXPECT_EQ(sizeof(r.e), r.h.len);
	EXPECT_EQ((ssize_t)sizeof(r.e), recv(fd, &r.e, sizeof(r.e), MSG_WAITALL));
	char ch;
	r.closed = recv(fd, &ch, 1, 0) == 0;
	return r;
}

TEST_F(ProtoTest, FramingErrorsGetErrorAndClose)
{
	struct nsdp_msg_hdr h = {};
	h.magic = 0xdeadbeef;
	h.version = NSDP_PROTO_VERSION;
	h.type = NSDP_MSG_GET_INFO;
	h.seq = 17;
	int fd = raw_connect();
	raw_reply r = raw_exchange(fd, h);
	EXPECT_EQ(NSDP_MSG_ERROR, r.h.type);
	EXPECT_EQ(NSDP_PROTO_MAGIC, r.h.magic);
	EXPECT_EQ(17u, r.h.seq);
	EXPECT_EQ(-EPROTO, r.e.status);
	EXPECT_NE(nullptr, strstr(r.e.error, "magic")) << r.e.error;
	EXPECT_TRUE(r.closed);
	close(fd);

	h.magic = NSDP_PROTO_MAGIC;
	h.version = 0x0200;
	fd = raw_connect();
	r = raw_exchange(fd, h);
	EXPECT_EQ(-EPROTONOSUPPORT, r.e.status);
	EXPECT_NE(nullptr, strstr(r.e.error, "2.0")) << r.e.error;
	EXPECT_TRUE(r.closed);
	close(fd);

	h.version = NSDP_PROTO_VERSION | 0x7f; // a newer minor is fine
	h.len = NSDP_PROTO_MAX_PAYLOAD + 1;
	fd = raw_connect();
	r = raw_exchange(fd, h);
	EXPECT_EQ(-EMSGSIZE, r.e.status);
	EXPECT_TRUE(r.closed);
	close(fd);

	// The server is unharmed.
	struct nsdp_client c;
	connect(&c);
	nsdp_client_close(&c);
}

TEST_F(ProtoTest, GenerationOrder)
{
	struct nsdp_client c;
	connect(&c);
	EXPECT_EQ(0, commit(&c, 10).status);
	struct nsdp_endpoint ep = make_ep("10.244.1.5", "pod0", 5);
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
	struct nsdp_ack ack = commit(&c, 9);
	EXPECT_EQ(-ESTALE, ack.status);
	EXPECT_EQ(10u, ack.generation);
	EXPECT_EQ(0u, ack.applied);
	EXPECT_EQ(1u, ack.rejected);
	EXPECT_EQ(0u, get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS).size());
	// Equal is accepted (resynchronisation at the same generation).
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
	ack = commit(&c, 10);
	EXPECT_EQ(0, ack.status);
	EXPECT_EQ(1u, ack.applied);
	EXPECT_EQ(10u, ack.generation);
	nsdp_client_close(&c);
}

// A commit with nothing for the tables (what a policy-only push is, minus
// the policy) moves the generation without rebuilding the tables; one with
// a change rebuilds them.
TEST_F(ProtoTest, CommitWithoutTableChangesKeepsTheTables)
{
	struct nsdp_client c;
	connect(&c);
	struct nsdp_endpoint ep = make_ep("10.244.1.5", "pod0", 5);
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
	ASSERT_EQ(0, commit(&c, 3).status);
	const struct dp_tables *t = dp->tables;
	struct nsdp_ack ack = commit(&c, 4);
	EXPECT_EQ(0, ack.status);
	EXPECT_EQ(4u, ack.generation);
	EXPECT_EQ(4u, dp->generation);
	EXPECT_EQ(t, dp->tables) << "not rebuilt";
	EXPECT_EQ(1u, get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS).size());
	ASSERT_EQ(0, nsdp_client_ep_del(&c, &ep.ip));
	ack = commit(&c, 5);
	EXPECT_EQ(1u, ack.applied);
	EXPECT_NE(t, dp->tables) << "a change rebuilds them";
	EXPECT_EQ(0u, get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS).size());
	nsdp_client_close(&c);
}

TEST_F(ProtoTest, SnapshotReplacesAndAbandonedBatchesVanish)
{
	struct nsdp_client c;
	connect(&c);
	populate(&c, 1);

	// An abandoned snapshot and abandoned deltas leave the state alone.
	struct nsdp_client gone;
	connect(&gone);
	ASSERT_EQ(0, nsdp_client_snapshot_begin(&gone));
	struct nsdp_endpoint stray = make_ep("10.244.1.66", "pod0", 66);
	ASSERT_EQ(0, nsdp_client_ep_add(&gone, &stray));
	nsdp_client_close(&gone);
	struct nsdp_client gone2;
	connect(&gone2);
	ASSERT_EQ(0, nsdp_client_ep_add(&gone2, &stray));
	nsdp_client_close(&gone2);
	usleep(50 * 1000);
	struct nsdp_ack ack = commit(&c, 2);
	EXPECT_EQ(0u, ack.applied);
	auto eps = get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS);
	ASSERT_EQ(1u, eps.size());
	EXPECT_TRUE(has_ep(eps, "10.244.1.5"));
	EXPECT_EQ(2u, get_array<nsdp_route>(&c, NSDP_MSG_GET_ROUTES).size());

	// A snapshot replaces everything.
	ASSERT_EQ(0, nsdp_client_snapshot_begin(&c));
	struct nsdp_endpoint ep = make_ep("10.244.1.9", "pod1", 9);
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
	ack = commit(&c, 3);
	EXPECT_EQ(1u, ack.applied);
	EXPECT_EQ(0u, ack.rejected);
	eps = get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS);
	ASSERT_EQ(1u, eps.size());
	EXPECT_TRUE(has_ep(eps, "10.244.1.9"));
	EXPECT_EQ(0u, get_array<nsdp_route>(&c, NSDP_MSG_GET_ROUTES).size());
	EXPECT_EQ(0u, get_array<nsdp_vtep>(&c, NSDP_MSG_GET_VTEPS).size());
	nsdp_client_close(&c);
}

TEST_F(ProtoTest, TwoClientsAtOnce)
{
	struct nsdp_client a, b;
	connect(&a);
	connect(&b);
	struct nsdp_endpoint ea = make_ep("10.244.1.10", "pod0", 10);
	struct nsdp_endpoint eb = make_ep("10.244.1.11", "pod1", 11);
	ASSERT_EQ(0, nsdp_client_ep_add(&a, &ea));
	ASSERT_EQ(0, nsdp_client_ep_add(&b, &eb));
	// b's commit carries only b's change.
	struct nsdp_ack ack = commit(&b, 1);
	EXPECT_EQ(1u, ack.applied);
	auto eps = get_array<nsdp_endpoint>(&a, NSDP_MSG_GET_ENDPOINTS);
	ASSERT_EQ(1u, eps.size());
	EXPECT_TRUE(has_ep(eps, "10.244.1.11"));
	ack = commit(&a, 2);
	EXPECT_EQ(1u, ack.applied);
	eps = get_array<nsdp_endpoint>(&b, NSDP_MSG_GET_ENDPOINTS);
	EXPECT_EQ(2u, eps.size());

	// Both hammer the server concurrently.
	auto hammer = [this](struct nsdp_client *c, int *ok) {
		for (int i = 0; i < 200; i++) {
			void *buf = nullptr;
			uint32_t len;
			int rc = nsdp_client_request(c, NSDP_MSG_GET_INFO, nullptr, 0, &buf, &len);
			if (rc == 0 && len == sizeof(struct nsdp_info))
				(*ok)++;
			free(buf);
		}
	};
	int oka = 0, okb = 0;
	std::thread ta(hammer, &a, &oka), tb(hammer, &b, &okb);
	ta.join();
	tb.join();
	EXPECT_EQ(200, oka);
	EXPECT_EQ(200, okb);
	nsdp_client_close(&a);
	nsdp_client_close(&b);
}

TEST_F(ProtoTest, TooManyClients)
{
	std::vector<int> fds;
	for (int i = 0; i < 64; i++) {
		int fd = raw_connect();
		// A round trip proves the server accepted this one.
		struct nsdp_msg_hdr h = {};
		h.magic = NSDP_PROTO_MAGIC;
		h.version = NSDP_PROTO_VERSION;
		h.type = NSDP_MSG_GET_VTEPS;
		h.seq = 1;
		ASSERT_EQ((ssize_t)sizeof(h), send(fd, &h, sizeof(h), MSG_NOSIGNAL));
		ASSERT_EQ((ssize_t)sizeof(h), recv(fd, &h, sizeof(h), MSG_WAITALL));
		fds.push_back(fd);
	}
	struct nsdp_client c;
	EXPECT_EQ(-EBUSY, nsdp_client_connect(&c, sock.c_str(), 5000));
	EXPECT_NE(nullptr, strstr(nsdp_client_error(&c), "too many")) << nsdp_client_error(&c);
	close(fds.back());
	fds.pop_back();
	// The slot frees up once the server sees the close.
	int rc = -1;
	for (int i = 0; i < 100 && rc != 0; i++) {
		usleep(10 * 1000);
		rc = nsdp_client_connect(&c, sock.c_str(), 5000);
	}
	EXPECT_EQ(0, rc) << nsdp_client_error(&c);
	nsdp_client_close(&c);
	for (int fd : fds)
		close(fd);
}

TEST_F(ProtoTest, StatsLayout)
{
	struct dp_lcore_stats *s = &dp->stats[0];
	s->lc.busy_cycles = 1000;
	s->lc.busy_packets = 10;
	s->lc.polls = 55;
	s->port[1].rx_pkts = 11;
	s->port[2].tx_bytes = 2222;
	s->drops[NSDP_DROP_IP_BAD_CSUM] = 7;
	s->drops[NSDP_DROP_HAIRPIN] = 1;

	struct nsdp_client c;
	connect(&c);
	void *buf;
	uint32_t len;
	ASSERT_EQ(0, nsdp_client_request(&c, NSDP_MSG_GET_STATS, nullptr, 0, &buf, &len));
	size_t per = sizeof(nsdp_lcore_stats) + 3 * sizeof(nsdp_port_counters) +
		     NSDP_DROP_MAX * sizeof(uint64_t);
	ASSERT_EQ(sizeof(nsdp_stats_hdr) + per, len);
	uint8_t *p = static_cast<uint8_t *>(buf);
	struct nsdp_stats_hdr sh;
	memcpy(&sh, p, sizeof(sh));
	EXPECT_EQ(1u, sh.n_lcores);
	EXPECT_EQ(3u, sh.n_ports);
	EXPECT_EQ(NSDP_DROP_MAX, sh.n_drops);
	EXPECT_GT(sh.tsc_hz, 0u);
	p += sizeof(sh);
	struct nsdp_lcore_stats lc;
	memcpy(&lc, p, sizeof(lc));
	EXPECT_EQ(3u, lc.lcore_id);
	EXPECT_EQ(1000u, lc.busy_cycles);
	EXPECT_EQ(10u, lc.busy_packets);
	EXPECT_EQ(55u, lc.polls);
	p += sizeof(lc);
	struct nsdp_port_counters pc[3];
	memcpy(pc, p, sizeof(pc));
	EXPECT_EQ(11u, pc[1].rx_pkts);
	EXPECT_EQ(2222u, pc[2].tx_bytes);
	EXPECT_EQ(0u, pc[0].rx_pkts);
	p += sizeof(pc);
	uint64_t drops[NSDP_DROP_MAX];
	memcpy(drops, p, sizeof(drops));
	EXPECT_EQ(7u, drops[NSDP_DROP_IP_BAD_CSUM]);
	EXPECT_EQ(1u, drops[NSDP_DROP_HAIRPIN]);
	EXPECT_EQ(0u, drops[NSDP_DROP_NO_ROUTE]);
	free(buf);
	nsdp_client_close(&c);
}

static void add_flows(struct conntrack *ct, int n)
{
	for (int i = 0; i < n; i++) {
		struct ct_key k;
		uint32_t src = htonl(0x0af40100 + 1 + i), dst = htonl(0x0af40200 + 1);
		unsigned side = ct_key_make(&k, AF_INET, &src, &dst, htons(40000 + i), htons(80),
					    IPPROTO_TCP);
		ASSERT_NE(nullptr, ct_create_entry(ct, &k, ct_hash(&k), side, ct_now()));
	}
}

TEST_F(ProtoTest, FlowsAndFlush)
{
	add_flows(dp->ct, 10);
	struct nsdp_client c;
	connect(&c);

	std::vector<nsdp_flow> all;
	struct nsdp_flows_req req = { 0, 4 };
	int pages = 0;
	do {
		void *buf;
		uint32_t len;
		ASSERT_EQ(0, nsdp_client_request(&c, NSDP_MSG_GET_FLOWS, &req, sizeof(req), &buf,
						 &len));
		struct nsdp_flows_hdr fh;
		ASSERT_GE(len, sizeof(fh));
		memcpy(&fh, buf, sizeof(fh));
		ASSERT_EQ(sizeof(fh) + fh.count * sizeof(nsdp_flow), len);
		EXPECT_LE(fh.count, 4u);
		for (uint32_t i = 0; i < fh.count; i++) {
			nsdp_flow f;
			memcpy(&f, (uint8_t *)buf + sizeof(fh) + i * sizeof(f), sizeof(f));
			all.push_back(f);
		}
		free(buf);
		req.offset = fh.next_offset;
		ASSERT_LT(++pages, 100);
	} while (req.offset != 0);
	EXPECT_GE(pages, 3);
	ASSERT_EQ(10u, all.size());
	bool seen[10] = {};
	for (const auto &f : all) {
		// Shown from the originator's side.
		EXPECT_EQ(AF_INET, f.src.family);
		EXPECT_EQ(IPPROTO_TCP, f.proto);
		EXPECT_EQ(80, f.dport);
		ASSERT_GE(f.sport, 40000);
		ASSERT_LT(f.sport, 40010);
		EXPECT_EQ(10, f.src.addr[0]);
		EXPECT_EQ(2, f.dst.addr[2]);
		EXPECT_EQ(f.sport - 40000 + 1, f.src.addr[3]);
		seen[f.sport - 40000] = true;
		EXPECT_LE(f.age_s, 1u);
		EXPECT_LE(f.expires_s, ct_timeout(dp->ct, (enum ct_state)f.state));
		EXPECT_GE(f.expires_s + 2, ct_timeout(dp->ct, (enum ct_state)f.state));
	}
	for (bool s : seen)
		EXPECT_TRUE(s);

	auto info = get_array<nsdp_info>(&c, NSDP_MSG_GET_INFO);
	EXPECT_EQ(10u, info[0].ct_used);

	void *buf;
	uint32_t len;
	ASSERT_EQ(0, nsdp_client_request(&c, NSDP_MSG_CT_FLUSH, nullptr, 0, &buf, &len));
	ASSERT_EQ(sizeof(nsdp_ack), len);
	nsdp_ack ack;
	memcpy(&ack, buf, sizeof(ack));
	free(buf);
	EXPECT_EQ(10u, ack.applied);
	ASSERT_EQ(0, nsdp_client_request(&c, NSDP_MSG_GET_FLOWS, nullptr, 0, &buf, &len));
	EXPECT_EQ(sizeof(nsdp_flows_hdr), len);
	free(buf);
	nsdp_client_close(&c);
}

// One flow in each of several states.
static void add_mixed_flows(struct conntrack *ct)
{
	const uint8_t SYN = 0x02, ACK = 0x10;
	struct {
		uint8_t proto;
		std::vector<std::pair<unsigned, uint8_t>> pkts; // (reply?, tcp flags)
	} flows[] = {
		{ IPPROTO_TCP, { { 0, SYN } } },
		{ IPPROTO_TCP, { { 0, SYN }, { 1, SYN | ACK } } },
		{ IPPROTO_TCP, { { 0, SYN }, { 1, SYN | ACK }, { 0, ACK } } },
		{ IPPROTO_UDP, { { 0, 0 } } },
		{ IPPROTO_UDP, { { 0, 0 }, { 1, 0 } } },
		{ IPPROTO_ICMP, { { 0, 0 } } },
		{ 47, { { 0, 0 } } },
	};
	uint16_t port = 50000;
	for (auto &f : flows) {
		struct ct_key k;
		uint32_t src = htonl(0x0af40105), dst = htonl(0x0af40201);
		unsigned side = ct_key_make(&k, AF_INET, &src, &dst, htons(port), htons(53),
					    f.proto);
		port++;
		uint32_t now = ct_now();
		struct ct_entry *e = ct_create_entry(ct, &k, ct_hash(&k), side, now);
		ASSERT_NE(nullptr, e);
		for (auto &p : f.pkts)
			EXPECT_EQ(0, ct_update(e, side ^ p.first, p.second, now));
	}
}

class NsdpctlTest : public ProtoTest {
protected:
	void SetUp() override
	{
		if (!getenv("NSDPCTL"))
			GTEST_SKIP() << "NSDPCTL (path of the nsdpctl binary) not set";
		ProtoTest::SetUp();
	}
};

TEST_F(NsdpctlTest, QueriesAndJson)
{
	struct nsdp_client c;
	connect(&c);
	populate(&c, 3);
	nsdp_client_close(&c);
	dp->stats[0].drops[NSDP_DROP_IP_BAD_CSUM] = 7;
	dp->stats[0].port[0].rx_pkts = 5;
	add_mixed_flows(dp->ct);

	run_result r = nsdpctl("--json endpoints");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("1", json_eval(r.out, "len(d['endpoints'])"));
	EXPECT_EQ("10.244.1.5 pod0 02:00:00:00:01:05 42 default/a",
		  json_eval(r.out, "' '.join(str(d['endpoints'][0][k]) for k in "
				   "('ip','port','mac','identity','name'))"));

	r = nsdpctl("--json drops");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("7 0 7", json_eval(r.out, "' '.join(map(str, (d['drops']['ip-bad-csum'], "
					    "d['drops']['no-route'], "
					    "d['lcores'][0]['drops']['ip-bad-csum'])))"));
	EXPECT_EQ(std::to_string(NSDP_DROP_MAX - 1), json_eval(r.out, "len(d['drops'])"));

	r = nsdpctl("--json stats");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("5 5 3", json_eval(r.out, "' '.join(map(str, (d['ports']['uplink']['rx_pkts'], "
					    "d['lcores'][0]['ports']['uplink']['rx_pkts'], "
					    "d['lcores'][0]['lcore'])))"));

	r = nsdpctl("--json flows --max 2");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("2", json_eval(r.out, "d['count']"));
	EXPECT_EQ("10.244.1.5 10.244.2.1 53",
		  json_eval(r.out, "' '.join(map(str, (d['flows'][0]['src'], "
				   "d['flows'][0]['dst'], d['flows'][0]['dport'])))"));
	r = nsdpctl("flows --json");
	ASSERT_EQ(0, r.status) << r.err;
	// nsdpctl keeps its own copy of the state names: they must be the
	// dataplane's, for flows in every state add_mixed_flows makes.
	std::vector<std::string> want;
	for (uint32_t i = 0; i < ct_capacity(dp->ct); i++)
		if (const struct ct_entry *e = ct_slot(dp->ct, i))
			want.push_back(ct_state_name(ct_entry_state(e)));
	std::sort(want.begin(), want.end());
	std::string joined;
	for (const auto &w : want)
		joined += (joined.empty() ? "" : " ") + w;
	EXPECT_EQ(joined, json_eval(r.out, "' '.join(sorted(f['state'] for f in d['flows']))"));
	EXPECT_EQ(std::to_string(want.size()), json_eval(r.out, "d['count']"));

	for (const char *q : { "--json info", "--json ports", "--json routes", "--json vteps" }) {
		r = nsdpctl(q);
		ASSERT_EQ(0, r.status) << q << ": " << r.err;
		json_eval(r.out, "d");
	}
	EXPECT_EQ("test-node 3", json_eval(nsdpctl("--json info").out,
					   "d['node'] + ' ' + str(d['generation'])"));
	EXPECT_EQ("10.244.2.0/24 192.168.100.2",
		  json_eval(nsdpctl("--json routes").out,
			    "' '.join((d['routes'][1]['prefix'], d['routes'][1]['vtep']))"));

	// Human output.
	for (const char *q : { "info", "ports", "stats", "drops", "drops --all", "endpoints",
			       "routes", "vteps", "flows" }) {
		r = nsdpctl(q);
		EXPECT_EQ(0, r.status) << q << ": " << r.err;
		EXPECT_FALSE(r.out.empty()) << q;
	}
	r = nsdpctl("drops");
	EXPECT_NE(std::string::npos, r.out.find("ip-bad-csum")) << r.out;
	EXPECT_NE(std::string::npos, r.out.find("IPv4 header checksum wrong")) << r.out;
	EXPECT_EQ(std::string::npos, r.out.find("no-route")) << r.out;
	EXPECT_NE(std::string::npos, nsdpctl("drops --all").out.find("no-route"));
	EXPECT_NE(std::string::npos, nsdpctl("endpoints").out.find("default/a"));
}

TEST_F(NsdpctlTest, Changes)
{
	run_result r = nsdpctl("vtep add 192.168.100.3 02:00:00:00:00:03 --name node-c");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("generation 1 effective\n", r.out);
	r = nsdpctl("route add 10.244.3.0/24 via 192.168.100.3");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("generation 2 effective\n", r.out);
	r = nsdpctl("route add 10.244.1.0/24 local");
	ASSERT_EQ(0, r.status) << r.err;
	r = nsdpctl("ep add 10.244.1.20 pod1 02:00:00:00:01:20 --identity 7 --name ns/p");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("generation 4 effective\n", r.out);
	r = nsdpctl("commit-check");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("generation 4 effective\n", r.out);

	struct nsdp_client c;
	connect(&c);
	auto eps = get_array<nsdp_endpoint>(&c, NSDP_MSG_GET_ENDPOINTS);
	ASSERT_EQ(1u, eps.size());
	EXPECT_EQ(7u, eps[0].identity);
	EXPECT_STREQ("ns/p", eps[0].name);
	EXPECT_STREQ("pod1", eps[0].port);
	EXPECT_EQ(2u, get_array<nsdp_route>(&c, NSDP_MSG_GET_ROUTES).size());
	EXPECT_STREQ("node-c", get_array<nsdp_vtep>(&c, NSDP_MSG_GET_VTEPS)[0].name);
	nsdp_client_close(&c);

	// Rejected by the dataplane: its reason, exit 1.
	r = nsdpctl("ep add 10.244.1.21 nosuchport 02:00:00:00:01:21");
	EXPECT_EQ(1, r.status);
	EXPECT_NE(std::string::npos, r.err.find("nosuchport")) << r.err;
	r = nsdpctl("ep del 10.244.1.99");
	EXPECT_EQ(1, r.status);
	EXPECT_NE(std::string::npos, r.err.find("10.244.1.99")) << r.err;

	r = nsdpctl("--json ep del 10.244.1.20");
	ASSERT_EQ(0, r.status) << r.err;
	EXPECT_EQ("1 0", json_eval(r.out, "str(d['applied']) + ' ' + str(d['rejected'])"));
	r = nsdpctl("route del 10.244.3.0/24");
	EXPECT_EQ(0, r.status) << r.err;
	r = nsdpctl("vtep del 192.168.100.3");
	EXPECT_EQ(0, r.status) << r.err;

	add_flows(dp->ct, 2);
	r = nsdpctl("ct flush");
	EXPECT_EQ(0, r.status) << r.err;
	EXPECT_EQ("2 flows flushed\n", r.out);

	// Usage errors never reach the dataplane.
	EXPECT_EQ(2, nsdpctl("ep add 10.244.1.300 pod0 02:00:00:00:01:20").status);
	EXPECT_EQ(2, nsdpctl("route add 10.244.0.0/24 via").status);
	EXPECT_EQ(2, nsdpctl("vtep add 1.2.3.4 zz:00:00:00:00:00").status);
	EXPECT_EQ(2, nsdpctl("frobnicate").status);

	// No dataplane: the error names the socket.
	const char *bin = getenv("NSDPCTL");
	std::string cmd = std::string(bin) + " -s " + dir + "/absent.sock info 2>" + dir + "/e";
	int st = system(cmd.c_str());
	EXPECT_EQ(1, WEXITSTATUS(st));
	EXPECT_NE(std::string::npos, slurp(std::string(dir) + "/e").find("absent.sock"));
}

} // namespace
