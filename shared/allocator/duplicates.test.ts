import type { Cluster, IPAddress } from '../kube/types.js';
import {
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_CONTROL_PLANE_VIP_SECONDARY,
  ANNOTATION_INGRESS_VIP,
} from '../vip.js';
import { addressKey, canonicalAddress, carries, twinOf } from './duplicates.js';

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

test('a twin is another IPAddress with the same address', () => {
  const ours = address('vip-cp-a', '10.0.0.1');
  const twin = address('vip-cp-b', '10.0.0.1');
  expect(twinOf(ours, [ours, address('vip-cp-c', '10.0.0.2'), twin])).toBe(twin);
  expect(twinOf(ours, [ours])).toBeUndefined();
});

test('the same address from another pool, in another namespace, or on its way out, is a twin', () => {
  const ours = address('vip-cp-a', 'fd00::1');
  // Two pools over one range (a team template copied into another namespace) hand out the same address.
  expect(twinOf(ours, [address('x', 'fd00::1', { pool: 'other', namespace: 'team-b' })])).toBeDefined();
  // Its finalizer still holds the address.
  expect(twinOf(ours, [address('x', 'fd00::1', { deleting: true })])).toBeDefined();
  expect(twinOf(ours, [address('x', 'FD00:0::1')])).toBeDefined();
  expect(twinOf(ours, [address('x', 'fd00::2', { pool: 'other' })])).toBeUndefined();
});

test('the key is the address alone, in one spelling: twins of any pool share it', () => {
  expect(addressKey(address('a', 'FD00:0::1'))).toBe(addressKey(address('b', 'fd00::1', { pool: 'other' })));
  expect(addressKey(address('a', '10.0.0.1'))).not.toBe(addressKey(address('a', '10.0.0.2')));
});

test('a Cluster carries an address as its VIP, the second of its pair, or its ingress VIP', () => {
  const cluster = (annotations: Record<string, string>): Cluster => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name: 'c', namespace: 'ns', annotations },
  });
  expect(carries(cluster({ [ANNOTATION_CONTROL_PLANE_VIP]: '10.0.0.1' }), '10.0.0.1')).toBe(true);
  expect(carries(cluster({ [ANNOTATION_CONTROL_PLANE_VIP_SECONDARY]: 'fd00::1' }), 'FD00::1')).toBe(true);
  expect(carries(cluster({ [ANNOTATION_INGRESS_VIP]: '10.0.0.2' }), '10.0.0.2')).toBe(true);
  expect(carries(cluster({ [ANNOTATION_CONTROL_PLANE_VIP]: '10.0.0.1' }), '10.0.0.2')).toBe(false);
});

test('identity is the uid: a recreated IPAddress of the same name is a different object', () => {
  const ours = address('vip-cp-a', '10.0.0.1', { uid: 'new' });
  expect(twinOf(ours, [address('vip-cp-a', '10.0.0.1', { uid: 'old' })])).toBeDefined();
  expect(twinOf(ours, [address('vip-cp-a', '10.0.0.1', { uid: 'new' })])).toBeUndefined();
});
