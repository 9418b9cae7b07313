/**
 * The plane's node (`up --node`), so the product runs as users run it: the image in Pods of a
 * Deployment behind a Service, which the host's CAPI manager calls. Debian's containerd and runc, a
 * CNI bridge of the plane's own, kubelet, kube-proxy and kube-scheduler v1.36.5 built from the
 * plane's Kubernetes module, cert-manager's controller, and Service names on the host. Pod traffic
 * stays on the bridge: anything a Pod sends elsewhere is dropped at the host (FORWARD), so the
 * in-use probe from a Pod hears silence and no packet leaves the machine.
 * What worked here, and why each setting: ../shared/docs/real-node.md.
 */
import { KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PAUSE_IMAGE } from '../image.js';
import { PINS } from '../versions.js';
import { binaryPath } from './build.js';
import type { Component } from './processes.js';
import { HOST, KUBECONFIG, PLANE_DIR, PLANE_NAME, PORTS, ROOT, type Log } from './paths.js';
import { mountPoints, unmountAll } from './mounts.js';
import { issue, kubeconfig, type Pki } from './pki.js';
import { clearHosts } from './service-hosts.js';

export const NODE_NAME = 'capi-vip-allocator-node';
export const BRIDGE = 'cva0';
export const POD_CIDR = '10.244.0.0/24';
/** The bridge's address: the Pods' gateway, the node's InternalIP, and where Pods reach the API server. */
export const NODE_IP = '10.244.0.1';
export const SERVICE_CIDR = '10.0.0.0/24';
export const NODE_DIR = path.join(PLANE_DIR, 'node');
/** kubelet keeps its certificates and plugin sockets here whatever --root-dir says. */
const KUBELET_DIR = '/var/lib/kubelet';
const CNI_STATE = '/var/lib/cni';
const CONTAINERD_SOCK = path.join(NODE_DIR, 'containerd.sock');
const FORWARD_CHAIN = 'CVA-NODE-FORWARD';

const run = (cmd: string, args: readonly string[]) => execa(cmd, [...args], { reject: false });

/** The node's kubectl against the plane, as users run it; the caller reads the exit code. */
export const kubectl = (...args: string[]) =>
  execa(binaryPath(PINS.kubernetesNode, 'kubectl'), args, { env: { KUBECONFIG }, reject: false });

