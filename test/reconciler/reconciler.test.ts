/**
 * The opt-in reconciler (`--enable-reconciler`) as separate replicas of our process against the
 * real plane: owner backfill, reserved claims, orphans, leader election, an API server restart.
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { restart } from '../../hack/control-plane/plane.js';
import { startAllocator, type AllocatorProcess } from '../../hack/fixtures/allocator-process.js';
import { discover } from '../../hack/fixtures/hooks.js';
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
  createCluster,
  plainCluster as plainClusterIn,
  readCluster,
  VIP_ANNOTATION,
  waitForTopology,
} from '../../hack/fixtures/vip.js';

const { objects } = kube();
let ns: string;
const running: AllocatorProcess[] = [];

async function allocator(...args: string[]): Promise<AllocatorProcess> {
  const p = await startAllocator(['--enable-runtime-extension=false', '--enable-reconciler', ...args]);
  running.push(p);
  return p;
}

const plainCluster = (name: string): Promise<Obj> => plainClusterIn(ns, name);

/** An owner-less claim, as the original product's v0.3-v0.4 hook or a GitOps repository left them. */
function ownerlessClaim(name: string, clusterName?: string): Promise<unknown> {
  return objects.create({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name, namespace: ns, labels: { 'vip.capi.gorizond.io/role': 'control-plane' } },
    spec: {
      ...(clusterName ? { clusterName } : {}),
      poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' },
    },
  });
}

function newOwnedClaim(name: string, cluster: Obj): Obj {
  return {
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: {
      name,
      namespace: ns,
      labels: { 'vip.capi.gorizond.io/role': 'control-plane' },
      ownerReferences: [
        {
          apiVersion: 'cluster.x-k8s.io/v1beta2',
          kind: 'Cluster',
          name: cluster.metadata.name,
          uid: cluster.metadata.uid ?? '',
        },
      ],
    },
    spec: {
      clusterName: cluster.metadata.name,
      poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' },
    },
  };
}

const readClaim = (name: string) =>
  readOrUndefined<Obj>({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name, namespace: ns },
  });

function ownedBy(cluster: Obj) {
  return async (name: string) => {
    const claim = await readClaim(name);
    return claim?.metadata.ownerReferences?.some(
      (o) => o.uid === cluster.metadata.uid && o.blockOwnerDeletion,
    )
      ? claim
      : undefined;
  };
}

async function eventsWith(reason: string) {
  return (await events(ns)).filter((e) => e.reason === reason);
}

beforeAll(async () => {
  ns = await createNamespace('reconciler');
  await objects.create(
    inClusterIPPool(ns, 'pool', ['10.110.0.1-10.110.0.30'], { labels: vipLabels('reserved') }),
  );
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
});
afterAll(() => deleteNamespace(ns));

test('an owner-less claim of an existing Cluster gets it as owner, with an Event and a metric', async () => {
  const cluster = await plainCluster('legacy');
  await ownerlessClaim('vip-cp-legacy', 'legacy');
  const replica = await allocator();
  const claim = await eventually('the backfilled owner', () => ownedBy(cluster)('vip-cp-legacy'));
  expect(claim.metadata.ownerReferences).toHaveLength(1);
  expect(claim.spec).toMatchObject({ clusterName: 'legacy' });
  // The Event follows the owner's write.
  await eventually('VIPClaimAdopted', async () =>
    (await eventsWith('VIPClaimAdopted')).find((e) => e.regarding?.name === 'legacy'),
  );
  expect(await replica.metric('capi_vip_allocator_claims_adopted_total')).toBeGreaterThanOrEqual(1);
});

test('a claim reserved before its Cluster ends owned by it, and its address is the one the Cluster gets', async () => {
  for (const o of clusterClass('capd', ns, 'reserved')) await objects.create(o);
  await ownerlessClaim('vip-cp-booked');
  const reserved = await eventually('the reserved claim to be bound', async () => {
    const c = (await readClaim('vip-cp-booked')) as
      (Obj & { status?: { addressRef?: { name?: string } } }) | undefined;
    return c?.status?.addressRef?.name;
  });
  const address = (await objects.read({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddress',
    metadata: { name: reserved, namespace: ns },
  })) as Obj;

  await createCluster(ns, 'booked', 'reserved');
  const cluster = await waitForTopology(ns, 'booked');
  expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toBe(address.spec?.address);
  expect(await ownedBy(cluster)('vip-cp-booked')).toBeDefined();
});

test('an ingress claim that binds after the topology exists gets its address written by the reconciler', async () => {
  for (const o of clusterClass('capd', ns, 'late')) await objects.create(o);
  const ingressLabels = { ...vipLabels('late'), 'vip.capi.gorizond.io/role': 'ingress' };
  await objects.create(
    inClusterIPPool(ns, 'late-cp', ['10.111.0.1-10.111.0.3'], { labels: vipLabels('late') }),
  );
  await objects.create(inClusterIPPool(ns, 'late-ingress', ['10.112.0.1'], { labels: ingressLabels }));
  // The only ingress address is taken, so the Cluster is created without one.
  await objects.create({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name: 'squatter', namespace: ns },
    spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'late-ingress' } },
  });
  await eventually(
    'the squatter to hold the address',
    async () =>
      ((await readClaim('squatter')) as (Obj & { status?: { addressRef?: { name?: string } } }) | undefined)
        ?.status?.addressRef?.name,
  );
  await allocator();
  await createCluster(ns, 'tardy', 'late');
  const created = await waitForTopology(ns, 'tardy');
  expect(created.metadata.annotations?.['vip.capi.gorizond.io/ingress-vip']).toBeUndefined();

  await objects.delete({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name: 'squatter', namespace: ns },
  });
  const cluster = await eventually('the reconciler to write the ingress VIP', async () => {
    const c = await readCluster(ns, 'tardy');
    return c?.metadata.annotations?.['vip.capi.gorizond.io/ingress-vip'] ? c : undefined;
  });
  expect(cluster.metadata.annotations?.['vip.capi.gorizond.io/ingress-vip']).toBe('10.112.0.1');
  expect(cluster.metadata.labels?.['vip.capi.gorizond.io/ingress-vip']).toBe('10.112.0.1');
  await eventually('IngressVIPAllocated', async () =>
    (await eventsWith('IngressVIPAllocated')).find((e) => e.regarding?.name === 'tardy'),
  );
});

