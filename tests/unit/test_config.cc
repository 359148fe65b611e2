// SPDX-License-Identifier: Apache-2.0
// Unit tests of the configuration loader (dataplane/config.c): the built-in
// default and the shipped example parse to the expected values, defaults are
// filled in, and every rule has a failing case whose message names the
// source, the line and the setting.

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "shim.h"

namespace {

// struct dp_config is ~100 KiB: keep it off the stack.
struct Cfg {
	std::unique_ptr<dp_config> cfg{new dp_config()};
	char err[512] = "";
	int rc = 0;

	Cfg() = default;
	Cfg(const Cfg &) = delete;
	~Cfg() { dp_config_release(cfg.get()); }
	dp_config *operator->() { return cfg.get(); }
	dp_config *get() { return cfg.get(); }
};

int parse(Cfg &c, const std::string &text, const char *source = "x.conf")
{
	c.rc = dp_config_parse(text.c_str(), source, c.get(), c.err, sizeof(c.err));
	return c.rc;
}

// The error message of a configuration that must be rejected.
std::string reject(const std::string &text)
{
	Cfg c;
	int rc = parse(c, text);
	EXPECT_EQ(rc, -EINVAL) << text;
	EXPECT_EQ(c->eal_argc, 0) << "a failed parse must free the EAL arguments";
	return c.err;
}

std::string ip4(uint32_t be)
{
	char buf[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &be, buf, sizeof(buf));
	return buf;
}

std::string ip4(const nsdp_ip &ip)
{
	EXPECT_EQ(ip.family, AF_INET);
	uint32_t be;
	memcpy(&be, ip.addr, 4);
	return ip4(be);
}

std::string mac(const uint8_t m[6])
{
	char buf[18];
	snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
		 m[4], m[5]);
	return buf;
}

std::string srcdir()
{
	const char *d = getenv("NSDP_TEST_SRCDIR");
	return d ? d : "tests";
}

// Line 1 and 2 of most cases: a valid node and two ports.
const std::string kNode = "node = { vtep = \"192.168.100.1\"; };\n";
const std::string kPorts =
	"ports = ( { name = \"uplink\"; devargs = \"net_null0\"; role = \"uplink\"; },"
	" { name = \"pod0\"; devargs = \"net_null1\"; role = \"pod\"; } );\n";
const std::string kBase = kNode + kPorts;

// ---- valid configurations -------------------------------------------------

TEST(Config, DefaultConfigParses)
{
	Cfg c;
	ASSERT_EQ(parse(c, dp_default_config, nullptr), 0) << c.err;
	EXPECT_STREQ(c->source, "<embedded>");
	EXPECT_EQ(ip4(c->vtep_ip), "192.168.100.1");
	EXPECT_EQ(c->overlay, NSDP_OVERLAY_VXLAN);
	EXPECT_EQ(c->vni, 1u);
	EXPECT_EQ(c->overlay_port, 4789);
	ASSERT_EQ(c->n_workers, 1u);
	EXPECT_EQ(c->worker_lcores[0], 1u);
	EXPECT_EQ(c->main_lcore, 0u);
	ASSERT_EQ(c->n_ports, 2u);
	EXPECT_STREQ(c->ports[0].name, "uplink");
	EXPECT_EQ(c->ports[0].role, NSDP_ROLE_UPLINK);
	EXPECT_EQ(std::string(c->ports[0].devargs).rfind("net_null0", 0), 0u);
	EXPECT_STREQ(c->ports[1].name, "pod0");
	EXPECT_EQ(c->ports[1].role, NSDP_ROLE_POD);
	EXPECT_EQ(std::string(c->ports[1].devargs).rfind("net_null1", 0), 0u);
	// Runs without NICs or hugepages.
	bool no_pci = false, no_huge = false;
	for (int i = 0; i < c->eal_argc; i++) {
		no_pci |= !strcmp(c->eal_argv[i], "--no-pci");
		no_huge |= !strcmp(c->eal_argv[i], "--no-huge");
	}
	EXPECT_TRUE(no_pci);
	EXPECT_TRUE(no_huge);
	EXPECT_EQ(c->eal_argv[c->eal_argc], nullptr);
	EXPECT_EQ(c->n_endpoints, 1u);
	EXPECT_EQ(c->n_vteps, 1u);
	EXPECT_EQ(c->n_routes, 2u);
}

TEST(Config, LoadNullIsTheDefault)
{
	Cfg c;
	ASSERT_EQ(dp_config_load(nullptr, c.get(), c.err, sizeof(c.err)), 0) << c.err;
	EXPECT_STREQ(c->source, "<embedded>");
	EXPECT_EQ(c->n_ports, 2u);
	EXPECT_STREQ(c.err, "");
}

TEST(Config, ExampleNodeA)
{
	std::string file = srcdir() + "/../scripts/conf/node-a.conf";
	Cfg c;
	ASSERT_EQ(dp_config_load(file.c_str(), c.get(), c.err, sizeof(c.err)), 0) << c.err;
	EXPECT_STREQ(c->source, file.c_str());
	EXPECT_STREQ(c->node_name, "node-a");
	EXPECT_EQ(ip4(c->vtep_ip), "192.168.100.1");
	EXPECT_EQ(c->overlay, NSDP_OVERLAY_VXLAN);
	EXPECT_EQ(c->overlay_port, 4789);
	EXPECT_EQ(c->mtu, 1500u);
	ASSERT_EQ(c->n_ports, 3u);
	EXPECT_STREQ(c->ports[0].devargs, "net_af_packet0,iface=ul0");
	EXPECT_EQ(c->ports[0].role, NSDP_ROLE_UPLINK);
	EXPECT_STREQ(c->ports[1].devargs, "net_af_packet1,iface=p1");
	EXPECT_STREQ(c->ports[2].devargs, "net_af_packet2,iface=p2");
	EXPECT_EQ(c->ports[2].role, NSDP_ROLE_POD);
	EXPECT_EQ(dp_config_port_index(c.get(), "p2"), 2);
	EXPECT_STREQ(c->ctl_socket, "/run/nsdp/node-a.sock");
	ASSERT_EQ(c->n_endpoints, 2u);
	EXPECT_STREQ(c->endpoints[1].port, "p2");
	ASSERT_EQ(c->n_vteps, 1u);
	EXPECT_EQ(ip4(c->vteps[0].ip), "192.168.100.2");
	ASSERT_EQ(c->n_routes, 2u);
	EXPECT_EQ(c->routes[0].vtep.family, 0);
	EXPECT_EQ(ip4(c->routes[1].vtep), "192.168.100.2");
}

