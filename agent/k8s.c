/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes manifest loader (see k8s.h for the object model).
 *
 * Two stages. libyaml's event parser builds a small generic tree per
 * document (map / list / scalar, each node with its line); JSON goes through
 * the same parser, being YAML flow syntax. The tree is then converted object
 * by object into the k8s_* structs, validating as the API server (or, for
 * the policy.networking.k8s.io CRDs, their OpenAPI schema) would.
 *
 * Errors: the first problem found in an object is reported once as
 *   FILE:LINE: KIND NS/NAME: FIELD.PATH: what is wrong (allowed: ...)
 * (NS/ omitted for cluster-scoped kinds) and the object is skipped; the rest
 * keeps loading. A YAML syntax error rejects the rest of its file.
 *
 * Readings of the API that a reviewer may want to check:
 *  - YAML null (`from:`, `from: null`, `~`) is the same as a missing field,
 *    as Go's JSON decoder makes it; `[]` and `{}` are present and empty.
 *    A null list item (`- ` alone) decodes as a zero struct, i.e. `{}`.
 *  - Scalars are untyped in libyaml: plain scalars are taken as strings
 *    where a string is wanted (label value `a: 1` is "1"); an integer field
 *    wants a plain decimal scalar ("80" in quotes is a string, as in JSON).
 *  - In the policy objects' spec (NetworkPolicy, ANP, BANP) unknown fields
 *    are rejected, like `kubectl apply --validate=strict`: a typo such as
 *    `namespaceselector` would otherwise silently widen a rule. Pods and
 *    Namespaces carry many fields nsdp does not read; those are ignored.
 *  - IPv6 pod IPs are skipped (no IPv6 dataplane yet); an IPv6 CIDR in a
 *    policy is rejected, since dropping a peer would widen or narrow it.
 *  - ANP `nodes` egress peers are rejected as not supported.
 *  - ANP portRange: the API text is "the Start value must be less than End"
 *    and "the End value must be greater than Start": end > start, strictly.
 *  - A list item's kind: items of `kind: List` must carry their kind; items
 *    of `kind: FooList` (raw API list responses) default to kind Foo and the
 *    list's apiVersion.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "k8s.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <yaml.h>

/* ---------------------------------------------------------------------- */
/* The generic YAML tree                                                   */

enum yn_type { YN_SCALAR, YN_SEQ, YN_MAP };

struct yn {
	enum yn_type type;
	bool plain;       /* scalar: plain style, untagged (may be null/int) */
	unsigned line;    /* 1-based */
	char *s;          /* scalar text, NUL-terminated */
	size_t len;
	unsigned n;       /* seq: items; map: pairs */
	unsigned cap;     /* allocated entries of kids */
	struct yn **kids; /* seq: items; map: key0, value0, key1, value1, ... */
	char *anchor;     /* collection: anchor, registered when it closes */
	uint64_t weight;  /* nodes in the subtree, aliases expanded */
	struct yn *all;   /* arena chain of the document */
};

#define YN_MAX_DEPTH 256
/*
 * Aliases may expand a document beyond the nodes it holds (the "billion
 * laughs"); conversion walks expanded trees, so the expansion is bounded.
 */
#define YN_MAX_ALIAS_EXPANSION 1000000

struct anchor {
	char *name;
	struct yn *node;
};

/*
 * Nodes and scalar texts come from a bump allocator: a document is
 * thousands of small pieces freed all at once (with malloc per piece,
 * decoding a large API list was mostly malloc). kids and anchors, which
 * grow, stay on the heap.
 */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};
#define CHUNK_BYTES (64u << 10)

/* Builds one document's tree from libyaml events. */
struct builder {
	struct chunk *chunks;
	struct yn *arena;
	struct yn *root;
	struct yn *stack[YN_MAX_DEPTH];
	unsigned depth;
	struct anchor *anchors;
	unsigned n_anchors, cap_anchors;
	uint64_t real; /* nodes allocated */
};

