import { execa } from 'execa';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import http from 'node:http';
import path from 'node:path';
import { LOG_DIR } from './paths.js';
import type { Pki } from './pki.js';

/** How a component says it is ready: a GET that answers 200. */
export interface Probe {
  readonly url: string;
  /** Present the admin client certificate and trust the local CA (https probes). */
  readonly tls?: boolean;
}

export interface Component {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly probe: Probe;
  readonly env?: Readonly<Record<string, string>>;
  /** Seconds `up` waits for the probe before it names this component as the failure. */
  readonly readySeconds: number;
}

/** What `up` records of a started process, so `down` stops exactly that process. */
export interface Started {
  readonly name: string;
  readonly pid: number;
  readonly binary: string;
  readonly probe: Probe;
  readonly log: string;
}

export function logFile(name: string): string {
  return path.join(LOG_DIR, `${name}.log`);
}

/** Starts a component detached from this process, its output appended to its log file. */
export function start(component: Component): Started {
  const log = logFile(component.name);
  // execa's types name only descriptors 3-9 as literals; at runtime it reuses any descriptor.
  const fd = openSync(log, 'a') as 3;
  const child = execa(component.binary, [...component.args], {
    detached: true,
    cleanup: false,
    reject: false,
    // Raw descriptors, not pipes: the process must keep logging after this CLI exits.
    stdio: ['ignore', fd, fd],
    ...(component.env ? { env: { ...component.env } } : {}),
  });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`${component.name} did not start: ${component.binary}`);
  return { name: component.name, pid: child.pid, binary: component.binary, probe: component.probe, log };
}

/** True when the pid is alive and still runs the binary we started (pids get reused). */
export function isRunning(proc: Pick<Started, 'pid' | 'binary'>): boolean {
  try {
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8');
    return cmdline.split('\0')[0] === proc.binary;
  } catch {
    return false;
  }
}

export async function probe(p: Probe, pki: Pki | undefined): Promise<{ ok: boolean; detail: string }> {
  const url = new URL(p.url);
  const tls =
    p.tls && pki && existsSync(pki.ca.cert)
      ? {
          ca: await readFile(pki.ca.cert),
          cert: await readFile(pki.admin.cert),
          key: await readFile(pki.admin.key),
        }
      : {};
  return new Promise((resolve) => {
    const req = (url.protocol === 'https:' ? https : http).get(url, { ...tls, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({ ok: res.statusCode === 200, detail: `${res.statusCode}: ${body.slice(0, 300)}` }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ ok: false, detail: err.message }));
  });
}

async function lastLines(file: string, n: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Waits for the probe; on failure the error names the component, the reason and its log. */
export async function waitReady(proc: Started, seconds: number, pki: Pki): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  let last = { ok: false, detail: 'not probed yet' };
  while (Date.now() < deadline) {
    if (!isRunning(proc)) {
      throw new Error(
        `${proc.name} exited before it was ready; see ${proc.log}. Last lines:\n${await lastLines(proc.log, 20)}`,
      );
    }
    last = await probe(proc.probe, pki);
    if (last.ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${proc.name} was not ready after ${seconds}s (${proc.probe.url}: ${last.detail}); see ${proc.log}. ` +
      `Last lines:\n${await lastLines(proc.log, 20)}`,
  );
}

/** SIGTERM (or the signal given), then SIGKILL after a grace period; only if the pid still runs our binary. */
export async function stop(
  proc: Started,
  graceMs = 10_000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (!isRunning(proc)) return;
  process.kill(proc.pid, signal);
  const deadline = Date.now() + graceMs;
  while (isRunning(proc) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isRunning(proc)) process.kill(proc.pid, 'SIGKILL');
  while (isRunning(proc)) await new Promise((r) => setTimeout(r, 50));
}
