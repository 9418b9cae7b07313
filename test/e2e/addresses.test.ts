/**
 * End to end: more addresses per Cluster through the real CAPI manager and in-cluster IPAM — the
 * ingress VIP beside the control-plane VIP, the dual-stack pair, and a claim that moves from a
 * full pool to one with room.
 */
import { loadAllYaml } from '@kubernetes/client-node';
import {
  clusterClass,
  CONTROL_PLANE,
  inClusterIPPool,
  vipLabels,
  type Obj,
} from '../../hack/fixtures/fixtures.js';
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
  deleteCluster,
  FirstVersions,
  readClaim,
  readCluster,
  untilTopologySays,
  VIP_ANNOTATION,
  waitForTopology,
} from '../../hack/fixtures/vip.js';

const { objects } = kube();
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const INGRESS = 'vip.capi.gorizond.io/ingress-vip';
const SECONDARY = 'vip.capi.gorizond.io/control-plane-vip-secondary';
const ingressLabels = (cls: string) => ({ ...vipLabels(cls), 'vip.capi.gorizond.io/role': 'ingress' });

let ns: string;
let firsts: FirstVersions;
let kcps: FirstVersions;

const claim = (name: string) => readClaim(ns, name);
const eventsFor = async (cluster: string) =>
  (await events(ns)).filter((e) => e.regarding?.kind === 'Cluster' && e.regarding.name === cluster);
const removeCluster = (name: string) => deleteCluster(ns, name);

beforeAll(async () => {
  ns = await createNamespace('e2e-addresses');
  firsts = await FirstVersions.start('capd', ns);
  kcps = await FirstVersions.start('capd', ns, CONTROL_PLANE.capd);
  const ingressVariable = {
    name: 'ingressVip',
    required: false,
    schema: { openAPIV3Schema: { type: 'string', default: '' } },
  };
  const objs: Obj[] = [
    ...clusterClass('capd', ns, 'ing', { variables: [ingressVariable] }),
    inClusterIPPool(ns, 'ing-cp', ['10.40.0.10-10.40.0.14'], { labels: vipLabels('ing') }),
    inClusterIPPool(ns, 'ing-ingress', ['10.41.0.10-10.41.0.14'], { labels: ingressLabels('ing') }),
    ...clusterClass('capd', ns, 'noing'),
    inClusterIPPool(ns, 'noing-cp', ['10.42.0.10-10.42.0.12'], { labels: vipLabels('noing') }),
    ...clusterClass('capd', ns, 'tight'),
    inClusterIPPool(ns, 'tight-cp', ['10.43.0.10-10.43.0.12'], { labels: vipLabels('tight') }),
    inClusterIPPool(ns, 'tight-ingress', ['10.44.0.10'], { labels: ingressLabels('tight') }),
    // Without the README's certSAN recipe, which replaces the whole clusterConfiguration after us.
    ...clusterClass('capd', ns, 'dual', { discover: true, certSan: false }),
    inClusterIPPool(ns, 'dual-v4', ['10.45.0.10-10.45.0.12'], { labels: vipLabels('dual') }),
    ...clusterClass('capd', ns, 'half', { discover: true }),
    inClusterIPPool(ns, 'half-v4', ['10.46.0.10-10.46.0.12'], { labels: vipLabels('half') }),
    ...clusterClass('capd', ns, 'two'),
    inClusterIPPool(ns, 'two-a', ['10.47.0.10'], { labels: vipLabels('two') }),
    inClusterIPPool(ns, 'two-b', ['10.48.0.10'], { labels: vipLabels('two') }),
  ];
  const v6 = inClusterIPPool(ns, 'dual-v6', ['fd00:45::10-fd00:45::12'], { labels: vipLabels('dual') });
  objs.push({ ...v6, spec: { ...v6.spec, prefix: 64 } });
  for (const o of objs) await objects.create(o);
});
afterAll(async () => {
  firsts.stop();
  kcps.stop();
  await deleteNamespace(ns);
});

