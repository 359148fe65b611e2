/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes API client: configuration (in-cluster or kubeconfig),
 * then, per watched kind, a thread that lists (paged, `limit`/`continue`)
 * and watches from the list's resourceVersion with bookmarks, over HTTPS
 * (libcurl).
 *
 * Recovery, per kind:
 *  - a watch that ends (server timeout, clean close) restarts from the
 *    last resourceVersion seen (an event's or a bookmark's);
 *  - 410 Gone (an ERROR event with code 410, or HTTP 410 on a list page)
 *    relists; the sync thread replaces the kind's cache with the new list,
 *    except that an object listed but now undecodable keeps its last good
 *    version (objects absent from the list go);
 *  - a stream cut mid-event, a stall (no byte for stall_timeout_s), a line
 *    that is not JSON, connection refused, TLS errors and 5xx reconnect
 *    with exponential back-off and jitter, from the last good
 *    resourceVersion (events before the bad line were applied);
 *  - 401 re-reads the token file (rotation) and retries;
 *  - 403 logs which verb on which resource RBAC is missing.
 * Objects are decoded by the same loader as manifests (k8s.c); a bad one is
 * logged with kind, namespace, name and field, counted, and left out (a bad
 * update keeps the object's last good version in the cache).
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "agent.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kapi_config {
	char *server;     /* https://host:port, no trailing slash */
	char *token;      /* static token, or NULL */
	char *token_file; /* re-read when it changes */
	char *ca_file;
	char *ca_data;    /* PEM */
	char *cert_file, *key_file;
	char *cert_data, *key_data; /* PEM */
	bool insecure;
	char *source;     /* "kubeconfig FILE (context X)" or "in-cluster" */
};

void kapi_config_free(struct kapi_config *c)
{
	if (!c)
		return;
	free(c->server);
	free(c->token);
	free(c->token_file);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->key_file);
	free(c->cert_data);
	free(c->key_data);
	free(c->source);
	free(c);
}

/* ---------------------------------------------------------------------- */
/* kubeconfig (YAML, libyaml's document API)                               */

static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *ystr(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	yaml_node_t *n = ymap_get(d, map, key);
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The entry of list `key` whose name is `name`, its `field` map. */
static yaml_node_t *ynamed(yaml_document_t *d, yaml_node_t *root, const char *key,
			   const char *name, const char *field)
{
	yaml_node_t *seq = ymap_get(d, root, key);
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
	     i++) {
		yaml_node_t *e = yaml_document_get_node(d, *i);
		const char *n = ystr(d, e, "name");
		if (n && !strcmp(n, name))
			return ymap_get(d, e, field);
	}
	return NULL;
}

static char *b64_decode(const char *in)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in);
	char *out = malloc(n * 3 / 4 + 4), *o = out;
	if (!out)
		return NULL;
	unsigned acc = 0, bits = 0;
	for (const char *p = in; *p; p++) {
		if (*p == '=' || *p == '\n' || *p == '\r' || *p == ' ')
			continue;
		const char *c = strchr(tbl, *p);
		if (!c) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)(c - tbl);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (char)((acc >> bits) & 0xff);
		}
	}
	*o = '\0';
	return out;
}

static char *rel_path(const char *base_dir, const char *p)
{
	char *out;
	if (p[0] == '/' || !base_dir)
		return strdup(p);
	return asprintf(&out, "%s/%s", base_dir, p) < 0 ? NULL : out;
}

