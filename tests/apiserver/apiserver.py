#!/usr/bin/python3
"""A Kubernetes API-server test double (Python 3 stdlib only).

Speaks the real list/watch wire protocol over HTTPS/1.1 for a handful of
resources (namespaces, pods, nodes, networkpolicies, adminnetworkpolicies,
baselineadminnetworkpolicies), with one global resourceVersion counter, an
event history (MVCC-style, so paged lists are consistent snapshots), history
compaction, bookmarks and fault injection.  See README.md for the CLI and the
/_double/* admin endpoints.

Usable as a program (see --help) or as a module:

    import apiserver
    apiserver.make_certs(tmpdir)            # runs mkcerts.sh
    srv = apiserver.ApiServerDouble(cert=..., key=..., ca=..., token_file=...)
    srv.start(); ... srv.port ...; srv.stop()
"""

import argparse
import base64
import bisect
import collections
import copy
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOKEN_USER = 'system:serviceaccount:kube-system:nsdp-agent'
GIT_VERSION = 'v1.30.0'


# --------------------------------------------------------------------------
# Resource table
# --------------------------------------------------------------------------

class Resource:
    def __init__(self, plural, group, version, kind, namespaced, singular,
                 short=(), builtin=True, return_deleted=False,
                 subresources=('status',)):
        self.plural = plural
        self.group = group
        self.version = version
        self.kind = kind
        self.namespaced = namespaced
        self.singular = singular
        self.short = list(short)
        # Built-in types: list items carry no kind/apiVersion (like the real
        # server's typed lists); CRDs (unstructured) do.
        self.builtin = builtin
        # pods and namespaces return the deleted object on DELETE; the other
        # registries return a metav1.Status "Success".
        self.return_deleted = return_deleted
        self.subresources = subresources

    @property
    def api_version(self):
        return '%s/%s' % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        """'pods' or 'networkpolicies.networking.k8s.io' (as in messages)."""
        return '%s.%s' % (self.plural, self.group) if self.group else self.plural


RESOURCES = collections.OrderedDict((r.plural, r) for r in [
    Resource('namespaces', '', 'v1', 'Namespace', False, 'namespace', ['ns'],
             return_deleted=True, subresources=('status', 'finalize')),
    Resource('nodes', '', 'v1', 'Node', False, 'node', ['no']),
    Resource('pods', '', 'v1', 'Pod', True, 'pod', ['po'], return_deleted=True),
    Resource('networkpolicies', 'networking.k8s.io', 'v1', 'NetworkPolicy',
             True, 'networkpolicy', ['netpol']),
    Resource('adminnetworkpolicies', 'policy.networking.k8s.io', 'v1alpha1',
             'AdminNetworkPolicy', False, 'adminnetworkpolicy', ['anp'],
             builtin=False),
    Resource('baselineadminnetworkpolicies', 'policy.networking.k8s.io',
             'v1alpha1', 'BaselineAdminNetworkPolicy', False,
             'baselineadminnetworkpolicy', ['banp'], builtin=False),
])
BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES.values()}
GROUPS = collections.OrderedDict()      # group -> version (one each)
for _r in RESOURCES.values():
    GROUPS.setdefault(_r.group, _r.version)

VERBS = ('get', 'list', 'watch', 'create', 'update', 'patch', 'delete',
         'deletecollection')


def now_rfc3339():
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())


def dumps(obj):
    return json.dumps(obj, separators=(',', ':'))


# --------------------------------------------------------------------------
# metav1.Status
# --------------------------------------------------------------------------

REASONS = {400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden',
           404: 'NotFound', 405: 'MethodNotAllowed', 406: 'NotAcceptable',
           409: 'Conflict', 410: 'Expired', 415: 'UnsupportedMediaType',
           422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError',
           503: 'ServiceUnavailable', 504: 'Timeout'}
DEFAULT_MESSAGES = {
    401: 'Unauthorized',
    404: 'the server could not find the requested resource',
    410: 'gone',
    429: 'the server has received too many requests and has asked us to try again later',
    500: 'Internal error occurred: injected fault',
    503: 'the server is currently unable to handle the request',
    504: 'the server was unable to return a response in the time allotted, '
         'but may still be processing the request',
}


def status_obj(code, message, reason=None, details=None, metadata=None):
    st = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': metadata or {},
          'status': 'Failure', 'message': message,
          'reason': reason if reason is not None else REASONS.get(code, 'Unknown')}
    if details:
        st['details'] = details
    st['code'] = code
    return st


def _details(r, name=None, **extra):
    d = {}
    if name:
        d['name'] = name
    if r.group:
        d['group'] = r.group
    d['kind'] = r.plural
    d.update(extra)
    return d


class ApiError(Exception):
    def __init__(self, status, headers=None):
        Exception.__init__(self, status.get('message'))
        self.status = status
        self.code = status['code']
        self.headers = headers or {}


def err(code, message, reason=None, details=None, metadata=None):
    return ApiError(status_obj(code, message, reason, details, metadata))


def not_found(r, name):
    return err(404, '%s "%s" not found' % (r.qualified, name), 'NotFound',
               _details(r, name))


def conflict(r, name, why='the object has been modified; please apply your '
             'changes to the latest version and try again'):
    return err(409, 'Operation cannot be fulfilled on %s "%s": %s'
               % (r.qualified, name, why), 'Conflict', _details(r, name))


def expired_watch(rv, oldest):
    return err(410, 'too old resource version: %d (%d)' % (rv, oldest), 'Expired')


EXPIRED_CONTINUE = (
    'The provided continue parameter is too old to display a consistent list '
    'result. You can start a new list without the continue parameter, or use '
    'the continue token in this response to retrieve the remainder of the '
    'results. Continuing with the provided token results in an inconsistent '
    'list - objects that were created, modified, or deleted between the time '
    'the first chunk was returned and now may show up in the list.')


def fault_status(fault, r, verb, ns, name, user):
    code = int(fault.get('code', 500))
    reason = fault.get('reason')
    msg = fault.get('message')
    details = None
    res_name = r.plural if r else fault.get('resource', '')
    group = r.group if r else ''
    if code == 403 and msg is None:
        who = fault.get('user') or user or DEFAULT_TOKEN_USER
        subj = '%s "%s"' % (r.qualified if r else res_name, name) if name else \
            (r.qualified if r else res_name)
        scope = ('in the namespace "%s"' % ns) if ns else 'at the cluster scope'
        msg = ('%s is forbidden: User "%s" cannot %s resource "%s" in API '
               'group "%s" %s' % (subj, who, verb, res_name, group, scope))
        details = {'kind': res_name}
        if name:
            details['name'] = name
        if group:
            details['group'] = group
    if msg is None:
        msg = DEFAULT_MESSAGES.get(code, 'injected fault (%d)' % code)
    if code == 500 and details is None:
        details = {'causes': [{'message': 'injected fault'}]}
    headers = {}
    if code == 429:
        ra = int(fault.get('retry_after', 1))
        details = {'retryAfterSeconds': ra}
        headers['Retry-After'] = str(ra)
    st = status_obj(code, msg, reason, details)
    return ApiError(st, headers)


# --------------------------------------------------------------------------
# Selectors
# --------------------------------------------------------------------------