TEST(Config, DefaultsFilledIn)
{
	Cfg c;
	ASSERT_EQ(parse(c, "ports = ( { name = \"p\"; devargs = \"net_null0\";"
			   " role = \"pod\"; } );"),
		  0)
		<< c.err;
	char host[256] = "";
	gethostname(host, sizeof(host));
	EXPECT_EQ(std::string(c->node_name), std::string(host).substr(0, 63));
	EXPECT_STREQ(c->source, "x.conf");
	EXPECT_EQ(c->vtep_ip, 0u);
	EXPECT_EQ(c->overlay, NSDP_OVERLAY_VXLAN);
	EXPECT_EQ(c->vni, 1u);
	EXPECT_EQ(c->overlay_port, 4789);
	EXPECT_EQ(c->mtu, 1500u);
	EXPECT_EQ(ip4(c->gateway_ip), "169.254.1.1");
	EXPECT_EQ(mac(c->gateway_mac), "ee:ee:ee:ee:ee:ee");
	EXPECT_EQ(c->eal_argc, 0);
	ASSERT_EQ(c->n_workers, 1u);
	EXPECT_EQ(c->worker_lcores[0], 1u);
	EXPECT_EQ(c->main_lcore, 0u);
	EXPECT_EQ(c->burst, 32u);
	EXPECT_EQ(c->idle_sleep_us, 0u);
	EXPECT_TRUE(c->flow_log.enabled);
	EXPECT_EQ(c->flow_log.rate, 1000u);
	EXPECT_EQ(c->flow_log.burst, 2000u);
	EXPECT_EQ(c->flow_log.sample_allowed, 100u);
	EXPECT_EQ(c->flow_log.ring, 8192u);
	EXPECT_TRUE(c->rule_counters);
	EXPECT_EQ(c->ports[0].rx_desc, 1024);
	EXPECT_EQ(c->ports[0].tx_desc, 1024);
	EXPECT_EQ(c->ports[0].queues, 0);
	EXPECT_EQ(c->ct_size, 65536u);
	EXPECT_EQ(c->max_endpoints, 4096u);
	EXPECT_EQ(c->max_routes, 1024u);
	EXPECT_EQ(c->max_vteps, 256u);
	EXPECT_EQ(c->mbufs, 0u);
	EXPECT_EQ(c->timeouts.tcp_syn, 60u);
	EXPECT_EQ(c->timeouts.tcp_established, 21600u);
	EXPECT_EQ(c->timeouts.tcp_fin, 30u);
	EXPECT_EQ(c->timeouts.tcp_closed, 10u);
	EXPECT_EQ(c->timeouts.udp, 30u);
	EXPECT_EQ(c->timeouts.udp_stream, 120u);
	EXPECT_EQ(c->timeouts.icmp, 30u);
	EXPECT_EQ(c->timeouts.other, 60u);
	EXPECT_EQ(c->timeouts.denied, 5u);
	EXPECT_EQ(c->ct_denied, c->ct_size / 8) << "tables.denied_entries defaults to conntrack / 8";
	EXPECT_STREQ(c->ctl_socket, "/run/nsdp/dataplane.sock");
	EXPECT_EQ(c->n_endpoints + c->n_routes + c->n_vteps, 0u);
}

TEST(Config, EverySettingRead)
{
	Cfg c;
	ASSERT_EQ(parse(c, R"(
node = { name = "n1"; vtep = "10.0.0.1"; overlay = "geneve"; vni = 0xabcdef;
         udp_port = 7000; mtu = 9000; gateway = "10.244.0.1";
         gateway_mac = "02:AA:bb:cc:dd:ee"; host_ip = "10.0.0.9"; };
eal = ("--no-pci", "--log-level=8");
workers = [3, 2, 5];
main_lcore = 4;
burst = 256;
idle_sleep_us = 10000;
ports = ( { name = "up.0"; devargs = "0000:3b:00.0"; role = "uplink";
            rx_desc = 64; tx_desc = 4096; queues = 64; } );
tables = { conntrack = 16; endpoints = 1; routes = 1048576; vteps = 65536; mbufs = 1024; };
timeouts = { tcp_syn = 1; tcp_established = 604800; tcp_fin = 2; tcp_closed = 3;
             udp = 4; udp_stream = 5; icmp = 6; other = 7; denied = 8; };
control_socket = "/tmp/x.sock";
flow_log = { enabled = false; rate = 50; burst = 60; sample_allowed = 0; ring = 128; };
rule_counters = false;
)"),
		  0)
		<< c.err;
	EXPECT_FALSE(c->flow_log.enabled);
	EXPECT_EQ(c->flow_log.rate, 50u);
	EXPECT_EQ(c->flow_log.burst, 60u);
	EXPECT_EQ(c->flow_log.sample_allowed, 0u);
	EXPECT_EQ(c->flow_log.ring, 128u);
	EXPECT_FALSE(c->rule_counters);
	EXPECT_STREQ(c->node_name, "n1");
	EXPECT_EQ(ip4(c->vtep_ip), "10.0.0.1");
	EXPECT_EQ(c->overlay, NSDP_OVERLAY_GENEVE);
	EXPECT_EQ(c->vni, 0xabcdefu);
	EXPECT_EQ(c->overlay_port, 7000);
	EXPECT_EQ(c->mtu, 9000u);
	EXPECT_EQ(ip4(c->gateway_ip), "10.244.0.1");
	EXPECT_EQ(mac(c->gateway_mac), "02:aa:bb:cc:dd:ee");
	EXPECT_EQ(ip4(c->host_ip), "10.0.0.9");
	ASSERT_EQ(c->eal_argc, 2);
	EXPECT_STREQ(c->eal_argv[1], "--log-level=8");
	ASSERT_EQ(c->n_workers, 3u);
	EXPECT_EQ(c->worker_lcores[0], 3u);
	EXPECT_EQ(c->worker_lcores[2], 5u);
	EXPECT_EQ(c->main_lcore, 4u);
	EXPECT_EQ(c->burst, 256u);
	EXPECT_EQ(c->idle_sleep_us, 10000u);
	EXPECT_STREQ(c->ports[0].devargs, "0000:3b:00.0");
	EXPECT_EQ(c->ports[0].rx_desc, 64);
	EXPECT_EQ(c->ports[0].tx_desc, 4096);
	EXPECT_EQ(c->ports[0].queues, 64);
	EXPECT_EQ(c->ct_size, 16u);
	EXPECT_EQ(c->max_endpoints, 1u);
	EXPECT_EQ(c->max_routes, 1048576u);
	EXPECT_EQ(c->max_vteps, 65536u);
	EXPECT_EQ(c->mbufs, 1024u);
	EXPECT_EQ(c->timeouts.tcp_established, 604800u);
	EXPECT_EQ(c->timeouts.other, 7u);
	EXPECT_EQ(c->timeouts.denied, 8u);
	EXPECT_STREQ(c->ctl_socket, "/tmp/x.sock");
}

TEST(Config, HostPortAndHostIpDefaultingToTheVtep)
{
	Cfg c;
	ASSERT_EQ(parse(c, R"(
node = { vtep = "192.168.100.7"; };
ports = ( { name = "up"; devargs = "net_null0"; role = "uplink"; },
          { name = "host"; devargs = "net_null1"; role = "host"; } );
)"),
		  0)
		<< c.err;
	EXPECT_EQ(ip4(c->host_ip), "192.168.100.7");
	ASSERT_EQ(c->n_ports, 2u);
	EXPECT_EQ(c->ports[1].role, NSDP_ROLE_HOST);
}

TEST(Config, GeneveDefaultsToPort6081)
{
	Cfg c;
	ASSERT_EQ(parse(c, "node = { vtep = \"192.168.100.1\"; overlay = \"geneve\"; };\n" +
				   kPorts),
		  0)
		<< c.err;
	EXPECT_EQ(c->overlay, NSDP_OVERLAY_GENEVE);
	EXPECT_EQ(c->overlay_port, 6081);
}

