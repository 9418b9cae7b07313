/**
 * The ClusterRole and Role of manifests/base are enough and no more: our process runs with the
 * ServiceAccount's own token (TokenRequest) through allocation, adoption and leader election, and
 * the same identity is refused what it was not granted.
 */
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { kustomize } from '../../hack/release.js';
import { startAllocator, type AllocatorProcess } from '../../hack/fixtures/allocator-process.js';
import { callHook, HOOKS } from '../../hack/fixtures/hooks.js';
import { inClusterIPPool, vipLabels, type Obj } from '../../hack/fixtures/fixtures.js';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  kube,
  readOrUndefined,
} from '../../hack/fixtures/kube.js';
import { plainCluster, readCluster, VIP_ANNOTATION } from '../../hack/fixtures/vip.js';

const SYSTEM = 'capi-vip-allocator-system';
const { kc, objects, core } = kube();
let ns: string;
let asServiceAccount: KubeConfig;
let kubeconfigFile: string;
let replica: AllocatorProcess | undefined;

beforeAll(async () => {
  // The RBAC objects of the base, applied for real.
  const rbac = (loadAllYaml(await kustomize('base')) as KubernetesObject[]).filter((o) =>
    ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(
      o?.kind ?? '',
    ),
  );
  for (const o of rbac) await objects.create(o).catch(() => objects.replace(o));
  const token = await core.createNamespacedServiceAccountToken({
    name: 'capi-vip-allocator',
    namespace: SYSTEM,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  asServiceAccount = new KubeConfig();
  asServiceAccount.loadFromClusterAndUser(
    {
      ...(kc.getCurrentCluster() as NonNullable<ReturnType<KubeConfig['getCurrentCluster']>>),
      name: 'plane',
    },
    { name: 'capi-vip-allocator', token: token.status?.token },
  );
  kubeconfigFile = path.resolve('.cache/control-plane/serviceaccount.kubeconfig');
  await writeFile(kubeconfigFile, asServiceAccount.exportConfig(), { mode: 0o600 });
  ns = await createNamespace('rbac');
  await objects.create(inClusterIPPool(ns, 'pool', ['10.120.0.5'], { labels: vipLabels('rbac') }));
});
afterAll(async () => {
  await replica?.kill('SIGKILL');
  await deleteNamespace(ns);
});

test('the ServiceAccount can allocate, adopt and lead', async () => {
  replica = await startAllocator([
    `--kubeconfig=${kubeconfigFile}`,
    '--enable-reconciler',
    '--leader-elect',
    `--leader-election-namespace=${SYSTEM}`,
  ]);
  await eventually('the replica to lead', async () =>
    (await replica?.metric('capi_vip_allocator_leader')) === 1 ? true : undefined,
  );

  const cluster = await plainCluster(ns, 'rbac');
  const request = {
    apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
    kind: 'BeforeClusterCreateRequest',
    cluster: { ...cluster, spec: { topology: { classRef: { name: 'rbac' }, version: 'v1.34.0' } } },
  };
  const url = `https://127.0.0.1:${replica.hookPort}${HOOKS}/beforeclustercreate/vip-allocator-before-cluster-create`;
  await eventually('the VIP written by the ServiceAccount', async () => {
    const answer = await callHook(url, JSON.stringify(request));
    expect(answer.body.status).toBe('Success');
    return (await readCluster(ns, 'rbac'))?.metadata.annotations?.[VIP_ANNOTATION];
  });

  // Adoption by the reconciler, under the same identity.
  await objects.create({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name: 'vip-ingress-rbac', namespace: ns, labels: { 'vip.capi.gorizond.io/role': 'ingress' } },
    spec: {
      clusterName: 'rbac',
      poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'pool' },
    },
  });
  await eventually('the claim adopted by the ServiceAccount', async () => {
    const claim = await readOrUndefined<Obj>({
      apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
      kind: 'IPAddressClaim',
      metadata: { name: 'vip-ingress-rbac', namespace: ns },
    });
    return claim?.metadata.ownerReferences?.length ? true : undefined;
  });
  expect(replica.log()).not.toMatch(/forbidden/i);
});

test('the ServiceAccount is refused what it was not granted', async () => {
  const sa = KubernetesObjectApi.makeApiClient(asServiceAccount);
  await expect(
    sa.delete({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'rbac', namespace: ns },
    }),
  ).rejects.toMatchObject({ code: 403 });
  await expect(
    asServiceAccount.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: SYSTEM }),
  ).rejects.toMatchObject({
    code: 403,
  });
  await expect(
    sa.create({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'elsewhere', namespace: ns },
    }),
  ).rejects.toMatchObject({ code: 403 });
});