describe('the ingress VIP', () => {
  test('comes with the control-plane VIP from the ingress pool: annotation, label, variable, owned claim', async () => {
    await createCluster(ns, 'both', 'ing');
    const cluster = await waitForTopology(ns, 'both');
    const vip = cluster.metadata.annotations?.[VIP_ANNOTATION];
    const ingress = cluster.metadata.annotations?.[INGRESS];
    expect(vip).toMatch(/^10\.40\.0\./);
    expect(ingress).toMatch(/^10\.41\.0\./);
    expect(cluster.metadata.labels?.[INGRESS]).toBe(ingress);
    expect((cluster.spec?.topology as Json).variables).toContainEqual({ name: 'ingressVip', value: ingress });
    const infra = cluster.spec?.infrastructureRef?.name ?? '';
    await eventually('the first DockerCluster', async () => firsts.first.get(infra));
    expect(firsts.endpointOf(infra)).toEqual({ host: vip, port: 6443 });
    const ingressClaim = await claim('vip-ingress-both');
    expect(ingressClaim?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Cluster', name: 'both', uid: cluster.metadata.uid }),
    ]);
    expect(ingressClaim?.metadata.labels?.['vip.capi.gorizond.io/role']).toBe('ingress');
  });

  test('no ingress pool: the Cluster is created with its control-plane VIP, and a Normal Event says so', async () => {
    await createCluster(ns, 'solo', 'noing');
    const cluster = await waitForTopology(ns, 'solo');
    expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toMatch(/^10\.42\.0\./);
    expect(cluster.metadata.annotations?.[INGRESS]).toBeUndefined();
    expect(await claim('vip-ingress-solo')).toBeUndefined();
    const notes = (await eventsFor('solo')).filter((e) => e.reason === 'IngressVIPPoolNotFound');
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ type: 'Normal' });
  });

  test('an exhausted ingress pool is a Warning, and the Cluster is created anyway', async () => {
    await createCluster(ns, 'first', 'tight');
    expect((await waitForTopology(ns, 'first')).metadata.annotations?.[INGRESS]).toBe('10.44.0.10');
    await eventually('the ingress pool to report no free address', async () => {
      const pool = await readOrUndefined<Obj & { status?: Json }>({
        apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
        kind: 'InClusterIPPool',
        metadata: { name: 'tight-ingress', namespace: ns },
      });
      return pool?.status?.ipAddresses?.free === 0 ? true : undefined;
    });
    await createCluster(ns, 'second', 'tight');
    const cluster = await waitForTopology(ns, 'second');
    expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toMatch(/^10\.43\.0\./);
    expect(cluster.metadata.annotations?.[INGRESS]).toBeUndefined();
    const warning = await eventually('the IngressVIPPoolExhausted Warning', async () =>
      (await eventsFor('second')).find((e) => e.reason === 'IngressVIPPoolExhausted'),
    );
    expect(warning).toMatchObject({ type: 'Warning', note: expect.stringContaining('tight-ingress') });
  });

  test('the opt-out annotation: no ingress claim', async () => {
    await objects.create({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: {
        name: 'optout',
        namespace: ns,
        annotations: { 'vip.capi.gorizond.io/ingress-enabled': 'false' },
      },
      spec: { topology: { classRef: { name: 'ing' }, version: 'v1.34.0', controlPlane: { replicas: 1 } } },
    });
    const cluster = await waitForTopology(ns, 'optout');
    expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toMatch(/^10\.40\.0\./);
    expect(cluster.metadata.annotations?.[INGRESS]).toBeUndefined();
    expect(await claim('vip-ingress-optout')).toBeUndefined();
  });

  test('deleting the Cluster gives both addresses back, after the quarantine', async () => {
    await removeCluster('both');
    // Deletion, the quarantine's 15 s and the provider's finalizer: over a minute on a loaded machine.
    await eventually(
      'both claims to be gone',
      async () => (!(await claim('vip-cp-both')) && !(await claim('vip-ingress-both')) ? true : undefined),
      120_000,
    );
  });

  test('a Cluster made by the original implementation keeps its addresses and gets no new claim', async () => {
    // Its claims, bound, and its annotations: as the Go implementation left them.
    for (const [name, pool] of [
      ['vip-cp-legacy', 'ing-cp'],
      ['vip-ingress-legacy', 'ing-ingress'],
    ] as const) {
      await objects.create({
        apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
        kind: 'IPAddressClaim',
        metadata: { name, namespace: ns },
        spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: pool } },
      });
    }
    const address = async (name: string) =>
      eventually(
        `IPAddress ${name}`,
        async () =>
          (
            await readOrUndefined<Obj & { spec?: Json }>({
              apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
              kind: 'IPAddress',
              metadata: { name, namespace: ns },
            })
          )?.spec?.address as string | undefined,
      );
    const [cp, ing] = [await address('vip-cp-legacy'), await address('vip-ingress-legacy')];
    await objects.create({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'legacy', namespace: ns, annotations: { [VIP_ANNOTATION]: cp, [INGRESS]: ing } },
      spec: {
        controlPlaneEndpoint: { host: cp, port: 6443 },
        topology: { classRef: { name: 'ing' }, version: 'v1.34.0', controlPlane: { replicas: 1 } },
      },
    });
    const cluster = await waitForTopology(ns, 'legacy');
    expect(cluster.spec?.controlPlaneEndpoint).toEqual({ host: cp, port: 6443 });
    expect(cluster.metadata.annotations?.[INGRESS]).toBe(ing);
    const claims = await objects.list('ipam.cluster.x-k8s.io/v1beta2', 'IPAddressClaim', ns);
    expect(claims.items.map((c) => c.metadata?.name).filter((n) => n?.endsWith('legacy'))).toEqual([
      'vip-cp-legacy',
      'vip-ingress-legacy',
    ]);
  });
});

