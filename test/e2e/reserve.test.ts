/**
 * A reserve of pre-bound claims, on the real plane (its extension runs --claim-reserve): our
 * reconciler fills the pool's reserve, the real IPAM provider binds it, the API server's call to
 * our Cluster-endpoint webhook adopts one claim and the Cluster is created with its VIP; the reserve
 * refills; the deleted Cluster's adopted claim is held like any other, then released. A dry run
 * adopts nothing; a create another admission step refuses gives its claim back after the bound.
 */
import { clusterClass, inClusterIPPool, topologyCluster, vipLabels } from '../../hack/fixtures/fixtures.js';
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
const ADMITTED_CLAIM = 'vip.capi.gorizond.io/admitted-claim';
const CLUSTER_NAME = 'cluster.x-k8s.io/cluster-name';
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
  // Born with it: the Cluster as first stored carries the endpoint and names the claim it adopted.
  const born = await readCluster(ns, 'a');
  expect(born?.spec?.controlPlaneEndpoint?.host).toMatch(/^10\.160\.0\./);
  expect(names.has(born?.metadata.annotations?.[ADMITTED_CLAIM] ?? '')).toBe(true);
  const cluster = await waitForTopology(ns, 'a');
  const vip = cluster.metadata.annotations?.[VIP_ANNOTATION];
  const all = await claims();
  const adopted = all.find((c) => c.metadata.labels?.[CLUSTER_NAME] === 'a');
  // No claim of its own name: the Cluster took one the reserve had bound.
  expect(all.map((c) => c.metadata.name)).not.toContain('vip-cp-a');
  expect(names.has(adopted?.metadata.name ?? '')).toBe(true);
  expect(adopted?.metadata.name).toBe(born?.metadata.annotations?.[ADMITTED_CLAIM]);
  // The leader makes the Cluster its owner once the Cluster exists.
  await eventually('the Cluster to own its adopted claim', async () => {
    const c = (await claims()).find((x) => x.metadata.name === adopted?.metadata.name);
    return c?.metadata.ownerReferences?.length ? c : undefined;
  });
  expect(
    (await claims())
      .find((x) => x.metadata.name === adopted?.metadata.name)
      ?.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
  ).toEqual(['Cluster/a']);
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

test('a dry run adopts nothing; a create refused after us gives its claim back after the bound, a retry finds it again', async () => {
  await readyReserve(2);
  // Server-side dry run: the webhook is called with dryRun and leaves the create as asked.
  const dry = (await objects.create(
    topologyCluster(ns, 'dry', 'r'),
    undefined,
    'All',
  )) as KubernetesObject & { spec?: { controlPlaneEndpoint?: { host?: string } } };
  expect(dry.spec?.controlPlaneEndpoint?.host ?? '').toBe('');
  expect((await claims()).filter((c) => c.metadata.labels?.[CLUSTER_NAME] === 'dry')).toEqual([]);

  // Another admission step (a ValidatingAdmissionPolicy, after every mutating webhook) refuses it.
  const policy = `refuse-${ns}`;
  const admission = 'admissionregistration.k8s.io/v1';
  await objects.create({
    apiVersion: admission,
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name: policy },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [
          {
            apiGroups: ['cluster.x-k8s.io'],
            apiVersions: ['*'],
            operations: ['CREATE'],
            resources: ['clusters'],
          },
        ],
      },
      validations: [{ expression: "object.metadata.name != 'refused'", message: 'refused by the test' }],
    },
  } as KubernetesObject);
  await objects.create({
    apiVersion: admission,
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name: policy },
    spec: {
      policyName: policy,
      validationActions: ['Deny'],
      matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
    },
  } as KubernetesObject);
  try {
    const refusedOnce = await eventually('the policy to refuse the create', async () => {
      // A dry run, so that a create before the policy is in force adopts nothing.
      try {
        await objects.create(topologyCluster(ns, 'refused', 'r'), undefined, 'All');
        return undefined;
      } catch (err) {
        return String(err).includes('refused by the test') ? true : undefined;
      }
    });
    expect(refusedOnce).toBe(true);
    const refused = (): Promise<unknown> => objects.create(topologyCluster(ns, 'refused', 'r'));
    await expect(refused()).rejects.toThrow(/refused by the test/);
    const adopted = await eventually('the claim adopted for the refused create', async () =>
      (await claims()).find((c) => c.metadata.labels?.[CLUSTER_NAME] === 'refused'),
    );
    expect(adopted.metadata.ownerReferences ?? []).toEqual([]);
    // A retried create of the name adopts the same claim, not a second one.
    await expect(refused()).rejects.toThrow(/refused by the test/);
    expect((await claims()).filter((c) => c.metadata.labels?.[CLUSTER_NAME] === 'refused')).toHaveLength(1);
    // No Cluster will carry it: back in the reserve once no create that adopted it can still land.
    await eventually(
      "the refused create's claim back in the reserve",
      async () => {
        const c = (await claims()).find((x) => x.metadata.name === adopted.metadata.name);
        return c?.metadata.labels?.[RESERVE] === 'free' && !c.metadata.labels[CLUSTER_NAME] ? c : undefined;
      },
      180_000,
    );
  } finally {
    await objects.delete({
      apiVersion: admission,
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: policy },
    });
    await objects.delete({
      apiVersion: admission,
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: policy },
    });
  }
}, 300_000);

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