static void *b_alloc(struct builder *b, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	struct chunk *c = b->chunks;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = b->chunks;
		c->used = 0;
		c->cap = cap;
		b->chunks = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

/* A NUL-terminated copy of s[0..len) in the builder's memory. */
static char *b_strndup(struct builder *b, const char *s, size_t len)
{
	char *d = b_alloc(b, len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

static void builder_reset(struct builder *b)
{
	struct yn *n = b->arena;
	while (n) {
		struct yn *next = n->all;
		free(n->kids);
		free(n->anchor);
		n = next;
	}
	for (struct chunk *c = b->chunks, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	for (unsigned i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	free(b->anchors);
	memset(b, 0, sizeof(*b));
}

static struct yn *yn_new(struct builder *b, enum yn_type type, const yaml_mark_t *mark)
{
	struct yn *n = b_alloc(b, sizeof(*n));
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->line = (unsigned)mark->line + 1;
	n->weight = 1;
	b->real++;
	n->all = b->arena;
	b->arena = n;
	return n;
}

/* Entries currently stored in a collection's kids array. */
static unsigned yn_used(const struct yn *c, bool pending_key)
{
	return c->type == YN_MAP ? 2 * c->n + (pending_key ? 1 : 0) : c->n;
}

static bool anchor_add(struct builder *b, const char *name, struct yn *node)
{
	if (b->n_anchors == b->cap_anchors) {
		unsigned cap = b->cap_anchors ? 2 * b->cap_anchors : 8;
		struct anchor *a = realloc(b->anchors, cap * sizeof(*a));
		if (!a)
			return false;
		b->anchors = a;
		b->cap_anchors = cap;
	}
	char *dup = strdup(name);
	if (!dup)
		return false;
	b->anchors[b->n_anchors].name = dup;
	b->anchors[b->n_anchors].node = node;
	b->n_anchors++;
	return true;
}

static struct yn *anchor_find(const struct builder *b, const char *name)
{
	for (unsigned i = b->n_anchors; i-- > 0;)
		if (!strcmp(b->anchors[i].name, name))
			return b->anchors[i].node;
	return NULL;
}

/*
 * Maps hold keys and values alternately; pending[] tells, per open map,
 * whether a key is waiting for its value.
 */
struct build_state {
	struct builder b;
	bool pending[YN_MAX_DEPTH];
};

/* Adds a closed subtree's weight to its parent; false when over the bound. */
static bool add_weight(struct builder *b, const struct yn *node)
{
	if (!b->depth)
		return true;
	struct yn *p = b->stack[b->depth - 1];
	p->weight += node->weight;
	return p->weight <= b->real + YN_MAX_ALIAS_EXPANSION;
}

static int attach(struct build_state *st, struct yn *node)
{
	struct builder *b = &st->b;
	if (!b->depth) {
		b->root = node;
		return 0;
	}
	struct yn *p = b->stack[b->depth - 1];
	bool *pend = &st->pending[b->depth - 1];
	unsigned used = yn_used(p, *pend);
	if (used == p->cap) {
		unsigned cap = p->cap ? 2 * p->cap : 8;
		struct yn **k = realloc(p->kids, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		p->kids = k;
		p->cap = cap;
	}
	p->kids[used] = node;
	if (p->type == YN_SEQ) {
		p->n++;
	} else if (!*pend) {
		*pend = true;
	} else {
		*pend = false;
		p->n++;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Loader state, reporting                                                 */

struct seen {
	char *key;       /* "Kind ns/name" */
	const char *src; /* owned by the object in the cluster, may be NULL */
};

struct loader {
	struct k8s_cluster *cl;
	k8s_report_fn report;
	void *arg;
	int rc;
	struct seen *tab; /* open addressing, power-of-two size */
	size_t cap, used;
};

static void ld_error(struct loader *ld, int err)
{
	if (!ld->rc || (ld->rc == -EINVAL && err != -EINVAL))
		ld->rc = err;
}

static void ld_report(struct loader *ld, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void ld_report(struct loader *ld, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ld->report)
		ld->report(ld->arg, msg);
	ld_error(ld, err);
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct seen *seen_find(struct loader *ld, const char *key)
{
	if (!ld->cap)
		return NULL;
	for (size_t i = hash_str(key) & (ld->cap - 1);; i = (i + 1) & (ld->cap - 1)) {
		if (!ld->tab[i].key)
			return NULL;
		if (!strcmp(ld->tab[i].key, key))
			return &ld->tab[i];
	}
}

/* Takes ownership of key. */
static int seen_add(struct loader *ld, char *key, const char *src)
{
	if (2 * (ld->used + 1) > ld->cap) {
		size_t cap = ld->cap ? 2 * ld->cap : 64;
		struct seen *tab = calloc(cap, sizeof(*tab));
		if (!tab) {
			free(key);
			return -ENOMEM;
		}
		for (size_t i = 0; i < ld->cap; i++) {
			if (!ld->tab[i].key)
				continue;
			size_t j = hash_str(ld->tab[i].key) & (cap - 1);
			while (tab[j].key)
				j = (j + 1) & (cap - 1);
			tab[j] = ld->tab[i];
		}
		free(ld->tab);
		ld->tab = tab;
		ld->cap = cap;
	}
	size_t j = hash_str(key) & (ld->cap - 1);
	while (ld->tab[j].key)
		j = (j + 1) & (ld->cap - 1);
	ld->tab[j].key = key;
	ld->tab[j].src = src;
	ld->used++;
	return 0;
}

static char *seen_key(const char *kind, const char *ns, const char *name)
{
	char *key;
	if (asprintf(&key, "%s %s/%s", kind, ns ? ns : "", name ? name : "") < 0)
		return NULL;
	return key;
}

static int loader_init(struct loader *ld, struct k8s_cluster *cl, k8s_report_fn report,
		       void *arg)
{
	memset(ld, 0, sizeof(*ld));
	ld->cl = cl;
	ld->report = report;
	ld->arg = arg;
	for (unsigned i = 0; i < cl->n_namespaces; i++) {
		char *k = seen_key("Namespace", NULL, cl->namespaces[i].name);
		if (!k || seen_add(ld, k, cl->namespaces[i].src))
			return -ENOMEM;
	}
	for (unsigned i = 0; i < cl->n_pods; i++) {
		char *k = seen_key("Pod", cl->pods[i].ns, cl->pods[i].name);
		if (!k || seen_add(ld, k, cl->pods[i].src))
			return -ENOMEM;
	}
	for (unsigned i = 0; i < cl->n_netpols; i++) {
		char *k = seen_key("NetworkPolicy", cl->netpols[i].ns, cl->netpols[i].name);
		if (!k || seen_add(ld, k, cl->netpols[i].src))
			return -ENOMEM;
	}
	for (unsigned i = 0; i < cl->n_anps; i++) {
		const struct k8s_anp *a = &cl->anps[i];
		char *k = seen_key(a->baseline ? "BaselineAdminNetworkPolicy" : "AdminNetworkPolicy",
				   NULL, a->name);
		if (!k || seen_add(ld, k, a->src))
			return -ENOMEM;
	}
	for (unsigned i = 0; i < cl->n_nodes; i++) {
		char *k = seen_key("Node", NULL, cl->nodes[i].name);
		if (!k || seen_add(ld, k, cl->nodes[i].src))
			return -ENOMEM;
	}
	return 0;
}

static void loader_fini(struct loader *ld)
{
	for (size_t i = 0; i < ld->cap; i++)
		free(ld->tab[i].key);
	free(ld->tab);
	ld->tab = NULL;
	ld->cap = ld->used = 0;
}

/* ---------------------------------------------------------------------- */
/* Conversion context: one object                                          */

struct cv {
	struct loader *ld;
	const char *file;
	unsigned line;  /* the object's */
	char what[600]; /* "Kind ns/name" */
	char path[512];
	size_t plen;
	char qbuf[4][160];
	unsigned qnext;
};

static int fail(struct cv *c, const struct yn *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct cv *c, const struct yn *at, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	unsigned line = at ? at->line : c->line;
	ld_report(c->ld, -EINVAL, "%s:%u: %s%s%s%s%s", c->file, line, c->what,
		  c->what[0] ? ": " : "", c->path, c->plen ? ": " : "", why);
	return -EINVAL;
}

static size_t path_key(struct cv *c, const char *key)
{
	size_t old = c->plen;
	int n = snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old ? "." : "", key);
	if (n > 0)
		c->plen = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
	return old;
}

static size_t path_idx(struct cv *c, unsigned i)
{
	size_t old = c->plen;
	int n = snprintf(c->path + old, sizeof(c->path) - old, "[%u]", i);
	if (n > 0)
		c->plen = old + (size_t)n < sizeof(c->path) ? old + (size_t)n : sizeof(c->path) - 1;
	return old;
}

static void path_pop(struct cv *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* User text for a message: control bytes and quotes escaped, long text cut. */
static void escape_into(char *buf, size_t max, const char *s)
{
	size_t o = 0;
	for (; *s && o < max - 8; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\')
			o += (size_t)snprintf(buf + o, max - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	if (*s) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

/* The same, in double quotes. */
static void quote_into(char *buf, size_t max, const char *s)
{
	buf[0] = '"';
	escape_into(buf + 1, max - 2, s);
	strcat(buf, "\"");
}

static const char *quote(struct cv *c, const char *s)
{
	char *buf = c->qbuf[c->qnext++ % 4];
	quote_into(buf, sizeof(c->qbuf[0]), s);
	return buf;
}

static const char *describe(struct cv *c, const struct yn *n)
{
	static const char prefix[] = "the string ";
	if (n->type == YN_MAP)
		return "a map";
	if (n->type == YN_SEQ)
		return "a list";
	if (n->plain)
		return quote(c, n->s);
	char *buf = c->qbuf[c->qnext++ % 4];
	memcpy(buf, prefix, sizeof(prefix) - 1);
	quote_into(buf + sizeof(prefix) - 1, sizeof(c->qbuf[0]) - sizeof(prefix) + 1, n->s);
	return buf;
}

static void *zalloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

static bool is_null(const struct yn *n)
{
	return n->type == YN_SCALAR && n->plain &&
	       (n->len == 0 || !strcmp(n->s, "~") || !strcmp(n->s, "null") ||
		!strcmp(n->s, "Null") || !strcmp(n->s, "NULL"));
}

/* map[key]; NULL when the key is absent or its value is null. */
static const struct yn *get(const struct yn *map, const char *key)
{
	if (!map || map->type != YN_MAP)
		return NULL;
	for (unsigned i = 0; i < map->n; i++) {
		const struct yn *k = map->kids[2 * i];
		if (k->type == YN_SCALAR && !strcmp(k->s, key)) {
			const struct yn *v = map->kids[2 * i + 1];
			return is_null(v) ? NULL : v;
		}
	}
	return NULL;
}

static bool has_key(const struct yn *map, const char *key)
{
	for (unsigned i = 0; i < map->n; i++)
		if (map->kids[2 * i]->type == YN_SCALAR && !strcmp(map->kids[2 * i]->s, key))
			return true;
	return false;
}

/*
 * A map nsdp reads: repeated keys are refused (go-yaml, behind kubectl,
 * refuses them too). Checked here rather than while parsing so that big maps
 * of objects nsdp skips cost nothing.
 */
static int want_map(struct cv *c, const struct yn *n)
{
	if (n->type != YN_MAP)
		return fail(c, n, "expected a map, got %s", describe(c, n));
	for (unsigned i = 1; i < n->n; i++) {
		const struct yn *k = n->kids[2 * i];
		if (k->type != YN_SCALAR)
			continue;
		for (unsigned j = 0; j < i; j++) {
			const struct yn *f = n->kids[2 * j];
			if (f->type == YN_SCALAR && f->len == k->len && !memcmp(f->s, k->s, k->len))
				return fail(c, k, "duplicate key %s (first at line %u)", quote(c, k->s),
					    f->line);
		}
	}
	return 0;
}

static int want_seq(struct cv *c, const struct yn *n)
{
	if (n->type != YN_SEQ)
		return fail(c, n, "expected a list, got %s", describe(c, n));
	return 0;
}

static int want_str(struct cv *c, const struct yn *n)
{
	if (n->type != YN_SCALAR)
		return fail(c, n, "expected a string, got %s", describe(c, n));
	if (strlen(n->s) != n->len)
		return fail(c, n, "contains a NUL character");
	return 0;
}

static int check_keys(struct cv *c, const struct yn *map, const char *const *allowed)
{
	for (unsigned i = 0; i < map->n; i++) {
		const struct yn *k = map->kids[2 * i];
		if (k->type != YN_SCALAR)
			return fail(c, k, "field names must be strings, got %s", describe(c, k));
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok = ok || !strcmp(*a, k->s);
		if (ok)
			continue;
		char list[256] = "";
		size_t o = 0;
		for (const char *const *a = allowed; *a; a++)
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? ", " : "", *a);
		path_key(c, k->s);
		return fail(c, k, "unknown field (allowed: %s)", list);
	}
	return 0;
}

static int required(struct cv *c, const struct yn *map, const char *key, const struct yn **out)
{
	*out = get(map, key);
	if (*out)
		return 0;
	path_key(c, key);
	return fail(c, map, "required field missing");
}

/* Decimal only; a leading zero is refused (YAML 1.1 would read 010 as octal). */
static bool int_syntax(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int want_int(struct cv *c, const struct yn *n, long lo, long hi, long *out)
{
	if (n->type != YN_SCALAR || !n->plain || !int_syntax(n->s))
		return fail(c, n, "expected an integer, got %s", describe(c, n));
	errno = 0;
	long v = strtol(n->s, NULL, 10);
	if (errno || v < lo || v > hi)
		return fail(c, n, "%s is out of range (allowed: %ld-%ld)", n->s, lo, hi);
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Syntax of names, labels, ports, addresses                               */

static bool lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool alnum(char ch)
{
	return lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

/* RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
static bool is_dns_label(const char *s, size_t len)
{
	if (!len || len > 63 || !lower_alnum(s[0]) || !lower_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* RFC 1123 subdomain: labels joined by '.', at most 253. */
static bool is_dns_subdomain(const char *s, size_t len)
{
	if (!len || len > 253)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		size_t l = i - start;
		if (!l || !lower_alnum(s[start]) || !lower_alnum(s[i - 1]))
			return false;
		for (size_t j = start; j < i; j++)
			if (!lower_alnum(s[j]) && s[j] != '-')
				return false;
		start = i + 1;
	}
	return true;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63. */
static bool is_label_token(const char *s, size_t len)
{
	if (!len || len > 63 || !alnum(s[0]) || !alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

#define NAME_RULE "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

/* Label key (a qualified name): NULL when valid, else why not. */
static const char *check_label_key(const char *s)
{
	const char *slash = strchr(s, '/');
	const char *name = s;
	if (slash) {
		if (strchr(slash + 1, '/'))
			return "must be a name with an optional DNS subdomain prefix and '/'";
		if (!is_dns_subdomain(s, (size_t)(slash - s)))
			return "prefix must be a DNS subdomain (at most 253 lowercase letters, digits, '-' and '.')";
		name = slash + 1;
	}
	if (!*name)
		return "name part must not be empty";
	if (strlen(name) > 63)
		return "name part must be at most 63 characters";
	if (!is_label_token(name, strlen(name)))
		return "name part must be " NAME_RULE;
	return NULL;
}

static const char *check_label_value(const char *s)
{
	size_t len = strlen(s);
	if (!len)
		return NULL;
	if (len > 63)
		return "must be at most 63 characters";
	if (!is_label_token(s, len))
		return "must be empty or " NAME_RULE;
	return NULL;
}

/* IANA_SVC_NAME (RFC 6335): 1-15 [a-z0-9-], a letter, no '-' at the ends or doubled. */
static bool is_port_name(const char *s)
{
	size_t len = strlen(s);
	bool letter = false;
	if (!len || len > 15 || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
		letter = letter || (s[i] >= 'a' && s[i] <= 'z');
	}
	return letter;
}

#define PORT_NAME_RULE \
	"allowed: 1-15 lowercase letters, digits and '-', at least one letter, no leading, trailing or double '-'"

static bool parse_ipv4(const char *s, uint32_t *addr)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*addr = a.s_addr;
	return true;
}

static bool is_ipv6(const char *s)
{
	struct in6_addr a;
	return strchr(s, ':') && inet_pton(AF_INET6, s, &a) == 1;
}

/* 0: IPv4 CIDR (host bits cleared); 1: valid IPv6 CIDR; -1: invalid. */
static int parse_cidr(const char *s, struct k8s_cidr *out)
{
	const char *slash = strchr(s, '/');
	char addr[64];
	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return -1;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	const char *p = slash + 1;
	size_t plen = strlen(p);
	if (!plen || plen > 3 || (p[0] == '0' && plen > 1))
		return -1;
	unsigned len = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		len = len * 10 + (unsigned)(*p - '0');
	}
	if (strchr(addr, ':'))
		return is_ipv6(addr) && len <= 128 ? 1 : -1;
	uint32_t a;
	if (!parse_ipv4(addr, &a) || len > 32)
		return -1;
	uint32_t mask = len ? htonl(~0u << (32 - len)) : 0;
	out->addr = a & mask;
	out->len = (uint8_t)len;
	return 0;
}

static bool cidr_contains(const struct k8s_cidr *outer, const struct k8s_cidr *inner)
{
	uint32_t mask = outer->len ? htonl(~0u << (32 - outer->len)) : 0;
	return inner->len >= outer->len && (inner->addr & mask) == outer->addr;
}

static int want_cidr(struct cv *c, const struct yn *n, struct k8s_cidr *out)
{
	int rc = want_str(c, n);
	if (rc)
		return rc;
	switch (parse_cidr(n->s, out)) {
	case 0:
		return 0;
	case 1:
		return fail(c, n, "IPv6 CIDR %s is not supported yet (allowed: IPv4 a.b.c.d/0-32)",
			    quote(c, n->s));
	default:
		return fail(c, n, "invalid CIDR %s (allowed: IPv4 a.b.c.d/0-32)", quote(c, n->s));
	}
}

static int want_proto(struct cv *c, const struct yn *n, uint8_t *proto)
{
	int rc = want_str(c, n);
	if (rc)
		return rc;
	if (!strcmp(n->s, "TCP"))
		*proto = K8S_PROTO_TCP;
	else if (!strcmp(n->s, "UDP"))
		*proto = K8S_PROTO_UDP;
	else if (!strcmp(n->s, "SCTP"))
		*proto = K8S_PROTO_SCTP;
	else
		return fail(c, n, "invalid protocol %s (allowed: TCP, UDP, SCTP)", quote(c, n->s));
	return 0;
}

static int want_port_name(struct cv *c, const struct yn *n, char **out)
{
	int rc = want_str(c, n);
	if (rc)
		return rc;
	if (!is_port_name(n->s))
		return fail(c, n, "invalid port name %s (" PORT_NAME_RULE ")", quote(c, n->s));
	*out = strdup(n->s);
	return *out ? 0 : -ENOMEM;
}

/* ---------------------------------------------------------------------- */
/* Freeing (every function accepts partially built, zeroed structs)        */

static void free_labels(struct k8s_labels *l)
{
	for (unsigned i = 0; i < l->n; i++) {
		free(l->kv[i].key);
		free(l->kv[i].value);
	}
	free(l->kv);
	memset(l, 0, sizeof(*l));
}

static void free_selector(struct k8s_selector *s)
{
	free_labels(&s->match_labels);
	for (unsigned i = 0; i < s->n_exprs; i++) {
		struct k8s_sel_req *r = &s->exprs[i];
		free(r->key);
		for (unsigned j = 0; j < r->n_values; j++)
			free(r->values[j]);
		free(r->values);
	}
	free(s->exprs);
	memset(s, 0, sizeof(*s));
}

static void free_namespace(struct k8s_namespace *ns)
{
	free(ns->name);
	free(ns->src);
	free_labels(&ns->labels);
}

static void free_pod(struct k8s_pod *p)
{
	free(p->ns);
	free(p->name);
	free(p->src);
	free_labels(&p->labels);
	free(p->node);
	free(p->ips);
	for (unsigned i = 0; i < p->n_ports; i++)
		free(p->ports[i].name);
	free(p->ports);
}

static void free_np_rules(struct k8s_np_rule *rules, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct k8s_np_rule *r = &rules[i];
		for (unsigned j = 0; j < r->n_ports; j++)
			free(r->ports[j].name);
		free(r->ports);
		for (unsigned j = 0; j < r->n_peers; j++) {
			free_selector(&r->peers[j].pod_sel);
			free_selector(&r->peers[j].ns_sel);
			free(r->peers[j].except);
		}
		free(r->peers);
	}
	free(rules);
}

static void free_netpol(struct k8s_netpol *np)
{
	free(np->ns);
	free(np->name);
	free(np->src);
	free_selector(&np->pod_sel);
	free_np_rules(np->ingress_rules, np->n_ingress);
	free_np_rules(np->egress_rules, np->n_egress);
}

static void free_anp_peer(struct k8s_anp_peer *p)
{
	free_selector(&p->ns_sel);
	free_selector(&p->pod_sel);
	free(p->networks);
}

static void free_anp_rules(struct k8s_anp_rule *rules, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct k8s_anp_rule *r = &rules[i];
		free(r->name);
		for (unsigned j = 0; j < r->n_peers; j++)
			free_anp_peer(&r->peers[j]);
		free(r->peers);
		for (unsigned j = 0; j < r->n_ports; j++)
			free(r->ports[j].name);
		free(r->ports);
	}
	free(rules);
}

static void free_anp(struct k8s_anp *a)
{
	free(a->name);
	free(a->src);
	free_anp_peer(&a->subject);
	free_anp_rules(a->ingress_rules, a->n_ingress);
	free_anp_rules(a->egress_rules, a->n_egress);
}

static void free_node(struct k8s_node *n)
{
	free(n->name);
	free(n->src);
	free(n->pod_cidrs);
}

void k8s_cluster_counts(const struct k8s_cluster *cl, struct k8s_counts *out)
{
	out->n_namespaces = cl->n_namespaces;
	out->n_pods = cl->n_pods;
	out->n_netpols = cl->n_netpols;
	out->n_anps = cl->n_anps;
	out->n_nodes = cl->n_nodes;
}

void k8s_cluster_truncate(struct k8s_cluster *cl, const struct k8s_counts *keep)
{
	while (cl->n_namespaces > keep->n_namespaces)
		free_namespace(&cl->namespaces[--cl->n_namespaces]);
	while (cl->n_pods > keep->n_pods)
		free_pod(&cl->pods[--cl->n_pods]);
	while (cl->n_netpols > keep->n_netpols)
		free_netpol(&cl->netpols[--cl->n_netpols]);
	while (cl->n_anps > keep->n_anps)
		free_anp(&cl->anps[--cl->n_anps]);
	while (cl->n_nodes > keep->n_nodes)
		free_node(&cl->nodes[--cl->n_nodes]);
}

void k8s_cluster_free(struct k8s_cluster *cl)
{
	if (!cl)
		return;
	for (unsigned i = 0; i < cl->n_namespaces; i++)
		free_namespace(&cl->namespaces[i]);
	for (unsigned i = 0; i < cl->n_pods; i++)
		free_pod(&cl->pods[i]);
	for (unsigned i = 0; i < cl->n_netpols; i++)
		free_netpol(&cl->netpols[i]);
	for (unsigned i = 0; i < cl->n_anps; i++)
		free_anp(&cl->anps[i]);
	for (unsigned i = 0; i < cl->n_nodes; i++)
		free_node(&cl->nodes[i]);
	free(cl->nodes);
	free(cl->namespaces);
	free(cl->pods);
	free(cl->netpols);
	free(cl->anps);
	memset(cl, 0, sizeof(*cl));
}

/* ---------------------------------------------------------------------- */
/* Labels and selectors                                                    */

static int conv_labels(struct cv *c, const struct yn *n, struct k8s_labels *out)
{
	int rc = want_map(c, n);
	if (rc)
		return rc;
	if (!n->n)
		return 0;
	out->kv = zalloc(n->n, sizeof(*out->kv));
	if (!out->kv)
		return -ENOMEM;
	for (unsigned i = 0; i < n->n; i++) {
		const struct yn *k = n->kids[2 * i], *v = n->kids[2 * i + 1];
		if ((rc = want_str(c, k)))
			return rc;
		const char *why = check_label_key(k->s);
		if (why)
			return fail(c, k, "invalid key %s: %s", quote(c, k->s), why);
		size_t m = path_key(c, k->s);
		const char *val = "";
		if (!is_null(v)) {
			if ((rc = want_str(c, v)))
				return rc;
			val = v->s;
			if ((why = check_label_value(val)))
				return fail(c, v, "invalid value %s: %s", quote(c, val), why);
		}
		path_pop(c, m);
		struct k8s_label *l = &out->kv[out->n++];
		if (!(l->key = strdup(k->s)) || !(l->value = strdup(val)))
			return -ENOMEM;
	}
	return 0;
}

static int conv_sel_req(struct cv *c, const struct yn *n, struct k8s_sel_req *r)
{
	static const char *const keys[] = {"key", "operator", "values", NULL};
	const struct yn *v;
	int rc;
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, keys)))
		return rc;

	if ((rc = required(c, n, "key", &v)))
		return rc;
	size_t m = path_key(c, "key");
	if ((rc = want_str(c, v)))
		return rc;
	const char *why = check_label_key(v->s);
	if (why)
		return fail(c, v, "invalid label key %s: %s", quote(c, v->s), why);
	if (!(r->key = strdup(v->s)))
		return -ENOMEM;
	path_pop(c, m);

	if ((rc = required(c, n, "operator", &v)))
		return rc;
	m = path_key(c, "operator");
	if ((rc = want_str(c, v)))
		return rc;
	if (!strcmp(v->s, "In"))
		r->op = K8S_SEL_IN;
	else if (!strcmp(v->s, "NotIn"))
		r->op = K8S_SEL_NOT_IN;
	else if (!strcmp(v->s, "Exists"))
		r->op = K8S_SEL_EXISTS;
	else if (!strcmp(v->s, "DoesNotExist"))
		r->op = K8S_SEL_DOES_NOT_EXIST;
	else
		return fail(c, v, "unknown operator %s (allowed: In, NotIn, Exists, DoesNotExist)",
			    quote(c, v->s));
	path_pop(c, m);

	const struct yn *op = v;
	bool need_values = r->op == K8S_SEL_IN || r->op == K8S_SEL_NOT_IN;
	v = get(n, "values");
	m = path_key(c, "values");
	if (v && (rc = want_seq(c, v)))
		return rc;
	unsigned nv = v ? v->n : 0;
	if (need_values && !nv)
		return fail(c, v ? v : n, "must be non-empty when operator is %s", op->s);
	if (!need_values && nv)
		return fail(c, v, "must be empty when operator is %s", op->s);
	if (nv) {
		if (!(r->values = zalloc(nv, sizeof(*r->values))))
			return -ENOMEM;
		for (unsigned i = 0; i < nv; i++) {
			const struct yn *e = v->kids[i];
			size_t mi = path_idx(c, i);
			if ((rc = want_str(c, e)))
				return rc;
			if ((why = check_label_value(e->s)))
				return fail(c, e, "invalid value %s: %s", quote(c, e->s), why);
			if (!(r->values[r->n_values++] = strdup(e->s)))
				return -ENOMEM;
			path_pop(c, mi);
		}
	}
	path_pop(c, m);
	return 0;
}

static int conv_selector(struct cv *c, const struct yn *n, struct k8s_selector *sel)
{
	static const char *const keys[] = {"matchLabels", "matchExpressions", NULL};
	int rc;
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, keys)))
		return rc;
	sel->present = true;
	const struct yn *v = get(n, "matchLabels");
	if (v) {
		size_t m = path_key(c, "matchLabels");
		if ((rc = conv_labels(c, v, &sel->match_labels)))
			return rc;
		path_pop(c, m);
	}
	v = get(n, "matchExpressions");
	if (v) {
		size_t m = path_key(c, "matchExpressions");
		if ((rc = want_seq(c, v)))
			return rc;
		if (v->n && !(sel->exprs = zalloc(v->n, sizeof(*sel->exprs))))
			return -ENOMEM;
		for (unsigned i = 0; i < v->n; i++) {
			size_t mi = path_idx(c, i);
			if ((rc = conv_sel_req(c, v->kids[i], &sel->exprs[sel->n_exprs++])))
				return rc;
			path_pop(c, mi);
		}
		path_pop(c, m);
	}
	return 0;
}

/* Optional selector field: absent or null leaves sel->present false. */
static int opt_selector(struct cv *c, const struct yn *map, const char *key,
			struct k8s_selector *sel)
{
	const struct yn *v = get(map, key);
	if (!v)
		return 0;
	size_t m = path_key(c, key);
	int rc = conv_selector(c, v, sel);
	if (!rc)
		path_pop(c, m);
	return rc;
}

static int req_selector(struct cv *c, const struct yn *map, const char *key,
			struct k8s_selector *sel)
{
	const struct yn *v;
	int rc = required(c, map, key, &v);
	if (rc)
		return rc;
	return opt_selector(c, map, key, sel);
}

/* ---------------------------------------------------------------------- */
/* metadata                                                                */

enum name_rule { NAME_DNS_LABEL, NAME_DNS_SUBDOMAIN };

static int conv_meta(struct cv *c, const struct yn *obj, bool namespaced, enum name_rule rule,
		     char **ns, char **name, struct k8s_labels *labels)
{
	const struct yn *meta, *v;
	int rc;
	if ((rc = required(c, obj, "metadata", &meta)))
		return rc;
	size_t m = path_key(c, "metadata");
	if ((rc = want_map(c, meta)))
		return rc;

	if ((rc = required(c, meta, "name", &v)))
		return rc;
	size_t mn = path_key(c, "name");
	if ((rc = want_str(c, v)))
		return rc;
	if (rule == NAME_DNS_LABEL && !is_dns_label(v->s, v->len))
		return fail(c, v, "%s is not a valid DNS label (allowed: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)",
			    quote(c, v->s));
	if (rule == NAME_DNS_SUBDOMAIN && !is_dns_subdomain(v->s, v->len))
		return fail(c, v, "%s is not a valid DNS subdomain (allowed: at most 253 lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit)",
			    quote(c, v->s));
	if (!(*name = strdup(v->s)))
		return -ENOMEM;
	path_pop(c, mn);

	if (namespaced) {
		const char *nsname = "default";
		v = get(meta, "namespace");
		if (v) {
			mn = path_key(c, "namespace");
			if ((rc = want_str(c, v)))
				return rc;
			if (!is_dns_label(v->s, v->len))
				return fail(c, v, "%s is not a valid namespace name (allowed: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)",
					    quote(c, v->s));
			nsname = v->s;
			path_pop(c, mn);
		}
		if (!(*ns = strdup(nsname)))
			return -ENOMEM;
	}

	if (labels && (v = get(meta, "labels"))) {
		mn = path_key(c, "labels");
		if ((rc = conv_labels(c, v, labels)))
			return rc;
		path_pop(c, mn);
	}
	path_pop(c, m);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Namespace, Pod                                                          */

/* metadata.annotations["nsdp.io/policy-mode"]: "enforce" or "audit". */
static int conv_policy_mode(struct cv *c, const struct yn *obj, uint8_t *mode)
{
	const struct yn *v = get(get(get(obj, "metadata"), "annotations"),
				 K8S_ANNOTATION_POLICY_MODE);
	int rc;
	if (!v)
		return 0;
	size_t m = path_key(c, "metadata");
	path_key(c, "annotations");
	path_key(c, K8S_ANNOTATION_POLICY_MODE);
	if ((rc = want_str(c, v)))
		return rc;
	if (!strcmp(v->s, "enforce"))
		*mode = K8S_MODE_ENFORCE;
	else if (!strcmp(v->s, "audit"))
		*mode = K8S_MODE_AUDIT;
	else
		return fail(c, v, "invalid policy mode %s (allowed: enforce, audit)", quote(c, v->s));
	path_pop(c, m);
	return 0;
}

static int conv_namespace(struct cv *c, const struct yn *obj, struct k8s_namespace *ns)
{
	int rc = conv_meta(c, obj, false, NAME_DNS_LABEL, NULL, &ns->name, &ns->labels);
	return rc ? rc : conv_policy_mode(c, obj, &ns->mode);
}

static int pod_add_ip(struct k8s_pod *p, uint32_t ip)
{
	for (unsigned i = 0; i < p->n_ips; i++)
		if (p->ips[i] == ip)
			return 0;
	uint32_t *ips = realloc(p->ips, (p->n_ips + 1) * sizeof(*ips));
	if (!ips)
		return -ENOMEM;
	p->ips = ips;
	p->ips[p->n_ips++] = ip;
	return 0;
}

static int conv_pod_ip(struct cv *c, const struct yn *v, struct k8s_pod *p)
{
	uint32_t ip;
	int rc = want_str(c, v);
	if (rc)
		return rc;
	if (parse_ipv4(v->s, &ip))
		return pod_add_ip(p, ip);
	if (is_ipv6(v->s))
		return 0; /* no IPv6 dataplane yet */
	return fail(c, v, "invalid IP address %s", quote(c, v->s));
}

static int conv_container_ports(struct cv *c, const struct yn *n, struct k8s_pod *p)
{
	int rc;
	if ((rc = want_seq(c, n)))
		return rc;
	if (!n->n)
		return 0;
	struct k8s_container_port *ports = realloc(p->ports, (p->n_ports + n->n) * sizeof(*ports));
	if (!ports)
		return -ENOMEM;
	p->ports = ports;
	unsigned first = p->n_ports;
	for (unsigned i = 0; i < n->n; i++) {
		const struct yn *e = n->kids[i], *v;
		size_t m = path_idx(c, i);
		struct k8s_container_port *cp = &p->ports[p->n_ports++];
		memset(cp, 0, sizeof(*cp));
		cp->proto = K8S_PROTO_TCP;
		if (is_null(e))
			return fail(c, e, "containerPort: required field missing");
		if ((rc = want_map(c, e)))
			return rc;
		long port;
		if ((rc = required(c, e, "containerPort", &v)))
			return rc;
		size_t mf = path_key(c, "containerPort");
		if ((rc = want_int(c, v, 1, 65535, &port)))
			return rc;
		cp->port = (uint16_t)port;
		path_pop(c, mf);
		if ((v = get(e, "protocol"))) {
			mf = path_key(c, "protocol");
			if ((rc = want_proto(c, v, &cp->proto)))
				return rc;
			path_pop(c, mf);
		}
		if ((v = get(e, "name"))) {
			mf = path_key(c, "name");
			if ((rc = want_port_name(c, v, &cp->name)))
				return rc;
			for (unsigned j = first; j + 1 < p->n_ports; j++)
				if (p->ports[j].name && !strcmp(p->ports[j].name, cp->name))
					return fail(c, v, "duplicate port name %s", quote(c, cp->name));
			path_pop(c, mf);
		}
		path_pop(c, m);
	}
	return 0;
}

static int conv_pod(struct cv *c, const struct yn *obj, struct k8s_pod *p)
{
	const struct yn *spec, *status, *v;
	int rc = conv_meta(c, obj, true, NAME_DNS_SUBDOMAIN, &p->ns, &p->name, &p->labels);
	if (rc)
		return rc;

	if ((spec = get(obj, "spec"))) {
		size_t m = path_key(c, "spec");
		if ((rc = want_map(c, spec)))
			return rc;
		if ((v = get(spec, "nodeName"))) {
			size_t mf = path_key(c, "nodeName");
			if ((rc = want_str(c, v)))
				return rc;
			if (!is_dns_subdomain(v->s, v->len))
				return fail(c, v, "%s is not a valid node name (allowed: a DNS subdomain)",
					    quote(c, v->s));
			if (!(p->node = strdup(v->s)))
				return -ENOMEM;
			path_pop(c, mf);
		}
		if ((v = get(spec, "containers"))) {
			size_t mf = path_key(c, "containers");
			if ((rc = want_seq(c, v)))
				return rc;
			for (unsigned i = 0; i < v->n; i++) {
				const struct yn *ctr = v->kids[i], *ports;
				size_t mi = path_idx(c, i);
				if ((rc = want_map(c, ctr)))
					return rc;
				if ((ports = get(ctr, "ports"))) {
					size_t mp = path_key(c, "ports");
					if ((rc = conv_container_ports(c, ports, p)))
						return rc;
					path_pop(c, mp);
				}
				path_pop(c, mi);
			}
			path_pop(c, mf);
		}
		path_pop(c, m);
	}

	if ((status = get(obj, "status"))) {
		size_t m = path_key(c, "status");
		if ((rc = want_map(c, status)))
			return rc;
		if ((v = get(status, "podIP"))) {
			size_t mf = path_key(c, "podIP");
			if ((rc = conv_pod_ip(c, v, p)))
				return rc;
			path_pop(c, mf);
		}
		if ((v = get(status, "podIPs"))) {
			size_t mf = path_key(c, "podIPs");
			if ((rc = want_seq(c, v)))
				return rc;
			for (unsigned i = 0; i < v->n; i++) {
				const struct yn *e = v->kids[i], *ip;
				size_t mi = path_idx(c, i);
				if ((rc = want_map(c, e)) || (rc = required(c, e, "ip", &ip)))
					return rc;
				size_t mk = path_key(c, "ip");
				if ((rc = conv_pod_ip(c, ip, p)))
					return rc;
				path_pop(c, mk);
				path_pop(c, mi);
			}
			path_pop(c, mf);
		}
		path_pop(c, m);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* NetworkPolicy                                                           */

static int conv_ip_block(struct cv *c, const struct yn *n, struct k8s_np_peer *p)
{
	static const char *const keys[] = {"cidr", "except", NULL};
	const struct yn *v;
	int rc;
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, keys)))
		return rc;
	if ((rc = required(c, n, "cidr", &v)))
		return rc;
	size_t m = path_key(c, "cidr");
	if ((rc = want_cidr(c, v, &p->cidr)))
		return rc;
	path_pop(c, m);
	const struct yn *cidr = v;
	p->has_ip_block = true;

	if (!(v = get(n, "except")))
		return 0;
	m = path_key(c, "except");
	if ((rc = want_seq(c, v)))
		return rc;
	if (v->n && !(p->except = zalloc(v->n, sizeof(*p->except))))
		return -ENOMEM;
	for (unsigned i = 0; i < v->n; i++) {
		const struct yn *e = v->kids[i];
		struct k8s_cidr *x = &p->except[p->n_except];
		size_t mi = path_idx(c, i);
		if ((rc = want_cidr(c, e, x)))
			return rc;
		if (!cidr_contains(&p->cidr, x) || x->len <= p->cidr.len)
			return fail(c, e, "%s is not a strict subset of cidr %s", quote(c, e->s),
				    quote(c, cidr->s));
		p->n_except++;
		path_pop(c, mi);
	}
	path_pop(c, m);
	return 0;
}

static int conv_np_peer(struct cv *c, const struct yn *n, struct k8s_np_peer *p)
{
	static const char *const keys[] = {"podSelector", "namespaceSelector", "ipBlock", NULL};
	int rc;
	if (is_null(n))
		return fail(c, n, "empty peer (allowed: podSelector and/or namespaceSelector, or ipBlock)");
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, keys)))
		return rc;
	const struct yn *ps = get(n, "podSelector"), *ns = get(n, "namespaceSelector"),
			*ib = get(n, "ipBlock");
	if (!ps && !ns && !ib)
		return fail(c, n, "empty peer (allowed: podSelector and/or namespaceSelector, or ipBlock)");
	if (ib && (ps || ns))
		return fail(c, n, "ipBlock cannot be combined with podSelector or namespaceSelector");
	if ((rc = opt_selector(c, n, "podSelector", &p->pod_sel)) ||
	    (rc = opt_selector(c, n, "namespaceSelector", &p->ns_sel)))
		return rc;
	if (ib) {
		size_t m = path_key(c, "ipBlock");
		if ((rc = conv_ip_block(c, ib, p)))
			return rc;
		path_pop(c, m);
	}
	return 0;
}

static int conv_np_port(struct cv *c, const struct yn *n, struct k8s_np_port *p)
{
	static const char *const keys[] = {"protocol", "port", "endPort", NULL};
	const struct yn *v;
	int rc;
	p->proto = K8S_PROTO_TCP;
	if (is_null(n))
		return 0;
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, keys)))
		return rc;
	if ((v = get(n, "protocol"))) {
		size_t m = path_key(c, "protocol");
		if ((rc = want_proto(c, v, &p->proto)))
			return rc;
		path_pop(c, m);
	}
	if ((v = get(n, "port"))) {
		size_t m = path_key(c, "port");
		if (v->type == YN_SCALAR && v->plain && int_syntax(v->s)) {
			long port;
			if ((rc = want_int(c, v, 1, 65535, &port)))
				return rc;
			p->port = (uint16_t)port;
		} else if (v->type == YN_SCALAR) {
			if ((rc = want_port_name(c, v, &p->name)))
				return rc;
			p->named = true;
		} else {
			return fail(c, v, "expected a port number or name, got %s", describe(c, v));
		}
		p->has_port = true;
		path_pop(c, m);
	}
	if ((v = get(n, "endPort"))) {
		size_t m = path_key(c, "endPort");
		long end;
		if (!p->has_port || p->named)
			return fail(c, v, "endPort requires a numeric port");
		if ((rc = want_int(c, v, 1, 65535, &end)))
			return rc;
		if (end < p->port)
			return fail(c, v, "endPort %ld is less than port %u", end, p->port);
		p->has_end = true;
		p->end_port = (uint16_t)end;
		path_pop(c, m);
	}
	return 0;
}

