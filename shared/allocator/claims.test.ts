import type { Cluster, IPAddressClaim } from '../kube/types.js';
import { claimName, newClaim, ownership } from './claims.js';

const cluster: Cluster = {
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'Cluster',
  metadata: { name: 'c1', namespace: 'ns', uid: 'uid-1' },
};

describe('claimName', () => {
  test('keeps the original names', () => {
    expect(claimName({ role: 'control-plane' }, 'c1')).toBe('vip-cp-c1');
    expect(claimName({ role: 'ingress' }, 'c1')).toBe('vip-ingress-c1');
    // A dual-stack pair: the first claim keeps the single-stack name.
    expect(claimName({ role: 'control-plane', family: 'IPv4' }, 'c1')).toBe('vip-cp-c1');
    expect(claimName({ role: 'control-plane', family: 'IPv6', secondary: true }, 'c1')).toBe(
      'vip-cp-c1-ipv6',
    );
  });
  test('shortens long names deterministically to a DNS-1123 label', () => {
    const long = 'a'.repeat(60) + '-cluster';
    const name = claimName({ role: 'control-plane' }, long);
    expect(name).toHaveLength(63);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(claimName({ role: 'control-plane' }, long)).toBe(name);
    expect(claimName({ role: 'control-plane' }, long + 'x')).not.toBe(name);
  });
});

describe('ownership', () => {
  const claim = (meta: Partial<IPAddressClaim['metadata']>, clusterName?: string): IPAddressClaim => ({
    ...newClaim(
      cluster,
      { role: 'control-plane' },
      {
        apiGroup: 'ipam.cluster.x-k8s.io',
        kind: 'InClusterIPPool',
        name: 'p',
      },
    ),
    metadata: { name: 'vip-cp-c1', namespace: 'ns', ...meta },
    spec: { clusterName, poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'p' } },
  });
  test('a new claim is owned by its Cluster from the first write', () => {
    const fresh = newClaim(cluster, { role: 'control-plane' }, { apiGroup: 'g', kind: 'k', name: 'p' });
    expect(fresh.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'Cluster',
        name: 'c1',
        uid: 'uid-1',
        blockOwnerDeletion: true,
      },
    ]);
    expect(ownership(fresh, cluster)).toBe('owned');
  });
  test('an owner-less claim naming this Cluster (or none) can be adopted', () => {
    expect(ownership(claim({}, 'c1'), cluster)).toBe('unowned');
    expect(ownership(claim({}), cluster)).toBe('unowned');
  });
  test('a claim owned by or naming another Cluster is foreign', () => {
    expect(
      ownership(
        claim({ ownerReferences: [{ apiVersion: 'v', kind: 'Cluster', name: 'c1', uid: 'old' }] }, 'c1'),
        cluster,
      ),
    ).toBe('foreign');
    expect(ownership(claim({}, 'c2'), cluster)).toBe('foreign');
  });
});
