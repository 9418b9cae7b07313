import { Allocator } from '../../shared/allocator/allocator.js';
import type { Cluster, IPAddressClaim, IPPool } from '../../shared/kube/types.js';
import { FakeRecorder, FakeStore } from '../../shared/testing/fake-store.js';
import { adoptionMeta } from '../../shared/allocator/reserve.js';
import {
  ANNOTATION_QUARANTINE_SECONDS,
  ANNOTATION_QUARANTINED_UNTIL,
  ANNOTATION_RESERVE,
  LABEL_ADDRESS_IN_USE,
  LABEL_CLUSTER_NAME,
  LABEL_QUARANTINE,
  LABEL_RESERVE,
  LABEL_ROLE,
} from '../../shared/vip.js';
import { RETRY } from './before-cluster-create/decide.js';
import { testCluster } from '../../shared/testing/cluster.js';
import { POOL_KIND, POOL_REF, TEST_NS, testPool } from '../../shared/testing/pool.js';
import { testBeforeClusterCreate, testCall } from './testing.js';
import { beforeClusterDelete } from './before-cluster-delete.js';

const NS = TEST_NS;
const HOOKS = 'hooks.runtime.cluster.x-k8s.io/v1alpha1' as const;

let store: FakeStore;
let recorder: FakeRecorder;
let allocator: Allocator;

const pool = (opts: { grace?: number; free?: number } = {}): IPPool => testPool({ ...opts, total: 2 });

const topologyCluster = (name: string, paused = false): Cluster =>
  store.addCluster(testCluster(name, { paused }));

const create = (cluster: Cluster) =>
  testBeforeClusterCreate(store, recorder, allocator).handle(
    {
      apiVersion: HOOKS,
      kind: 'BeforeClusterCreateRequest',
      cluster: structuredClone(cluster),
    },
    testCall(),
  );

const remove = (cluster: Cluster) =>
  beforeClusterDelete({ allocator, recorder, reuseGraceSeconds: 300 }).handle(
    {
      apiVersion: HOOKS,
      kind: 'BeforeClusterDeleteRequest',
      cluster: structuredClone(cluster),
    },
    testCall(),
  );

const claim = (name: string) => store.claims.get(`${NS}/${name}`) as IPAddressClaim;

beforeEach(() => {
  store = new FakeStore([POOL_KIND]);
  recorder = new FakeRecorder();
  allocator = new Allocator(store, { poolKinds: [POOL_KIND] });
  store.addClass({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'ClusterClass',
    metadata: { name: 'cc', namespace: NS },
  });
});