static int conv_np_rule(struct cv *c, const struct yn *n, bool ingress, struct k8s_np_rule *r)
{
	static const char *const in_keys[] = {"from", "ports", NULL};
	static const char *const eg_keys[] = {"to", "ports", NULL};
	const char *peers_key = ingress ? "from" : "to";
	const struct yn *v;
	int rc;
	if (is_null(n))
		return 0; /* `- ` decodes as {}: all peers, all ports */
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, ingress ? in_keys : eg_keys)))
		return rc;

	if ((v = get(n, "ports"))) {
		size_t m = path_key(c, "ports");
		if ((rc = want_seq(c, v)))
			return rc;
		r->has_ports = true;
		if (v->n && !(r->ports = zalloc(v->n, sizeof(*r->ports))))
			return -ENOMEM;
		for (unsigned i = 0; i < v->n; i++) {
			size_t mi = path_idx(c, i);
			if ((rc = conv_np_port(c, v->kids[i], &r->ports[r->n_ports++])))
				return rc;
			path_pop(c, mi);
		}
		path_pop(c, m);
	}
	if ((v = get(n, peers_key))) {
		size_t m = path_key(c, peers_key);
		if ((rc = want_seq(c, v)))
			return rc;
		r->has_peers = true;
		if (v->n && !(r->peers = zalloc(v->n, sizeof(*r->peers))))
			return -ENOMEM;
		for (unsigned i = 0; i < v->n; i++) {
			size_t mi = path_idx(c, i);
			if ((rc = conv_np_peer(c, v->kids[i], &r->peers[r->n_peers++])))
				return rc;
			path_pop(c, mi);
		}
		path_pop(c, m);
	}
	return 0;
}

