/**
 * The webhook's shell on the in-memory store (our seam): the AdmissionReview's Cluster read, the
 * reads `decide` asks for made, and the outcome turned into a JSON patch the API server applies.
 */
import { Allocator } from '../../../shared/allocator/allocator.js';
import type { Cluster, ClusterClass } from '../../../shared/kube/types.js';
import { testCluster } from '../../../shared/testing/cluster.js';
import { FakeStore } from '../../../shared/testing/fake-store.js';
import { POOL_KIND, POOL_REF, TEST_NS, testPool } from '../../../shared/testing/pool.js';
import {
  ANNOTATION_ADMITTED_CLAIM,
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_RESERVE,
  LABEL_ADDRESS_KEY,
} from '../../../shared/vip.js';
import { addressKey } from '../../../shared/allocator/duplicates.js';
import type { AdmissionRequest } from '../review.js';
import { clusterEndpointWebhook } from './shell.js';

const CLASS: ClusterClass = {
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'ClusterClass',
  metadata: { name: 'cc', namespace: TEST_NS },
  spec: {
    patches: [{ name: 'vip', external: { generatePatchesExtension: 'vip-allocator-generate-patches.x' } }],
  },
};

let store: FakeStore;
let review: ReturnType<typeof clusterEndpointWebhook>;

beforeEach(async () => {
  store = new FakeStore([POOL_KIND]);
  store.addPool(POOL_KIND, testPool({ total: 2, annotations: { [ANNOTATION_RESERVE]: '1' } }));
  store.addClass(CLASS);
  await store.fillReserve(TEST_NS, POOL_REF, 'control-plane', '10.0.0.10');
  review = webhookWith(new Allocator(store, { poolKinds: [POOL_KIND], reserve: store.reserveView() }));
});

const webhookWith = (allocator: Allocator): ReturnType<typeof clusterEndpointWebhook> =>
  clusterEndpointWebhook({
    allocator,
    getClusterClass: (ns, n) => store.getClusterClass(ns, n),
    generatePatchesHandler: 'vip-allocator-generate-patches',
    defaultPort: 6443,
    enabled: true,
  });

/** A create of `cluster` as the API server sends it to admission: no uid yet. */
const creating = (cluster: Cluster, extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'u1',
  operation: 'CREATE',
  kind: { group: 'cluster.x-k8s.io', version: 'v1beta2', kind: 'Cluster' },
  namespace: TEST_NS,
  object: { ...cluster, metadata: { ...cluster.metadata, uid: undefined } },
  ...extra,
});

test('a Cluster of a class whose pool keeps a reserve is created with its endpoint', async () => {
  const got = await review(creating(testCluster('c1')));
  expect(got.outcome).toBe('endpoint');
  const ops = Object.fromEntries((got.patch ?? []).map((op) => [op.path, op.value]));
  expect(ops['/spec/controlPlaneEndpoint']).toEqual({ host: '10.0.0.10', port: 6443 });
  const annotations = ops['/metadata/annotations'] as Record<string, string>;
  expect(annotations[ANNOTATION_CONTROL_PLANE_VIP]).toBe('10.0.0.10');
  expect(store.claims.has(`${TEST_NS}/${annotations[ANNOTATION_ADMITTED_CLAIM] ?? ''}`)).toBe(true);
});

test('with the watches, a create reads only its class and pools, and writes only the adoption', async () => {
  // The reserve labels its addresses by address as they bind (operator/reconcilers/claim-reserve.ts).
  for (const a of store.addresses.values()) a.metadata.labels = { [LABEL_ADDRESS_KEY]: addressKey(a) };
  review = webhookWith(
    new Allocator(store, { poolKinds: [POOL_KIND], reserve: store.reserveView(), watched: store.watched() }),
  );
  store.calls.clear();
  const got = await review(creating(testCluster('c1')));
  expect(got.outcome).toBe('endpoint');
  expect(Object.fromEntries(store.calls)).toEqual({ getClusterClass: 1, listPools: 1, patchClaim: 1 });
});

test.each([
  ['a dry run', { dryRun: true }],
  ['not a Cluster', { kind: { group: '', version: 'v1', kind: 'ConfigMap' } }],
  ['an update', { operation: 'UPDATE' }],
])('%s: as asked, nothing adopted', async (_, extra) => {
  const got = await review(creating(testCluster('c1'), extra));
  expect(got).toMatchObject({ outcome: 'unchanged' });
  expect(got.patch).toBeUndefined();
  expect(store.calls.get('patchClaim')).toBeUndefined();
});

test('a Cluster the API server would refuse (bad shape) is left to its validation', async () => {
  const got = await review(creating({ ...testCluster('c1'), spec: 'nonsense' } as unknown as Cluster));
  expect(got.outcome).toBe('unchanged');
  expect(got.why).toMatch(/request\.object\.spec/);
});

test('a read that fails leaves the create as asked, saying why', async () => {
  store.getClusterClass = () => Promise.reject(new Error('the API server is away'));
  const got = await review(creating(testCluster('c1')));
  expect(got).toMatchObject({ outcome: 'unchanged', why: expect.stringContaining('the API server is away') });
});
