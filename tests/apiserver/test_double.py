#!/usr/bin/python3
"""TAP test of the API-server test double, driven by the official Kubernetes
Python client (so the double cannot drift from what real clients expect) and
by curl (chunked framing as a non-Python client sees it).

Run directly (/usr/bin/python3 tests/apiserver/test_double.py) or via
`meson test apiserver-double`.
"""

import http.client
import json
import os
import queue
import re
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True      # no __pycache__ in the source tree
import apiserver  # noqa: E402

import urllib3  # noqa: E402
from kubernetes import client as k8s, watch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
SERVER = os.path.join(HERE, 'apiserver.py')
BOOKMARK_INTERVAL = 0.3
ANP = ('policy.networking.k8s.io', 'v1alpha1')

TESTS = []


def test(desc):
    def deco(fn):
        TESTS.append((desc, fn))
        return fn
    return deco


class Env:
    tmp = None
    pki = None
    proc = None
    port = None
    url = None
    token = None
    listen_line = None


E = Env()


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def start_server(extra=(), token_file=None, timeout=20):
    port_file = os.path.join(E.tmp, 'port-%d' % time.monotonic_ns())
    args = [PYTHON, SERVER, '--listen', '127.0.0.1:0',
            '--cert', E.pki['cert'], '--key', E.pki['key'], '--ca', E.pki['ca'],
            '--token-file', token_file or E.pki['token'], '--port-file', port_file,
            '--log', os.path.join(E.tmp, 'server.log')] + list(extra)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=sys.stderr,
                            text=True)
    deadline = time.monotonic() + timeout
    line = ''
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.5)
        if r:
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    m = re.match(r'^listening on https://127\.0\.0\.1:(\d+)\n$', line)
    if not m:
        proc.kill()
        raise RuntimeError('server did not start; said %r, rc %r' % (line, proc.poll()))
    port = int(m.group(1))
    with open(port_file) as f:
        pf = int(f.read().strip())
    assert pf == port, (pf, port)
    return proc, port, line


