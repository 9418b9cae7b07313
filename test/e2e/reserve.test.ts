/**
 * A reserve of pre-bound claims, on the real plane (its extension runs --claim-reserve): our
 * reconciler fills the pool's reserve, the real IPAM provider binds it, the real CAPI's
 * BeforeClusterCreate adopts one claim and the Cluster gets its VIP on that call; the reserve
 * refills; the deleted Cluster's adopted claim is held like any other, then released.
 */
import { clusterClass, inClusterIPPool, vipLabels } from '../../hack/fixtures/fixtures.js';
import { createNamespace, deleteNamespace, eventually, kube } from '../../hack/fixtures/kube.js';
import {
  createCluster,
  deleteCluster,
  readCluster,
  VIP_ANNOTATION,
  waitForTopology,
} from '../../hack/fixtures/vip.js';
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import type { IPAddressClaim } from '../../shared/kube/types.js';
import { PORTS } from '../../hack/control-plane/paths.js';
import { sample, scrape } from '../../hack/fixtures/metrics.js';

const RESERVE = 'vip.capi.gorizond.io/reserve';
const { objects } = kube();
let ns: string;

const claims = async (): Promise<IPAddressClaim[]> =>
  (
    await objects.list<IPAddressClaim & { metadata: { name: string } }>(
      'ipam.cluster.x-k8s.io/v1beta2',
      'IPAddressClaim',
      ns,
    )
  ).items;
const free = async (): Promise<IPAddressClaim[]> =>
  (await claims()).filter((c) => c.metadata.labels?.[RESERVE] === 'free');

/** Waits until the reserve holds `size` claims, every one bound. */
const readyReserve = (size: number) =>
  eventually(`a reserve of ${size} bound claims`, async () => {
    const f = await free();
    return f.length === size && f.every((c) => c.status?.addressRef?.name) ? f : undefined;
  });

beforeAll(async () => {
  ns = await createNamespace('reserve');
  for (const o of [
    ...clusterClass('capd', ns, 'r'),
    inClusterIPPool(ns, 'pool', ['10.160.0.10-10.160.0.20'], {
      labels: vipLabels('r'),
      annotations: { [RESERVE]: '2' },
    }),
  ]) {
    await objects.create(o);
  }
});
afterAll(() => deleteNamespace(ns));

test('a Cluster adopts a bound reserve claim, the reserve refills, and the adopted claim goes the way of any other', async () => {
  const before = await readyReserve(2);
  const names = new Set(before.map((c) => c.metadata.name));

  await createCluster(ns, 'a', 'r');
  const cluster = await waitForTopology(ns, 'a');
  const vip = cluster.metadata.annotations?.[VIP_ANNOTATION];
  const all = await claims();
  const adopted = all.find((c) => c.metadata.labels?.['cluster.x-k8s.io/cluster-name'] === 'a');
  // No claim of its own name: the Cluster took one the reserve had bound.
  expect(all.map((c) => c.metadata.name)).not.toContain('vip-cp-a');
  expect(names.has(adopted?.metadata.name ?? '')).toBe(true);
  expect(adopted?.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`)).toEqual(['Cluster/a']);
  expect(adopted?.metadata.labels?.[RESERVE]).toBe('adopted');
  expect(vip).toMatch(/^10\.160\.0\./);
  expect(cluster.spec?.controlPlaneEndpoint?.host).toBe(vip);

  // Refilled: two free claims again, none of them the adopted one.
  const after = await readyReserve(2);
  expect(after.map((c) => c.metadata.name)).not.toContain(adopted?.metadata.name);
  expect(
    sample(await scrape(PORTS.extensionMetrics), 'capi_vip_allocator_reserve_ready'),
  ).toBeGreaterThanOrEqual(2);

  // Deleted, the Cluster's adopted claim is held (the plane's --reuse-grace), then released.
  await deleteCluster(ns, 'a');
  await eventually(
    'the adopted claim to be held, then released',
    async () => {
      const c = (await claims()).find((x) => x.metadata.name === adopted?.metadata.name);
      return !c && !(await readCluster(ns, 'a')) ? true : undefined;
    },
    90_000,
  );
});

test('a pool that stops asking for a reserve has it taken away', async () => {
  await readyReserve(2);
  await objects.patch(
    {
      apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
      kind: 'InClusterIPPool',
      metadata: { name: 'pool', namespace: ns, annotations: { [RESERVE]: null } },
    } as unknown as KubernetesObject,
    undefined,
    undefined,
    'capi-vip-allocator-tests',
    undefined,
    PatchStrategy.MergePatch,
  );
  await eventually('the reserve to be gone', async () => ((await free()).length === 0 ? true : undefined));
});
