/**
 * The local plane's audit log (kube-apiserver --audit-log-path, policy in
 * hack/control-plane/audit-policy.yaml: one Metadata event per request), read by `npm run bench` to
 * attribute every request of a time window to the component that made it.
 *
 * Who is who on the plane (every process uses the admin kubeconfig; they differ by user agent):
 *  - CAPI: `capi-manager/unknown cluster-api-controller-manager (linux/amd64) cluster.x-k8s.io/unknown`
 *  - KCP: `kcp-manager/unknown cluster-api-kubeadm-control-plane-manager (linux/amd64) ...`
 *  - IPAM: `ipam-manager/v0.0.0 (linux/amd64) kubernetes/$Format` (the in-cluster provider)
 *  - KCM: `kube-controller-manager/<version> (linux/amd64) kubernetes/$Format/<controller>`
 *  - ours: `kubernetes-client-javascript/<version>` (client-node's requests) or `undici` (its
 *    watches) as `admin`: our process is the plane's only Node client with the admin certificate
 *    during a measurement
 *  - bench: the user BENCH_USER (the bench's own client certificate, whatever its agent)
 *  - other: the kube-apiserver's own loopback requests, probes without an agent, anything else.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const COMPONENTS = ['CAPI', 'KCP', 'IPAM', 'ours', 'KCM', 'bench', 'other'] as const;
export type Component = (typeof COMPONENTS)[number];

/** The common name of the bench's client certificate: its requests are its own, not ours. */
export const BENCH_USER = 'capi-vip-allocator-bench';

/** The fields of an audit.k8s.io/v1 Event that the tally reads. */
export interface AuditEvent {
  stage?: string;
  verb?: string;
  requestURI?: string;
  userAgent?: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string };
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
}

const AGENTS: readonly [prefix: string, component: Component][] = [
  ['capi-manager/', 'CAPI'],
  ['kcp-manager/', 'KCP'],
  ['ipam-manager/', 'IPAM'],
  ['kube-controller-manager/', 'KCM'],
];

export function componentOf(e: AuditEvent): Component {
  const agent = e.userAgent ?? '';
  const user = e.user?.username ?? '';
  if (user === BENCH_USER) return 'bench';
  for (const [prefix, component] of AGENTS) if (agent.startsWith(prefix)) return component;
  // Only our process and the plane's CLI use client-node as admin; the CLI does not run during a measurement.
  if (user === 'admin' && (agent.startsWith('kubernetes-client-javascript/') || agent === 'undici')) {
    return 'ours';
  }
  return 'other';
}

/** `verb resource[/subresource]`, or `verb /path` for a non-resource request (`/readyz`, discovery). */
export function requestKey(e: AuditEvent): string {
  const verb = e.verb ?? '?';
  const r = e.objectRef?.resource;
  if (r) return `${verb} ${r}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`;
  return `${verb} ${(e.requestURI ?? '?').split('?')[0]}`;
}

/** When the API server received the request (ms since the epoch), else when it answered; NaN without either. */
export function eventTime(e: AuditEvent): number {
  return Date.parse(e.requestReceivedTimestamp ?? e.stageTimestamp ?? '');
}

/** Requests by component, and by component and `verb resource`. */
export interface AuditCounts {
  readonly byComponent: Map<Component, number>;
  /** `${component} ${verb} ${resource}` → requests. */
  readonly byKey: Map<string, number>;
  total: number;
  /** Lines that were not JSON audit events. */
  malformed: number;
}

export const emptyCounts = (): AuditCounts => ({
  byComponent: new Map(),
  byKey: new Map(),
  total: 0,
  malformed: 0,
});

const RECEIVED = /"requestReceivedTimestamp":"([^"]+)"/;

/**
 * Counts one line of the log if its request was received within [from, to] (ms since the epoch).
 * Each request counts once: a start-of-response event (ResponseStarted, RequestReceived; the policy
 * omits both) is skipped. The time is matched before the line is parsed, so lines outside the window
 * cost a regular expression only.
 */
export function tally(counts: AuditCounts, line: string, from: number, to: number): void {
  if (!line.trim()) return;
  const m = RECEIVED.exec(line);
  if (m?.[1]) {
    const at = Date.parse(m[1]);
    if (at < from || at > to) return;
  }
  let e: AuditEvent;
  try {
    e = JSON.parse(line) as AuditEvent;
  } catch {
    counts.malformed++;
    return;
  }
  if (typeof e !== 'object' || e === null || !e.verb) {
    counts.malformed++;
    return;
  }
  if (e.stage === 'RequestReceived' || e.stage === 'ResponseStarted') return;
  const at = eventTime(e);
  if (!(at >= from && at <= to)) return;
  const c = componentOf(e);
  counts.byComponent.set(c, (counts.byComponent.get(c) ?? 0) + 1);
  const key = `${c} ${requestKey(e)}`;
  counts.byKey.set(key, (counts.byKey.get(key) ?? 0) + 1);
  counts.total++;
}

/**
 * The audit log and its rotated backups (`<name>-<time>.<ext>`, kube-apiserver's --audit-log-maxbackup)
 * that may hold requests received from `from` on: a file last written before then holds none.
 */
export async function auditFiles(logPath: string, from: number): Promise<string[]> {
  const dir = path.dirname(logPath);
  const ext = path.extname(logPath);
  const base = path.basename(logPath, ext);
  const names = (await readdir(dir).catch(() => [] as string[])).filter(
    (n) => n === path.basename(logPath) || (n.startsWith(`${base}-`) && n.endsWith(ext)),
  );
  const files: string[] = [];
  for (const n of names) {
    const file = path.join(dir, n);
    if ((await stat(file)).mtimeMs >= from) files.push(file);
  }
  return files.sort();
}

/** Requests received within [from, to], by component, read line by line from the log and its backups. */
export async function readAudit(logPath: string, from: number, to: number): Promise<AuditCounts> {
  const counts = emptyCounts();
  for (const file of await auditFiles(logPath, from)) {
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) tally(counts, line, from, to);
  }
  return counts;
}

/** A window's counts per Cluster, by component. */
export function perClusterByComponent(counts: AuditCounts, clusters: number): Map<Component, number> {
  return new Map(COMPONENTS.map((c) => [c, (counts.byComponent.get(c) ?? 0) / clusters]));
}

/** The plane's requests: every component's but the bench's own. */
export const planeRequests = (counts: AuditCounts): number =>
  counts.total - (counts.byComponent.get('bench') ?? 0);

/**
 * The rows where `ours` and `floor` differ most (by |ours − floor|), each with both counts: what a
 * component does more (or less) with us, by verb and resource.
 */
export function topDifferences(
  ours: AuditCounts,
  floor: AuditCounts,
  n: number,
): { key: string; ours: number; floor: number }[] {
  const keys = new Set([...ours.byKey.keys(), ...floor.byKey.keys()]);
  return [...keys]
    .map((key) => ({ key, ours: ours.byKey.get(key) ?? 0, floor: floor.byKey.get(key) ?? 0 }))
    .sort((a, b) => Math.abs(b.ours - b.floor) - Math.abs(a.ours - a.floor) || b.ours - a.ours)
    .slice(0, n);
}
