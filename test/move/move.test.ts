/**
 * clusterctl move, proven: a namespace of Clusters with VIPs (a namespaced and a global pool, a
 * single address with an ingress VIP, a dual-stack pair) moves from the local plane to a second one
 * (`npm run control-plane -- up --name target`), with our extension on both, by the clusterctl of
 * the CAPI release the plane runs. After the move every Cluster keeps its VIPs, every claim is
 * bound to the same address on the target, none is made again, and a Cluster created on the target
 * does not get a moved address.
 *
 * What stands in for `clusterctl init` and for machines (the plane has neither):
 * - the CRDs get the `clusterctl.cluster.x-k8s.io` label clusterctl init gives every provider CRD
 *   (move finds the kinds to move by it), and the pool CRDs `clusterctl.cluster.x-k8s.io/move-hierarchy`
 *   as the in-cluster provider's release ships them;
 * - the InfrastructureCluster and the control plane report provisioned and initialized in their
 *   status (nothing runs them here), which move requires of every Cluster.
 */
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { execa } from 'execa';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binaryPath } from '../../hack/control-plane/build.js';
import { KUBECONFIG, planeDir } from '../../hack/control-plane/paths.js';
import {
  clusterClass,
  CONTROL_PLANE,
  INFRA_CLUSTER,
  inClusterIPPool,
  vipLabels,
  type Obj,
} from '../../hack/fixtures/fixtures.js';
import { createNamespace, deleteNamespace, eventually } from '../../hack/fixtures/kube.js';
import { createCluster, VIP_ANNOTATION, waitForTopology } from '../../hack/fixtures/vip.js';
import { capiRelease } from '../../hack/versions.js';
import { controlPlane } from '../../hack/fixtures/control-plane.js';

const TARGET = 'target';
const TARGET_KUBECONFIG = path.join(planeDir(TARGET), 'kubeconfig');
const CLUSTERCTL = binaryPath(capiRelease().pin, 'clusterctl');
const SECONDARY = 'vip.capi.gorizond.io/control-plane-vip-secondary';
const INGRESS = 'vip.capi.gorizond.io/ingress-vip';
const IPAM = 'ipam.cluster.x-k8s.io';

/** The target plane, beside the suite's own. */
const targetPlane = (args: string[]) => controlPlane([...args, '--name', TARGET]);

function clients(kubeconfig?: string) {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  return { objects: KubernetesObjectApi.makeApiClient(kc), custom: kc.makeApiClient(CustomObjectsApi), kc };
}

interface Claim extends Obj {
  spec: { poolRef: { name: string } };
  status?: { addressRef?: { name?: string } };
}
interface Address extends Obj {
  spec: { address: string; claimRef: { name: string } };
}

/** A JSON merge patch (`null` removes a key) to an object on the source plane. */
const mergePatch = (body: object) =>
  clients().objects.patch(body as Obj, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch);

/** Lifts the finalizers of the IPAddresses left in the namespace on the source plane. */
async function releaseLeftAddresses(ns: string): Promise<void> {
  const { custom } = clients();
  const { items } = (await custom.listNamespacedCustomObject({
    group: IPAM,
    version: 'v1beta2',
    namespace: ns,
    plural: 'ipaddresses',
  })) as { items: Address[] };
  for (const address of items) {
    await mergePatch({
      apiVersion: `${IPAM}/v1beta2`,
      kind: 'IPAddress',
      metadata: { name: address.metadata.name, namespace: ns, finalizers: null },
    });
  }
}

/** Each claim of ours in the namespace, with its address: `name → address` (unbound: ''). */
async function addresses(kc: KubeConfig, ns: string): Promise<Record<string, string>> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const list = async <T>(plural: string) =>
    (
      (await custom.listNamespacedCustomObject({
        group: IPAM,
        version: 'v1beta2',
        namespace: ns,
        plural,
      })) as {
        items: T[];
      }
    ).items;
  const [claims, ips] = await Promise.all([list<Claim>('ipaddressclaims'), list<Address>('ipaddresses')]);
  return Object.fromEntries(
    claims.map((c) => [
      c.metadata.name,
      ips.find((a) => a.metadata.name === c.status?.addressRef?.name)?.spec.address ?? '',
    ]),
  );
}