def stop_server(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def api_client(token=True, cert=None, port=None):
    cfg = k8s.Configuration()
    cfg.host = 'https://127.0.0.1:%d' % (port or E.port)
    cfg.ssl_ca_cert = E.pki['ca']
    cfg.retries = False
    if token:
        tok = E.token if token is True else token
        cfg.api_key = {'authorization': 'Bearer ' + tok}
    if cert:
        cfg.cert_file, cfg.key_file = cert
    return k8s.ApiClient(cfg)


def ssl_ctx():
    return ssl.create_default_context(cafile=E.pki['ca'])


def raw(method, path, body=None, token=None, port=None, timeout=30):
    """Plain HTTPS request; returns (status, headers, body bytes)."""
    conn = http.client.HTTPSConnection('127.0.0.1', port or E.port,
                                       context=ssl_ctx(), timeout=timeout)
    hdrs = {}
    if token is not False:
        hdrs['Authorization'] = 'Bearer ' + (token or E.token)
    data = None
    if body is not None:
        data = json.dumps(body)
        hdrs['Content-Type'] = 'application/json'
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def admin(method, what, body=None, port=None):
    st, _, data = raw(method, '/_double/' + what, body, port=port)
    assert st in (200, 201), (st, data)
    return json.loads(data)


def stats():
    return admin('GET', 'stats')


def fault(**spec):
    return admin('POST', 'faults', spec)


def wait_for(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError('timed out waiting for ' + what)


def current_rv():
    return stats()['resourceVersion']


def collect(func, *args, n, timeout_seconds=10, **kw):
    """Official Watch().stream; stops after n events (or the server's
    timeoutSeconds).  Returns the events."""
    w = watch.Watch()
    out = []
    for ev in w.stream(func, *args, timeout_seconds=timeout_seconds,
                       _request_timeout=(10, 30), **kw):
        out.append(ev)
        if len(out) >= n:
            w.stop()
    return out


class BgWatch:
    """An official-client watch in a thread; events land in a queue."""

    def __init__(self, func, args, kw):
        self.q = queue.Queue()
        self.w = watch.Watch()
        kw.setdefault('timeout_seconds', 60)
        kw.setdefault('_request_timeout', (10, 60))
        self.t = threading.Thread(target=self._run, args=(func, args, kw), daemon=True)
        self.t.start()

    def _run(self, func, args, kw):
        try:
            for ev in self.w.stream(func, *args, **kw):
                self.q.put(('EV', ev))
            self.q.put(('END', None))
        except Exception as e:          # noqa: BLE001
            self.q.put(('EXC', e))

    def next(self, timeout=10):
        """Next event (BOOKMARKs included); None when the stream ended
        cleanly; re-raises what the client raised."""
        kind, v = self.q.get(timeout=timeout)
        if kind == 'EXC':
            raise v
        return None if kind == 'END' else v

    def next_event(self, timeout=10):
        while True:
            ev = self.next(timeout)
            if ev is None or ev['type'] != 'BOOKMARK':
                return ev


def open_watch_and_wait(func, *args, res='pods', **kw):
    """Start a BgWatch and wait until the server has registered it."""
    before = stats()['watches_opened'].get(res, 0)
    bw = BgWatch(func, args, kw)
    wait_for(lambda: stats()['watches_opened'].get(res, 0) > before, 'the watch to open')
    return bw


def close_watches():
    admin('POST', 'close-watches', {})
    wait_for(lambda: sum(stats()['open_watches'].values()) == 0, 'watches to close')


def expect_api_error(status, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except ApiException as e:
        assert e.status == status, 'expected %d, got %d: %s' % (status, e.status, e.body)
        return json.loads(e.body) if e.body else None
    raise AssertionError('expected ApiException %d' % status)


def mkns(v1, name, labels=None):
    return v1.create_namespace({'metadata': {'name': name, 'labels': labels or {}}})


def pod(name, node='node-1', ip=None, labels=None, **extra):
    p = {'metadata': {'name': name, 'labels': labels or {}},
         'spec': {'nodeName': node, 'containers': [{'name': 'c', 'image': 'busybox'}]}}
    if ip:
        p['status'] = {'podIP': ip, 'podIPs': [{'ip': ip}]}
    p['metadata'].update(extra)
    return p


def rvs(events):
    return [int(e['raw_object']['metadata']['resourceVersion']) for e in events]


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

@test('server starts, prints its URL and writes --port-file')
def t_start():
    assert E.listen_line == 'listening on https://127.0.0.1:%d\n' % E.port
    st, hdr, body = raw('GET', '/healthz', token=False)
    assert st == 200 and body == b'ok', (st, body)


@test('discovery: /version, /api, /apis, APIResourceLists, dynamic client')
def t_discovery():
    api = api_client()
    assert k8s.VersionApi(api).get_code().git_version == 'v1.30.0'
    assert k8s.CoreApi(api).get_api_versions().versions == ['v1']
    groups = {g.name: g.preferred_version.version
              for g in k8s.ApisApi(api).get_api_versions().groups}
    assert groups == {'networking.k8s.io': 'v1', 'policy.networking.k8s.io': 'v1alpha1'}, groups
    core = {r.name: r for r in k8s.CoreV1Api(api).get_api_resources().resources}
    assert core['pods'].namespaced and not core['nodes'].namespaced
    assert core['namespaces'].kind == 'Namespace' and 'watch' in core['pods'].verbs
    from kubernetes.dynamic import DynamicClient
    dyn = DynamicClient(api, cache_file=os.path.join(E.tmp, 'discovery.json'))
    for kind, plural in (('AdminNetworkPolicy', 'adminnetworkpolicies'),
                         ('BaselineAdminNetworkPolicy', 'baselineadminnetworkpolicies')):
        r = dyn.resources.get(api_version='/'.join(ANP), kind=kind)
        assert r.name == plural and not r.namespaced, r
    pods = dyn.resources.get(api_version='v1', kind='Pod')
    assert pods.namespaced and pods.name == 'pods'
    netpol = dyn.resources.get(api_version='networking.k8s.io/v1', kind='NetworkPolicy')
    assert netpol.get().kind == 'NetworkPolicyList'


@test('namespaces: create/get/list/replace/patch/delete, 409 and 404')
def t_namespaces():
    v1 = k8s.CoreV1Api(api_client())
    ns = mkns(v1, 'crud-ns', {'team': 'a'})
    md = ns.metadata
    assert md.uid and md.creation_timestamp and md.generation == 1
    assert md.labels == {'team': 'a', 'kubernetes.io/metadata.name': 'crud-ns'}, md.labels
    assert ns.status.phase == 'Active'
    body = expect_api_error(409, mkns, v1, 'crud-ns')
    assert body['reason'] == 'AlreadyExists' and body['message'] == 'namespaces "crud-ns" already exists'
    assert body['details'] == {'name': 'crud-ns', 'kind': 'namespaces'}, body
    got = v1.read_namespace('crud-ns')
    assert got.metadata.resource_version == md.resource_version
    assert 'crud-ns' in [n.metadata.name for n in v1.list_namespace().items]
    got.metadata.labels['team'] = 'b'
    rep = v1.replace_namespace('crud-ns', got)
    assert int(rep.metadata.resource_version) > int(md.resource_version)
    assert rep.metadata.uid == md.uid and rep.metadata.labels['team'] == 'b'
    pat = v1.patch_namespace('crud-ns', {'metadata': {'labels': {'extra': 'x'}}})
    assert pat.metadata.labels == {'team': 'b', 'extra': 'x',
                                   'kubernetes.io/metadata.name': 'crud-ns'}
    assert int(pat.metadata.resource_version) > int(rep.metadata.resource_version)
    dele = v1.delete_namespace('crud-ns')
    assert dele.kind == 'Namespace' or dele.status in ('Success', None)
    body = expect_api_error(404, v1.read_namespace, 'crud-ns')
    assert body == {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                    'message': 'namespaces "crud-ns" not found', 'reason': 'NotFound',
                    'details': {'name': 'crud-ns', 'kind': 'namespaces'}, 'code': 404}, body


@test('pods: CRUD, status.podIPs kept, generation, 409 on stale RV, patch types, no-op update')
def t_pods():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'crud')
    p = v1.create_namespaced_pod('crud', pod('p1', ip='10.1.0.5', labels={'app': 'web'}))
    assert p.kind == 'Pod' and p.api_version == 'v1'
    assert p.status.pod_ip == '10.1.0.5' and p.status.pod_i_ps[0].ip == '10.1.0.5'
    assert p.metadata.namespace == 'crud' and p.metadata.generation == 1
    rv1 = int(p.metadata.resource_version)
    body = expect_api_error(409, v1.create_namespaced_pod, 'crud', pod('p1'))
    assert body['reason'] == 'AlreadyExists'
    # update with the current RV: spec change bumps generation
    p.spec.containers[0].image = 'busybox:2'
    p2 = v1.replace_namespaced_pod('p1', 'crud', p)
    assert int(p2.metadata.resource_version) > rv1 and p2.metadata.generation == 2
    assert p2.status.pod_ip == '10.1.0.5'
    # stale RV -> 409 Conflict
    p.metadata.resource_version = str(rv1)
    body = expect_api_error(409, v1.replace_namespaced_pod, 'p1', 'crud', p)
    assert body['reason'] == 'Conflict', body
    assert body['message'].startswith('Operation cannot be fulfilled on pods "p1": '
                                      'the object has been modified'), body
    # no-op update: same RV, no event
    p3 = v1.replace_namespaced_pod('p1', 'crud', p2)
    assert p3.metadata.resource_version == p2.metadata.resource_version
    # strategic-merge (client default for dicts) keeps other labels
    p4 = v1.patch_namespaced_pod('p1', 'crud', {'metadata': {'labels': {'tier': 'fe'}}})
    assert p4.metadata.labels == {'app': 'web', 'tier': 'fe'}
    assert p4.metadata.generation == 2      # metadata-only change
    # JSON patch (the client sends a list as application/json-patch+json)
    p5 = v1.patch_namespaced_pod('p1', 'crud', [
        {'op': 'replace', 'path': '/metadata/labels/tier', 'value': 'be'},
        {'op': 'remove', 'path': '/metadata/labels/app'}])
    assert p5.metadata.labels == {'tier': 'be'}
    # status subresource: change the IP
    p5.status.pod_ip = '10.1.0.6'
    p5.status.pod_i_ps = [{'ip': '10.1.0.6'}]
    p6 = v1.replace_namespaced_pod_status('p1', 'crud', p5)
    assert p6.status.pod_ip == '10.1.0.6' and p6.metadata.labels == {'tier': 'be'}
    assert v1.read_namespaced_pod('p1', 'crud').status.pod_ip == '10.1.0.6'
    p7 = v1.patch_namespaced_pod_status('p1', 'crud', {'status': {'phase': 'Running'}})
    assert p7.status.phase == 'Running' and p7.status.pod_ip == '10.1.0.6'
    d = v1.delete_namespaced_pod('p1', 'crud')
    assert d.kind == 'Pod' and d.metadata.name == 'p1'
    body = expect_api_error(404, v1.read_namespaced_pod, 'p1', 'crud')
    assert body['message'] == 'pods "p1" not found' and body['reason'] == 'NotFound'
    expect_api_error(404, v1.delete_namespaced_pod, 'p1', 'crud')
    # generateName
    g = v1.create_namespaced_pod('crud', {'metadata': {'generateName': 'gen-'}, 'spec': {
        'containers': [{'name': 'c', 'image': 'x'}]}})
    assert re.match(r'^gen-[a-z0-9]{5}$', g.metadata.name), g.metadata.name


@test('nodes: create/get/list/patch/replace/delete (cluster-scoped)')
def t_nodes():
    v1 = k8s.CoreV1Api(api_client())
    n = v1.create_node({'metadata': {'name': 'node-1', 'labels': {'zone': 'a'}},
                        'spec': {'podCIDR': '10.1.0.0/24'},
                        'status': {'addresses': [{'type': 'InternalIP', 'address': '192.168.0.1'}]}})
    assert n.metadata.namespace is None and n.spec.pod_cidr == '10.1.0.0/24'
    assert v1.read_node('node-1').status.addresses[0].address == '192.168.0.1'
    assert [x.metadata.name for x in v1.list_node().items] == ['node-1']
    n2 = v1.patch_node('node-1', {'metadata': {'labels': {'zone': 'b'}}})
    assert n2.metadata.labels == {'zone': 'b'}
    n2.spec.pod_cidr = '10.1.1.0/24'
    n3 = v1.replace_node('node-1', n2)
    assert n3.spec.pod_cidr == '10.1.1.0/24' and n3.metadata.generation == 2
    v1.create_node({'metadata': {'name': 'node-2'}})
    st = v1.delete_node('node-2')
    assert st.status == 'Success', st
    expect_api_error(404, v1.read_node, 'node-2')


@test('networkpolicies: CRUD via NetworkingV1Api, namespaced and all-namespaces list')
def t_netpol():
    api = api_client()
    v1 = k8s.CoreV1Api(api)
    net = k8s.NetworkingV1Api(api)
    mkns(v1, 'np1')
    mkns(v1, 'np2')
    spec = {'podSelector': {'matchLabels': {'app': 'web'}}, 'policyTypes': ['Ingress'],
            'ingress': [{'from': [{'ipBlock': {'cidr': '10.0.0.0/8'}}],
                         'ports': [{'protocol': 'TCP', 'port': 80}]}]}
    a = net.create_namespaced_network_policy('np1', {'metadata': {'name': 'allow-web'}, 'spec': spec})
    assert a.kind == 'NetworkPolicy' and a.api_version == 'networking.k8s.io/v1'
    net.create_namespaced_network_policy('np2', {'metadata': {'name': 'deny'}, 'spec': {
        'podSelector': {}, 'policyTypes': ['Ingress', 'Egress']}})
    assert [x.metadata.name for x in net.list_namespaced_network_policy('np1').items] == ['allow-web']
    allns = net.list_network_policy_for_all_namespaces()
    assert [(x.metadata.namespace, x.metadata.name) for x in allns.items] == \
        [('np1', 'allow-web'), ('np2', 'deny')]
    got = net.read_namespaced_network_policy('allow-web', 'np1')
    assert got.spec.ingress[0].ports[0].port == 80
    got.spec.ingress[0].ports[0].port = 8080
    rep = net.replace_namespaced_network_policy('allow-web', 'np1', got)
    assert rep.spec.ingress[0].ports[0].port == 8080 and rep.metadata.generation == 2
    pat = net.patch_namespaced_network_policy('allow-web', 'np1',
                                              {'spec': {'policyTypes': ['Ingress', 'Egress']}})
    assert pat.spec.policy_types == ['Ingress', 'Egress']
    net.delete_namespaced_network_policy('allow-web', 'np1')
    body = expect_api_error(404, net.read_namespaced_network_policy, 'allow-web', 'np1')
    assert body['message'] == 'networkpolicies.networking.k8s.io "allow-web" not found', body
    assert body['details'] == {'name': 'allow-web', 'group': 'networking.k8s.io',
                               'kind': 'networkpolicies'}, body


@test('ANP/BANP: CRUD via CustomObjectsApi; BANP name must be "default"')
def t_anp():
    co = k8s.CustomObjectsApi(api_client())
    anp = {'apiVersion': 'policy.networking.k8s.io/v1alpha1', 'kind': 'AdminNetworkPolicy',
           'metadata': {'name': 'deny-all'},
           'spec': {'priority': 10, 'subject': {'namespaces': {}},
                    'ingress': [{'name': 'deny', 'action': 'Deny',
                                 'from': [{'namespaces': {}}]}]}}
    c = co.create_cluster_custom_object(*ANP, 'adminnetworkpolicies', anp)
    assert c['metadata']['resourceVersion'] and c['kind'] == 'AdminNetworkPolicy'
    g = co.get_cluster_custom_object(*ANP, 'adminnetworkpolicies', 'deny-all')
    assert g['spec']['priority'] == 10
    lst = co.list_cluster_custom_object(*ANP, 'adminnetworkpolicies')
    assert lst['kind'] == 'AdminNetworkPolicyList'
    assert [i['kind'] for i in lst['items']] == ['AdminNetworkPolicy']   # CRD lists keep kind
    g['spec']['priority'] = 20
    r = co.replace_cluster_custom_object(*ANP, 'adminnetworkpolicies', 'deny-all', g)
    assert r['spec']['priority'] == 20 and r['metadata']['generation'] == 2
    p = co.patch_cluster_custom_object(*ANP, 'adminnetworkpolicies', 'deny-all',
                                       {'metadata': {'labels': {'x': 'y'}}})
    assert p['metadata']['labels'] == {'x': 'y'} and p['spec']['priority'] == 20
    d = co.delete_cluster_custom_object(*ANP, 'adminnetworkpolicies', 'deny-all')
    assert d['status'] == 'Success' and d['details']['name'] == 'deny-all', d
    expect_api_error(404, co.get_cluster_custom_object, *ANP, 'adminnetworkpolicies', 'deny-all')
    banp = {'apiVersion': 'policy.networking.k8s.io/v1alpha1',
            'kind': 'BaselineAdminNetworkPolicy', 'metadata': {'name': 'default'},
            'spec': {'subject': {'namespaces': {}}, 'ingress': []}}
    co.create_cluster_custom_object(*ANP, 'baselineadminnetworkpolicies', banp)
    assert co.get_cluster_custom_object(*ANP, 'baselineadminnetworkpolicies', 'default')
    banp['metadata']['name'] = 'other'
    body = expect_api_error(422, co.create_cluster_custom_object, *ANP,
                            'baselineadminnetworkpolicies', banp)
    assert body['reason'] == 'Invalid', body
    assert 'Only one baseline admin network policy' in body['message']


@test('paging: limit/_continue returns every object once from one snapshot')
def t_paging():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'page')
    names = ['pod-%02d' % i for i in range(7)]
    for n in names:
        v1.create_namespaced_pod('page', pod(n))
    seen, tok, pages, list_rvs = [], None, 0, set()
    while True:
        kw = {'limit': 3}
        if tok:
            kw['_continue'] = tok
        lst = v1.list_namespaced_pod('page', **kw)
        pages += 1
        list_rvs.add(lst.metadata.resource_version)
        seen += [p.metadata.name for p in lst.items]
        if pages == 1:
            assert lst.metadata.remaining_item_count == 4, lst.metadata
            # writes after the first page must not show up in later pages
            v1.create_namespaced_pod('page', pod('pod-99'))
            v1.delete_namespaced_pod('pod-05', 'page')
        tok = lst.metadata._continue
        if not tok:
            break
    assert seen == names, seen
    assert pages == 3 and len(list_rvs) == 1, (pages, list_rvs)
    fresh = [p.metadata.name for p in v1.list_namespaced_pod('page').items]
    assert 'pod-99' in fresh and 'pod-05' not in fresh
    # all-namespaces paging too
    allp, tok = [], None
    while True:
        kw = {'limit': 2}
        if tok:
            kw['_continue'] = tok
        lst = v1.list_pod_for_all_namespaces(**kw)
        allp += [(p.metadata.namespace, p.metadata.name) for p in lst.items]
        tok = lst.metadata._continue
        if not tok:
            break
    assert allp == sorted(set(allp)) and ('page', 'pod-99') in allp


@test('labelSelector and fieldSelector (spec.nodeName, metadata.name)')
def t_selectors():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'sel')
    v1.create_namespaced_pod('sel', pod('a', node='n1', labels={'app': 'web', 'env': 'prod'}))
    v1.create_namespaced_pod('sel', pod('b', node='n2', labels={'app': 'db'}))
    v1.create_namespaced_pod('sel', pod('c', node='n1'))

    def names(**kw):
        return [p.metadata.name for p in v1.list_namespaced_pod('sel', **kw).items]
    assert names(label_selector='app=web') == ['a']
    assert names(label_selector='app in (web,db)') == ['a', 'b']
    assert names(label_selector='!app') == ['c']
    assert names(label_selector='app,env!=prod') == ['b']
    assert names(label_selector='app notin (web)') == ['b', 'c']
    assert names(field_selector='spec.nodeName=n1') == ['a', 'c']
    assert names(field_selector='metadata.name=b') == ['b']
    assert names(field_selector='spec.nodeName=n1', label_selector='app') == ['a']
    allp = v1.list_pod_for_all_namespaces(field_selector='spec.nodeName=n2').items
    assert [p.metadata.name for p in allp] == ['b']
    expect_api_error(400, v1.list_namespaced_pod, 'sel', label_selector='a in b')