/** kubectl that must succeed: its output, or an error naming the command and what it said. */
export async function kubectlOk(...args: string[]): Promise<string> {
  const result = await kubectl(...args);
  if (result.exitCode !== 0) {
    throw new Error(
      `kubectl ${args.join(' ')} failed (${result.exitCode}): ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

/** kube-proxy exits when its configuration file is written, even with the same content. */
async function writeConfig(file: string, content: string): Promise<void> {
  if ((await readFile(file, 'utf8').catch(() => undefined)) !== content) await writeFile(file, content);
}

/** A component's configuration (JSON, which its YAML reader takes) in the node's folder; its path. */
async function jsonConfig(name: string, config: Record<string, unknown>): Promise<string> {
  const file = path.join(NODE_DIR, name);
  await writeConfig(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/** Why this machine cannot run the node, or undefined when it can (suites skip with this line). */
export async function nodeUnavailable(): Promise<string | undefined> {
  if (PLANE_NAME) return `the node runs on the default plane only (this is plane ${PLANE_NAME})`;
  if (process.getuid?.() !== 0) return 'the node needs root (network, cgroups, mounts)';
  for (const file of ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/sbin/runc', '/usr/lib/cni/bridge']) {
    if (!existsSync(file)) {
      return `${file} is missing (apt-get install containerd runc containernetworking-plugins)`;
    }
  }
  const probe = await run('ip', ['link', 'add', 'cva-probe0', 'type', 'bridge']);
  if (probe.exitCode !== 0) return `cannot create a network bridge: ${probe.stderr.trim()}`;
  await run('ip', ['link', 'del', 'cva-probe0']);
  return undefined;
}

const kubeconfigFile = (who: string): string => path.join(NODE_DIR, `${who}.kubeconfig`);

/** Client certificates and kubeconfigs of the node's components, signed by the plane's CA. */
export async function ensureNodePki(pki: Pki): Promise<void> {
  await mkdir(NODE_DIR, { recursive: true });
  const server = `https://${HOST}:${PORTS.apiserver}`;
  const clients = {
    kubelet: { commonName: `system:node:${NODE_NAME}`, organization: 'system:nodes' },
    'kube-proxy': { commonName: 'system:kube-proxy' },
    'kube-scheduler': { commonName: 'system:kube-scheduler' },
    'cert-manager': { commonName: 'cert-manager', organization: 'system:masters' },
  };
  for (const [who, subject] of Object.entries(clients)) {
    const pair = await issue(`node-${who}`, { ...subject, usage: 'client' }, pki.ca);
    await writeFile(kubeconfigFile(who), await kubeconfig('local', server, pki.ca, pair), { mode: 0o600 });
  }
}

/** The API server's arguments that change with a node: Pods reach it on the bridge and get tokens. */
export const apiserverNodeArgs = (pki: Pki): string[] => [
  '--bind-address=0.0.0.0',
  `--advertise-address=${NODE_IP}`,
  `--service-cluster-ip-range=${SERVICE_CIDR}`,
  // Logs and exec: the kubelet takes only clients of the plane's CA.
  `--kubelet-client-certificate=${pki.admin.cert}`,
  `--kubelet-client-key=${pki.admin.key}`,
  // The node's name resolves nowhere; its InternalIP is the bridge.
  '--kubelet-preferred-address-types=InternalIP',
];

/** The controllers Deployments, Services and PodDisruptionBudgets need, and Pods' service accounts. */
export const controllerManagerNodeControllers = [
  'deployment-controller',
  'replicaset-controller',
  'endpointslice-controller',
  'serviceaccount-controller',
  'root-ca-certificate-publisher-controller',
  'disruption-controller',
  // Lifts the not-ready taint the kubelet registers with once the node is Ready.
  'node-lifecycle-controller',
];

/** Bridge, Service route and the FORWARD drop (removed by `teardownNode`). */
export async function setupNetwork(log: Log): Promise<void> {
  if ((await run('ip', ['link', 'show', BRIDGE])).exitCode !== 0) {
    await execa('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  }
  await run('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', BRIDGE]);
  await execa('ip', ['link', 'set', BRIDGE, 'up']);
  // No ClusterIP packet may leave through the default route (it accepts any TCP connection here).
  await execa('ip', ['route', 'replace', SERVICE_CIDR, 'dev', BRIDGE]);
  // Pods talk to the bridge and the host only. Anything else is dropped, never refused: a Pod's
  // in-use probe then hears silence and reads the address free (a refusal would read as a host),
  // and nothing reaches the machine's network even where it forwards IPv4.
  if ((await run('iptables', ['-n', '-L', FORWARD_CHAIN])).exitCode !== 0) {
    await execa('iptables', ['-N', FORWARD_CHAIN]);
    await execa('iptables', ['-A', FORWARD_CHAIN, '-j', 'DROP']);
  }
  const jump = ['FORWARD', '-i', BRIDGE, '!', '-o', BRIDGE, '-j', FORWARD_CHAIN];
  if ((await run('iptables', ['-C', ...jump])).exitCode !== 0) await execa('iptables', ['-I', ...jump]);
  const cniDir = path.join(NODE_DIR, 'cni');
  await mkdir(cniDir, { recursive: true });
  await writeFile(
    path.join(cniDir, '10-capi-vip-allocator.conflist'),
    JSON.stringify(
      {
        cniVersion: '0.4.0',
        name: 'capi-vip-allocator',
        plugins: [
          {
            type: 'bridge',
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: POD_CIDR, gateway: NODE_IP }]],
              routes: [{ dst: '0.0.0.0/0' }],
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ),
  );
  log(`  node network: bridge ${BRIDGE} ${NODE_IP}/24, Services ${SERVICE_CIDR} routed onto it`);
}

export async function containerd(): Promise<Component> {
  const config = path.join(NODE_DIR, 'containerd.toml');
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  await writeConfig(
    config,
    [
      'version = 2',
      `root = "${path.join(NODE_DIR, 'containerd')}"`,
      `state = "${path.join(NODE_DIR, 'containerd-state')}"`,
      '[grpc]',
      `  address = "${CONTAINERD_SOCK}"`,
      '[metrics]',
      `  address = "${HOST}:${PORTS.containerdMetrics}"`,
      cri,
      `  sandbox_image = "${PAUSE_IMAGE}"`,
      // Root here may not lower OOM scores: without it every sandbox fails to start.
      '  restrict_oom_score_adj = true',
      `${cri.slice(0, -1)}.containerd]`,
      '  snapshotter = "overlayfs"',
      '  default_runtime_name = "runc"',
      `${cri.slice(0, -1)}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `${cri.slice(0, -1)}.containerd.runtimes.runc.options]`,
      '  SystemdCgroup = false',
      `${cri.slice(0, -1)}.cni]`,
      '  bin_dir = "/usr/lib/cni"',
      `  conf_dir = "${path.join(NODE_DIR, 'cni')}"`,
      '',
    ].join('\n'),
  );
  return {
    name: 'containerd',
    binary: '/usr/bin/containerd',
    args: ['--config', config],
    probe: { url: `http://${HOST}:${PORTS.containerdMetrics}/v1/metrics` },
    readySeconds: 30,
  };
}

/** Loads a `docker save` archive into the node's containerd (no registry is reachable). */
export async function importImage(archive: string): Promise<void> {
  await execa('ctr', ['--address', CONTAINERD_SOCK, '-n', 'k8s.io', 'images', 'import', archive]);
}

export async function kubelet(pki: Pki): Promise<Component> {
  const config = await jsonConfig('kubelet.yaml', {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NODE_IP,
    port: PORTS.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: HOST,
    healthzPort: PORTS.kubeletHealthz,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: false },
      x509: { clientCAFile: pki.ca.cert },
    },
    authorization: { mode: 'AlwaysAllow' },
    // cgroup v1 without systemd on these machines (a deprecation warning only).
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    failSwapOn: false,
    containerRuntimeEndpoint: `unix://${CONTAINERD_SOCK}`,
    // Images are imported, never pulled: the kubelet must not collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '50Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    // No cluster DNS: Pods resolve as the host does; the product reaches the API server by IP.
    resolvConf: '/etc/resolv.conf',
    serializeImagePulls: false,
  });
  return {
    name: 'kubelet',
    binary: binaryPath(PINS.kubernetesNode, 'kubelet'),
    args: [
      `--config=${config}`,
      `--kubeconfig=${kubeconfigFile('kubelet')}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
      `--root-dir=${KUBELET_DIR}`,
    ],
    probe: { url: `http://${HOST}:${PORTS.kubeletHealthz}/healthz` },
    readySeconds: 90,
  };
}

export async function kubeProxy(): Promise<Component> {
  const config = await jsonConfig('kube-proxy.yaml', {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: kubeconfigFile('kube-proxy') },
    hostnameOverride: NODE_NAME,
    mode: 'iptables',
    clusterCIDR: POD_CIDR,
    healthzBindAddress: `${HOST}:${PORTS.kubeProxyHealthz}`,
    metricsBindAddress: `${HOST}:${PORTS.kubeProxyMetrics}`,
    // The host's conntrack settings are not the plane's to change.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    iptables: { localhostNodePorts: false },
    // NodePorts on the bridge only, never on the machine's own interfaces.
    nodePortAddresses: [`${NODE_IP}/32`],
  });
  return {
    name: 'kube-proxy',
    binary: binaryPath(PINS.kubernetesNode, 'kube-proxy'),
    args: [`--config=${config}`],
    probe: { url: `http://${HOST}:${PORTS.kubeProxyHealthz}/healthz` },
    readySeconds: 60,
  };
}

