import { caseTableSituations } from '../../../shared/testing/case-table.js';
import type { Allocation } from '../../../shared/allocator/allocator.js';
import type { Cluster, IPAddressClaim } from '../../../shared/kube/types.js';
import {
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_ENABLED,
  ANNOTATION_INGRESS_ENABLED,
} from '../../../shared/vip.js';
import { testCluster, testClusterClass } from '../../../shared/testing/cluster.js';
import {
  decide,
  memoRetrySeconds,
  requestedFamilies,
  RETRY,
  type Facts,
  type Need,
  type Outcome,
} from './decide.js';

const cluster = (variables?: unknown, annotations?: Record<string, string>): Cluster => ({
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'Cluster',
  metadata: { name: 'c1', namespace: 'ns', ...(annotations ? { annotations } : {}) },
  spec: {
    topology: {
      classRef: { name: 'cc' },
      ...(variables ? { variables: [{ name: 'vipAllocator', value: variables }] } : {}),
    },
  },
});

describe('memoRetrySeconds: when CAPI calls back a Cluster answered from memory', () => {
  test.each([
    [{ waiting: 1 }, 1],
    [{ waiting: 60 }, 3],
    // Behind 30 others at 2 binds a second: not before about 16 s, capped at 10.
    [{ waiting: 60, ahead: 30, bindsPerSecond: 2 }, 10],
    [{ waiting: 60, ahead: 7, bindsPerSecond: 2 }, 4],
    // A fast provider never calls back sooner than the burst's pacing.
    [{ waiting: 60, ahead: 1, bindsPerSecond: 20 }, 3],
    [{ waiting: 5, ahead: 4 }, 1],
  ])('%j: %i s', (queue, seconds) => {
    expect(memoRetrySeconds(queue)).toBe(seconds);
  });
});

describe('requestedFamilies', () => {
  test('none asked: one address of any family', () => {
    expect(requestedFamilies(cluster())).toEqual([]);
  });
  test('from the variable, else from the annotation', () => {
    expect(requestedFamilies(cluster({ ipFamilies: ['IPv6', 'IPv4'] }))).toEqual(['IPv6', 'IPv4']);
    expect(
      requestedFamilies(cluster(undefined, { 'vip.capi.gorizond.io/ip-families': 'IPv4, IPv6' })),
    ).toEqual(['IPv4', 'IPv6']);
  });
  test.each([[['IPv4', 'IPv4']], [['IPv5']], [['IPv4', 'IPv6', 'IPv4']]])(
    '%j is refused naming the Cluster and the field',
    (families) => {
      expect(() => requestedFamilies(cluster({ ipFamilies: families }))).toThrow(
        'Cluster ns/c1: variable vipAllocator.ipFamilies',
      );
    },
  );
});

/**
 * "Cases the hook handles" (docs/reference/hook-cases.md), row by row, against the pure decision:
 * what it reads, in which order (each row gives what those reads return), and what it answers,
 * writes and records. The first test checks that this list and that page's table are the same list.
 */
