/**
 * One address, one Cluster, on the real plane (its extension runs --claim-reserve), for the two
 * ways a new user broke it on the first try: two namespaces whose pools cover one range (a team
 * template copied), and a cluster-scoped pool whose reserve for one namespace holds every free
 * address while a Cluster of another namespace waits.
 */
import { clusterClass, inClusterIPPool, vipLabels, type Obj } from '../../hack/fixtures/fixtures.js';
import { createNamespace, deleteNamespace, eventually, events, kube } from '../../hack/fixtures/kube.js';
import { createCluster, VIP_ANNOTATION, waitForTopology } from '../../hack/fixtures/vip.js';
import type { IPAddressClaim } from '../../shared/kube/types.js';

const { objects } = kube();
const namespaces: string[] = [];
const made: Obj[] = [];

const claimsIn = async (ns: string): Promise<IPAddressClaim[]> =>
  (
    await objects.list<IPAddressClaim & { metadata: { name: string } }>(
      'ipam.cluster.x-k8s.io/v1beta2',
      'IPAddressClaim',
      ns,
    )
  ).items;

async function namespaceWith(prefix: string, className: string, ...extra: Obj[]): Promise<string> {
  const ns = await createNamespace(prefix);
  namespaces.push(ns);
  for (const o of [
    ...clusterClass('capd', ns, className),
    ...extra.map((e) => ({ ...e, metadata: { ...e.metadata, namespace: ns } })),
  ])
    await objects.create(o);
  return ns;
}

afterAll(async () => {
  for (const ns of namespaces) await deleteNamespace(ns);
  for (const o of made) await objects.delete(o).catch(() => undefined);
});

test('two namespaces whose pools cover one range: Clusters created at once never share a VIP', async () => {
  const range = ['10.171.0.10-10.171.0.20'];
  const pool = (): Obj => inClusterIPPool('', 'team-template', range, { labels: vipLabels('t') });
  const [a, b] = [
    await namespaceWith('overlap-a', 't', pool()),
    await namespaceWith('overlap-b', 't', pool()),
  ];
  // Each pool hands out its first free address first: both Clusters are given 10.171.0.10.
  await Promise.all([createCluster(a as string, 'c', 't'), createCluster(b as string, 'c', 't')]);
  const [ca, cb] = await Promise.all([waitForTopology(a as string, 'c'), waitForTopology(b as string, 'c')]);
  const vips = [ca.metadata.annotations?.[VIP_ANNOTATION], cb.metadata.annotations?.[VIP_ANNOTATION]];
  expect(vips.every((v) => v?.startsWith('10.171.0.'))).toBe(true);
  expect(vips[0]).not.toBe(vips[1]);
  expect(ca.spec?.controlPlaneEndpoint?.host).toBe(vips[0]);
  expect(cb.spec?.controlPlaneEndpoint?.host).toBe(vips[1]);
  // The Cluster that yielded says so, naming the other pool, and its first claim keeps the
  // address out of its own pool.
  const said = [...(await events(a as string)), ...(await events(b as string))].filter(
    (e) => e.reason === 'VIPDuplicateAddress',
  );
  expect(said.length).toBeGreaterThan(0);
  expect(said[0]?.note).toContain('the pools overlap');
  const kept = [...(await claimsIn(a as string)), ...(await claimsIn(b as string))].filter(
    (c) => c.metadata.labels?.['vip.capi.gorizond.io/address-in-use'] === 'duplicate',
  );
  expect(kept.length).toBeGreaterThan(0);
});

test('a global pool whose reserve for one namespace holds every free address gives way to a Cluster of another', async () => {
  const g = 'g';
  const reserved = await namespaceWith('reserve-a', g);
  const pool: Obj = {
    apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
    kind: 'GlobalInClusterIPPool',
    metadata: {
      name: `starve-${reserved}`,
      labels: vipLabels(g),
      annotations: {
        'vip.capi.gorizond.io/reserve': '3',
        'vip.capi.gorizond.io/reserve-namespaces': reserved,
      },
    },
    spec: { addresses: ['10.172.0.10-10.172.0.12'], prefix: 24 },
  };
  await objects.create(pool);
  made.push(pool);
  // The reserve holds all three addresses.
  await eventually('a reserve of 3 bound claims', async () => {
    const free = (await claimsIn(reserved)).filter(
      (c) => c.metadata.labels?.['vip.capi.gorizond.io/reserve'] === 'free' && c.status?.addressRef?.name,
    );
    return free.length === 3 ? free : undefined;
  });
  const other = await namespaceWith('reserve-b', g);
  await createCluster(other, 'c', g);
  const cluster = await waitForTopology(other, 'c', 120_000);
  expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toMatch(/^10\.172\.0\.1[0-2]$/);
  // The reserve gave way, and does not take the address back while the Cluster holds it.
  const gave = (await events('default')).filter((e) => e.reason === 'VIPReserveGaveWay');
  expect(gave.some((e) => e.note?.includes(`IPAddressClaim ${other}/vip-cp-c`))).toBe(true);
});