export function kubeScheduler(pki: Pki): Component {
  return {
    name: 'kube-scheduler',
    binary: binaryPath(PINS.kubernetesNode, 'kube-scheduler'),
    args: [
      `--kubeconfig=${kubeconfigFile('kube-scheduler')}`,
      `--secure-port=${PORTS.scheduler}`,
      `--bind-address=${HOST}`,
      `--tls-cert-file=${pki.controllerManager.cert}`,
      `--tls-private-key-file=${pki.controllerManager.key}`,
      '--leader-elect=false',
    ],
    probe: { url: `https://${HOST}:${PORTS.scheduler}/healthz`, tls: true },
    readySeconds: 60,
  };
}

export function certManager(): Component {
  return {
    name: 'cert-manager',
    binary: binaryPath(PINS.certManagerController, 'cert-manager-controller'),
    args: [
      `--kubeconfig=${kubeconfigFile('cert-manager')}`,
      '--leader-elect=false',
      `--health-address=${HOST}:${PORTS.certManagerHealth}`,
    ],
    probe: { url: `http://${HOST}:${PORTS.certManagerHealth}/healthz` },
    readySeconds: 60,
  };
}

export function serviceHosts(kubeconfigPath: string): Component {
  return {
    name: 'service-hosts',
    binary: process.execPath,
    args: [
      '--import',
      'tsx',
      path.join(ROOT, 'hack/control-plane/service-hosts.ts'),
      kubeconfigPath,
      String(PORTS.serviceHosts),
    ],
    probe: { url: `http://${HOST}:${PORTS.serviceHosts}/healthz` },
    readySeconds: 30,
  };
}