static struct kapi_config *load_kubeconfig(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: %s", path, strerror(errno));
		return NULL;
	}
	yaml_parser_t p;
	yaml_document_t d;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	if (!yaml_parser_load(&p, &d)) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s:%zu: syntax error: %s", path,
		       p.problem_mark.line + 1, p.problem ? p.problem : "?");
		yaml_parser_delete(&p);
		fclose(f);
		return NULL;
	}
	yaml_parser_delete(&p);
	fclose(f);

	struct kapi_config *c = calloc(1, sizeof(*c));
	char *dir_copy = strdup(path);
	const char *dir = dir_copy ? dirname(dir_copy) : NULL;
	yaml_node_t *root = yaml_document_get_root_node(&d);
	const char *ctx_name = ystr(&d, root, "current-context"), *v;
	yaml_node_t *ctx, *cluster, *user;
	const char *cl_name, *user_name;
	if (!c)
		goto fail;
	if (!ctx_name || !*ctx_name) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: current-context: not set", path);
		goto fail;
	}
	if (!(ctx = ynamed(&d, root, "contexts", ctx_name, "context"))) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: contexts: no context named \"%s\" (current-context)",
		       path, ctx_name);
		goto fail;
	}
	cl_name = ystr(&d, ctx, "cluster");
	user_name = ystr(&d, ctx, "user");
	if (!cl_name || !(cluster = ynamed(&d, root, "clusters", cl_name, "cluster"))) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: clusters: no cluster named \"%s\" (context %s)",
		       path, cl_name ? cl_name : "", ctx_name);
		goto fail;
	}
	if (!(v = ystr(&d, cluster, "server")) || strncmp(v, "https://", 8)) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: clusters[%s].cluster.server: %s (allowed: an https:// URL)",
		       path, cl_name, v ? v : "missing");
		goto fail;
	}
	c->server = strdup(v);
	if (c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	if ((v = ystr(&d, cluster, "certificate-authority-data")) && !(c->ca_data = b64_decode(v))) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: clusters[%s].cluster.certificate-authority-data: not base64",
		       path, cl_name);
		goto fail;
	}
	if ((v = ystr(&d, cluster, "certificate-authority")))
		c->ca_file = rel_path(dir, v);
	if ((v = ystr(&d, cluster, "insecure-skip-tls-verify")))
		c->insecure = !strcmp(v, "true");
	user = user_name ? ynamed(&d, root, "users", user_name, "user") : NULL;
	if (user_name && !user) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: users: no user named \"%s\" (context %s)", path,
		       user_name, ctx_name);
		goto fail;
	}
	if ((v = ystr(&d, user, "token")))
		c->token = strdup(v);
	if ((v = ystr(&d, user, "tokenFile")))
		c->token_file = rel_path(dir, v);
	if ((v = ystr(&d, user, "client-certificate")))
		c->cert_file = rel_path(dir, v);
	if ((v = ystr(&d, user, "client-key")))
		c->key_file = rel_path(dir, v);
	if ((v = ystr(&d, user, "client-certificate-data")) && !(c->cert_data = b64_decode(v))) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: users[%s].user.client-certificate-data: not base64",
		       path, user_name);
		goto fail;
	}
	if ((v = ystr(&d, user, "client-key-data")) && !(c->key_data = b64_decode(v))) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: users[%s].user.client-key-data: not base64",
		       path, user_name);
		goto fail;
	}
	if ((c->cert_file || c->cert_data) != (c->key_file || c->key_data)) {
		ag_log(AG_ERROR, "kapi", "kubeconfig %s: users[%s].user: a client certificate needs its key and the other way round",
		       path, user_name);
		goto fail;
	}
	if (asprintf(&c->source, "kubeconfig %s (context %s)", path, ctx_name) < 0)
		c->source = NULL;
	free(dir_copy);
	yaml_document_delete(&d);
	return c;
fail:
	free(dir_copy);
	yaml_document_delete(&d);
	kapi_config_free(c);
	return NULL;
}

