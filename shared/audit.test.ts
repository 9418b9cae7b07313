import { audit, countByKind, ViolationTracker, type AuditInput, type Violation } from './audit.js';
import type { Cluster, IPAddress, IPAddressClaim, IPPool } from './kube/types.js';
import { ANNOTATION_ADOPTED_AT } from './allocator/reserve.js';
import {
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_CONTROL_PLANE_VIP_SECONDARY,
  ANNOTATION_INGRESS_VIP,
  ANNOTATION_QUARANTINE_CLUSTER_UID,
  LABEL_CLUSTER_NAME,
  LABEL_QUARANTINE,
  LABEL_RESERVE,
  LABEL_ROLE,
} from './vip.js';

const NOW = new Date('2026-11-30T12:00:00Z');
const LONG_AGO = '2026-11-30T11:00:00Z';
const GRACE = 60_000;
const POOL_REF = { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'p' };

const cluster = (name: string, annotations: Record<string, string> = {}, namespace = 'ns'): Cluster => ({
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'Cluster',
  metadata: { name, namespace, uid: `uid-${namespace}-${name}`, annotations },
});

const vip = (address: string): Record<string, string> => ({ [ANNOTATION_CONTROL_PLANE_VIP]: address });

interface ClaimOptions {
  readonly cluster?: string;
  readonly ownerUid?: string;
  readonly address?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly created?: string;
  readonly deleting?: boolean;
  readonly namespace?: string;
}

/** A claim of ours, named and bound as the in-cluster provider binds (IPAddress named after it). */
function claim(name: string, o: ClaimOptions = {}): IPAddressClaim {
  const namespace = o.namespace ?? 'ns';
  return {
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: {
      name,
      namespace,
      creationTimestamp: new Date(o.created ?? LONG_AGO),
      ...(o.deleting ? { deletionTimestamp: NOW } : {}),
      labels: {
        [LABEL_ROLE]: 'control-plane',
        ...(o.cluster ? { [LABEL_CLUSTER_NAME]: o.cluster } : {}),
        ...o.labels,
      },
      annotations: o.annotations ?? {},
      ownerReferences: o.ownerUid
        ? [
            {
              apiVersion: 'cluster.x-k8s.io/v1beta2',
              kind: 'Cluster',
              name: o.cluster ?? '',
              uid: o.ownerUid,
            },
          ]
        : [],
    },
    spec: { poolRef: POOL_REF },
    ...(o.address ? { status: { addressRef: { name } } } : {}),
  };
}

function addressOf(c: IPAddressClaim, address: string, deleting = false): IPAddress {
  return {
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddress',
    metadata: {
      name: c.metadata.name,
      namespace: c.metadata.namespace,
      ...(deleting ? { deletionTimestamp: NOW } : {}),
    },
    spec: { address, prefix: 24, claimRef: { name: c.metadata.name }, poolRef: POOL_REF },
  };
}

const pool = (addresses: string[], namespace = 'ns', name = 'p'): IPPool => ({
  apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
  kind: 'InClusterIPPool',
  metadata: { name, namespace },
  spec: { addresses, prefix: 24 },
});

/** A Cluster with its own bound claim: the shape the hook leaves behind. */
function allocated(name: string, address: string, namespace = 'ns') {
  const c = cluster(name, vip(address), namespace);
  const cl = claim(`vip-cp-${name}`, {
    cluster: name,
    ownerUid: c.metadata.uid,
    address,
    namespace,
  });
  return { cluster: c, claim: cl, address: addressOf(cl, address) };
}

function fleet(
  parts: { cluster?: Cluster; claim?: IPAddressClaim; address?: IPAddress }[],
  more: Partial<AuditInput> = {},
): AuditInput {
  return {
    clusters: parts.flatMap((p) => (p.cluster ? [p.cluster] : [])),
    claims: parts.flatMap((p) => (p.claim ? [p.claim] : [])),
    addresses: parts.flatMap((p) => (p.address ? [p.address] : [])),
    pools: [pool(['10.0.0.0/24']), pool(['fd00::/120'], 'ns', 'p6')],
    now: NOW,
    leakGraceMs: GRACE,
    ...more,
  };
}

