/**
 * End to end: the VIP comes alive. Classes list our DiscoverVariables handler, Clusters set
 * `vipAllocator`, and the real CAPI manager creates control-plane objects (through the real
 * KubeadmControlPlane webhooks) whose first version carries the announcer with the VIP.
 */
import { loadAllYaml } from '@kubernetes/client-node';
import {
  clusterClass,
  CONTROL_PLANE,
  inClusterIPPool,
  vipLabels,
  type Obj,
  type Stack,
} from '../../hack/fixtures/fixtures.js';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  kube,
  readOrUndefined,
} from '../../hack/fixtures/kube.js';
import {
  condition,
  createCluster,
  FirstVersions,
  readCluster,
  VIP_ANNOTATION,
} from '../../hack/fixtures/vip.js';

const { objects } = kube();
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const KUBE_VIP = '/etc/kubernetes/manifests/kube-vip.yaml';
const announce = (extra: Record<string, unknown> = {}) => ({
  variables: [{ name: 'vipAllocator', value: { announce: true, ...extra } }],
});
/** RKE2's CRD takes only its own version scheme. */
const RKE2_VERSION = { version: 'v1.34.0+rke2r1' };

/** The kube-vip container's env, as a map, from a manifest file's content. */
function kubeVipEnv(content: string): Record<string, string> {
  const docs = loadAllYaml(content) as Json[];
  const pod =
    docs.find((d) => d.kind === 'Pod')?.spec ?? docs.find((d) => d.kind === 'DaemonSet')?.spec.template.spec;
  return Object.fromEntries((pod.containers[0].env as Json[]).map((e) => [e.name, e.value]));
}

let ns: string;
const firsts = {} as Record<Stack | 'infra', FirstVersions>;

/** The first version of the Cluster's control-plane object, and the Cluster by then. */
async function firstControlPlane(stack: Stack, cluster: string): Promise<{ cp: Json; cluster: Json }> {
  const c = await eventually(`Cluster ${cluster} to get its control plane`, async () => {
    const found = await readCluster(ns, cluster);
    return (found?.spec as Json | undefined)?.controlPlaneRef?.name ? found : undefined;
  });
  const name = (c?.spec as Json).controlPlaneRef.name as string;
  const cp = await eventually(`the first version of ${CONTROL_PLANE[stack].kind} ${name}`, async () =>
    firsts[stack].first.get(name),
  );
  return { cp: cp as Json, cluster: c as Json };
}

/** Waits for TopologyReconciled to carry `text`, and returns its message. */
async function blockedWith(cluster: string, text: string): Promise<string> {
  const c = await eventually(`Cluster ${cluster} to be stopped with "${text}"`, async () => {
    const found = await readCluster(ns, cluster);
    return condition(found, 'TopologyReconciled')?.message?.includes(text) ? found : undefined;
  });
  return condition(c, 'TopologyReconciled')?.message ?? '';
}