static struct kapi_config *load_in_cluster(void)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !*host || !port || !*port) {
		ag_log(AG_ERROR, "kapi", "in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (or give --kubeconfig)");
		return NULL;
	}
	if (access(SA_DIR "/token", R_OK) < 0) {
		ag_log(AG_ERROR, "kapi", "in-cluster configuration: %s/token: %s (is a service account mounted?)",
		       SA_DIR, strerror(errno));
		return NULL;
	}
	struct kapi_config *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	bool v6 = strchr(host, ':') != NULL;
	if (asprintf(&c->server, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) < 0 ||
	    !(c->token_file = strdup(SA_DIR "/token")) || !(c->ca_file = strdup(SA_DIR "/ca.crt")) ||
	    !(c->source = strdup("in-cluster service account"))) {
		kapi_config_free(c);
		return NULL;
	}
	return c;
}

struct kapi_config *kapi_config_load(const char *kubeconfig)
{
	struct kapi_config *c = kubeconfig ? load_kubeconfig(kubeconfig) : load_in_cluster();
	if (c)
		ag_log(AG_INFO, "kapi", "API server %s from %s", c->server, c->source);
	return c;
}

/* ---------------------------------------------------------------------- */
/* One kind's list/watch loop                                              */

struct watcher {
	struct ag_queue *q;
	const struct kapi_config *cfg;
	const struct kapi_options *opt;
	enum ag_kind kind;
	CURL *curl;
	char *token;          /* current bearer token */
	struct timespec token_mtime;
	char errbuf[CURL_ERROR_SIZE];
	/* response */
	long status;
	char *body;
	size_t len, cap;
	bool streaming;       /* watch: lines are events */
	/* watch state */
	char rv[64];
	enum { WS_OK, WS_GONE, WS_DECODE, WS_ABORT } wstate;
	unsigned n_events;
	bool bookmarks;       /* the server has sent a BOOKMARK on this watch's kind */
	unsigned quiet_stalls; /* stalls of a quiet watch from a server without bookmarks */
	unsigned failures;
	unsigned decode_failures; /* in a row, at the same resourceVersion */
	char decode_rv[64];
};

static const char *kname(const struct watcher *w)
{
	return ag_kinds[w->kind].kind;
}

static void load_token(struct watcher *w, bool force)
{
	if (!w->cfg->token_file) {
		if (!w->token && w->cfg->token)
			w->token = strdup(w->cfg->token);
		return;
	}
	struct stat st;
	if (stat(w->cfg->token_file, &st) < 0) {
		ag_log(AG_ERROR, "kapi", "token file %s: %s", w->cfg->token_file, strerror(errno));
		return;
	}
	if (!force && w->token && st.st_mtim.tv_sec == w->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == w->token_mtime.tv_nsec)
		return;
	FILE *f = fopen(w->cfg->token_file, "r");
	char buf[8192];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (w->token && strcmp(w->token, buf))
		ag_log(AG_INFO, "kapi", "%s: token file %s changed; using the new token", kname(w),
		       w->cfg->token_file);
	free(w->token);
	w->token = strdup(buf);
	w->token_mtime = st.st_mtim;
}

static void push_event(struct watcher *w, struct ag_event *ev)
{
	ev->t_ns = ag_now_ns();
	ag_queue_push(w->q, ev);
}

struct decode_report {
	const struct watcher *w;
	bool bad;
};

static void decode_report(void *arg, const char *msg)
{
	struct decode_report *r = arg;
	r->bad = true;
	ag_log(AG_WARN, "kapi", "rejected: %s", msg);
	atomic_fetch_add(&ag_m.rejected[r->w->kind], 1);
}

/* What one object's load put in cl -> an ag_obj of our kind, or NULL
 * (logged: by the loader when r->bad, else here). */
static struct ag_obj *take_object(struct watcher *w, struct k8s_cluster *cl,
				  const struct decode_report *r, const char *where)
{
	const struct ag_kind_info *ki = &ag_kinds[w->kind];
	struct ag_obj **objs = NULL;
	unsigned n = 0;
	if (ag_objs_from_cluster(cl, &objs, &n) || n != 1 || objs[0]->kind != w->kind) {
		if (!r->bad && n == 0) {
			ag_log(AG_WARN, "kapi", "%s: a %s event carried no %s object", where, ki->kind,
			       ki->kind);
			atomic_fetch_add(&ag_m.rejected[w->kind], 1);
		}
		for (unsigned i = 0; i < n; i++)
			ag_obj_free(objs[i]);
		free(objs);
		return NULL;
	}
	struct ag_obj *o = objs[0];
	free(objs);
	return o;
}