_LABEL_SET = re.compile(r'^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\(([^)]*)\)\s*)?$')
_LABEL_OP = re.compile(r'^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=|>|<)\s*([A-Za-z0-9._-]*)\s*$')


def _split_top(s):
    out, depth, cur = [], 0, ''
    for ch in s:
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
        if ch == ',' and depth == 0:
            out.append(cur)
            cur = ''
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def parse_label_selector(s):
    """Returns a predicate over a labels dict; raises ApiError(400)."""
    reqs = []
    for part in _split_top(s or ''):
        m = _LABEL_OP.match(part)
        if m:
            key, op, val = m.groups()
            reqs.append((key, op, val))
            continue
        m = _LABEL_SET.match(part)
        if m:
            neg, key, op, vals = m.groups()
            if op:
                if neg:
                    raise err(400, 'unable to parse requirement: %r' % part)
                reqs.append((key, op, set(v.strip() for v in vals.split(',') if v.strip())))
            else:
                reqs.append((key, '!exists' if neg else 'exists', None))
            continue
        raise err(400, 'unable to parse requirement: found %r, expected: '
                  'in, notin, =, ==, !=, gt, lt' % part.strip())

    def pred(labels):
        labels = labels or {}
        for key, op, val in reqs:
            have = key in labels
            v = labels.get(key)
            if op in ('=', '=='):
                ok = have and v == val
            elif op == '!=':
                ok = not have or v != val
            elif op == 'in':
                ok = have and v in val
            elif op == 'notin':
                ok = not have or v not in val
            elif op == 'exists':
                ok = have
            elif op == '!exists':
                ok = not have
            else:
                try:
                    ok = have and (int(v) > int(val) if op == '>' else int(v) < int(val))
                except ValueError:
                    ok = False
            if not ok:
                return False
        return True
    return pred


def _field_value(obj, path):
    cur = obj
    for p in path.split('.'):
        if not isinstance(cur, dict):
            return ''
        cur = cur.get(p)
    if cur is None:
        return ''
    if isinstance(cur, bool):
        return 'true' if cur else 'false'
    if isinstance(cur, (dict, list)):
        return dumps(cur)
    return str(cur)


def parse_field_selector(s):
    reqs = []
    for part in (s or '').split(','):
        if not part.strip():
            continue
        m = re.match(r'^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$', part)
        if not m:
            raise err(400, 'invalid selector: %r; can\'t understand %r'
                      % (s, part))
        reqs.append(m.groups())

    def pred(obj):
        for path, op, val in reqs:
            v = _field_value(obj, path)
            if (v == val) != (op != '!='):
                return False
        return True
    return pred


# --------------------------------------------------------------------------
# Patches
# --------------------------------------------------------------------------

