/**
 * What the bench reads besides wall-clock time: the API server's own request counters, each plane
 * process's CPU time (/proc/<pid>/stat), and a CPU profile of our running process taken over the
 * inspector (SIGUSR1 opens it on a live process, so the profiled burst is the real one, not a
 * restart). Which component made which request: hack/audit.ts.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { PKI_DIR, PORTS, ROOT } from './control-plane/paths.js';

/** `VERB resource[/subresource]` → requests, summed over codes, scopes and versions. */
export type RequestCounts = Map<string, number>;

function get(url: string): Promise<string> {
  const tlsFile = (name: string) => readFileSync(path.join(PKI_DIR, name));
  // The bench's own certificate when it has one, so the audit log counts these reads as the bench's.
  const who = existsSync(path.join(PKI_DIR, 'bench/tls.crt')) ? 'bench' : 'admin';
  return new Promise((resolve, reject) => {
    https
      .get(
        url,
        { ca: tlsFile('ca/tls.crt'), cert: tlsFile(`${who}/tls.crt`), key: tlsFile(`${who}/tls.key`) },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () =>
            res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode} from ${url}`)),
          );
        },
      )
      .on('error', reject);
  });
}

/** apiserver_request_total from the API server's /metrics. */
export async function apiserverRequests(): Promise<RequestCounts> {
  const counts: RequestCounts = new Map();
  const text = await get(`https://127.0.0.1:${PORTS.apiserver}/metrics`);
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']),
    );
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

export function countsSince(after: RequestCounts, before: RequestCounts): RequestCounts {
  const diff: RequestCounts = new Map();
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) diff.set(k, v - (before.get(k) ?? 0));
  return diff;
}

export const total = (counts: RequestCounts): number => [...counts.values()].reduce((a, b) => a + b, 0);

/** utime + stime, in clock ticks, from the text of /proc/<pid>/stat (fields 14 and 15). */
export function statCpuTicks(stat: string): number {
  // The command (field 2) is in parentheses and may hold spaces and ')': fields resume after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Clock ticks per second (`getconf CLK_TCK`), which /proc/<pid>/stat counts CPU time in; 100 if unknown. */
export async function clockTicks(): Promise<number> {
  const { stdout } = await execa('getconf', ['CLK_TCK'], { reject: false });
  return Number(stdout) > 0 ? Number(stdout) : 100;
}

/** Process name → CPU seconds used since it started. */
export type CpuSnapshot = Map<string, number>;

/**
 * CPU seconds so far of each process, by name (a process gone reads NaN), and of this one as
 * `selfName`. Cheap enough to take every second: one small read per process.
 */
export function cpuSnapshot(
  procs: readonly { name: string; pid: number }[],
  ticks: number,
  selfName?: string,
): CpuSnapshot {
  const snap: CpuSnapshot = new Map();
  for (const p of procs) {
    try {
      snap.set(p.name, statCpuTicks(readFileSync(`/proc/${p.pid}/stat`, 'utf8')) / ticks);
    } catch {
      snap.set(p.name, NaN);
    }
  }
  if (selfName) {
    const { user, system } = process.cpuUsage();
    snap.set(selfName, (user + system) / 1e6);
  }
  return snap;
}

/** CPU seconds each process used between two snapshots. */
export function cpuBetween(after: CpuSnapshot, before: CpuSnapshot): CpuSnapshot {
  return new Map([...after].map(([name, s]) => [name, s - (before.get(name) ?? NaN)]));
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** The profiler's sampling interval (µs). */
export const PROFILE_INTERVAL_US = 10_000;

/** A CPU profile of a running Node process, over the inspector protocol. */
export class Profiler {
  readonly #ws: WebSocket;
  #id = 0;
  readonly #pending = new Map<number, (result: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.addEventListener('message', (e: { data: unknown }) => {
      const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown };
      if (msg.id !== undefined) this.#pending.get(msg.id)?.(msg.result);
    });
  }

  static async attach(pid: number): Promise<Profiler> {
    process.kill(pid, 'SIGUSR1');
    for (let i = 0; ; i++) {
      try {
        const [target] = (await (await fetch('http://127.0.0.1:9229/json/list')).json()) as {
          webSocketDebuggerUrl: string;
        }[];
        if (!target) throw new Error('no inspector target');
        const ws = new WebSocket(target.webSocketDebuggerUrl);
        await new Promise((resolve, reject) => {
          ws.addEventListener('open', resolve);
          ws.addEventListener('error', reject);
        });
        const profiler = new Profiler(ws);
        await profiler.#send('Profiler.enable');
        // 10 ms: the bench also measures this process's CPU over the profiled burst, and sampling
        // every 1 ms cost an idle process 2.6 % of a core (10 ms: 0.5 %). A burst of minutes still
        // gets tens of thousands of samples, enough to apportion self time among 2 ms hook calls.
        await profiler.#send('Profiler.setSamplingInterval', { interval: PROFILE_INTERVAL_US });
        return profiler;
      } catch (err) {
        if (i > 50) throw new Error(`No inspector on pid ${pid}: ${String(err)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  #send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async start(): Promise<void> {
    await this.#send('Profiler.start');
  }

  async stop(): Promise<CpuProfile> {
    const { profile } = (await this.#send('Profiler.stop')) as { profile: CpuProfile };
    return profile;
  }

  /** Closes the inspector in the profiled process, so it runs on as before. */
  async detach(): Promise<void> {
    await this.#send('Profiler.disable');
    // Closing the inspector ends this very session: the command gets no answer, so none is awaited.
    this.#ws.send(
      JSON.stringify({
        id: ++this.#id,
        method: 'Runtime.evaluate',
        params: { expression: "process.getBuiltinModule('node:inspector').close()" },
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    this.#ws.close();
  }
}

export interface ProfileSummary {
  totalMs: number;
  /** Our code, each dependency, Node's own, GC and idle. */
  byArea: { area: string; ms: number }[];
  top: { fn: string; source: string; ms: number }[];
}

/** Self time by area and by function, with bundle positions mapped back to their sources. */
export function summarize(profile: CpuProfile, bundleMap: string): ProfileSummary {
  const map = new SourceMap(JSON.parse(readFileSync(bundleMap, 'utf8')) as never);
  const samples = profile.samples ?? [];
  const msPerSample = samples.length ? (profile.endTime - profile.startTime) / 1000 / samples.length : 0;
  const hits = new Map<number, number>();
  for (const id of samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const byArea = new Map<string, number>();
  const byFn = new Map<string, { fn: string; source: string; ms: number }>();
  for (const node of profile.nodes) {
    const n = hits.get(node.id) ?? 0;
    if (!n) continue;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    let source = url;
    if (url.endsWith('.mjs') && url.includes('capi-vip-allocator')) {
      const entry = map.findEntry(lineNumber, columnNumber) as { originalSource?: string };
      source = entry.originalSource ?? url;
    }
    source = source.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
    const area = functionName.startsWith('(')
      ? functionName
      : (/node_modules\/((@[^/]+\/)?[^/]+)/.exec(source)?.[1] ??
        (source.startsWith('node:') || !source ? 'node (runtime)' : 'capi-vip-allocator'));
    const ms = n * msPerSample;
    byArea.set(area, (byArea.get(area) ?? 0) + ms);
    const key = `${functionName}|${source}`;
    const fn = byFn.get(key) ?? { fn: functionName || '(anonymous)', source, ms: 0 };
    fn.ms += ms;
    byFn.set(key, fn);
  }
  return {
    totalMs: samples.length * msPerSample,
    byArea: [...byArea].map(([area, ms]) => ({ area, ms })).sort((a, b) => b.ms - a.ms),
    top: [...byFn.values()].sort((a, b) => b.ms - a.ms).slice(0, 15),
  };
}