/* One API object (JSON) -> an ag_obj of our kind, or NULL (logged). */
static struct ag_obj *decode_object(struct watcher *w, json_t *obj, const char *where)
{
	const struct ag_kind_info *ki = &ag_kinds[w->kind];
	if (!json_object_get(obj, "kind"))
		json_object_set_new(obj, "kind", json_string(ki->kind));
	if (!json_object_get(obj, "apiVersion"))
		json_object_set_new(obj, "apiVersion", json_string(ki->api_version));
	struct k8s_cluster cl = {0};
	struct decode_report r = {.w = w};
	k8s_load_json(where, obj, &cl, decode_report, &r);
	return take_object(w, &cl, &r, where);
}

/* The cache key of an object with that namespace and name (NULL: none). */
static char *make_key(const char *ns, const char *name, bool namespaced)
{
	char *key;
	if (!name)
		return NULL;
	if (namespaced ? asprintf(&key, "%s/%s", ns ? ns : "default", name) < 0
		       : asprintf(&key, "%s", name) < 0)
		return NULL;
	return key;
}

static char *object_key(json_t *obj, bool namespaced)
{
	json_t *meta = json_object_get(obj, "metadata");
	return make_key(json_string_value(json_object_get(meta, "namespace")),
			json_string_value(json_object_get(meta, "name")), namespaced);
}

static void set_rv(struct watcher *w, json_t *obj)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (rv && *rv)
		snprintf(w->rv, sizeof(w->rv), "%s", rv);
}

