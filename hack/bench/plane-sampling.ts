/**
 * The plane as the bench samples it: each process's CPU, the API server's requests (its audit log
 * and its own counters), and when it has gone quiet. A phase is measured from its first create
 * until the API server is quiet, on a plane that was quiet before it.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { readAudit, type AuditCounts } from '../audit.js';
import {
  apiserverRequests,
  countsSince,
  cpuBetween,
  cpuSnapshot,
  total,
  type CpuSnapshot,
} from '../bench-probes.js';
import { readState, restart } from '../control-plane/plane.js';
import { log, s, sleep } from './common.js';
import { kc } from './stage.js';

export const QUIET_LIMIT_MS = 20 * 60_000;
/** A phase ends when the API server has used less than QUIET_CORE for QUIET_MS (sampled every second)… */
export const QUIET_CORE = 0.15;
export const QUIET_MS = 6_000;
/** …or, at the latest, this long after its first create (the report then says so). */
export const PHASE_LIMIT_MS = 15 * 60_000;
/** Before a phase starts, the API server gets this long to go quiet (after the earlier phase's deletes). */
const SETTLE_LIMIT_MS = 3 * 60_000;

export interface Run {
  count: number;
  /** Until the last DockerCluster was born (both kinds of run) or the last claim bound (IPAM). */
  all: number;
}

/** A run measured to quiet: the CAPI floor, or ours. */
export interface Phase extends Run {
  /** From the first create until the API server went quiet (or PHASE_LIMIT_MS, if it did not). */
  quiet: number;
  quietReached: boolean;
  /** CPU seconds of each plane process, and of the bench as 'bench', over [first create, quiet]. */
  cpu: CpuSnapshot;
  /** Every request the API server received over [first create, quiet], by component (audit log). */
  requests: AuditCounts;
  /** apiserver_request_total over the same phase (all clients, plus the few seconds that confirm quiet). */
  metricRequests: number;
}

/** Waits until no namespace is still being deleted: every floor is taken on a quiet plane. */
export async function quiet(): Promise<void> {
  const core = kc().makeApiClient(CoreV1Api);
  const started = Date.now();
  for (let lastLog = 0; ;) {
    // Any namespace still deleting (the tests' too) keeps CAPI and the API server busy.
    const terminating = (await core.listNamespace()).items.filter((n) => n.status?.phase === 'Terminating');
    if (terminating.length === 0) return;
    if (Date.now() - lastLog > 15_000) {
      lastLog = Date.now();
      log(
        `  waiting for ${terminating.map((n) => n.metadata?.name).join(', ')} to finish deleting (${s(Date.now() - started)} so far)`,
      );
    }
    if (Date.now() - started > QUIET_LIMIT_MS) {
      log(`  still deleting after ${s(QUIET_LIMIT_MS)}: measuring anyway (BENCHMARKS.md says so)`);
      notQuiet.push(terminating.map((n) => n.metadata?.name ?? '').join(', '));
      return;
    }
    await sleep(1_000);
  }
}
export const notQuiet: string[] = [];

export const PLANE = { apiserver: 'kube-apiserver' };
/** The plane's processes (name, pid), the API server's audit log, clock ticks: set in main(). */
export const plane = { procs: [] as { name: string; pid: number }[], auditLog: '', ticks: 100 };

interface Sample {
  at: number;
  cpu: CpuSnapshot;
}
const sample = (): Sample => ({ at: Date.now(), cpu: cpuSnapshot(plane.procs, plane.ticks, 'bench') });

/**
 * Samples every second until the API server has used less than QUIET_CORE for QUIET_MS, then
 * returns the sample where that quiet stretch began; at `deadline`, the last sample, not reached.
 */
async function untilQuiet(what: string, deadline: number): Promise<Sample & { reached: boolean }> {
  let prev = sample();
  let quietSince: Sample | undefined;
  let lastLog = prev.at;
  for (;;) {
    await sleep(1_000);
    const now = sample();
    const used = (now.cpu.get(PLANE.apiserver) ?? NaN) - (prev.cpu.get(PLANE.apiserver) ?? NaN);
    const core = used / ((now.at - prev.at) / 1000);
    if (core < QUIET_CORE) {
      quietSince ??= prev;
      if (now.at - quietSince.at >= QUIET_MS) return { ...quietSince, reached: true };
    } else {
      quietSince = undefined;
    }
    if (now.at >= deadline) return { ...now, reached: false };
    if (now.at - lastLog > 30_000) {
      lastLog = now.at;
      log(`    ${what}: the API server still uses ${core.toFixed(2)} core`);
    }
    prev = now;
  }
}

/** Before a phase: the API server quiet (the earlier phase's deletes done), bounded by SETTLE_LIMIT_MS. */
async function settle(): Promise<void> {
  const t = Date.now();
  const { reached } = await untilQuiet('settling', t + SETTLE_LIMIT_MS);
  if (!reached) log(`  the API server was not quiet after ${s(SETTLE_LIMIT_MS)}: measuring anyway`);
}

/**
 * Runs `run` (which creates the Clusters and resolves with its topology time, from `t0`), then waits
 * for quiet; the phase is [t0, quiet]. Nothing is deleted in it: the caller deletes after.
 */
export async function measured(count: number, run: (t0: number) => Promise<number>): Promise<Phase> {
  await settle();
  const before = await apiserverRequests();
  const start = sample();
  const all = await run(start.at);
  const end = await untilQuiet(`${count}: to quiet`, start.at + PHASE_LIMIT_MS);
  const metricRequests = total(countsSince(await apiserverRequests(), before));
  // The audit backend writes in batches, in the background: let it catch up with the window.
  await sleep(2_000);
  const requests = await readAudit(plane.auditLog, start.at, end.at);
  return {
    count,
    all,
    quiet: end.at - start.at,
    quietReached: end.reached,
    cpu: cpuBetween(end.cpu, start.cpu),
    requests,
    metricRequests,
  };
}

/** The kube-apiserver's --audit-log-path, from its command line; restarted with one if it runs without. */
export async function auditLogPath(): Promise<string> {
  const find = async (): Promise<string | undefined> => {
    const pid = (await readState())?.components.find((c) => c.name === PLANE.apiserver)?.pid;
    const args = pid ? readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0') : [];
    return args.find((a) => a.startsWith('--audit-log-path='))?.split('=')[1];
  };
  const found = await find();
  if (found) return found;
  log("The plane's kube-apiserver runs without an audit log (started before it had one): restarting it");
  await restart(PLANE.apiserver, log);
  const again = await find();
  if (!again)
    throw new Error('The kube-apiserver runs without --audit-log-path (hack/control-plane/components.ts)');
  return again;
}
