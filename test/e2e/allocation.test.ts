/**
 * End to end: the real CAPI manager calls our extension through its ExtensionConfig
 * (`npm run control-plane -- up --extension`), the real IPAM provider binds claims, and
 * kube-controller-manager collects them when their Cluster goes.
 */
import {
  clusterClass,
  inClusterIPPool,
  vipLabels,
  type Obj,
  type Stack,
} from '../../hack/fixtures/fixtures.js';
import {
  createNamespace,
  deleteNamespace,
  events,
  eventually,
  kube,
  readOrUndefined,
} from '../../hack/fixtures/kube.js';
import { sample, scrape } from '../../hack/fixtures/metrics.js';
import {
  condition,
  createCluster,
  FirstVersions,
  readClaim,
  readCluster,
  VIP_ANNOTATION,
  waitForTopology,
} from '../../hack/fixtures/vip.js';

const { objects } = kube();

async function apply(objs: Obj[]): Promise<void> {
  for (const o of objs) await objects.create(o);
}

const claimOf = (namespace: string, cluster: string) => readClaim(namespace, `vip-cp-${cluster}`);

/** events.k8s.io/v1 Events about a Cluster, as `kubectl events` would show them. */
async function eventsFor(namespace: string, cluster: string) {
  return (await events(namespace)).filter(
    (e) => e.regarding?.kind === 'Cluster' && e.regarding.name === cluster,
  );
}

async function poolFree(namespace: string, name: string): Promise<number | undefined> {
  const pool = await readOrUndefined<Obj & { status?: { ipAddresses?: { free?: number } } }>({
    apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
    kind: 'InClusterIPPool',
    metadata: { name, namespace },
  });
  return pool?.status?.ipAddresses?.free;
}

