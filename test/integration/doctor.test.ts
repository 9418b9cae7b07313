/** `capi-vip-allocator doctor` against the real plane, healthy and broken. */
import { ApiextensionsV1Api, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { execa } from 'execa';
import { clusterClass, inClusterIPPool, vipLabels } from '../../hack/fixtures/fixtures.js';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  kube,
  readOrUndefined,
} from '../../hack/fixtures/kube.js';
import { createCluster, readCluster, waitForTopology } from '../../hack/fixtures/vip.js';

interface Finding {
  check: string;
  ok: boolean;
  subject: string;
  detail: string;
}

const { objects } = kube();
const doctor = async (...args: string[]) => {
  const { exitCode, stdout, stderr } = await execa(
    process.execPath,
    [
      '--enable-source-maps',
      'dist/capi-vip-allocator.mjs',
      'doctor',
      '--kubeconfig=.cache/control-plane/kubeconfig',
      ...args,
    ],
    { reject: false },
  );
  return { exitCode, stdout, stderr };
};
const findings = (stdout: string): Finding[] => (JSON.parse(stdout) as { findings: Finding[] }).findings;

let healthy: string;
let broken: string;
beforeAll(async () => {
  healthy = await createNamespace('doctor-ok');
  broken = await createNamespace('doctor-bad');
  for (const o of [
    ...clusterClass('capd', healthy, 'fine'),
    inClusterIPPool(healthy, 'pool', ['10.130.0.1-10.130.0.4'], { labels: vipLabels('fine') }),
  ]) {
    await objects.create(o);
  }
  for (const o of clusterClass('capd', broken, 'poolless')) await objects.create(o);
  // Two pools of ours that share 198.18.0.16-20, and one no label makes ours, with the same addresses.
  for (const o of [
    inClusterIPPool(broken, 'low', ['198.18.0.10-198.18.0.20'], { labels: vipLabels('overlap') }),
    inClusterIPPool(broken, 'high', ['198.18.0.16/28'], { labels: vipLabels('overlap') }),
    inClusterIPPool(broken, 'theirs', ['198.18.0.10-198.18.0.20']),
  ]) {
    await objects.create(o);
  }
  // A hosted control plane (k0smotron) has no announcer profile: asking for one is a problem.
  for (const o of clusterClass('k0s', broken, 'hosted', { discover: true })) {
    const hosted = JSON.parse(
      JSON.stringify(o).replaceAll('K0sControlPlaneTemplate', 'K0smotronControlPlaneTemplate'),
    );
    await objects.create(hosted);
  }
  await createCluster(broken, 'loud', 'hosted', undefined, {
    variables: [{ name: 'vipAllocator', value: { announce: true } }],
  });
  await createCluster(healthy, 'good', 'fine');
  await waitForTopology(healthy, 'good');
  // The provider counts the pool's addresses in a reconcile of its own, after the bind.
  await eventually('the pool to count its used address', async () => {
    const pool = await readOrUndefined<KubernetesObject & { status?: { ipAddresses?: { free?: number } } }>({
      apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
      kind: 'InClusterIPPool',
      metadata: { name: 'pool', namespace: healthy },
    });
    return pool?.status?.ipAddresses?.free === 3 ? true : undefined;
  });
  await createCluster(broken, 'stuck', 'poolless');
  await objects.create({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name: 'vip-cp-gone', namespace: broken },
    spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'nowhere' } },
  });
  // A held claim (quarantine before reuse) as BeforeClusterDelete and the reconciler leave it.
  await objects.create({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: {
      name: 'vip-cp-held',
      namespace: broken,
      labels: { 'vip.capi.gorizond.io/quarantine': 'held', 'vip.capi.gorizond.io/role': 'control-plane' },
      annotations: {
        'vip.capi.gorizond.io/quarantine-seconds': '300',
        'vip.capi.gorizond.io/quarantined-until': new Date(Date.now() + 3_600_000).toISOString(),
      },
    },
    spec: { poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'nowhere' } },
  });
});
afterAll(async () => {
  await deleteNamespace(healthy);
  await deleteNamespace(broken);
});