const kinds = (violations: readonly Violation[]) => violations.map((v) => [v.kind, v.subject]);

test('a fleet where every Cluster carries its own backed VIP keeps the promise', () => {
  expect(audit(fleet([allocated('a', '10.0.0.1'), allocated('b', '10.0.0.2')]))).toEqual([]);
});

describe('duplicate: one address carried by two Clusters', () => {
  test('names both Clusters and tells each', () => {
    const [a, b] = [allocated('a', '10.0.0.1'), allocated('b', '10.0.0.1', 'other')];
    const found = audit(fleet([a, b]));
    expect(found).toEqual([
      {
        kind: 'duplicate',
        subject: 'Cluster ns/a and Cluster other/b',
        detail:
          '10.0.0.1 is carried by Cluster ns/a (control-plane-vip) and Cluster other/b (control-plane-vip)',
        involved: [
          {
            apiVersion: 'cluster.x-k8s.io/v1beta2',
            kind: 'Cluster',
            metadata: { name: 'a', namespace: 'ns', uid: 'uid-ns-a' },
          },
          {
            apiVersion: 'cluster.x-k8s.io/v1beta2',
            kind: 'Cluster',
            metadata: { name: 'b', namespace: 'other', uid: 'uid-other-b' },
          },
        ],
      },
    ]);
  });

  test("across annotations and IPv6 spellings: a pair's second address, an ingress VIP", () => {
    const a = cluster('a', { ...vip('10.0.0.1'), [ANNOTATION_CONTROL_PLANE_VIP_SECONDARY]: 'fd00::5' });
    const b = cluster('b', { ...vip('10.0.0.2'), [ANNOTATION_CONTROL_PLANE_VIP_SECONDARY]: 'FD00:0::5' });
    const c = cluster('c', { ...vip('10.0.0.3'), [ANNOTATION_INGRESS_VIP]: '10.0.0.1' });
    const found = audit(fleet([{ cluster: a }, { cluster: b }, { cluster: c }])).filter(
      (v) => v.kind === 'duplicate',
    );
    expect(found.map((v) => v.detail)).toEqual([
      '10.0.0.1 is carried by Cluster ns/a (control-plane-vip) and Cluster ns/c (ingress-vip)',
      'fd00::5 is carried by Cluster ns/a (control-plane-vip-secondary) and Cluster ns/b (control-plane-vip-secondary)',
    ]);
  });

  test('one Cluster naming its address in two annotations is one carrier', () => {
    const a = allocated('a', '10.0.0.1');
    a.cluster.metadata.annotations = { ...vip('10.0.0.1'), [ANNOTATION_INGRESS_VIP]: '10.0.0.1' };
    expect(audit(fleet([a]))).toEqual([]);
  });
});