/** RBAC the plane's API server lacks without the Node authorizer: the kubelet acts as `system:node`. */
export async function applyNodeRbac(client: KubernetesObjectApi): Promise<void> {
  const binding: KubernetesObject & Record<string, unknown> = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'capi-vip-allocator-local-node' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: `system:node:${NODE_NAME}` }],
  };
  await client.patch(
    binding,
    undefined,
    undefined,
    'capi-vip-allocator-control-plane',
    true,
    PatchStrategy.ServerSideApply,
  );
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Visits a cgroup tree deepest first (a cgroup is removed only once its children are). */
async function eachCgroup(dir: string, visit: (dir: string) => Promise<void>): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) await eachCgroup(path.join(dir, e.name), visit);
  await visit(dir);
}

const NETNS_DIR = '/run/netns';

/**
 * What the node leaves on the machine once its processes are stopped: containers and their shims,
 * mounts, network namespaces, the kubelet's and kube-proxy's iptables chains and ours, cgroups,
 * the bridge with its routes, and the hosts block.
 */
export async function teardownNode(log: Log): Promise<void> {
  const cgroupRoot = '/sys/fs/cgroup';
  // The kubelet's and containerd's trees, in every cgroup v1 controller.
  const trees = (await readdir(cgroupRoot).catch(() => [])).flatMap((c) =>
    ['kubepods', 'kubepods.slice', 'k8s.io'].map((top) => path.join(cgroupRoot, c, top)),
  );
  for (const tree of trees) {
    await eachCgroup(tree, async (dir) => {
      const procs = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const pid of procs.split('\n').filter(Boolean)) killQuietly(Number(pid));
    });
  }
  // Shims outlive containerd; ours name its socket.
  const shims = await run('pgrep', ['-f', `containerd-shim.*${CONTAINERD_SOCK}`]);
  for (const pid of shims.stdout.split('\n').filter(Boolean)) killQuietly(Number(pid));
  const ours = (m: string) =>
    m.startsWith(NODE_DIR) || m.startsWith(KUBELET_DIR) || m.startsWith(`${NETNS_DIR}/cni-`);
  await unmountAll(ours);
  // `ip netns add` (the announcer lab's) binds /run/netns onto itself once: a CNI namespace mounted
  // before that is hidden under the bind, so it can be neither unmounted nor removed through it.
  if ((await mountPoints()).some(ours)) {
    await run('umount', ['-l', NETNS_DIR]);
    await unmountAll(ours);
  }
  for (const name of await readdir(NETNS_DIR).catch(() => [] as string[])) {
    if (name.startsWith('cni-')) await rm(path.join(NETNS_DIR, name), { force: true });
  }
  const proxy = binaryPath(PINS.kubernetesNode, 'kube-proxy');
  if (existsSync(proxy)) await run(proxy, ['--cleanup']);
  for (const tool of ['iptables', 'ip6tables']) {
    const saved = await run(`${tool}-save`, []);
    if (saved.exitCode !== 0 || !/KUBE-|CVA-NODE/.test(saved.stdout)) continue;
    const kept = saved.stdout
      .split('\n')
      .filter((l) => !/KUBE-|CVA-NODE/.test(l))
      .join('\n');
    await execa(`${tool}-restore`, [], { input: `${kept}\n` });
  }
  for (const tree of trees) await eachCgroup(tree, (dir) => rmdir(dir).catch(() => undefined));
  await run('ip', ['link', 'del', BRIDGE]);
  await clearHosts();
  // containerd's root stays: it holds the imported images, and nothing in it runs.
  for (const dir of [KUBELET_DIR, CNI_STATE, path.join(NODE_DIR, 'containerd-state')]) {
    await rm(dir, { recursive: true, force: true });
  }
  log('  node removed: containers, mounts, iptables chains, cgroups, bridge, hosts block');
}
