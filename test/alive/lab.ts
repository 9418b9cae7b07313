/**
 * A layer-2 lab for the announcers: "control-plane nodes" as network namespaces on a bridge this
 * process creates and deletes, with test addresses of our own (198.18.0.0/24, fd00:198:18::/64;
 * the host's own network is elsewhere) that nothing routes out: the nodes' default route is
 * on-link, and this side of the bridge does not forward. Each node runs what a real
 * control-plane node runs for the VIP: a kube-apiserver (the plane's binary; all share one etcd)
 * on port 6443, and the announcer, each in a private mount namespace that shows it files where its
 * pod or k0s would put them. The host's /etc and /run are never written.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binaryPath } from '../../hack/control-plane/build.js';
import { ensureServiceAccountKey, issue, kubeconfig, type KeyPair } from '../../hack/control-plane/pki.js';
import { eventually } from '../../hack/fixtures/kube.js';
import { PINS } from '../../hack/versions.js';

export const KUBE_APISERVER = binaryPath(PINS.kubernetes, 'kube-apiserver');
export const ETCD = binaryPath(PINS.etcd, 'etcd');
export const KUBE_VIP = binaryPath(PINS.kubeVip, 'kube-vip');
export const KEEPALIVED = '/usr/sbin/keepalived';

const PREFIX = 'cva';
const BRIDGE = `${PREFIX}-br0`;
const V4 = '198.18.0';
const V6 = 'fd00:198:18::';
const HOST_V4 = `${V4}.1`;
const ETCD_PORT = 23799;
export const API_PORT = 6443;
/** The announcers' addresses are taken from these pools (test/alive's classes). */
export const LAB_POOLS = { v4: [`${V4}.100-${V4}.140`], v6: [`${V6}100-${V6}140`] } as const;

/** Only the lab's own subnets are ever sent a packet. */
export function inLab(address: string): boolean {
  return isIPv6(address) ? address.startsWith(V6) : address.startsWith(`${V4}.`);
}

/** Why the lab cannot run here, or undefined when it can. */
export async function labUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root: network namespaces need CAP_NET_ADMIN';
  const probe = `${PREFIX}-probe-${process.pid}`;
  const made = await execa('ip', ['netns', 'add', probe], { reject: false });
  if (made.exitCode !== 0)
    return `cannot create a network namespace (ip netns add: ${made.stderr || made.message})`;
  await execa('ip', ['netns', 'del', probe], { reject: false });
  const shared = await execa('unshare', ['-m', '--propagation', 'private', 'true'], { reject: false });
  if (shared.exitCode !== 0) return `cannot create a mount namespace (unshare -m: ${shared.stderr})`;
  for (const binary of [KUBE_APISERVER, ETCD, KUBE_VIP, KEEPALIVED]) {
    if (!existsSync(binary)) {
      return binary === KEEPALIVED
        ? `${KEEPALIVED} is missing (apt-get install keepalived; .ci/run does)`
        : `${binary} is not built (npm run control-plane -- build)`;
    }
  }
  return undefined;
}

/** Files a process sees, by absolute path, over the host's /etc and an empty /run. */
export type Files = Readonly<Record<string, string>>;

/**
 * A process of a node, restarted one second after it exits (as kubelet restarts a pod's container
 * and k0s its keepalived) until the test stops or kills it.
 */
export class NodeProcess {
  #child?: ResultPromise;
  #stopped = false;
  readonly #start: () => ResultPromise;

  constructor(start: () => ResultPromise) {
    this.#start = start;
    this.#run();
  }