describe("unbacked: a VIP no live IPAddress of the Cluster's own claims holds", () => {
  test('its claim holds another address', () => {
    const a = allocated('a', '10.0.0.1');
    const found = audit(fleet([{ ...a, address: addressOf(a.claim, '10.0.0.9') }]));
    expect(found).toEqual([
      expect.objectContaining({
        kind: 'unbacked',
        subject: 'Cluster ns/a',
        detail:
          'Cluster ns/a carries 10.0.0.1 (control-plane-vip) and no live IPAddress holds it for its ' +
          'IPAddressClaims vip-cp-a (it lies in InClusterIPPool ns/p)',
      }),
    ]);
  });

  test.each([
    [
      'its IPAddress is being deleted',
      (a: ReturnType<typeof allocated>) => ({ ...a, address: addressOf(a.claim, '10.0.0.1', true) }),
    ],
    ['its claim is not bound', (a: ReturnType<typeof allocated>) => ({ ...a, address: undefined })],
    [
      'the IPAddress is in another namespace',
      (a: ReturnType<typeof allocated>) => ({
        ...a,
        address: { ...a.address, metadata: { ...a.address.metadata, namespace: 'x' } },
      }),
    ],
  ])('%s', (_, change) => {
    expect(kinds(audit(fleet([change(allocated('a', '10.0.0.1'))])))).toEqual([['unbacked', 'Cluster ns/a']]);
  });

  test('a claim of an earlier Cluster of the same name (another owner uid) does not back it', () => {
    const a = allocated('a', '10.0.0.1');
    a.claim.metadata.ownerReferences = [
      { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', name: 'a', uid: 'uid-old' },
    ];
    expect(kinds(audit(fleet([a])))).toContainEqual(['unbacked', 'Cluster ns/a']);
  });

  test('a claim of the same Cluster name in another namespace does not back it', () => {
    const a = allocated('a', '10.0.0.1');
    const elsewhere = claim('vip-cp-a', { cluster: 'a', address: '10.0.0.1', namespace: 'other' });
    const found = audit(
      fleet([{ cluster: a.cluster }, { claim: elsewhere, address: addressOf(elsewhere, '10.0.0.1') }]),
    );
    expect(kinds(found)).toContainEqual(['unbacked', 'Cluster ns/a']);
  });

  test('held in quarantine for this Cluster (it is being deleted): backed; for an earlier one: not', () => {
    const held = (uid: string) =>
      claim('vip-cp-a', {
        cluster: 'a',
        address: '10.0.0.1',
        labels: { [LABEL_QUARANTINE]: 'held' },
        annotations: { [ANNOTATION_QUARANTINE_CLUSTER_UID]: uid },
      });
    const a = cluster('a', vip('10.0.0.1'));
    const mine = held('uid-ns-a');
    expect(audit(fleet([{ cluster: a, claim: mine, address: addressOf(mine, '10.0.0.1') }]))).toEqual([]);
    const theirs = held('uid-old');
    expect(
      kinds(audit(fleet([{ cluster: a, claim: theirs, address: addressOf(theirs, '10.0.0.1') }]))),
    ).toEqual([['unbacked', 'Cluster ns/a']]);
  });

  test('an adopted reserve claim (its own name, the Cluster label) backs it', () => {
    const a = cluster('a', vip('10.0.0.1'));
    const adopted = claim('vip-reserve-p-abc123', {
      cluster: 'a',
      ownerUid: 'uid-ns-a',
      address: '10.0.0.1',
      labels: { [LABEL_RESERVE]: 'adopted' },
    });
    expect(audit(fleet([{ cluster: a, claim: adopted, address: addressOf(adopted, '10.0.0.1') }]))).toEqual(
      [],
    );
  });

  test('a host set by hand outside every pool, with no claim: not ours to back', () => {
    expect(audit(fleet([{ cluster: cluster('a', vip('192.0.2.10')) }]))).toEqual([]);
    expect(audit(fleet([{ cluster: cluster('a', vip('api.example.com')) }]))).toEqual([]);
  });

  test('a host inside a pool with no claim: unbacked, and it may be hand-set', () => {
    expect(audit(fleet([{ cluster: cluster('a', vip('fd00::7')) }]))).toEqual([
      expect.objectContaining({
        kind: 'unbacked',
        detail:
          'Cluster ns/a carries fd00::7 (control-plane-vip) and it has no IPAddressClaim of ours ' +
          '(it may be hand-set inside pool InClusterIPPool ns/p6)',
      }),
    ]);
  });
});

describe('leaked: a claim of ours whose Cluster is gone, held by nothing', () => {
  const orphan = (o: ClaimOptions = {}) =>
    claim('vip-cp-gone', { cluster: 'gone', address: '10.0.0.5', ...o });

  test('names a Cluster that does not exist', () => {
    expect(audit(fleet([{ claim: orphan() }]))).toEqual([
      {
        kind: 'leaked',
        subject: 'IPAddressClaim ns/vip-cp-gone',
        detail:
          'IPAddressClaim ns/vip-cp-gone names Cluster ns/gone, which does not exist, and neither quarantine nor a reserve holds it',
        involved: [
          {
            apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
            kind: 'IPAddressClaim',
            metadata: { name: 'vip-cp-gone', namespace: 'ns', uid: undefined },
          },
        ],
      },
    ]);
  });

  test('adopted in a create that never landed, past the bound (the reserve failed to take it back)', () => {
    const stale = orphan({
      labels: { [LABEL_RESERVE]: 'adopted' },
      annotations: { [ANNOTATION_ADOPTED_AT]: LONG_AGO },
    });
    expect(audit(fleet([{ claim: stale }]))).toEqual([expect.objectContaining({ kind: 'leaked' })]);
  });

  test('owned by an earlier Cluster of the name a live one has now', () => {
    const live = cluster('gone');
    expect(audit(fleet([{ cluster: live }, { claim: orphan({ ownerUid: 'uid-old' }) }]))).toEqual([
      expect.objectContaining({
        kind: 'leaked',
        detail: expect.stringContaining(
          'is owned by Cluster uid uid-old, not by the live Cluster ns/gone (uid uid-ns-gone)',
        ),
      }),
    ]);
  });

  test.each([
    ['younger than the grace (its deletion may be on its way)', orphan({ created: '2026-11-30T11:59:30Z' })],
    ['held in quarantine', orphan({ labels: { [LABEL_QUARANTINE]: 'held' } })],
    ['being deleted', orphan({ deleting: true })],
    [
      'a free reserve claim, naming no Cluster',
      claim('vip-reserve-p-1', { labels: { [LABEL_RESERVE]: 'free' } }),
    ],
    [
      'adopted in a create that has not landed, within the bound',
      orphan({
        labels: { [LABEL_RESERVE]: 'adopted' },
        annotations: { [ANNOTATION_ADOPTED_AT]: '2026-11-30T11:59:00Z' },
      }),
    ],
  ])('not leaked: %s', (_, c) => {
    expect(audit(fleet([{ claim: c }]))).toEqual([]);
  });

  test('not leaked: its Cluster lives and owns it, or it waits to be adopted by it', () => {
    const live = cluster('gone');
    expect(audit(fleet([{ cluster: live }, { claim: orphan({ ownerUid: 'uid-ns-gone' }) }]))).toEqual([]);
    expect(audit(fleet([{ cluster: live }, { claim: orphan() }]))).toEqual([]);
  });
});

test('countByKind names every kind, zeros included', () => {
  const found = audit(fleet([allocated('a', '10.0.0.1'), allocated('b', '10.0.0.1')]));
  expect(countByKind(found)).toEqual({ duplicate: 1, unbacked: 0, leaked: 0 });
  expect(countByKind([])).toEqual({ duplicate: 0, unbacked: 0, leaked: 0 });
});

describe('ViolationTracker', () => {
  const v = (kind: Violation['kind'], subject: string): Violation => ({
    kind,
    subject,
    detail: `${subject} is wrong`,
    involved: [],
  });
  const hold = { duplicate: 0, unbacked: 2_000, leaked: 60_000 };

  test('a duplicate stands at once, and is fresh only the first time', () => {
    const t = new ViolationTracker(hold);
    const dup = v('duplicate', 'Cluster ns/a and Cluster ns/b');
    expect(t.update([dup], 0)).toEqual({ standing: [dup], fresh: [dup], pending: [] });
    expect(t.update([dup, dup], 1_000)).toEqual({ standing: [dup], fresh: [], pending: [] });
  });

  test('an unbacked VIP stands once a later look still shows it; one gone meanwhile never did', () => {
    const t = new ViolationTracker(hold);
    const [a, b] = [v('unbacked', 'Cluster ns/a'), v('unbacked', 'Cluster ns/b')];
    expect(t.update([a, b], 0)).toEqual({ standing: [], fresh: [], pending: [a, b] });
    expect(t.update([a], 2_500)).toEqual({ standing: [a], fresh: [a], pending: [] });
    // b comes back: its wait starts afresh.
    expect(t.update([a, b], 3_000)).toEqual({ standing: [a], fresh: [], pending: [b] });
  });

  test('a violation that went away and returns is told again', () => {
    const t = new ViolationTracker(hold);
    const dup = v('duplicate', 'Cluster ns/a and Cluster ns/b');
    t.update([dup], 0);
    t.update([], 1_000);
    expect(t.update([dup], 2_000).fresh).toEqual([dup]);
  });

  test('a leaked claim stands after its hold', () => {
    const t = new ViolationTracker(hold);
    const leak = v('leaked', 'IPAddressClaim ns/vip-cp-x');
    expect(t.update([leak], 0).pending).toEqual([leak]);
    expect(t.update([leak], 59_999).standing).toEqual([]);
    expect(t.update([leak], 60_000).fresh).toEqual([leak]);
  });
});
