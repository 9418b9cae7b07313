/**
 * `npm run bench`: speed and memory of what users feel, on the local control plane, written to
 * BENCHMARKS.md. Loopback only; every loop is bounded.
 *  - GeneratePatches (called on every topology reconcile): in-process cost, and over HTTPS.
 *  - Cluster created → VIP on the Cluster → InfrastructureCluster born with it, through real CAPI.
 *  - Resident memory of the extension process after the run.
 */
import { CoreV1Api, KubernetesObjectApi, Watch, type KubernetesObject } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { generatePatches } from '../extension/hooks/generate-patches.js';
import type { GeneratePatchesRequest } from '../shared/kube/types.js';
import { EXTENSION_NAME } from './control-plane/components.js';
import { upExtension } from './control-plane/extension.js';
import { PKI_DIR, PORTS, ROOT } from './control-plane/paths.js';
import { loadKubeConfig, readState, up } from './control-plane/plane.js';

const PURE_CALLS = 20_000;
const HTTPS_CALLS = 2_000;
const CLUSTERS = 10;
const NAMESPACE = 'vip-bench';

const stderr = (m: string): void => void process.stderr.write(`${m}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const ms = (n: number): string => `${n.toFixed(2)} ms`;

/** A request shaped like CAPI's for a CAPD class: five templates, one of them the infra cluster. */
function sampleRequest(): GeneratePatchesRequest {
  const holder = (fieldPath: string) => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    namespace: 'ns',
    name: 'c1',
    fieldPath,
  });
  const item = (uid: string, kind: string, fieldPath: string) => ({
    uid,
    holderReference: holder(fieldPath),
    object: {
      apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta2',
      kind,
      spec: { template: { spec: { some: { nested: 'value' } } } },
    },
  });
  return {
    apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
    kind: 'GeneratePatchesRequest',
    variables: [
      {
        name: 'builtin',
        value: {
          cluster: {
            name: 'c1',
            namespace: 'ns',
            metadata: { annotations: { 'vip.capi.gorizond.io/control-plane-vip': '10.0.0.10' } },
          },
        },
      },
    ],
    items: [
      item('1', 'DockerClusterTemplate', 'spec.infrastructureRef'),
      item('2', 'KubeadmControlPlaneTemplate', 'spec.controlPlaneRef'),
      item('3', 'DockerMachineTemplate', 'spec.controlPlaneRef.machineTemplate.infrastructureRef'),
      item('4', 'DockerMachineTemplate', 'spec.template.spec.infrastructureRef'),
      item('5', 'KubeadmConfigTemplate', 'spec.template.spec.bootstrap.configRef'),
    ],
  };
}

function benchPure(): { perCallUs: number } {
  const request = sampleRequest();
  for (let i = 0; i < 1000; i++) generatePatches(request, 6443);
  const t = process.hrtime.bigint();
  for (let i = 0; i < PURE_CALLS; i++) generatePatches(request, 6443);
  return { perCallUs: Number(process.hrtime.bigint() - t) / 1e3 / PURE_CALLS };
}

async function benchHttps(): Promise<{ p50: number; p99: number; perSecond: number }> {
  const agent = new https.Agent({ keepAlive: true, ca: readFileSync(path.join(PKI_DIR, 'ca/tls.crt')) });
  const body = JSON.stringify(sampleRequest());
  const url = `https://127.0.0.1:${PORTS.extension}/hooks.runtime.cluster.x-k8s.io/v1alpha1/generatepatches/vip-allocator-generate-patches`;
  const once = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const t = process.hrtime.bigint();
      const req = https.request(url, { method: 'POST', agent }, (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(Number(process.hrtime.bigint() - t) / 1e6)
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  for (let i = 0; i < 100; i++) await once();
  const started = Date.now();
  const times: number[] = [];
  for (let i = 0; i < HTTPS_CALLS; i++) times.push(await once());
  agent.destroy();
  times.sort((a, b) => a - b);
  return {
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    perSecond: HTTPS_CALLS / ((Date.now() - started) / 1000),
  };
}

async function benchClusters(): Promise<{ toVip: number[]; toInfra: number[] }> {
  const kc = loadKubeConfig();
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  await core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
  while (
    await core.readNamespace({ name: NAMESPACE }).then(
      () => true,
      () => false,
    )
  )
    await sleep(200);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });

  const { clusterClass, inClusterIPPool, topologyCluster, vipLabels } =
    await import('../test/support/fixtures.js');
  for (const o of [
    ...clusterClass('capd', NAMESPACE, 'bench'),
    inClusterIPPool(NAMESPACE, 'bench', ['10.99.0.0/26'], { labels: vipLabels('bench') }),
  ]) {
    await objects.create(o);
  }
  const born = new Map<string, number>();
  const watch = await new Watch(kc).watch(
    `/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/${NAMESPACE}/dockerclusters`,
    {},
    (type: string, obj: KubernetesObject) => {
      const owner = obj.metadata?.labels?.['cluster.x-k8s.io/cluster-name'];
      if (type === 'ADDED' && owner && !born.has(owner)) born.set(owner, Date.now());
    },
    () => undefined,
  );
  const toVip: number[] = [];
  const toInfra: number[] = [];
  for (let i = 0; i < CLUSTERS; i++) {
    const name = `bench-${i}`;
    let created = 0;
    for (let tries = 0; !created; tries++) {
      try {
        await objects.create(topologyCluster(NAMESPACE, name, 'bench'));
        created = Date.now();
      } catch (err) {
        if (tries > 100) throw err;
        await sleep(100); // the class is not reconciled yet
      }
    }
    for (;;) {
      const c = await objects.read({
        apiVersion: 'cluster.x-k8s.io/v1beta2',
        kind: 'Cluster',
        metadata: { name, namespace: NAMESPACE },
      });
      if (c.metadata?.annotations?.['vip.capi.gorizond.io/control-plane-vip']) break;
      await sleep(20);
    }
    toVip.push(Date.now() - created);
    while (!born.has(name)) await sleep(20);
    toInfra.push((born.get(name) ?? 0) - created);
    stderr(`  ${name}: VIP after ${toVip.at(-1)} ms, InfrastructureCluster after ${toInfra.at(-1)} ms`);
  }
  watch.abort();
  await core.deleteNamespace({ name: NAMESPACE });
  return { toVip: toVip.sort((a, b) => a - b), toInfra: toInfra.sort((a, b) => a - b) };
}

