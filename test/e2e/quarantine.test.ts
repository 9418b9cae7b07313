/**
 * Quarantine before reuse, on the real plane (its extension runs --reuse-grace=15s): the real
 * CAPI calls BeforeClusterDelete, the real garbage collector leaves the held claim alone, and the
 * real IPAM provider keeps the address out of the pool until our reconciler lets it go.
 */
import { clusterClass, inClusterIPPool, vipLabels } from '../../hack/fixtures/fixtures.js';
import { createNamespace, deleteNamespace, events, eventually, kube } from '../../hack/fixtures/kube.js';
import {
  createCluster,
  deleteCluster,
  readClaim,
  readCluster,
  untilTopologySays,
  VIP_ANNOTATION,
  waitForTopology,
} from '../../hack/fixtures/vip.js';
import { leaderMetrics, outage, untilEveryReplicaIsDown } from '../../hack/fixtures/extension.js';
import { sample } from '../../hack/fixtures/metrics.js';

const UNTIL = 'vip.capi.gorizond.io/quarantined-until';
const { objects } = kube();
let ns: string;

beforeAll(async () => {
  ns = await createNamespace('quarantine');
  for (const o of [
    ...clusterClass('capd', ns, 'q'),
    inClusterIPPool(ns, 'pool', ['10.150.0.10-10.150.0.12'], { labels: vipLabels('q') }),
  ]) {
    await objects.create(o);
  }
});
afterAll(() => deleteNamespace(ns));

/** Deletes the Cluster and waits until it is gone and its claim's grace has started. */
async function deleteAndHold(name: string) {
  await deleteCluster(ns, name);
  return eventually(`Cluster ${name} to be gone and its claim held`, async () => {
    const claim = await readClaim(ns, `vip-cp-${name}`);
    const until = claim?.metadata.annotations?.[UNTIL];
    return !(await readCluster(ns, name)) && claim && until ? { claim, until: new Date(until) } : undefined;
  });
}

test('a deleted Cluster’s VIP is held, a Cluster of the same name waits for it, and no other Cluster gets it meanwhile', async () => {
  await createCluster(ns, 'a', 'q');
  const first = (await waitForTopology(ns, 'a')).metadata.annotations?.[VIP_ANNOTATION];
  const { claim, until } = await deleteAndHold('a');
  expect(claim.metadata.ownerReferences ?? []).toEqual([]);
  expect(claim.metadata.labels?.['vip.capi.gorizond.io/quarantine']).toBe('held');
  // The reconciler records VIPQuarantineStarted just after it writes quarantined-until.
  const notes = await eventually('VIPQuarantineStarted', async () => {
    const all = (await events(ns)).map((e) => `${e.reason}: ${e.note}`);
    return all.some((n) => n.startsWith('VIPQuarantineStarted: Cluster')) ? all : undefined;
  });
  expect(notes).toContainEqual(expect.stringContaining(`VIPQuarantined: VIP ${first} of Cluster ${ns}/a`));

  // While held (15 s): a Cluster of the same name waits, saying why; another Cluster gets another address.
  await createCluster(ns, 'a', 'q');
  await untilTopologySays(ns, 'a', 'in quarantine');
  expect(sample(await leaderMetrics(), 'capi_vip_allocator_vips_quarantined')).toBeGreaterThanOrEqual(1);
  await createCluster(ns, 'b', 'q');
  const b = (await waitForTopology(ns, 'b')).metadata.annotations?.[VIP_ANNOTATION];
  expect(b).not.toBe(first);

  // Released when the grace is over, not before; then the new Cluster a claims afresh.
  const again = await waitForTopology(ns, 'a', 90_000);
  expect(Date.now()).toBeGreaterThanOrEqual(until.getTime());
  const fresh = await readClaim(ns, 'vip-cp-a');
  expect(fresh?.metadata.uid).not.toBe(claim.metadata.uid);
  expect(fresh?.metadata.ownerReferences?.map((o) => o.name)).toEqual(['a']);
  expect(again.metadata.annotations?.[VIP_ANNOTATION]).toBeDefined();
}, 180_000);

test('deleting a held claim by hand releases its address at once, and is counted as early', async () => {
  await createCluster(ns, 'early', 'q');
  await waitForTopology(ns, 'early');
  const { claim } = await deleteAndHold('early');
  await objects.delete(claim);
  await eventually('the release to be counted as early', async () =>
    (sample(await leaderMetrics(), 'capi_vip_allocator_vips_released_total', {
      how: 'early',
    }) ?? 0) >= 1
      ? true
      : undefined,
  );
  // Counted when our reconciler sees the deletion; gone once the IPAM provider drops its finalizer.
  await eventually('the held claim to be gone', async () =>
    (await readClaim(ns, 'vip-cp-early')) ? undefined : true,
  );
}, 120_000);

test('a Cluster deleted while the extension is down waits for it, and its VIP is held all the same', async () => {
  await createCluster(ns, 'outage', 'q');
  await waitForTopology(ns, 'outage');
  const down = outage(8_000);
  // Deleted while no replica answers: CAPI waits on BeforeClusterDelete (failurePolicy Fail).
  await untilEveryReplicaIsDown();
  await deleteCluster(ns, 'outage');
  await new Promise((r) => setTimeout(r, 4_000));
  const during = await readClaim(ns, 'vip-cp-outage');
  expect(during?.metadata.ownerReferences?.map((o) => o.name)).toEqual(['outage']);
  expect(await readCluster(ns, 'outage')).toBeDefined();
  await down;
  const { claim } = await deleteAndHold('outage');
  expect(claim.status?.addressRef?.name).toBe('vip-cp-outage');
}, 180_000);

test('a pool deleted while it holds a quarantined address: the claim is still released on time, nothing is left', async () => {
  const other = await createNamespace('quarantine-pool');
  try {
    for (const o of [
      ...clusterClass('capd', other, 'q'),
      inClusterIPPool(other, 'gone', ['10.151.0.10'], { labels: vipLabels('q') }),
    ]) {
      await objects.create(o);
    }
    await createCluster(other, 'orphaned', 'q');
    await waitForTopology(other, 'orphaned');
    await deleteCluster(other, 'orphaned');
    await eventually('the claim to be held', async () =>
      (await readClaim(other, 'vip-cp-orphaned'))?.metadata.annotations?.[UNTIL] ? true : undefined,
    );
    await objects.delete({
      apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
      kind: 'InClusterIPPool',
      metadata: { name: 'gone', namespace: other },
    });
    await eventually('the held claim to be released and gone', async () =>
      (await readClaim(other, 'vip-cp-orphaned')) ? undefined : true,
    );
    const released = await eventually('VIPReleased', async () =>
      (await events(other)).find((e) => e.reason === 'VIPReleased'),
    );
    expect(released.note).toContain('Quarantine over: IPAddressClaim');
  } finally {
    await deleteNamespace(other);
  }
}, 120_000);