describe('decide: the hook case table (docs/reference/hook-cases.md)', () => {
  const SETTINGS = { generatePatchesHandler: 'vip-allocator-generate-patches', defaultPort: 6443 };
  const cc = testClusterClass;
  const claim = (name: string): IPAddressClaim => ({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name, namespace: 'ns' },
    spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' } },
  });
  const pending = (reason: Extract<Allocation, { state: 'pending' }>['reason']): Allocation => ({
    state: 'pending',
    reason,
    message: `pending: ${reason}`,
  });
  const allocated: Allocation = {
    state: 'allocated',
    address: '10.0.0.10',
    prefix: 24,
    claim: claim('vip-cp-c1'),
  };
  const withVip = testCluster('c1', {
    host: '10.0.0.10',
    annotations: { [ANNOTATION_CONTROL_PLANE_VIP]: '10.0.0.10' },
  });
  const waitingOn = (reason: Parameters<typeof pending>[0]): Reads => [
    ['claim', { claim: null }],
    ['allocations', { allocations: [pending(reason)], ingress: null }],
  ];

  type Reads = [Need, Partial<Facts>][];
  interface Row {
    situation: string;
    cluster?: Cluster;
    memory?: Partial<Facts>;
    reads: Reads;
    answer: Partial<Outcome['response']>;
    events: string[];
    writes?: boolean;
    remembers?: 'written' | 'tracked' | 'no ingress';
  }
  const ROWS: Row[] = [
    {
      situation: 'not a topology Cluster, or annotation `vip.capi.gorizond.io/enabled: "false"`',
      cluster: testCluster('c1', { annotations: { [ANNOTATION_ENABLED]: 'false' } }),
      reads: [],
      answer: { status: 'Success', retryAfterSeconds: 0 },
      events: [],
    },
    {
      situation: 'Cluster paused (clusterctl move)',
      cluster: testCluster('c1', { paused: true }),
      reads: [],
      answer: { retryAfterSeconds: RETRY.paused },
      events: [],
    },
    {
      situation: 'the Cluster carries its VIP',
      cluster: {
        ...withVip,
        metadata: {
          ...withVip.metadata,
          annotations: { ...withVip.metadata.annotations, [ANNOTATION_INGRESS_ENABLED]: 'true' },
        },
      },
      reads: [['ingressClaim', { ingressClaim: null }]],
      answer: { status: 'Success', retryAfterSeconds: 0 },
      events: [],
      remembers: 'no ingress',
    },
    {
      situation: 'called again while its claim binds, or just after its VIP was written',
      memory: { memo: 'Waiting for InClusterIPPool pool to bind', queue: { waiting: 60 } },
      reads: [],
      answer: { retryAfterSeconds: 3, message: 'Waiting for InClusterIPPool pool to bind' },
      events: [],
    },
    {
      situation: 'bad `vipAllocator.ipFamilies` or `ip-families` annotation',
      cluster: testCluster('c1', { variables: { ipFamilies: ['IPv5'] } }),
      reads: [],
      answer: { status: 'Failure' },
      events: ['VIPInvalidRequest'],
    },
    {
      situation: '`controlPlaneEndpoint.host` set by the user, no claim of ours',
      cluster: testCluster('c1', { host: '10.0.0.15' }),
      reads: [
        ['claim', { claim: null }],
        ['hostPool', { hostPool: 'InClusterIPPool pool' }],
        ['clusterClass', { clusterClass: cc(true) }],
        ['ingress', { ingress: null }],
      ],
      answer: { retryAfterSeconds: RETRY.patched },
      events: ['ManualVIPInPool'],
      writes: true,
    },
    {
      situation: 'dual-stack pair asked, a family without a pool',
      cluster: testCluster('c1', { variables: { ipFamilies: ['IPv4', 'IPv6'] } }),
      reads: [
        ['claim', { claim: null }],
        ['missingFamily', { missingFamily: 'no pool serves IPv6' }],
        ['clusterClass', { clusterClass: cc(true) }],
      ],
      answer: { retryAfterSeconds: RETRY.noPool, message: 'no pool serves IPv6' },
      events: ['VIPPoolNotFound'],
    },
    {
      situation: "a claim of the Cluster's name belongs to another Cluster",
      reads: [
        ['claim', { claim: null }],
        ['allocations', { allocations: { conflict: 'claimed by Cluster ns/other' }, ingress: null }],
      ],
      answer: { status: 'Failure', message: 'claimed by Cluster ns/other' },
      events: ['VIPClaimConflict'],
    },
    {
      situation: 'the claim binds within `--allocation-wait`',
      reads: [
        ['claim', { claim: null }],
        ['allocations', { allocations: [allocated], ingress: null }],
        ['clusterClass', { clusterClass: cc(true) }],
      ],
      answer: { retryAfterSeconds: RETRY.patched },
      events: ['VIPAllocated'],
      writes: true,
      remembers: 'written',
    },
    {
      situation: 'the claim is still binding after `--allocation-wait`',
      reads: waitingOn('binding'),
      answer: { retryAfterSeconds: RETRY.binding },
      events: ['VIPPending'],
      remembers: 'tracked',
    },
    {
      situation: 'no matching pool, class lists our patch',
      reads: [
        ['claim', { claim: null }],
        [
          'allocations',
          { allocations: [{ state: 'no-pool', message: 'No IP pool for ClusterClass cc' }], ingress: null },
        ],
        ['clusterClass', { clusterClass: cc(true) }],
      ],
      answer: { retryAfterSeconds: RETRY.noPool, message: 'No IP pool for ClusterClass cc' },
      events: ['VIPPoolNotFound'],
    },
    {
      situation: 'no matching pool, class does not list our patch',
      reads: [
        ['claim', { claim: null }],
        [
          'allocations',
          { allocations: [{ state: 'no-pool', message: 'No IP pool for ClusterClass cc' }], ingress: null },
        ],
        ['clusterClass', { clusterClass: cc(false) }],
      ],
      answer: { status: 'Success', retryAfterSeconds: 0 },
      events: [],
    },
    {
      situation: 'pool exhausted',
      reads: waitingOn('exhausted'),
      answer: { retryAfterSeconds: RETRY.exhausted },
      events: ['VIPPoolExhausted'],
    },
    {
      situation: 'a claim waits on a full pool and another matching pool has room',
      reads: waitingOn('releasing'),
      answer: { retryAfterSeconds: RETRY.releasing },
      events: ['VIPPending'],
    },
    {
      situation: "the claim's pool is gone (deleted, or re-created under another name)",
      reads: waitingOn('pool-gone'),
      answer: { retryAfterSeconds: RETRY['pool-gone'] },
      events: ['VIPPoolGone'],
    },
    {
      situation: 'the provider bound the claim to an address another IPAddress of ours holds, from any pool',
      reads: waitingOn('duplicate'),
      answer: { retryAfterSeconds: RETRY.duplicate },
      events: ['VIPDuplicateAddress'],
    },
    {
      situation: 'something already answers on the bound address (the probe)',
      reads: waitingOn('in-use'),
      answer: { retryAfterSeconds: RETRY['in-use'] },
      events: ['VIPAddressInUse'],
    },
    {
      situation: 'the probe saw only refusals, address after address (a firewall may REJECT the port)',
      reads: waitingOn('probe-filtered'),
      answer: { retryAfterSeconds: RETRY['probe-filtered'] },
      events: ['VIPProbeFiltered'],
    },
    {
      situation: "a claim of the Cluster's name is held in quarantine (a deleted Cluster's)",
      reads: waitingOn('quarantined'),
      answer: { retryAfterSeconds: RETRY.quarantined },
      events: ['VIPClaimQuarantined'],
    },
  ];

  test('the rows are the table of docs/reference/hook-cases.md, in its order', () => {
    expect(caseTableSituations('docs/reference/hook-cases.md')).toEqual(ROWS.map((r) => r.situation));
  });

  test.each(ROWS)('$situation', (row) => {
    let facts: Facts = {
      cluster: row.cluster ?? testCluster('c1'),
      now: Date.now(),
      queue: { waiting: 0 },
      noIngress: false,
      ...row.memory,
    };
    const asked: Need[] = [];
    let step = decide(facts, SETTINGS);
    while ('need' in step) {
      const what = step.need;
      asked.push(what);
      const answer = row.reads.find(([need]) => need === what);
      if (!answer || asked.length > row.reads.length) throw new Error(`unexpected read ${what}`);
      facts = { ...facts, ...answer[1] };
      step = decide(facts, SETTINGS);
    }
    expect(asked).toEqual(row.reads.map(([need]) => need));
    expect(step.response).toMatchObject(row.answer);
    expect(step.events.map((e) => e.reason)).toEqual(row.events);
    expect(step.publication !== undefined).toBe(row.writes ?? false);
    const remembered = step.written
      ? 'written'
      : step.track
        ? 'tracked'
        : step.noIngress
          ? 'no ingress'
          : undefined;
    expect(remembered).toBe(row.remembers);
  });
});