@test('watch from RV: ADDED, MODIFIED, DELETED in order with increasing RVs')
def t_watch_replay():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'w1')
    rv0 = v1.list_namespaced_pod('w1').metadata.resource_version
    v1.create_namespaced_pod('w1', pod('x', ip='10.2.0.1'))
    v1.patch_namespaced_pod('x', 'w1', {'metadata': {'labels': {'k': 'v'}}})
    v1.delete_namespaced_pod('x', 'w1')
    for fn, args in ((v1.list_namespaced_pod, ('w1',)), (v1.list_pod_for_all_namespaces, ())):
        evs = collect(fn, *args, n=3, resource_version=rv0)
        assert [e['type'] for e in evs] == ['ADDED', 'MODIFIED', 'DELETED'], evs
        r = rvs(evs)
        assert r == sorted(r) and len(set(r)) == 3 and r[0] > int(rv0), r
        assert isinstance(evs[0]['object'], k8s.V1Pod)
        assert evs[0]['object'].status.pod_ip == '10.2.0.1'
        assert evs[1]['object'].metadata.labels == {'k': 'v'}
        assert evs[2]['raw_object']['kind'] == 'Pod'
    # the client hung up on an idle watch: the server notices and drops it
    wait_for(lambda: stats()['open_watches']['pods'] == 0, 'the server to drop the watch')


