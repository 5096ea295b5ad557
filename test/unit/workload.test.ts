/** Naming services from collector events (cgroup, container, Kubernetes), and resolving clients' peers to them. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupService, podWorkload, workloadService } from '../../services/shared/workload.ts';
import { PeerMap, WORKLOAD_KEY, addressName, keyService } from '../../services/topology/workloads.ts';
import { route } from '../../services/topology/extract-workloads.ts';

const ID = 'a'.repeat(64);

describe('workload service names', () => {
  it('names a systemd service by its unit, the deepest one, without a template instance', () => {
    assert.equal(cgroupService('/system.slice/nginx.service'), 'nginx');
    assert.equal(cgroupService('/rootline-demo-4242/payment.service'), 'payment');
    assert.equal(cgroupService('/system.slice/api.service/workers/w1'), 'api', 'a sub-cgroup the unit delegated');
    assert.equal(cgroupService('/system.slice/worker@3.service'), 'worker');
    assert.equal(cgroupService('/user.slice/user-1000.slice/user@1000.service/app.slice/notes.service'), 'notes', 'a user unit');
  });

  it('names nothing for generic units, scopes and slices', () => {
    for (const path of [
      '/', '/init.scope', '/system.slice', '/user.slice/user-1000.slice/session-3.scope',
      '/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-terminal-1234.scope',
      '/user.slice/user-1000.slice/user-runtime-dir@1000.service', '/system.slice/run-r1b2c3.scope', '/load.scope',
    ]) assert.equal(cgroupService(path), undefined, path);
  });

  it('names a container by its name, never by the runtime unit above it', () => {
    for (const path of [`/system.slice/docker-${ID}.scope`, `/docker/${ID}`, `/system.slice/containerd.service/kubepods-besteffort-pod1.slice/cri-containerd-${ID}.scope`]) {
      assert.equal(cgroupService(path), undefined, path);
      assert.equal(workloadService({ 'process.linux.cgroup': path }), undefined, `${path} without a name`);
      assert.equal(workloadService({ 'process.linux.cgroup': path, 'container.name': '/shop-cart-1' }), 'shop-cart-1', path);
    }
  });

  it('names a Kubernetes workload by its owner, else by its pod without the generated suffixes', () => {
    const cgroup = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0e1f.slice/cri-containerd-${ID}.scope`;
    assert.equal(workloadService({ 'process.linux.cgroup': cgroup, 'k8s.pod.name': 'cart-7d9f8c6b5-x2k4q', 'k8s.container.name': 'server' }), 'cart');
    assert.equal(workloadService({ 'k8s.pod.name': 'db-0', 'k8s.statefulset.name': 'db' }), 'db');
    assert.equal(workloadService({ 'k8s.pod.name': 'agent-x2k4q' }), 'agent');
    assert.equal(podWorkload('redis-0'), 'redis-0');
    assert.equal(workloadService({ 'process.linux.cgroup': cgroup, 'k8s.container.name': 'server' }), 'server', 'the container when the pod is unnamed');
  });

  it('reads the same attributes SQL groups by', () => {
    const attrs = ['', '', '', '', '', '', '', '', '/system.slice/payment.service'];
    assert.match(WORKLOAD_KEY, /process\.linux\.cgroup/);
    assert.equal(keyService(attrs.join('\u001f')), 'payment');
    assert.equal(keyService(''), undefined);
  });
});

describe('peer resolution', () => {
  it('resolves an address a service answers on, per host for loopback, and refuses ambiguity', () => {
    const m = new PeerMap();
    m.add('h1', '10.0.0.6', '8006', 'payment');
    m.add('h1', '127.0.0.1', '8080', 'a');
    m.add('h2', '127.0.0.1', '8080', 'b');
    assert.equal(m.resolve('h9', '10.0.0.6', 8006), 'payment');
    assert.equal(m.resolve('h1', '127.0.0.1', '8080'), 'a');
    assert.equal(m.resolve('h2', '127.0.0.1', '8080'), 'b');
    assert.equal(m.resolve('h3', '127.0.0.1', '8080'), undefined, 'two services answer there');
    const [keys, names] = m.entries();
    assert.ok(!keys.includes('127.0.0.1:8080') && keys.includes('h1|127.0.0.1:8080') && names.length === keys.length);
  });

  it('takes a Kubernetes Service DNS name for the service it names', () => {
    assert.equal(addressName('payment.shop.svc.cluster.local'), 'payment');
    assert.equal(addressName('payment'), 'payment');
    assert.equal(addressName('api.example.com'), 'api.example.com');
  });

  it('generalises ids in paths into routes', () => {
    assert.equal(route('/orders/42'), '/orders/:id');
    assert.equal(route('/carts/6f1c2e9a-1b2c-4d5e-8f90-0123456789ab/items'), '/carts/:id/items');
    assert.equal(route('/v1/products'), '/v1/products');
    assert.equal(route('/'), '/');
  });
});
