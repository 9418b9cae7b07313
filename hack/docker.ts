/**
 * A private Docker engine for this checkout: Debian's dockerd (no systemd here) with its data,
 * state, socket and log under .cache/docker, no iptables and no bridge (containers run with
 * `--network host`). `ensureDocker()` reuses one already answering; `docker(...)` talks to it.
 *
 *   npx tsx hack/docker.ts up|status|down
 */
import { execa, type Options, type ResultPromise } from 'execa';
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { unmountAll } from './control-plane/mounts.js';
import { CACHE_DIR, type Log } from './control-plane/paths.js';

export const DOCKER_DIR = path.join(CACHE_DIR, 'docker');
export const DOCKER_SOCKET = path.join(DOCKER_DIR, 'docker.sock');
export const DOCKER_HOST = `unix://${DOCKER_SOCKET}`;
const DATA_ROOT = path.join(DOCKER_DIR, 'data');
const EXEC_ROOT = path.join(DOCKER_DIR, 'exec');
const PID_FILE = path.join(DOCKER_DIR, 'docker.pid');
export const DOCKER_LOG = path.join(DOCKER_DIR, 'dockerd.log');

/** sockaddr_un holds 108 bytes with the NUL: the longest socket dockerd makes must fit. */
const SOCKET_MAX = 107;
const LONGEST_SOCKETS = [DOCKER_SOCKET, path.join(EXEC_ROOT, 'containerd/containerd.sock.ttrpc')];

/** The client that matches Debian's dockerd (20.10) when installed; else whatever `docker` is. */
const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** `docker ...` against our engine; the legacy builder (BuildKit is not installed here). */
export function docker(args: readonly string[], options: Options = {}): ResultPromise {
  return execa(DOCKER_CLI, args, {
    ...options,
    env: { ...options.env, DOCKER_HOST, DOCKER_BUILDKIT: '0' },
  });
}

/** True when our engine answers `GET /_ping`. */
export function dockerAnswers(timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: DOCKER_SOCKET, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Our dockerd's pid from its pidfile, when that process is alive and is our dockerd. */
function ourPid(): number | undefined {
  if (!existsSync(PID_FILE)) return undefined;
  const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.some((a) => a.endsWith('dockerd')) && cmdline.some((a) => a.includes(DATA_ROOT))
      ? pid
      : undefined;
  } catch {
    return undefined;
  }
}

const logTail = (lines = 15): string =>
  existsSync(DOCKER_LOG)
    ? readFileSync(DOCKER_LOG, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    : '';

/**
 * Our engine, answering: the one already running, or a new dockerd. `started` says which, so a
 * caller that started it may stop it. Throws with the reason (and dockerd's last log lines).
 */
export async function ensureDocker(log: Log = () => undefined): Promise<{ started: boolean }> {
  if (await dockerAnswers()) return { started: false };
  const tooLong = LONGEST_SOCKETS.find((s) => Buffer.byteLength(s) > SOCKET_MAX);
  if (tooLong) {
    throw new Error(
      `${tooLong} is ${Buffer.byteLength(tooLong)} bytes; a unix socket path may have at most ${SOCKET_MAX}: use a checkout with a shorter path`,
    );
  }
  const dockerd = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => existsSync(p));
  if (!dockerd) throw new Error('dockerd is not installed (apt-get install docker.io)');
  if (process.getuid?.() !== 0) throw new Error('dockerd needs root here (no rootless setup)');
  const running = ourPid();
  if (running) {
    // Alive but not answering: still starting (another caller), or wedged. Give it a moment.
    if (await waitForPing(running, 30_000)) return { started: false };
    throw new Error(`dockerd (pid ${running}) runs but does not answer on ${DOCKER_SOCKET}:\n${logTail()}`);
  }
  await mkdir(DOCKER_DIR, { recursive: true });
  // A dead engine's pidfile would make dockerd refuse to start.
  await rm(PID_FILE, { force: true });
  log(`Starting dockerd (${DOCKER_HOST}, log ${path.relative(process.cwd(), DOCKER_LOG)})`);
  const out = openSync(DOCKER_LOG, 'a');
  const child = spawn(
    dockerd,
    [
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      `--data-root=${DATA_ROOT}`,
      `--exec-root=${EXEC_ROOT}`,
      `-H=${DOCKER_HOST}`,
      `--pidfile=${PID_FILE}`,
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  let exited: string | undefined;
  child.on('exit', (code, signal) => (exited = signal ?? `code ${code}`));
  child.on('error', (err) => (exited = err.message));
  child.unref();
  const pid = child.pid;
  if (pid === undefined || !(await waitForPing(pid, 60_000, () => exited))) {
    if (!exited && pid) process.kill(pid, 'SIGTERM');
    throw new Error(`dockerd did not come up (${exited ?? 'no answer in 60 s'}):\n${logTail()}`);
  }
  return { started: true };
}

async function waitForPing(
  pid: number,
  timeoutMs: number,
  exited?: () => string | undefined,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await dockerAnswers()) return true;
    if (exited?.()) return false;
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/** Stops our dockerd (SIGTERM, then SIGKILL after 30 s); false when none was running. */
export async function stopDocker(log: Log = () => undefined): Promise<boolean> {
  const pid = ourPid();
  if (!pid) return false;
  log(`Stopping dockerd (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  for (const deadline = Date.now() + 30_000; Date.now() < deadline && ourPid() === pid;) {
    await new Promise((r) => setTimeout(r, 250));
  }
  if (ourPid() === pid) process.kill(pid, 'SIGKILL');
  // dockerd leaves its default network namespace mounted under its exec root.
  await unmountAll((m) => m.startsWith(`${EXEC_ROOT}/`));
  return true;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const say: Log = (m) => process.stderr.write(`${m}\n`);
  const command = process.argv[2] ?? 'status';
  if (command === 'up') {
    const { started } = await ensureDocker(say);
    say(
      started
        ? `dockerd started: DOCKER_HOST=${DOCKER_HOST}`
        : `dockerd already running: DOCKER_HOST=${DOCKER_HOST}`,
    );
  } else if (command === 'down') {
    say((await stopDocker(say)) ? 'dockerd stopped' : 'dockerd was not running');
  } else if (command === 'status') {
    const up = await dockerAnswers();
    say(up ? `dockerd answers: DOCKER_HOST=${DOCKER_HOST}` : 'dockerd is not running');
    process.exitCode = up ? 0 : 1;
  } else {
    say('Usage: tsx hack/docker.ts up|status|down');
    process.exitCode = 2;
  }
}