  #run(): void {
    const child = this.#start();
    this.#child = child;
    void child.then(() => {
      if (this.#stopped || this.#child !== child) return;
      setTimeout(() => this.#stopped || this.#run(), 1000);
    });
  }

  /** Stops it as kubelet stops a container (SIGTERM), and waits for it to exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    this.#stopped = true;
    this.#child?.kill(signal);
    await this.#child;
  }
}

export interface Node {
  readonly name: string;
  readonly netns: string;
  readonly ipv4: string;
  readonly ipv6: string;
  readonly dir: string;
}

/** What a pod of a generated manifest says about the container the lab runs. */
export interface PodSpec {
  readonly hostNetwork?: boolean;
  readonly hostAliases?: readonly { ip: string; hostnames: readonly string[] }[];
  readonly serviceAccountName?: string;
  readonly containers: readonly {
    readonly args?: readonly string[];
    readonly env?: readonly {
      name: string;
      value?: string;
      valueFrom?: { fieldRef?: { fieldPath: string } };
    }[];
    readonly volumeMounts?: readonly { name: string; mountPath: string }[];
  }[];
  readonly volumes?: readonly { name: string; hostPath?: { path: string } }[];
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const SERVICE_RANGE = '198.18.200.0/24';
/** The `kubernetes` Service's address: the range's first. */
const SERVICE_IP = '198.18.200.1';

export class Lab {
  readonly nodes: Node[];
  readonly dir: string;
  readonly #processes = new Map<string, NodeProcess[]>();
  #ca?: KeyPair;
  #admin?: KeyPair;
  #serviceAccount?: { key: string; pub: string };
  #apiservers: NodeProcess[] = [];

  private constructor(dir: string, count: number) {
    this.dir = dir;
    this.nodes = Array.from({ length: count }, (_, i) => ({
      name: `node-${i + 1}`,
      netns: `${PREFIX}-node-${i + 1}`,
      ipv4: `${V4}.${11 + i}`,
      ipv6: `${V6}${11 + i}`,
      dir: path.join(dir, `node-${i + 1}`),
    }));
  }

  /** The bridge, `count` nodes on it and an etcd beside it; what a crashed run left is removed first. */
  static async create(count: number): Promise<Lab> {
    await removeLeftovers();
    await vethsGone();
    const lab = new Lab(await mkdtemp(path.join(tmpdir(), 'capi-vip-alive-')), count);
    try {
      await lab.#build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  async #build(): Promise<void> {
    const ip = (...args: string[]) => execa('ip', args);
    await ip('link', 'add', BRIDGE, 'type', 'bridge');
    await ip('addr', 'add', `${HOST_V4}/24`, 'dev', BRIDGE);
    await ip('-6', 'addr', 'add', `${V6}1/64`, 'dev', BRIDGE, 'nodad');
    await ip('link', 'set', BRIDGE, 'up');
    for (const [i, node] of this.nodes.entries()) {
      await mkdir(node.dir, { recursive: true });
      const veth = `${PREFIX}-veth${i + 1}`;
      await ip('netns', 'add', node.netns);
      await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns);
      await ip('link', 'set', veth, 'master', BRIDGE, 'up');
      const inNs = (...args: string[]) => ip('-n', node.netns, ...args);
      await inNs('link', 'set', 'lo', 'up');
      await addAddresses(node);
      await linkUp(node);
    }
    this.#ca = await issue('ca', { commonName: 'alive-lab-ca', usage: 'ca' }, undefined, this.dir);
    this.#admin = await issue(
      'admin',
      { commonName: 'kubernetes-admin', organization: 'system:masters', usage: 'client' },
      this.#ca,
      this.dir,
    );
    this.#serviceAccount = await ensureServiceAccountKey(this.dir);
    await this.spawn(undefined, 'etcd', [
      ETCD,
      `--data-dir=${path.join(this.dir, 'etcd', 'data')}`,
      `--listen-client-urls=http://${HOST_V4}:${ETCD_PORT}`,
      `--advertise-client-urls=http://${HOST_V4}:${ETCD_PORT}`,
      '--listen-peer-urls=http://127.0.0.1:23798',
      '--initial-advertise-peer-urls=http://127.0.0.1:23798',
      '--initial-cluster=default=http://127.0.0.1:23798',
      '--unsafe-no-fsync=true',
    ]);
  }

  get ca(): KeyPair {
    if (!this.#ca) throw new Error('the lab has no CA');
    return this.#ca;
  }

  /**
   * The command that runs `argv` in the node's network namespace (the host's for `undefined`), with
   * the node's hostname, and a private mount namespace in which `files` appear: an overlay on /etc whose writes land in
   * `<dir>/etc`, an empty /run (/var/run) of its own, and with `privateTmp` an empty /tmp.
   */
  async #command(
    node: Node | undefined,
    dir: string,
    argv: readonly string[],
    files: Files,
    privateTmp = false,
  ): Promise<string[]> {
    // Fresh for each process: nothing one cluster's pod was shown may leak into the next one's.
    await rm(dir, { recursive: true, force: true });
    const [upper, work, run] = ['etc', 'work', 'run'].map((d) => path.join(dir, d)) as [
      string,
      string,
      string,
    ];
    for (const d of [upper, work, run]) await mkdir(d, { recursive: true });
    for (const [file, content] of Object.entries(files)) {
      const inRun = /^\/(var\/)?run\//.exec(file);
      if (!file.startsWith('/etc/') && !inRun)
        throw new Error(`the lab lays files in /etc and /run only: ${file}`);
      const target = inRun ? path.join(run, file.slice(inRun[0].length)) : path.join(upper, file.slice(5));
      await mkdir(path.dirname(target), { recursive: true });
      // Scripts (a `#!` line) are executable; keepalived refuses an executable config.
      await writeFile(target, content, { mode: content.startsWith('#!') ? 0o755 : 0o600 });
    }
    const mounts = [
      ...(node ? [`hostname ${node.name}`] : []),
      `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper},workdir=${work} /etc`,
      `mount -t tmpfs tmpfs /run`,
      `cp -a ${run}/. /run/`,
      ...(privateTmp ? ['mount -t tmpfs tmpfs /tmp'] : []),
      'exec "$@"',
    ].join(' && ');
    const inNetns = node ? ['ip', 'netns', 'exec', node.netns] : [];
    // A UTS namespace too: each node has its own hostname, as API servers' identities need.
    return [...inNetns, 'unshare', '-m', '-u', '--propagation', 'private', 'sh', '-c', mounts, 'sh', ...argv];
  }

  #env(dir: string, env: Record<string, string>): Record<string, string> {
    return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, ...env };
  }