@test('live watch: events written after the watch opened arrive in order')
def t_watch_live():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'w2')
    rv0 = v1.list_namespaced_pod('w2').metadata.resource_version
    bw = open_watch_and_wait(v1.list_namespaced_pod, 'w2', resource_version=rv0)
    v1.create_namespaced_pod('w2', pod('y'))
    v1.create_namespaced_pod('w2', pod('z'))
    v1.patch_namespaced_pod('y', 'w2', {'metadata': {'labels': {'a': 'b'}}})
    v1.delete_namespaced_pod('z', 'w2')
    evs = [bw.next_event() for _ in range(4)]
    assert [(e['type'], e['object'].metadata.name) for e in evs] == \
        [('ADDED', 'y'), ('ADDED', 'z'), ('MODIFIED', 'y'), ('DELETED', 'z')], evs
    r = rvs(evs)
    assert r == sorted(r) and len(set(r)) == 4
    close_watches()
    assert bw.next() is None       # ended cleanly, no exception


@test('watch with resourceVersion=0: synthetic ADDED for current objects first')
def t_watch_rv0():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'w3')
    for n in ('a', 'b', 'c'):
        v1.create_namespaced_pod('w3', pod(n))
    v1.delete_namespaced_pod('b', 'w3')
    evs = collect(v1.list_namespaced_pod, 'w3', n=2, resource_version='0')
    assert [(e['type'], e['object'].metadata.name) for e in evs] == [('ADDED', 'a'), ('ADDED', 'c')]


