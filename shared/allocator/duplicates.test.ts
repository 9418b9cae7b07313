import type { IPAddress } from '../kube/types.js';
import { canonicalAddress, twinOf } from './duplicates.js';

const address = (
  name: string,
  ip: string,
  extra: { uid?: string; namespace?: string; pool?: string; deleting?: boolean } = {},
): IPAddress => ({
  apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
  kind: 'IPAddress',
  metadata: {
    name,
    namespace: extra.namespace ?? 'ns',
    uid: extra.uid ?? name,
    ...(extra.deleting ? { deletionTimestamp: new Date() } : {}),
  },
  spec: {
    address: ip,
    claimRef: { name },
    poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: extra.pool ?? 'pool' },
  },
});

test('IPv6 addresses compare in one spelling; IPv4 stays as written', () => {
  expect(canonicalAddress('FD00:0:0::1')).toBe('fd00::1');
  expect(canonicalAddress('10.0.0.1')).toBe('10.0.0.1');
});

test('a twin is another live IPAddress of the same pool with the same address', () => {
  const ours = address('vip-cp-a', '10.0.0.1');
  const twin = address('vip-cp-b', '10.0.0.1');
  expect(twinOf(ours, [ours, address('vip-cp-c', '10.0.0.2'), twin])).toBe(twin);
  expect(twinOf(ours, [ours])).toBeUndefined();
});

test('the same address from another pool, or on its way out, is no twin', () => {
  const ours = address('vip-cp-a', 'fd00::1');
  expect(twinOf(ours, [address('x', 'fd00::1', { pool: 'other' })])).toBeUndefined();
  expect(twinOf(ours, [address('x', 'fd00::1', { deleting: true })])).toBeUndefined();
  expect(twinOf(ours, [address('x', 'FD00:0::1')])).toBeDefined();
});

test('identity is the uid: a recreated IPAddress of the same name is a different object', () => {
  const ours = address('vip-cp-a', '10.0.0.1', { uid: 'new' });
  expect(twinOf(ours, [address('vip-cp-a', '10.0.0.1', { uid: 'old' })])).toBeDefined();
  expect(twinOf(ours, [address('vip-cp-a', '10.0.0.1', { uid: 'new' })])).toBeUndefined();
});