static int conv_np_rules(struct cv *c, const struct yn *spec, bool ingress,
			 struct k8s_np_rule **rules, unsigned *n_rules)
{
	const char *key = ingress ? "ingress" : "egress";
	const struct yn *v = get(spec, key);
	int rc;
	if (!v)
		return 0;
	size_t m = path_key(c, key);
	if ((rc = want_seq(c, v)))
		return rc;
	if (v->n && !(*rules = zalloc(v->n, sizeof(**rules))))
		return -ENOMEM;
	for (unsigned i = 0; i < v->n; i++) {
		size_t mi = path_idx(c, i);
		if ((rc = conv_np_rule(c, v->kids[i], ingress, &(*rules)[(*n_rules)++])))
			return rc;
		path_pop(c, mi);
	}
	path_pop(c, m);
	return 0;
}

static int conv_netpol(struct cv *c, const struct yn *obj, struct k8s_netpol *np)
{
	static const char *const keys[] = {"podSelector", "policyTypes", "ingress", "egress", NULL};
	const struct yn *spec, *v;
	int rc;
	if ((rc = conv_meta(c, obj, true, NAME_DNS_SUBDOMAIN, &np->ns, &np->name, NULL)) ||
	    (rc = conv_policy_mode(c, obj, &np->mode)))
		return rc;
	if ((rc = required(c, obj, "spec", &spec)))
		return rc;
	path_key(c, "spec");
	if ((rc = want_map(c, spec)) || (rc = check_keys(c, spec, keys)))
		return rc;
	if (!get(spec, "podSelector")) {
		path_key(c, "podSelector");
		return fail(c, spec, "required field missing (use {} to select all pods)");
	}
	if ((rc = req_selector(c, spec, "podSelector", &np->pod_sel)))
		return rc;

	bool given = false;
	if ((v = get(spec, "policyTypes"))) {
		size_t m = path_key(c, "policyTypes");
		if ((rc = want_seq(c, v)))
			return rc;
		for (unsigned i = 0; i < v->n; i++) {
			const struct yn *t = v->kids[i];
			size_t mi = path_idx(c, i);
			bool *flag;
			if ((rc = want_str(c, t)))
				return rc;
			if (!strcmp(t->s, "Ingress"))
				flag = &np->ingress;
			else if (!strcmp(t->s, "Egress"))
				flag = &np->egress;
			else
				return fail(c, t, "invalid policy type %s (allowed: Ingress, Egress)",
					    quote(c, t->s));
			if (*flag)
				return fail(c, t, "duplicate policy type %s", quote(c, t->s));
			*flag = true;
			path_pop(c, mi);
		}
		given = v->n > 0;
		path_pop(c, m);
	}

	if ((rc = conv_np_rules(c, spec, true, &np->ingress_rules, &np->n_ingress)) ||
	    (rc = conv_np_rules(c, spec, false, &np->egress_rules, &np->n_egress)))
		return rc;

	/*
	 * API reference, NetworkPolicySpec.policyTypes: "If this field is not
	 * specified, it will default based on the existence of ingress or egress
	 * rules; policies that contain an egress section are assumed to affect
	 * egress, and all policies (whether or not they contain an ingress
	 * section) are assumed to affect ingress." The defaulting code
	 * (SetDefaults_NetworkPolicy) runs when len(policyTypes) == 0 and adds
	 * Egress when len(spec.egress) != 0: so `policyTypes: []` is inferred
	 * too, and `egress: []` (no rules) does not make an egress policy.
	 */
	if (!given) {
		np->ingress = true;
		np->egress = np->n_egress > 0;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* AdminNetworkPolicy, BaselineAdminNetworkPolicy                          */

enum anp_peer_use { ANP_SUBJECT, ANP_INGRESS_PEER, ANP_EGRESS_PEER };

static int conv_namespaced_pod(struct cv *c, const struct yn *n, struct k8s_anp_peer *p)
{
	static const char *const keys[] = {"namespaceSelector", "podSelector", NULL};
	int rc;
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, keys)))
		return rc;
	if ((rc = req_selector(c, n, "namespaceSelector", &p->ns_sel)) ||
	    (rc = req_selector(c, n, "podSelector", &p->pod_sel)))
		return rc;
	return 0;
}