TEST(Config, StaticTables)
{
	Cfg c;
	ASSERT_EQ(parse(c, kBase + R"(
endpoints = ( { ip = "10.244.1.2"; port = "pod0"; mac = "02:00:00:00:01:02";
                identity = 4000000000; name = "frontend/web-1"; },
              { ip = "10.244.1.3"; port = "pod0"; mac = "02:00:00:00:01:03"; } );
vteps = ( { ip = "192.168.100.2"; mac = "02:00:00:00:00:02"; name = "node-b"; } );
routes = ( { prefix = "10.244.1.0/24"; local = true; },
           { prefix = "10.244.2.0/24"; vtep = "192.168.100.2"; },
           { prefix = "0.0.0.0/0"; local = false; vtep = "192.168.100.2"; } );
)"),
		  0)
		<< c.err;
	ASSERT_EQ(c->n_endpoints, 2u);
	EXPECT_EQ(ip4(c->endpoints[0].ip), "10.244.1.2");
	EXPECT_EQ(c->endpoints[0].ip.addr[0], 10);
	EXPECT_EQ(c->endpoints[0].ip.addr[3], 2);
	EXPECT_STREQ(c->endpoints[0].port, "pod0");
	EXPECT_EQ(mac(c->endpoints[0].mac), "02:00:00:00:01:02");
	EXPECT_EQ(c->endpoints[0].identity, 4000000000u); // needs more than 32 signed bits
	EXPECT_STREQ(c->endpoints[0].name, "frontend/web-1");
	EXPECT_EQ(c->endpoints[1].identity, 0u);
	EXPECT_STREQ(c->endpoints[1].name, "");
	ASSERT_EQ(c->n_vteps, 1u);
	EXPECT_EQ(ip4(c->vteps[0].ip), "192.168.100.2");
	EXPECT_EQ(mac(c->vteps[0].mac), "02:00:00:00:00:02");
	EXPECT_STREQ(c->vteps[0].name, "node-b");
	ASSERT_EQ(c->n_routes, 3u);
	EXPECT_EQ(ip4(c->routes[0].prefix), "10.244.1.0");
	EXPECT_EQ(c->routes[0].prefix_len, 24);
	EXPECT_EQ(c->routes[0].vtep.family, 0);
	EXPECT_EQ(ip4(c->routes[1].vtep), "192.168.100.2");
	EXPECT_EQ(c->routes[2].prefix_len, 0);
}

TEST(Config, LargeLiteralsAreNotTruncated)
{
	// libconfig 1.5 would read 4294967296 as 0 and 4294967297 as 1.
	EXPECT_EQ(reject(kBase + "tables = {\n  conntrack = 4294967296;\n};\n"),
		  "x.conf:4: tables.conntrack: 4294967296 is out of range (allowed: 16..16777216)");
	EXPECT_EQ(reject(kBase + "endpoints = ( { ip = \"10.244.1.2\"; port = \"pod0\";\n"
				 "  mac = \"02:00:00:00:01:02\"; identity = 4294967297; } );\n"),
		  "x.conf:4: endpoints[0].identity: 4294967297 is out of range "
		  "(allowed: 0..4294967295)");
	EXPECT_EQ(reject(kBase + "burst = 0xffffffff;\n"),
		  "x.conf:3: burst: 4294967295 is out of range (allowed: 32..256)");
	EXPECT_EQ(reject(kBase + "burst = -3000000000;\n"),
		  "x.conf:3: burst: -3000000000 is out of range (allowed: 32..256)");
	EXPECT_EQ(reject(kBase + "# 99999999999 in a comment\nburst = 99999999999999999999;\n"),
		  "x.conf:4: integer 99999999999999999999 is too large (allowed: at most "
		  "9223372036854775807)");
	// Strings and comments are not touched; 64-bit literals still work.
	Cfg c;
	ASSERT_EQ(parse(c, kBase + "/* 4294967296 */ tables = { conntrack = 65536L; };\n"
				   "node2 = \"4294967296\";\n"),
		  -EINVAL);
	EXPECT_STREQ(c.err, "x.conf:4: node2: unknown setting (did you mean \"node\"? allowed: "
			    "node, eal, workers, main_lcore, burst, idle_sleep_us, ports, tables, "
			    "timeouts, control_socket, policy_file, endpoints, vteps, routes, "
			    "flow_log, rule_counters, state_file)");
}

// ---- files -------------------------------------------------------------------

class ConfigFile : public ::testing::Test {
protected:
	char dir[64] = "/tmp/nsdp-config-test-XXXXXX";
	void SetUp() override { ASSERT_NE(mkdtemp(dir), nullptr); }
	void TearDown() override
	{
		std::string cmd = std::string("rm -rf ") + dir;
		ASSERT_EQ(system(cmd.c_str()), 0);
	}
	std::string write(const char *name, const std::string &text)
	{
		std::string path = std::string(dir) + "/" + name;
		std::ofstream(path) << text;
		return path;
	}
};

TEST_F(ConfigFile, MissingFile)
{
	Cfg c;
	std::string path = std::string(dir) + "/nope.conf";
	EXPECT_EQ(dp_config_load(path.c_str(), c.get(), c.err, sizeof(c.err)), -ENOENT);
	EXPECT_EQ(std::string(c.err), path + ": cannot read: No such file or directory");
}

TEST_F(ConfigFile, DirectoryIsNotAConfig)
{
	Cfg c;
	EXPECT_EQ(dp_config_load(dir, c.get(), c.err, sizeof(c.err)), -EINVAL);
	EXPECT_EQ(std::string(c.err), std::string(dir) + ": cannot read: not a regular file");
}

TEST_F(ConfigFile, ErrorsNameTheFile)
{
	std::string path = write("dp.conf", kBase + "\n\n\nburst = ;\n");
	Cfg c;
	EXPECT_EQ(dp_config_load(path.c_str(), c.get(), c.err, sizeof(c.err)), -EINVAL);
	EXPECT_EQ(std::string(c.err), path + ":6: syntax error");

	path = write("dp2.conf", "node = {\n  vtep = \"192.168.100.1\";\n"
				 "  overlay = \"vxlen\";\n};\n" +
					 kPorts);
	EXPECT_EQ(dp_config_load(path.c_str(), c.get(), c.err, sizeof(c.err)), -EINVAL);
	EXPECT_EQ(std::string(c.err),
		  path + ":3: node.overlay: \"vxlen\" is not an overlay type (allowed: "
			 "\"vxlan\", \"geneve\")");
}

