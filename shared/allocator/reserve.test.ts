import type { Cluster, IPAddressClaim } from '../kube/types.js';
import { testCluster } from '../testing/cluster.js';
import {
  ADMITTED_BOUND_MS,
  admittedFate,
  ANNOTATION_ADOPTED_AT,
  firstAdopted,
  RESERVE_ADOPTED,
  RESERVE_FREE,
  returnMeta,
  MAX_RESERVE,
  refill,
  reserveClaimName,
  reserveNamespaces,
  reserveSize,
} from './reserve.js';
import {
  ANNOTATION_ADMITTED_CLAIM,
  ANNOTATION_RESERVE,
  ANNOTATION_RESERVE_NAMESPACES,
  LABEL_CLUSTER_NAME,
  LABEL_RESERVE,
} from '../vip.js';

const pool = (annotations: Record<string, string>, namespace?: string) => ({
  metadata: { name: 'pool', ...(namespace ? { namespace } : {}), annotations },
});

const claim = (
  name: string,
  opts: { bound?: boolean; created?: string; adoptedAt?: string } = {},
): IPAddressClaim => ({
  apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
  kind: 'IPAddressClaim',
  metadata: {
    name,
    namespace: 'ns',
    ...(opts.created ? { creationTimestamp: new Date(opts.created) } : {}),
    ...(opts.adoptedAt ? { annotations: { [ANNOTATION_ADOPTED_AT]: opts.adoptedAt } } : {}),
  },
  spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' } },
  ...(opts.bound ? { status: { addressRef: { name } } } : {}),
});

describe('reserveSize: what a pool asks for', () => {
  test.each([
    [{}, { size: 0 }],
    [{ [ANNOTATION_RESERVE]: '10' }, { size: 10 }],
    [{ [ANNOTATION_RESERVE]: ' 0 ' }, { size: 0 }],
    [{ [ANNOTATION_RESERVE]: '  7 ' }, { size: 7 }],
    [{ [ANNOTATION_RESERVE]: String(MAX_RESERVE) }, { size: MAX_RESERVE }],
  ])('%j: %j', (annotations, want) => {
    expect(reserveSize(pool(annotations))).toEqual(want);
  });
  test.each(['', ' ', 'ten', '-1', '2.5', '5.0', '0x10', '1e3', '+5', '1 0', String(MAX_RESERVE + 1)])(
    '"%s" is a problem naming the annotation',
    (raw) => {
      expect(reserveSize(pool({ [ANNOTATION_RESERVE]: raw }))).toEqual({
        problem: expect.stringContaining(`annotation ${ANNOTATION_RESERVE}="${raw}" is not a whole number`),
      });
    },
  );
});

test('reserveNamespaces: a namespaced pool its own; a cluster-scoped one those it lists', () => {
  expect(reserveNamespaces(pool({ [ANNOTATION_RESERVE_NAMESPACES]: 'x' }, 'ns'))).toEqual(['ns']);
  expect(reserveNamespaces(pool({ [ANNOTATION_RESERVE_NAMESPACES]: ' a, b,,' }))).toEqual(['a', 'b']);
  expect(reserveNamespaces(pool({}))).toEqual([]);
});

describe('refill', () => {
  test('tops up to the size, counting claims made that the cache does not show yet', () => {
    expect(refill(5, [claim('a', { bound: true })], 0)).toEqual({ create: 4, remove: [] });
    expect(refill(5, [claim('a', { bound: true })], 3)).toEqual({ create: 1, remove: [] });
    expect(refill(5, [], 9)).toEqual({ create: 0, remove: [] });
  });
  test('takes a surplus away, unbound first, then the newest', () => {
    const old = claim('old', { bound: true, created: '2026-01-01T00:00:00Z' });
    const young = claim('young', { bound: true, created: '2026-02-01T00:00:00Z' });
    const unbound = claim('unbound', { created: '2025-01-01T00:00:00Z' });
    expect(refill(1, [old, young, unbound], 0).remove.map((c) => c.metadata.name)).toEqual([
      'unbound',
      'young',
    ]);
    expect(refill(0, [old], 0).remove.map((c) => c.metadata.name)).toEqual(['old']);
  });
  test('a claim already being deleted is not counted, nor deleted again', () => {
    const going = {
      ...claim('going', { bound: true }),
      metadata: { ...claim('going').metadata, deletionTimestamp: new Date() },
    };
    expect(refill(1, [going], 0)).toEqual({ create: 1, remove: [] });
  });
});

test('reserveClaimName: whose reserve, a random tail, always a DNS label', () => {
  expect(reserveClaimName('pool')).toMatch(/^vip-reserve-pool-[0-9a-f]{6}$/);
  expect(reserveClaimName('p'.repeat(200)).length).toBeLessThanOrEqual(63);
  expect(reserveClaimName('pool')).not.toBe(reserveClaimName('pool'));
});

test('firstAdopted: of two adopted at once for one Cluster, the earlier (then by name)', () => {
  const a = claim('a', { adoptedAt: '2026-12-01T00:00:02.000Z' });
  const b = claim('b', { adoptedAt: '2026-12-01T00:00:01.000Z' });
  const c = claim('c', { adoptedAt: '2026-12-01T00:00:01.000Z' });
  expect(firstAdopted([a, c, b])?.metadata.name).toBe('b');
  expect(firstAdopted([])).toBeUndefined();
});

describe('admittedFate: a claim adopted in a create', () => {
  const at = Date.parse('2026-12-07T10:00:00Z');
  const admittedClaim = (name: string): IPAddressClaim => ({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: {
      name,
      namespace: 'ns',
      labels: { [LABEL_RESERVE]: RESERVE_ADOPTED, [LABEL_CLUSTER_NAME]: 'c1' },
      annotations: { [ANNOTATION_ADOPTED_AT]: new Date(at).toISOString() },
    },
    spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' } },
  });
  const carrying = (claimName: string): Cluster =>
    testCluster('c1', { annotations: { [ANNOTATION_ADMITTED_CLAIM]: claimName } });

  test.each([
    ['the Cluster carries it: owned', carrying('a'), at + 1_000, { action: 'own' }],
    [
      'no Cluster yet, a fresh create: looks again in a second',
      undefined,
      at + 200,
      { action: 'wait', ms: 1_000 },
    ],
    [
      'no Cluster yet, an older create: looks again in 10 s',
      undefined,
      at + 20_000,
      { action: 'wait', ms: 10_000 },
    ],
    [
      'no Cluster, the bound nearly past: looks again when it is',
      undefined,
      at + ADMITTED_BOUND_MS - 3_000,
      { action: 'wait', ms: 3_000 },
    ],
    [
      'a Cluster of the name carrying another claim, within the bound: waits',
      carrying('b'),
      at + 1_000,
      { action: 'wait', ms: 1_000 },
    ],
    [
      'no Cluster, past the bound: back to the reserve',
      undefined,
      at + ADMITTED_BOUND_MS,
      { action: 'return' },
    ],
    [
      'a Cluster of the name carrying another claim, past the bound: back',
      carrying('b'),
      at + ADMITTED_BOUND_MS + 1,
      { action: 'return' },
    ],
  ])('%s', (_, cluster, now, fate) => {
    expect(admittedFate(admittedClaim('a'), cluster, now)).toEqual(fate);
  });

  test('back to the reserve: free, no Cluster name, no adoption time', () => {
    expect(returnMeta()).toEqual({
      labels: { [LABEL_RESERVE]: RESERVE_FREE, [LABEL_CLUSTER_NAME]: null },
      annotations: { [ANNOTATION_ADOPTED_AT]: null },
    });
  });
});