/** What clusterctl init does to every provider CRD, and the in-cluster provider's release to its pools. */
async function labelForMove(kc: KubeConfig): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const crd of (await api.listCustomResourceDefinition()).items) {
    const group = crd.spec.group;
    if (!group.endsWith('cluster.x-k8s.io')) continue;
    const pool = group === IPAM && /ippools$/.test(crd.spec.names.plural);
    await api.patchCustomResourceDefinition(
      {
        name: crd.metadata?.name ?? '',
        body: {
          metadata: {
            labels: {
              'clusterctl.cluster.x-k8s.io': '',
              ...(pool ? { 'clusterctl.cluster.x-k8s.io/move-hierarchy': '' } : {}),
            },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}

/** What the providers that are not running here would report: provisioned, initialized. */
async function provisioned(ns: string, name: string): Promise<void> {
  const { custom } = clients();
  const cluster = await waitForTopology(ns, name);
  const spec = cluster.spec as { infrastructureRef: { name: string }; controlPlaneRef: { name: string } };
  for (const [type, objName, status] of [
    [INFRA_CLUSTER.k0s, spec.infrastructureRef.name, { initialization: { provisioned: true } }],
    [CONTROL_PLANE.k0s, spec.controlPlaneRef.name, { initialization: { controlPlaneInitialized: true } }],
  ] as const) {
    const [group = '', version = ''] = type.apiVersion.split('/');
    await custom.patchNamespacedCustomObjectStatus(
      { group, version, namespace: ns, plural: type.plural, name: objName, body: { status } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
  await eventually(`Cluster ${name} to be provisioned and its control plane initialized`, async () => {
    const c = (await clients().objects.read({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name, namespace: ns },
    })) as Obj & {
      status?: {
        initialization?: { infrastructureProvisioned?: boolean };
        conditions?: { type: string; status: string }[];
      };
    };
    return c.status?.initialization?.infrastructureProvisioned &&
      c.status.conditions?.some((x) => x.type === 'ControlPlaneInitialized' && x.status === 'True')
      ? true
      : undefined;
  });
}

describe('clusterctl move to a second plane', () => {
  let ns: string;
  const globalPool = `move-global-${process.pid}`;
  const global: Obj = {
    apiVersion: `${IPAM}/v1alpha2`,
    kind: 'GlobalInClusterIPPool',
    metadata: { name: globalPool, labels: vipLabels('mv') },
    spec: { addresses: ['fd00:160::10-fd00:160::19'], prefix: 64 },
  };
  let target: ReturnType<typeof clients>;
  let before: Record<string, string>;
  let vips: Record<string, Record<string, string | undefined>>;

  beforeAll(async () => {
    await targetPlane(['up', '--extension']);
    target = clients(TARGET_KUBECONFIG);
    const source = clients();
    await labelForMove(source.kc);
    ns = await createNamespace('move');
    // A cluster-scoped pool exists on both sides: clusterctl skips one that exists on the target.
    await target.objects.create(global);
    for (const o of [
      ...clusterClass('k0s', ns, 'mv', { discover: true }),
      inClusterIPPool(ns, 'v4', ['10.162.0.10-10.162.0.19'], { labels: vipLabels('mv') }),
      inClusterIPPool(ns, 'ingress', ['10.163.0.10-10.163.0.19'], {
        labels: { ...vipLabels('mv'), 'vip.capi.gorizond.io/role': 'ingress' },
      }),
      global,
    ]) {
      await source.objects.create(o);
    }
    await createCluster(ns, 'single', 'mv');
    await createCluster(ns, 'pair', 'mv', undefined, {
      variables: [{ name: 'vipAllocator', value: { ipFamilies: ['IPv4', 'IPv6'] } }],
    });
    for (const name of ['single', 'pair']) await provisioned(ns, name);
    const read = async (name: string) => (await waitForTopology(ns, name)).metadata.annotations ?? {};
    vips = {};
    for (const name of ['single', 'pair']) {
      const a = await read(name);
      vips[name] = { vip: a[VIP_ANNOTATION], secondary: a[SECONDARY], ingress: a[INGRESS] };
    }
    before = await addresses(source.kc, ns);
  }, 300_000);

  afterAll(async () => {
    if (ns) {
      // After the move an IPAddress of the global pool stays on the source, held by the IPAM
      // provider's finalizer for a claim that is gone: the namespace would never finish deleting
      // on a plane that is used again.
      await releaseLeftAddresses(ns).catch(() => undefined);
      await deleteNamespace(ns);
    }
    await clients()
      .objects.delete(global)
      .catch(() => undefined);
    await targetPlane(['down']).catch(() => undefined);
  }, 120_000);

  /** `doctor --before-move` on the source: its before-move findings. */
  async function beforeMove() {
    const { stdout } = await execa(
      'node',
      [
        'dist/capi-vip-allocator.mjs',
        'doctor',
        `--namespace=${ns}`,
        '--before-move',
        '-o',
        'json',
        `--kubeconfig=${KUBECONFIG}`,
      ],
      { reject: false },
    );
    return (
      JSON.parse(stdout) as { findings: { check: string; ok: boolean; subject: string; detail: string }[] }
    ).findings.filter((f) => f.check === 'before-move');
  }

  /** clusterctl move of the namespace, with no config, no version check, no network. */
  function clusterctlMove() {
    const home = mkdtempSync(path.join(tmpdir(), 'clusterctl-'));
    return execa(
      CLUSTERCTL,
      ['move', '--kubeconfig', KUBECONFIG, '--to-kubeconfig', TARGET_KUBECONFIG, '-n', ns, '-v', '2'],
      {
        env: { HOME: home, XDG_CONFIG_HOME: home, CLUSTERCTL_DISABLE_VERSIONCHECK: 'true' },
        all: true,
        reject: false,
      },
    );
  }

  const paused = async (kc: KubeConfig, name: string): Promise<boolean | undefined> => {
    try {
      const c = (await KubernetesObjectApi.makeApiClient(kc).read({
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'Cluster',
        metadata: { name, namespace: ns },
      })) as Obj & { spec?: { paused?: boolean } };
      return c.spec?.paused === true;
    } catch {
      return undefined;
    }
  };

  test('before the move, doctor --before-move finds nothing to lose', async () => {
    expect(vips.single?.ingress).toBeDefined();
    expect(vips.pair?.secondary).toMatch(/^fd00:160::/);
    expect(Object.values(before).every(Boolean)).toBe(true);
    const move = await beforeMove();
    expect(move.filter((f) => !f.ok)).toEqual([]);
    expect(move).toContainEqual(
      expect.objectContaining({
        subject: `GlobalInClusterIPPool ${globalPool}`,
        detail: expect.stringContaining('create it there first'),
      }),
    );
  });

  test('a move interrupted half way: no address bound twice, no claim lost, doctor names the paused Clusters', async () => {
    // The target refuses IPAddresses, so clusterctl stops after the Clusters and claims, and retries;
    // it is killed there, as a crash or a lost connection would end it.
    const policy = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: `move-block-${process.pid}` },
      spec: {
        matchConstraints: {
          resourceRules: [
            { apiGroups: [IPAM], apiVersions: ['*'], operations: ['CREATE'], resources: ['ipaddresses'] },
          ],
        },
        validations: [{ expression: 'false', message: 'test/move: the move is interrupted here' }],
      },
    };
    const binding = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: policy.metadata.name },
      spec: {
        policyName: policy.metadata.name,
        validationActions: ['Deny'],
        matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } },
      },
    };
    // The namespace exists on the target first, so the policy's probe below lands in it.
    await target.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
    await target.objects.create(policy);
    await target.objects.create(binding);
    // An admission policy takes effect once the API server has loaded it: probe with a throwaway object.
    await eventually('the policy to refuse IPAddresses on the target', async () => {
      const probe = await target.objects
        .create({
          apiVersion: `${IPAM}/v1beta2`,
          kind: 'IPAddress',
          metadata: { name: 'probe', namespace: ns },
          spec: {
            address: '192.0.2.1',
            prefix: 32,
            claimRef: { name: 'x' },
            poolRef: { apiGroup: IPAM, kind: 'InClusterIPPool', name: 'x' },
          },
        })
        .then(
          async (made) => (await target.objects.delete(made), undefined),
          (err: unknown) => (String(err).includes('interrupted here') ? true : undefined),
        );
      return probe;
    });
    const run = clusterctlMove();
    try {
      await eventually('clusterctl to have made the claims on the target', async () =>
        Object.keys(await addresses(target.kc, ns)).length === Object.keys(before).length ? true : undefined,
      );
    } finally {
      run.kill('SIGKILL');
      await run;
    }
    await target.objects.delete(binding);
    await target.objects.delete(policy);

    // Half way: the source keeps every Cluster (paused) and every claim with its address; on the
    // target the Clusters are paused, so nothing binds the claims there: no address is held twice.
    expect(await addresses(clients().kc, ns)).toEqual(before);
    const half = await addresses(target.kc, ns);
    expect(Object.values(half).filter(Boolean)).toEqual([]);
    for (const name of ['single', 'pair']) {
      expect(await paused(clients().kc, name)).toBe(true);
      expect(await paused(target.kc, name)).toBe(true);
    }
    const findings = await beforeMove();
    for (const subject of [`Cluster ${ns}/single`, `ClusterClass ${ns}/mv`]) {
      expect(findings).toContainEqual(
        expect.objectContaining({ ok: false, subject, detail: expect.stringContaining('already paused') }),
      );
    }
    // The way on: unpause the source, and move again (clusterctl updates what it made already).
    await mergePatch({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'ClusterClass',
      metadata: { name: 'mv', namespace: ns, annotations: { 'cluster.x-k8s.io/paused': null } },
    });
    for (const name of ['single', 'pair']) {
      await mergePatch({
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'Cluster',
        metadata: { name, namespace: ns },
        spec: { paused: null },
      });
    }
    // Our extension leaves nothing claimed meanwhile: the source's claims are exactly the ones before.
    expect(await addresses(clients().kc, ns)).toEqual(before);
  }, 180_000);

  test('every Cluster keeps its VIPs, every claim its address, nothing is claimed again, and a new Cluster gets another address', async () => {
    const moved = await clusterctlMove();
    if (moved.exitCode !== 0) throw new Error(`clusterctl move failed:\n${moved.all}`);

    const readTarget = async (name: string) =>
      (await target.objects.read({
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'Cluster',
        metadata: { name, namespace: ns },
      })) as Obj & {
        spec?: { paused?: boolean; controlPlaneEndpoint?: { host?: string } };
      };
    for (const name of ['single', 'pair']) {
      const c = await eventually(`Cluster ${name} unpaused on the target`, async () => {
        const got = await readTarget(name);
        return got.spec?.paused ? undefined : got;
      });
      const a = c.metadata.annotations ?? {};
      expect({ vip: a[VIP_ANNOTATION], secondary: a[SECONDARY], ingress: a[INGRESS] }).toEqual(vips[name]);
      expect(c.spec?.controlPlaneEndpoint?.host).toBe(vips[name]?.vip);
    }
    // The target's IPAM provider binds each moved claim again, to the IPAddress moved with it.
    const after = await eventually('every moved claim to be bound on the target', async () => {
      const got = await addresses(target.kc, ns);
      return Object.keys(got).length === Object.keys(before).length && Object.values(got).every(Boolean)
        ? got
        : undefined;
    });
    expect(after).toEqual(before);
    // Gone from the source, with nothing of ours left behind there.
    await eventually('the namespace to be empty of claims on the source', async () =>
      Object.keys(await addresses(clients().kc, ns)).length === 0 ? true : undefined,
    );

    // A Cluster created on the target after the move: its own address, none of the moved ones.
    await target.objects.create({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'fresh', namespace: ns },
      spec: {
        topology: {
          classRef: { name: 'mv' },
          version: 'v1.34.0',
          controlPlane: { replicas: 1 },
          variables: [{ name: 'vipAllocator', value: { ipFamilies: ['IPv4', 'IPv6'] } }],
        },
      },
    });
    const fresh = await eventually('the new Cluster on the target to get its VIPs', async () => {
      const c = await readTarget('fresh');
      return c.metadata.annotations?.[SECONDARY] ? c.metadata.annotations : undefined;
    });
    expect(Object.values(before)).not.toContain(fresh[VIP_ANNOTATION]);
    expect(Object.values(before)).not.toContain(fresh[SECONDARY]);
  }, 300_000);
});
