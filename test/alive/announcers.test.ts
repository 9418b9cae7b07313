/**
 * The VIP answers. Real Clusters go through the real CAPI manager and our extension; the
 * announcer each control-plane object carries then runs for real, as the node would run it, on
 * "control-plane nodes" made of network namespaces (./lab.ts): kube-vip v1.0.0 with the exact
 * args, env and mounts of the generated static pod (kubeadm) or DaemonSet (RKE2; CK8s ships the
 * same DaemonSet), and keepalived with the instances of the K0sControlPlane as k0s renders them.
 * From outside the nodes: exactly one node holds each VIP, /readyz answers through every VIP with
 * TLS verified for that address, and the VIP moves when its holder's announcer stops or its node
 * dies. The failover times are printed at the end (README: announcers).
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
} from '@kubernetes/client-node';
import { isIPv6 } from 'node:net';
import {
  clusterClass,
  CONTROL_PLANE,
  inClusterIPPool,
  vipLabels,
  type Obj,
  type Stack,
} from '../../hack/fixtures/fixtures.js';
import { createNamespace, deleteNamespace, eventually, events, kube } from '../../hack/fixtures/kube.js';
import { createCluster, FirstVersions, readCluster, VIP_ANNOTATION } from '../../hack/fixtures/vip.js';
import { keepalivedProcess, type VrrpInstance } from './k0s-keepalived.js';
import {
  KEEPALIVED,
  KUBE_VIP,
  Lab,
  LAB_POOLS,
  labUnavailable,
  type Node,
  type NodeProcess,
  type PodSpec,
} from './lab.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const SECONDARY = 'vip.capi.gorizond.io/control-plane-vip-secondary';
const unavailable = await labUnavailable();
if (unavailable) process.stderr.write(`test/alive skipped: ${unavailable}\n`);
const suite = unavailable ? describe.skip : describe;

/** How long a VIP stays with one holder before it counts as held: three VRRP adverts. */
const SETTLED_MS = 3000;
/** Failover times, printed after the suite. */
const measured: string[] = [];