@test('watch with labelSelector: leaving the selector is DELETED, entering is ADDED')
def t_watch_selector():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'w4')
    rv0 = v1.list_namespaced_pod('w4').metadata.resource_version
    v1.create_namespaced_pod('w4', pod('s', labels={'app': 'web'}))
    v1.patch_namespaced_pod('s', 'w4', {'metadata': {'labels': {'app': 'db'}}})
    v1.patch_namespaced_pod('s', 'w4', {'metadata': {'labels': {'app': 'web'}}})
    evs = collect(v1.list_namespaced_pod, 'w4', n=3, resource_version=rv0,
                  label_selector='app=web')
    assert [e['type'] for e in evs] == ['ADDED', 'DELETED', 'ADDED'], evs
    assert evs[1]['object'].metadata.labels == {'app': 'web'}   # last state that matched
    r = rvs(evs)
    assert r == sorted(r) and len(set(r)) == 3


@test('bookmarks with allow_watch_bookmarks=True carry the current RV')
def t_bookmarks():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'bm')
    rv0 = v1.list_namespaced_pod('bm').metadata.resource_version
    bw = open_watch_and_wait(v1.list_namespaced_pod, 'bm', resource_version=rv0,
                             allow_watch_bookmarks=True)
    ev = bw.next(timeout=5)
    assert ev['type'] == 'BOOKMARK', ev
    assert ev['raw_object'] == {'kind': 'Pod', 'apiVersion': 'v1',
                                'metadata': {'resourceVersion': current_rv()}}, ev['raw_object']
    p = v1.create_namespaced_pod('bm', pod('q'))
    ev = bw.next_event()
    assert ev['type'] == 'ADDED' and ev['object'].metadata.name == 'q'
    while True:
        ev = bw.next(timeout=5)
        if ev['type'] == 'BOOKMARK':
            break
    assert int(ev['raw_object']['metadata']['resourceVersion']) >= int(p.metadata.resource_version)
    close_watches()
    # without allowWatchBookmarks: none
    t0 = time.monotonic()
    evs = collect(v1.list_namespaced_pod, 'bm', n=10, resource_version=current_rv(),
                  timeout_seconds=1)
    assert evs == [] and time.monotonic() - t0 >= 0.9, evs


@test('timeoutSeconds ends the watch stream cleanly')
def t_watch_timeout():
    v1 = k8s.CoreV1Api(api_client())
    t0 = time.monotonic()
    evs = collect(v1.list_namespaced_pod, 'bm', n=10, resource_version=current_rv(),
                  timeout_seconds=1)
    dt = time.monotonic() - t0
    assert evs == [] and 0.9 <= dt < 5, (evs, dt)


@test('compaction: watch from an old RV -> HTTP 200 + ERROR 410 Expired; client raises 410')
def t_compaction_watch():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'cmp')
    old = v1.list_namespaced_pod('cmp').metadata.resource_version
    v1.create_namespaced_pod('cmp', pod('a'))
    c = admin('POST', 'compact')
    assert c['compactedResourceVersion'] == current_rv() and int(c['compactedResourceVersion']) > int(old)
    st, hdr, body = raw('GET', '/api/v1/namespaces/cmp/pods?watch=1&resourceVersion=%s' % old)
    assert st == 200 and hdr['Transfer-Encoding'] == 'chunked', (st, hdr)
    lines = body.decode().splitlines()
    assert len(lines) == 1, lines
    ev = json.loads(lines[0])
    assert ev == {'type': 'ERROR', 'object': {
        'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
        'message': 'too old resource version: %s (%s)' % (old, c['compactedResourceVersion']),
        'reason': 'Expired', 'code': 410}}, ev
    # The official client turns the ERROR event into ApiException(410) (with
    # timeout_seconds it does not retry; without, it retries once, then raises).
    for kw in ({'timeout_seconds': 5}, {}):
        try:
            list(watch.Watch().stream(v1.list_namespaced_pod, 'cmp', resource_version=old,
                                      _request_timeout=(10, 30), **kw))
            raise AssertionError('no exception')
        except ApiException as e:
            assert e.status == 410 and 'Expired: too old resource version' in e.reason, e
    # watching from the compaction point itself is fine
    assert collect(v1.list_namespaced_pod, 'cmp', n=1, resource_version=c['compactedResourceVersion'],
                   timeout_seconds=1) == []


@test('compaction: continue token from before it -> 410 Expired')
def t_compaction_continue():
    v1 = k8s.CoreV1Api(api_client())
    first = v1.list_namespaced_pod('page', limit=2)
    assert first.metadata._continue
    v1.create_namespaced_pod('page', pod('after-first-page'))
    admin('POST', 'compact')
    body = expect_api_error(410, v1.list_namespaced_pod, 'page', limit=2,
                            _continue=first.metadata._continue)
    assert body['reason'] == 'Expired' and body['message'].startswith(
        'The provided continue parameter is too old'), body
    assert body['metadata'].get('continue'), body
    # the inconsistent continuation offered by the server works
    rest = v1.list_namespaced_pod('page', _continue=body['metadata']['continue'])
    assert rest.items and rest.items[0].metadata.name > first.items[-1].metadata.name


