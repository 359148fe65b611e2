/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The standalone source: directories of manifests instead of the API
 * server, reloaded when they change (inotify, debounced), including the
 * symlink swap of a Kubernetes ConfigMap volume. Every reload hands the
 * sync thread the complete set of objects (AG_EV_REPLACE of every kind);
 * the sync thread works out what changed.
 *
 * Nothing is lost to a bad edit: a bad object is rejected alone (logged
 * with file, line, object and field) and keeps its last good version; a
 * file that no longer parses (a YAML syntax error) or that a writer still
 * has open (IN_MODIFY seen, IN_CLOSE_WRITE not yet) keeps its last good
 * version. A deletion is meant: a file the reload no longer finds loses
 * its objects and its last good version (a file created later under that
 * name starts afresh).
 *
 * The directories themselves are watched for being removed, moved away or
 * replaced (IN_DELETE_SELF, IN_MOVE_SELF, IN_IGNORED, and once a second a
 * stat() of the path against the watched inode, which also catches a
 * symlink swapped to another directory): until the path is a directory
 * again every object stays as it was; then it is watched again and
 * reloaded.
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

#define DEBOUNCE_MS 100     /* quiet time before a reload */
#define DEBOUNCE_MAX_MS 1000 /* ... but no longer than this after the first event */
#define DIR_CHECK_MS 1000    /* how often the directories' paths are checked */
#define DIR_MASK                                                                          \
	(IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | \
	 IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

/* What is known of one manifest file. */
struct mfile {
	char *path;
	char *text; /* its last good text (parsed without a syntax error), or NULL */
	size_t len;
	bool writing; /* IN_MODIFY seen and no IN_CLOSE_WRITE since */
	bool writing_logged;
	bool seen;    /* found by the current reload */
};

struct mdir {
	const char *path;
	int wd;       /* -1: not watched (gone) */
	dev_t dev;    /* the watched directory */
	ino_t ino;
	bool gone_logged;
};

struct msrc {
	struct ag_queue *q;
	unsigned n_dirs;
	struct mdir *dirs;
	int ifd;
	unsigned n_files;
	struct mfile *files;
};

static struct mfile *file_find(struct msrc *m, const char *path, bool create)
{
	for (unsigned i = 0; i < m->n_files; i++)
		if (!strcmp(m->files[i].path, path))
			return &m->files[i];
	if (!create)
		return NULL;
	struct mfile *f = realloc(m->files, (m->n_files + 1) * sizeof(*f));
	if (!f)
		return NULL;
	m->files = f;
	f = &f[m->n_files];
	memset(f, 0, sizeof(*f));
	if (!(f->path = strdup(path)))
		return NULL;
	m->n_files++;
	return f;
}

/* Forget the files the last reload did not find (deleted: their objects
 * went with them, and so does their last good text). */
static void files_forget_unseen(struct msrc *m)
{
	unsigned j = 0;
	for (unsigned i = 0; i < m->n_files; i++) {
		struct mfile *f = &m->files[i];
		if (f->seen) {
			f->seen = false;
			m->files[j++] = *f;
			continue;
		}
		ag_log(AG_DEBUG, "manifests", "%s: gone; its objects go with it", f->path);
		free(f->path);
		free(f->text);
	}
	m->n_files = j;
}

struct report_ctx {
	const char *file;
	bool syntax;
	bool quiet;
	struct ag_event *ev; /* rejected objects go to its keep list */
};

/* "FILE:LINE: Kind ns/name: ..." (k8s.h): the rejected object's kind and
 * key; false when the message names none (a syntax error, say). */
static bool rejected_object(const char *msg, const char *file, enum ag_kind *kind, char *key,
			    size_t size)
{
	size_t fl = strlen(file);
	if (strncmp(msg, file, fl) || msg[fl] != ':')
		return false;
	const char *p = msg + fl + 1;
	while (*p >= '0' && *p <= '9')
		p++;
	if (strncmp(p, ": ", 2))
		return false;
	p += 2;
	for (int k = 0; k < AG_N_KINDS; k++) {
		size_t kl = strlen(ag_kinds[k].kind);
		if (strncmp(p, ag_kinds[k].kind, kl) || p[kl] != ' ')
			continue;
		p += kl + 1;
		size_t n = strcspn(p, ": ");
		if (!n || n >= size)
			return false;
		memcpy(key, p, n);
		key[n] = '\0';
		*kind = (enum ag_kind)k;
		return true;
	}
	return false;
}

static void report(void *arg, const char *msg)
{
	struct report_ctx *r = arg;
	if (strstr(msg, ": syntax error: "))
		r->syntax = true;
	if (r->quiet)
		return;
	ag_log(AG_WARN, "manifests", "rejected: %s", msg);
	enum ag_kind k;
	char key[600];
	if (rejected_object(msg, r->file, &k, key, sizeof(key))) {
		atomic_fetch_add(&ag_m.rejected[k], 1);
		if (r->ev)
			ag_event_keep(r->ev, k, key);
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

static void load_last_good(const struct mfile *f, struct k8s_cluster *cl)
{
	struct report_ctx again = {.file = f->path, .quiet = true};
	if (f->text)
		k8s_load_buffer(f->path, f->text, f->len, cl, report, &again);
}

/* Load one file into cl, falling back to its last good text while a
 * writer has it open, on a syntax error, or when it cannot be read. */
static void load_one(struct msrc *m, const char *path, struct k8s_cluster *cl,
		     struct ag_event *ev)
{
	struct mfile *f = file_find(m, path, true);
	if (!f) {
		ag_log(AG_ERROR, "manifests", "%s: out of memory", path);
		return;
	}
	f->seen = true;
	if (f->writing) {
		if (!f->writing_logged)
			ag_log(AG_WARN, "manifests", "%s: still being written (not closed yet); %s until the writer closes it",
			       path, f->text ? "keeping its last good version" : "not loaded");
		f->writing_logged = true;
		load_last_good(f, cl);
		return;
	}
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len);
	if (rc == -ENOENT) {
		f->seen = false; /* deleted since the directory was read */
		return;
	}
	if (rc) {
		ag_log(AG_WARN, "manifests", "%s: %s%s", path, strerror(-rc),
		       f->text ? "; keeping its last good version" : "");
		load_last_good(f, cl);
		return;
	}
	/* Load it; on a syntax error take back what it added and load its
	 * last good text instead (when there is one). */
	struct k8s_counts before;
	k8s_cluster_counts(cl, &before);
	size_t n_keep = ev->n_keep;
	struct report_ctx r = {.file = path, .ev = ev};
	k8s_load_buffer(path, text, len, cl, report, &r);
	if (r.syntax && f->text) {
		k8s_cluster_truncate(cl, &before);
		while (ev->n_keep > n_keep)
			free(ev->keep[--ev->n_keep].key);
		ag_log(AG_WARN, "manifests", "%s: keeping its last good version until it parses",
		       path);
		free(text);
		load_last_good(f, cl);
		return;
	}
	if (!r.syntax) {
		free(f->text);
		f->text = text;
		f->len = len;
	} else {
		free(text);
	}
}

static void reload(struct msrc *m)
{
	struct k8s_cluster cl = {0};
	struct ag_event *ev = calloc(1, sizeof(*ev));
	if (!ev) {
		ag_log(AG_ERROR, "manifests", "out of memory loading the manifests");
		return;
	}
	for (unsigned d = 0; d < m->n_dirs; d++) {
		DIR *dir = opendir(m->dirs[d].path);
		if (!dir) {
			/* Not "no objects": keep everything as it is until it reads. */
			ag_log(AG_ERROR, "manifests", "%s: %s; nothing changes until it can be read",
			       m->dirs[d].path, strerror(errno));
			k8s_cluster_free(&cl);
			ag_event_free(ev);
			for (unsigned i = 0; i < m->n_files; i++)
				m->files[i].seen = false;
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
			if (asprintf(&names[n], "%s/%s", m->dirs[d].path, de->d_name) < 0)
				break;
			n++;
		}
		closedir(dir);
		qsort(names, n, sizeof(*names), cmp_str);
		for (unsigned i = 0; i < n; i++) {
			struct stat st;
			if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
				load_one(m, names[i], &cl, ev);
			free(names[i]);
		}
		free(names);
	}
	files_forget_unseen(m);
	if (ag_objs_from_cluster(&cl, &ev->objs, &ev->n_objs)) {
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

/* Is the directory at d->path still the one watched? If not, drop the old
 * watch and watch what is there now. True when a new directory is
 * watched (it must be reloaded). */
static bool dir_check(struct msrc *m, struct mdir *d)
{
	struct stat st;
	int err = stat(d->path, &st) < 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : 0;
	if (!err && d->wd >= 0 && st.st_dev == d->dev && st.st_ino == d->ino)
		return false;
	bool was_watched = d->wd >= 0;
	if (was_watched) {
		inotify_rm_watch(m->ifd, d->wd); /* EINVAL when the kernel dropped it */
		d->wd = -1;
	}
	if (err) {
		if (!d->gone_logged)
			ag_log(AG_WARN, "manifests", "%s: the directory is gone (%s); keeping the last good objects until it is back",
			       d->path, strerror(err));
		d->gone_logged = true;
		return false;
	}
	/* stat() before the watch: a swap in between shows at the next check */
	int wd = inotify_add_watch(m->ifd, d->path, DIR_MASK);
	if (wd < 0) {
		if (!d->gone_logged)
			ag_log(AG_ERROR, "manifests", "inotify %s: %s; keeping the last good objects",
			       d->path, strerror(errno));
		d->gone_logged = true;
		return false;
	}
	d->wd = wd;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	if (was_watched || d->gone_logged)
		ag_log(AG_INFO, "manifests", "%s: %s; watching it again and reloading", d->path,
		       was_watched ? "the directory was replaced" : "the directory is back");
	d->gone_logged = false;
	return true;
}

static struct mdir *dir_of_wd(struct msrc *m, int wd)
{
	for (unsigned i = 0; i < m->n_dirs; i++)
		if (m->dirs[i].wd == wd)
			return &m->dirs[i];
	return NULL;
}

/* One inotify event. True when it calls for a reload. */
static bool on_event(struct msrc *m, const struct inotify_event *e, bool *check_dirs)
{
	struct mdir *d = dir_of_wd(m, e->wd);
	if (!d)
		return false; /* a watch dropped already */
	if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
		*check_dirs = true;
		return false;
	}
	if (!e->len)
		return true;
	if (!wanted(e->name)) /* ..data swapped: reload; a write to another file: not */
		return !(e->mask & (IN_MODIFY | IN_CLOSE_WRITE));
	char *path;
	if (asprintf(&path, "%s/%s", d->path, e->name) < 0)
		return true;
	struct mfile *f = file_find(m, path, e->mask & IN_MODIFY);
	free(path);
	if (f && (e->mask & (IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO))) {
		/* closed, or the name is another file now */
		f->writing = false;
		f->writing_logged = false;
	}
	if (f && (e->mask & IN_MODIFY))
		f->writing = true;
	return true;
}

/* Milliseconds left of `ms` since t (ns). */
static uint64_t ms_left(uint64_t t, uint64_t ms)
{
	uint64_t since = (ag_now_ns() - t) / 1000000u;
	return since < ms ? ms - since : 0;
}

static void *msrc_thread(void *arg)
{
	struct msrc *m = arg;
	reload(m);
	ag_queue_synced(m->q, (1u << AG_N_KINDS) - 1);
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint64_t first = 0, last = 0, checked = ag_now_ns();
	bool pending = false;
	for (;;) {
		/* Wait for events; with some pending, until the directory is
		 * quiet (or the longest debounce is over); the directories'
		 * paths are checked every DIR_CHECK_MS. */
		uint64_t wait = ms_left(checked, DIR_CHECK_MS);
		if (pending) {
			uint64_t quiet = ms_left(last, DEBOUNCE_MS), cap = ms_left(first, DEBOUNCE_MAX_MS);
			wait = quiet < cap ? quiet : cap;
		}
		struct pollfd p = {.fd = m->ifd, .events = POLLIN};
		bool check_dirs = false;
		if (poll(&p, 1, (int)wait) > 0) {
			ssize_t n = read(m->ifd, buf, sizeof(buf));
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				ag_log(AG_ERROR, "manifests", "inotify: %s", strerror(errno));
				return NULL;
			}
			bool changed = false;
			for (ssize_t off = 0; n > 0 && off < n;) {
				const struct inotify_event *e = (const void *)(buf + off);
				if (e->mask & IN_Q_OVERFLOW)
					check_dirs = changed = true; /* events lost: reload */
				else if (on_event(m, e, &check_dirs))
					changed = true;
				off += (ssize_t)(sizeof(*e) + e->len);
			}
			if (changed) {
				last = ag_now_ns();
				if (!pending)
					first = last;
				pending = true;
			}
		}
		if (check_dirs || !ms_left(checked, DIR_CHECK_MS)) {
			for (unsigned i = 0; i < m->n_dirs; i++)
				if (dir_check(m, &m->dirs[i]) && !pending) {
					pending = true;
					first = last = ag_now_ns();
				}
			checked = ag_now_ns();
		}
		if (pending && (!ms_left(last, DEBOUNCE_MS) || !ms_left(first, DEBOUNCE_MAX_MS))) {
			reload(m);
			pending = false;
		}
	}
	return NULL;
}

int ag_manifests_start(struct ag_queue *q, const char *const *dirs, unsigned n_dirs)
{
	struct msrc *m = calloc(1, sizeof(*m));
	if (!m || !(m->dirs = calloc(n_dirs, sizeof(*m->dirs))))
		return -ENOMEM;
	m->q = q;
	m->n_dirs = n_dirs;
	m->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->ifd < 0)
		return -errno;
	for (unsigned i = 0; i < n_dirs; i++) {
		struct mdir *d = &m->dirs[i];
		d->path = dirs[i];
		d->wd = -1;
		struct stat st;
		errno = 0;
		if (stat(dirs[i], &st) < 0 || !S_ISDIR(st.st_mode)) {
			ag_log(AG_ERROR, "manifests", "--manifests %s: %s", dirs[i],
			       errno ? strerror(errno) : "not a directory");
			return -ENOTDIR;
		}
		if (!dir_check(m, d)) {
			ag_log(AG_ERROR, "manifests", "inotify %s: cannot watch it", dirs[i]);
			return -EIO;
		}
	}
	pthread_t t;
	int rc = pthread_create(&t, NULL, msrc_thread, m);
	if (rc)
		return -rc;
	pthread_setname_np(t, "manifests");
	pthread_detach(t);
	ag_log(AG_INFO, "manifests", "watching %u director%s", n_dirs, n_dirs == 1 ? "y" : "ies");
	return 0;
}
