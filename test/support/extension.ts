/**
 * The extension a suite runs against: the plane's host process (the default), or the Pods the
 * install manifests run on the plane's node (`E2E_EXTENSION=installed`, with
 * `E2E_EXTENSION_NAMESPACE` naming their namespace; test/install/pods runs suites this way). Suites
 * read its metrics and take every replica down through here, so one suite proves both.
 */
import { execa } from 'execa';
import { EXTENSION_NAME } from '../../hack/control-plane/components.js';
import { kubectl } from '../../hack/control-plane/node.js';
import { PORTS } from '../../hack/control-plane/paths.js';
import { restart } from '../../hack/control-plane/plane.js';
import { eventually, kube } from '../../hack/fixtures/kube.js';
import { untilNoReplicaAnswers } from './hooks.js';
import { scrape } from '../../hack/fixtures/metrics.js';

export const INSTALLED = process.env.E2E_EXTENSION === 'installed';
/** The release YAML's namespace; the chart's is the one it was installed into. */
export const INSTALLED_NAMESPACE = process.env.E2E_EXTENSION_NAMESPACE ?? 'capi-vip-allocator-system';
/** Deployment, Lease and the Pods' name label: one name in the release YAML and the chart. */
export const DEPLOYMENT = 'capi-vip-allocator';
export const POD_SELECTOR = 'app.kubernetes.io/name=capi-vip-allocator';

/** The node's kubectl, failing with what it said. */
export async function mustKubectl(what: string, ...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  if (r.exitCode !== 0) throw new Error(`${what} failed (${r.exitCode}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Our Pods in `namespace`, with the IP and the metrics port each serves. */
export async function installedPods(namespace = INSTALLED_NAMESPACE) {
  const pods = await kube().core.listNamespacedPod({ namespace, labelSelector: POD_SELECTOR });
  return pods.items.map((p) => ({
    name: p.metadata?.name ?? '',
    ip: p.status?.podIP,
    ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    restarts: p.status?.containerStatuses?.reduce((n, c) => n + c.restartCount, 0) ?? 0,
    terminating: p.metadata?.deletionTimestamp !== undefined,
    metricsPort: p.spec?.containers[0]?.ports?.find((port) => port.name === 'metrics')?.containerPort,
  }));
}

/** Who holds the leader-election Lease (`<pod>-<random>`), or '' while nobody does. */
export async function leaseHolder(namespace = INSTALLED_NAMESPACE): Promise<string> {
  const r = await kubectl(
    'get',
    'lease',
    DEPLOYMENT,
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.holderIdentity}',
  );
  return r.exitCode === 0 ? r.stdout : '';
}

export async function rolledOut(namespace = INSTALLED_NAMESPACE): Promise<void> {
  await mustKubectl(
    `rollout of Deployment ${namespace}/${DEPLOYMENT}`,
    'rollout',
    'status',
    `deployment/${DEPLOYMENT}`,
    '-n',
    namespace,
    '--timeout=180s',
  );
}

/** `kubectl rollout restart` of our Deployment, until the new Pods are all that serve. */
export async function rolloutRestart(namespace = INSTALLED_NAMESPACE): Promise<void> {
  await mustKubectl(
    'kubectl rollout restart',
    'rollout',
    'restart',
    `deployment/${DEPLOYMENT}`,
    '-n',
    namespace,
  );
  await rolledOut(namespace);
}

/**
 * /metrics of the replica that leads: the leader runs the quarantine and the reserve, so their
 * gauges and counters are its. On the host that is the one process.
 */
export async function leaderMetrics(): Promise<string> {
  if (!INSTALLED) return scrape(PORTS.extensionMetrics);
  const leader = await eventually('a Pod of ours to hold the Lease', async () => {
    const holder = await leaseHolder();
    return (await installedPods()).find((p) => p.ip && holder.startsWith(`${p.name}-`));
  });
  return (await fetch(`http://${leader.ip}:${leader.metricsPort}/metrics`)).text();
}

/** Resolves once no replica can answer a hook: the host's process stopped, or no Pod of ours left. */
export function untilEveryReplicaIsDown(): Promise<true> {
  if (!INSTALLED) return untilNoReplicaAnswers(PORTS.extension);
  return eventually('every Pod of ours to be gone', async () =>
    (await installedPods()).length === 0 ? true : undefined,
  );
}

/**
 * Every replica down for `downtimeMs`, then back; resolves once they serve again. On the node the
 * Deployment is scaled to 0 and back, as an operator stops an extension; the PDB does not guard a
 * scale (it guards evictions).
 */
export async function outage(downtimeMs: number): Promise<void> {
  if (!INSTALLED) return restart(EXTENSION_NAME, () => undefined, { downtimeMs });
  const replicas = await mustKubectl(
    'reading the replica count',
    'get',
    `deployment/${DEPLOYMENT}`,
    '-n',
    INSTALLED_NAMESPACE,
    '-o',
    'jsonpath={.spec.replicas}',
  );
  const scale = (n: string) =>
    mustKubectl(
      `scaling ${DEPLOYMENT} to ${n}`,
      'scale',
      `deployment/${DEPLOYMENT}`,
      '-n',
      INSTALLED_NAMESPACE,
      `--replicas=${n}`,
    );
  await scale('0');
  await untilEveryReplicaIsDown();
  await new Promise((r) => setTimeout(r, downtimeMs));
  await scale(replicas);
  await rolledOut();
}

/** Runs test files of ours against the Pods in `namespace`, in a jest of their own; fails with its output. */
export async function runSuitesAgainstPods(namespace: string, files: string[], only?: string): Promise<void> {
  const run = await execa(
    process.execPath,
    [
      '--experimental-vm-modules',
      'node_modules/jest/bin/jest.js',
      ...files,
      ...(only ? ['--testNamePattern', only] : []),
    ],
    {
      env: { E2E_EXTENSION: 'installed', E2E_EXTENSION_NAMESPACE: namespace },
      reject: false,
      all: true,
      // Its progress shows as it runs; its tail is kept for the failure.
      stderr: ['pipe', 'inherit'],
    },
  );
  if (run.exitCode !== 0) {
    throw new Error(`${files.join(', ')} against the Pods in ${namespace} failed:\n${run.all.slice(-6000)}`);
  }
  process.stderr.write(`${files.join(', ')} passed against the Pods in ${namespace}\n`);
}
