import type { Cluster, IPAddress, IPAddressClaim } from '../kube/types.js';
import { ANNOTATION_CONTROL_PLANE_VIP } from '../vip.js';
import { watched, type Held } from './watched.js';

const address = (name: string, ip: string, resourceVersion: string): IPAddress => ({
  apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
  kind: 'IPAddress',
  metadata: { name, namespace: 'ns', uid: name, resourceVersion },
  spec: {
    address: ip,
    claimRef: { name },
    poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' },
  },
});

const held = <T extends { metadata: { namespace?: string; name: string } }>(
  objects: T[],
  synced = true,
): Held<T> => ({
  get: (namespace, name) =>
    objects.find((o) => o.metadata.namespace === namespace && o.metadata.name === name),
  list: () => objects,
  synced: () => synced,
});

const none = <T extends { metadata: { namespace?: string; name: string } }>(synced = true) =>
  held<T>([], synced);

describe('twins from the addresses’ watch', () => {
  const ours = address('a', 'FD00::1', '20');
  const elder = address('b', 'fd00:0::1', '10');
  const view = watched(none(), held([ours, elder, address('c', 'fd00::2', '5')]), none());

  test('once the watch holds the address at its version or later: the others of its address, in any spelling', () => {
    expect(view.twinsOf(ours)).toEqual([elder]);
    expect(view.twinsOf({ ...ours, metadata: { ...ours.metadata, resourceVersion: '19' } })).toEqual([elder]);
  });

  test.each([
    ['read at a later version than the watch holds', { resourceVersion: '21' }],
    ['another object of its name (deleted and made again)', { uid: 'other' }],
    ['a version that is not a number', { resourceVersion: 'x1' }],
  ])('%s: the watch cannot say', (_, meta) => {
    expect(view.twinsOf({ ...ours, metadata: { ...ours.metadata, ...meta } })).toBeUndefined();
  });

  test('not held at all: the watch cannot say', () => {
    expect(watched(none(), none(), none()).twinsOf(ours)).toBeUndefined();
  });
});

test('a claim: held, known absent once synced, unknown before', () => {
  const claim = { metadata: { name: 'vip-cp-c1', namespace: 'ns' } } as IPAddressClaim;
  expect(watched(held([claim]), none(), none()).claim('ns', 'vip-cp-c1')).toBe(claim);
  expect(watched(held([claim]), none(), none()).claim('ns', 'vip-cp-c2')).toBeNull();
  expect(watched(none(false), none(), none()).claim('ns', 'vip-cp-c1')).toBeUndefined();
});

test('carriers: the Clusters whose VIP it is, once the Clusters’ watch is synced', () => {
  const carrying = {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: { name: 'c1', namespace: 'ns', annotations: { [ANNOTATION_CONTROL_PLANE_VIP]: '10.0.0.1' } },
  } as Cluster;
  const other = { ...carrying, metadata: { name: 'c2', namespace: 'ns' } };
  expect(watched(none(), none(), held([carrying, other])).carriers('10.0.0.1')).toEqual([carrying]);
  expect(watched(none(), none(), held([carrying], false)).carriers('10.0.0.1')).toBeUndefined();
});