/* One watch event line. */
static void handle_event(struct watcher *w, const char *line, size_t len)
{
	const struct ag_kind_info *ki = &ag_kinds[w->kind];
	json_error_t err;
	json_t *ev = json_loadb(line, len, 0, &err);
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *obj = json_object_get(ev, "object");
	if (!ev || !type || !json_is_object(obj)) {
		ag_log(AG_WARN, "kapi", "watch %s: undecodable event (%s): %.120s", ki->path,
		       ev ? "no type or object" : err.text, line);
		atomic_fetch_add(&ag_m.errors_decode[w->kind], 1);
		w->wstate = WS_DECODE;
		json_decref(ev);
		return;
	}
	char where[160];
	snprintf(where, sizeof(where), "watch %s", ki->path);
	if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
		struct ag_obj *o = decode_object(w, obj, where);
		struct ag_event *e = calloc(1, sizeof(*e));
		if (e && o) {
			e->type = AG_EV_UPSERT;
			e->kind = w->kind;
			e->objs = malloc(sizeof(*e->objs));
			if (e->objs) {
				e->objs[0] = o;
				e->n_objs = 1;
				o = NULL;
			}
		} else if (e) {
			e->type = AG_EV_REJECT;
			e->kind = w->kind;
			e->key = object_key(obj, ki->namespaced);
		}
		ag_obj_free(o);
		if (e)
			push_event(w, e);
		set_rv(w, obj);
		w->n_events++;
	} else if (!strcmp(type, "DELETED")) {
		struct ag_event *e = calloc(1, sizeof(*e));
		if (e && (e->key = object_key(obj, ki->namespaced))) {
			e->type = AG_EV_DELETE;
			e->kind = w->kind;
			push_event(w, e);
		} else {
			ag_event_free(e);
		}
		set_rv(w, obj);
		w->n_events++;
	} else if (!strcmp(type, "BOOKMARK")) {
		set_rv(w, obj);
		w->bookmarks = true;
	} else if (!strcmp(type, "ERROR")) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));
		const char *msg = json_string_value(json_object_get(obj, "message"));
		if (code == 410) {
			ag_log(AG_INFO, "kapi", "watch %s: resourceVersion %s is gone (%s): relisting",
			       ki->path, w->rv, msg ? msg : "410");
			w->wstate = WS_GONE;
		} else {
			ag_log(AG_WARN, "kapi", "watch %s: ERROR event %lld: %s", ki->path,
			       (long long)code, msg ? msg : "");
			atomic_fetch_add(&ag_m.errors_http[w->kind], 1);
			w->wstate = WS_ABORT;
		}
	} else {
		ag_log(AG_WARN, "kapi", "watch %s: unknown event type %s", ki->path, type);
		atomic_fetch_add(&ag_m.errors_decode[w->kind], 1);
	}
	json_decref(ev);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watcher *w = arg;
	size_t n = size * nmemb;
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 65536;
		while (cap < w->len + n + 1)
			cap *= 2;
		char *b = realloc(w->body, cap);
		if (!b)
			return 0;
		w->body = b;
		w->cap = cap;
	}
	memcpy(w->body + w->len, data, n);
	w->len += n;
	w->body[w->len] = '\0';
	if (!w->streaming || w->status != 200)
		return n;
	/* Complete lines are events. */
	size_t off = 0;
	for (;;) {
		char *nl = memchr(w->body + off, '\n', w->len - off);
		if (!nl)
			break;
		size_t ll = (size_t)(nl - (w->body + off));
		if (ll)
			handle_event(w, w->body + off, ll);
		off += ll + 1;
		if (w->wstate != WS_OK)
			return 0; /* abort the transfer */
	}
	memmove(w->body, w->body + off, w->len - off);
	w->len -= off;
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct watcher *w = arg;
	if (!strncmp(data, "HTTP/", 5)) {
		const char *sp = memchr(data, ' ', size * nmemb);
		if (sp)
			w->status = strtol(sp + 1, NULL, 10);
	}
	return size * nmemb;
}