@test('wrong or missing token -> 401 with the Unauthorized Status body')
def t_401():
    expected = {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
                'message': 'Unauthorized', 'reason': 'Unauthorized', 'code': 401}
    for tok in ('wrong', False):
        v1 = k8s.CoreV1Api(api_client(token=tok))
        assert expect_api_error(401, v1.list_pod_for_all_namespaces) == expected
    st, _, body = raw('GET', '/_double/stats', token='wrong')
    assert st == 401 and json.loads(body) == expected


@test('token rotation: rewriting --token-file takes effect on the next request')
def t_rotation():
    old = E.token
    new = 'rotated-' + old[:8]
    v1_old = k8s.CoreV1Api(api_client())
    v1_old.list_node()
    try:
        with open(E.pki['token'], 'w') as f:
            f.write('\n%s\n\n' % new)
        expect_api_error(401, v1_old.list_node)
        k8s.CoreV1Api(api_client(token=new)).list_node()
    finally:
        with open(E.pki['token'], 'w') as f:
            f.write(old + '\n')
    v1_old.list_node()
    expect_api_error(401, k8s.CoreV1Api(api_client(token=new)).list_node)


@test('client certificate auth (CN=system:node:node-1); foreign CA rejected')
def t_client_cert():
    admin('DELETE', 'stats')
    v1 = k8s.CoreV1Api(api_client(token=False, cert=(E.pki['client_cert'], E.pki['client_key'])))
    v1.list_node()
    assert stats()['users'].get('system:node:node-1') == 1, stats()['users']
    other = apiserver.make_certs(os.path.join(E.tmp, 'other-pki'))
    bad = k8s.CoreV1Api(api_client(token=False, cert=(other['client_cert'], other['client_key'])))
    # Python's ssl cannot request-without-verifying, so (unlike the real
    # server's 401) the TLS handshake fails; the client reports status 0.
    try:
        bad.list_node()
        raise AssertionError('foreign client certificate accepted')
    except ApiException as e:
        assert e.status == 0 and 'SSL' in str(e.reason), e


@test('fault status 403 on watch: ApiException 403 with the Forbidden message; count honoured')
def t_fault_403():
    v1 = k8s.CoreV1Api(api_client())
    fault(resource='pods', verb='watch', fault='status', code=403, count=1)
    try:
        list(watch.Watch().stream(v1.list_pod_for_all_namespaces, timeout_seconds=1))
        raise AssertionError('no exception')
    except ApiException as e:
        assert e.status == 403
        body = json.loads(e.body)
    assert body['reason'] == 'Forbidden' and body['code'] == 403, body
    assert body['message'] == ('pods is forbidden: User "system:serviceaccount:kube-system:'
                               'nsdp-agent" cannot watch resource "pods" in API group "" '
                               'at the cluster scope'), body['message']
    assert stats()['faults_pending'] == []
    collect(v1.list_pod_for_all_namespaces, n=1, resource_version=current_rv(), timeout_seconds=1)
    # namespaced + non-core group wording
    net = k8s.NetworkingV1Api(api_client())
    fault(resource='networkpolicies', verb='list', fault='status', code=403)
    body = expect_api_error(403, net.list_namespaced_network_policy, 'np1')
    assert body['message'] == ('networkpolicies.networking.k8s.io is forbidden: User '
                               '"system:serviceaccount:kube-system:nsdp-agent" cannot list '
                               'resource "networkpolicies" in API group "networking.k8s.io" '
                               'in the namespace "np1"'), body['message']


@test('fault status 503 (and 500) on list: ApiException with that status, next request ok')
def t_fault_503():
    v1 = k8s.CoreV1Api(api_client())
    fault(resource='pods', verb='list', fault='status', code=503, count=2)
    for _ in range(2):
        body = expect_api_error(503, v1.list_pod_for_all_namespaces)
        assert body['reason'] == 'ServiceUnavailable', body
    v1.list_pod_for_all_namespaces()
    fault(resource='any', verb='get', fault='status', code=500)
    body = expect_api_error(500, v1.read_namespace, 'page')
    assert body['reason'] == 'InternalError'
    v1.read_namespace('page')
    # a fault for another verb does not fire; DELETE /_double/faults clears
    fault(resource='pods', verb='delete', fault='status', code=500, count=0)
    v1.list_pod_for_all_namespaces()
    assert len(stats()['faults_pending']) == 1
    assert admin('DELETE', 'faults') == {'cleared': 1}


@test('fault cut: exactly after_events events, then the client raises ProtocolError')
def t_fault_cut():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'cut')
    rv0 = v1.list_namespaced_pod('cut').metadata.resource_version
    for n in ('a', 'b', 'c', 'd'):
        v1.create_namespaced_pod('cut', pod(n))
    fault(resource='pods', verb='watch', fault='cut', after_events=2)
    got = []
    try:
        for ev in watch.Watch().stream(v1.list_namespaced_pod, 'cut', resource_version=rv0,
                                       timeout_seconds=10, _request_timeout=(10, 30)):
            got.append(ev['object'].metadata.name)
        raise AssertionError('stream ended without error after %r' % got)
    except urllib3.exceptions.ProtocolError as e:
        print('# cut -> %s: %s' % (type(e).__name__, e))
    assert got == ['a', 'b'], got


@test('fault garbage: client raises JSONDecodeError; raw stream continues (or closes)')
def t_fault_garbage():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'garb')
    rv0 = v1.list_namespaced_pod('garb').metadata.resource_version
    for n in ('a', 'b', 'c'):
        v1.create_namespaced_pod('garb', pod(n))
    fault(resource='pods', verb='watch', fault='garbage', after_events=1)
    got = []
    try:
        for ev in watch.Watch().stream(v1.list_namespaced_pod, 'garb', resource_version=rv0,
                                       timeout_seconds=10, _request_timeout=(10, 30)):
            got.append(ev['object'].metadata.name)
        raise AssertionError('no exception')
    except json.JSONDecodeError:
        pass
    assert got == ['a'], got
    path = '/api/v1/namespaces/garb/pods?watch=true&resourceVersion=%s&timeoutSeconds=1' % rv0
    fault(resource='pods', verb='watch', fault='garbage', after_events=1)
    st, _, body = raw('GET', path)
    lines = body.decode().split('\n')
    assert lines[1] == '{"type":"ADDED","object":{not json' and lines[-1] == '', lines
    assert [json.loads(x)['object']['metadata']['name'] for x in (lines[0], lines[2], lines[3])] \
        == ['a', 'b', 'c']
    fault(resource='pods', verb='watch', fault='garbage', after_events=2, then='close')
    t0 = time.monotonic()
    st, _, body = raw('GET', path.replace('timeoutSeconds=1', 'timeoutSeconds=30'))
    lines = body.decode().split('\n')
    assert len(lines) == 4 and lines[2].startswith('{"type":"ADDED","object":{not'), lines
    assert time.monotonic() - t0 < 10


