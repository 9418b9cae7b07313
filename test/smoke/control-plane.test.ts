/**
 * Proves the local control plane is real: CAPI's topology controller, its validation webhook,
 * the in-cluster IPAM provider and kube-controller-manager's garbage collector all act; and that
 * `up` keeps it, restarting only what is down.
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import { existsSync, readFileSync } from 'node:fs';
import { clusterClass, inClusterIPPool, topologyCluster, type Obj } from '../../hack/fixtures/fixtures.js';
import { controlPlane } from '../../hack/fixtures/control-plane.js';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  kube,
  readOrUndefined,
} from '../../hack/fixtures/kube.js';

let ns: string;
const { objects, core } = kube();

beforeAll(async () => {
  ns = await createNamespace('smoke');
});
afterAll(async () => {
  await deleteNamespace(ns);
});

test('CAPI creates the InfrastructureCluster of a topology Cluster from its ClusterClass template', async () => {
  for (const obj of clusterClass('capd', ns, 'capd', { vipPatch: false })) await objects.create(obj);
  // The Cluster webhook refuses Clusters until CAPI has reconciled their ClusterClass once.
  await eventually('the Cluster to be admitted', () => objects.create(topologyCluster(ns, 'smoke', 'capd')));

  const cluster = await eventually('spec.infrastructureRef on the Cluster', async () => {
    const c = (await objects.read({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'smoke', namespace: ns },
    })) as Obj;
    return (c.spec?.infrastructureRef as { name?: string } | undefined)?.name ? c : undefined;
  });
  const infraRef = cluster.spec?.infrastructureRef as { apiGroup: string; kind: string; name: string };
  expect(infraRef).toMatchObject({ apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerCluster' });

  // CAPI creates it owned by a "<cluster>-shim" Secret; the Cluster controller then adopts it.
  const dockerCluster = await eventually('the Cluster to own the DockerCluster', async () => {
    const dc = await readOrUndefined<Obj>({
      apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2',
      kind: 'DockerCluster',
      metadata: { name: infraRef.name, namespace: ns },
    });
    return dc?.metadata.ownerReferences?.some((o) => o.kind === 'Cluster' && o.name === 'smoke')
      ? dc
      : undefined;
  });
  expect(dockerCluster.metadata.labels?.['cluster.x-k8s.io/cluster-name']).toBe('smoke');
});

test("CAPI's validation webhook rejects an invalid Cluster", async () => {
  const bad = topologyCluster(ns, 'bad-version', 'capd', 'not-a-version');
  await expect(objects.create(bad)).rejects.toMatchObject({
    code: 422,
    body: expect.stringContaining('admission webhook \\"validation.cluster.cluster.x-k8s.io\\" denied'),
  });
});

test('the in-cluster IPAM provider binds an IPAddressClaim to an IPAddress from the pool', async () => {
  await objects.create(inClusterIPPool(ns, 'smoke-pool', ['10.10.0.10-10.10.0.12']));
  await objects.create({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name: 'smoke-claim', namespace: ns },
    spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'smoke-pool' } },
  });
  const addressName = await eventually('the claim to be bound', async () => {
    const claim = (await objects.read({
      apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
      kind: 'IPAddressClaim',
      metadata: { name: 'smoke-claim', namespace: ns },
    })) as Obj & { status?: { addressRef?: { name?: string } } };
    return claim.status?.addressRef?.name || undefined;
  });
  const address = (await objects.read({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddress',
    metadata: { name: addressName, namespace: ns },
  })) as Obj;
  expect(address.spec).toMatchObject({
    address: '10.10.0.10',
    prefix: 24,
    claimRef: { name: 'smoke-claim' },
  });
});

test('kube-controller-manager garbage-collects an object whose owner is deleted', async () => {
  const owner = await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'owner' } },
  });
  const owned: V1ConfigMap = {
    metadata: {
      name: 'owned',
      ownerReferences: [
        { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' },
      ],
    },
  };
  await core.createNamespacedConfigMap({ namespace: ns, body: owned });
  await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner' });
  await eventually('the owned ConfigMap to be collected', async () =>
    (await readOrUndefined({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'owned', namespace: ns },
    }))
      ? undefined
      : true,
  );
});

// Only on the local plane (not a cluster given in KUBECONFIG).
const STATE = '.cache/control-plane/state.json';
(existsSync(STATE) ? test : test.skip)(
  '`up` restarts what is down and keeps every object: our process and a controller killed',
  async () => {
    const marker = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'survives-up' }, data: { at: new Date().toISOString() } },
    });
    const state = JSON.parse(readFileSync(STATE, 'utf8')) as {
      components: { name: string; pid: number }[];
    };
    for (const name of ['capi-vip-allocator', 'kube-controller-manager']) {
      const pid = state.components.find((c) => c.name === name)?.pid;
      if (pid) process.kill(pid, 'SIGKILL');
    }
    const { stderr } = await controlPlane(['up'], { reject: false, stderr: 'pipe' });
    expect(stderr).toContain('kube-controller-manager, capi-vip-allocator down; restarting, keeping etcd');
    expect(stderr).toContain('Restarted kube-controller-manager, capi-vip-allocator');
    expect(stderr).not.toContain('wiping');
    const kept = await readOrUndefined<V1ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'survives-up', namespace: ns },
    });
    expect(kept?.metadata?.uid).toBe(marker.metadata?.uid);
    expect((await controlPlane(['status'], { reject: false, stderr: 'pipe' })).exitCode).toBe(0);
  },
);