TEST_F(ConfigFile, IncludeIsRelativeToTheFile)
{
	write("ports.inc", kPorts);
	std::string path = write("main.conf", kNode + "@include \"ports.inc\"\nburst = 64;\n");
	Cfg c;
	ASSERT_EQ(dp_config_load(path.c_str(), c.get(), c.err, sizeof(c.err)), 0) << c.err;
	EXPECT_EQ(c->n_ports, 2u);
	EXPECT_EQ(c->burst, 64u);

	// Errors inside an included file name that file and its line.
	write("bad.inc", "\nburst = 1;\n");
	path = write("main2.conf", kBase + "@include \"bad.inc\"\n");
	EXPECT_EQ(dp_config_load(path.c_str(), c.get(), c.err, sizeof(c.err)), -EINVAL);
	EXPECT_EQ(std::string(c.err),
		  std::string(dir) + "/bad.inc:2: burst: 1 is out of range (allowed: 32..256)");
	write("syntax.inc", "burst = ;\n");
	path = write("main3.conf", kBase + "@include \"syntax.inc\"\n");
	EXPECT_EQ(dp_config_load(path.c_str(), c.get(), c.err, sizeof(c.err)), -EINVAL);
	EXPECT_EQ(std::string(c.err), std::string(dir) + "/syntax.inc:1: syntax error");
	path = write("main4.conf", kBase + "@include \"missing.inc\"\n");
	EXPECT_EQ(dp_config_load(path.c_str(), c.get(), c.err, sizeof(c.err)), -EINVAL);
	EXPECT_NE(std::string(c.err).find(":3: cannot open include file"), std::string::npos)
		<< c.err;
}

// ---- errors that are not about one setting -----------------------------------

TEST(Config, SyntaxErrorReportsTheLine)
{
	EXPECT_EQ(reject("node = {\n  vni = 1;\n  mtu = ;\n};\n" + kPorts),
		  "x.conf:3: syntax error");
	EXPECT_EQ(reject(kBase + "ports2 = ( { name = \"x\" );\n"), "x.conf:3: syntax error");
}

TEST(Config, DuplicateSettingReportsTheLine)
{
	EXPECT_EQ(reject("node = {\n  vni = 1;\n  vni = 2;\n};\n" + kPorts),
		  "x.conf:3: duplicate setting name");
}

TEST(Config, MissingPortsHasNoLine)
{
	EXPECT_EQ(reject(kNode),
		  "x.conf: ports: required setting is missing (allowed: a list of 1..32 port "
		  "groups)");
	EXPECT_EQ(reject(""), "x.conf: ports: required setting is missing (allowed: a list of "
			      "1..32 port groups)");
}

TEST(Config, NullArguments)
{
	Cfg c;
	EXPECT_EQ(dp_config_parse(nullptr, "x.conf", c.get(), c.err, sizeof(c.err)), -EINVAL);
	EXPECT_EQ(dp_config_parse("", "x.conf", nullptr, c.err, sizeof(c.err)), -EINVAL);
	// No error buffer at all is fine too.
	EXPECT_EQ(dp_config_parse(kNode.c_str(), "x.conf", c.get(), nullptr, 0), -EINVAL);
	EXPECT_EQ(dp_config_parse(kBase.c_str(), "x.conf", c.get(), nullptr, 0), 0);
}

TEST(Config, ShortErrorBufferIsTruncatedSafely)
{
	Cfg c;
	char small[12];
	memset(small, 'Z', sizeof(small));
	EXPECT_EQ(dp_config_parse((kBase + "burst = 1;\n").c_str(), "a-long-source-name.conf",
				  c.get(), small, 8),
		  -EINVAL);
	EXPECT_STREQ(small, "a-long-");
	EXPECT_EQ(small[8], 'Z');
}

// ---- sizes that need generated input ------------------------------------------

TEST(Config, TooManyPorts)
{
	std::string t = kNode + "ports = (\n";
	for (int i = 0; i <= DP_MAX_PORTS; i++)
		t += std::string(i ? "," : "") + "{ name = \"p" + std::to_string(i) +
		     "\"; devargs = \"net_null" + std::to_string(i) + "\"; role = \"pod\"; }\n";
	EXPECT_EQ(reject(t + ");\n"), "x.conf:2: ports: 33 ports (allowed: 1..32)");

	// 32 is fine.
	t = kNode + "ports = (\n";
	for (int i = 0; i < DP_MAX_PORTS; i++)
		t += std::string(i ? "," : "") + "{ name = \"p" + std::to_string(i) +
		     "\"; devargs = \"net_null" + std::to_string(i) + "\"; role = \"pod\"; }\n";
	Cfg c;
	ASSERT_EQ(parse(c, t + ");\n"), 0) << c.err;
	EXPECT_EQ(c->n_ports, 32u);
	EXPECT_EQ(dp_config_port_index(c.get(), "p31"), 31);
}

TEST(Config, TooManyWorkers)
{
	std::string t = kBase + "workers = [";
	for (int i = 1; i <= DP_MAX_WORKERS + 1; i++)
		t += std::string(i > 1 ? ", " : "") + std::to_string(i);
	EXPECT_EQ(reject(t + "];\n"),
		  "x.conf:3: workers: 65 lcores (allowed: 1..64 distinct lcore ids)");
}

TEST(Config, TooManyEalArgs)
{
	std::string t = kBase + "eal = [";
	for (int i = 0; i < DP_MAX_EAL_ARGS; i++)
		t += std::string(i ? ", " : "") + "\"--no-pci\"";
	EXPECT_EQ(reject(t + "];\n"), "x.conf:3: eal: 64 arguments (allowed: at most 63)");
}

TEST(Config, TooManyStaticEntries)
{
	std::string t = kBase + "tables = { endpoints = 2; };\nendpoints = (\n";
	for (int i = 0; i < 3; i++)
		t += std::string(i ? "," : "") + "{ ip = \"10.244.1." + std::to_string(i + 2) +
		     "\"; port = \"pod0\"; mac = \"02:00:00:00:01:02\"; }\n";
	EXPECT_EQ(reject(t + ");\n"),
		  "x.conf:4: endpoints: 3 entries do not fit tables.endpoints = 2 (raise "
		  "tables.endpoints)");

	t = kBase + "vteps = (\n";
	for (int i = 0; i <= DP_MAX_STATIC; i++)
		t += std::string(i ? "," : "") + "{ ip = \"10.0." + std::to_string(i / 200) + "." +
		     std::to_string(i % 200 + 1) + "\"; mac = \"02:00:00:00:00:02\"; }\n";
	EXPECT_EQ(reject(t + ");\n"), "x.conf:3: vteps: 257 entries (allowed: at most 256)");
}

// ---- the API around the parser -------------------------------------------------

TEST(Config, PortIndex)
{
	Cfg c;
	ASSERT_EQ(parse(c, kBase), 0) << c.err;
	EXPECT_EQ(dp_config_port_index(c.get(), "uplink"), 0);
	EXPECT_EQ(dp_config_port_index(c.get(), "pod0"), 1);
	EXPECT_EQ(dp_config_port_index(c.get(), "pod1"), -1);
	EXPECT_EQ(dp_config_port_index(c.get(), ""), -1);
	EXPECT_EQ(dp_config_port_index(c.get(), nullptr), -1);
	EXPECT_EQ(dp_config_port_index(nullptr, "pod0"), -1);
}

TEST(Config, EalArgumentsAreOwnedCopies)
{
	Cfg c;
	std::string text = kBase + "eal = [\"--no-pci\", \"--vdev=net_null9\"];\n";
	ASSERT_EQ(parse(c, text), 0) << c.err;
	ASSERT_EQ(c->eal_argc, 2);
	text.assign(text.size(), ' '); // the parse must not point into the text
	EXPECT_STREQ(c->eal_argv[0], "--no-pci");
	EXPECT_STREQ(c->eal_argv[1], "--vdev=net_null9");
	EXPECT_EQ(c->eal_argv[2], nullptr);
	dp_config_release(c.get());
	EXPECT_EQ(c->eal_argc, 0);
	EXPECT_EQ(c->eal_argv[0], nullptr);
	dp_config_release(c.get()); // twice is harmless
	dp_config_release(nullptr);
}