test('a healthy namespace: everything OK, exit 0', async () => {
  const { exitCode, stdout } = await doctor(`--namespace=${healthy}`, '-o', 'json');
  const all = findings(stdout);
  expect(all.filter((f) => !f.ok)).toEqual([]);
  expect(exitCode).toBe(0);
  expect(all.map((f) => f.check)).toEqual(
    expect.arrayContaining(['extensionconfig', 'handlers', 'certificate', 'pools']),
  );
  expect(all.find((f) => f.check === 'pools')?.detail).toMatch(/InClusterIPPool pool \(IPv4\): 3 free of 4/);
  expect(all.find((f) => f.check === 'ingress-pools')?.detail).toContain('get no ingress VIP');
  expect(all.filter((f) => f.check === 'overlap')).toEqual([
    expect.objectContaining({ ok: true, detail: 'no two pools of ours overlap' }),
  ]);
  // No machine ever comes up here: CAPI has not reached the VIP, which is no problem yet.
  expect(all.find((f) => f.check === 'vip-answering')).toMatchObject({
    ok: true,
    subject: `Cluster ${healthy}/good`,
    detail: expect.stringMatching(/^10\.130\.0\.\d:6443: not yet reached by CAPI/),
  });
});

test('a broken namespace: the missing pool, the blocked Cluster, the orphan claim and an announcer with no profile, exit 1', async () => {
  await eventually(
    'the Cluster to be blocked',
    async () =>
      (await readCluster(broken, 'stuck'))?.status?.conditions?.some((c) =>
        c.message?.includes('No IP pool'),
      ) || undefined,
  );
  const { exitCode, stdout } = await doctor(`--namespace=${broken}`, '-o', 'json');
  expect(exitCode).toBe(1);
  const problems = findings(stdout).filter((f) => !f.ok);
  expect(problems).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        check: 'pools',
        subject: `ClusterClass ${broken}/poolless`,
        detail: expect.stringContaining('vip.capi.gorizond.io/cluster-class=poolless'),
      }),
      expect.objectContaining({
        check: 'clusters',
        subject: `Cluster ${broken}/stuck`,
        detail: expect.stringContaining('BeforeClusterCreate'),
      }),
      expect.objectContaining({ check: 'claims', subject: `IPAddressClaim ${broken}/vip-cp-gone` }),
      expect.objectContaining({
        check: 'announcer',
        subject: `ClusterClass ${broken}/hosted`,
        detail: expect.stringMatching(
          /^K0smotronControlPlaneTemplate has no VIP announcer profile .*Cluster loud/,
        ),
      }),
    ]),
  );
});

test('a held claim in time is shown, with how to release it, and is not an orphan', async () => {
  const all = findings((await doctor(`--namespace=${broken}`, '-o', 'json')).stdout);
  expect(all.find((f) => f.subject === `IPAddressClaim ${broken}/vip-cp-held`)).toEqual({
    check: 'quarantine',
    ok: true,
    subject: `IPAddressClaim ${broken}/vip-cp-held`,
    detail: expect.stringContaining(`kubectl delete ipaddressclaim -n ${broken} vip-cp-held releases it now`),
  });
  expect(all.filter((f) => f.check === 'claims').map((f) => f.subject)).toEqual([
    `IPAddressClaim ${broken}/vip-cp-gone`,
  ]);
});