  /** Starts `argv` on the node as #command lays it out; restarted when it exits, until stopped. */
  async spawn(
    node: Node | undefined,
    name: string,
    argv: readonly string[],
    { env = {}, files = {} }: { env?: Record<string, string>; files?: Files } = {},
  ): Promise<NodeProcess> {
    const dir = path.join(node?.dir ?? this.dir, name);
    const [command, ...args] = await this.#command(node, dir, argv, files);
    const log = path.join(dir, 'log');
    const proc = new NodeProcess(() => {
      const fd = openSync(log, 'a') as 3;
      const child = execa(command ?? '', args, {
        env: this.#env(dir, env),
        extendEnv: false,
        stdio: ['ignore', fd, fd],
        reject: false,
      });
      closeSync(fd);
      return child;
    });
    const key = node?.name ?? '';
    this.#processes.set(key, [...(this.#processes.get(key) ?? []), proc]);
    return proc;
  }

  /**
   * Runs `argv` once, with its own /tmp too, and returns its output and what it left in /etc
   * (`read('/etc/…')`): for bootstrap scripts that write to both.
   */
  async runOnce(
    name: string,
    argv: readonly string[],
    files: Files,
  ): Promise<{ exitCode: number; output: string; read: (file: string) => Promise<string> }> {
    const dir = path.join(this.dir, name);
    const [command, ...args] = await this.#command(undefined, dir, argv, files, true);
    const result = await execa(command ?? '', args, {
      env: this.#env(dir, {}),
      extendEnv: false,
      all: true,
      reject: false,
    });
    return {
      exitCode: result.exitCode ?? -1,
      output: result.all ?? '',
      read: (file) => readFile(path.join(dir, 'etc', file.replace(/^\/etc\//, '')), 'utf8'),
    };
  }

  /** A kubeconfig for the lab's admin, pointed at `server`, as kubeadm writes admin.conf. */
  async kubeconfig(server: string): Promise<string> {
    if (!this.#admin) throw new Error('the lab has no admin certificate');
    return kubeconfig('lab', server, this.ca, this.#admin);
  }

  /**
   * A kube-apiserver on every node, all on one etcd under a prefix of their own (a fresh cluster
   * per call), serving a certificate with the names every API server gets and exactly the
   * `addresses` the control-plane object asks for; resolves once every one is ready.
   */
  async startApiservers(cluster: string, addresses: readonly string[]): Promise<void> {
    const serviceAccount = this.#serviceAccount;
    if (!serviceAccount) throw new Error('the lab has no service-account key');
    await this.stopApiservers();
    this.#apiservers = await Promise.all(
      this.nodes.map(async (node) => {
        const cert = await issue(
          `apiserver-${cluster}`,
          {
            commonName: 'kube-apiserver',
            usage: 'server',
            sans: [...baseSans(node), ...[...new Set(addresses)].map((a) => `IP:${a}`)],
          },
          this.ca,
          node.dir,
        );
        return this.spawn(node, `kube-apiserver-${cluster}`, [
          KUBE_APISERVER,
          `--etcd-servers=http://${HOST_V4}:${ETCD_PORT}`,
          `--etcd-prefix=/${cluster}`,
          '--bind-address=::',
          `--secure-port=${API_PORT}`,
          `--advertise-address=${node.ipv4}`,
          `--tls-cert-file=${cert.cert}`,
          `--tls-private-key-file=${cert.key}`,
          `--client-ca-file=${this.ca.cert}`,
          `--service-cluster-ip-range=${SERVICE_RANGE}`,
          '--authorization-mode=RBAC',
          '--disable-admission-plugins=ServiceAccount',
          '--service-account-issuer=https://kubernetes.default.svc',
          `--service-account-key-file=${serviceAccount.pub}`,
          `--service-account-signing-key-file=${serviceAccount.key}`,
          `--cert-dir=${path.join(node.dir, `kube-apiserver-${cluster}`, 'certs')}`,
        ]);
      }),
    );
    await Promise.all(
      this.nodes.map((node) =>
        eventually(
          `the kube-apiserver of ${node.name} to be ready`,
          async () => ((await this.readyz(node.ipv4, node.ipv4)) === 200 ? true : undefined),
          120_000,
        ),
      ),
    );
  }

  async stopApiservers(): Promise<void> {
    await Promise.all(this.#apiservers.map((p) => p.stop('SIGKILL')));
    this.#apiservers = [];
  }

  /**
   * `GET https://<address>:6443/readyz`, TLS verified against the lab's CA for `address` itself:
   * the status, or 0 when nothing answers within a second. Sent only inside the lab.
   */
  async readyz(address: string, via = address): Promise<number> {
    if (!inLab(via)) throw new Error(`${via} is not a lab address: the lab sends nothing elsewhere`);
    const ca = await readFile(this.ca.cert);
    return new Promise((resolve) => {
      const req = https.get(
        {
          host: via,
          port: API_PORT,
          path: '/readyz',
          ca,
          servername: undefined,
          timeout: 1000,
          agent: false,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
    });
  }

  /** The nodes whose eth0 holds `address` (not counting a node whose link is down). */
  async holders(address: string): Promise<string[]> {
    const held = await Promise.all(
      this.nodes.map(async (node) => {
        const { stdout } = await execa('ip', ['-n', node.netns, '-o', 'addr', 'show', 'dev', 'eth0', 'up']);
        const family = isIPv6(address) ? 'inet6' : 'inet';
        return stdout
          .split('\n')
          .some((l) => l.includes(` ${family} ${address}/`) && !l.includes('dadfailed'))
          ? [node.name]
          : [];
      }),
    );
    return held.flat();
  }

  /**
   * Runs the container of a generated kube-vip pod on `node`: its args and env (the node's name for
   * `spec.nodeName`), each volume's host file (`hostFiles`, by host path) where the pod mounts it,
   * /etc/hosts with the pod's hostAliases, and for a service account, its token where a pod has it.
   */
  async runPod(
    node: Node,
    name: string,
    binary: string,
    pod: PodSpec,
    hostFiles: Readonly<Record<string, string>>,
    serviceAccountToken?: string,
  ): Promise<NodeProcess> {
    const [container] = pod.containers;
    if (!container) throw new Error(`the ${name} pod has no container`);
    const env: Record<string, string> = {};
    for (const e of container.env ?? []) {
      const field = e.valueFrom?.fieldRef?.fieldPath;
      if (field !== undefined && field !== 'spec.nodeName')
        throw new Error(`${name}: env ${e.name} from ${field}`);
      env[e.name] = field ? node.name : (e.value ?? '');
    }
    const files: Record<string, string> = {};
    for (const mount of container.volumeMounts ?? []) {
      const hostPath = pod.volumes?.find((v) => v.name === mount.name)?.hostPath?.path;
      const content = hostPath === undefined ? undefined : hostFiles[hostPath];
      if (content === undefined)
        throw new Error(`${name}: volume ${mount.name} (${hostPath}) has no file on ${node.name}`);
      files[mount.mountPath] = content;
    }
    // kubelet's hosts file for a hostNetwork pod: the node's, then the pod's aliases.
    const aliases = (pod.hostAliases ?? []).map((a) => `${a.ip}\t${a.hostnames.join(' ')}`);
    files['/etc/hosts'] = [readFileSync('/etc/hosts', 'utf8').trimEnd(), ...aliases, ''].join('\n');
    if (pod.serviceAccountName) {
      if (!serviceAccountToken)
        throw new Error(`${name}: service account ${pod.serviceAccountName} needs a token`);
      files[`${SERVICE_ACCOUNT_DIR}/token`] = serviceAccountToken;
      files[`${SERVICE_ACCOUNT_DIR}/ca.crt`] = await readFile(this.ca.cert, 'utf8');
      files[`${SERVICE_ACCOUNT_DIR}/namespace`] = 'kube-system';
      // What kubelet sets for the kubernetes Service; without kube-proxy here, the node's own API server.
      env.KUBERNETES_SERVICE_HOST = node.ipv4;
      env.KUBERNETES_SERVICE_PORT = String(API_PORT);
    }
    return this.spawn(node, name, [binary, ...(container.args ?? [])], { env, files });
  }

  /** The last lines each node's process `name` logged, for a failure message. */
  async logTails(name: string, lines = 12): Promise<string> {
    const tails = await Promise.all(
      this.nodes.map(async (node) => {
        const text = await readFile(path.join(node.dir, name, 'log'), 'utf8').catch(() => '(no log)');
        return `--- ${node.name} ${name}:\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
      }),
    );
    return tails.join('\n');
  }

  /** A node dies: every process on it is killed and its link goes down. */
  async killNode(node: Node): Promise<void> {
    // The link first: a dying announcer must not get a farewell out (keepalived's VRRP child sends
    // priority 0 when its parent dies), then every process in the namespace, children included.
    await execa('ip', ['-n', node.netns, 'link', 'set', 'eth0', 'down']);
    await killAll(node.netns);
    await Promise.all((this.#processes.get(node.name) ?? []).map((p) => p.stop('SIGKILL')));
  }

  /** Stops every process of the nodes and brings their links back up, for the next cluster. */
  async reset(): Promise<void> {
    for (const node of this.nodes) {
      await Promise.all((this.#processes.get(node.name) ?? []).map((p) => p.stop('SIGKILL')));
      this.#processes.set(node.name, []);
      // A SIGKILLed announcer leaves its VIPs behind: the next cluster starts from the node's own
      // (down and up again, so the link-local address NDP needs comes back too).
      await execa('ip', ['-n', node.netns, 'link', 'set', 'eth0', 'down']);
      await execa('ip', ['-n', node.netns, 'addr', 'flush', 'dev', 'eth0']);
      await addAddresses(node);
      await linkUp(node);
    }
    this.#apiservers = [];
  }

  async destroy(): Promise<void> {
    for (const procs of this.#processes.values()) await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await removeLeftovers();
    // ALIVE_KEEP_LAB=1 keeps every process's files and log for a look after a failure.
    if (process.env.ALIVE_KEEP_LAB)
      process.stderr.write(`test/alive: the lab's files are kept in ${this.dir}\n`);
    else await rm(this.dir, { recursive: true, force: true });
  }
}

async function addAddresses(node: Node): Promise<void> {
  await execa('ip', ['-n', node.netns, 'addr', 'add', `${node.ipv4}/24`, 'dev', 'eth0']);
  await execa('ip', ['-n', node.netns, '-6', 'addr', 'add', `${node.ipv6}/64`, 'dev', 'eth0', 'nodad']);
}

/**
 * The node's link up with its default route: kube-vip and k0s take that route's interface when none
 * is set. On-link: a packet for anywhere else only asks the bridge, where nothing answers for it.
 */
async function linkUp(node: Node): Promise<void> {
  await execa('ip', ['-n', node.netns, 'link', 'set', 'eth0', 'up']);
  await execa('ip', ['-n', node.netns, 'route', 'replace', 'default', 'dev', 'eth0']);
  await execa('ip', ['-n', node.netns, '-6', 'route', 'replace', 'default', 'dev', 'eth0']);
}

/** The SANs kubeadm (and RKE2, k0s) give every API server: its names, its node and the service. */
function baseSans(node: Node): string[] {
  return [
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
    `DNS:${node.name}`,
    `IP:${node.ipv4}`,
    `IP:${node.ipv6}`,
    `IP:${SERVICE_IP}`,
  ];
}

/** SIGKILL to every process in a network namespace. */
async function killAll(netns: string): Promise<void> {
  const pids = (await execa('ip', ['netns', 'pids', netns], { reject: false })).stdout;
  const running = pids.split('\n').filter(Boolean);
  if (running.length) await execa('kill', ['-KILL', ...running], { reject: false });
}

/** Namespaces and the bridge of a run that did not get to clean up: only names the lab owns. */
async function removeLeftovers(): Promise<void> {
  const { stdout } = await execa('ip', ['netns', 'list'], { reject: false });
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (!name.startsWith(`${PREFIX}-`)) continue;
    await killAll(name);
    await execa('ip', ['netns', 'del', name], { reject: false });
  }
  // The etcd beside the bridge: its data directory is the only argument naming a lab.
  await execa('pkill', ['-KILL', '-f', `--data-dir=${tmpdir()}/capi-vip-alive-`], { reject: false });
  await execa('ip', ['link', 'del', BRIDGE], { reject: false });
}

/**
 * The kernel frees a deleted namespace, and the veth ends in it, later: on a loaded machine more
 * than 30 s later (its cleanup waits for RCU grace periods). Only a new lab needs the names free,
 * so only creating one waits for them.
 */
async function vethsGone(): Promise<void> {
  await eventually(
    "the previous lab's veth pairs to be gone (the kernel frees deleted namespaces lazily)",
    async () => {
      const { stdout: links } = await execa('ip', ['-o', 'link', 'show']);
      return links.includes(`${PREFIX}-veth`) ? undefined : true;
    },
    180_000,
  );
}