beforeAll(async () => {
  ns = await createNamespace('e2e-profiles');
  for (const stack of ['capd', 'proxmox', 'k0s'] as const) {
    firsts[stack] = await FirstVersions.start(stack, ns, CONTROL_PLANE[stack]);
  }
  firsts.infra = await FirstVersions.start('capd', ns);
  const kubeadmExtras = {
    kubeadmConfigSpec: {
      format: 'cloud-config',
      files: [{ path: '/etc/motd', content: 'managed by Cluster API' }],
      preKubeadmCommands: ['echo pre'],
      postKubeadmCommands: ['echo post'],
    },
  };
  const objs: Obj[] = [
    ...clusterClass('capd', ns, 'kubeadm', { discover: true, controlPlane: kubeadmExtras }),
    ...clusterClass('capd', ns, 'kubeadm6', { discover: true }),
    ...clusterClass('proxmox', ns, 'rke2', { discover: true }),
    ...clusterClass('k0s', ns, 'k0s', { discover: true }),
    ...clusterClass('capd', ns, 'ownkv', {
      discover: true,
      controlPlane: { kubeadmConfigSpec: { files: [{ path: KUBE_VIP, content: 'apiVersion: v1' }] } },
    }),
    // The original implementation's README style: a `clusterVip` variable read by an inline patch.
    ...clusterClass('proxmox', ns, 'legacy', {
      variables: [
        { name: 'clusterVip', required: false, schema: { openAPIV3Schema: { type: 'string', default: '' } } },
      ],
      patches: [
        {
          name: 'tls-san',
          enabledIf: '{{ if .clusterVip }}true{{ end }}',
          definitions: [
            {
              selector: {
                apiVersion: 'controlplane.cluster.x-k8s.io/v1beta1',
                kind: 'RKE2ControlPlaneTemplate',
                matchResources: { controlPlane: true },
              },
              jsonPatches: [
                {
                  op: 'add',
                  path: '/spec/template/spec/serverConfig',
                  valueFrom: { template: 'tlsSan: ["{{ .clusterVip }}"]' },
                },
              ],
            },
          ],
        },
      ],
    }),
  ];
  const v6 = inClusterIPPool(ns, 'v6', ['fd00:10::10-fd00:10::12'], { labels: vipLabels('kubeadm6') });
  objs.push({ ...v6, spec: { ...v6.spec, prefix: 64 } });
  // A range per class: pools over one range are a duplicate this product refuses to publish.
  ['kubeadm', 'rke2', 'k0s', 'ownkv', 'legacy'].forEach((cls, i) =>
    objs.push(inClusterIPPool(ns, `v4-${cls}`, [`10.30.${i}.10-10.30.${i}.12`], { labels: vipLabels(cls) })),
  );
  for (const o of objs) await objects.create(o);
});
afterAll(async () => {
  Object.values(firsts).forEach((f) => f.stop());
  await deleteNamespace(ns);
});

test('kubeadm: the first KubeadmControlPlane runs kube-vip with the VIP, beside the class’s own files and commands', async () => {
  await createCluster(ns, 'kv', 'kubeadm', undefined, announce());
  const { cp, cluster } = await firstControlPlane('capd', 'kv');
  const vip = cluster.metadata.annotations[VIP_ANNOTATION];
  const spec = cp.spec.kubeadmConfigSpec;
  expect(spec.files.map((f: Json) => f.path)).toEqual(['/etc/motd', KUBE_VIP]);
  expect(kubeVipEnv(spec.files[1].content)).toMatchObject({ address: vip, port: '6443', vip_subnet: '32' });
  expect(spec.preKubeadmCommands[0]).toBe('echo pre');
  expect(spec.preKubeadmCommands[1]).toContain('super-admin.conf');
  expect(spec.postKubeadmCommands).toEqual([
    'echo post',
    expect.stringContaining('#path: /etc/kubernetes/admin.conf#'),
  ]);
});

test('kubeadm: a Cluster that does not ask for an announcer gets none', async () => {
  await createCluster(ns, 'quiet', 'kubeadm');
  const { cp } = await firstControlPlane('capd', 'quiet');
  expect(cp.spec.kubeadmConfigSpec.files.map((f: Json) => f.path)).toEqual(['/etc/motd']);
});

test('IPv6: the endpoint, the InfrastructureCluster (bare address) and kube-vip with subnet 128', async () => {
  await createCluster(ns, 'six', 'kubeadm6', undefined, announce());
  const { cp, cluster } = await firstControlPlane('capd', 'six');
  const vip = cluster.metadata.annotations[VIP_ANNOTATION];
  expect(vip).toMatch(/^fd00:10::1[0-2]$/);
  expect(cluster.spec.controlPlaneEndpoint).toEqual({ host: vip, port: 6443 });
  expect(firsts.infra.endpointOf(cluster.spec.infrastructureRef.name)).toEqual({ host: vip, port: 6443 });
  const file = cp.spec.kubeadmConfigSpec.files.find((f: Json) => f.path === KUBE_VIP);
  expect(kubeVipEnv(file.content)).toMatchObject({ address: vip, vip_subnet: '128' });
});

