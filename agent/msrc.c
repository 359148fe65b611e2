/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The standalone source: directories of manifests instead of the API
 * server, reloaded when they change (inotify, debounced), including the
 * symlink swap of a Kubernetes ConfigMap volume. Every reload hands the
 * sync thread the complete set of objects (AG_EV_REPLACE of every kind);
 * the sync thread works out what changed.
 *
 * Nothing is lost to a bad edit: a bad object is rejected alone (logged
 * with file, line, object and field), and a file that no longer parses
 * (a YAML syntax error, say half-written) keeps its last good version.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define DEBOUNCE_MS 100

struct last_good {
	char *path;
	char *text;
	size_t len;
};

struct msrc {
	struct ag_queue *q;
	unsigned n_dirs;
	const char *const *dirs;
	int ifd;
	unsigned n_good;
	struct last_good *good;
};

static struct last_good *good_find(struct msrc *m, const char *path, bool create)
{
	for (unsigned i = 0; i < m->n_good; i++)
		if (!strcmp(m->good[i].path, path))
			return &m->good[i];
	if (!create)
		return NULL;
	struct last_good *g = realloc(m->good, (m->n_good + 1) * sizeof(*g));
	if (!g)
		return NULL;
	m->good = g;
	g = &g[m->n_good];
	memset(g, 0, sizeof(*g));
	if (!(g->path = strdup(path)))
		return NULL;
	m->n_good++;
	return g;
}

struct report_ctx {
	bool syntax;
	bool quiet;
};

static void report(void *arg, const char *msg)
{
	struct report_ctx *r = arg;
	if (strstr(msg, ": syntax error: "))
		r->syntax = true;
	if (r->quiet)
		return;
	ag_log(AG_WARN, "manifests", "rejected: %s", msg);
	for (int k = 0; k < AG_N_KINDS; k++) {
		char pat[64];
		snprintf(pat, sizeof(pat), ": %s ", ag_kinds[k].kind);
		if (strstr(msg, pat)) {
			atomic_fetch_add(&ag_m.rejected[k], 1);
			break;
		}
	}
}

static int read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	char *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n + 65536 > cap) {
			char *b = realloc(buf, cap = cap ? cap * 2 : 131072);
			if (!b) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = b;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	int err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

static bool wanted(const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.')
		return false;
	return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
	       (n > 5 && !strcmp(name + n - 5, ".json"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load one file into cl, falling back to its last good text on a syntax
 * error. */
static void load_one(struct msrc *m, const char *path, struct k8s_cluster *cl)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len);
	if (rc) {
		struct last_good *lg = good_find(m, path, false);
		ag_log(AG_WARN, "manifests", "%s: %s%s", path, strerror(-rc),
		       lg ? "; keeping its last good version" : "");
		if (lg) {
			struct report_ctx again = {.quiet = true};
			k8s_load_buffer(path, lg->text, lg->len, cl, report, &again);
		}
		return;
	}
	/* Load it; on a syntax error take back what it added and load its
	 * last good text instead (when there is one). */
	struct k8s_counts before;
	k8s_cluster_counts(cl, &before);
	struct report_ctx r = {0};
	k8s_load_buffer(path, text, len, cl, report, &r);
	struct last_good *g = good_find(m, path, !r.syntax);
	if (r.syntax && g) {
		k8s_cluster_truncate(cl, &before);
		ag_log(AG_WARN, "manifests", "%s: keeping its last good version until it parses",
		       path);
		free(text);
		struct report_ctx again = {.quiet = true};
		k8s_load_buffer(path, g->text, g->len, cl, report, &again);
		return;
	}
	if (g && !r.syntax) {
		free(g->text);
		g->text = text;
		g->len = len;
	} else {
		free(text);
	}
}

static void reload(struct msrc *m)
{
	struct k8s_cluster cl = {0};
	for (unsigned d = 0; d < m->n_dirs; d++) {
		DIR *dir = opendir(m->dirs[d]);
		if (!dir) {
			/* Not "no objects": keep everything as it is until it reads. */
			ag_log(AG_ERROR, "manifests", "%s: %s; nothing changes until it can be read",
			       m->dirs[d], strerror(errno));
			k8s_cluster_free(&cl);
			return;
		}
		char **names = NULL;
		unsigned n = 0;
		struct dirent *de;
		while ((de = readdir(dir))) {
			if (!wanted(de->d_name))
				continue;
			char **a = realloc(names, (n + 1) * sizeof(*a));
			if (!a)
				break;
			names = a;
			if (asprintf(&names[n], "%s/%s", m->dirs[d], de->d_name) < 0)
				break;
			n++;
		}
		closedir(dir);
		qsort(names, n, sizeof(*names), cmp_str);
		for (unsigned i = 0; i < n; i++) {
			struct stat st;
			if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
				load_one(m, names[i], &cl);
			free(names[i]);
		}
		free(names);
	}
	struct ag_event *ev = calloc(1, sizeof(*ev));
	if (!ev || ag_objs_from_cluster(&cl, &ev->objs, &ev->n_objs)) {
		ag_log(AG_ERROR, "manifests", "out of memory loading the manifests");
		ag_event_free(ev);
		k8s_cluster_free(&cl);
		return;
	}
	ev->type = AG_EV_REPLACE;
	ev->kind = AG_N_KINDS;
	ev->t_ns = ag_now_ns();
	ag_log(AG_DEBUG, "manifests", "loaded %u objects", ev->n_objs);
	ag_queue_push(m->q, ev);
}

static void *msrc_thread(void *arg)
{
	struct msrc *m = arg;
	reload(m);
	ag_queue_synced(m->q, (1u << AG_N_KINDS) - 1);
	char buf[16384] __attribute__((aligned(8)));
	for (;;) {
		struct pollfd p = {.fd = m->ifd, .events = POLLIN};
		if (poll(&p, 1, -1) < 0)
			continue;
		/* Drain, then wait until the directory is quiet for a while. */
		do {
			if (read(m->ifd, buf, sizeof(buf)) < 0 && errno != EAGAIN && errno != EINTR) {
				ag_log(AG_ERROR, "manifests", "inotify: %s", strerror(errno));
				return NULL;
			}
		} while (poll(&p, 1, DEBOUNCE_MS) > 0);
		reload(m);
	}
	return NULL;
}

int ag_manifests_start(struct ag_queue *q, const char *const *dirs, unsigned n_dirs)
{
	struct msrc *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->q = q;
	m->dirs = dirs;
	m->n_dirs = n_dirs;
	m->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->ifd < 0)
		return -errno;
	for (unsigned i = 0; i < n_dirs; i++) {
		struct stat st;
		errno = 0;
		if (stat(dirs[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			ag_log(AG_ERROR, "manifests", "--manifests %s: %s", dirs[i],
			       errno ? strerror(errno) : "not a directory");
			return -ENOTDIR;
		}
		if (inotify_add_watch(m->ifd, dirs[i],
				      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
					      IN_CREATE | IN_ATTRIB) < 0) {
			ag_log(AG_ERROR, "manifests", "inotify %s: %s", dirs[i], strerror(errno));
			return -errno;
		}
	}
	pthread_t t;
	int rc = pthread_create(&t, NULL, msrc_thread, m);
	if (rc)
		return -rc;
	pthread_detach(t);
	ag_log(AG_INFO, "manifests", "watching %u director%s", n_dirs, n_dirs == 1 ? "y" : "ies");
	return 0;
}
