/**
 * Section 6 of BENCHMARKS.md (issue 26): what each controller costs with nothing to do. No Cluster
 * on the plane; the CPU a minute of our process beside CAPI's, KCP's and the IPAM provider's
 * managers (/proc/<pid>/stat), and the requests a minute each makes (the API server's audit log).
 * `npm run bench` measures it on its quiet plane before the first burst; `npm run bench:idle`
 * measures it alone and replaces the section in place (`BENCH_IDLE_SECONDS`, default 180).
 */
import { CustomObjectsApi } from '@kubernetes/client-node';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readAudit, type Component } from '../audit.js';
import { clockTicks, cpuBetween, cpuSnapshot } from '../bench-probes.js';
import { EXTENSION_NAME } from '../control-plane/components.js';
import { upExtension } from '../control-plane/extension.js';
import { readState, up } from '../control-plane/plane.js';
import type { Log } from '../control-plane/paths.js';
import { auditLogPath, quiet } from './plane-sampling.js';
import { writeSection } from './report.js';
import { IDLE_MS } from './settings.js';
import { kc, writeBenchKubeconfig } from './stage.js';

export const IDLE_HEADING = '## 6. Idle: each controller with nothing to do';

/** Plane processes compared, by the name the plane gives them and the audit log's component. */
const CONTROLLERS: readonly { process: string; component: Component; label: string }[] = [
  { process: EXTENSION_NAME, component: 'ours', label: 'ours (hooks, operator, claim reserve)' },
  { process: 'capi-manager', component: 'CAPI', label: "CAPI's manager (every CAPI controller)" },
  { process: 'kcp-manager', component: 'KCP', label: "KCP's manager" },
  { process: 'ipam-manager', component: 'IPAM', label: 'the in-cluster IPAM provider' },
];

export interface IdleCost {
  readonly label: string;
  /** CPU time used per minute, in ms. */
  readonly cpuMsPerMinute: number;
  /** The same in clock ticks (/proc counts in these; CLK_TCK a second). */
  readonly ticksPerMinute: number;
  readonly requestsPerMinute: number;
}

export interface IdleFigures {
  readonly windowSeconds: number;
  readonly costs: readonly IdleCost[];
  /** Our requests in the window by `verb resource`, per minute, most first. */
  readonly ours: readonly (readonly [string, number])[];
}

/** Samples the plane's controllers over `windowMs` of idle, with progress every 30 s. */
export async function measureIdle(windowMs: number, auditLog: string, log: Log): Promise<IdleFigures> {
  // A Cluster left behind (a suite's, stuck deleting) keeps CAPI and us busy: that is not idle.
  const left = await kc().makeApiClient(CustomObjectsApi).listClusterCustomObject({
    group: 'cluster.x-k8s.io',
    version: 'v1beta2',
    plural: 'clusters',
  });
  const names = (left as { items: { metadata: { namespace: string; name: string } }[] }).items.map(
    (c) => `${c.metadata.namespace}/${c.metadata.name}`,
  );
  if (names.length) {
    throw new Error(`The plane is not idle: Clusters ${names.join(', ')} are on it; delete them first`);
  }
  const state = await readState();
  const procs = CONTROLLERS.map((c) => {
    const pid = state?.components.find((p) => p.name === c.process)?.pid;
    if (!pid)
      throw new Error(`The plane runs no ${c.process}: run \`npm run control-plane -- up --extension\``);
    return { name: c.process, pid };
  });
  const ticks = await clockTicks();
  const from = Date.now();
  const before = cpuSnapshot(procs, ticks);
  for (let left = windowMs; left > 0; left -= 30_000) {
    log(`  idle: ${Math.round((windowMs - left) / 1000)} of ${windowMs / 1000} s`);
    await new Promise((r) => setTimeout(r, Math.min(left, 30_000)));
  }
  const to = Date.now();
  const used = cpuBetween(cpuSnapshot(procs, ticks), before);
  const minutes = (to - from) / 60_000;
  const audit = await readAudit(auditLog, from, to);
  const costs = CONTROLLERS.map((c) => {
    const seconds = used.get(c.process) ?? NaN;
    return {
      label: c.label,
      cpuMsPerMinute: (seconds * 1000) / minutes,
      ticksPerMinute: (seconds * ticks) / minutes,
      requestsPerMinute: (audit.byComponent.get(c.component) ?? 0) / minutes,
    };
  });
  const ours = [...audit.byKey]
    .filter(([key]) => key.startsWith('ours '))
    .map(([key, n]) => [key.slice('ours '.length), n / minutes] as const)
    .sort((a, b) => b[1] - a[1]);
  return { windowSeconds: Math.round((to - from) / 1000), costs, ours };
}

/** The section as BENCHMARKS.md shows it. */
export function idleSection(f: IdleFigures): string {
  return [
    IDLE_HEADING,
    '',
    `Reproduce: \`npm run bench:idle\` (or as part of \`npm run bench\`, before its first burst). No Cluster`,
    `on the plane, sampled for ${f.windowSeconds} s once it is quiet; CPU from /proc/<pid>/stat, requests from the`,
    "API server's audit log. Target (issue 26): ours at or below the IPAM provider's.",
    '',
    '| process | CPU a minute | clock ticks a minute | requests a minute |',
    '|---|---|---|---|',
    ...f.costs.map(
      (c) =>
        `| ${c.label} | ${c.cpuMsPerMinute.toFixed(0)} ms | ${c.ticksPerMinute.toFixed(1)} | ${c.requestsPerMinute.toFixed(1)} |`,
    ),
    '',
    `Our requests a minute while idle: ${f.ours.map(([k, n]) => `${k} ${n.toFixed(1)}`).join(', ') || 'none'}.`,
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const log: Log = (m) => void process.stderr.write(`${m}\n`);
  process.env.CONTROL_PLANE_AUDIT = '1';
  await up(log);
  const auditLog = await auditLogPath();
  // quiet() reads the plane as the bench does, with the bench's own certificate.
  await writeBenchKubeconfig();
  await upExtension(log);
  await quiet();
  const section = idleSection(await measureIdle(IDLE_MS, auditLog, log));
  await writeSection(IDLE_HEADING, section);
  process.stdout.write(section);
}