test('RKE2: the first RKE2ControlPlane carries the kube-vip DaemonSet in its manifests folder', async () => {
  await createCluster(ns, 'rk', 'rke2', undefined, { ...announce({ interface: 'ens18' }), ...RKE2_VERSION });
  const { cp, cluster } = await firstControlPlane('proxmox', 'rk');
  const vip = cluster.metadata.annotations[VIP_ANNOTATION];
  const file = cp.spec.files.find(
    (f: Json) => f.path === '/var/lib/rancher/rke2/server/manifests/kube-vip.yaml',
  );
  expect(kubeVipEnv(file.content)).toMatchObject({
    address: vip,
    port: '6443',
    vip_subnet: '32',
    vip_interface: 'ens18',
  });
  expect(cp.spec.registrationMethod).toBe('control-plane-endpoint');
});

test('k0s: the first K0sControlPlane enables keepalived with the VIP and the pool prefix', async () => {
  await createCluster(ns, 'kz', 'k0s', undefined, announce({ keepalived: { virtualRouterID: 42 } }));
  const { cp, cluster } = await firstControlPlane('k0s', 'kz');
  const vip = cluster.metadata.annotations[VIP_ANNOTATION];
  const k0s = cp.spec.k0sConfigSpec.k0s.spec;
  expect(k0s.network.controlPlaneLoadBalancing).toMatchObject({
    enabled: true,
    type: 'Keepalived',
    keepalived: { vrrpInstances: [{ virtualIPs: [`${vip}/24`], virtualRouterID: 42 }] },
  });
  expect(k0s.api.sans).toEqual([vip]);
  expect(cp.spec.k0sConfigSpec.args).toEqual(['--enable-worker']);
});

test('clusterVip: a class of the original implementation renders the VIP on the first control plane', async () => {
  await createCluster(ns, 'old', 'legacy', undefined, RKE2_VERSION);
  const { cp, cluster } = await firstControlPlane('proxmox', 'old');
  const vip = cluster.metadata.annotations[VIP_ANNOTATION];
  expect(cluster.spec.topology.variables).toContainEqual({ name: 'clusterVip', value: vip });
  expect(cp.spec.serverConfig.tlsSan).toEqual([vip]);
});

test('a hand-set endpoint reaches the InfrastructureCluster and kube-vip, and nothing is claimed', async () => {
  await createCluster(ns, 'byhand', 'kubeadm', { host: '192.0.2.50', port: 7443 }, announce());
  const { cp, cluster } = await firstControlPlane('capd', 'byhand');
  expect(cluster.spec.controlPlaneEndpoint).toEqual({ host: '192.0.2.50', port: 7443 });
  expect(firsts.infra.endpointOf(cluster.spec.infrastructureRef.name)).toEqual({
    host: '192.0.2.50',
    port: 7443,
  });
  const file = cp.spec.kubeadmConfigSpec.files.find((f: Json) => f.path === KUBE_VIP);
  expect(kubeVipEnv(file.content)).toMatchObject({ address: '192.0.2.50', port: '7443' });
  const claim = await readOrUndefined({
    apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
    kind: 'IPAddressClaim',
    metadata: { name: 'vip-cp-byhand', namespace: ns },
  });
  expect(claim).toBeUndefined();
});

test('a value a profile cannot use stops the topology with a message naming Cluster and field', async () => {
  await createCluster(ns, 'badif', 'kubeadm', undefined, announce({ interface: 'eth 0' }));
  const message = await blockedWith('badif', 'vipAllocator.interface');
  expect(message).toContain(
    `Cluster ${ns}/badif: variable vipAllocator.interface "eth 0" is not a Linux interface name`,
  );
  expect((await readCluster(ns, 'badif'))?.spec?.controlPlaneRef).toBeUndefined();
});

test('a class that ships its own kube-vip file gets a message naming the file, not a rejected object', async () => {
  await createCluster(ns, 'clash', 'ownkv', undefined, announce());
  const message = await blockedWith('clash', KUBE_VIP);
  expect(message).toContain(`KubeadmControlPlaneTemplate ${ns}/ownkv already writes ${KUBE_VIP}`);
});