describe.each<Stack>(['capd', 'proxmox'])('on the %s stack', (stack) => {
  let ns: string;
  let firsts: FirstVersions;
  beforeAll(async () => {
    ns = await createNamespace(`e2e-${stack}`);
    firsts = await FirstVersions.start(stack, ns);
    await apply([
      ...clusterClass(stack, ns, 'onprem'),
      inClusterIPPool(ns, 'vips', ['10.20.0.10-10.20.0.12'], { labels: vipLabels('onprem') }),
    ]);
  });
  afterAll(async () => {
    firsts.stop();
    await deleteNamespace(ns);
  });

  test('a Cluster gets a VIP before its InfrastructureCluster exists, which is born with it', async () => {
    await createCluster(ns, 'alpha', 'onprem');
    const cluster = await waitForTopology(ns, 'alpha');
    const vip = cluster.metadata.annotations?.[VIP_ANNOTATION];
    expect(vip).toMatch(/^10\.20\.0\.1[0-2]$/);
    expect(cluster.spec?.controlPlaneEndpoint).toEqual({ host: vip, port: 6443 });

    const infraName = cluster.spec?.infrastructureRef?.name ?? '';
    await eventually('the first version of the InfrastructureCluster', async () =>
      firsts.first.get(infraName),
    );
    expect(firsts.endpointOf(infraName)).toEqual({ host: vip, port: 6443 });

    if (stack === 'capd') {
      // An inline patch reads the VIP from the Cluster annotation (README, ClusterClass integration).
      const kcps = await objects.list('controlplane.cluster.x-k8s.io/v1beta2', 'KubeadmControlPlane', ns);
      const kcp = kcps.items.find(
        (k) => k.metadata?.labels?.['cluster.x-k8s.io/cluster-name'] === 'alpha',
      ) as Obj | undefined;
      expect(kcp?.spec).toMatchObject({
        kubeadmConfigSpec: { clusterConfiguration: { apiServer: { certSANs: [vip] } } },
      });
    }

    const claim = await claimOf(ns, 'alpha');
    expect(claim?.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'Cluster',
        name: 'alpha',
        uid: cluster.metadata.uid,
        blockOwnerDeletion: true,
      }),
    ]);
    expect(await eventsFor(ns, 'alpha')).toContainEqual(
      expect.objectContaining({ type: 'Normal', reason: 'VIPAllocated' }),
    );
    expect(claim?.metadata.labels).toMatchObject({
      'cluster.x-k8s.io/cluster-name': 'alpha',
      'vip.capi.gorizond.io/role': 'control-plane',
    });
  });

  test("the extension's /metrics moved", async () => {
    const text = await scrape(19462);
    expect(
      sample(text, 'capi_vip_allocator_hook_duration_seconds_count', {
        hook: 'BeforeClusterCreate',
        outcome: 'Success',
      }),
    ).toBeGreaterThan(0);
    expect(
      sample(text, 'capi_vip_allocator_hook_duration_seconds_count', { hook: 'GeneratePatches' }),
    ).toBeGreaterThan(0);
    expect(
      sample(text, 'capi_vip_allocator_allocations_total', { role: 'control-plane', result: 'allocated' }),
    ).toBeGreaterThan(0);
    expect(sample(text, 'capi_vip_allocator_time_to_vip_seconds_count')).toBeGreaterThan(0);
    expect(
      sample(text, 'capi_vip_allocator_pool_addresses', {
        namespace: ns,
        pool: 'vips',
        role: 'control-plane',
        family: 'IPv4',
        state: 'total',
      }),
    ).toBe(3);
    expect(sample(text, 'capi_vip_allocator_claims', { state: 'bound' })).toBeGreaterThan(0);
  });

  test('deleting the Cluster holds its address in quarantine, then gives it back to the pool', async () => {
    const claim = await claimOf(ns, 'alpha');
    const addressName = claim?.status?.addressRef?.name ?? '';
    await objects.delete({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'alpha', namespace: ns },
    });
    // The plane runs --reuse-grace=15s: the claim outlives its Cluster, with no owner, until then.
    const held = await eventually('the Cluster to be gone and its claim held', async () => {
      const c = await claimOf(ns, 'alpha');
      const until = c?.metadata.annotations?.['vip.capi.gorizond.io/quarantined-until'];
      return !(await readCluster(ns, 'alpha')) && until ? { c, until } : undefined;
    });
    expect(held.c?.metadata.ownerReferences ?? []).toEqual([]);
    await eventually('the claim and its IPAddress to be gone', async () => {
      const [c, a] = await Promise.all([
        claimOf(ns, 'alpha'),
        readOrUndefined({
          apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
          kind: 'IPAddress',
          metadata: { name: addressName, namespace: ns },
        }),
      ]);
      return c || a ? undefined : true;
    });
    expect(Date.now()).toBeGreaterThanOrEqual(new Date(held.until).getTime());
    await eventually('the pool to report all 3 addresses free', async () =>
      (await poolFree(ns, 'vips')) === 3 ? true : undefined,
    );
  });

  test('a host set by hand is kept, reaches the InfrastructureCluster, and no address is claimed', async () => {
    await createCluster(ns, 'manual', 'onprem', { host: '192.0.2.10', port: 7443 });
    const cluster = await waitForTopology(ns, 'manual');
    expect(cluster.spec?.controlPlaneEndpoint).toEqual({ host: '192.0.2.10', port: 7443 });
    // Published where GeneratePatches reads it, so the InfrastructureCluster is born with it.
    expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toBe('192.0.2.10');
    const infraName = cluster.spec?.infrastructureRef?.name ?? '';
    await eventually('the first version of the InfrastructureCluster', async () =>
      firsts.first.get(infraName),
    );
    expect(firsts.endpointOf(infraName)).toEqual({ host: '192.0.2.10', port: 7443 });
    expect(await claimOf(ns, 'manual')).toBeUndefined();
  });

  test('a host set by hand inside a pool is kept, with a Warning that it may collide', async () => {
    await createCluster(ns, 'squatter', 'onprem', { host: '10.20.0.12', port: 6443 });
    const cluster = await waitForTopology(ns, 'squatter');
    expect(cluster.spec?.controlPlaneEndpoint?.host).toBe('10.20.0.12');
    expect(await claimOf(ns, 'squatter')).toBeUndefined();
    const warning = await eventually('the ManualVIPInPool Event', async () =>
      (await eventsFor(ns, 'squatter')).find((e) => e.reason === 'ManualVIPInPool'),
    );
    expect(warning).toMatchObject({ type: 'Warning', note: expect.stringContaining('InClusterIPPool vips') });
  });
});

describe('when no pool matches', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await createNamespace('e2e-nopool');
    await apply([
      ...clusterClass('capd', ns, 'lonely'),
      ...clusterClass('capd', ns, 'foreign', { vipPatch: false }),
    ]);
  });
  afterAll(() => deleteNamespace(ns));

  test('a Cluster of a class with our patch is blocked, and the condition names the labels', async () => {
    await createCluster(ns, 'blocked', 'lonely');
    const cluster = await eventually('TopologyReconciled to name the missing pool', async () => {
      const c = await readCluster(ns, 'blocked');
      return condition(c, 'TopologyReconciled')?.message?.includes('No IP pool') ? c : undefined;
    });
    const reconciled = condition(cluster, 'TopologyReconciled');
    expect(reconciled).toMatchObject({ status: 'False', reason: 'ClusterCreating' });
    expect(reconciled?.message).toContain('BeforeClusterCreate');
    expect(reconciled?.message).toContain('vip.capi.gorizond.io/cluster-class=lonely');
    expect(reconciled?.message).toContain('vip.capi.gorizond.io/role=control-plane');
    expect(reconciled?.message).toContain(`InClusterIPPool in namespace ${ns}`);
    expect(cluster.spec?.infrastructureRef).toBeUndefined();
    expect(await eventsFor(ns, 'blocked')).toContainEqual(
      expect.objectContaining({
        type: 'Warning',
        reason: 'VIPPoolNotFound',
        reportingController: 'capi-vip-allocator',
      }),
    );
  });

  test('a Cluster of a class without our patch is not ours and proceeds', async () => {
    await createCluster(ns, 'other', 'foreign');
    const cluster = await waitForTopology(ns, 'other');
    expect(cluster.spec?.controlPlaneEndpoint?.host ?? '').toBe('');
    expect(await claimOf(ns, 'other')).toBeUndefined();
  });
});