test('--before-move: the held claim and the unbound one would be lost, the Cluster with its VIP is ready', async () => {
  const { exitCode, stdout } = await doctor(`--namespace=${broken}`, '--before-move', '-o', 'json');
  expect(exitCode).toBe(1);
  const move = findings(stdout).filter((f) => f.check === 'before-move');
  expect(move).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        ok: false,
        subject: `IPAddressClaim ${broken}/vip-cp-held`,
        detail: expect.stringContaining('stays on the source'),
      }),
      expect.objectContaining({
        ok: false,
        subject: `IPAddressClaim ${broken}/vip-cp-gone`,
        detail: expect.stringContaining('not bound: status is not moved'),
      }),
    ]),
  );
  const healthyMove = async () =>
    findings((await doctor(`--namespace=${healthy}`, '--before-move', '-o', 'json')).stdout).filter(
      (f) => f.check === 'before-move',
    );
  // The plane installs the provider's CRD bases, without the move-hierarchy label its release adds
  // (unless test/move labelled them as clusterctl init would): then a pool moves only by its own label.
  const crd = await kube()
    .kc.makeApiClient(ApiextensionsV1Api)
    .readCustomResourceDefinition({ name: 'inclusterippools.ipam.cluster.x-k8s.io' });
  if (crd.metadata?.labels?.['clusterctl.cluster.x-k8s.io/move-hierarchy'] === undefined) {
    expect(await healthyMove()).toEqual([
      expect.objectContaining({
        ok: false,
        subject: `InClusterIPPool ${healthy}/pool`,
        detail: expect.stringContaining('will not move: neither its CRD nor it carries'),
      }),
    ]);
  }
  await objects.patch(
    {
      apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
      kind: 'InClusterIPPool',
      metadata: { name: 'pool', namespace: healthy, labels: { 'clusterctl.cluster.x-k8s.io/move': '' } },
    },
    undefined,
    undefined,
    undefined,
    undefined,
    PatchStrategy.MergePatch,
  );
  expect(await healthyMove()).toEqual([
    {
      check: 'before-move',
      ok: true,
      subject: `InClusterIPPool ${healthy}/pool`,
      detail: 'moves with the namespace',
    },
  ]);
});

test('--before-move: a pool that keeps a reserve, even an empty one, is a problem', async () => {
  // Cluster-scoped and with no reserve-namespaces: the plane's --claim-reserve keeps no claim for it.
  const pool = {
    apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
    kind: 'GlobalInClusterIPPool',
    metadata: { name: 'doctor-reserve', annotations: { 'vip.capi.gorizond.io/reserve': '2' } },
    spec: { addresses: ['198.18.0.200-198.18.0.201'], prefix: 24 },
  };
  await objects.create(pool);
  try {
    const { exitCode, stdout } = await doctor(`--namespace=${healthy}`, '--before-move', '-o', 'json');
    expect(exitCode).toBe(1);
    expect(findings(stdout)).toContainEqual({
      check: 'before-move',
      ok: false,
      subject: 'GlobalInClusterIPPool doctor-reserve',
      detail: expect.stringMatching(/^keeps a reserve of 2 .*remove the annotation on the target's copy/),
    });
  } finally {
    await objects.delete(pool);
  }
});

test('two pools of ours that overlap are named, with the first shared address; a pool not ours is not', async () => {
  const { exitCode, stdout } = await doctor(`--namespace=${broken}`, '-o', 'json');
  expect(exitCode).toBe(1);
  const [high, low] = [`InClusterIPPool ${broken}/high`, `InClusterIPPool ${broken}/low`];
  // The API server lists by name: high first.
  expect(findings(stdout).filter((f) => f.check === 'overlap')).toEqual([
    {
      check: 'overlap',
      ok: false,
      subject: high,
      detail: expect.stringContaining(`overlaps ${low} from 198.18.0.16: `),
    },
  ]);
});

test('the table names problems, and a bad flag exits 2', async () => {
  const { exitCode, stdout } = await doctor(`--namespace=${broken}`, '--extension-config=nope');
  expect(exitCode).toBe(1);
  expect(stdout).toContain('PROBLEM  extensionconfig');
  expect(stdout).toMatch(/\d+ problem\(s\) found/);
  const bad = await doctor('--output=xml');
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr).toContain('--output');
});
