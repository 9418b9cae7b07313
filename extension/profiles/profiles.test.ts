import { loadAllYaml } from '@kubernetes/client-node';
import { authPassFor, virtualRouterIdFor } from './k0s.js';
import { USE_ADMIN, USE_SUPER_ADMIN } from './kubeadm.js';
import type { Vip } from '../../shared/vip.js';
import type { AnnounceInput } from './profile.js';
import { PROFILES_BY_KIND, profileFor } from './profiles.js';
import {
  DEFAULT_KUBE_VIP_IMAGE,
  DEFAULT_LEADER_ELECTION,
  type VipAllocatorSettings,
} from '../../shared/vip-allocator-variable.js';

const settings = (overrides: Partial<VipAllocatorSettings> = {}): VipAllocatorSettings => ({
  announce: true,
  kubeVipImage: DEFAULT_KUBE_VIP_IMAGE,
  leaderElection: DEFAULT_LEADER_ELECTION,
  keepalived: {},
  ...overrides,
});

const input = (overrides: Partial<AnnounceInput> = {}, vip: Partial<Vip> = {}): AnnounceInput => ({
  cluster: 'ns/c1',
  template: 'KubeadmControlPlaneTemplate ns/cc',
  vip: { host: '10.0.0.10', port: 6443, ...vip },
  settings: settings(),
  kubernetesVersion: 'v1.34.0',
  ...overrides,
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function announce(kind: string, spec: Json, given = input()): Json {
  const template = {
    apiVersion: 'controlplane.cluster.x-k8s.io/v1beta2',
    kind,
    spec: { template: { spec } },
  };
  profileFor(kind)?.announce(template, given);
  return template.spec.template.spec;
}

/** The kube-vip container's env as a map, from a manifest's Pod or DaemonSet. */
function kubeVipEnv(manifest: string): Record<string, string> {
  const docs = loadAllYaml(manifest) as Json[];
  const podSpec =
    docs.find((d) => d.kind === 'Pod')?.spec ?? docs.find((d) => d.kind === 'DaemonSet')?.spec.template.spec;
  return Object.fromEntries(
    (podSpec.containers[0].env as { name: string; value?: string }[]).map((e) => [e.name, e.value ?? '']),
  );
}

describe('kubeadm', () => {
  const kind = 'KubeadmControlPlaneTemplate';
  test('adds the static pod and the super-admin switch, creating the lists', () => {
    const spec = announce(kind, { kubeadmConfigSpec: {} }).kubeadmConfigSpec;
    expect(spec.files).toHaveLength(1);
    expect(spec.files[0]).toMatchObject({
      path: '/etc/kubernetes/manifests/kube-vip.yaml',
      owner: 'root:root',
    });
    expect(kubeVipEnv(spec.files[0].content)).toMatchObject({
      address: '10.0.0.10',
      port: '6443',
      vip_subnet: '32',
      cp_enable: 'true',
      vip_arp: 'true',
    });
    expect(spec.preKubeadmCommands).toEqual([USE_SUPER_ADMIN]);
    expect(spec.postKubeadmCommands).toEqual([USE_ADMIN]);
    expect(spec.clusterConfiguration).toBeUndefined();
  });
  test('appends to the lists a class already has', () => {
    const spec = announce(kind, {
      kubeadmConfigSpec: {
        files: [{ path: '/etc/motd', content: 'hi' }],
        preKubeadmCommands: ['echo pre'],
        postKubeadmCommands: ['echo post'],
      },
    }).kubeadmConfigSpec;
    expect(spec.files.map((f: Json) => f.path)).toEqual([
      '/etc/motd',
      '/etc/kubernetes/manifests/kube-vip.yaml',
    ]);
    expect(spec.preKubeadmCommands).toEqual(['echo pre', USE_SUPER_ADMIN]);
    expect(spec.postKubeadmCommands).toEqual(['echo post', USE_ADMIN]);
  });
  test('before Kubernetes 1.29 admin.conf works from the start: no switch', () => {
    const spec = announce(kind, {}, input({ kubernetesVersion: 'v1.28.9' })).kubeadmConfigSpec;
    expect(spec.preKubeadmCommands).toBeUndefined();
  });
  test('the switch rewrites exactly the hostPath line of the pod', () => {
    const content: string = announce(kind, {}).kubeadmConfigSpec.files[0].content;
    expect(content).toContain('path: /etc/kubernetes/admin.conf\n');
    expect(USE_SUPER_ADMIN).toContain(
      "'s#path: /etc/kubernetes/admin.conf#path: /etc/kubernetes/super-admin.conf#'",
    );
  });
  test('the switch knows `kubeadm init` under cloud-init and under Ignition, without matching itself', () => {
    // test/alive runs these on real files; here, the two signals and the anchored pattern.
    for (const command of [USE_SUPER_ADMIN, USE_ADMIN]) {
      expect(command).toContain('[ -f /run/kubeadm/kubeadm.yaml ]');
      expect(command).toContain("grep -qs '^kubeadm init ' /etc/kubeadm.sh");
    }
  });
  test('the lease timings reach the pod', () => {
    const env = kubeVipEnv(announce(kind, {}).kubeadmConfigSpec.files[0].content);
    expect(env).toMatchObject({ vip_leaseduration: '5', vip_renewdeadline: '3', vip_retryperiod: '1' });
    const given = input({
      settings: settings({
        leaderElection: { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
      }),
    });
    expect(kubeVipEnv(announce(kind, {}, given).kubeadmConfigSpec.files[0].content)).toMatchObject({
      vip_leaseduration: '15',
      vip_renewdeadline: '10',
      vip_retryperiod: '2',
    });
  });
  test('a class that ships its own kube-vip file gets a message naming the file', () => {
    expect(() =>
      announce(kind, { kubeadmConfigSpec: { files: [{ path: '/etc/kubernetes/manifests/kube-vip.yaml' }] } }),
    ).toThrow(
      'Cluster ns/c1: KubeadmControlPlaneTemplate ns/cc already writes /etc/kubernetes/manifests/kube-vip.yaml',
    );
  });
  test('IPv6 gets subnet 128; the dual-stack pair gives both addresses and a SAN for the second', () => {
    const v6 = announce(kind, {}, input({}, { host: 'fd00::10' })).kubeadmConfigSpec;
    expect(kubeVipEnv(v6.files[0].content)).toMatchObject({ address: 'fd00::10', vip_subnet: '128' });
    const pair = announce(kind, {}, input({}, { secondary: 'fd00::10' })).kubeadmConfigSpec;
    expect(kubeVipEnv(pair.files[0].content)).toMatchObject({
      address: '10.0.0.10,fd00::10',
      vip_subnet: '32,128',
    });
    expect(pair.clusterConfiguration.apiServer.certSANs).toEqual(['fd00::10']);
  });
  test('the interface and image the Cluster chose reach the pod', () => {
    const given = input({
      settings: settings({ interface: 'ens192', kubeVipImage: 'r.local/kv:v1' }),
    });
    const content: string = announce(kind, {}, given).kubeadmConfigSpec.files[0].content;
    expect(kubeVipEnv(content).vip_interface).toBe('ens192');
    expect(content).toContain('image: r.local/kv:v1');
  });
});

describe('RKE2', () => {
  test('a kube-vip DaemonSet with its RBAC in the manifests folder; registrationMethod untouched', () => {
    const spec = announce('RKE2ControlPlaneTemplate', {
      registrationMethod: 'address',
      registrationAddress: '10.0.0.10',
    });
    expect(spec.registrationMethod).toBe('address');
    const file = spec.files[0];
    expect(file.path).toBe('/var/lib/rancher/rke2/server/manifests/kube-vip.yaml');
    const kinds = (loadAllYaml(file.content) as Json[]).map((d) => d.kind);
    expect(kinds).toEqual(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'DaemonSet']);
    expect(kubeVipEnv(file.content)).toMatchObject({ address: '10.0.0.10', port: '6443', vip_subnet: '32' });
    expect(spec.serverConfig).toBeUndefined();
  });
  test('the second address of a pair becomes a TLS SAN', () => {
    expect(
      announce(
        'RKE2ControlPlaneTemplate',
        { serverConfig: { tlsSan: ['a.example'] } },
        input({}, { secondary: 'fd00::1' }),
      ).serverConfig.tlsSan,
    ).toEqual(['a.example', 'fd00::1']);
  });
});

describe('k0s', () => {
  test('keepalived VRRP with the pool prefix, and the VIP in api.sans', () => {
    // (dual-stack pairs: see 'every profile serves a dual-stack pair in both orders' below)
    const spec = announce(
      'K0sControlPlaneTemplate',
      { k0sConfigSpec: { args: ['--debug'] } },
      input({}, { prefix: 24 }),
    );
    const k0s = spec.k0sConfigSpec.k0s;
    expect(k0s).toMatchObject({ apiVersion: 'k0s.k0sproject.io/v1beta1', kind: 'ClusterConfig' });
    expect(k0s.spec.network.controlPlaneLoadBalancing).toEqual({
      enabled: true,
      type: 'Keepalived',
      keepalived: {
        vrrpInstances: [
          { virtualIPs: ['10.0.0.10/24'], virtualRouterID: 21, authPass: authPassFor('ns/c1') },
        ],
      },
    });
    expect(k0s.spec.api.sans).toEqual(['10.0.0.10']);
    expect(spec.k0sConfigSpec.args).toEqual(['--debug']);
  });
  test('router ids differ for every two addresses of a pool of 255, and never change', () => {
    const ids = (from: number, count: number, at: (i: number) => string): Set<number> =>
      new Set(Array.from({ length: count }, (_, i) => virtualRouterIdFor(at(from + i))));
    // A /24 (.1–.254), a range across an octet boundary, and IPv6 pools with and without `::`.
    expect(ids(1, 254, (i) => `10.0.0.${i}`).size).toBe(254);
    expect(ids(200, 255, (i) => `10.0.${Math.floor(i / 256)}.${i % 256}`).size).toBe(255);
    expect(ids(0x100, 255, (i) => `fd00::${i.toString(16)}`).size).toBe(255);
    expect(
      ids(0xfff0, 255, (i) => `fd00:0:0:0:0:0:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`).size,
    ).toBe(255);
    for (const a of ['10.0.0.10', 'fd00::10', '::ffff:10.0.0.10', 'fd00::']) {
      expect(virtualRouterIdFor(a)).toBeGreaterThanOrEqual(1);
      expect(virtualRouterIdFor(a)).toBeLessThanOrEqual(255);
    }
    expect(virtualRouterIdFor('10.0.0.10')).toBe(21); // (10·256³ + 10) mod 255, plus one
    expect(virtualRouterIdFor('::ffff:10.0.0.10')).toBe(virtualRouterIdFor('10.0.0.10'));
    expect(authPassFor('ns/c1')).toHaveLength(8);
    expect(authPassFor('ns/c1')).not.toBe(authPassFor('ns/c2'));
  });
  test('k0s refuses load balancing with --single: a stop naming the field', () => {
    expect(() => announce('K0sControlPlaneTemplate', { k0sConfigSpec: { args: ['--single'] } })).toThrow(
      'Cluster ns/c1: KubeadmControlPlaneTemplate ns/cc runs k0s with --single (spec.template.spec.k0sConfigSpec.args)',
    );
  });
  test('router id and password the Cluster set are used', () => {
    const given = input({
      settings: settings({ interface: 'eth1', keepalived: { virtualRouterID: 9, authPass: 'pw' } }),
    });
    const vrrp = announce('K0sControlPlaneTemplate', {}, given).k0sConfigSpec.k0s.spec.network
      .controlPlaneLoadBalancing.keepalived.vrrpInstances[0];
    expect(vrrp).toEqual({
      virtualIPs: ['10.0.0.10/32'],
      virtualRouterID: 9,
      authPass: 'pw',
      interface: 'eth1',
    });
  });
  test('keeps the class’s own k0s config and SANs', () => {
    const spec = announce(
      'K0sControlPlaneTemplate',
      {
        k0sConfigSpec: {
          k0s: {
            apiVersion: 'k0s.k0sproject.io/v1beta1',
            kind: 'ClusterConfig',
            spec: { api: { sans: ['x.example'] }, telemetry: { enabled: false } },
          },
        },
      },
      input({}, { secondary: 'fd00::10' }),
    );
    expect(spec.k0sConfigSpec.k0s.spec.api.sans).toEqual(['x.example', '10.0.0.10', 'fd00::10']);
    expect(spec.k0sConfigSpec.k0s.spec.telemetry).toEqual({ enabled: false });
  });
  test('a class with its own control-plane load balancing gets a message', () => {
    expect(() =>
      announce('K0sControlPlaneTemplate', {
        k0sConfigSpec: { k0s: { spec: { network: { controlPlaneLoadBalancing: { enabled: true } } } } },
      }),
    ).toThrow('already enables k0s spec.network.controlPlaneLoadBalancing');
  });
});

test('CK8s ships the very DaemonSet RKE2 does (test/alive runs the RKE2 one for both)', () => {
  const pair = input({}, { secondary: 'fd00::1' });
  const rke2 = announce('RKE2ControlPlaneTemplate', {}, pair).files[0].content;
  const ck8s = announce('CK8sControlPlaneTemplate', { spec: {} }, pair).spec.files[0].content;
  expect(ck8s).toBe(rke2);
});

test('CK8s: the DaemonSet in /capi/manifests under the double spec', () => {
  const spec = announce('CK8sControlPlaneTemplate', { spec: {} }, input({}, { secondary: 'fd00::1' }));
  expect(spec.spec.files[0].path).toBe('/capi/manifests/kube-vip.yaml');
  expect(spec.spec.controlPlane.extraSANs).toEqual(['fd00::1']);
});

/** The kube-vip env of a kube-vip profile's file, whichever list it is in. */
function kubeVipFileEnv(spec: Json): Record<string, string> {
  const files: Json[] = spec.kubeadmConfigSpec?.files ?? spec.spec?.files ?? spec.files;
  return kubeVipEnv(files[0]?.content);
}

describe.each([
  ['IPv4 first', '198.18.0.100', 24, 'fd00::100', 64],
  ['IPv6 first', 'fd00::100', 64, '198.18.0.100', 24],
])('every profile serves a dual-stack pair, %s', (_, host, prefix, secondary, secondaryPrefix) => {
  const pair = input({}, { host, prefix, secondary, secondaryPrefix });
  test.each([
    ['KubeadmControlPlaneTemplate', {}],
    ['RKE2ControlPlaneTemplate', {}],
    ['CK8sControlPlaneTemplate', { spec: {} }],
  ])('%s: kube-vip carries both, masks in kube-vip order (IPv4, IPv6)', (kind, spec) => {
    expect(kubeVipFileEnv(announce(kind, spec, pair))).toMatchObject({
      address: `${host},${secondary}`,
      vip_subnet: '32,128',
    });
  });
  test('K0sControlPlaneTemplate: one VRRP instance per family, each with its own prefix and router id', () => {
    const lb = announce('K0sControlPlaneTemplate', {}, pair).k0sConfigSpec.k0s.spec.network
      .controlPlaneLoadBalancing;
    expect(lb.keepalived.vrrpInstances).toEqual([
      {
        virtualIPs: [`${host}/${prefix}`],
        virtualRouterID: virtualRouterIdFor(host),
        authPass: authPassFor('ns/c1'),
      },
      {
        virtualIPs: [`${secondary}/${secondaryPrefix}`],
        virtualRouterID: virtualRouterIdFor(secondary),
        authPass: authPassFor('ns/c1'),
      },
    ]);
  });
});

test.each([
  ['198.18.0.100', '32'],
  ['fd00::100', '128'],
])('a single %s gets vip_subnet %s', (host, subnet) => {
  expect(kubeVipFileEnv(announce('KubeadmControlPlaneTemplate', {}, input({}, { host })))).toMatchObject({
    address: host,
    vip_subnet: subnet,
  });
});

test('the table serves the four kinds and nothing inherited', () => {
  expect(Object.keys(PROFILES_BY_KIND).sort()).toEqual([
    'CK8sControlPlaneTemplate',
    'K0sControlPlaneTemplate',
    'KubeadmControlPlaneTemplate',
    'RKE2ControlPlaneTemplate',
  ]);
  expect(profileFor('constructor')).toBeUndefined();
});