describe('a pool of two addresses and three Clusters', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await createNamespace('e2e-exhaust');
    await apply([
      ...clusterClass('capd', ns, 'small'),
      inClusterIPPool(ns, 'two', ['10.40.0.1-10.40.0.2'], { labels: vipLabels('small') }),
    ]);
  });
  afterAll(() => deleteNamespace(ns));

  test('the third waits with the exhaustion message and finishes with the freed address', async () => {
    for (const name of ['one', 'two', 'three']) await createCluster(ns, name, 'small');
    const blocked = await eventually(
      'one Cluster to be blocked on the exhausted pool',
      async () => {
        const clusters = await Promise.all(['one', 'two', 'three'].map((n) => readCluster(ns, n)));
        const ready = clusters.filter((c) => c?.spec?.infrastructureRef?.name);
        const waiting = clusters.filter((c) =>
          condition(c, 'TopologyReconciled')?.message?.includes('has no free address'),
        );
        return ready.length === 2 && waiting.length === 1 ? waiting[0] : undefined;
      },
      90_000,
    );
    expect(condition(blocked, 'TopologyReconciled')?.message).toContain(
      'pool two has no free address (0 of 2)',
    );

    const winner = ['one', 'two', 'three'].find((n) => n !== blocked?.metadata.name) ?? '';
    const freed = (await readCluster(ns, winner))?.metadata.annotations?.[VIP_ANNOTATION];
    await objects.delete({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: winner, namespace: ns },
    });
    const finished = await waitForTopology(ns, blocked?.metadata.name ?? '', 90_000);
    expect(finished.metadata.annotations?.[VIP_ANNOTATION]).toBe(freed);
  });
});

describe('twenty Clusters applied at once', () => {
  let ns: string;
  let firsts: FirstVersions;
  beforeAll(async () => {
    ns = await createNamespace('e2e-burst');
    firsts = await FirstVersions.start('capd', ns);
    await apply([
      ...clusterClass('capd', ns, 'burst'),
      inClusterIPPool(ns, 'burst', ['10.50.0.0/27'], { labels: vipLabels('burst') }),
    ]);
  });
  afterAll(async () => {
    firsts.stop();
    await deleteNamespace(ns);
  });

  test('get twenty distinct VIPs and none is born without one', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
    await Promise.all(names.map((n) => createCluster(ns, n, 'burst')));
    const clusters = await Promise.all(names.map((n) => waitForTopology(ns, n, 180_000)));
    const vips = clusters.map((c) => c.metadata.annotations?.[VIP_ANNOTATION]);
    expect(new Set(vips).size).toBe(20);
    for (const c of clusters) {
      const infra = c.spec?.infrastructureRef?.name ?? '';
      await eventually(`the first version of ${infra}`, async () => firsts.first.get(infra));
      expect(firsts.endpointOf(infra)).toEqual({
        host: c.metadata.annotations?.[VIP_ANNOTATION],
        port: 6443,
      });
    }
  });
});

describe('pool selection', () => {
  let ns: string;
  const global = 'e2e-global-vips';
  beforeAll(async () => {
    ns = await createNamespace('e2e-select');
    await apply([
      ...clusterClass('capd', ns, 'picky'),
      ...clusterClass('capd', ns, 'listed'),
      inClusterIPPool(ns, 'local', ['10.60.0.1'], { labels: vipLabels('picky') }),
      {
        apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
        kind: 'GlobalInClusterIPPool',
        metadata: {
          name: global,
          labels: {
            'vip.capi.gorizond.io/cluster-class': 'true',
            'vip.capi.gorizond.io/role': 'control-plane',
          },
          annotations: { 'vip.capi.gorizond.io/cluster-class': 'picky, listed' },
        },
        spec: { addresses: ['10.70.0.1-10.70.0.5'], prefix: 24 },
      },
    ]);
  });
  afterAll(async () => {
    await objects
      .delete({
        apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
        kind: 'GlobalInClusterIPPool',
        metadata: { name: global },
      })
      .catch(() => undefined);
    await deleteNamespace(ns);
  });

  test('a namespaced pool wins over a global one', async () => {
    await createCluster(ns, 'local', 'picky');
    const cluster = await waitForTopology(ns, 'local');
    expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toBe('10.60.0.1');
  });

  test('a global pool selected by the annotation list serves a class not in any label', async () => {
    await createCluster(ns, 'from-list', 'listed');
    const cluster = await waitForTopology(ns, 'from-list');
    expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toMatch(/^10\.70\.0\.[1-5]$/);
  });
});