function rssMiB(pid: number): number {
  const line =
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(line.replace(/\D/g, '')) / 1024;
}

async function main(): Promise<void> {
  await up(stderr);
  await upExtension(stderr);
  stderr('Measuring GeneratePatches in process');
  const pure = benchPure();
  stderr('Measuring GeneratePatches over HTTPS');
  const overHttps = await benchHttps();
  stderr(`Creating ${CLUSTERS} Clusters one after another through CAPI`);
  const clusters = await benchClusters();
  const pid = (await readState())?.components.find((c) => c.name === EXTENSION_NAME)?.pid ?? 0;
  const rss = rssMiB(pid);

  const report = `# Benchmarks

Reproduce with \`npm ci && npm run bench\` (brings up the local control plane and the extension,
then rewrites this file). Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} cores
(${os.cpus()[0]?.model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}.

| what | result |
|---|---|
| GeneratePatches, in process (5 templates, 1 patched) | ${pure.perCallUs.toFixed(1)} µs per call |
| GeneratePatches over HTTPS, keep-alive, sequential (${HTTPS_CALLS} calls) | p50 ${ms(overHttps.p50)}, p99 ${ms(overHttps.p99)}, ${Math.round(overHttps.perSecond)} calls/s |
| Cluster created → VIP on the Cluster (${CLUSTERS} Clusters, one at a time) | median ${clusters.toVip[Math.floor(CLUSTERS / 2)]} ms, max ${clusters.toVip.at(-1)} ms |
| Cluster created → InfrastructureCluster born with the VIP | median ${clusters.toInfra[Math.floor(CLUSTERS / 2)]} ms, max ${clusters.toInfra.at(-1)} ms |
| Extension resident memory after the run | ${rss.toFixed(0)} MiB |

CAPI asks GeneratePatches handlers to answer within 200 ms; the time from Cluster to VIP is
dominated by CAPI's own retry cadence (the hook answers \`retryAfterSeconds: 1\` after writing the VIP)
and the IPAM provider's binding, not by the extension.
`;
  await writeFile(path.join(ROOT, 'BENCHMARKS.md'), report);
  process.stdout.write(report);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    stderr(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