suite('announcers on real addresses', () => {
  let lab: Lab;
  let ns: string;
  const firsts = {} as Record<Stack, FirstVersions>;

  beforeAll(async () => {
    lab = await Lab.create(3);
    ns = await createNamespace('alive');
    for (const stack of ['capd', 'proxmox', 'k0s'] as const) {
      firsts[stack] = await FirstVersions.start(stack, ns, CONTROL_PLANE[stack]);
    }
    const objs: Obj[] = [
      ...clusterClass('capd', ns, 'kubeadm', { discover: true, certSan: false }),
      ...clusterClass('proxmox', ns, 'rke2', { discover: true }),
      ...clusterClass('k0s', ns, 'k0s', { discover: true }),
    ];
    // One slice of the lab's ranges per class, so no two pools hand out the same address.
    const slice = (range: string, i: number): string => {
      const [from = ''] = range.split('-');
      const base = from.replace(/(\d+)$/, '');
      const first = Number(/(\d+)$/.exec(from)?.[1]) + i * 10;
      return `${base}${first}-${base}${first + 9}`;
    };
    for (const [i, cls] of ['kubeadm', 'rke2', 'k0s'].entries()) {
      objs.push(inClusterIPPool(ns, `${cls}-v4`, [slice(LAB_POOLS.v4[0], i)], { labels: vipLabels(cls) }));
      const v6 = inClusterIPPool(ns, `${cls}-v6`, [slice(LAB_POOLS.v6[0], i)], { labels: vipLabels(cls) });
      objs.push({ ...v6, spec: { ...v6.spec, prefix: 64 } });
    }
    for (const o of objs) await kube().objects.create(o);
    const settings = (extra: Json) => ({
      variables: [{ name: 'vipAllocator', value: { announce: true, ...extra } }],
    });
    await createCluster(ns, 'kv', 'kubeadm', undefined, settings({ ipFamilies: ['IPv4'] }));
    await createCluster(
      ns,
      'kv-slow',
      'kubeadm',
      undefined,
      settings({
        ipFamilies: ['IPv4'],
        leaderElection: { leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
      }),
    );
    await createCluster(ns, 'kv46', 'kubeadm', undefined, settings({ ipFamilies: ['IPv4', 'IPv6'] }));
    await createCluster(ns, 'kv64', 'kubeadm', undefined, settings({ ipFamilies: ['IPv6', 'IPv4'] }));
    await createCluster(ns, 'rk64', 'rke2', undefined, {
      ...settings({ ipFamilies: ['IPv6', 'IPv4'] }),
      version: 'v1.34.0+rke2r1',
    });
    await createCluster(ns, 'kz', 'k0s', undefined, settings({ ipFamilies: ['IPv4'] }));
    await createCluster(ns, 'kz64', 'k0s', undefined, settings({ ipFamilies: ['IPv6', 'IPv4'] }));
  }, 300_000);

  afterAll(async () => {
    Object.values(firsts).forEach((f) => f.stop());
    await lab?.destroy();
    if (ns) await deleteNamespace(ns);
    if (measured.length) process.stderr.write(`\nVIP failover (test/alive):\n${measured.join('\n')}\n`);
  });

  afterEach(() => lab?.reset());

  /** The first version of a Cluster's control-plane object, and the Cluster's VIPs. */
  async function controlPlane(stack: Stack, name: string): Promise<{ cp: Json; vips: string[] }> {
    const cluster = await eventually(`Cluster ${ns}/${name} to get its control plane`, async () => {
      const c = await readCluster(ns, name);
      return (c?.spec as Json | undefined)?.controlPlaneRef?.name ? c : undefined;
    });
    const cpName = (cluster.spec as Json).controlPlaneRef.name as string;
    const cp = await eventually(`the first ${CONTROL_PLANE[stack].kind} of ${name}`, async () =>
      firsts[stack].first.get(cpName),
    );
    const annotations = cluster.metadata.annotations ?? {};
    const vips = [annotations[VIP_ANNOTATION], annotations[SECONDARY]].filter((v): v is string => Boolean(v));
    return { cp: cp as Json, vips };
  }

  /** Exactly one node holds each VIP, and /readyz answers through each; returns the holder of the first. */
  async function answering(vips: readonly string[], what: string, announcer: string): Promise<string> {
    const holders = await Promise.all(
      vips.map((vip) => {
        const since: { holder?: string; at: number } = { at: 0 };
        return eventually(
          `${what}: one node to hold ${vip} and /readyz to answer through it`,
          async () => {
            const held = await lab.holders(vip);
            const holder = held.length === 1 && (await lab.readyz(vip)) === 200 ? held[0] : undefined;
            // Settled: the same holder for a while (VRRP peers of equal priority settle by address).
            if (holder !== since.holder) Object.assign(since, { holder, at: Date.now() });
            return holder && Date.now() - since.at >= SETTLED_MS ? holder : undefined;
          },
          60_000,
        ).catch(async (err: unknown) => {
          const held = await lab.holders(vip);
          throw new Error(
            `${(err as Error).message} (held by: ${held.join(', ') || 'none'}; /readyz: ${await lab.readyz(vip)})\n${await lab.logTails(announcer)}`,
          );
        });
      }),
    );
    for (const vip of vips) expect(await lab.holders(vip)).toHaveLength(1);
    return holders[0] ?? '';
  }

  /** Records the seconds from `act` until another node holds every VIP and /readyz answers through it. */
  async function failover(
    vips: readonly string[],
    from: string,
    act: () => Promise<void>,
    what: string,
  ): Promise<void> {
    const started = Date.now();
    await act();
    await Promise.all(
      vips.map((vip) =>
        eventually(
          `${what}: ${vip} to move off ${from}`,
          async () => {
            const held = await lab.holders(vip);
            return held.length === 1 && held[0] !== from && (await lab.readyz(vip)) === 200
              ? true
              : undefined;
          },
          90_000,
        ),
      ),
    );
    measured.push(`  ${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  const nodeNamed = (name: string): Node => {
    const node = lab.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  };

  /** Runs a kube-vip manifest's pod on every node; returns the processes by node. */
  async function runKubeVip(
    manifest: string,
    vips: readonly string[],
    token?: string,
  ): Promise<Map<string, NodeProcess>> {
    const docs = loadAllYaml(manifest) as Json[];
    const pod = (docs.find((d) => d.kind === 'Pod')?.spec ??
      docs.find((d) => d.kind === 'DaemonSet')?.spec.template.spec) as PodSpec;
    // kubeadm writes the endpoint into admin.conf; kube-vip talks to `kubernetes:<port>` regardless.
    const kubeconfig = await lab.kubeconfig(
      `https://${isIPv6(vips[0] ?? '') ? `[${vips[0]}]` : vips[0]}:6443`,
    );
    const hostFiles = {
      '/etc/kubernetes/admin.conf': kubeconfig,
      '/etc/kubernetes/super-admin.conf': kubeconfig,
    };
    const procs = new Map<string, NodeProcess>();
    for (const node of lab.nodes)
      procs.set(node.name, await lab.runPod(node, 'kube-vip', KUBE_VIP, pod, hostFiles, token));
    return procs;
  }

  /**
   * An announcer up on every node: the VIPs answer; then the holder's announcer stops (SIGTERM), and
   * then the next holder's node dies. A pair's addresses may sit on different nodes (keepalived runs
   * one VRRP instance per family): each step moves those the holder of the first VIP held.
   */
  async function lifecycle(
    row: string,
    announcer: string,
    vips: readonly string[],
    procs: Map<string, NodeProcess>,
  ): Promise<void> {
    const heldBy = async (node: string) =>
      (await Promise.all(vips.map(async (v) => ((await lab.holders(v))[0] === node ? [v] : [])))).flat();
    const first = await answering(vips, row, announcer);
    await failover(
      await heldBy(first),
      first,
      () => procs.get(first)?.stop('SIGTERM') ?? Promise.resolve(),
      `${row}: holder's ${announcer} stopped (SIGTERM)`,
    );
    const second = await answering(vips, row, announcer);
    await failover(
      await heldBy(second),
      second,
      () => lab.killNode(nodeNamed(second)),
      `${row}: holder's node killed (SIGKILL, link down)`,
    );
  }

  const KUBE_VIP_POD = '/etc/kubernetes/manifests/kube-vip.yaml';

  /** A kubeadm row: the static pod, and the API server's SANs as kubeadm makes them (endpoint + certSANs). */
  async function kubeadmRow(name: string): Promise<{ manifest: string; vips: string[] }> {
    const { cp, vips } = await controlPlane('capd', name);
    const spec = cp.spec.kubeadmConfigSpec;
    const manifest = (spec.files as Json[]).find((f) => f.path === KUBE_VIP_POD)?.content as string;
    expect(manifest).toBeDefined();
    const sans = [
      vips[0] ?? '',
      ...((spec.clusterConfiguration?.apiServer?.certSANs as string[] | undefined) ?? []),
    ];
    await lab.startApiservers(name, sans);
    return { manifest, vips };
  }

  test('kubeadm, one IPv4 VIP: held by one node, answering, moving on stop and on node death', async () => {
    const { manifest, vips } = await kubeadmRow('kv');
    expect(vips).toHaveLength(1);
    await lifecycle('kubeadm IPv4, lease 5/3/1', 'kube-vip', vips, await runKubeVip(manifest, vips));
  }, 300_000);

  test('kubeadm with the 15/10/2 lease CAPV and CAREN write: the same, slower on node death', async () => {
    const { manifest, vips } = await kubeadmRow('kv-slow');
    await lifecycle('kubeadm IPv4, lease 15/10/2', 'kube-vip', vips, await runKubeVip(manifest, vips));
  }, 300_000);

  test.each(['kv46', 'kv64'])(
    'kubeadm, dual-stack pair %s: both addresses held by one node and answering',
    async (name) => {
      const { manifest, vips } = await kubeadmRow(name);
      expect(vips).toHaveLength(2);
      await runKubeVip(manifest, vips);
      await answering(vips, name, 'kube-vip');
    },
    300_000,
  );

  test('RKE2, IPv6-first pair: the DaemonSet with its own RBAC and service account token', async () => {
    const { cp, vips } = await controlPlane('proxmox', 'rk64');
    const manifest = (cp.spec.files as Json[]).find((f) => String(f.path).endsWith('/kube-vip.yaml'))
      ?.content as string;
    // RKE2 adds the endpoint host to tls-san; the profile adds the pair's second address.
    const sans = [vips[0] ?? '', ...((cp.spec.serverConfig?.tlsSan as string[] | undefined) ?? [])];
    await lab.startApiservers('rk64', sans);
    const kc = new KubeConfig();
    kc.loadFromString(await lab.kubeconfig(`https://${lab.nodes[0]?.ipv4}:6443`));
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const docs = (loadAllYaml(manifest) as Json[]).filter((d) => d.kind !== 'DaemonSet');
    for (const doc of docs)
      await eventually(`${doc.kind} ${doc.metadata.name} to be created`, () => objects.create(doc));
    const tokenRequest = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
      name: 'kube-vip',
      namespace: 'kube-system',
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const procs = await runKubeVip(manifest, vips, tokenRequest.status?.token);
    await lifecycle('RKE2 DaemonSet, IPv6-first pair', 'kube-vip', vips, procs);
  }, 300_000);

  /** A k0s row: keepalived as k0s runs it, API servers with k0s' SANs (api.sans and externalAddress). */
  async function k0sRow(name: string): Promise<void> {
    const { cp, vips } = await controlPlane('k0s', name);
    const k0s = cp.spec.k0sConfigSpec.k0s.spec;
    const instances = k0s.network.controlPlaneLoadBalancing.keepalived.vrrpInstances as VrrpInstance[];
    expect(instances).toHaveLength(vips.length);
    // k0smotron writes the endpoint host to api.externalAddress, which k0s puts in the certificate.
    const sans = [vips[0] ?? '', ...(k0s.api.sans as string[])];
    await lab.startApiservers(name, sans);
    const procs = new Map<string, NodeProcess>();
    for (const node of lab.nodes) {
      const { argv, files } = keepalivedProcess(KEEPALIVED, instances, 'eth0');
      procs.set(node.name, await lab.spawn(node, 'keepalived', argv, { files }));
    }
    await lifecycle(
      `k0s keepalived, ${vips.length === 1 ? 'IPv4' : 'IPv6-first pair'}`,
      'keepalived',
      vips,
      procs,
    );
  }

  test('k0s, one IPv4 VIP: keepalived holds it on one node, answering, moving on stop and on node death', async () => {
    await k0sRow('kz');
  }, 300_000);

  test('k0s, IPv6-first pair: one VRRP instance per family, both answering', async () => {
    await k0sRow('kz64');
  }, 400_000);

  test('CAPI reaches the API server through the VIP: the Cluster says when its VIP answers', async () => {
    const { manifest, vips } = await kubeadmRow('kv');
    await runKubeVip(manifest, vips);
    await answering(vips, 'kubeadm IPv4', 'kube-vip');
    // What CAPD and KCP would do once the machines are up: the infrastructure is provisioned, and
    // the Cluster's kubeconfig points at https://<VIP>:6443.
    const cluster = await readCluster(ns, 'kv');
    const infra = (cluster?.spec as Json).infrastructureRef.name as string;
    await kube()
      .kc.makeApiClient(CustomObjectsApi)
      .patchNamespacedCustomObjectStatus({
        group: 'infrastructure.cluster.x-k8s.io',
        version: 'v1beta2',
        namespace: ns,
        plural: 'dockerclusters',
        name: infra,
        body: [{ op: 'add', path: '/status', value: { initialization: { provisioned: true } } }],
      });
    await kube().core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'kv-kubeconfig', labels: { 'cluster.x-k8s.io/cluster-name': 'kv' } },
        type: 'cluster.x-k8s.io/secret',
        stringData: { value: await lab.kubeconfig(`https://${vips[0]}:6443`) },
      },
    });
    const answered = await eventually(
      'the Cluster to record that its VIP answers',
      async () => {
        const c = await readCluster(ns, 'kv');
        return c?.metadata.annotations?.['vip.capi.gorizond.io/answering-since'] ? c : undefined;
      },
      180_000,
    ).catch(async (err: unknown) => {
      const c = await readCluster(ns, 'kv');
      throw new Error(`${(err as Error).message}; conditions: ${JSON.stringify(c?.status?.conditions)}`);
    });
    expect(answered.status?.conditions?.find((c) => c.type === 'RemoteConnectionProbe')?.status).toBe('True');
    const notes = await eventually('the VIPAnswering Event', async () => {
      const found = (await events(ns)).filter(
        (e) => e.reason === 'VIPAnswering' && e.regarding?.name === 'kv',
      );
      return found.length ? found.map((e) => e.note ?? '') : undefined;
    });
    expect(notes).toEqual([
      expect.stringContaining(
        `Control-plane VIP ${vips[0]}:6443 answers: CAPI reached the API server through it`,
      ),
    ]);
  }, 300_000);

  /** Which kubeconfig the static pod mounts, in a manifest's text. */
  const mountedKubeconfig = (manifest: string) =>
    /path: (\/etc\/kubernetes\/[\w-]+\.conf)/.exec(manifest)?.[1];

  test.each([
    ['cloud-init', 'init', '/etc/kubernetes/super-admin.conf'],
    ['cloud-init', 'join', '/etc/kubernetes/admin.conf'],
    ['Ignition', 'init', '/etc/kubernetes/super-admin.conf'],
    ['Ignition', 'join', '/etc/kubernetes/admin.conf'],
  ])(
    'the super-admin switch under %s, kubeadm %s: the pod uses %s while kubeadm runs, admin.conf after',
    async (bootstrap, phase, during) => {
      const { cp } = await controlPlane('capd', 'kv');
      const spec = cp.spec.kubeadmConfigSpec;
      const pre = spec.preKubeadmCommands as string[];
      const post = spec.postKubeadmCommands as string[];
      const files: Record<string, string> = Object.fromEntries(
        (spec.files as Json[]).map((f) => [f.path as string, f.content as string]),
      );
      expect(mountedKubeconfig(files[KUBE_VIP_POD] ?? '')).toBe('/etc/kubernetes/admin.conf');
      // A kubeadm that records which kubeconfig the static pod mounts while kubeadm runs.
      files['/run/bin/kubeadm'] =
        `#!/bin/sh\ngrep -o 'path: /etc/kubernetes/[a-z-]*\\.conf' ${KUBE_VIP_POD} > /etc/during-kubeadm\n`;
      let script: string;
      if (bootstrap === 'cloud-init') {
        // CABPK's cloud-init: write_files, then runcmd (pre, kubeadm, post) as one sh script.
        const config =
          phase === 'init' ? '/run/kubeadm/kubeadm.yaml' : '/run/kubeadm/kubeadm-join-config.yaml';
        files[config] = 'apiVersion: kubeadm.k8s.io/v1beta4\n';
        files['/run/cluster-api/placeholder'] = '';
        script = '/run/runcmd';
        files[script] = [
          '#!/bin/sh',
          ...pre,
          `kubeadm ${phase} --config ${config} && echo success > /run/cluster-api/bootstrap-success.complete`,
          ...post,
          '',
        ].join('\n');
      } else {
        // CABPK's Ignition (bootstrap/kubeadm/pkg/ignition/clc): /etc/kubeadm.yml and /etc/kubeadm.sh, run by bash.
        files['/etc/kubeadm.yml'] = '---\napiVersion: kubeadm.k8s.io/v1beta4\n';
        script = '/etc/kubeadm.sh';
        files[script] = [
          '#!/bin/bash',
          'set -e',
          ...pre,
          '',
          `kubeadm ${phase} --config /etc/kubeadm.yml `,
          'mkdir -p /run/cluster-api && echo success > /run/cluster-api/bootstrap-success.complete',
          'mv /etc/kubeadm.yml /tmp/',
          ...post,
          '',
        ].join('\n');
      }
      const run = await lab.runOnce(
        `${bootstrap}-${phase}`,
        ['env', 'PATH=/run/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'bash', script],
        files,
      );
      expect(run).toMatchObject({ exitCode: 0 });
      expect((await run.read('/etc/during-kubeadm')).trim()).toBe(`path: ${during}`);
      expect(mountedKubeconfig(await run.read(KUBE_VIP_POD))).toBe('/etc/kubernetes/admin.conf');
    },
    120_000,
  );
});