@test('fault stall: nothing (not even bookmarks) for `seconds`, then the stream continues')
def t_fault_stall():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'stall')
    rv0 = v1.list_namespaced_pod('stall').metadata.resource_version
    v1.create_namespaced_pod('stall', pod('a'))
    v1.create_namespaced_pod('stall', pod('b'))
    fault(resource='pods', verb='watch', fault='stall', seconds=1.5, after_events=1)
    w = watch.Watch()
    times, types = [], []
    t0 = time.monotonic()
    for ev in w.stream(v1.list_namespaced_pod, 'stall', resource_version=rv0,
                       allow_watch_bookmarks=True, timeout_seconds=10,
                       _request_timeout=(10, 30)):
        times.append(time.monotonic() - t0)
        types.append(ev['type'])
        if ev['type'] != 'BOOKMARK' and ev['object'].metadata.name == 'b':
            w.stop()
    assert types == ['ADDED', 'ADDED'], types
    # (a stall before the first event would make the gap ~0)
    assert times[1] - times[0] >= 1.4, times


@test('fault error on watch: ERROR event with the given code -> ApiException')
def t_fault_error():
    v1 = k8s.CoreV1Api(api_client())
    rv0 = v1.list_namespaced_pod('stall').metadata.resource_version
    v1.create_namespaced_pod('stall', pod('c'))
    fault(resource='pods', verb='watch', fault='error', code=500, after_events=0)
    try:
        list(watch.Watch().stream(v1.list_namespaced_pod, 'stall', resource_version=rv0,
                                  timeout_seconds=5))
        raise AssertionError('no exception')
    except ApiException as e:
        assert e.status == 500 and e.reason.startswith('InternalError'), e


@test('/_double/stats counts requests per verb/resource and open watches')
def t_stats():
    v1 = k8s.CoreV1Api(api_client())
    s0 = admin('DELETE', 'stats')
    assert s0['requests'] == {} and s0['unauthorized'] == 0
    v1.list_pod_for_all_namespaces()
    v1.list_namespaced_pod('page')
    expect_api_error(404, v1.read_node, 'nope')
    expect_api_error(401, k8s.CoreV1Api(api_client(token='bad')).list_node)
    bw = open_watch_and_wait(v1.list_namespaced_pod, 'page', resource_version=current_rv())
    s = stats()
    assert s['requests'] == {'pods': {'list': 2, 'watch': 1}, 'nodes': {'get': 1}}, s['requests']
    assert s['open_watches']['pods'] == 1 and s['watches_opened'] == {'pods': 1}, s
    assert s['unauthorized'] == 1
    assert int(s['resourceVersion']) >= int(s['compactedResourceVersion']) > 0
    close_watches()
    assert bw.next() is None
    assert stats()['open_watches']['pods'] == 0


@test('namespace delete cascades to its pods; finalizers delay deletion')
def t_cascade_finalizers():
    v1 = k8s.CoreV1Api(api_client())
    mkns(v1, 'gone')
    rv0 = v1.list_namespaced_pod('gone').metadata.resource_version
    v1.create_namespaced_pod('gone', pod('f', finalizers=['example.com/hold']))
    v1.delete_namespaced_pod('f', 'gone')
    held = v1.read_namespaced_pod('f', 'gone')
    assert held.metadata.deletion_timestamp is not None
    v1.patch_namespaced_pod('f', 'gone', {'metadata': {'finalizers': None}})
    expect_api_error(404, v1.read_namespaced_pod, 'f', 'gone')
    v1.create_namespaced_pod('gone', pod('p'))
    v1.delete_namespace('gone')
    evs = collect(v1.list_pod_for_all_namespaces, n=6, resource_version=rv0)
    assert [(e['type'], e['object'].metadata.name) for e in evs] == [
        ('ADDED', 'f'), ('MODIFIED', 'f'), ('MODIFIED', 'f'), ('DELETED', 'f'),
        ('ADDED', 'p'), ('DELETED', 'p')], evs
    assert v1.list_namespaced_pod('gone').items == []


def curl(*args, timeout=30):
    cmd = ['curl', '-sS', '--cacert', E.pki['ca'], '-H', 'Authorization: Bearer ' + E.token,
           '--max-time', '15'] + list(args)
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def parse_chunks(data):
    chunks = []
    while True:
        nl = data.index(b'\r\n')
        n = int(data[:nl], 16)
        body = data[nl + 2:nl + 2 + n]
        assert data[nl + 2 + n:nl + 4 + n] == b'\r\n', data[:200]
        data = data[nl + 4 + n:]
        if n == 0:
            return chunks, data
        chunks.append(body)


@test('curl: watch is HTTP/1.1 200 chunked application/json, one event per chunk and line')
def t_curl_framing():
    v1 = k8s.CoreV1Api(api_client())
    npods = len(v1.list_pod_for_all_namespaces().items)
    assert npods > 5
    hdr_file = os.path.join(E.tmp, 'curl-headers')
    url = 'https://127.0.0.1:%d/api/v1/pods?watch=1&resourceVersion=0&timeoutSeconds=1' % E.port
    r = curl('--raw', '-D', hdr_file, url)
    assert r.returncode == 0, r.stderr
    with open(hdr_file, 'rb') as f:
        hdrs = f.read().decode().lower()
    assert hdrs.startswith('http/1.1 200'), hdrs
    assert 'transfer-encoding: chunked' in hdrs and 'content-type: application/json' in hdrs
    assert 'content-length' not in hdrs
    chunks, rest = parse_chunks(r.stdout)
    assert rest == b'', rest
    assert len(chunks) == npods
    for c in chunks:
        assert c.endswith(b'\n') and c.count(b'\n') == 1, c
        assert json.loads(c)['type'] == 'ADDED'
    # decoded, as libcurl's write callback sees it; --max-time ends an endless watch
    r = curl('--max-time', '3', url.replace('&timeoutSeconds=1', ''))
    assert r.returncode == 28, (r.returncode, r.stderr)
    lines = r.stdout.split(b'\n')
    assert lines[-1] == b'' and len(lines) - 1 == npods