def merge_patch(target, patch, strategic=False):
    """RFC 7386 JSON merge patch (strategic merge patch degrades to this;
    '$'-directive keys are dropped)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if strategic and k.startswith('$'):
            continue
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v, strategic)
    return result


def _ptr(path):
    if path == '':
        return []
    if not path.startswith('/'):
        raise err(422, 'invalid JSON pointer %r' % path, 'Invalid')
    return [p.replace('~1', '/').replace('~0', '~') for p in path[1:].split('/')]


def _ptr_parent(doc, toks):
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, list):
            cur = cur[int(t)]
        elif isinstance(cur, dict):
            cur = cur[t]
        else:
            raise KeyError(t)
    return cur


def _ptr_get(doc, toks):
    cur = doc
    for t in toks:
        cur = cur[int(t)] if isinstance(cur, list) else cur[t]
    return cur


def json_patch(doc, ops):
    """RFC 6902."""
    if not isinstance(ops, list):
        raise err(400, 'json patch must be a list of operations')
    doc = copy.deepcopy(doc)
    for op in ops:
        try:
            kind = op['op']
            toks = _ptr(op['path'])
            if kind in ('add', 'replace', 'test'):
                val = copy.deepcopy(op['value'])
            if kind in ('move', 'copy'):
                val = copy.deepcopy(_ptr_get(doc, _ptr(op['from'])))
                if kind == 'move':
                    ftoks = _ptr(op['from'])
                    fpar = _ptr_parent(doc, ftoks)
                    if isinstance(fpar, list):
                        del fpar[int(ftoks[-1])]
                    else:
                        del fpar[ftoks[-1]]
                kind = 'add'
            if kind == 'test':
                if _ptr_get(doc, toks) != val:
                    raise err(422, 'testing value %s failed' % op['path'], 'Invalid')
                continue
            if not toks:
                if kind in ('add', 'replace'):
                    doc = val
                    continue
                raise err(422, 'cannot remove the root', 'Invalid')
            par = _ptr_parent(doc, toks)
            last = toks[-1]
            if isinstance(par, list):
                if kind == 'add':
                    idx = len(par) if last == '-' else int(last)
                    if idx > len(par):
                        raise IndexError(idx)
                    par.insert(idx, val)
                elif kind == 'replace':
                    par[int(last)] = val
                elif kind == 'remove':
                    del par[int(last)]
                else:
                    raise err(400, 'unknown json patch op %r' % kind)
            elif isinstance(par, dict):
                if kind == 'add':
                    par[last] = val
                elif kind in ('replace', 'remove'):
                    if last not in par:
                        raise KeyError(last)
                    if kind == 'replace':
                        par[last] = val
                    else:
                        del par[last]
                else:
                    raise err(400, 'unknown json patch op %r' % kind)
            else:
                raise KeyError(last)
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise err(422, 'the server rejected our request due to an error '
                      'in our request: json patch %s operation does not apply: '
                      '%s' % (op.get('op') if isinstance(op, dict) else op, e),
                      'Invalid')
    return doc


# --------------------------------------------------------------------------
# Continue tokens (same shape as k8s.io/apiserver/pkg/storage: base64
# RawURLEncoding of {"v":"meta.k8s.io/v1","rv":N,"start":"key\u0000"})
# --------------------------------------------------------------------------

def encode_continue(rv, start):
    raw = dumps({'v': 'meta.k8s.io/v1', 'rv': rv, 'start': start}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip('=')


def decode_continue(tok):
    try:
        raw = base64.urlsafe_b64decode(tok + '=' * (-len(tok) % 4))
        d = json.loads(raw)
        if d.get('v') != 'meta.k8s.io/v1':
            raise ValueError('wrong version')
        return int(d['rv']), str(d['start'])
    except Exception as e:     # noqa: BLE001
        raise err(400, 'continue key is not valid: %s' % e)


# --------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------

Event = collections.namedtuple('Event', 'rv res type key obj prev')
_GEN_CHARS = 'bcdfghjklmnpqrstvwxz2456789'


class Watcher:
    """One open watch.  Writers append to `q` (a deque) and poke a
    non-blocking socketpair; they never block on the watcher."""

    def __init__(self, r, ns, lpred, fpred):
        self.r = r
        self.ns = ns
        self.lpred = lpred
        self.fpred = fpred
        self.q = collections.deque()
        self.rsock, self.wsock = socket.socketpair()
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)
        self.stopped = False

    def matches(self, obj):
        if obj is None:
            return False
        md = obj.get('metadata') or {}
        if self.ns is not None and md.get('namespace') != self.ns:
            return False
        return self.lpred(md.get('labels')) and self.fpred(obj)

    def translate(self, ev):
        """Event as this watcher sees it (selector transitions become
        ADDED/DELETED like the watch cache does), or None."""
        if ev.type == 'ADDED':
            return ('ADDED', ev.obj) if self.matches(ev.obj) else None
        if ev.type == 'DELETED':
            return ('DELETED', ev.obj) if self.matches(ev.prev) else None
        cur, old = self.matches(ev.obj), self.matches(ev.prev)
        if cur and old:
            return ('MODIFIED', ev.obj)
        if cur:
            return ('ADDED', ev.obj)
        if old:
            gone = copy.deepcopy(ev.prev)
            gone['metadata']['resourceVersion'] = str(ev.rv)
            return ('DELETED', gone)
        return None

    def push(self, item):
        self.q.append(item)
        self.wake()

    def wake(self):
        try:
            self.wsock.send(b'x')
        except OSError:
            pass

    def stop(self):
        self.stopped = True
        self.wake()

    def drain_wakeups(self):
        try:
            while self.rsock.recv(4096):
                pass
        except OSError:
            pass

    def close(self):
        for s in (self.rsock, self.wsock):
            try:
                s.close()
            except OSError:
                pass


class Store:
    def __init__(self, require_namespaces=False):
        self.lock = threading.RLock()
        self.rv = 0
        self.compact_rv = 0
        self.objects = {p: {} for p in RESOURCES}
        self.history = []
        self.watchers = {p: set() for p in RESOURCES}
        self.require_namespaces = require_namespaces

    # -- helpers ---------------------------------------------------------
    @staticmethod
    def key(r, ns, name):
        return '%s/%s' % (ns, name) if r.namespaced else name

    def _commit(self, r, typ, key, obj, prev):
        """Caller holds the lock.  obj is owned by the store from now on and
        must never be mutated again."""
        self.rv += 1
        if typ == 'DELETED':
            obj = copy.deepcopy(prev)
            self.objects[r.plural].pop(key, None)
        else:
            self.objects[r.plural][key] = obj
        obj['metadata']['resourceVersion'] = str(self.rv)
        ev = Event(self.rv, r.plural, typ, key, obj, prev)
        self.history.append(ev)
        for w in list(self.watchers[r.plural]):
            item = w.translate(ev)
            if item:
                w.push(item)
        return obj

    def _check_body(self, r, body, ns):
        if not isinstance(body, dict):
            raise err(400, 'the body of the request was in an unknown format')
        kind = body.get('kind')
        av = body.get('apiVersion')
        if kind and kind != r.kind:
            raise err(400, 'the kind in the data (%s) does not match the '
                      'expected kind (%s)' % (kind, r.kind))
        if av and av != r.api_version:
            raise err(400, 'the API version in the data (%s) does not match '
                      'the expected API version (%s)' % (av, r.api_version))
        md = body.get('metadata')
        if md is None:
            md = body['metadata'] = {}
        if not isinstance(md, dict):
            raise err(400, 'metadata must be an object')
        if r.namespaced:
            if md.get('namespace') and md['namespace'] != ns:
                raise err(400, 'the namespace of the provided object does not '
                          'match the namespace sent on the request')
            md['namespace'] = ns
        else:
            md.pop('namespace', None)
        # kind, apiVersion, metadata first, like the real server's encoding
        rest = {k: v for k, v in body.items() if k not in ('kind', 'apiVersion', 'metadata')}
        body.clear()
        body.update(kind=r.kind, apiVersion=r.api_version, metadata=md)
        body.update(rest)
        return md

    @staticmethod
    def _spec_part(obj):
        return {k: v for k, v in obj.items()
                if k not in ('metadata', 'status', 'kind', 'apiVersion')}

    def _defaults(self, r, obj):
        md = obj['metadata']
        if r.plural == 'namespaces':
            md.setdefault('labels', {})
            md['labels']['kubernetes.io/metadata.name'] = md['name']
            obj.setdefault('spec', {}).setdefault('finalizers', ['kubernetes'])
            obj.setdefault('status', {}).setdefault('phase', 'Active')
        elif r.plural == 'pods':
            if not isinstance(obj.get('status'), dict):
                obj['status'] = {}
            obj['status'].setdefault('phase', 'Pending')
        elif r.plural == 'baselineadminnetworkpolicies' and md['name'] != 'default':
            raise err(422, '%s.%s "%s" is invalid: <nil>: Invalid value: '
                      '"object": Only one baseline admin network policy with '
                      'metadata.name="default" can be created in the cluster'
                      % (r.kind, r.group, md['name']), 'Invalid',
                      _details(r, md['name'], causes=[{
                          'reason': 'FieldValueInvalid',
                          'message': 'Invalid value: "object": Only one baseline '
                          'admin network policy with metadata.name="default" '
                          'can be created in the cluster', 'field': '<nil>'}]))

    # -- verbs -----------------------------------------------------------
    def get(self, r, ns, name):
        with self.lock:
            obj = self.objects[r.plural].get(self.key(r, ns, name))
            if obj is None:
                raise not_found(r, name)
            return obj

    def create(self, r, ns, body):
        with self.lock:
            body = copy.deepcopy(body)
            md = self._check_body(r, body, ns)
            if not md.get('name'):
                if md.get('generateName'):
                    md['name'] = md['generateName'] + ''.join(
                        random.choice(_GEN_CHARS) for _ in range(5))
                else:
                    raise err(422, '%s "" is invalid: metadata.name: Required '
                              'value: name or generateName is required' % r.kind,
                              'Invalid', _details(r))
            name = md['name']
            if '/' in name:
                raise err(422, '%s "%s" is invalid: metadata.name: Invalid value'
                          % (r.kind, name), 'Invalid', _details(r, name))
            if r.namespaced and self.require_namespaces and \
                    ns not in self.objects['namespaces']:
                raise not_found(RESOURCES['namespaces'], ns)
            key = self.key(r, ns, name)
            if key in self.objects[r.plural]:
                raise err(409, '%s "%s" already exists' % (r.qualified, name),
                          'AlreadyExists', _details(r, name))
            for f in ('resourceVersion', 'deletionTimestamp',
                      'deletionGracePeriodSeconds', 'selfLink'):
                md.pop(f, None)
            md['uid'] = str(uuid.uuid4())
            md['creationTimestamp'] = now_rfc3339()
            md['generation'] = 1
            self._defaults(r, body)
            return self._commit(r, 'ADDED', key, body, None)

    def update(self, r, ns, name, body, sub=None):
        """PUT (and the tail of PATCH).  Returns the stored object."""
        with self.lock:
            key = self.key(r, ns, name)
            cur = self.objects[r.plural].get(key)
            if cur is None:
                raise not_found(r, name)
            body = copy.deepcopy(body)
            md = self._check_body(r, body, ns)
            if md.get('name', name) != name:
                raise err(400, 'the name of the object (%s) does not match the '
                          'name on the URL (%s)' % (md.get('name'), name))
            md['name'] = name
            rv = md.get('resourceVersion')
            if rv not in (None, '') and str(rv) != cur['metadata']['resourceVersion']:
                raise conflict(r, name)
            if sub == 'status':
                new = copy.deepcopy(cur)
                if 'status' in body:
                    new['status'] = body['status']
                else:
                    new.pop('status', None)
            else:
                new = body
                if 'status' not in new and 'status' in cur:
                    new['status'] = copy.deepcopy(cur['status'])
                nmd = new['metadata']
                cmd = cur['metadata']
                for f in ('uid', 'creationTimestamp', 'deletionTimestamp',
                          'deletionGracePeriodSeconds'):
                    if f in cmd:
                        nmd[f] = cmd[f]
                    else:
                        nmd.pop(f, None)
                gen = cmd.get('generation', 1)
                if self._spec_part(new) != self._spec_part(cur):
                    gen += 1
                nmd['generation'] = gen
                self._defaults(r, new)
            new['metadata']['resourceVersion'] = cur['metadata']['resourceVersion']
            if new == cur:
                return cur                  # no-op: no new RV, no event
            if new['metadata'].get('deletionTimestamp') and \
                    not new['metadata'].get('finalizers'):
                # last finalizer removed from a terminating object
                self._commit(r, 'MODIFIED', key, new, cur)
                return self._commit(r, 'DELETED', key, None, new)
            return self._commit(r, 'MODIFIED', key, new, cur)

    def patch(self, r, ns, name, ctype, patch, sub=None):
        with self.lock:
            cur = self.get(r, ns, name)
            base = copy.deepcopy(cur)
            ctype = (ctype or '').split(';')[0].strip().lower()
            if ctype == 'application/json-patch+json':
                new = json_patch(base, patch)
            elif ctype in ('application/merge-patch+json',
                           'application/strategic-merge-patch+json'):
                if not isinstance(patch, dict):
                    raise err(400, 'merge patch must be a JSON object')
                new = merge_patch(base, patch,
                                  strategic=ctype.startswith('application/strategic'))
            else:
                raise err(415, 'the body of the request was in an unknown '
                          'format - accepted media types include: '
                          'application/json-patch+json, '
                          'application/merge-patch+json, '
                          'application/strategic-merge-patch+json',
                          'UnsupportedMediaType')
            if not isinstance(new, dict):
                raise err(422, 'patch result is not an object', 'Invalid')
            return self.update(r, ns, name, new, sub)

    def delete(self, r, ns, name, opts=None):
        """Returns (http_code, response_body)."""
        with self.lock:
            key = self.key(r, ns, name)
            cur = self.objects[r.plural].get(key)
            if cur is None:
                raise not_found(r, name)
            pre = (opts or {}).get('preconditions') or {}
            if pre.get('uid') and pre['uid'] != cur['metadata'].get('uid'):
                raise conflict(r, name, 'Precondition failed: UID in precondition: '
                               '%s, UID in object meta: %s'
                               % (pre['uid'], cur['metadata'].get('uid')))
            if pre.get('resourceVersion') and \
                    pre['resourceVersion'] != cur['metadata']['resourceVersion']:
                raise conflict(r, name, 'Precondition failed: ResourceVersion in '
                               'precondition: %s, ResourceVersion in object meta: %s'
                               % (pre['resourceVersion'],
                                  cur['metadata']['resourceVersion']))
            if r.plural == 'namespaces':
                # The namespace controller's job, done synchronously.
                for nr in RESOURCES.values():
                    if nr.namespaced:
                        for k in sorted(self.objects[nr.plural]):
                            o = self.objects[nr.plural].get(k)
                            if o is not None and o['metadata'].get('namespace') == name:
                                self._commit(nr, 'DELETED', k, None, o)
            if cur['metadata'].get('finalizers'):
                if cur['metadata'].get('deletionTimestamp'):
                    return 200, cur
                new = copy.deepcopy(cur)
                new['metadata']['deletionTimestamp'] = now_rfc3339()
                new['metadata']['deletionGracePeriodSeconds'] = 0
                return 200, self._commit(r, 'MODIFIED', key, new, cur)
            self._commit(r, 'DELETED', key, None, cur)
            if r.return_deleted:
                return 200, cur
            return 200, {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {},
                         'status': 'Success',
                         'details': _details(r, name, uid=cur['metadata'].get('uid'))}

    def delete_collection(self, r, ns, lpred, fpred):
        with self.lock:
            out = []
            for k in sorted(self.objects[r.plural]):
                o = self.objects[r.plural][k]
                md = o['metadata']
                if ns is not None and md.get('namespace') != ns:
                    continue
                if lpred(md.get('labels')) and fpred(o):
                    self.delete(r, md.get('namespace'), md['name'])
                    out.append(o)
            return out

    def _snapshot(self, r, at_rv):
        state = dict(self.objects[r.plural])
        for ev in reversed(self.history):
            if ev.rv <= at_rv:
                break
            if ev.res != r.plural:
                continue
            if ev.type == 'ADDED':
                state.pop(ev.key, None)
            else:
                state[ev.key] = ev.prev
        return state

    def list(self, r, ns, lpred, fpred, limit=0, cont=None, rv=None, rv_match=None):
        """Returns (list_rv, items, continue_token, remaining)."""
        with self.lock:
            start = ''
            if cont:
                snap_rv, start = decode_continue(cont)
                if snap_rv == -1:
                    snap_rv = self.rv           # inconsistent continuation
                    state = self.objects[r.plural]
                elif snap_rv < self.compact_rv:
                    raise err(410, EXPIRED_CONTINUE, 'Expired',
                              metadata={'continue': encode_continue(-1, start)})
                else:
                    state = self._snapshot(r, snap_rv)
            elif rv_match == 'Exact' and rv not in (None, ''):
                try:
                    snap_rv = int(rv)
                except ValueError:
                    raise err(400, 'resourceVersion: Invalid value: %r' % rv)
                if snap_rv < self.compact_rv:
                    raise err(410, 'The resourceVersion for the provided list is '
                              'too old.', 'Expired')
                if snap_rv > self.rv:
                    raise err(504, 'Too large resource version: %d, current: %d'
                              % (snap_rv, self.rv), 'Timeout',
                              {'causes': [{'reason': 'ResourceVersionTooLarge',
                                           'message': 'Too large resource version'}],
                               'retryAfterSeconds': 1})
                state = self._snapshot(r, snap_rv)
            else:
                snap_rv = self.rv
                state = self.objects[r.plural]
            keys = sorted(k for k in state if k > start)
            if ns is not None:
                keys = [k for k in keys if k.startswith(ns + '/')]
            items, token, remaining = [], None, None
            for i, k in enumerate(keys):
                o = state[k]
                md = o['metadata']
                if lpred(md.get('labels')) and fpred(o):
                    items.append(o)
                    if limit and len(items) >= limit:
                        if i + 1 < len(keys):
                            token = encode_continue(snap_rv, k + '\x00')
                            remaining = len(keys) - i - 1
                        break
            return snap_rv, items, token, remaining

    def open_watch(self, r, ns, lpred, fpred, rv, initial):
        """Registers a watcher and pre-loads it with replayed events.
        `initial`: synthetic ADDED for the current state (rv 0/absent or
        sendInitialEvents).  Raises ApiError(410) when rv is compacted."""
        w = Watcher(r, ns, lpred, fpred)
        with self.lock:
            if initial:
                for k in sorted(self.objects[r.plural]):
                    o = self.objects[r.plural][k]
                    if w.matches(o):
                        w.q.append(('ADDED', o))
            else:
                if rv < self.compact_rv:
                    w.close()
                    raise expired_watch(rv, self.compact_rv)
                i = bisect.bisect_right(self.history, rv, key=lambda e: e.rv)
                for ev in self.history[i:]:
                    if ev.res == r.plural:
                        item = w.translate(ev)
                        if item:
                            w.q.append(item)
            self.watchers[r.plural].add(w)
        return w

    def close_watch(self, w):
        with self.lock:
            self.watchers[w.r.plural].discard(w)
        w.close()

    def compact(self, upto=None):
        with self.lock:
            upto = self.rv if upto is None else min(int(upto), self.rv)
            upto = max(upto, self.compact_rv)
            i = bisect.bisect_right(self.history, upto, key=lambda e: e.rv)
            del self.history[:i]
            self.compact_rv = upto
            return upto

    def stop_watches(self, res=None):
        n = 0
        with self.lock:
            for p, ws in self.watchers.items():
                if res in (None, '', 'any', '*', p):
                    for w in ws:
                        w.stop()
                        n += 1
        return n


# --------------------------------------------------------------------------
# Faults and stats
# --------------------------------------------------------------------------

FAULT_KINDS = ('cut', 'stall', 'garbage', 'status', 'error')
GARBAGE_LINE = b'{"type":"ADDED","object":{not json'


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, spec):
        if not isinstance(spec, dict):
            raise err(400, 'fault must be a JSON object')
        f = dict(spec)
        f.setdefault('resource', 'any')
        f.setdefault('verb', 'any')
        f.setdefault('count', 1)
        f.setdefault('after_events', 0)
        f.setdefault('seconds', 5)
        f.setdefault('then', 'continue')
        if f.get('fault') not in FAULT_KINDS:
            raise err(400, 'fault must be one of %s' % ', '.join(FAULT_KINDS))
        if f['verb'] not in VERBS + ('any', '*'):
            raise err(400, 'unknown verb %r' % f['verb'])
        if f['resource'] not in tuple(RESOURCES) + ('any', '*'):
            raise err(400, 'unknown resource %r' % f['resource'])
        if f['then'] not in ('continue', 'close'):
            raise err(400, 'then must be "continue" or "close"')
        if f['fault'] in ('status', 'error'):
            f.setdefault('code', 500)
            f['code'] = int(f['code'])
        with self.lock:
            self.items.append(f)
        return f

    def clear(self):
        with self.lock:
            n = len(self.items)
            self.items = []
            return n

    def take(self, res, verb):
        with self.lock:
            for f in self.items:
                if f['resource'] in ('any', '*', res) and f['verb'] in ('any', '*', verb):
                    c = int(f['count'])
                    if c > 0:
                        if c == 1:
                            self.items.remove(f)
                        else:
                            f['count'] = c - 1
                    return dict(f)
        return None

    def pending(self):
        with self.lock:
            return [dict(f) for f in self.items]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, 'lock', threading.Lock()):
            self.requests = collections.Counter()
            self.users = collections.Counter()
            self.watches_opened = collections.Counter()
            self.unauthorized = 0
            self.faults_fired = collections.Counter()

    def count(self, verb, res, user):
        with self.lock:
            self.requests[(verb, res)] += 1
            self.users[user] += 1


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

def _parse_bool(v):
    return v in ('1', 't', 'T', 'true', 'TRUE', 'True')


class AbortConnection(Exception):
    """The handler already killed the connection."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'nsdp-apiserver-double/1'

    def version_string(self):
        return self.server_version

    # server attributes used: store, faults, stats, ctx (ApiServerDouble)

    def log_message(self, fmt, *args):
        self.server.double.log('%s %s' % (self.address_string(), fmt % args))

    def log_request(self, code='-', size='-'):
        self.server.double.log('%s "%s" %s %s user=%s' % (
            self.address_string(), self.requestline, code, size,
            getattr(self, '_user', None)))

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # -- low-level output ------------------------------------------------
    def _send(self, code, body, ctype='application/json', headers=None):
        if isinstance(body, (dict, list)):
            body = dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Cache-Control', 'no-cache, private')
        self.send_header('Audit-Id', str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self._headers_sent = True
        self.wfile.write(body)

    def _send_status(self, e):
        self._send(e.code, e.status, headers=e.headers)

    def _chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))

    def _end_chunks(self):
        self.wfile.write(b'0\r\n\r\n')

    def _abort(self):
        """Kill the TCP connection: no terminating chunk, no TLS close_notify."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise AbortConnection()

    def _read_body(self):
        te = self.headers.get('Transfer-Encoding', '')
        if 'chunked' in te.lower():
            out = b''
            while True:
                line = self.rfile.readline()
                n = int(line.split(b';')[0].strip() or b'0', 16)
                if n == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n > 0 else b''

    # -- auth --------------------------------------------------------------
    def _authenticate(self):
        """Returns a user name, or None."""
        try:
            cert = self.connection.getpeercert()
        except (ValueError, AttributeError):
            cert = None
        if cert:
            for rdn in cert.get('subject', ()):
                for k, v in rdn:
                    if k == 'commonName':
                        return v
        auth = self.headers.get('Authorization', '')
        parts = auth.split(None, 1)
        if len(parts) == 2 and parts[0].lower() == 'bearer':
            tok = parts[1].strip()
            users = self.server.double.read_tokens()
            if tok and tok in users:
                return users[tok]
        return None

    # -- dispatch ----------------------------------------------------------
    def _dispatch(self):
        self._headers_sent = False
        self._user = None
        try:
            body = self._read_body()
            self._route(body)
        except AbortConnection:
            self.close_connection = True
        except ApiError as e:
            if self._headers_sent:
                self.close_connection = True
            else:
                self._send_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError,
                socket.timeout):
            self.close_connection = True
        except Exception:                   # noqa: BLE001
            traceback.print_exc()
            self.close_connection = True
            if not self._headers_sent:
                try:
                    self._send(500, status_obj(500, 'Internal error occurred: '
                                               'apiserver double bug'))
                except OSError:
                    pass

    def _route(self, body):
        d = self.server.double
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip('/') or '/'
        q = {k: v[0] for k, v in urllib.parse.parse_qs(
            url.query, keep_blank_values=True).items()}
        method = self.command

        anonymous_ok = path in ('/healthz', '/livez', '/readyz', '/version') \
            and 'Authorization' not in self.headers
        user = self._authenticate()
        self._user = user
        if user is None and not anonymous_ok:
            with d.stats.lock:
                d.stats.unauthorized += 1
            raise err(401, 'Unauthorized', 'Unauthorized')

        if path in ('/healthz', '/livez', '/readyz'):
            return self._send(200, 'ok', 'text/plain; charset=utf-8')
        if path == '/version':
            return self._send(200, {
                'major': '1', 'minor': GIT_VERSION.split('.')[1],
                'gitVersion': GIT_VERSION, 'gitCommit': '0' * 40,
                'gitTreeState': 'clean', 'buildDate': '2024-04-17T17:27:03Z',
                'goVersion': 'go1.22.2', 'compiler': 'gc',
                'platform': 'linux/amd64'})
        if path.startswith('/_double/'):
            return self._admin(method, path, body)
        if method == 'GET' and path in ('/api', '/apis') or \
                (method == 'GET' and self._discovery(path, probe=True)):
            return self._discovery(path)

        # /api/v1/... or /apis/{group}/{version}/...
        segs = path.strip('/').split('/')
        if segs[0] == 'api' and len(segs) >= 2:
            group, version, rest = '', segs[1], segs[2:]
        elif segs[0] == 'apis' and len(segs) >= 3:
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise err(404, DEFAULT_MESSAGES[404], 'NotFound')
        if GROUPS.get(group) != version:
            raise err(404, DEFAULT_MESSAGES[404], 'NotFound')
        watch_path = False
        if rest and rest[0] == 'watch':
            watch_path, rest = True, rest[1:]
        ns = None
        if len(rest) >= 3 and rest[0] == 'namespaces':
            cand = RESOURCES.get(rest[2])
            if cand and cand.namespaced and cand.group == group:
                ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise err(404, DEFAULT_MESSAGES[404], 'NotFound')
        r = RESOURCES.get(rest[0])
        if r is None or r.group != group:
            raise err(404, DEFAULT_MESSAGES[404], 'NotFound')
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in r.subresources:
            raise err(404, DEFAULT_MESSAGES[404], 'NotFound')
        if r.namespaced and ns is None and name is not None:
            raise err(404, DEFAULT_MESSAGES[404], 'NotFound')
        if sub == 'finalize':
            sub = 'status'      # close enough for a double

        if method == 'GET':
            if name is None:
                verb = 'watch' if watch_path or _parse_bool(q.get('watch', '')) else 'list'
            else:
                verb = 'get'
        elif method == 'POST' and name is None:
            verb = 'create'
        elif method == 'PUT' and name is not None:
            verb = 'update'
        elif method == 'PATCH' and name is not None:
            verb = 'patch'
        elif method == 'DELETE':
            verb = 'delete' if name is not None else 'deletecollection'
        else:
            raise err(405, 'the server does not allow this method on the '
                      'requested resource', 'MethodNotAllowed')

        d.stats.count(verb, r.plural, user)
        fault = d.faults.take(r.plural, verb)
        if fault:
            with d.stats.lock:
                d.stats.faults_fired[fault['fault']] += 1
            if fault['fault'] == 'status' or (fault['fault'] == 'error' and verb != 'watch'):
                raise fault_status(fault, r, verb, ns, name, user)
            if verb != 'watch':
                return self._nonwatch_fault(fault, verb, r, ns, name, body, q, sub)
        if verb == 'watch':
            return self._watch(r, ns, q, fault)
        code, out = self._do_verb(verb, r, ns, name, body, q, sub)
        self._send(code, out)

    def _json_body(self, body):
        try:
            return json.loads(body.decode('utf-8') or 'null')
        except (ValueError, UnicodeDecodeError) as e:
            raise err(400, 'the body of the request could not be decoded: %s' % e)

    def _do_verb(self, verb, r, ns, name, body, q, sub):
        st = self.server.double.store
        if verb == 'get':
            return 200, st.get(r, ns, name)
        if verb == 'list':
            lpred = parse_label_selector(q.get('labelSelector'))
            fpred = parse_field_selector(q.get('fieldSelector'))
            try:
                limit = int(q.get('limit') or 0)
            except ValueError:
                raise err(400, 'limit: invalid value')
            rv, items, token, remaining = st.list(
                r, ns, lpred, fpred, limit, q.get('continue') or None,
                q.get('resourceVersion'), q.get('resourceVersionMatch'))
            md = {'resourceVersion': str(rv)}
            if token:
                md['continue'] = token
                if remaining is not None and not q.get('labelSelector') \
                        and not q.get('fieldSelector'):
                    md['remainingItemCount'] = remaining
            if r.builtin:
                items = [{k: v for k, v in o.items() if k not in ('kind', 'apiVersion')}
                         for o in items]
            return 200, {'kind': r.kind + 'List', 'apiVersion': r.api_version,
                         'metadata': md, 'items': items}
        if verb == 'create':
            return 201, st.create(r, ns, self._json_body(body))
        if verb == 'update':
            return 200, st.update(r, ns, name, self._json_body(body), sub)
        if verb == 'patch':
            return 200, st.patch(r, ns, name, self.headers.get('Content-Type'),
                                 self._json_body(body), sub)
        if verb == 'delete':
            opts = self._json_body(body) if body.strip() else None
            return st.delete(r, ns, name, opts if isinstance(opts, dict) else None)
        if verb == 'deletecollection':
            items = st.delete_collection(
                r, ns, parse_label_selector(q.get('labelSelector')),
                parse_field_selector(q.get('fieldSelector')))
            return 200, {'kind': r.kind + 'List', 'apiVersion': r.api_version,
                         'metadata': {'resourceVersion': str(st.rv)},
                         'items': items}
        raise AssertionError(verb)

    def _nonwatch_fault(self, fault, verb, r, ns, name, body, q, sub):
        kind = fault['fault']
        if kind == 'stall':
            self.server.double.stopping.wait(float(fault['seconds']))
            code, out = self._do_verb(verb, r, ns, name, body, q, sub)
            return self._send(code, out)
        if kind == 'garbage':
            return self._send(200, GARBAGE_LINE + b'\n')
        if kind == 'cut':
            code, out = self._do_verb(verb, r, ns, name, body, q, sub)
            data = dumps(out).encode()
            self.send_response(code)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self._headers_sent = True
            self.wfile.write(data[:len(data) // 2])
            self._abort()
        raise AssertionError(kind)

    # -- watch -------------------------------------------------------------
    def _watch(self, r, ns, q, fault):
        d = self.server.double
        st = d.store
        lpred = parse_label_selector(q.get('labelSelector'))
        fpred = parse_field_selector(q.get('fieldSelector'))
        rv_s = q.get('resourceVersion', '')
        send_initial = _parse_bool(q.get('sendInitialEvents', ''))
        bookmarks = _parse_bool(q.get('allowWatchBookmarks', '')) and d.bookmark_interval > 0
        try:
            timeout = float(q['timeoutSeconds']) if q.get('timeoutSeconds') else None
        except ValueError:
            raise err(400, 'timeoutSeconds: invalid value')
        initial = send_initial or rv_s in ('', '0')
        try:
            rv = 0 if rv_s == '' else int(rv_s)
        except ValueError:
            raise err(400, 'resourceVersion: Invalid value: "%s": must be a '
                      'decimal integer' % rv_s, 'BadRequest')

        def headers():
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Cache-Control', 'no-cache, private')
            self.send_header('Audit-Id', str(uuid.uuid4()))
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            self._headers_sent = True

        try:
            w = st.open_watch(r, ns, lpred, fpred, rv, initial)
        except ApiError as e:
            # The real server answers 200 and then one ERROR event.
            headers()
            self._chunk(dumps({'type': 'ERROR', 'object': e.status}).encode() + b'\n')
            self._end_chunks()
            return
        with d.stats.lock:
            d.stats.watches_opened[r.plural] += 1
        if send_initial and bookmarks:
            with st.lock:
                w.q.append(('BOOKMARK', {
                    'kind': r.kind, 'apiVersion': r.api_version,
                    'metadata': {'resourceVersion': str(st.rv), 'annotations': {
                        'k8s.io/initial-events-end': 'true'}}}))
        try:
            headers()
            self._watch_loop(w, r, fault, bookmarks, timeout)
        finally:
            st.close_watch(w)

    def _watch_loop(self, w, r, fault, bookmarks, timeout):
        d = self.server.double
        st = d.store
        conn = self.connection
        start = time.monotonic()
        deadline = start + timeout if timeout else None
        interval = d.bookmark_interval
        next_bm = start + interval if bookmarks else None
        sent = 0                      # non-bookmark events written
        fired = False
        after = int(fault['after_events']) if fault else 0

        def fire_if_due():
            nonlocal fired
            if not fault or fired or sent < after or fault['fault'] == 'cut':
                return True
            fired = True
            kind = fault['fault']
            if kind == 'stall':
                d.stopping.wait(float(fault['seconds']))
                return True
            if kind == 'garbage':
                self._chunk(GARBAGE_LINE + b'\n')
                if fault['then'] == 'close':
                    self._end_chunks()
                    return False
                return True
            if kind == 'error':
                e = fault_status(fault, r, 'watch', w.ns, None, self._user)
                self._chunk(dumps({'type': 'ERROR', 'object': e.status}).encode() + b'\n')
                self._end_chunks()
                return False
            return True

        if not fire_if_due():
            return
        while True:
            while w.q:
                typ, obj = w.q.popleft()
                line = dumps({'type': typ, 'object': obj}).encode() + b'\n'
                if typ != 'BOOKMARK' and fault and fault['fault'] == 'cut' \
                        and sent >= after:
                    half = line[:len(line) // 2]
                    self.wfile.write(b'%x\r\n%s' % (len(line), half))
                    self._abort()
                self._chunk(line)
                if typ != 'BOOKMARK':
                    sent += 1
                    if not fire_if_due():
                        return
            if w.stopped or d.stopping.is_set():
                self._end_chunks()
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self._end_chunks()
                return
            if next_bm is not None and now >= next_bm:
                with st.lock:
                    if w.q:
                        continue        # deliver pending events first
                    bm_rv = st.rv
                self._chunk(dumps({'type': 'BOOKMARK', 'object': {
                    'kind': r.kind, 'apiVersion': r.api_version,
                    'metadata': {'resourceVersion': str(bm_rv)}}}).encode() + b'\n')
                next_bm = now + interval
                continue
            waits = [t - now for t in (deadline, next_bm) if t is not None]
            tmo = max(0.0, min(waits)) if waits else None
            try:
                ready, _, _ = select.select([conn, w.rsock], [], [], tmo)
            except (OSError, ValueError):
                raise BrokenPipeError()
            if w.rsock in ready:
                w.drain_wakeups()
            if conn in ready:
                # The client has nothing to say during a watch: EOF or junk.
                self.close_connection = True
                try:
                    conn.setblocking(False)
                    data = conn.recv(1)
                except ssl.SSLWantReadError:
                    data = None
                except (OSError, ssl.SSLError):
                    data = b''
                finally:
                    try:
                        conn.setblocking(True)
                    except OSError:
                        pass
                if data is not None:
                    return

    # -- discovery ---------------------------------------------------------
    def _discovery(self, path, probe=False):
        d = self.server.double
        if path == '/api':
            if probe:
                return True
            return self._send(200, {
                'kind': 'APIVersions', 'versions': ['v1'],
                'serverAddressByClientCIDRs': [{'clientCIDR': '0.0.0.0/0',
                                                'serverAddress': '%s:%d' % (d.host, d.port)}]})

        def group_obj(g):
            gv = '%s/%s' % (g, GROUPS[g])
            return {'name': g, 'versions': [{'groupVersion': gv, 'version': GROUPS[g]}],
                    'preferredVersion': {'groupVersion': gv, 'version': GROUPS[g]}}
        if path == '/apis':
            if probe:
                return True
            return self._send(200, {'kind': 'APIGroupList', 'apiVersion': 'v1',
                                    'groups': [group_obj(g) for g in GROUPS if g]})
        segs = path.strip('/').split('/')
        if segs[0] == 'apis' and len(segs) == 2 and segs[1] in GROUPS and segs[1]:
            if probe:
                return True
            o = group_obj(segs[1])
            o.update(kind='APIGroup', apiVersion='v1')
            return self._send(200, o)
        if segs[0] == 'api' and len(segs) == 2 and segs[1] == 'v1':
            group = ''
        elif segs[0] == 'apis' and len(segs) == 3 and GROUPS.get(segs[1]) == segs[2] \
                and segs[1]:
            group = segs[1]
        else:
            return False
        if probe:
            return True
        res = []
        for r in RESOURCES.values():
            if r.group != group:
                continue
            res.append({'name': r.plural, 'singularName': r.singular,
                        'namespaced': r.namespaced, 'kind': r.kind,
                        'verbs': ['create', 'delete', 'deletecollection', 'get',
                                  'list', 'patch', 'update', 'watch'],
                        'shortNames': r.short})
            for s in r.subresources:
                res.append({'name': '%s/%s' % (r.plural, s), 'singularName': '',
                            'namespaced': r.namespaced, 'kind': r.kind,
                            'verbs': ['get', 'patch', 'update'] if s == 'status' else ['update']})
        gv = '%s/%s' % (group, GROUPS[group]) if group else 'v1'
        return self._send(200, {'kind': 'APIResourceList', 'apiVersion': 'v1',
                                'groupVersion': gv, 'resources': res})

    # -- admin -------------------------------------------------------------
    def _admin(self, method, path, body):
        d = self.server.double
        what = path[len('/_double/'):]
        payload = self._json_body(body) if body.strip() else None
        if what == 'compact' and method == 'POST':
            upto = payload.get('resourceVersion') if isinstance(payload, dict) else None
            c = d.store.compact(upto)
            return self._send(200, {'compactedResourceVersion': str(c),
                                    'resourceVersion': str(d.store.rv)})
        if what == 'faults':
            if method == 'POST':
                specs = payload if isinstance(payload, list) else [payload]
                added = [d.faults.add(s) for s in specs]
                return self._send(201, {'faults': added})
            if method == 'DELETE':
                return self._send(200, {'cleared': d.faults.clear()})
            if method == 'GET':
                return self._send(200, {'faults': d.faults.pending()})
        if what == 'stats':
            if method == 'GET':
                return self._send(200, d.stats_json())
            if method == 'DELETE':
                d.stats.reset()
                return self._send(200, d.stats_json())
        if what == 'close-watches' and method == 'POST':
            res = payload.get('resource') if isinstance(payload, dict) else None
            return self._send(200, {'closed': d.store.stop_watches(res)})
        raise err(404, DEFAULT_MESSAGES[404], 'NotFound')


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def finish_request(self, request, client_address):
        # TLS handshake in the per-connection thread, not the accept loop.
        try:
            request.settimeout(10)
            tls = self.double.ctx.wrap_socket(request, server_side=True)
            tls.settimeout(None)
        except (OSError, ssl.SSLError) as e:
            self.double.log('%s TLS handshake failed: %s' % (client_address[0], e))
            try:
                request.close()
            except OSError:
                pass
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout)):
            return
        ThreadingHTTPServer.handle_error(self, request, client_address)


class _TLSServer6(_TLSServer):
    address_family = socket.AF_INET6


# --------------------------------------------------------------------------
# The double
# --------------------------------------------------------------------------

class ApiServerDouble:
    def __init__(self, cert, key, ca, token_file, listen='127.0.0.1:0',
                 bookmark_interval=1.0, log_file=None, require_namespaces=False):
        host, _, port = listen.rpartition(':')
        host = host.strip('[]') or '127.0.0.1'
        self.host = host
        self.token_file = token_file
        self.bookmark_interval = float(bookmark_interval)
        self.store = Store(require_namespaces)
        self.faults = Faults()
        self.stats = Stats()
        self.stopping = threading.Event()
        self._log_lock = threading.Lock()
        self._log = open(log_file, 'a', buffering=1) if log_file else None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(['http/1.1'])
        self.ctx = ctx
        cls = _TLSServer6 if ':' in host else _TLSServer
        self.httpd = cls((host, int(port or 0)), Handler)
        self.httpd.double = self
        self.port = self.httpd.server_address[1]
        self._thread = None

    @property
    def url(self):
        h = '[%s]' % self.host if ':' in self.host else self.host
        return 'https://%s:%d' % (h, self.port)

    def log(self, line):
        if self._log:
            with self._log_lock:
                self._log.write('%s %s\n' % (now_rfc3339(), line))

    def read_tokens(self):
        """token -> user; the file is re-read on every request.  A line is a
        token, or kube's static-token CSV 'token,user[,...]'."""
        users = {}
        try:
            with open(self.token_file) as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    if ',' in line:
                        parts = [p.strip().strip('"') for p in line.split(',')]
                        users[parts[0]] = parts[1] or DEFAULT_TOKEN_USER
                    else:
                        users[line] = DEFAULT_TOKEN_USER
        except OSError:
            pass
        return users

    def stats_json(self):
        s = self.stats
        with s.lock:
            req = {}
            for (verb, res), n in sorted(s.requests.items()):
                req.setdefault(res, {})[verb] = n
            out = {'requests': req,
                   'users': dict(s.users),
                   'unauthorized': s.unauthorized,
                   'watches_opened': dict(s.watches_opened),
                   'faults_fired': dict(s.faults_fired)}
        with self.store.lock:
            out['open_watches'] = {p: len(ws) for p, ws in self.store.watchers.items()}
            out['resourceVersion'] = str(self.store.rv)
            out['compactedResourceVersion'] = str(self.store.compact_rv)
            out['objects'] = {p: len(o) for p, o in self.store.objects.items()}
            out['history'] = len(self.store.history)
        out['faults_pending'] = self.faults.pending()
        return out

    def preload(self, paths):
        """Create objects from JSON files / directories of *.json (objects or
        {"kind":"List","items":[...]}) through the same path as POST."""
        objs = []
        for p in paths:
            files = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if f.endswith('.json')) if os.path.isdir(p) else [p]
            for fn in files:
                with open(fn) as f:
                    doc = json.load(f)
                docs = doc if isinstance(doc, list) else [doc]
                for o in docs:
                    if isinstance(o, dict) and o.get('kind', '').endswith('List') \
                            and 'items' in o:
                        objs.extend((fn, i) for i in o['items'])
                    else:
                        objs.append((fn, o))
        # namespaces first so --require-namespaces works with any file order
        objs.sort(key=lambda t: 0 if isinstance(t[1], dict) and
                  t[1].get('kind') == 'Namespace' else 1)
        created = 0
        for fn, o in objs:
            if not isinstance(o, dict):
                raise ValueError('%s: not an object' % fn)
            r = BY_KIND.get((o.get('apiVersion'), o.get('kind')))
            if r is None:
                raise ValueError('%s: unsupported apiVersion/kind %s/%s'
                                 % (fn, o.get('apiVersion'), o.get('kind')))
            ns = (o.get('metadata') or {}).get('namespace') or 'default' \
                if r.namespaced else None
            try:
                self.store.create(r, ns, o)
            except ApiError as e:
                raise ValueError('%s: %s' % (fn, e.status['message']))
            created += 1
        return created

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={'poll_interval': 0.2}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.store.stop_watches()
        # let open watches write their terminating chunk before we go
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            with self.store.lock:
                if not any(self.store.watchers.values()):
                    break
            time.sleep(0.02)
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(5)
        if self._log:
            self._log.close()
            self._log = None