static int conv_networks(struct cv *c, const struct yn *n, struct k8s_anp_peer *p)
{
	int rc;
	if ((rc = want_seq(c, n)))
		return rc;
	if (n->n < 1 || n->n > 25)
		return fail(c, n, "has %u entries (allowed: 1-25)", n->n);
	if (!(p->networks = zalloc(n->n, sizeof(*p->networks))))
		return -ENOMEM;
	for (unsigned i = 0; i < n->n; i++) {
		const struct yn *e = n->kids[i];
		size_t m = path_idx(c, i);
		if ((rc = want_cidr(c, e, &p->networks[i])))
			return rc;
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(n->kids[j]->s, e->s))
				return fail(c, e, "duplicate entry %s", quote(c, e->s));
		p->n_networks++;
		path_pop(c, m);
	}
	return 0;
}

static int conv_anp_peer(struct cv *c, const struct yn *n, enum anp_peer_use use,
			 struct k8s_anp_peer *p)
{
	static const char *const subj_keys[] = {"namespaces", "pods", NULL};
	static const char *const eg_keys[] = {"namespaces", "pods", "networks", "nodes", NULL};
	const char *const *keys = use == ANP_EGRESS_PEER ? eg_keys : subj_keys;
	const char *one_of = use == ANP_EGRESS_PEER ? "namespaces, pods, networks" : "namespaces, pods";
	int rc;
	if (is_null(n))
		return fail(c, n, "exactly one of %s must be set (got none)", one_of);
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, keys)))
		return rc;

	char set[128] = "";
	size_t o = 0;
	unsigned count = 0;
	for (const char *const *k = keys; *k; k++)
		if (get(n, *k)) {
			o += (size_t)snprintf(set + o, sizeof(set) - o, "%s%s", count ? " and " : "", *k);
			count++;
		}
	if (count != 1)
		return fail(c, n, "exactly one of %s must be set (got %s)", one_of,
			    count ? set : "none");

	const struct yn *v;
	if ((v = get(n, "nodes"))) {
		path_key(c, "nodes");
		return fail(c, v, "nodes peers are not supported (allowed: namespaces, pods, networks)");
	}
	if (get(n, "namespaces")) {
		p->kind = K8S_ANP_NAMESPACES;
		return opt_selector(c, n, "namespaces", &p->ns_sel);
	}
	if ((v = get(n, "pods"))) {
		size_t m = path_key(c, "pods");
		p->kind = K8S_ANP_PODS;
		if ((rc = conv_namespaced_pod(c, v, p)))
			return rc;
		path_pop(c, m);
		return 0;
	}
	v = get(n, "networks");
	size_t m = path_key(c, "networks");
	p->kind = K8S_ANP_NETWORKS;
	if ((rc = conv_networks(c, v, p)))
		return rc;
	path_pop(c, m);
	return 0;
}

static int conv_anp_port_body(struct cv *c, const struct yn *n, bool range, struct k8s_anp_port *p)
{
	static const char *const num_keys[] = {"protocol", "port", NULL};
	static const char *const range_keys[] = {"protocol", "start", "end", NULL};
	const struct yn *v;
	long x;
	int rc;
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, range ? range_keys : num_keys)))
		return rc;
	p->proto = K8S_PROTO_TCP;
	if ((v = get(n, "protocol"))) {
		size_t m = path_key(c, "protocol");
		if ((rc = want_proto(c, v, &p->proto)))
			return rc;
		path_pop(c, m);
	}
	if ((rc = required(c, n, range ? "start" : "port", &v)))
		return rc;
	size_t m = path_key(c, range ? "start" : "port");
	if ((rc = want_int(c, v, 1, 65535, &x)))
		return rc;
	p->port = (uint16_t)x;
	path_pop(c, m);
	if (!range)
		return 0;
	if ((rc = required(c, n, "end", &v)))
		return rc;
	m = path_key(c, "end");
	if ((rc = want_int(c, v, 1, 65535, &x)))
		return rc;
	if (x <= p->port)
		return fail(c, v, "end %ld must be greater than start %u", x, p->port);
	p->end = (uint16_t)x;
	path_pop(c, m);
	return 0;
}

static int conv_anp_port(struct cv *c, const struct yn *n, struct k8s_anp_port *p)
{
	static const char *const keys[] = {"portNumber", "namedPort", "portRange", NULL};
	int rc;
	if (is_null(n))
		return fail(c, n, "exactly one of portNumber, namedPort, portRange must be set (got none)");
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, keys)))
		return rc;
	const struct yn *num = get(n, "portNumber"), *named = get(n, "namedPort"),
			*range = get(n, "portRange");
	unsigned count = !!num + !!named + !!range;
	if (count != 1) {
		char set[96] = "";
		size_t o = 0;
		if (num)
			o += (size_t)snprintf(set + o, sizeof(set) - o, "portNumber");
		if (named)
			o += (size_t)snprintf(set + o, sizeof(set) - o, "%snamedPort", o ? " and " : "");
		if (range)
			o += (size_t)snprintf(set + o, sizeof(set) - o, "%sportRange", o ? " and " : "");
		return fail(c, n, "exactly one of portNumber, namedPort, portRange must be set (got %s)",
			    count ? set : "none");
	}
	size_t m;
	if (num) {
		m = path_key(c, "portNumber");
		p->kind = K8S_ANP_PORT_NUMBER;
		rc = conv_anp_port_body(c, num, false, p);
	} else if (range) {
		m = path_key(c, "portRange");
		p->kind = K8S_ANP_PORT_RANGE;
		rc = conv_anp_port_body(c, range, true, p);
	} else {
		m = path_key(c, "namedPort");
		p->kind = K8S_ANP_PORT_NAMED;
		rc = want_port_name(c, named, &p->name);
	}
	if (!rc)
		path_pop(c, m);
	return rc;
}

static int conv_anp_rule(struct cv *c, const struct yn *n, bool baseline, bool ingress,
			 struct k8s_anp_rule *r)
{
	static const char *const in_keys[] = {"name", "action", "from", "ports", NULL};
	static const char *const eg_keys[] = {"name", "action", "to", "ports", NULL};
	const char *peers_key = ingress ? "from" : "to";
	const struct yn *v;
	size_t m;
	int rc;
	if (is_null(n)) {
		path_key(c, "action");
		return fail(c, n, "required field missing");
	}
	if ((rc = want_map(c, n)) || (rc = check_keys(c, n, ingress ? in_keys : eg_keys)))
		return rc;

	if ((v = get(n, "name"))) {
		m = path_key(c, "name");
		if ((rc = want_str(c, v)))
			return rc;
		if (v->len > 100)
			return fail(c, v, "is %zu characters long (allowed: at most 100)", v->len);
		if (!(r->name = strdup(v->s)))
			return -ENOMEM;
		path_pop(c, m);
	}

	if ((rc = required(c, n, "action", &v)))
		return rc;
	m = path_key(c, "action");
	if ((rc = want_str(c, v)))
		return rc;
	if (!strcmp(v->s, "Allow"))
		r->action = K8S_ANP_ALLOW;
	else if (!strcmp(v->s, "Deny"))
		r->action = K8S_ANP_DENY;
	else if (!strcmp(v->s, "Pass") && !baseline)
		r->action = K8S_ANP_PASS;
	else
		return fail(c, v, "invalid action %s (allowed: %s)", quote(c, v->s),
			    baseline ? "Allow, Deny" : "Allow, Deny, Pass");
	path_pop(c, m);

	if ((rc = required(c, n, peers_key, &v)))
		return rc;
	m = path_key(c, peers_key);
	if ((rc = want_seq(c, v)))
		return rc;
	if (v->n < 1 || v->n > 100)
		return fail(c, v, "has %u peers (allowed: 1-100)", v->n);
	if (!(r->peers = zalloc(v->n, sizeof(*r->peers))))
		return -ENOMEM;
	bool networks = false;
	for (unsigned i = 0; i < v->n; i++) {
		size_t mi = path_idx(c, i);
		struct k8s_anp_peer *p = &r->peers[r->n_peers++];
		if ((rc = conv_anp_peer(c, v->kids[i], ingress ? ANP_INGRESS_PEER : ANP_EGRESS_PEER, p)))
			return rc;
		networks = networks || p->kind == K8S_ANP_NETWORKS;
		path_pop(c, mi);
	}
	path_pop(c, m);

	if ((v = get(n, "ports"))) {
		m = path_key(c, "ports");
		if ((rc = want_seq(c, v)))
			return rc;
		if (v->n > 100)
			return fail(c, v, "has %u entries (allowed: at most 100)", v->n);
		r->has_ports = true;
		if (v->n && !(r->ports = zalloc(v->n, sizeof(*r->ports))))
			return -ENOMEM;
		for (unsigned i = 0; i < v->n; i++) {
			size_t mi = path_idx(c, i);
			struct k8s_anp_port *p = &r->ports[r->n_ports++];
			if ((rc = conv_anp_port(c, v->kids[i], p)))
				return rc;
			/* CRD rule: "networks/nodes peer cannot be set with namedPorts" */
			if (networks && p->kind == K8S_ANP_PORT_NAMED)
				return fail(c, v->kids[i],
					    "namedPort cannot be used in a rule with a networks peer (networks have no named ports)");
			path_pop(c, mi);
		}
		path_pop(c, m);
	}
	return 0;
}

