/**
 * Compatibility: what every CAPI release of the matrix must do with us. `npm test` runs it on the
 * default release; `npm run test:matrix` on each older one (CAPI_VERSION names the one running).
 */
import { loadAllYaml } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import { startAllocator, type AllocatorProcess } from '../../hack/fixtures/allocator-process.js';
import { clusterClass, CONTROL_PLANE, inClusterIPPool, vipLabels } from '../../hack/fixtures/fixtures.js';
import { createNamespace, deleteNamespace, eventually, kube } from '../../hack/fixtures/kube.js';
import {
  createCluster,
  deleteCluster,
  FirstVersions,
  plainCluster,
  readClaim,
  untilTopologySays,
  VIP_ANNOTATION,
  waitForTopology,
} from '../../hack/fixtures/vip.js';

const { objects } = kube();
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const CAPI = process.env.CAPI_VERSION ?? 'the default release';
const MINOR = Number(/^v1\.(\d+)\./.exec(process.env.CAPI_VERSION ?? 'v1.14.0')?.[1]);
/** What differs by release, as the code handles it in extension/validate.ts. */
const REQUEST_CLUSTER_VERSION = MINOR >= 13 ? 'cluster.x-k8s.io/v1beta2' : 'cluster.x-k8s.io/v1beta1';
const EXTENSION_LOG = '.cache/control-plane/logs/capi-vip-allocator.log';

let ns: string;
let infra: FirstVersions;
let kcps: FirstVersions;
let reconciler: AllocatorProcess | undefined;

const claim = (name: string) => readClaim(ns, name);
const removeCluster = (name: string) => deleteCluster(ns, name);

beforeAll(async () => {
  ns = await createNamespace('compat');
  infra = await FirstVersions.start('capd', ns);
  kcps = await FirstVersions.start('capd', ns, CONTROL_PLANE.capd);
  for (const o of [
    ...clusterClass('capd', ns, 'plain'),
    inClusterIPPool(ns, 'plain', ['10.60.0.10-10.60.0.14'], { labels: vipLabels('plain') }),
    ...clusterClass('capd', ns, 'announced', { discover: true }),
    inClusterIPPool(ns, 'announced', ['10.61.0.10-10.61.0.14'], { labels: vipLabels('announced') }),
    ...clusterClass('capd', ns, 'scarce'),
    inClusterIPPool(ns, 'scarce', ['10.62.0.10'], { labels: vipLabels('scarce') }),
  ]) {
    await objects.create(o);
  }
});
afterAll(async () => {
  infra.stop();
  kcps.stop();
  await reconciler?.kill('SIGKILL');
  await deleteNamespace(ns);
});

describe(`CAPI ${CAPI}`, () => {
  test('the InfrastructureCluster is born with the VIP, and an inline patch reads it from the annotation', async () => {
    await createCluster(ns, 'alpha', 'plain');
    const cluster = await waitForTopology(ns, 'alpha');
    const vip = cluster.metadata.annotations?.[VIP_ANNOTATION];
    expect(vip).toMatch(/^10\.60\.0\./);
    expect(cluster.spec?.controlPlaneEndpoint).toEqual({ host: vip, port: 6443 });
    const infraName = cluster.spec?.infrastructureRef?.name ?? '';
    await eventually('the first DockerCluster', async () => infra.first.get(infraName));
    expect(infra.endpointOf(infraName)).toEqual({ host: vip, port: 6443 });
    const cpName = ((cluster.spec as Json).controlPlaneRef as Json).name as string;
    const kcp = (await eventually('the first KubeadmControlPlane', async () =>
      kcps.first.get(cpName),
    )) as Json;
    expect(kcp.spec.kubeadmConfigSpec.clusterConfiguration.apiServer.certSANs).toEqual([vip]);
  });

  test(`BeforeClusterCreate requests carry a ${REQUEST_CLUSTER_VERSION} Cluster`, async () => {
    const lines = (await readFile(EXTENSION_LOG, 'utf8'))
      .split('\n')
      .filter((l) => l.includes(`"namespace":"${ns}"`) && l.includes('"clusterVersion"'));
    const versions = new Set(
      lines.map((l) => (JSON.parse(l) as { clusterVersion?: string }).clusterVersion).filter(Boolean),
    );
    expect([...versions]).toEqual([REQUEST_CLUSTER_VERSION]);
  });

  test('DiscoverVariables: the class publishes vipAllocator, and the kubeadm profile runs kube-vip', async () => {
    await createCluster(ns, 'loud', 'announced', undefined, {
      variables: [{ name: 'vipAllocator', value: { announce: true } }],
    });
    const cluster = await waitForTopology(ns, 'loud');
    const cc = (await objects.read({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'ClusterClass',
      metadata: { name: 'announced', namespace: ns },
    })) as Json;
    expect(cc.status.variables).toContainEqual(
      expect.objectContaining({
        name: 'vipAllocator',
        definitions: [expect.objectContaining({ from: 'vip', required: false })],
      }),
    );
    const cpName = ((cluster.spec as Json).controlPlaneRef as Json).name as string;
    const kcp = (await eventually('the first KubeadmControlPlane', async () =>
      kcps.first.get(cpName),
    )) as Json;
    const file = kcp.spec.kubeadmConfigSpec.files.find(
      (f: Json) => f.path === '/etc/kubernetes/manifests/kube-vip.yaml',
    );
    const pod = (loadAllYaml(file.content) as Json[])[0];
    const env = Object.fromEntries((pod?.spec.containers[0].env as Json[]).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ address: cluster.metadata.annotations?.[VIP_ANNOTATION], port: '6443' });
  });

  test('an exhausted pool is explained, the Cluster completes when an address frees, and deletion gives it back', async () => {
    await createCluster(ns, 'first', 'scarce');
    await waitForTopology(ns, 'first');
    await createCluster(ns, 'second', 'scarce');
    await untilTopologySays(ns, 'second', 'pool scarce has no free address');
    await removeCluster('first');
    await eventually(
      'the first claim to be given back, after the quarantine',
      async () => ((await claim('vip-cp-first')) ? undefined : true),
      120_000,
    );
    const second = await waitForTopology(ns, 'second', 120_000);
    expect(second.metadata.annotations?.[VIP_ANNOTATION]).toBe('10.62.0.10');
  });

  test('the reconciler adopts an owner-less claim of an existing Cluster', async () => {
    const owner = await plainCluster(ns, 'adoptive');
    await objects.create({
      apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
      kind: 'IPAddressClaim',
      metadata: {
        name: 'vip-cp-adoptive',
        namespace: ns,
        labels: { 'vip.capi.gorizond.io/role': 'control-plane' },
      },
      spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'plain' } },
    });
    reconciler = await startAllocator(['--enable-runtime-extension=false', '--enable-reconciler']);
    const adopted = await eventually('the claim to be owned', async () => {
      const c = await claim('vip-cp-adoptive');
      return c?.metadata.ownerReferences?.some((o) => o.uid === owner.metadata.uid) ? c : undefined;
    });
    expect(adopted.metadata.ownerReferences).toHaveLength(1);
  });
});
