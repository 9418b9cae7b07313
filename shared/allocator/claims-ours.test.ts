import type { IPAddressClaim } from '../kube/types.js';
import { clusterNameOf, isOurs } from './claims.js';

const claim = (
  name: string,
  extra: { labels?: Record<string, string>; clusterName?: string } = {},
): IPAddressClaim => ({
  apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
  kind: 'IPAddressClaim',
  metadata: { name, namespace: 'ns', labels: extra.labels },
  spec: { clusterName: extra.clusterName, poolRef: { apiGroup: 'g', kind: 'k', name: 'p' } },
});

test('ours: our role label, or the original names', () => {
  expect(isOurs(claim('anything', { labels: { 'vip.capi.gorizond.io/role': 'control-plane' } }))).toBe(true);
  expect(isOurs(claim('vip-cp-a'))).toBe(true);
  expect(isOurs(claim('vip-ingress-a'))).toBe(true);
  expect(isOurs(claim('machine-ip-0'))).toBe(false);
});

test('the Cluster: spec.clusterName, then the label, then the name after the prefix', () => {
  expect(clusterNameOf(claim('vip-cp-a', { clusterName: 'b' }))).toBe('b');
  expect(clusterNameOf(claim('vip-cp-a', { labels: { 'cluster.x-k8s.io/cluster-name': 'c' } }))).toBe('c');
  expect(clusterNameOf(claim('vip-ingress-d'))).toBe('d');
  expect(clusterNameOf(claim('other'))).toBeUndefined();
});
