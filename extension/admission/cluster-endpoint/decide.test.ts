import { caseTableSituations } from '../../../shared/testing/case-table.js';
import type { Allocation } from '../../../shared/allocator/allocator.js';
import { testCluster, testClusterClass } from '../../../shared/testing/cluster.js';
import type { Cluster, IPAddressClaim } from '../../../shared/kube/types.js';
import { ANNOTATION_ENABLED, ANNOTATION_IP_FAMILIES, ANNOTATION_PAUSED } from '../../../shared/vip.js';
import { decide, type AdmissionFacts, type AdmissionNeed } from './decide.js';

const SETTINGS = { generatePatchesHandler: 'vip-allocator-generate-patches', defaultPort: 6443 };
const cc = testClusterClass;
const claim: IPAddressClaim = {
  apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
  kind: 'IPAddressClaim',
  metadata: { name: 'vip-reserve-pool-abc', namespace: 'ns' },
  spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' } },
};
const allocated: Allocation = { state: 'allocated', address: '10.0.0.5', prefix: 24, claim };
const inUse: Allocation = {
  state: 'pending',
  reason: 'in-use',
  message: '10.0.0.5 answers on 6443',
};
const withAnnotation = (key: string, value: string): Cluster =>
  testCluster('c1', { annotations: { [key]: value } });

interface Row {
  readonly situation: string;
  readonly facts?: Partial<AdmissionFacts>;
  /** What each read returns, in the order `decide` asks. */
  readonly reads?: readonly [AdmissionNeed, unknown][];
  readonly endpoint?: string;
}

/**
 * "Cases the Cluster-endpoint webhook handles" (docs/reference/admission-cases.md), row by row,
 * against the pure decision. The first test checks that this list and that page's table are the same.
 */
const ROWS: Row[] = [
  { situation: 'not the create of a Cluster', facts: { operation: 'UPDATE' } },
  { situation: 'a dry run (`kubectl create --dry-run=server`)', facts: { dryRun: true } },
  { situation: '`--endpoint-at-create=false`, or no `--claim-reserve`', facts: { enabled: false } },
  {
    situation: 'not a topology Cluster, or annotation `vip.capi.gorizond.io/enabled: "false"`',
    facts: { cluster: withAnnotation(ANNOTATION_ENABLED, 'false') },
  },
  {
    situation: 'no name yet (`generateName` is resolved after admission)',
    facts: { cluster: { ...testCluster(''), metadata: { namespace: 'ns', name: '' } } },
  },
  {
    situation: 'Cluster paused (clusterctl move creates Clusters paused)',
    facts: { cluster: testCluster('c1', { paused: true }) },
  },
  {
    situation: '`controlPlaneEndpoint.host` set (by hand, or a moved Cluster)',
    facts: { cluster: testCluster('c1', { host: '10.9.9.9' }) },
  },
  {
    situation: 'bad `vipAllocator.ipFamilies` or `ip-families` annotation',
    facts: { cluster: withAnnotation(ANNOTATION_IP_FAMILIES, 'IPv5') },
  },
  {
    situation: 'a dual-stack pair asked',
    facts: { cluster: withAnnotation(ANNOTATION_IP_FAMILIES, 'IPv4,IPv6') },
  },
  {
    situation: 'the class does not list our GeneratePatches, or is not found',
    reads: [['clusterClass', cc(false)]],
  },
  {
    situation:
      'no matching pool keeps a reserve, its reserve has no bound claim free, or each one tried was adopted by another replica first',
    reads: [
      ['clusterClass', cc(true)],
      ['allocation', null],
    ],
  },
  {
    situation:
      "the adopted claim's address is another IPAddress's, carried by another Cluster, or answers the in-use probe",
    reads: [
      ['clusterClass', cc(true)],
      ['allocation', inUse],
    ],
  },
  {
    situation: 'a bound claim adopted from the reserve',
    reads: [
      ['clusterClass', cc(true)],
      ['allocation', allocated],
    ],
    endpoint: '10.0.0.5',
  },
];

test('the rows are the table of docs/reference/admission-cases.md, in its order', () => {
  expect(caseTableSituations('docs/reference/admission-cases.md')).toEqual(ROWS.map((r) => r.situation));
});

test.each(ROWS)('$situation', (row) => {
  let facts: AdmissionFacts = {
    operation: 'CREATE',
    dryRun: false,
    enabled: true,
    cluster: testCluster('c1'),
    ...row.facts,
  };
  const asked: AdmissionNeed[] = [];
  let step = decide(facts, SETTINGS);
  for (const [need, value] of row.reads ?? []) {
    expect(step).toEqual({ need });
    asked.push(need);
    facts = { ...facts, [need]: value };
    step = decide(facts, SETTINGS);
  }
  expect(asked).toEqual((row.reads ?? []).map(([need]) => need));
  expect('need' in step).toBe(false);
  if (row.endpoint) {
    expect(step).toEqual({
      publication: { endpoint: { host: row.endpoint, port: 6443, prefix: 24 } },
      claim: claim.metadata.name,
      slot: { role: 'control-plane' },
    });
  } else {
    expect(step).toHaveProperty('unchanged');
  }
});

test('a topology-less Cluster is left as asked before anything is read', () => {
  const cluster: Cluster = { ...testCluster('c1'), spec: {} };
  expect(decide({ operation: 'CREATE', dryRun: false, enabled: true, cluster }, SETTINGS)).toHaveProperty(
    'unchanged',
  );
});

test('a paused Cluster by annotation is left as asked too', () => {
  const cluster = withAnnotation(ANNOTATION_PAUSED, '');
  expect(decide({ operation: 'CREATE', dryRun: false, enabled: true, cluster }, SETTINGS)).toHaveProperty(
    'unchanged',
  );
});
