import type { IPPool } from '../kube/types.js';
import {
  DEFAULT_POOL_KINDS,
  labelSelects,
  poolContains,
  poolFamily,
  poolRef,
  rankPools,
  type Candidate,
} from './pools.js';

const [namespaced, global] = DEFAULT_POOL_KINDS as [
  (typeof DEFAULT_POOL_KINDS)[0],
  (typeof DEFAULT_POOL_KINDS)[0],
];

function pool(
  name: string,
  labels: Record<string, string>,
  extra: Partial<IPPool> = {},
  annotations?: Record<string, string>,
): IPPool {
  return {
    apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
    kind: 'InClusterIPPool',
    metadata: { name, labels, annotations },
    ...extra,
  };
}
const cp = (cls: string) => ({
  'vip.capi.gorizond.io/cluster-class': cls,
  'vip.capi.gorizond.io/role': 'control-plane',
});

describe('labelSelects', () => {
  test('matches the exact label value', () => {
    expect(labelSelects(pool('p', cp('a')), 'vip.capi.gorizond.io/cluster-class', 'a')).toBe(true);
    expect(labelSelects(pool('p', cp('a')), 'vip.capi.gorizond.io/cluster-class', 'b')).toBe(false);
  });
  test('"true" reads the comma-separated annotation of the same key, trimming spaces', () => {
    const p = pool('p', cp('true'), {}, { 'vip.capi.gorizond.io/cluster-class': 'a, b ,c' });
    expect(['a', 'b', 'c', 'd'].map((c) => labelSelects(p, 'vip.capi.gorizond.io/cluster-class', c))).toEqual(
      [true, true, true, false],
    );
  });
  test('"true" without the annotation matches nothing', () => {
    expect(labelSelects(pool('p', cp('true')), 'vip.capi.gorizond.io/cluster-class', 'a')).toBe(false);
  });
});

describe('rankPools', () => {
  const c = (p: IPPool, kind = namespaced): Candidate => ({ pool: p, kind, namespaced: kind === namespaced });
  test('namespaced before global, then by name; non-matching and other roles dropped', () => {
    const ranked = rankPools(
      [
        c(pool('z-global', cp('a')), global),
        c(pool('b-local', cp('a'))),
        c(pool('a-local', cp('a'))),
        c(pool('other-class', cp('x'))),
        c(pool('ingress', { ...cp('a'), 'vip.capi.gorizond.io/role': 'ingress' })),
      ],
      'a',
      'control-plane',
      DEFAULT_POOL_KINDS,
    );
    expect(ranked.map((r) => r.pool.metadata.name)).toEqual(['a-local', 'b-local', 'z-global']);
  });
  test('a pool with no free address is passed over when another matches', () => {
    const full = pool('a-full', cp('a'), { status: { ipAddresses: { free: 0, total: 2 } } });
    const ranked = rankPools(
      [c(full), c(pool('b-global', cp('a')), global)],
      'a',
      'control-plane',
      DEFAULT_POOL_KINDS,
    );
    expect(ranked.map((r) => r.pool.metadata.name)).toEqual(['b-global', 'a-full']);
  });
  test('poolRef takes the group from the kind', () => {
    expect(poolRef(c(pool('p', cp('a')), global))).toEqual({
      apiGroup: 'ipam.cluster.x-k8s.io',
      kind: 'GlobalInClusterIPPool',
      name: 'p',
    });
  });
});

describe('poolContains', () => {
  const p = pool(
    'p',
    {},
    { spec: { addresses: ['10.0.0.5', '10.0.1.0/30', '10.0.2.10-10.0.2.20', 'fd00::/120'] } },
  );
  test.each([
    ['10.0.0.5', true],
    ['10.0.0.6', false],
    ['10.0.1.3', true],
    ['10.0.1.4', false],
    ['10.0.2.15', true],
    ['10.0.2.21', false],
    ['fd00::10', true],
    ['not-an-ip', false],
  ])('%s → %s', (address, inside) => expect(poolContains(p, address)).toBe(inside));
});

describe('families', () => {
  const pool = (name: string, addresses: string[]) => ({
    apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
    kind: 'InClusterIPPool',
    metadata: {
      name,
      labels: { 'vip.capi.gorizond.io/cluster-class': 'cc', 'vip.capi.gorizond.io/role': 'control-plane' },
    },
    spec: { addresses },
  });
  const kind = { apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2', kind: 'InClusterIPPool' };
  const candidates = [pool('a-v6', ['fd00::10-fd00::20']), pool('b-v4', ['10.0.0.0/24'])].map((p) => ({
    pool: p,
    kind,
    namespaced: true,
  }));
  test('a pool’s family is its addresses’', () => {
    expect(candidates.map((c) => poolFamily(c.pool))).toEqual(['IPv6', 'IPv4']);
  });
  test('a family, when asked for, filters the pools', () => {
    const names = (family?: 'IPv4' | 'IPv6') =>
      rankPools(candidates, 'cc', 'control-plane', [kind], family).map((c) => c.pool.metadata.name);
    expect(names()).toEqual(['a-v6', 'b-v4']);
    expect(names('IPv4')).toEqual(['b-v4']);
    expect(names('IPv6')).toEqual(['a-v6']);
  });
});