static int conv_anp_rules(struct cv *c, const struct yn *spec, bool baseline, bool ingress,
			  struct k8s_anp_rule **rules, unsigned *n_rules)
{
	const char *key = ingress ? "ingress" : "egress";
	const struct yn *v = get(spec, key);
	int rc;
	if (!v)
		return 0;
	size_t m = path_key(c, key);
	if ((rc = want_seq(c, v)))
		return rc;
	if (v->n > 100)
		return fail(c, v, "has %u rules (allowed: at most 100)", v->n);
	if (v->n && !(*rules = zalloc(v->n, sizeof(**rules))))
		return -ENOMEM;
	for (unsigned i = 0; i < v->n; i++) {
		size_t mi = path_idx(c, i);
		if ((rc = conv_anp_rule(c, v->kids[i], baseline, ingress, &(*rules)[(*n_rules)++])))
			return rc;
		path_pop(c, mi);
	}
	path_pop(c, m);
	return 0;
}

static int conv_anp(struct cv *c, const struct yn *obj, bool baseline, struct k8s_anp *a)
{
	static const char *const anp_keys[] = {"priority", "subject", "ingress", "egress", NULL};
	static const char *const banp_keys[] = {"subject", "ingress", "egress", NULL};
	const struct yn *spec, *v;
	int rc;
	a->baseline = baseline;
	if ((rc = conv_meta(c, obj, false, NAME_DNS_SUBDOMAIN, NULL, &a->name, NULL)) ||
	    (rc = conv_policy_mode(c, obj, &a->mode)))
		return rc;
	if (baseline && strcmp(a->name, "default")) {
		path_key(c, "metadata.name");
		return fail(c, get(get(obj, "metadata"), "name"),
			    "%s is not allowed, there is one BaselineAdminNetworkPolicy per cluster (allowed: default)",
			    quote(c, a->name));
	}
	if ((rc = required(c, obj, "spec", &spec)))
		return rc;
	path_key(c, "spec");
	if ((rc = want_map(c, spec)) || (rc = check_keys(c, spec, baseline ? banp_keys : anp_keys)))
		return rc;

	if (!baseline) {
		long prio;
		if ((rc = required(c, spec, "priority", &v)))
			return rc;
		size_t m = path_key(c, "priority");
		if ((rc = want_int(c, v, 0, 1000, &prio)))
			return rc;
		a->priority = (int32_t)prio;
		path_pop(c, m);
	}

	if ((rc = required(c, spec, "subject", &v)))
		return rc;
	size_t m = path_key(c, "subject");
	if ((rc = conv_anp_peer(c, v, ANP_SUBJECT, &a->subject)))
		return rc;
	path_pop(c, m);

	if ((rc = conv_anp_rules(c, spec, baseline, true, &a->ingress_rules, &a->n_ingress)) ||
	    (rc = conv_anp_rules(c, spec, baseline, false, &a->egress_rules, &a->n_egress)))
		return rc;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Node                                                                    */

static int node_add_cidr(struct cv *c, const struct yn *v, struct k8s_node *nd)
{
	struct k8s_cidr cidr;
	int rc = want_str(c, v);
	if (rc)
		return rc;
	switch (parse_cidr(v->s, &cidr)) {
	case 0:
		break;
	case 1:
		return 0; /* the IPv6 half of a dual-stack node: no IPv6 dataplane yet */
	default:
		return fail(c, v, "invalid CIDR %s (allowed: a.b.c.d/0-32)", quote(c, v->s));
	}
	for (unsigned i = 0; i < nd->n_cidrs; i++)
		if (nd->pod_cidrs[i].addr == cidr.addr && nd->pod_cidrs[i].len == cidr.len)
			return 0; /* podCIDR repeats podCIDRs[0] */
	struct k8s_cidr *a = realloc(nd->pod_cidrs, (nd->n_cidrs + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	nd->pod_cidrs = a;
	a[nd->n_cidrs++] = cidr;
	return 0;
}

static int conv_node(struct cv *c, const struct yn *obj, struct k8s_node *nd)
{
	const struct yn *meta = get(obj, "metadata"), *spec, *status, *v;
	int rc = conv_meta(c, obj, false, NAME_DNS_SUBDOMAIN, NULL, &nd->name, NULL);
	if (rc)
		return rc;
	if ((v = get(get(meta, "annotations"), K8S_ANNOTATION_VTEP_MAC))) {
		size_t m = path_key(c, "metadata");
		path_key(c, "annotations");
		path_key(c, K8S_ANNOTATION_VTEP_MAC);
		if ((rc = want_str(c, v)))
			return rc;
		unsigned b[6];
		char end;
		if (sscanf(v->s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
			   &b[5], &end) != 6 || v->len != 17)
			return fail(c, v, "%s is not a MAC address (allowed: xx:xx:xx:xx:xx:xx)",
				    quote(c, v->s));
		for (int i = 0; i < 6; i++)
			nd->vtep_mac[i] = (uint8_t)b[i];
		nd->has_vtep_mac = true;
		path_pop(c, m);
	}
	if ((spec = get(obj, "spec"))) {
		size_t m = path_key(c, "spec");
		if ((rc = want_map(c, spec)))
			return rc;
		if ((v = get(spec, "podCIDRs"))) {
			size_t mf = path_key(c, "podCIDRs");
			if ((rc = want_seq(c, v)))
				return rc;
			for (unsigned i = 0; i < v->n; i++) {
				size_t mi = path_idx(c, i);
				if ((rc = node_add_cidr(c, v->kids[i], nd)))
					return rc;
				path_pop(c, mi);
			}
			path_pop(c, mf);
		}
		if ((v = get(spec, "podCIDR"))) {
			size_t mf = path_key(c, "podCIDR");
			if ((rc = node_add_cidr(c, v, nd)))
				return rc;
			path_pop(c, mf);
		}
		path_pop(c, m);
	}
	if ((status = get(obj, "status")) && (v = get(status, "addresses"))) {
		size_t m = path_key(c, "status");
		size_t mf = path_key(c, "addresses");
		if ((rc = want_map(c, status)) || (rc = want_seq(c, v)))
			return rc;
		for (unsigned i = 0; i < v->n; i++) {
			const struct yn *a = v->kids[i], *type, *addr;
			size_t mi = path_idx(c, i);
			if ((rc = want_map(c, a)) || (rc = required(c, a, "type", &type)) ||
			    (rc = required(c, a, "address", &addr)))
				return rc;
			if (type->type != YN_SCALAR || strcmp(type->s, "InternalIP") ||
			    nd->has_internal_ip) {
				path_pop(c, mi);
				continue;
			}
			size_t ma = path_key(c, "address");
			if ((rc = want_str(c, addr)))
				return rc;
			if (parse_ipv4(addr->s, &nd->internal_ip))
				nd->has_internal_ip = true;
			else if (!is_ipv6(addr->s))
				return fail(c, addr, "invalid IP address %s", quote(c, addr->s));
			path_pop(c, ma);
			path_pop(c, mi);
		}
		path_pop(c, mf);
		path_pop(c, m);
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Objects, documents, files                                               */

enum kind { K_NAMESPACE, K_POD, K_NETPOL, K_ANP, K_BANP, K_NODE };

static const struct kind_info {
	const char *kind;
	const char *api;
	bool namespaced;
} kinds[] = {
	[K_NAMESPACE] = {"Namespace", "v1", false},
	[K_POD] = {"Pod", "v1", true},
	[K_NETPOL] = {"NetworkPolicy", "networking.k8s.io/v1", true},
	[K_ANP] = {"AdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1", false},
	[K_BANP] = {"BaselineAdminNetworkPolicy", "policy.networking.k8s.io/v1alpha1", false},
	[K_NODE] = {"Node", "v1", false},
};

#define APPEND(arr, n, item)                                                   \
	({                                                                     \
		__typeof__(arr) _a = realloc((arr), ((n) + 1) * sizeof(*(arr))); \
		int _rc = -ENOMEM;                                             \
		if (_a) {                                                      \
			(arr) = _a;                                            \
			(arr)[(n)++] = (item);                                 \
			_rc = 0;                                               \
		}                                                              \
		_rc;                                                           \
	})

/* Converts one object of a known kind and adds it to the cluster. */
static void load_object(struct loader *ld, const char *file, const struct yn *obj, enum kind k,
			const struct yn *api)
{
	const struct kind_info *ki = &kinds[k];
	struct cv c = {.ld = ld, .file = file, .line = obj->line};
	const struct yn *meta = get(obj, "metadata");
	const struct yn *name = get(meta, "name"), *ns = get(meta, "namespace");
	char name_s[280], ns_s[80];
	escape_into(name_s, sizeof(name_s), name && name->type == YN_SCALAR ? name->s : "(unnamed)");
	escape_into(ns_s, sizeof(ns_s), ns && ns->type == YN_SCALAR ? ns->s : "default");
	snprintf(c.what, sizeof(c.what), "%s %s%s%s", ki->kind, ki->namespaced ? ns_s : "",
		 ki->namespaced ? "/" : "", name_s);

	if (!api) {
		path_key(&c, "apiVersion");
		fail(&c, obj, "required field missing (allowed: %s)", ki->api);
		return;
	}
	if (api->type != YN_SCALAR || strcmp(api->s, ki->api)) {
		path_key(&c, "apiVersion");
		fail(&c, api, "%s is not supported for %s (allowed: %s)", describe(&c, api), ki->kind,
		     ki->api);
		return;
	}

	union {
		struct k8s_namespace ns;
		struct k8s_pod pod;
		struct k8s_netpol np;
		struct k8s_anp anp;
		struct k8s_node node;
	} o;
	memset(&o, 0, sizeof(o));
	int rc;
	char **src;
	const char *oname, *ons = NULL;
	switch (k) {
	case K_NAMESPACE:
		rc = conv_namespace(&c, obj, &o.ns);
		src = &o.ns.src, oname = o.ns.name;
		break;
	case K_POD:
		rc = conv_pod(&c, obj, &o.pod);
		src = &o.pod.src, oname = o.pod.name, ons = o.pod.ns;
		break;
	case K_NETPOL:
		rc = conv_netpol(&c, obj, &o.np);
		src = &o.np.src, oname = o.np.name, ons = o.np.ns;
		break;
	case K_NODE:
		rc = conv_node(&c, obj, &o.node);
		src = &o.node.src, oname = o.node.name;
		break;
	default:
		rc = conv_anp(&c, obj, k == K_BANP, &o.anp);
		src = &o.anp.src, oname = o.anp.name;
		break;
	}

	char *key = NULL;
	if (!rc && asprintf(src, "%s:%u", file, obj->line) < 0) {
		*src = NULL;
		rc = -ENOMEM;
	}
	if (!rc && !(key = seen_key(ki->kind, ons, oname)))
		rc = -ENOMEM;
	if (!rc) {
		const struct seen *s = seen_find(ld, key);
		if (s) {
			rc = -EINVAL;
			c.plen = 0;
			c.path[0] = '\0';
			ld_report(ld, rc, "%s:%u: %s: duplicate object, already defined at %s", file,
				  obj->line, c.what, s->src ? s->src : "(an earlier load)");
		}
	}
	if (!rc) {
		switch (k) {
		case K_NAMESPACE:
			rc = APPEND(ld->cl->namespaces, ld->cl->n_namespaces, o.ns);
			break;
		case K_POD:
			rc = APPEND(ld->cl->pods, ld->cl->n_pods, o.pod);
			break;
		case K_NETPOL:
			rc = APPEND(ld->cl->netpols, ld->cl->n_netpols, o.np);
			break;
		case K_NODE:
			rc = APPEND(ld->cl->nodes, ld->cl->n_nodes, o.node);
			break;
		default:
			rc = APPEND(ld->cl->anps, ld->cl->n_anps, o.anp);
			break;
		}
		if (!rc) {
			/* the cluster owns the object now; its src string does not move */
			rc = seen_add(ld, key, *src);
			key = NULL;
			if (rc)
				ld_report(ld, rc, "%s:%u: %s: out of memory", file, obj->line, c.what);
			return;
		}
	}
	free(key);
	if (rc == -ENOMEM)
		ld_report(ld, rc, "%s:%u: %s: out of memory", file, obj->line, c.what);
	switch (k) {
	case K_NAMESPACE:
		free_namespace(&o.ns);
		break;
	case K_POD:
		free_pod(&o.pod);
		break;
	case K_NETPOL:
		free_netpol(&o.np);
		break;
	case K_NODE:
		free_node(&o.node);
		break;
	default:
		free_anp(&o.anp);
		break;
	}
}

static void load_node(struct loader *ld, const char *file, const struct yn *n,
		      const char *list_kind, const struct yn *list_api, unsigned depth)
{
	char what[64];
	if (is_null(n))
		return; /* empty document or list item */
	if (n->type != YN_MAP) {
		ld_report(ld, -EINVAL, "%s:%u: expected an object (a map), got %s", file, n->line,
			  n->type == YN_SEQ ? "a list" : "a scalar");
		return;
	}
	const struct yn *kind = get(n, "kind"), *api = get(n, "apiVersion");
	const char *k = list_kind;
	if (kind) {
		if (kind->type != YN_SCALAR) {
			ld_report(ld, -EINVAL, "%s:%u: kind: expected a string, got %s", file,
				  kind->line, kind->type == YN_SEQ ? "a list" : "a map");
			return;
		}
		k = kind->s;
	} else if (!api) {
		api = list_api;
	}
	if (!k || !*k) {
		ld_report(ld, -EINVAL, "%s:%u: kind: required field missing", file, n->line);
		return;
	}

	size_t klen = strlen(k);
	if (!strcmp(k, "List") || (klen > 4 && !strcmp(k + klen - 4, "List") && has_key(n, "items"))) {
		const struct yn *items = get(n, "items");
		if (!items)
			return;
		if (items->type != YN_SEQ) {
			ld_report(ld, -EINVAL, "%s:%u: %s: items: expected a list, got %s", file,
				  items->line, k, items->type == YN_MAP ? "a map" : "a scalar");
			return;
		}
		if (depth >= 4) {
			ld_report(ld, -EINVAL, "%s:%u: %s: lists nested too deeply", file, n->line, k);
			return;
		}
		/* items of FooList default to kind Foo, the list's apiVersion */
		snprintf(what, sizeof(what), "%.*s", (int)(klen - 4), k);
		for (unsigned i = 0; i < items->n; i++)
			load_node(ld, file, items->kids[i], what[0] ? what : NULL, what[0] ? api : NULL,
				  depth + 1);
		return;
	}

	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(k, kinds[i].kind)) {
			load_object(ld, file, n, (enum kind)i, api);
			return;
		}
	/* other kinds (Service, ConfigMap, ...) are not ours */
}

static int load_text(struct loader *ld, const char *file, const char *text, size_t len)
{
	yaml_parser_t parser;
	struct build_state *st = calloc(1, sizeof(*st));
	if (!st || !yaml_parser_initialize(&parser)) {
		free(st);
		ld_report(ld, -ENOMEM, "%s: out of memory", file);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	struct builder *b = &st->b;

	for (bool done = false; !done;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			unsigned line = (unsigned)(parser.error == YAML_READER_ERROR ? parser.mark.line
										  : parser.problem_mark.line) + 1;
			ld_report(ld, parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL,
				  "%s:%u: syntax error: %s", file, line,
				  parser.problem ? parser.problem : "unknown error");
			break;
		}
		const char *err = NULL;
		unsigned err_line = (unsigned)ev.start_mark.line + 1;
		struct yn *node = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			builder_reset(b);
			break;
		case YAML_DOCUMENT_END_EVENT:
			if (b->root)
				load_node(ld, file, b->root, NULL, NULL, 0);
			builder_reset(b);
			break;
		case YAML_ALIAS_EVENT:
			node = anchor_find(b, (const char *)ev.data.alias.anchor);
			if (!node)
				err = "unknown alias";
			else if (attach(st, node))
				err = "out of memory";
			else if (!add_weight(b, node))
				err = "aliases expand to too many nodes";
			break;
		case YAML_SCALAR_EVENT:
			node = yn_new(b, YN_SCALAR, &ev.start_mark);
			if (!node || !(node->s = b_strndup(b, (const char *)ev.data.scalar.value,
							   ev.data.scalar.length))) {
				err = "out of memory";
				break;
			}
			node->len = ev.data.scalar.length;
			node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
				      ev.data.scalar.plain_implicit;
			if (attach(st, node) ||
			    (ev.data.scalar.anchor &&
			     !anchor_add(b, (const char *)ev.data.scalar.anchor, node)))
				err = "out of memory";
			else
				add_weight(b, node);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			bool map = ev.type == YAML_MAPPING_START_EVENT;
			const yaml_char_t *anchor = map ? ev.data.mapping_start.anchor
							: ev.data.sequence_start.anchor;
			if (b->depth == YN_MAX_DEPTH) {
				err = "nesting too deep";
				break;
			}
			node = yn_new(b, map ? YN_MAP : YN_SEQ, &ev.start_mark);
			if (!node || attach(st, node) ||
			    (anchor && !(node->anchor = strdup((const char *)anchor)))) {
				err = "out of memory";
				break;
			}
			st->pending[b->depth] = false;
			b->stack[b->depth++] = node;
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			node = b->stack[--b->depth];
			/* registered only now, so an alias cannot point into itself */
			if (node->anchor && !anchor_add(b, node->anchor, node))
				err = "out of memory";
			else if (!add_weight(b, node))
				err = "aliases expand to too many nodes";
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (err) {
			bool oom = !strcmp(err, "out of memory");
			ld_report(ld, oom ? -ENOMEM : -EINVAL, "%s:%u: syntax error: %s", file, err_line, err);
			break;
		}
	}
	builder_reset(b);
	free(st);
	yaml_parser_delete(&parser);
	return 0;
}

static int read_file(const char *path, char **text, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	int rc = 0;
	for (;;) {
		if (!buf) {
			rc = -ENOMEM;
			break;
		}
		if (n == cap) {
			char *b2 = realloc(buf, cap * 2);
			if (!b2) {
				rc = -ENOMEM;
				break;
			}
			buf = b2;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*text = buf;
	*len = n;
	return 0;
}

static void load_path(struct loader *ld, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len);
	if (rc) {
		ld_report(ld, rc, "%s: cannot read: %s", path, strerror(-rc));
		return;
	}
	load_text(ld, path, text, len);
	free(text);
}

int k8s_load_buffer(const char *name, const char *text, size_t len, struct k8s_cluster *cl,
		    k8s_report_fn report, void *arg)
{
	struct loader ld;
	int rc = loader_init(&ld, cl, report, arg);
	if (!rc) {
		load_text(&ld, name, text, len);
		rc = ld.rc;
	}
	loader_fini(&ld);
	return rc;
}

/* A jansson tree as a yn tree (line 1 throughout: JSON from the API has
 * no useful lines). JSON strings are quoted scalars, so "80" stays a
 * string; numbers, booleans and null are plain. */
static struct yn *yn_from_json(struct builder *b, json_t *j, unsigned depth)
{
	static const yaml_mark_t mark;
	if (depth >= YN_MAX_DEPTH)
		return NULL;
	struct yn *n;
	char num[40];
	const char *text = NULL;
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		n = yn_new(b, YN_MAP, &mark);
		size_t cnt = json_object_size(j);
		if (!n || !(n->kids = calloc(2 * cnt + 1, sizeof(*n->kids))))
			return NULL;
		n->cap = (unsigned)(2 * cnt + 1);
		const char *key;
		json_t *v;
		json_object_foreach(j, key, v)
		{
			struct yn *k = yn_new(b, YN_SCALAR, &mark);
			if (!k || !(k->s = b_strndup(b, key, strlen(key))))
				return NULL;
			k->len = strlen(key);
			struct yn *val = yn_from_json(b, v, depth + 1);
			if (!val)
				return NULL;
			n->kids[2 * n->n] = k;
			n->kids[2 * n->n + 1] = val;
			n->n++;
		}
		return n;
	}
	case JSON_ARRAY: {
		n = yn_new(b, YN_SEQ, &mark);
		size_t cnt = json_array_size(j);
		if (!n || !(n->kids = calloc(cnt + 1, sizeof(*n->kids))))
			return NULL;
		n->cap = (unsigned)(cnt + 1);
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v)
		{
			if (!(n->kids[n->n] = yn_from_json(b, v, depth + 1)))
				return NULL;
			n->n++;
		}
		return n;
	}
	case JSON_STRING:
		n = yn_new(b, YN_SCALAR, &mark);
		if (!n || !(n->s = b_strndup(b, json_string_value(j), json_string_length(j))))
			return NULL;
		n->len = strlen(n->s);
		return n;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		text = num;
		break;
	case JSON_REAL:
		snprintf(num, sizeof(num), "%.17g", json_real_value(j));
		text = num;
		break;
	case JSON_TRUE: text = "true"; break;
	case JSON_FALSE: text = "false"; break;
	case JSON_NULL: text = "null"; break;
	}
	n = yn_new(b, YN_SCALAR, &mark);
	if (!n || !(n->s = b_strndup(b, text, strlen(text))))
		return NULL;
	n->len = strlen(text);
	n->plain = true;
	return n;
}

int k8s_load_json(const char *name, json_t *obj, struct k8s_cluster *cl, k8s_report_fn report,
		  void *arg)
{
	struct loader ld;
	int rc = loader_init(&ld, cl, report, arg);
	if (!rc) {
		struct builder b;
		memset(&b, 0, sizeof(b));
		struct yn *root = yn_from_json(&b, obj, 0);
		if (root)
			load_node(&ld, name, root, NULL, NULL, 0);
		else
			ld_report(&ld, -ENOMEM, "%s: out of memory (or nested too deeply)", name);
		builder_reset(&b);
		rc = ld.rc;
	}
	loader_fini(&ld);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* API list responses: JSON text straight into the tree                    */

/*
 * A JSON parser (RFC 8259) that builds the same tree as yn_from_json, in
 * the builder's memory only: nodes, texts and the kids arrays (sized when a
 * collection closes) come from its chunks, so a page of 500 pods is a few
 * mallocs instead of a jansson tree of tens of thousands, and freeing it is
 * freeing the chunks. The nodes are not on the builder's arena chain (they
 * own nothing to free).
 */
struct jparse {
	struct builder *b;
	const char *p, *end;
	struct yn **stk; /* children of the open collections, back to back */
	size_t n, cap;
	const char *err;
};

static struct yn *jp_node(struct jparse *j, enum yn_type type)
{
	struct yn *n = b_alloc(j->b, sizeof(*n));
	if (!n) {
		j->err = "out of memory";
		return NULL;
	}
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->line = 1;
	n->weight = 1;
	return n;
}

static void jp_ws(struct jparse *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

static unsigned jp_hex4(const char *s)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char ch = s[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (unsigned)(ch - 'A' + 10);
		else
			return UINT32_MAX;
	}
	return v;
}

/* A string (j->p at its opening quote) as a quoted scalar. */
static struct yn *jp_string(struct jparse *j)
{
	const char *s = ++j->p, *q = s;
	while (q < j->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
		q++;
	size_t raw = (size_t)(q - s);
	if (q < j->end && *q == '\\') { /* escapes: the rest's length bounds the text */
		const char *e = q;
		while (e < j->end && *e != '"')
			e += *e == '\\' ? 2 : 1;
		raw = (size_t)(e - s);
	}
	struct yn *n = jp_node(j, YN_SCALAR);
	char *d = n ? b_alloc(j->b, raw + 1) : NULL;
	if (!d) {
		j->err = "out of memory";
		return NULL;
	}
	n->s = d;
	memcpy(d, s, (size_t)(q - s));
	d += q - s;
	for (;;) {
		if (q >= j->end) {
			j->err = "unterminated string";
			return NULL;
		}
		unsigned char ch = (unsigned char)*q++;
		if (ch == '"')
			break;
		if (ch < 0x20) {
			j->err = "control character in a string";
			return NULL;
		}
		if (ch != '\\') {
			*d++ = (char)ch;
			continue;
		}
		if (q >= j->end) {
			j->err = "unterminated string";
			return NULL;
		}
		switch (*q++) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '/': *d++ = '/'; break;
		case 'b': *d++ = '\b'; break;
		case 'f': *d++ = '\f'; break;
		case 'n': *d++ = '\n'; break;
		case 'r': *d++ = '\r'; break;
		case 't': *d++ = '\t'; break;
		case 'u': {
			unsigned c = j->end - q >= 4 ? jp_hex4(q) : UINT32_MAX;
			q += 4;
			if (c >= 0xd800 && c < 0xdc00 && j->end - q >= 6 && q[0] == '\\' && q[1] == 'u') {
				unsigned lo = jp_hex4(q + 2);
				if (lo >= 0xdc00 && lo < 0xe000) {
					c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
					q += 6;
				}
			}
			if (c == UINT32_MAX || c == 0 || (c >= 0xd800 && c < 0xe000)) {
				j->err = "invalid \\u escape";
				return NULL;
			}
			/* UTF-8; never longer than the escape it replaces */
			if (c < 0x80) {
				*d++ = (char)c;
			} else if (c < 0x800) {
				*d++ = (char)(0xc0 | (c >> 6));
				*d++ = (char)(0x80 | (c & 0x3f));
			} else if (c < 0x10000) {
				*d++ = (char)(0xe0 | (c >> 12));
				*d++ = (char)(0x80 | ((c >> 6) & 0x3f));
				*d++ = (char)(0x80 | (c & 0x3f));
			} else {
				*d++ = (char)(0xf0 | (c >> 18));
				*d++ = (char)(0x80 | ((c >> 12) & 0x3f));
				*d++ = (char)(0x80 | ((c >> 6) & 0x3f));
				*d++ = (char)(0x80 | (c & 0x3f));
			}
			break;
		}
		default:
			j->err = "invalid escape in a string";
			return NULL;
		}
	}
	*d = '\0';
	n->len = (size_t)(d - n->s);
	j->p = q;
	return n;
}

/* A number, true, false or null as a plain scalar; numbers with a
 * fraction or an exponent are written as yn_from_json writes reals. */
static struct yn *jp_plain(struct jparse *j)
{
	const char *s = j->p, *q = s;
	char num[40];
	const char *text = s;
	size_t len;
	if (j->end - s >= 4 && (!memcmp(s, "true", 4) || !memcmp(s, "null", 4))) {
		q = s + 4;
	} else if (j->end - s >= 5 && !memcmp(s, "false", 5)) {
		q = s + 5;
	} else {
		bool real = false;
		if (q < j->end && *q == '-')
			q++;
		const char *digits = q;
		while (q < j->end && *q >= '0' && *q <= '9')
			q++;
		bool ok = q > digits && (*digits != '0' || q == digits + 1);
		if (ok && q < j->end && *q == '.') {
			const char *f = ++q;
			while (q < j->end && *q >= '0' && *q <= '9')
				q++;
			ok = q > f;
			real = true;
		}
		if (ok && q < j->end && (*q == 'e' || *q == 'E')) {
			q++;
			if (q < j->end && (*q == '+' || *q == '-'))
				q++;
			const char *e = q;
			while (q < j->end && *q >= '0' && *q <= '9')
				q++;
			ok = q > e;
			real = true;
		}
		if (!ok) {
			j->err = "invalid value";
			return NULL;
		}
		if (real) {
			char tmp[64];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(q - s < 63 ? q - s : 63), s);
			snprintf(num, sizeof(num), "%.17g", strtod(tmp, NULL));
			text = num;
		}
	}
	len = text == num ? strlen(num) : (size_t)(q - s);
	struct yn *n = jp_node(j, YN_SCALAR);
	if (!n || !(n->s = b_strndup(j->b, text, len))) {
		j->err = "out of memory";
		return NULL;
	}
	n->len = len;
	n->plain = true;
	j->p = q;
	return n;
}

static bool jp_push(struct jparse *j, struct yn *n)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 256;
		struct yn **a = realloc(j->stk, cap * sizeof(*a));
		if (!a) {
			j->err = "out of memory";
			return false;
		}
		j->stk = a;
		j->cap = cap;
	}
	j->stk[j->n++] = n;
	return true;
}

