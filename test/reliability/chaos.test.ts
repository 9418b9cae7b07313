/**
 * Reliability on the real plane: our process killed mid-burst, two replicas answering the same
 * Clusters, the API server restarted, the IPAM provider down, a Cluster deleted while its claim
 * waits, a pool emptied and refilled. Every Cluster must end with a unique VIP, born into its
 * InfrastructureCluster, and nothing may be left behind.
 */
import { CustomObjectsApi, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { EXTENSION_NAME } from '../../hack/control-plane/components.js';
import { PORTS } from '../../hack/control-plane/paths.js';
import { restart } from '../../hack/control-plane/plane.js';
import { startAllocator } from '../../hack/fixtures/allocator-process.js';
import { clusterClass, inClusterIPPool, vipLabels, type Obj } from '../../hack/fixtures/fixtures.js';
import {
  createNamespace,
  deleteNamespace,
  events,
  eventually,
  kube,
  readOrUndefined,
} from '../../hack/fixtures/kube.js';
import {
  condition,
  createCluster,
  FirstVersions,
  readCluster,
  untilTopologySays,
  VIP_ANNOTATION,
  waitForTopology,
} from '../../hack/fixtures/vip.js';

const { kc, objects } = kube();
const quiet = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Until the IPAM provider's health port refuses: it has stopped, however long stopping took. */
const untilIpamStopped = (): Promise<true> =>
  eventually('the IPAM provider to stop', () =>
    fetch(`http://127.0.0.1:${PORTS.ipamHealth}/readyz`).then(
      () => undefined,
      () => true as const,
    ),
  );

interface Claim extends Obj {
  status?: { addressRef?: { name?: string } };
}

async function claims(namespace: string): Promise<Claim[]> {
  return (await objects.list<Claim>('ipam.cluster.x-k8s.io/v1beta2', 'IPAddressClaim', namespace)).items;
}

/** Every Cluster has a VIP of its own, its InfrastructureCluster was born with it, every claim is owned. */
async function expectAllocated(
  namespace: string,
  names: string[],
  firsts: FirstVersions,
  timeoutMs = 180_000,
): Promise<void> {
  const clusters = await Promise.all(names.map((n) => waitForTopology(namespace, n, timeoutMs)));
  const vips = clusters.map((c) => c.metadata.annotations?.[VIP_ANNOTATION]);
  expect(vips.every(Boolean)).toBe(true);
  expect(new Set(vips).size).toBe(names.length);
  for (const c of clusters) {
    const infra = c.spec?.infrastructureRef?.name ?? '';
    await eventually(`the first version of ${infra}`, async () => firsts.first.get(infra));
    expect(firsts.endpointOf(infra)).toEqual({ host: c.metadata.annotations?.[VIP_ANNOTATION], port: 6443 });
  }
  const all = await claims(namespace);
  expect(all).toHaveLength(names.length);
  for (const claim of all)
    expect(claim.metadata.ownerReferences?.filter((o) => o.kind === 'Cluster')).toHaveLength(1);
}

async function scenario(prefix: string, addresses: string[]): Promise<{ ns: string; firsts: FirstVersions }> {
  const ns = await createNamespace(prefix);
  const firsts = await FirstVersions.start('capd', ns);
  for (const o of [
    ...clusterClass('capd', ns, 'chaos'),
    inClusterIPPool(ns, 'pool', addresses, { labels: vipLabels('chaos') }),
  ]) {
    await objects.create(o);
  }
  return { ns, firsts };
}

const burst = (ns: string, count: number, prefix = 'c'): Promise<string[]> =>
  Promise.all(
    Array.from({ length: count }, (_, i) => `${prefix}-${i}`).map(
      async (n) => (await createCluster(ns, n, 'chaos'), n),
    ),
  );

test('our process SIGKILLed at random moments during a 30-Cluster burst', async () => {
  const { ns, firsts } = await scenario('chaos-kill', ['10.140.0.0/26']);
  try {
    const creating = burst(ns, 30);
    for (let i = 0; i < 3; i++) {
      await sleep(300 + Math.random() * 1500);
      await restart(EXTENSION_NAME, quiet, { signal: 'SIGKILL' });
    }
    await expectAllocated(ns, await creating, firsts);
  } finally {
    firsts.stop();
    await deleteNamespace(ns);
  }
}, 240_000);

test('two replicas answering BeforeClusterCreate for the same Clusters: one claim each, no duplicate address', async () => {
  const { ns, firsts } = await scenario('chaos-twins', ['10.141.0.0/26']);
  // A second replica registered with CAPI under its own ExtensionConfig: CAPI calls both hooks.
  const twin = await startAllocator([]);
  const second = {
    apiVersion: 'runtime.cluster.x-k8s.io/v1beta2',
    kind: 'ExtensionConfig',
    metadata: { name: 'vip-allocator-twin' },
    spec: {
      clientConfig: {
        url: `https://127.0.0.1:${twin.hookPort}`,
        caBundle: readFileSync('.cache/control-plane/pki/ca/tls.crt').toString('base64'),
      },
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    },
  };
  const api = KubernetesObjectApi.makeApiClient(kc);
  try {
    await api.create(second);
    await eventually('CAPI to discover the twin', async () => {
      const ec = (await api.read(second)) as Obj & { status?: { handlers?: unknown[] } };
      return ec.status?.handlers?.length ? true : undefined;
    });
    await expectAllocated(ns, await burst(ns, 20), firsts);
    expect(twin.log()).toContain('BeforeClusterCreate');
  } finally {
    // Its failurePolicy is Fail: it must not outlive the replica it points at.
    await api.delete(second).catch(() => undefined);
    await twin.kill('SIGKILL');
    firsts.stop();
    await deleteNamespace(ns);
  }
}, 240_000);

test('kube-apiserver restarted between two bursts: everything completes with unique VIPs after it returns', async () => {
  const { ns, firsts } = await scenario('chaos-apiserver', ['10.142.0.0/26']);
  try {
    const before = await burst(ns, 5, 'a');
    await restart('kube-apiserver', quiet, { downtimeMs: 3_000 });
    // Claims made while the IPAM provider's watches reconnect are the ones it may bind twice.
    const after = await burst(ns, 10, 'b');
    await expectAllocated(ns, [...before, ...after], firsts, 240_000);
  } finally {
    firsts.stop();
    await deleteNamespace(ns);
  }
  // The provider's own retries back off for a minute or more after the outage.
}, 300_000);

test('the IPAM provider down for 30s: Clusters wait saying why, then complete; one deleted meanwhile leaves nothing', async () => {
  const { ns, firsts } = await scenario('chaos-ipam', ['10.143.0.0/27']);
  try {
    const outage = restart('ipam-manager', quiet, { downtimeMs: 30_000 });
    await untilIpamStopped();
    const created = await burst(ns, 5);
    await createCluster(ns, 'doomed', 'chaos');
    const waiting = await eventually('a Cluster to say it waits for the pool', async () => {
      const c = await readCluster(ns, 'c-0');
      return condition(c, 'TopologyReconciled')?.message?.includes('to bind IPAddressClaim') ? c : undefined;
    });
    expect(condition(waiting, 'TopologyReconciled')?.message).toContain(
      `Waiting for InClusterIPPool pool to bind IPAddressClaim ${ns}/vip-cp-c-0`,
    );
    await objects.delete({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'doomed', namespace: ns },
    });
    await outage;
    await expectAllocated(ns, created, firsts);
    const leftovers = await objects.list('ipam.cluster.x-k8s.io/v1beta2', 'IPAddress', ns);
    expect(leftovers.items.map((a) => a.metadata?.name).sort()).toEqual(
      created.map((n) => `vip-cp-${n}`).sort(),
    );
  } finally {
    firsts.stop();
    await deleteNamespace(ns);
  }
});

