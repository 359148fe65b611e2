// SPDX-License-Identifier: Apache-2.0
// What the tests that talk to a dataplane's control socket share: running
// the real nsdpctl ($NSDPCTL) and reading what it printed, and checking
// its JSON with python3's json module.
#ifndef NSDP_TESTS_CTL_TOOLS_H
#define NSDP_TESTS_CTL_TOOLS_H

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

struct CtlRun {
	int status; // exit status, -1 when it did not exit
	std::string out, err;
};

inline std::string slurp(const std::string &path)
{
	std::string s;
	FILE *f = fopen(path.c_str(), "r");
	if (!f)
		return s;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		s.append(buf, n);
	fclose(f);
	return s;
}

// nsdpctl -s SOCK ARGS, stdout and stderr captured in files under dir.
inline CtlRun run_nsdpctl(const std::string &dir, const std::string &sock,
			  const std::string &args)
{
	std::string out = dir + "/out", err = dir + "/err";
	std::string cmd = std::string(getenv("NSDPCTL")) + " -s " + sock + " " + args + " >" +
			  out + " 2>" + err;
	int st = system(cmd.c_str());
	return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
}

// python3 evaluates `expr` over `doc`: one JSON document (`d`), or one per
// line (`ds`, all of them; `d`, the first). Invalid JSON fails the test.
inline std::string json_eval(const std::string &dir, const std::string &doc,
			     const std::string &expr)
{
	std::string in = dir + "/doc.json", py = dir + "/eval.py", out = dir + "/eval";
	FILE *f = fopen(in.c_str(), "w");
	fwrite(doc.data(), 1, doc.size(), f);
	fclose(f);
	f = fopen(py.c_str(), "w");
	fprintf(f,
		"import json, sys\n"
		"t = open(sys.argv[1]).read()\n"
		"try:\n    ds = [json.loads(t)]\n"
		"except ValueError:\n    ds = [json.loads(l) for l in t.splitlines() if l.strip()]\n"
		"d = ds[0]\nprint(%s)\n",
		expr.c_str());
	fclose(f);
	// The distribution's interpreter when there is one: version-manager
	// shims in PATH cost a second per call.
	const char *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	std::string cmd = std::string(python) + " " + py + " " + in + " >" + out + " 2>&1";
	int st = system(cmd.c_str());
	std::string r = slurp(out);
	EXPECT_EQ(0, st) << "invalid JSON or expression " << expr << ": " << r << "\n" << doc;
	while (!r.empty() && r.back() == '\n')
		r.pop_back();
	return r;
}

#endif