describe('the dual-stack pair', () => {
  test('one claim per family: the endpoint, the second address annotated, both in kube-vip and the SANs', async () => {
    await createCluster(ns, 'pair', 'dual', undefined, {
      variables: [{ name: 'vipAllocator', value: { announce: true, ipFamilies: ['IPv4', 'IPv6'] } }],
    });
    const cluster = await waitForTopology(ns, 'pair');
    const [v4, v6] = [
      cluster.metadata.annotations?.[VIP_ANNOTATION],
      cluster.metadata.annotations?.[SECONDARY],
    ];
    expect(v4).toMatch(/^10\.45\.0\./);
    expect(v6).toMatch(/^fd00:45::/);
    expect(cluster.spec?.controlPlaneEndpoint).toEqual({ host: v4, port: 6443 });
    expect((await claim('vip-cp-pair'))?.spec?.poolRef.name).toBe('dual-v4');
    expect((await claim('vip-cp-pair-ipv6'))?.spec?.poolRef.name).toBe('dual-v6');
    const name = ((cluster.spec as Json).controlPlaneRef as Json).name as string;
    const kcp = (await eventually('the first KubeadmControlPlane', async () => kcps.first.get(name))) as Json;
    const spec = kcp.spec.kubeadmConfigSpec;
    expect(spec.clusterConfiguration.apiServer.certSANs).toContain(v6);
    const file = spec.files.find((f: Json) => f.path === '/etc/kubernetes/manifests/kube-vip.yaml');
    const pod = (loadAllYaml(file.content) as Json[])[0];
    const env = Object.fromEntries((pod?.spec.containers[0].env as Json[]).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ address: `${v4},${v6}`, vip_subnet: '32,128' });
  });

  test('with a pool of one family only, the Cluster waits naming the missing one, and nothing is claimed', async () => {
    await createCluster(ns, 'halfpair', 'half', undefined, {
      variables: [{ name: 'vipAllocator', value: { ipFamilies: ['IPv4', 'IPv6'] } }],
    });
    await eventually('TopologyReconciled to name the missing family', async () => {
      const message = condition(await readCluster(ns, 'halfpair'), 'TopologyReconciled')?.message;
      return message?.includes('no pool serves IPv6') ? message : undefined;
    });
    expect(await claim('vip-cp-halfpair')).toBeUndefined();
    expect(await claim('vip-cp-halfpair-ipv6')).toBeUndefined();
  });
});

test('two full pools: when the other pool frees an address, the waiting claim moves there', async () => {
  await createCluster(ns, 'fill-a', 'two');
  await waitForTopology(ns, 'fill-a');
  await createCluster(ns, 'fill-b', 'two');
  const b = await waitForTopology(ns, 'fill-b');
  const freed = b.metadata.annotations?.[VIP_ANNOTATION];
  await createCluster(ns, 'waiter', 'two');
  await untilTopologySays(ns, 'waiter', 'has no free address');
  await removeCluster('fill-b');
  const waiter = await waitForTopology(ns, 'waiter', 120_000);
  expect(waiter.metadata.annotations?.[VIP_ANNOTATION]).toBe(freed);
  expect((await claim('vip-cp-waiter'))?.spec?.poolRef.name).toBe(freed === '10.47.0.10' ? 'two-a' : 'two-b');
});