test('an orphan is reported after the grace period and deleted only with --delete-orphan-claims', async () => {
  const kept = await plainCluster('kept');
  await objects.create(newOwnedClaim('vip-cp-kept', kept));
  await ownerlessClaim('vip-cp-ghost', 'ghost');
  const reporter = await allocator('--orphan-claim-grace=2s');
  await eventually('the VIPClaimOrphaned Event', async () =>
    (await eventsWith('VIPClaimOrphaned')).find((e) => e.regarding?.name === 'vip-cp-ghost'),
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${reporter.log()}`);
  });
  expect(await reporter.metric('capi_vip_allocator_orphan_claims')).toBe(1);
  expect(await readClaim('vip-cp-ghost')).toBeDefined();
  await reporter.kill();

  await allocator('--orphan-claim-grace=2s', '--delete-orphan-claims');
  await eventually('the orphan to be deleted', async () =>
    (await readClaim('vip-cp-ghost')) ? undefined : true,
  );
  // A claim whose Cluster exists is never deleted.
  expect(await readClaim('vip-cp-kept')).toBeDefined();
});

test('with --leader-elect exactly one of two replicas reconciles, the other takes over, both serve hooks', async () => {
  const election = [
    '--leader-elect',
    // Long enough that a loaded machine's leader still renews in time (no flip mid-test).
    '--leader-elect-lease-duration=10s',
    `--leader-election-namespace=${ns}`,
  ];
  const a = await startAllocator(['--enable-reconciler', ...election]);
  const b = await startAllocator(['--enable-reconciler', ...election]);
  running.push(a, b);
  const leaders = async () => Promise.all([a, b].map((p) => p.metric('capi_vip_allocator_leader')));
  const [la, lb] = await eventually('one leader', async () => {
    const l = await leaders();
    return (l[0] ?? 0) + (l[1] ?? 0) === 1 ? l : undefined;
  });
  const [leader, follower] = la === 1 ? [a, b] : [b, a];
  expect(lb).toBe(la === 1 ? 0 : 1);

  const before = await plainCluster('led');
  await ownerlessClaim('vip-cp-led', 'led');
  await eventually('the leader to adopt', () => ownedBy(before)('vip-cp-led'));
  expect(await follower.metric('capi_vip_allocator_claims_adopted_total')).toBe(0);

  // Every replica serves hooks, leader or not.
  for (const replica of [a, b]) {
    expect((await discover(replica.hookPort)).body).toMatchObject({
      kind: 'DiscoveryResponse',
      status: 'Success',
    });
  }

  await leader.kill('SIGKILL');
  await eventually(
    'the follower to lead once the 10s Lease expires',
    async () => ((await follower.metric('capi_vip_allocator_leader')) === 1 ? true : undefined),
    30_000,
  );

  const after = await plainCluster('led-again');
  await ownerlessClaim('vip-cp-led-again', 'led-again');
  await eventually('the new leader to adopt', () => ownedBy(after)('vip-cp-led-again'));

  expect((await discover(follower.hookPort)).body).toMatchObject({
    kind: 'DiscoveryResponse',
    status: 'Success',
  });
});

test('SIGTERM releases the Lease at once and exits 0', async () => {
  const replica = await startAllocator([
    '--enable-reconciler',
    '--leader-elect',
    '--leader-elect-lease-duration=60s',
    `--leader-election-namespace=${ns}`,
  ]);
  running.push(replica);
  await eventually('the replica to lead', async () =>
    (await replica.metric('capi_vip_allocator_leader')) === 1 ? true : undefined,
  );
  expect(await replica.kill('SIGTERM')).toBe(0);
  const lease = (
    await kube()
      .kc.makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'capi-vip-allocator', namespace: ns })
  ).spec;
  // Released, not left to expire: another replica would take over without waiting the 60s.
  expect(lease?.holderIdentity ?? '').toBe('');
  expect(replica.log()).toContain('Shutting down');
});

test('the informers keep working across a kube-apiserver restart', async () => {
  const replica = await allocator();
  await restart('kube-apiserver', () => undefined, { downtimeMs: 2_000 });
  await eventually(
    'the replica to report its watches again',
    async () => {
      const { body } = await replica.ready();
      return (body.informers as { state: string }[]).every((i) => i.state === 'synced') ? true : undefined;
    },
    60_000,
  );
  const cluster = await plainCluster('survivor');
  await ownerlessClaim('vip-cp-survivor', 'survivor');
  await eventually('the owner after the restart', () => ownedBy(cluster)('vip-cp-survivor'), 60_000);
  expect((await readCluster(ns, 'survivor'))?.metadata.uid).toBe(cluster.metadata.uid);
});