TEST(Config, LibconfigSyntaxVariants)
{
	// Lists or arrays for scalars, hex, 64-bit suffix, comments of every kind.
	Cfg c;
	ASSERT_EQ(parse(c, kBase + "workers = (2, 3); // C++ comment\n"
				   "burst = 0x40; # shell comment\n"
				   "/* block\n comment */ idle_sleep_us = 5L;\n"),
		  0)
		<< c.err;
	EXPECT_EQ(c->n_workers, 2u);
	EXPECT_EQ(c->burst, 64u);
	EXPECT_EQ(c->idle_sleep_us, 5u);
}

// ---- one failing case per rule ------------------------------------------------

struct Bad {
	const char *name;
	std::string text;
	std::string want; // the whole message
};

std::ostream &operator<<(std::ostream &os, const Bad &b)
{
	return os << b.name;
}

class ConfigRule : public ::testing::TestWithParam<Bad> {};

TEST_P(ConfigRule, Rejected)
{
	EXPECT_EQ(reject(GetParam().text), GetParam().want);
}

// A node group spanning lines 1..4 whose line 3 is `line3`.
std::string node3(const std::string &line3)
{
	return "node = {\n  vtep = \"192.168.100.1\";\n  " + line3 + "\n};\n" + kPorts;
}

// kBase, then ports/endpoint/... text from line 3 on.
std::string base(const std::string &rest)
{
	return kBase + rest;
}

// Ports from line 2 on, after a valid node on line 1.
std::string ports(const std::string &list)
{
	return kNode + "ports = (\n" + list + "\n);\n";
}

const std::string kUp = "{ name = \"uplink\"; devargs = \"net_null0\"; role = \"uplink\"; },\n";

// A static table section from line 3, plus a vtep on line 3 for routes.
std::string statics(const std::string &rest)
{
	return kBase + "vteps = ( { ip = \"192.168.100.2\"; mac = \"02:00:00:00:00:02\"; } );\n" +
	       rest;
}

const std::string kEp = "port = \"pod0\"; mac = \"02:00:00:00:01:02\";";

