/**
 * Section 5 of BENCHMARKS.md: the image and the Pod as users run them, on the plane's node
 * (`up --node`). The image's size; the release YAML applied unchanged until both replicas are
 * ready; each container's working set (what the kubelet and the OOM killer count) idle and after a
 * burst of Clusters, against the Deployment's requests and limits.
 * `npm run bench:pod` measures and replaces that section in place; `npm run bench` runs it too.
 */
import path from 'node:path';
import { downExtension, upExtension } from './control-plane/extension.js';
import { importImage, kubectl, kubectlOk, NODE_NAME, nodeUnavailable } from './control-plane/node.js';
import { KUBECONFIG, ROOT, type Log } from './control-plane/paths.js';
import { up } from './control-plane/plane.js';
import { clusterClass, inClusterIPPool, vipLabels } from './fixtures/fixtures.js';
import { createNamespace, deleteNamespace, eventually, kube } from './fixtures/kube.js';
import { createCluster, readCluster, VIP_ANNOTATION } from './fixtures/vip.js';
import { buildImages, IMAGE_TAR } from './image.js';
import { writeSection } from './bench/report.js';

const SYSTEM = 'capi-vip-allocator-system';
const RELEASE = path.join(ROOT, 'manifests/release/capi-vip-allocator.yaml');
const BURST = 50;
export const POD_HEADING = '## 5. The image and the Pod';

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

interface Summary {
  pods: {
    podRef: { name: string; namespace: string };
    containers?: { memory?: { workingSetBytes?: number } }[];
  }[];
}

/** Each of our containers' working set, from the kubelet's summary (through the API server). */
async function workingSets(): Promise<number[]> {
  const summary = await kubectlOk('get', '--raw', `/api/v1/nodes/${NODE_NAME}/proxy/stats/summary`);
  return (JSON.parse(summary) as Summary).pods
    .filter((p) => p.podRef.namespace === SYSTEM)
    .map((p) => p.containers?.[0]?.memory?.workingSetBytes ?? 0);
}

interface PodFigures {
  readonly imageBytes: number;
  readonly readySeconds: number;
  readonly containerReadySeconds: number[];
  readonly idle: number[];
  readonly peak: number;
  readonly after: number[];
  readonly burstSeconds: number;
}

async function measure(log: Log): Promise<PodFigures> {
  // The fixtures' clients read KUBECONFIG: the plane's.
  process.env.KUBECONFIG = KUBECONFIG;
  await up(log, undefined, { node: true });
  const { imageBytes } = await buildImages(log);
  await importImage(IMAGE_TAR);
  // The Pods alone answer CAPI while this runs; `up --extension` brings the host's process back.
  await downExtension(log);
  await kubectl('delete', '-f', RELEASE, '--ignore-not-found', '--wait=true');
  const t0 = Date.now();
  await kubectlOk('apply', '-f', RELEASE);
  await kubectlOk('rollout', 'status', 'deployment/capi-vip-allocator', '-n', SYSTEM, '--timeout=300s');
  const readySeconds = (Date.now() - t0) / 1000;
  const pods = JSON.parse(await kubectlOk('get', 'pods', '-n', SYSTEM, '-o', 'json')) as {
    items: {
      status: {
        containerStatuses?: { state?: { running?: { startedAt?: string } } }[];
        conditions?: { type: string; lastTransitionTime?: string }[];
      };
    }[];
  };
  const containerReadySeconds = pods.items.map((p) => {
    const started = Date.parse(p.status.containerStatuses?.[0]?.state?.running?.startedAt ?? '');
    const ready = Date.parse(p.status.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '');
    return (ready - started) / 1000;
  });
  log(`  release YAML ready in ${readySeconds.toFixed(1)} s; idle 60 s`);
  await new Promise((r) => setTimeout(r, 60_000));
  const idle = await workingSets();

  const { objects } = kube();
  const ns = await createNamespace('bench-pod');
  try {
    for (const o of [
      ...clusterClass('capd', ns, 'onprem'),
      inClusterIPPool(ns, 'vips', ['10.27.0.1-10.27.0.200'], { labels: vipLabels('onprem') }),
    ]) {
      await objects.create(o);
    }
    const t1 = Date.now();
    await Promise.all(Array.from({ length: BURST }, (_, i) => createCluster(ns, `c-${i}`, 'onprem')));
    let peak = 0;
    await eventually(
      `${BURST} Clusters to get their VIP from the Pods`,
      async () => {
        peak = Math.max(peak, ...(await workingSets()));
        const done = await Promise.all(
          Array.from(
            { length: BURST },
            async (_, i) => (await readCluster(ns, `c-${i}`))?.metadata.annotations?.[VIP_ANNOTATION],
          ),
        );
        return done.every(Boolean) ? true : undefined;
      },
      600_000,
    );
    const burstSeconds = (Date.now() - t1) / 1000;
    const after = await workingSets();
    return { imageBytes, readySeconds, containerReadySeconds, idle, peak, after, burstSeconds };
  } finally {
    await deleteNamespace(ns);
    await kubectl('delete', '-f', RELEASE, '--ignore-not-found', '--wait=true');
    await upExtension(log);
  }
}

export async function podSection(log: Log): Promise<string> {
  const why = await nodeUnavailable();
  const reproduce = 'Reproduce: `npm run bench:pod` (or as part of `npm run bench`).';
  if (why) return `${POD_HEADING}\n\nNot measured: ${why}.\n\n${reproduce}\n`;
  const f = await measure(log);
  const list = (xs: number[]): string => xs.map(mib).join(', ');
  return [
    POD_HEADING,
    '',
    `${reproduce} On the plane's node (kubelet v1.36.5, containerd 1.6.20), the release YAML applied`,
    'unchanged: two replicas, requests 128Mi, limit 256Mi. Working set as the kubelet reports it (what',
    'eviction and the limit count).',
    '',
    '| what | figure |',
    '|---|---|',
    `| image \`ghcr.io/gorizond/capi-vip-allocator\` (local base: debootstrap bookworm minbase + Node 24) | ${mib(f.imageBytes)} |`,
    `| \`kubectl apply\` of the release YAML → both replicas Ready (image present on the node) | ${f.readySeconds.toFixed(1)} s |`,
    `| container start → Ready, each replica (kubelet's 1 s timestamps; readiness probe every 5 s) | ${f.containerReadySeconds.map((x) => `${x.toFixed(0)} s`).join(', ')} |`,
    `| working set idle (60 s after Ready), each replica | ${list(f.idle)} |`,
    `| working set, highest seen during a burst of ${BURST} Clusters (${f.burstSeconds.toFixed(1)} s to the last VIP) | ${mib(f.peak)} |`,
    `| working set after the burst, each replica | ${list(f.after)} |`,
    '',
  ].join('\n');
}

if (process.argv[1]?.endsWith('bench-pod.ts')) {
  const say: Log = (m) => process.stderr.write(`${m}\n`);
  const section = await podSection(say);
  await writeSection(POD_HEADING, section);
  process.stdout.write(section);
}