static struct yn *jp_value(struct jparse *j, unsigned depth)
{
	jp_ws(j);
	if (j->p >= j->end) {
		j->err = "unexpected end of text";
		return NULL;
	}
	if (*j->p == '"')
		return jp_string(j);
	if (*j->p != '{' && *j->p != '[')
		return jp_plain(j);
	if (depth >= YN_MAX_DEPTH) {
		j->err = "nested too deeply";
		return NULL;
	}
	bool map = *j->p++ == '{';
	char close = map ? '}' : ']';
	size_t base = j->n;
	jp_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
	} else {
		for (;;) {
			if (map) {
				jp_ws(j);
				if (j->p >= j->end || *j->p != '"') {
					j->err = "expected a string key";
					return NULL;
				}
				struct yn *k = jp_string(j);
				if (!k || !jp_push(j, k))
					return NULL;
				jp_ws(j);
				if (j->p >= j->end || *j->p++ != ':') {
					j->err = "expected ':'";
					return NULL;
				}
			}
			struct yn *v = jp_value(j, depth + 1);
			if (!v || !jp_push(j, v))
				return NULL;
			jp_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == close) {
				j->p++;
				break;
			}
			j->err = map ? "expected ',' or '}'" : "expected ',' or ']'";
			return NULL;
		}
	}
	struct yn *n = jp_node(j, map ? YN_MAP : YN_SEQ);
	size_t cnt = j->n - base;
	if (!n || !(n->kids = b_alloc(j->b, (cnt + 1) * sizeof(*n->kids)))) {
		j->err = "out of memory";
		return NULL;
	}
	memcpy(n->kids, j->stk + base, cnt * sizeof(*n->kids));
	n->cap = (unsigned)(cnt + 1);
	n->n = (unsigned)(map ? cnt / 2 : cnt);
	j->n = base;
	return n;
}