// clang-format off
const Bad kBad[] = {
	// node
	{"overlay", node3("overlay = \"vxlen\";"),
	 "x.conf:3: node.overlay: \"vxlen\" is not an overlay type "
	 "(allowed: \"vxlan\", \"geneve\")"},
	{"overlay_type", node3("overlay = 1;"),
	 "x.conf:3: node.overlay: expected a string, got an integer"},
	{"vni_zero", node3("vni = 0;"),
	 "x.conf:3: node.vni: 0 is out of range (allowed: 1..16777215)"},
	{"vni_too_big", node3("vni = 16777216;"),
	 "x.conf:3: node.vni: 16777216 is out of range (allowed: 1..16777215)"},
	{"vni_string", node3("vni = \"1\";"),
	 "x.conf:3: node.vni: expected an integer, got a string (\"1\")"},
	{"vni_float", node3("vni = 1.5;"),
	 "x.conf:3: node.vni: expected an integer, got a floating-point number"},
	{"udp_port_zero", node3("udp_port = 0;"),
	 "x.conf:3: node.udp_port: 0 is out of range (allowed: 1..65535)"},
	{"udp_port_big", node3("udp_port = 65536;"),
	 "x.conf:3: node.udp_port: 65536 is out of range (allowed: 1..65535)"},
	{"mtu_small", node3("mtu = 575;"),
	 "x.conf:3: node.mtu: 575 is out of range (allowed: 576..9000)"},
	{"mtu_big", node3("mtu = 9001;"),
	 "x.conf:3: node.mtu: 9001 is out of range (allowed: 576..9000)"},
	{"vtep_bad", "node = {\n  vtep = \"192.168.100\";\n};\n" + kPorts,
	 "x.conf:2: node.vtep: \"192.168.100\" is not an IPv4 address (allowed: a dotted quad "
	 "such as \"192.168.100.1\")"},
	{"vtep_hostname", "node = {\n  vtep = \"node-a\";\n};\n" + kPorts,
	 "x.conf:2: node.vtep: \"node-a\" is not an IPv4 address (allowed: a dotted quad such "
	 "as \"192.168.100.1\")"},
	{"vtep_multicast", "node = {\n  vtep = \"239.1.1.1\";\n};\n" + kPorts,
	 "x.conf:2: node.vtep: \"239.1.1.1\" is not a unicast address (not allowed: "
	 "0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/3)"},
	{"vtep_missing", "node = {\n  mtu = 1500;\n};\n" + kPorts,
	 "x.conf:1: node.vtep: required setting is missing: a port has role \"uplink\" "
	 "(allowed: this node's underlay IPv4 address, such as \"192.168.100.1\")"},
	{"vtep_missing_no_node", "burst = 32;\n" + kPorts,
	 "x.conf:2: node.vtep: required setting is missing: a port has role \"uplink\" "
	 "(allowed: this node's underlay IPv4 address, such as \"192.168.100.1\")"},
	{"gateway", node3("gateway = \"169.254.1\";"),
	 "x.conf:3: node.gateway: \"169.254.1\" is not an IPv4 address (allowed: a dotted quad "
	 "such as \"192.168.100.1\")"},
	{"host_ip", node3("host_ip = \"10.0\";"),
	 "x.conf:3: node.host_ip: \"10.0\" is not an IPv4 address (allowed: a dotted quad "
	 "such as \"192.168.100.1\")"},
	{"gateway_mac_multicast", node3("gateway_mac = \"01:00:5e:00:00:01\";"),
	 "x.conf:3: node.gateway_mac: \"01:00:5e:00:00:01\" is not a unicast MAC address (the "
	 "first octet must be even and the address not all zeros)"},
	{"gateway_mac_short", node3("gateway_mac = \"ee:ee:ee:ee:ee\";"),
	 "x.conf:3: node.gateway_mac: \"ee:ee:ee:ee:ee\" is not a MAC address (allowed: six "
	 "hex octets separated by colons, such as \"02:00:00:00:00:01\")"},
	{"node_name_long", node3("name = \"" + std::string(64, 'n') + "\";"),
	 "x.conf:3: node.name: \"" + std::string(64, 'n') +
	 "\" has 64 characters (allowed: 1..63)"},
	{"node_name_chars", node3("name = \"node a\";"),
	 "x.conf:3: node.name: \"node a\" is not a valid node name (allowed: 1..63 characters "
	 "of A-Z a-z 0-9 _ . -)"},
	{"node_not_group", "node = 5;\n" + kPorts,
	 "x.conf:1: node: expected a group { ... }, got an integer"},
	{"node_unknown_key", node3("overlayy = \"vxlan\";"),
	 "x.conf:3: node.overlayy: unknown setting (did you mean \"overlay\"? allowed: name, "
	 "vtep, overlay, vni, udp_port, mtu, gateway, gateway_mac, host_ip)"},
	// top level
	{"unknown_key_near", base("worker = [1];\n"),
	 "x.conf:3: worker: unknown setting (did you mean \"workers\"? allowed: node, eal, "
	 "workers, main_lcore, burst, idle_sleep_us, ports, tables, timeouts, control_socket, "
	 "policy_file, endpoints, vteps, routes, flow_log, rule_counters, state_file)"},
	{"unknown_key_far", base("\nlogging = \"debug\";\n"),
	 "x.conf:4: logging: unknown setting (allowed: node, eal, workers, main_lcore, burst, "
	 "idle_sleep_us, ports, tables, timeouts, control_socket, policy_file, endpoints, vteps, "
	 "routes, flow_log, rule_counters, state_file)"},
	{"flow_log_unknown_key", base("flow_log = { rates = 5; };\n"),
	 "x.conf:3: flow_log.rates: unknown setting (did you mean \"rate\"? allowed: enabled, "
	 "rate, burst, sample_allowed, ring)"},
	{"flow_log_rate_zero", base("flow_log = { rate = 0; };\n"),
	 "x.conf:3: flow_log.rate: 0 is out of range (allowed: 1..10000000)"},
	{"flow_log_enabled_type", base("flow_log = { enabled = 1; };\n"),
	 "x.conf:3: flow_log.enabled: expected a boolean (true or false), got an integer"},
	{"rule_counters_type", base("rule_counters = \"no\";\n"),
	 "x.conf:3: rule_counters: expected a boolean (true or false), got a string (\"no\")"},
	{"policy_file_empty", base("policy_file = \"\";\n"),
	 "x.conf:3: policy_file: 0 characters (allowed: a path of 1..255 characters)"},
	{"policy_file_type", base("policy_file = 7;\n"),
	 "x.conf:3: policy_file: expected a string, got an integer"},
	{"state_file_empty", base("state_file = \"\";\n"),
	 "x.conf:3: state_file: 0 characters (allowed: a path of 1..255 characters)"},
	{"workers_empty", base("workers = [];\n"),
	 "x.conf:3: workers: 0 lcores (allowed: 1..64 distinct lcore ids)"},
	{"workers_twice", base("workers = [1,\n  2,\n  1];\n"),
	 "x.conf:5: workers[2]: lcore 1 is listed twice (also workers[0])"},
	{"workers_range", base("workers = [1, 1024];\n"),
	 "x.conf:3: workers[1]: 1024 is out of range (allowed: 0..1023)"},
	{"workers_scalar", base("workers = 1;\n"),
	 "x.conf:3: workers: expected a list of lcore ids such as [1, 2], got an integer"},
	{"workers_string", base("workers = [\"1\"];\n"),
	 "x.conf:3: workers[0]: expected an integer, got a string (\"1\")"},
	{"main_lcore_is_worker", base("workers = [1, 2];\nmain_lcore = 2;\n"),
	 "x.conf:4: main_lcore: lcore 2 is also a worker (workers[1]); the main lcore runs the "
	 "control thread and must not be in workers"},
	{"worker_is_default_main", base("workers = [\n  0 ];\n"),
	 "x.conf:4: workers[0]: lcore 0 is the main lcore (main_lcore, default 0); pick another "
	 "lcore or set main_lcore"},
	{"main_lcore_range", base("main_lcore = 1024;\n"),
	 "x.conf:3: main_lcore: 1024 is out of range (allowed: 0..1023)"},
	{"burst_small", base("burst = 16;\n"),
	 "x.conf:3: burst: 16 is out of range (allowed: 32..256)"},
	{"burst_big", base("burst = 257;\n"),
	 "x.conf:3: burst: 257 is out of range (allowed: 32..256)"},
	{"idle_sleep", base("idle_sleep_us = 10001;\n"),
	 "x.conf:3: idle_sleep_us: 10001 is out of range (allowed: 0..10000)"},
	{"idle_sleep_negative", base("idle_sleep_us = -1;\n"),
	 "x.conf:3: idle_sleep_us: -1 is out of range (allowed: 0..10000)"},
	{"eal_scalar", base("eal = \"--no-pci\";\n"),
	 "x.conf:3: eal: expected a list of strings such as [\"--no-pci\"], got a string "
	 "(\"--no-pci\")"},
	{"eal_int", base("eal = (\"--no-pci\",\n  5);\n"),
	 "x.conf:4: eal[1]: expected a string, got an integer"},
	{"eal_empty", base("eal = [\"\"];\n"), "x.conf:3: eal[0]: empty argument"},
	{"eal_lcores", base("eal = [\"-l\", \"0-3\"];\n"),
	 "x.conf:3: eal[0]: \"-l\": the dataplane sets -l itself (set lcores with \"workers\" "
	 "and \"main_lcore\")"},
	{"eal_lcores_long", base("eal = [\"--no-pci\", \"--lcores=0@1\"];\n"),
	 "x.conf:3: eal[1]: \"--lcores=0@1\": the dataplane sets --lcores itself (set lcores "
	 "with \"workers\" and \"main_lcore\")"},
	{"eal_coremask", base("eal = [\"-c0x3\"];\n"),
	 "x.conf:3: eal[0]: \"-c0x3\": the dataplane sets -c itself (set lcores with \"workers\" "
	 "and \"main_lcore\")"},
	{"eal_main_lcore", base("eal = [\"--main-lcore\", \"0\"];\n"),
	 "x.conf:3: eal[0]: \"--main-lcore\": the dataplane sets --main-lcore itself (set "
	 "lcores with \"workers\" and \"main_lcore\")"},
	// ports
	{"ports_empty", kNode + "ports = ();\n", "x.conf:2: ports: 0 ports (allowed: 1..32)"},
	{"ports_group", kNode + "ports = { name = \"p\"; };\n",
	 "x.conf:2: ports: expected a list ( { ... }, ... ) of groups, got a group { ... }"},
	{"port_not_group", kNode + "ports = (\n  \"eth0\" );\n",
	 "x.conf:3: ports[0]: expected a group { ... }, got a string (\"eth0\")"},
	{"port_name_missing", ports("{ devargs = \"net_null0\"; role = \"pod\"; }"),
	 "x.conf:3: ports[0].name: required setting is missing (allowed: 1..31 characters of "
	 "A-Z a-z 0-9 _ . -)"},
	{"port_devargs_missing", ports(kUp + "{ name = \"p\"; role = \"pod\"; }"),
	 "x.conf:4: ports[1].devargs: required setting is missing (allowed: a DPDK device such "
	 "as \"net_tap0,iface=tap0\" or \"0000:3b:00.0\")"},
	{"port_role_missing", ports("{ name = \"p\"; devargs = \"net_null0\"; }"),
	 "x.conf:3: ports[0].role: required setting is missing (allowed: \"uplink\", \"pod\", "
	 "\"host\")"},
	{"port_name_chars", ports("{ name = \"pod 0\"; devargs = \"net_null0\"; role = \"pod\"; }"),
	 "x.conf:3: ports[0].name: \"pod 0\" is not a valid port name (allowed: 1..31 "
	 "characters of A-Z a-z 0-9 _ . -)"},
	{"port_name_long",
	 ports("{ name = \"" + std::string(32, 'p') + "\"; devargs = \"n\"; role = \"pod\"; }"),
	 "x.conf:3: ports[0].name: \"" + std::string(32, 'p') +
	 "\" is not a valid port name (allowed: 1..31 characters of A-Z a-z 0-9 _ . -)"},
	{"port_name_empty", ports("{ name = \"\"; devargs = \"n\"; role = \"pod\"; }"),
	 "x.conf:3: ports[0].name: \"\" is not a valid port name (allowed: 1..31 characters of "
	 "A-Z a-z 0-9 _ . -)"},
	{"port_name_twice",
	 ports(kUp + "{ name = \"p\"; devargs = \"net_null1\"; role = \"pod\"; },\n"
		     "{ name = \"p\";\n  devargs = \"net_null2\"; role = \"pod\"; }"),
	 "x.conf:5: ports[2].name: \"p\" is already the name of ports[1] (port names must be "
	 "unique)"},
	{"devargs_empty", ports("{ name = \"p\"; devargs = \"\"; role = \"pod\"; }"),
	 "x.conf:3: ports[0].devargs: 0 characters (allowed: 1..255, a DPDK device such as "
	 "\"net_tap0,iface=tap0\" or \"0000:3b:00.0\")"},
	{"devargs_long",
	 ports("{ name = \"p\"; devargs = \"" + std::string(256, 'd') + "\"; role = \"pod\"; }"),
	 "x.conf:3: ports[0].devargs: 256 characters (allowed: 1..255, a DPDK device such as "
	 "\"net_tap0,iface=tap0\" or \"0000:3b:00.0\")"},
	{"devargs_space",
	 ports("{ name = \"p\"; devargs = \"net_tap0, iface=x\"; role = \"pod\"; }"),
	 "x.conf:3: ports[0].devargs: \"net_tap0, iface=x\" contains white space or control "
	 "characters"},
	{"devargs_same_device",
	 ports(kUp + "{ name = \"p\"; devargs = \"net_null0,size=128\"; role = \"pod\"; }"),
	 "x.conf:4: ports[1].devargs: device \"net_null0\" is already used by ports[0] (each "
	 "port needs its own device)"},
	{"role_bad", ports(kUp + "{ name = \"p\"; devargs = \"net_null1\"; role = \"pods\"; }"),
	 "x.conf:4: ports[1].role: \"pods\" is not a port role (allowed: \"uplink\", \"pod\", "
	 "\"host\")"},
	{"second_host",
	 ports(kUp + "{ name = \"h1\"; devargs = \"net_null1\"; role = \"host\"; },\n"
		     "{ name = \"h2\"; devargs = \"net_null2\";\n  role = \"host\"; }"),
	 "x.conf:6: ports[2].role: a second host port (only one port may have role \"host\"; "
	 "ports[1] has it)"},
	{"second_uplink",
	 ports(kUp + "{ name = \"up2\"; devargs = \"net_null1\";\n  role = \"uplink\"; }"),
	 "x.conf:5: ports[1].role: a second uplink port (only one port may have role "
	 "\"uplink\"; ports[0] has it)"},
	{"rx_desc_pow2",
	 ports("{ name = \"p\"; devargs = \"n\"; role = \"pod\"; rx_desc = 1000; }"),
	 "x.conf:3: ports[0].rx_desc: 1000 is not a power of two (allowed: 64, 128, 256, 512, "
	 "1024, 2048, 4096)"},
	{"rx_desc_small", ports("{ name = \"p\"; devargs = \"n\"; role = \"pod\"; rx_desc = 32; }"),
	 "x.conf:3: ports[0].rx_desc: 32 is out of range (allowed: 64..4096)"},
	{"tx_desc_big", ports("{ name = \"p\"; devargs = \"n\"; role = \"pod\"; tx_desc = 8192; }"),
	 "x.conf:3: ports[0].tx_desc: 8192 is out of range (allowed: 64..4096)"},
	{"queues_big", ports("{ name = \"p\"; devargs = \"n\"; role = \"pod\"; queues = 65; }"),
	 "x.conf:3: ports[0].queues: 65 is out of range (allowed: 0..64)"},
	{"port_unknown_key",
	 ports("{ name = \"p\"; devargs = \"n\"; role = \"pod\";\n  rxdesc = 512; }"),
	 "x.conf:4: ports[0].rxdesc: unknown setting (did you mean \"rx_desc\"? allowed: name, "
	 "devargs, role, rx_desc, tx_desc, queues)"},
	// tables and timeouts
	{"conntrack_small", base("tables = { conntrack = 15; };\n"),
	 "x.conf:3: tables.conntrack: 15 is out of range (allowed: 16..16777216)"},
	{"conntrack_big", base("tables = { conntrack = 16777217; };\n"),
	 "x.conf:3: tables.conntrack: 16777217 is out of range (allowed: 16..16777216)"},
	{"endpoints_zero", base("tables = { endpoints = 0; };\n"),
	 "x.conf:3: tables.endpoints: 0 is out of range (allowed: 1..1048576)"},
	{"routes_big", base("tables = { routes = 1048577; };\n"),
	 "x.conf:3: tables.routes: 1048577 is out of range (allowed: 1..1048576)"},
	{"vteps_big", base("tables = { vteps = 65537; };\n"),
	 "x.conf:3: tables.vteps: 65537 is out of range (allowed: 1..65536)"},
	{"mbufs_small", base("tables = { mbufs = 100; };\n"),
	 "x.conf:3: tables.mbufs: 100 is out of range (allowed: 0 = computed, or "
	 "1024..16777216)"},
	{"tables_unknown", base("tables = {\n  conntack = 1024;\n};\n"),
	 "x.conf:4: tables.conntack: unknown setting (did you mean \"conntrack\"? allowed: "
	 "conntrack, denied_entries, endpoints, routes, vteps, mbufs)"},
	{"denied_entries_over_conntrack", base("tables = { conntrack = 1024; denied_entries = 1025; };\n"),
	 "x.conf:3: tables.denied_entries: 1025 is out of range (allowed: 0..1024)"},
	{"tables_list", base("tables = ( 1 );\n"),
	 "x.conf:3: tables: expected a group { ... }, got a list ( ... )"},
	{"timeout_zero", base("timeouts = {\n  udp = 0;\n};\n"),
	 "x.conf:4: timeouts.udp: 0 is out of range (allowed: 1..604800)"},
	{"timeout_big", base("timeouts = { tcp_established = 604801; };\n"),
	 "x.conf:3: timeouts.tcp_established: 604801 is out of range (allowed: 1..604800)"},
	{"timeout_unknown", base("timeouts = { tcp = 5; };\n"),
	 "x.conf:3: timeouts.tcp: unknown setting (did you mean \"udp\"? allowed: tcp_syn, "
	 "tcp_established, tcp_fin, tcp_closed, udp, udp_stream, icmp, other, denied)"},
	{"control_socket_long", base("control_socket = \"/" + std::string(107, 's') + "\";\n"),
	 "x.conf:3: control_socket: 108 characters (allowed: a Unix socket path of 1..107 "
	 "characters)"},
	{"control_socket_int", base("control_socket = 1;\n"),
	 "x.conf:3: control_socket: expected a string, got an integer"},
	// endpoints
	{"ep_port_unknown", base("endpoints = ( { ip = \"10.244.1.2\"; port = \"pod9\"; "
				 "mac = \"02:00:00:00:01:02\"; } );\n"),
	 "x.conf:3: endpoints[0].port: no port is named \"pod9\" (allowed: the name of a port "
	 "with role \"pod\")"},
	{"ep_port_uplink", base("endpoints = ( { ip = \"10.244.1.2\"; port = \"uplink\"; "
				"mac = \"02:00:00:00:01:02\"; } );\n"),
	 "x.conf:3: endpoints[0].port: port \"uplink\" has role \"uplink\" (allowed: a port "
	 "with role \"pod\")"},
	{"ep_ip_bad", base("endpoints = ( { ip = \"10.244.1.256\"; " + kEp + " } );\n"),
	 "x.conf:3: endpoints[0].ip: \"10.244.1.256\" is not an IPv4 address (allowed: a dotted "
	 "quad such as \"192.168.100.1\")"},
	{"ep_ip_zero", base("endpoints = ( { ip = \"0.0.0.0\"; " + kEp + " } );\n"),
	 "x.conf:3: endpoints[0].ip: \"0.0.0.0\" is not a unicast address (not allowed: "
	 "0.0.0.0/8, 127.0.0.0/8, 224.0.0.0/3)"},
	{"ep_ip_twice", base("endpoints = ( { ip = \"10.244.1.2\"; " + kEp + " },\n"
			     "  { ip = \"10.244.1.2\"; " + kEp + " } );\n"),
	 "x.conf:4: endpoints[1].ip: \"10.244.1.2\" is already the address of endpoints[0]"},
	{"ep_ip_missing", base("endpoints = (\n  { " + kEp + " } );\n"),
	 "x.conf:4: endpoints[0].ip: required setting is missing (allowed: the pod's IPv4 "
	 "address)"},
	{"ep_mac_missing", base("endpoints = ( { ip = \"10.244.1.2\"; port = \"pod0\"; } );\n"),
	 "x.conf:3: endpoints[0].mac: required setting is missing (allowed: the pod's unicast "
	 "MAC such as \"02:00:00:00:01:02\")"},
	{"ep_mac_multicast", base("endpoints = ( { ip = \"10.244.1.2\"; port = \"pod0\"; "
				  "mac = \"ff:ff:ff:ff:ff:ff\"; } );\n"),
	 "x.conf:3: endpoints[0].mac: \"ff:ff:ff:ff:ff:ff\" is not a unicast MAC address (the "
	 "first octet must be even and the address not all zeros)"},
	{"ep_identity_negative",
	 base("endpoints = ( { ip = \"10.244.1.2\"; " + kEp + " identity = -1; } );\n"),
	 "x.conf:3: endpoints[0].identity: -1 is out of range (allowed: 0..4294967295)"},
	{"ep_name_long",
	 base("endpoints = ( { ip = \"10.244.1.2\"; " + kEp + " name = \"" + std::string(64, 'x') +
	      "\"; } );\n"),
	 "x.conf:3: endpoints[0].name: \"" + std::string(64, 'x') +
	 "\" has 64 characters (allowed: 1..63)"},
	{"ep_unknown_key",
	 base("endpoints = ( { ip = \"10.244.1.2\"; " + kEp + " identiy = 5; } );\n"),
	 "x.conf:3: endpoints[0].identiy: unknown setting (did you mean \"identity\"? allowed: "
	 "ip, port, mac, identity, name)"},
	// vteps
	{"vteps_dup_ip",
	 base("vteps = ( { ip = \"192.168.100.2\"; mac = \"02:00:00:00:00:02\"; },\n"
			      "  { ip = \"192.168.100.2\"; mac = \"02:00:00:00:00:03\"; } );\n"),
	 "x.conf:4: vteps[1].ip: \"192.168.100.2\" is already the address of vteps[0]"},
	{"vteps_own",
	 base("vteps = ( { ip = \"192.168.100.1\"; mac = \"02:00:00:00:00:02\"; } );\n"),
	 "x.conf:3: vteps[0].ip: \"192.168.100.1\" is this node's own VTEP (node.vtep); list "
	 "remote nodes only"},
	{"vteps_mac_missing", base("vteps = ( { ip = \"192.168.100.2\"; } );\n"),
	 "x.conf:3: vteps[0].mac: required setting is missing (allowed: the underlay next-hop "
	 "MAC such as \"02:00:00:00:00:02\")"},
	// routes
	{"route_both", statics("routes = ( { prefix = \"10.244.2.0/24\"; local = true;\n"
			       "  vtep = \"192.168.100.2\"; } );\n"),
	 "x.conf:5: routes[0].vtep: a route is either local or via a VTEP (set exactly one of "
	 "local = true or vtep)"},
	{"route_neither",
	 statics("routes = (\n  { prefix = \"10.244.2.0/24\"; local = false; } );\n"),
	 "x.conf:5: routes[0]: neither local = true nor vtep is set (set exactly one of local = "
	 "true or vtep)"},
	{"route_host_bits",
	 statics("routes = ( { prefix = \"10.244.1.1/24\"; local = true; } );\n"),
	 "x.conf:4: routes[0].prefix: \"10.244.1.1/24\" has host bits set (the address must end "
	 "where the /24 prefix ends)"},
	{"route_len", statics("routes = ( { prefix = \"10.244.1.0/33\"; local = true; } );\n"),
	 "x.conf:4: routes[0].prefix: \"10.244.1.0/33\" is not an IPv4 prefix (allowed: "
	 "ADDRESS/LENGTH with LENGTH 0..32, such as \"10.244.1.0/24\")"},
	{"route_no_len", statics("routes = ( { prefix = \"10.244.1.0\"; local = true; } );\n"),
	 "x.conf:4: routes[0].prefix: \"10.244.1.0\" is not an IPv4 prefix (allowed: "
	 "ADDRESS/LENGTH with LENGTH 0..32, such as \"10.244.1.0/24\")"},
	{"route_vtep_unlisted",
	 statics("routes = ( { prefix = \"10.244.3.0/24\"; vtep = \"192.168.100.3\"; } );\n"),
	 "x.conf:4: routes[0].vtep: \"192.168.100.3\" is not listed in vteps (allowed: the ip "
	 "of an entry in vteps)"},
	{"route_twice", statics("routes = ( { prefix = \"10.244.1.0/24\"; local = true; },\n"
				"  { prefix = \"10.244.1.0/24\"; vtep = \"192.168.100.2\"; } );\n"),
	 "x.conf:5: routes[1].prefix: \"10.244.1.0/24\" is already routed by routes[0]"},
	{"route_local_int", statics("routes = ( { prefix = \"10.244.1.0/24\"; local = 1; } );\n"),
	 "x.conf:4: routes[0].local: expected a boolean (true or false), got an integer"},
	{"route_prefix_missing", statics("routes = ( { local = true; } );\n"),
	 "x.conf:4: routes[0].prefix: required setting is missing (allowed: an IPv4 CIDR such "
	 "as \"10.244.1.0/24\")"},
};
// clang-format on

INSTANTIATE_TEST_SUITE_P(Config, ConfigRule, ::testing::ValuesIn(kBad),
			 [](const ::testing::TestParamInfo<Bad> &info) {
				 return std::string(info.param.name);
			 });

} // namespace