static void setup_curl(struct watcher *w)
{
	const struct kapi_config *c = w->cfg;
	CURL *h = w->curl;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, w->errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "nsdp-agent/0.1");
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_data) {
		struct curl_blob b = {.data = c->ca_data, .len = strlen(c->ca_data),
				      .flags = CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->cert_file)
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file)
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
	if (c->cert_data) {
		struct curl_blob b = {.data = c->cert_data, .len = strlen(c->cert_data),
				      .flags = CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (c->key_data) {
		struct curl_blob b = {.data = c->key_data, .len = strlen(c->key_data),
				      .flags = CURL_BLOB_COPY};
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

/* GET url. Returns curl's code; w->status and w->body hold the response
 * (for a watch, what is left of an incomplete line). */
static CURLcode get(struct watcher *w, const char *url, bool watch)
{
	load_token(w, false);
	struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
	char auth[8300];
	if (w->token && *w->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", w->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(w->curl, CURLOPT_URL, url);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hdrs);
	if (watch) {
		curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, 0L);
		curl_easy_setopt(w->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(w->curl, CURLOPT_LOW_SPEED_TIME,
				 (long)ceil(w->opt->stall_timeout_s));
	} else {
		curl_easy_setopt(w->curl, CURLOPT_TIMEOUT, 120L);
		curl_easy_setopt(w->curl, CURLOPT_LOW_SPEED_LIMIT, 0L);
	}
	w->status = 0;
	w->len = 0;
	w->streaming = watch;
	w->wstate = WS_OK;
	w->errbuf[0] = '\0';
	CURLcode rc = curl_easy_perform(w->curl);
	curl_slist_free_all(hdrs);
	return rc;
}

/* A non-2xx answer: log it the way an operator needs it, count it. */
static void http_error(struct watcher *w, const char *verb)
{
	const struct ag_kind_info *ki = &ag_kinds[w->kind];
	json_t *st = w->body ? json_loadb(w->body, w->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(st, "message"));
	char shown[300];
	snprintf(shown, sizeof(shown), "%s", msg ? msg : (w->len ? w->body : ""));
	switch (w->status) {
	case 401:
		atomic_fetch_add(&ag_m.errors_auth[w->kind], 1);
		ag_log(AG_ERROR, "kapi", "%s %s: 401 Unauthorized: the API server rejected the agent's credentials%s",
		       verb, ki->path,
		       w->cfg->token_file ? "; re-reading the token file" : "");
		load_token(w, true);
		break;
	case 403:
		atomic_fetch_add(&ag_m.errors_forbidden[w->kind], 1);
		ag_log(AG_ERROR, "kapi", "%s %s: 403 Forbidden: RBAC does not allow the agent to %s %s in API group \"%s\" (grant get, list, watch on it: deploy/rbac.yaml): %s",
		       verb, ki->path, verb, ki->resource, ki->group, shown);
		break;
	default:
		atomic_fetch_add(&ag_m.errors_http[w->kind], 1);
		ag_log(AG_WARN, "kapi", "%s %s: HTTP %ld: %s", verb, ki->path, w->status, shown);
		break;
	}
	json_decref(st);
}

static void backoff(struct watcher *w)
{
	double d = 0.2 * pow(2, w->failures < 10 ? w->failures : 10);
	if (d > w->opt->backoff_max_s)
		d = w->opt->backoff_max_s;
	d *= 0.5 + (double)rand() / RAND_MAX; /* jitter: 0.5x .. 1.5x */
	w->failures++;
	usleep((useconds_t)(d * 1e6));
}

struct list_page {
	struct watcher *w;
	struct ag_event *ev;
	const char *where;
	unsigned *cap; /* of ev->objs */
	struct decode_report r;
};

/* One list item, loaded: into the event, or (rejected) its key into the
 * event's keep list, so the cache keeps its last good version. */
static int list_item(void *arg, struct k8s_cluster *cl, const char *ns, const char *name)
{
	struct list_page *lp = arg;
	struct ag_event *ev = lp->ev;
	struct ag_obj *o = take_object(lp->w, cl, &lp->r, lp->where);
	lp->r.bad = false;
	if (!o) {
		char *key = make_key(ns, name, ag_kinds[lp->w->kind].namespaced);
		int rc = key ? ag_event_keep(ev, lp->w->kind, key) : 0;
		free(key);
		return rc;
	}
	if (ev->n_objs == *lp->cap) {
		unsigned cap = *lp->cap ? 2 * *lp->cap : 512;
		struct ag_obj **a = realloc(ev->objs, cap * sizeof(*a));
		if (!a) {
			ag_obj_free(o);
			return -ENOMEM;
		}
		ev->objs = a;
		*lp->cap = cap;
	}
	ev->objs[ev->n_objs++] = o;
	return 0;
}

/* List every page. 0: a REPLACE event was pushed and w->rv set. */
static int list(struct watcher *w)
{
	const struct ag_kind_info *ki = &ag_kinds[w->kind];
	struct ag_event *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->type = AG_EV_REPLACE;
	ev->kind = w->kind;
	char cont[1024] = "", rv[64] = "";
	char where[160];
	unsigned cap = 0;
	snprintf(where, sizeof(where), "list %s", ki->path);
	do {
		char url[2048];
		char *esc = cont[0] ? curl_easy_escape(w->curl, cont, 0) : NULL;
		snprintf(url, sizeof(url), "%s%s?limit=%u%s%s", w->cfg->server, ki->path,
			 w->opt->page_size, esc ? "&continue=" : "", esc ? esc : "");
		curl_free(esc);
		CURLcode rc = get(w, url, false);
		if (rc != CURLE_OK) {
			atomic_fetch_add(&ag_m.errors_conn[w->kind], 1);
			ag_log(AG_WARN, "kapi", "list %s: %s", ki->path,
			       w->errbuf[0] ? w->errbuf : curl_easy_strerror(rc));
			goto fail;
		}
		if (w->status == 410) {
			/* the continue token expired: start over */
			ag_log(AG_INFO, "kapi", "list %s: continue token expired, listing again",
			       ki->path);
			ag_event_free(ev);
			return -EAGAIN;
		}
		if (w->status == 404 && ki->group[0] && !strcmp(ki->group, "policy.networking.k8s.io")) {
			/* The AdminNetworkPolicy CRDs are not installed: none exist.
			 * Listed again later, in case they are installed. */
			ag_event_free(ev);
			return -ENODEV;
		}
		if (w->status != 200) {
			http_error(w, "list");
			goto fail;
		}
		struct list_page lp = {.w = w, .ev = ev, .where = where, .cap = &cap, .r = {.w = w}};
		struct k8s_api_list page;
		int lrc = k8s_load_api_list(where, w->body, w->len, ki->kind, ki->api_version,
					    list_item, &lp, decode_report, &lp.r, &page);
		if (lrc == -EINVAL) {
			atomic_fetch_add(&ag_m.errors_decode[w->kind], 1);
			ag_log(AG_WARN, "kapi", "list %s: not a list (%s)", ki->path, page.err);
			goto fail;
		}
		if (lrc)
			goto fail;
		snprintf(cont, sizeof(cont), "%s", page.cont);
		snprintf(rv, sizeof(rv), "%s", page.rv);
	} while (cont[0]);
	snprintf(w->rv, sizeof(w->rv), "%s", rv);
	ag_log(AG_INFO, "kapi", "listed %u %s at resourceVersion %s", ev->n_objs, ki->resource,
	       rv);
	push_event(w, ev);
	return 0;
fail:
	ag_event_free(ev);
	return -EIO;
}

/* Watch from w->rv until the stream ends. Returns what happened. */
static int watch(struct watcher *w)
{
	const struct ag_kind_info *ki = &ag_kinds[w->kind];
	char url[2048];
	/* A server-side timeout makes the watch end cleanly now and then
	 * (client-go does the same), spread so watches do not restart
	 * together. */
	unsigned timeout = 300 + (unsigned)(rand() % 300);
	snprintf(url, sizeof(url),
		 "%s%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
		 w->cfg->server, ki->path, w->rv, timeout);
	w->n_events = 0;
	uint64_t t0 = ag_now_ns();
	CURLcode rc = get(w, url, true);
	double lasted = (double)(ag_now_ns() - t0) / 1e9;
	if (w->status == 410) {
		ag_log(AG_INFO, "kapi", "watch %s: HTTP 410: resourceVersion %s is gone: relisting",
		       ki->path, w->rv);
		return -ENOENT;
	}
	if (w->status && w->status != 200) {
		http_error(w, "watch");
		return -EIO;
	}
	switch (w->wstate) {
	case WS_GONE:
		return -ENOENT;
	case WS_DECODE:
		return -EBADMSG;
	case WS_ABORT:
		return -EIO;
	case WS_OK:
		break;
	}
	atomic_fetch_add(&ag_m.watch_restarts[w->kind], 1);
	if (rc == CURLE_OK) {
		if (w->len)
			ag_log(AG_WARN, "kapi", "watch %s: stream ended inside an event (%zu bytes)",
			       ki->path, w->len);
		ag_log(AG_DEBUG, "kapi", "watch %s ended after %.1f s, %u events", ki->path, lasted,
		       w->n_events);
		return w->len ? -EPIPE : 0;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT && !w->bookmarks && !w->len) {
		/* Silence from a server that sends no bookmarks: a resource
		 * nobody changes looks the same as a dead stream. Not an
		 * error; said once at INFO, then at DEBUG. */
		ag_log(w->quiet_stalls++ ? AG_DEBUG : AG_INFO, "kapi",
		       "watch %s: stalled: no event for %.0f s and this server sends no bookmarks "
		       "(a quiet resource); resuming from resourceVersion %s",
		       ki->path, lasted, w->rv);
		return -EAGAIN;
	}
	atomic_fetch_add(&ag_m.errors_conn[w->kind], 1);
	ag_log(AG_WARN, "kapi", "watch %s: %s after %.1f s and %u events; resuming from resourceVersion %s",
	       ki->path, rc == CURLE_OPERATION_TIMEDOUT ? "stalled" : (w->errbuf[0] ? w->errbuf : curl_easy_strerror(rc)),
	       lasted, w->n_events, w->rv);
	return lasted > 10 || w->n_events ? -EAGAIN : -EIO;
}

static void *watch_thread(void *arg)
{
	struct watcher *w = arg;
	bool listed = false;
	for (;;) {
		if (!w->rv[0]) {
			int rc = list(w);
			if (rc == -EAGAIN)
				continue;
			if (rc == -ENODEV) {
				struct ag_event *ev = calloc(1, sizeof(*ev));
				if (ev) {
					ev->type = AG_EV_REPLACE;
					ev->kind = w->kind;
					push_event(w, ev);
				}
				if (!listed)
					ag_log(AG_WARN, "kapi", "%s: 404: the CRD is not installed; treating it as none and checking again every 30 s",
					       ag_kinds[w->kind].path);
				if (!listed)
					ag_queue_synced(w->q, 1u << w->kind);
				listed = true;
				sleep(30);
				continue;
			}
			if (rc) {
				backoff(w);
				continue;
			}
			if (!listed)
				ag_queue_synced(w->q, 1u << w->kind);
			else
				atomic_fetch_add(&ag_m.relists[w->kind], 1);
			listed = true;
			w->failures = 0;
		}
		int rc = watch(w);
		switch (rc) {
		case 0:
			w->failures = 0;
			break;
		case -ENOENT: /* 410 Gone */
			w->rv[0] = '\0';
			break;
		case -EAGAIN: /* worked for a while, then broke: retry soon */
			w->failures = 0;
			backoff(w);
			break;
		case -EBADMSG: /* resume from the last good event ... */
			atomic_fetch_add(&ag_m.watch_restarts[w->kind], 1);
			if (strcmp(w->decode_rv, w->rv)) {
				snprintf(w->decode_rv, sizeof(w->decode_rv), "%s", w->rv);
				w->decode_failures = 0;
			}
			/* ... unless it fails there again and again: list afresh */
			if (++w->decode_failures >= 3) {
				ag_log(AG_WARN, "kapi", "watch %s: undecodable 3 times from resourceVersion %s: relisting",
				       ag_kinds[w->kind].path, w->rv);
				w->rv[0] = '\0';
				w->decode_failures = 0;
			}
			backoff(w);
			break;
		default:
			backoff(w);
			break;
		}
	}
	return NULL;
}

int kapi_start(struct ag_queue *q, struct kapi_config *cfg, const struct kapi_options *opt)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -EIO;
	for (int k = 0; k < AG_N_KINDS; k++) {
		struct watcher *w = calloc(1, sizeof(*w));
		if (!w || !(w->curl = curl_easy_init()))
			return -ENOMEM;
		w->q = q;
		w->cfg = cfg;
		w->opt = opt;
		w->kind = (enum ag_kind)k;
		setup_curl(w);
		pthread_t t;
		int rc = pthread_create(&t, NULL, watch_thread, w);
		if (rc)
			return -rc;
		char name[16]; /* top -H: "watch-Pod", ... (15 characters at most) */
		snprintf(name, sizeof(name), "watch-%s", ag_kinds[k].kind);
		pthread_setname_np(t, name);
		pthread_detach(t);
	}
	return 0;
}