describe('BeforeClusterDelete: quarantine before reuse', () => {
  test("the Cluster's claim loses its owner and is held for --reuse-grace once the Cluster is gone", async () => {
    store.addPool(POOL_KIND, pool());
    store.bindOnCreate = () => '10.0.0.10';
    const cluster = topologyCluster('c1');
    await create(cluster);
    expect(await remove(cluster)).toEqual({ status: 'Success', retryAfterSeconds: 0 });
    const held = claim('vip-cp-c1');
    expect(held.metadata.ownerReferences ?? []).toEqual([]);
    expect(held.metadata.labels?.[LABEL_QUARANTINE]).toBe('held');
    expect(held.metadata.annotations?.[ANNOTATION_QUARANTINE_SECONDS]).toBe('300');
    // The grace counts from when the Cluster is gone, not from now.
    expect(held.metadata.annotations?.[ANNOTATION_QUARANTINED_UNTIL]).toBeUndefined();
    expect(recorder.events.at(-1)).toMatchObject({ reason: 'VIPQuarantined', regarding: 'c1' });
    expect(recorder.events.at(-1)?.note).toContain('VIP 10.0.0.10 of Cluster ns/c1');
  });

  test('a pool whose provider holds addresses as long on its own is left to it, and a shorter one is not doubled', async () => {
    store.addPool(POOL_KIND, pool({ grace: 300 }));
    store.bindOnCreate = () => '10.0.0.10';
    const a = topologyCluster('a');
    await create(a);
    await remove(a);
    expect(claim('vip-cp-a').metadata.labels?.[LABEL_QUARANTINE]).toBeUndefined();
    expect(claim('vip-cp-a').metadata.ownerReferences).toHaveLength(1);
    expect(recorder.events.at(-1)?.note).toContain("left to the pool's own reuse grace of 300s");

    (store.pools.get(POOL_KIND.kind)?.[0]?.spec ?? {}).addressReuseGracePeriodSeconds = 120;
    store.bindOnCreate = () => '10.0.0.11';
    const b = topologyCluster('b');
    await create(b);
    await remove(b);
    expect(claim('vip-cp-b').metadata.annotations?.[ANNOTATION_QUARANTINE_SECONDS]).toBe('180');
    expect(recorder.events.at(-1)?.note).toContain(
      "for 180s after the Cluster is gone, then 120s by the pool's own grace",
    );
  });

  test('a paused Cluster (clusterctl move deletes the source without the hook): nothing is touched', async () => {
    store.addPool(POOL_KIND, pool());
    store.bindOnCreate = () => '10.0.0.10';
    await create(topologyCluster('c1'));
    store.resetCalls();
    await remove(topologyCluster('c1', true));
    expect(store.requests).toBe(0);
    expect(claim('vip-cp-c1').metadata.ownerReferences).toHaveLength(1);
  });

  test('a Cluster made again under the same name waits for the held claim, and never adopts it', async () => {
    store.addPool(POOL_KIND, pool());
    store.bindOnCreate = () => '10.0.0.10';
    const old = topologyCluster('c1');
    await create(old);
    await remove(old);
    store.clusters.delete(`${NS}/c1`);
    const again = topologyCluster('c1');
    const response = await create(again);
    expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.quarantined });
    expect(response.message).toContain(
      'holds the VIP of an earlier Cluster ns/c1 in quarantine for 300s once its Cluster is gone',
    );
    expect(claim('vip-cp-c1').metadata.ownerReferences ?? []).toEqual([]);
    expect(recorder.reasons()).toContain('VIPClaimQuarantined');
  });

  test('a full pool says how many of its addresses are held, and until when', async () => {
    store.addPool(POOL_KIND, pool({ free: 0 }));
    store.bindOnCreate = () => '10.0.0.10';
    const old = topologyCluster('old');
    await create(old);
    await remove(old);
    await store.patchClaim(claim('vip-cp-old'), {
      annotations: { [ANNOTATION_QUARANTINED_UNTIL]: '2026-11-30T12:05:00.000Z' },
    });
    store.bindOnCreate = undefined;
    const response = await create(topologyCluster('new'));
    expect(response.message).toContain(
      "has no free address (0 of 2, 1 of them held in quarantine after their Clusters' deletion, the first until 2026-11-30T12:05:00.000Z)",
    );
  });
});

