import { DEFAULT_POOL_KINDS } from '../kube/gvk.js';
import type { IPPool } from '../kube/types.js';
import {
  labelSelects,
  poolContains,
  poolFamily,
  poolRanges,
  poolRef,
  rangesOverlap,
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
  test('a shrunk pool (less than 0 free by its status) comes after those with room, before a full one', () => {
    const status = (free: number) => ({ status: { ipAddresses: { free, total: 2 } } });
    const ranked = rankPools(
      [
        c(pool('a-full', cp('a'), status(0))),
        c(pool('b-shrunk', cp('a'), status(-5))),
        c(pool('z-room', cp('a'), status(1)), global),
      ],
      'a',
      'control-plane',
      DEFAULT_POOL_KINDS,
    );
    expect(ranked.map((r) => r.pool.metadata.name)).toEqual(['z-room', 'b-shrunk', 'a-full']);
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
    ['fd00::ff', true],
    ['fd00::100', false],
    ['::ffff:10.0.0.5', false],
    ['not-an-ip', false],
  ])('%s → %s', (address, inside) => expect(poolContains(p, address)).toBe(inside));
});

describe('poolRanges and rangesOverlap: the addresses two pools could both hand out', () => {
  const spec = (addresses: string[], more: Omit<NonNullable<IPPool['spec']>, 'addresses'> = {}) =>
    pool('p', {}, { spec: { addresses, ...more } });
  const overlap = (a: IPPool, b: IPPool) => rangesOverlap(poolRanges(a), poolRanges(b));

  test('a CIDR (host bits masked) less the gateway and the excluded addresses', () => {
    const base = 0xc6120000n; // 198.18.0.0
    expect(
      poolRanges(
        spec(['198.18.0.5/29', '198.18.0.100'], {
          gateway: '198.18.0.1',
          excludedAddresses: ['198.18.0.4-198.18.0.5', '198.18.0.100'],
        }),
      ),
    ).toEqual([
      { family: 'IPv4', first: base, last: base },
      { family: 'IPv4', first: base + 2n, last: base + 3n },
      { family: 'IPv4', first: base + 6n, last: base + 7n },
    ]);
  });

  test('malformed entries are left out', () => {
    expect(
      poolRanges(
        spec([
          'nope',
          '198.18.0.9-198.18.0.1',
          '198.18.0.0/33',
          '198.18.0.1-fd00::1',
          '198.18.0.0/24-198.18.1.0',
          'fe80::1%eth0',
        ]),
      ),
    ).toEqual([]);
  });

  test.each([
    ['a range and a CIDR', ['198.18.0.10-198.18.0.20'], ['198.18.0.16/28'], '198.18.0.16'],
    ['one address inside a range', [' 198.18.0.5 '], ['198.18.0.1 - 198.18.0.9'], '198.18.0.5'],
    ['the lowest shared address', ['198.18.0.30-198.18.0.40', '198.18.0.3'], ['198.18.0.0/24'], '198.18.0.3'],
    ['two halves of a /24', ['198.18.0.0/25'], ['198.18.0.128/25'], undefined],
    ['ranges that touch', ['198.18.0.1-198.18.0.9'], ['198.18.0.10-198.18.0.19'], undefined],
    ['IPv6 ranges', ['fd00::10-fd00::20'], ['fd00::18/125'], 'fd00::18'],
    ['IPv6 apart', ['fd00::10-fd00::20'], ['fd00::/124'], undefined],
    [
      'IPv6 past 2^64',
      ['fd00::/64'],
      ['fd00::ffff:ffff:ffff:fff0-fd00:0:0:1::'],
      'fd00::ffff:ffff:ffff:fff0',
    ],
    ['IPv4 before IPv6', ['fd00::/64', '198.18.0.0/24'], ['fd00::5', '198.18.0.200'], '198.18.0.200'],
    ['families apart (IPv4-mapped is IPv6)', ['198.18.0.1'], ['::ffff:198.18.0.1'], undefined],
    ['no addresses', [], ['198.18.0.0/24'], undefined],
  ])('%s', (_, a, b, want) => {
    expect(overlap(spec(a), spec(b))).toBe(want);
    expect(overlap(spec(b), spec(a))).toBe(want);
  });

  test('one /24 split between two pools by their exclusions does not overlap; the gateway is no one’s', () => {
    const low = spec(['198.18.0.0/24'], { excludedAddresses: ['198.18.0.128/25'] });
    const high = spec(['198.18.0.0/24'], { excludedAddresses: ['198.18.0.0/25'] });
    expect(overlap(low, high)).toBeUndefined();
    const both = ['198.18.0.1-198.18.0.10'];
    expect(overlap(spec(both, { gateway: '198.18.0.1' }), spec(both))).toBe('198.18.0.2');
  });
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