static const char *scalar_or_null(const struct yn *n)
{
	return n && n->type == YN_SCALAR ? n->s : NULL;
}

int k8s_load_api_list(const char *name, const char *text, size_t len, const char *kind,
		      const char *api_version, k8s_item_fn item, void *item_arg,
		      k8s_report_fn report, void *report_arg, struct k8s_api_list *out)
{
	memset(out, 0, sizeof(*out));
	struct builder b;
	memset(&b, 0, sizeof(b));
	struct jparse j = {.b = &b, .p = text, .end = text + len};
	struct yn *root = jp_value(&j, 0), *api = NULL;
	if (root) {
		jp_ws(&j);
		if (j.p != j.end)
			j.err = "text after the document";
	}
	const struct yn *items = root && !j.err ? get(root, "items") : NULL;
	int rc = 0;
	if (j.err || !items || items->type != YN_SEQ) {
		snprintf(out->err, sizeof(out->err), "%s at byte %zu",
			 j.err ? j.err : items ? "items is not a list" : "no items",
			 (size_t)(j.p - text));
		rc = j.err && !strcmp(j.err, "out of memory") ? -ENOMEM : -EINVAL;
		goto done;
	}
	const struct yn *meta = get(root, "metadata");
	const char *v;
	if ((v = scalar_or_null(get(meta, "continue"))))
		snprintf(out->cont, sizeof(out->cont), "%s", v);
	if ((v = scalar_or_null(get(meta, "resourceVersion"))))
		snprintf(out->rv, sizeof(out->rv), "%s", v);
	if (!(api = jp_node(&j, YN_SCALAR)) || !(api->s = b_strndup(&b, api_version, strlen(api_version)))) {
		rc = -ENOMEM;
		goto done;
	}
	api->len = strlen(api_version);
	for (unsigned i = 0; i < items->n && !rc; i++) {
		const struct yn *it = items->kids[i];
		const struct yn *md = get(it, "metadata");
		struct k8s_cluster cl = {0};
		struct loader ld;
		if ((rc = loader_init(&ld, &cl, report, report_arg)))
			break;
		load_node(&ld, name, it, kind, api, 1);
		loader_fini(&ld);
		rc = item(item_arg, &cl, scalar_or_null(get(md, "namespace")),
			  scalar_or_null(get(md, "name")));
		k8s_cluster_free(&cl);
	}
done:
	free(j.stk);
	builder_reset(&b);
	return rc;
}

int k8s_load_file(const char *path, struct k8s_cluster *cl, k8s_report_fn report, void *arg)
{
	struct loader ld;
	int rc = loader_init(&ld, cl, report, arg);
	if (!rc) {
		load_path(&ld, path);
		rc = ld.rc;
	}
	loader_fini(&ld);
	return rc;
}

static bool manifest_name(const char *name)
{
	size_t len = strlen(name);
	if (name[0] == '.') /* hidden files, editor locks, ConfigMap ..data */
		return false;
	return (len > 5 && !strcmp(name + len - 5, ".yaml")) ||
	       (len > 4 && !strcmp(name + len - 4, ".yml")) ||
	       (len > 5 && !strcmp(name + len - 5, ".json"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int k8s_load_dir(const char *dir, struct k8s_cluster *cl, k8s_report_fn report, void *arg)
{
	DIR *d = opendir(dir);
	if (!d) {
		int rc = -errno;
		if (report) {
			char msg[600];
			snprintf(msg, sizeof(msg), "%s: cannot open directory: %s", dir, strerror(-rc));
			report(arg, msg);
		}
		return rc;
	}
	char **names = NULL;
	size_t n = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!manifest_name(de->d_name))
			continue;
		char *path, **nn;
		if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		struct stat stbuf;
		if (stat(path, &stbuf) || !S_ISREG(stbuf.st_mode)) {
			free(path);
			continue;
		}
		if (!(nn = realloc(names, (n + 1) * sizeof(*names)))) {
			free(path);
			rc = -ENOMEM;
			break;
		}
		names = nn;
		names[n++] = path;
	}
	closedir(d);
	if (!rc && n)
		qsort(names, n, sizeof(*names), cmp_str);

	struct loader ld;
	if (!rc)
		rc = loader_init(&ld, cl, report, arg);
	if (!rc) {
		for (size_t i = 0; i < n; i++)
			load_path(&ld, names[i]);
		rc = ld.rc;
		loader_fini(&ld);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Queries                                                                 */

const char *k8s_label_get(const struct k8s_labels *labels, const char *key)
{
	if (!labels)
		return NULL;
	for (unsigned i = 0; i < labels->n; i++)
		if (!strcmp(labels->kv[i].key, key))
			return labels->kv[i].value;
	return NULL;
}

static bool in_values(const struct k8s_sel_req *r, const char *v)
{
	for (unsigned i = 0; i < r->n_values; i++)
		if (!strcmp(r->values[i], v))
			return true;
	return false;
}

bool k8s_selector_matches(const struct k8s_selector *sel, const struct k8s_labels *labels)
{
	if (!sel->present)
		return false; /* a nil selector selects nothing */
	for (unsigned i = 0; i < sel->match_labels.n; i++) {
		const char *v = k8s_label_get(labels, sel->match_labels.kv[i].key);
		if (!v || strcmp(v, sel->match_labels.kv[i].value))
			return false;
	}
	for (unsigned i = 0; i < sel->n_exprs; i++) {
		const struct k8s_sel_req *r = &sel->exprs[i];
		const char *v = k8s_label_get(labels, r->key);
		switch (r->op) {
		case K8S_SEL_IN:
			if (!v || !in_values(r, v))
				return false;
			break;
		case K8S_SEL_NOT_IN:
			if (v && in_values(r, v))
				return false;
			break;
		case K8S_SEL_EXISTS:
			if (!v)
				return false;
			break;
		case K8S_SEL_DOES_NOT_EXIST:
			if (v)
				return false;
			break;
		}
	}
	return true;
}

const struct k8s_namespace *k8s_find_namespace(const struct k8s_cluster *cl, const char *name)
{
	for (unsigned i = 0; i < cl->n_namespaces; i++)
		if (!strcmp(cl->namespaces[i].name, name))
			return &cl->namespaces[i];
	return NULL;
}
