// SPDX-License-Identifier: Apache-2.0
//
// Runtime pod ports (PORT_ADD / PORT_DEL, protocol 1.1): the real control
// server (dataplane/ctl.c) and port code (dataplane/port.c) on a real Unix
// socket, with real DPDK devices (net_null vdevs probed at runtime) and a
// real worker loop (dp_worker_main) polling them on a thread of its own
// while ports come and go under RCU.

#include <gtest/gtest.h>

#include "ctl_tools.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "shim_dp.h"
extern "C" {
#include "ctlclient.h"
#include "port.h"
}

namespace {

const char kConfig[] =
	"node = { name = \"hp-node\"; vtep = \"192.168.100.1\"; overlay = \"vxlan\"; vni = 7; };\n"
	"workers = [1];\n"
	"idle_sleep_us = 0;\n"
	"ports = (\n"
	"  { name = \"uplink\"; devargs = \"net_null0\"; role = \"uplink\"; },\n"
	"  { name = \"pod0\"; devargs = \"net_null1\"; role = \"pod\"; }\n"
	");\n"
	"tables = { conntrack = 1024; endpoints = 64; routes = 16; vteps = 8; };\n";

const unsigned kPoolSize = 8191;

unsigned count_fds()
{
	unsigned n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

struct nsdp_port_req port_req(const char *name, const char *devargs,
			      uint8_t role = NSDP_ROLE_POD)
{
	struct nsdp_port_req r;
	memset(&r, 0, sizeof(r));
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.devargs, sizeof(r.devargs), "%s", devargs);
	r.role = role;
	return r;
}

struct nsdp_endpoint make_ep(const char *ip, const char *port, uint8_t last)
{
	struct nsdp_endpoint ep;
	memset(&ep, 0, sizeof(ep));
	EXPECT_EQ(0, nsdp_parse_ip(ip, &ep.ip));
	snprintf(ep.port, sizeof(ep.port), "%s", port);
	const uint8_t mac[6] = { 0x02, 0, 0, 0, 1, last };
	memcpy(ep.mac, mac, 6);
	snprintf(ep.name, sizeof(ep.name), "default/p%u", last);
	return ep;
}

class HotplugTest : public ::testing::Test {
protected:
	struct dp *dp = nullptr;
	struct ctl_server *cs = nullptr;
	std::thread server, worker;
	std::atomic<bool> stop{ false };
	char dir[64] = "/tmp/nsdp-hotplug-XXXXXX";
	std::string sock;
	uint64_t gen = 0;