def make_certs(directory, client_cn='system:node:node-1', client_o='system:nodes'):
    """Runs mkcerts.sh; returns a dict of paths (ca, ca_key, cert, key,
    client_cert, client_key, token)."""
    subprocess.run(['sh', os.path.join(HERE, 'mkcerts.sh'), directory,
                    client_cn, client_o], check=True)
    j = lambda f: os.path.join(directory, f)      # noqa: E731
    return {'ca': j('ca.crt'), 'ca_key': j('ca.key'), 'cert': j('server.crt'),
            'key': j('server.key'), 'client_cert': j('client.crt'),
            'client_key': j('client.key'), 'token': j('token')}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--listen', default='127.0.0.1:0', help='HOST:PORT (port 0: any)')
    ap.add_argument('--cert', required=True, help='server certificate (PEM)')
    ap.add_argument('--key', required=True, help='server key (PEM)')
    ap.add_argument('--ca', required=True, help='CA for client certificates (PEM)')
    ap.add_argument('--token-file', required=True,
                    help='valid bearer tokens, one per line; re-read per request')
    ap.add_argument('--port-file', help='write the bound port here')
    ap.add_argument('--bookmark-interval', type=float, default=1.0,
                    help='seconds between BOOKMARKs (<=0: never)')
    ap.add_argument('--preload', nargs='+', action='extend', default=[],
                    metavar='DIR_OR_FILE', help='JSON objects/Lists to create at start')
    ap.add_argument('--require-namespaces', action='store_true',
                    help='reject namespaced creates in a missing namespace (404)')
    ap.add_argument('--log', help='append a request log here')
    a = ap.parse_args(argv)

    d = ApiServerDouble(a.cert, a.key, a.ca, a.token_file, a.listen,
                        a.bookmark_interval, a.log, a.require_namespaces)
    if a.preload:
        try:
            d.preload(a.preload)
        except (OSError, ValueError) as e:
            print('preload: %s' % e, file=sys.stderr)
            return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    d.start()
    if a.port_file:
        tmp = a.port_file + '.tmp'
        with open(tmp, 'w') as f:
            f.write('%d\n' % d.port)
        os.replace(tmp, a.port_file)
    print('listening on %s' % d.url, flush=True)
    while not done.wait(1.0):
        pass
    d.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