describe('A reserve of pre-bound claims (--claim-reserve)', () => {
  const reservePool = (): IPPool => {
    const p = pool();
    p.metadata.annotations = { [ANNOTATION_RESERVE]: '2' };
    return p;
  };
  const fillReserve = (...addresses: string[]): Promise<IPAddressClaim[]> =>
    store.fillReserve(NS, POOL_REF, 'control-plane', ...addresses);

  beforeEach(() => {
    allocator = new Allocator(store, { poolKinds: [POOL_KIND], reserve: store.reserveView() });
    store.addPool(POOL_KIND, reservePool());
  });

  test('the first call adopts a bound claim and writes its VIP; BeforeClusterDelete finds and holds it', async () => {
    const [held] = await fillReserve('10.0.0.10');
    const cluster = topologyCluster('c1');
    const stale = structuredClone(cluster);
    store.resetCalls();
    expect(await create(cluster)).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.patched });
    expect(store.patches[0]?.patch.endpoint).toEqual({ host: '10.0.0.10', port: 6443 });
    // No claim of its own was made, and none waited for.
    expect(store.calls.get('createClaim')).toBeUndefined();
    const adopted = claim(held?.metadata.name ?? '');
    expect(adopted.metadata.labels).toMatchObject({
      [LABEL_RESERVE]: 'adopted',
      [LABEL_CLUSTER_NAME]: 'c1',
      [LABEL_ROLE]: 'control-plane',
    });
    expect(adopted.metadata.ownerReferences?.map((o) => o.uid)).toEqual([cluster.metadata.uid]);
    // CAPI calls again before its cache shows the VIP: the same claim, found by its labels.
    expect(await create(stale)).toMatchObject({ status: 'Success' });
    expect(store.patches[1]?.patch.endpoint).toEqual({ host: '10.0.0.10', port: 6443 });
    expect(store.calls.get('patchClaim')).toBe(1);

    expect(await remove(store.clusters.get(`${NS}/c1`) as Cluster)).toMatchObject({ status: 'Success' });
    expect(claim(adopted.metadata.name).metadata.labels?.[LABEL_QUARANTINE]).toBe('held');
    expect(claim(adopted.metadata.name).metadata.ownerReferences).toEqual([]);
  });

  const markInUse = (taken: IPAddressClaim, cluster: Cluster) =>
    store.patchClaim(taken, {
      ...adoptionMeta(cluster, 'control-plane', new Date()),
      labels: {
        [LABEL_RESERVE]: 'adopted',
        [LABEL_CLUSTER_NAME]: cluster.metadata.name,
        [LABEL_ROLE]: 'control-plane',
        [LABEL_ADDRESS_IN_USE]: 'true',
      },
    });

  test('an adopted claim whose address answers already: another bound claim of the reserve is adopted', async () => {
    const [taken, spare] = await fillReserve('10.0.0.10', '10.0.0.12');
    const cluster = topologyCluster('c1');
    await markInUse(taken as IPAddressClaim, cluster);
    expect(await create(cluster)).toMatchObject({ status: 'Success' });
    expect(store.patches[0]?.patch.endpoint?.host).toBe('10.0.0.12');
    expect(claim((spare as IPAddressClaim).metadata.name).metadata.labels?.[LABEL_RESERVE]).toBe('adopted');
    // Neither of the Cluster's own names was claimed: the reserve served it.
    expect(store.claims.has(`${NS}/vip-cp-c1`)).toBe(false);
    await remove(store.clusters.get(`${NS}/c1`) as Cluster);
    expect(claim((spare as IPAddressClaim).metadata.name).metadata.labels?.[LABEL_QUARANTINE]).toBe('held');
  });

  test('an adopted claim whose address answers already, the reserve empty: the Cluster claims on its own', async () => {
    const [taken] = await fillReserve('10.0.0.10');
    const cluster = topologyCluster('c1');
    await markInUse(taken as IPAddressClaim, cluster);
    store.bindOnCreate = () => '10.0.0.11';
    expect(await create(cluster)).toMatchObject({ status: 'Success' });
    expect(store.patches[0]?.patch.endpoint?.host).toBe('10.0.0.11');
    expect(claim('vip-cp-c1').status?.addressRef?.name).toBe('vip-cp-c1');
    // Deleted, the VIP's claim is held.
    await remove(store.clusters.get(`${NS}/c1`) as Cluster);
    expect(claim('vip-cp-c1').metadata.labels?.[LABEL_QUARANTINE]).toBe('held');
  });

  test('an empty reserve: the Cluster claims on its own, as without one', async () => {
    store.bindOnCreate = () => '10.0.0.11';
    expect(await create(topologyCluster('c1'))).toMatchObject({ status: 'Success' });
    expect(claim('vip-cp-c1').status?.addressRef?.name).toBe('vip-cp-c1');
  });
});