test('an IPAM provider that binds one address twice: the Cluster not given it yet gives it back and claims again', async () => {
  const { ns, firsts } = await scenario('chaos-twice', ['10.145.0.1-10.145.0.3']);
  const claimRef = (cluster: string) => ({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name: `vip-cp-${cluster}`, namespace: ns },
  });
  try {
    await createCluster(ns, 'first', 'chaos');
    const first = await waitForTopology(ns, 'first');
    const taken = first.metadata.annotations?.[VIP_ANNOTATION] ?? '';

    // With the provider down, bind the second claim to the first Cluster's address, as the
    // in-cluster provider does when its IPAddress cache is stale.
    const outage = restart('ipam-manager', quiet, { downtimeMs: 15_000 });
    await untilIpamStopped();
    await createCluster(ns, 'second', 'chaos');
    const claim = await eventually('the second claim', () => readOrUndefined<Claim>(claimRef('second')));
    await objects.create({
      apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
      kind: 'IPAddress',
      metadata: {
        name: 'vip-cp-second',
        namespace: ns,
        ownerReferences: [
          { ...claimRef('second'), name: 'vip-cp-second', uid: claim.metadata.uid ?? '', controller: true },
        ],
      },
      spec: {
        address: taken,
        prefix: 32,
        claimRef: { name: 'vip-cp-second' },
        poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' },
      },
    } as Obj);
    await kc.makeApiClient(CustomObjectsApi).replaceNamespacedCustomObjectStatus({
      group: 'ipam.cluster.x-k8s.io',
      version: 'v1beta2',
      namespace: ns,
      plural: 'ipaddressclaims',
      name: 'vip-cp-second',
      body: { ...claim, status: { addressRef: { name: 'vip-cp-second' } } },
    });

    const warning = await eventually('a VIPDuplicateAddress Warning on the second Cluster', async () =>
      (await events(ns)).find((e) => e.reason === 'VIPDuplicateAddress' && e.regarding?.name === 'second'),
    );
    // One pool handed it out twice: the claim is given back, not kept as for overlapping pools.
    expect(warning.note).toContain(
      `to ${taken}, which IPAddress ${ns}/vip-cp-first of InClusterIPPool pool also holds: released the claim`,
    );
    await outage;
    await expectAllocated(ns, ['first', 'second'], firsts, 90_000);
    expect((await readCluster(ns, 'first'))?.metadata.annotations?.[VIP_ANNOTATION]).toBe(taken);
  } finally {
    firsts.stop();
    await deleteNamespace(ns);
  }
});

test('a pool emptied and refilled: the blocked Cluster resumes on its own', async () => {
  const { ns, firsts } = await scenario('chaos-refill', ['10.144.0.1']);
  try {
    await createCluster(ns, 'first', 'chaos');
    await waitForTopology(ns, 'first');
    await createCluster(ns, 'second', 'chaos');
    await untilTopologySays(ns, 'second', 'has no free address');
    await objects.patch(
      {
        apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
        kind: 'InClusterIPPool',
        metadata: { name: 'pool', namespace: ns },
        spec: { addresses: ['10.144.0.1-10.144.0.3'] },
      },
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    await expectAllocated(ns, ['first', 'second'], firsts, 90_000);
    expect(
      await readOrUndefined({
        apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
        kind: 'IPAddressClaim',
        metadata: { name: 'vip-cp-second', namespace: ns },
      }),
    ).toBeDefined();
  } finally {
    firsts.stop();
    await deleteNamespace(ns);
  }
});