@test('curl: fault cut leaves a partial line and a transfer error')
def t_curl_cut():
    fault(resource='pods', verb='watch', fault='cut', after_events=1)
    url = 'https://127.0.0.1:%d/api/v1/namespaces/cut/pods?watch=1&resourceVersion=0' % E.port
    r = curl(url)
    lines = r.stdout.split(b'\n')
    assert len(lines) == 2 and json.loads(lines[0])['type'] == 'ADDED', r.stdout
    assert lines[1] and not lines[1].endswith(b'}'), lines[1]
    assert r.returncode in (18, 56), (r.returncode, r.stderr)
    print('# curl on cut: rc %d, %s' % (r.returncode, r.stderr.decode().strip()))


@test('--preload DIR creates objects through POST; --require-namespaces; SIGTERM exits 0')
def t_preload():
    d = os.path.join(E.tmp, 'preload')
    os.makedirs(d)
    with open(os.path.join(d, 'a-pods.json'), 'w') as f:
        json.dump({'kind': 'List', 'apiVersion': 'v1', 'items': [
            dict(pod('pre-1', ip='10.9.0.1'), kind='Pod', apiVersion='v1',
                 metadata={'name': 'pre-1', 'namespace': 'pre'}),
            dict(pod('pre-2'), kind='Pod', apiVersion='v1')]}, f)
    with open(os.path.join(d, 'b-ns.json'), 'w') as f:
        json.dump([{'kind': 'Namespace', 'apiVersion': 'v1', 'metadata': {'name': 'pre'}},
                   {'kind': 'Namespace', 'apiVersion': 'v1', 'metadata': {'name': 'default'}}], f)
    single = os.path.join(E.tmp, 'anp.json')
    with open(single, 'w') as f:
        json.dump({'kind': 'AdminNetworkPolicy', 'apiVersion': 'policy.networking.k8s.io/v1alpha1',
                   'metadata': {'name': 'pre-anp'}, 'spec': {'priority': 1}}, f)
    proc, port, _ = start_server(['--preload', d, single, '--require-namespaces'])
    try:
        api = api_client(port=port)
        v1 = k8s.CoreV1Api(api)
        lst = v1.list_pod_for_all_namespaces()
        assert [(p.metadata.namespace, p.metadata.name) for p in lst.items] == \
            [('default', 'pre-2'), ('pre', 'pre-1')]
        assert lst.items[1].status.pod_ip == '10.9.0.1'
        assert lst.metadata.resource_version == '5'
        assert sorted(int(p.metadata.resource_version) for p in lst.items) == [3, 4]
        assert k8s.CustomObjectsApi(api).get_cluster_custom_object(
            *ANP, 'adminnetworkpolicies', 'pre-anp')['metadata']['resourceVersion'] == '5'
        body = expect_api_error(404, v1.create_namespaced_pod, 'missing', pod('x'))
        assert body['message'] == 'namespaces "missing" not found', body
    finally:
        rc = stop_server(proc)
    assert rc == 0, rc
    bad = os.path.join(E.tmp, 'bad.json')
    with open(bad, 'w') as f:
        json.dump({'kind': 'Service', 'apiVersion': 'v1', 'metadata': {'name': 's'}}, f)
    r = subprocess.run([PYTHON, SERVER, '--cert', E.pki['cert'], '--key', E.pki['key'],
                        '--ca', E.pki['ca'], '--token-file', E.pki['token'], '--preload', bad],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and 'unsupported apiVersion/kind v1/Service' in r.stderr, r


@test('SIGTERM stops the main server (exit 0) with a watch open')
def t_sigterm():
    v1 = k8s.CoreV1Api(api_client())
    bw = open_watch_and_wait(v1.list_pod_for_all_namespaces, resource_version=current_rv())
    rc = stop_server(E.proc)
    assert rc == 0, rc
    assert bw.next() is None        # the watch ended cleanly


# --------------------------------------------------------------------------

def main():
    ok_all = True
    print('1..%d' % len(TESTS), flush=True)
    E.tmp = tempfile.mkdtemp(prefix='apiserver-double-')

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    setup_error = None
    try:
        try:
            E.pki = apiserver.make_certs(os.path.join(E.tmp, 'pki'))
            with open(E.pki['token']) as f:
                E.token = f.read().strip()
            E.proc, E.port, E.listen_line = start_server(
                ['--bookmark-interval', str(BOOKMARK_INTERVAL)])
        except Exception:                 # noqa: BLE001
            setup_error = traceback.format_exc()
        for i, (desc, fn) in enumerate(TESTS, 1):
            if setup_error:
                print('not ok %d - %s # setup failed' % (i, desc))
                ok_all = False
                continue
            t0 = time.monotonic()
            try:
                fn()
                print('ok %d - %s (%.2fs)' % (i, desc, time.monotonic() - t0), flush=True)
            except Exception:             # noqa: BLE001
                ok_all = False
                print('not ok %d - %s' % (i, desc))
                for line in traceback.format_exc().splitlines():
                    print('#   ' + line)
                sys.stdout.flush()
        if setup_error:
            for line in setup_error.splitlines():
                print('# ' + line)
    finally:
        if E.proc is not None and E.proc.poll() is None:
            E.proc.kill()
            E.proc.wait()
        if E.proc is not None and E.proc.stdout:
            E.proc.stdout.close()
        if os.environ.get('KEEP_TMP'):
            print('# kept %s' % E.tmp)
        else:
            shutil.rmtree(E.tmp, ignore_errors=True)
    return 0 if ok_all else 1


if __name__ == '__main__':
    sys.exit(main())