	void SetUp() override
	{
		ASSERT_EQ(0, shim_eal_init());
		ASSERT_NE(nullptr, mkdtemp(dir));
		sock = std::string(dir) + "/ctl.sock";

		dp = static_cast<struct dp *>(calloc(1, sizeof(*dp)));
		ASSERT_NE(nullptr, dp);
		char err[256] = "";
		ASSERT_EQ(0, dp_config_parse(kConfig, "test", &dp->cfg, err, sizeof(err))) << err;
		memcpy(dp->cfg.ctl_socket, sock.c_str(), sock.size() + 1);
		// The configured ports have no ethdev behind them (nothing is
		// sent to them: net_null frames are all-zero and get dropped).
		dp->n_ports = dp->cfg.n_ports;
		for (unsigned i = 0; i < dp->n_ports; i++) {
			struct dp_port *p = &dp->ports[i];
			memcpy(p->name, dp->cfg.ports[i].name, sizeof(p->name));
			p->role = dp->cfg.ports[i].role;
			p->port_id = 0xfff0 + i;
			p->mtu = 1500;
		}
		dp->uplink = 0;
		dp->n_workers = 1;
		dp->stats = static_cast<struct dp_lcore_stats *>(
			rte_zmalloc("hp_stats", sizeof(*dp->stats), RTE_CACHE_LINE_SIZE));
		dp->workers = static_cast<struct dp_worker *>(
			rte_zmalloc("hp_workers", sizeof(*dp->workers), RTE_CACHE_LINE_SIZE));
		ASSERT_NE(nullptr, dp->stats);
		ASSERT_NE(nullptr, dp->workers);
		dp->workers[0].idx = 0;
		dp->workers[0].stats = &dp->stats[0];
		char pname[64];
		snprintf(pname, sizeof(pname), "hp_pool_%d", (int)getpid());
		dp->pool = rte_pktmbuf_pool_create(pname, kPoolSize, 0, 0,
						   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
		ASSERT_NE(nullptr, dp->pool) << rte_strerror(rte_errno);
		ASSERT_EQ(0, dp_init_tables(dp, SOCKET_ID_ANY));
		dp_global = dp;

		cs = ctl_open(dp);
		ASSERT_NE(nullptr, cs) << strerror(errno);
		server = std::thread([this] {
			while (!stop.load())
				ASSERT_EQ(0, ctl_poll(cs, 5));
		});
		// The real worker loop, polling whatever list is published.
		worker = std::thread([this] { dp_worker_main(&dp->workers[0]); });
	}

	void TearDown() override
	{
		if (dp)
			dp->quit = true;
		if (worker.joinable())
			worker.join();
		stop = true;
		if (server.joinable())
			server.join();
		ctl_close(cs);
		if (dp) {
			for (unsigned i = 0; i < dp->n_ports; i++)
				if (dp->ports[i].hotplug)
					dp_port_remove(dp, i);
			// The worker has stopped: free its list directly.
			struct dp_rxq_list *l = (struct dp_rxq_list *)dp->workers[0].rxqs;
			dp_rxqs_free(&l, 1);
			if (dp->ct)
				ct_destroy(dp->ct);
			dp_tables_free(dp->tables);
			dp_state_free(&dp->state);
			rte_free(dp->qsv);
			rte_free(dp->stats);
			rte_free(dp->workers);
			rte_mempool_free(dp->pool);
			dp_config_release(&dp->cfg);
			free(dp);
		}
		std::string cmd = std::string("rm -rf ") + dir;
		if (system(cmd.c_str()) != 0)
			ADD_FAILURE() << cmd;
	}

	void connect(struct nsdp_client *c)
	{
		ASSERT_EQ(0, nsdp_client_connect(c, sock.c_str(), 10000)) << nsdp_client_error(c);
	}

	struct nsdp_ack commit(struct nsdp_client *c)
	{
		struct nsdp_ack ack;
		memset(&ack, 0xff, sizeof(ack));
		EXPECT_EQ(0, nsdp_client_commit(c, ++gen, &ack)) << nsdp_client_error(c);
		ack.error[sizeof(ack.error) - 1] = '\0';
		return ack;
	}

	std::vector<nsdp_port_info> ports(struct nsdp_client *c)
	{
		void *buf = nullptr;
		uint32_t len = 0;
		std::vector<nsdp_port_info> v;
		EXPECT_EQ(0, nsdp_client_request(c, NSDP_MSG_GET_PORTS, nullptr, 0, &buf, &len));
		v.resize(len / sizeof(nsdp_port_info));
		if (len)
			memcpy(v.data(), buf, len);
		free(buf);
		return v;
	}

	int slot_of(struct nsdp_client *c, const char *name)
	{
		auto v = ports(c);
		for (size_t i = 0; i < v.size(); i++)
			if (v[i].role && !strcmp(v[i].name, name))
				return (int)i;
		return -1;
	}

	// Queues the worker polls now (the control thread is the only writer;
	// reading the published pointer from here is fine between commits).
	std::vector<std::pair<unsigned, unsigned>> polled()
	{
		std::vector<std::pair<unsigned, unsigned>> v;
		struct dp_rxq_list *l = __atomic_load_n((struct dp_rxq_list **)&dp->workers[0].rxqs,
							__ATOMIC_ACQUIRE);
		for (unsigned i = 0; l && i < l->n; i++)
			v.push_back({ l->q[i].port, l->q[i].queue });
		return v;
	}

	uint64_t rx_pkts(unsigned slot)
	{
		return __atomic_load_n(&dp->stats[0].port[slot].rx_pkts, __ATOMIC_RELAXED);
	}

	std::string nsdpctl(const std::string &args, int *status)
	{
		CtlRun r = run_nsdpctl(dir, sock, args);
		*status = r.status;
		return r.out + r.err;
	}
};

TEST_F(HotplugTest, AddPollDelete)
{
	struct nsdp_client c;
	connect(&c);
	EXPECT_EQ(NSDP_PROTO_VERSION, c.server.version);
	EXPECT_GE((unsigned)NSDP_PROTO_VERSION, 0x0101u); /* PORT_ADD/PORT_DEL since 1.1 */

	// PORT_ADD and an endpoint on the new port in one batch (sent in the
	// "wrong" order on purpose: additions happen first at COMMIT).
	struct nsdp_endpoint ep = make_ep("10.244.1.10", "hp1", 10);
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
	struct nsdp_port_req r = port_req("hp1", "net_null10");
	ASSERT_EQ(0, nsdp_client_port_add(&c, &r));
	struct nsdp_ack ack = commit(&c);
	EXPECT_EQ(2u, ack.applied) << ack.error;
	EXPECT_EQ(0u, ack.rejected) << ack.error;
	EXPECT_EQ(gen, ack.generation);

	int slot = slot_of(&c, "hp1");
	ASSERT_EQ(2, slot);
	auto pv = ports(&c);
	EXPECT_EQ(NSDP_PORT_F_HOTPLUG, pv[slot].flags);
	EXPECT_STREQ("net_null", pv[slot].driver);
	EXPECT_EQ(1u, pv[slot].rx_queues);
	EXPECT_EQ(1u, pv[slot].tx_queues);
	EXPECT_EQ(0, pv[0].flags);
	uint16_t pid;
	ASSERT_EQ(0, rte_eth_dev_get_port_by_name("net_null10", &pid));

	// The worker polls it: net_null delivers frames nonstop.
	auto q = polled();
	ASSERT_EQ(1u, q.size());
	EXPECT_EQ((unsigned)slot, q[0].first);
	for (int i = 0; i < 200 && rx_pkts(slot) == 0; i++)
		usleep(10000);
	EXPECT_GT(rx_pkts(slot), 0u);

	// Both in one batch: endpoint and port gone, device removed.
	ASSERT_EQ(0, nsdp_client_port_del(&c, "hp1"));
	ASSERT_EQ(0, nsdp_client_ep_del(&c, &ep.ip));
	ack = commit(&c);
	EXPECT_EQ(2u, ack.applied) << ack.error;
	EXPECT_EQ(0u, ack.rejected) << ack.error;
	EXPECT_EQ(-1, slot_of(&c, "hp1"));
	EXPECT_TRUE(polled().empty());
	EXPECT_NE(0, rte_eth_dev_get_port_by_name("net_null10", &pid));
	EXPECT_EQ(0u, rx_pkts(slot)) << "a freed slot starts from zero";
	nsdp_client_close(&c);
}

TEST_F(HotplugTest, BadChangesRejectedAlone)
{
	struct nsdp_client c;
	connect(&c);
	struct {
		struct nsdp_port_req req;
		int status;
		const char *text;
	} bad[] = {
		{ port_req("", "net_null20"), -EINVAL, "name:" },
		{ port_req("pod0", "net_null21"), -EEXIST, "port pod0: name: a port of that name exists" },
		{ port_req("hp2", ""), -EINVAL, "port hp2: devargs:" },
		{ port_req("hp3", "net_nosuchdriver0"), -ENOENT, "port hp3: devargs: probing" },
		{ port_req("hp4", "net_null22", NSDP_ROLE_UPLINK), -EINVAL, "port hp4: role:" },
		{ port_req("hp5", "net_null0"), -EEXIST, "device \"net_null0\" exists" },
	};
	// net_null0 must exist for the last case: the uplink here is fake.
	struct nsdp_port_req up = port_req("hpup", "net_null0");
	ASSERT_EQ(0, nsdp_client_port_add(&c, &up));
	struct nsdp_ack ack = commit(&c);
	ASSERT_EQ(1u, ack.applied) << ack.error;

	for (auto &b : bad) {
		SCOPED_TRACE(b.text);
		struct nsdp_port_req good = port_req("hpgood", "net_null30");
		ASSERT_EQ(0, nsdp_client_port_add(&c, &b.req));
		ASSERT_EQ(0, nsdp_client_port_add(&c, &good));
		ack = commit(&c);
		EXPECT_EQ(1u, ack.applied);
		EXPECT_EQ(1u, ack.rejected);
		if (b.status != -ENOENT) { // the probe's errno is the driver's business
			EXPECT_EQ(b.status, ack.status);
		}
		EXPECT_NE(nullptr, strstr(ack.error, b.text)) << ack.error;
		EXPECT_EQ(0, strncmp(ack.error, "PORT_ADD: ", 10)) << ack.error;
		EXPECT_GE(slot_of(&c, "hpgood"), 0);
		ASSERT_EQ(0, nsdp_client_port_del(&c, "hpgood"));
		ack = commit(&c);
		EXPECT_EQ(1u, ack.applied) << ack.error;
	}

	// A payload of the wrong size.
	char junk[10] = {};
	ASSERT_EQ(0, nsdp_client_send(&c, NSDP_MSG_PORT_ADD, 0, junk, sizeof(junk)));
	ack = commit(&c);
	EXPECT_EQ(1u, ack.rejected);
	EXPECT_NE(nullptr, strstr(ack.error, "PORT_ADD: payload 10 bytes")) << ack.error;

	// Deletes: unknown, a configured port, a port an endpoint sits on.
	ASSERT_EQ(0, nsdp_client_port_del(&c, "nosuch"));
	ack = commit(&c);
	EXPECT_EQ(-ENOENT, ack.status);
	EXPECT_STREQ("PORT_DEL: port nosuch: name: no such port", ack.error);
	ASSERT_EQ(0, nsdp_client_port_del(&c, "pod0"));
	ack = commit(&c);
	EXPECT_EQ(-EPERM, ack.status);
	EXPECT_NE(nullptr, strstr(ack.error, "not hot-plugged")) << ack.error;

	struct nsdp_endpoint ep = make_ep("10.244.1.11", "hpup", 11);
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
	ack = commit(&c);
	ASSERT_EQ(1u, ack.applied) << ack.error;
	ASSERT_EQ(0, nsdp_client_port_del(&c, "hpup"));
	ack = commit(&c);
	EXPECT_EQ(-EBUSY, ack.status);
	EXPECT_NE(nullptr, strstr(ack.error, "port hpup: 1 endpoint(s) still on it (first "
					     "10.244.1.11)")) << ack.error;
	EXPECT_GE(slot_of(&c, "hpup"), 0);
	// EP_ADD naming a port deleted in the same batch: the delete loses.
	ASSERT_EQ(0, nsdp_client_ep_del(&c, &ep.ip));
	ASSERT_EQ(0, nsdp_client_port_del(&c, "hpup"));
	ack = commit(&c);
	EXPECT_EQ(2u, ack.applied) << ack.error;
	EXPECT_EQ(-1, slot_of(&c, "hpup"));
	// And the endpoint cannot name it any more.
	ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
	ack = commit(&c);
	EXPECT_EQ(1u, ack.rejected);
	EXPECT_NE(nullptr, strstr(ack.error, "hpup")) << ack.error;
	nsdp_client_close(&c);
}

// Twenty-odd ports at once, then add/delete cycles under a live worker:
// no mbuf, fd or slot leaks, the worker keeps polling the other ports.
TEST_F(HotplugTest, ChurnNoLeak)
{
	struct nsdp_client c;
	connect(&c);
	struct nsdp_port_req keep = port_req("keep", "net_null40");
	ASSERT_EQ(0, nsdp_client_port_add(&c, &keep));
	struct nsdp_ack ack = commit(&c);
	ASSERT_EQ(1u, ack.applied) << ack.error;
	int ks = slot_of(&c, "keep");
	ASSERT_GE(ks, 0);

	// Warm up once (first probes allocate driver-global state).
	struct nsdp_port_req w = port_req("warm", "net_null41");
	ASSERT_EQ(0, nsdp_client_port_add(&c, &w));
	ASSERT_EQ(1u, commit(&c).applied);
	ASSERT_EQ(0, nsdp_client_port_del(&c, "warm"));
	ASSERT_EQ(1u, commit(&c).applied);
	unsigned fds = count_fds();
	unsigned n_ports = dp->n_ports;

	for (int round = 0; round < 20; round++) {
		SCOPED_TRACE(round);
		for (int k = 0; k < 20; k++) {
			char name[32], dev[64];
			snprintf(name, sizeof(name), "c%d", k);
			snprintf(dev, sizeof(dev), "net_null%d", 100 + k);
			struct nsdp_port_req r = port_req(name, dev);
			ASSERT_EQ(0, nsdp_client_port_add(&c, &r));
			char ip[32];
			snprintf(ip, sizeof(ip), "10.244.1.%d", 100 + k);
			struct nsdp_endpoint ep = make_ep(ip, name, (uint8_t)k);
			ASSERT_EQ(0, nsdp_client_ep_add(&c, &ep));
		}
		ack = commit(&c);
		ASSERT_EQ(40u, ack.applied) << ack.error;
		EXPECT_EQ(21u, polled().size());
		uint64_t before = rx_pkts(ks);
		for (int k = 0; k < 20; k++) {
			char name[32], ip[32];
			snprintf(name, sizeof(name), "c%d", k);
			snprintf(ip, sizeof(ip), "10.244.1.%d", 100 + k);
			struct nsdp_ip a;
			ASSERT_EQ(0, nsdp_parse_ip(ip, &a));
			ASSERT_EQ(0, nsdp_client_ep_del(&c, &a));
			ASSERT_EQ(0, nsdp_client_port_del(&c, name));
		}
		ack = commit(&c);
		ASSERT_EQ(40u, ack.applied) << ack.error;
		EXPECT_EQ(1u, polled().size());
		for (int i = 0; i < 200 && rx_pkts(ks) == before; i++)
			usleep(5000);
		EXPECT_GT(rx_pkts(ks), before) << "the worker stalled";
	}
	EXPECT_EQ(n_ports, dp->n_ports) << "slots leak";
	EXPECT_EQ(fds, count_fds()) << "fds leak";

	ASSERT_EQ(0, nsdp_client_port_del(&c, "keep"));
	ASSERT_EQ(1u, commit(&c).applied);
	nsdp_client_close(&c);
	// With nothing polled any more, every mbuf is back in the pool.
	dp->quit = true;
	worker.join();
	EXPECT_EQ(kPoolSize, rte_mempool_avail_count(dp->pool));
}

TEST_F(HotplugTest, Nsdpctl)
{
	int st;
	std::string out = nsdpctl("port add hpctl net_null50", &st);
	ASSERT_EQ(0, st) << out;
	EXPECT_EQ("generation 1 effective\n", out);
	out = nsdpctl("ports", &st);
	ASSERT_EQ(0, st) << out;
	EXPECT_NE(std::string::npos, out.find("pod+hot")) << out;
	EXPECT_NE(std::string::npos, out.find("hpctl")) << out;
	out = nsdpctl("--json ports", &st);
	ASSERT_EQ(0, st) << out;
	EXPECT_NE(std::string::npos, out.find("\"hotplug\":true")) << out;
	out = nsdpctl("port add hpctl net_null51", &st);
	EXPECT_EQ(1, st);
	EXPECT_NE(std::string::npos, out.find("PORT_ADD: port hpctl: name:")) << out;
	out = nsdpctl("port del hpctl", &st);
	ASSERT_EQ(0, st) << out;
	out = nsdpctl("port del hpctl", &st);
	EXPECT_EQ(1, st);
	EXPECT_NE(std::string::npos, out.find("no such port")) << out;
	out = nsdpctl("ports", &st);
	EXPECT_EQ(std::string::npos, out.find("hpctl")) << out;
	// Usage errors never reach the dataplane.
	EXPECT_EQ(2, (nsdpctl("port add onlyname", &st), st));
	EXPECT_EQ(2, (nsdpctl("port del", &st), st));
	EXPECT_EQ(2, (nsdpctl("port add x net_null9 --queues z", &st), st));
}

} // namespace
