import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { ensureBinaries } from './build.js';
import {
  capiManager,
  etcd,
  extension,
  EXTENSION_NAME,
  ETCD_DATA_DIR,
  ipamManager,
  kcpManager,
  kubeApiserver,
  kubeControllerManager,
  type Component,
} from './components.js';
import { capiRelease, CAPI_VERSION, type CapiRelease } from '../versions.js';
import { installCrdsAndWebhooks } from './crds.js';
import { HOST, KUBECONFIG, LOG_DIR, PLANE_DIR, PORTS, STATE_FILE, type Log } from './paths.js';
import { ensurePki, kubeconfig, type Pki } from './pki.js';
import { isRunning, probe, start, stop, waitReady, type Started } from './processes.js';

export interface PlaneState {
  readonly startedAt: string;
  /** The CAPI release running (`up --capi`); absent in states written before the matrix. */
  readonly capi?: string;
  readonly components: Started[];
}

export async function readState(): Promise<PlaneState | undefined> {
  if (!existsSync(STATE_FILE)) return undefined;
  return JSON.parse(await readFile(STATE_FILE, 'utf8')) as PlaneState;
}

export async function writeState(state: PlaneState): Promise<void> {
  await writeFile(STATE_FILE, JSON.stringify(state, null, 2));
}

async function writeKubeconfig(pki: Pki): Promise<void> {
  const server = `https://${HOST}:${PORTS.apiserver}`;
  await writeFile(KUBECONFIG, await kubeconfig('capi-vip-allocator-local', server, pki.ca, pki.admin), {
    mode: 0o600,
  });
}

export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

/** Starts a component, records it in the state and waits until it is ready. */
export async function launch(component: Component, pki: Pki, state: PlaneState, log: Log): Promise<void> {
  // A stray process on the port would answer the probe for the new one, which then dies unseen.
  if ((await probe(component.probe, pki)).ok) {
    throw new Error(
      `${component.name}: ${component.probe.url} answers before it is started: a process not in this plane's ` +
        `state holds its port (find it with \`ss -ltnp\`, stop it, then run up again)`,
    );
  }
  const t = Date.now();
  const proc = start(component);
  state.components.push(proc);
  // Recorded before the wait, so a failed `up` can still be cleaned by `down`.
  await writeState(state);
  await waitReady(proc, component.readySeconds, pki);
  log(
    `  ${component.name} ready in ${((Date.now() - t) / 1000).toFixed(1)}s (pid ${proc.pid}, log ${proc.log})`,
  );
}

/**
 * Builds (once), starts and waits for the whole plane with CAPI `capiVersion`. A plane of that
 * version is kept: what is down of it is restarted (etcd's data stays) and named. Its etcd is wiped
 * only on `fresh`, for another CAPI version (its CRDs, webhooks and objects go with it), or when
 * etcd or the kube-apiserver does not come back; each says so before it wipes.
 */
export async function up(
  log: Log,
  capiVersion: string = CAPI_VERSION,
  { fresh = false }: { fresh?: boolean } = {},
): Promise<PlaneState> {
  const capi = capiRelease(capiVersion);
  const existing = await readState();
  const running = existing?.capi ?? CAPI_VERSION;
  if (existing && !fresh && running === capi.version) {
    const recovered = await recover(existing, capi, log);
    if (recovered) return recovered;
  }
  if (existing) {
    log(
      fresh
        ? 'up --fresh: stopping the control plane and wiping its etcd (every object in it is lost)'
        : running !== capi.version
          ? `Control plane runs CAPI ${running}: stopping it and wiping its etcd to start CAPI ${capi.version}`
          : 'etcd or the kube-apiserver could not be recovered: stopping the control plane and wiping its etcd',
    );
    await down(log);
  }
  const t0 = Date.now();
  await ensureBinaries(log, capi);
  const tBuilt = Date.now();
  await mkdir(LOG_DIR, { recursive: true });
  await rm(ETCD_DATA_DIR, { recursive: true, force: true });
  const pki = await ensurePki();
  await writeKubeconfig(pki);

  log(`Starting the control plane with CAPI ${capi.version} on 127.0.0.1`);
  const state: PlaneState = { startedAt: new Date().toISOString(), capi: capi.version, components: [] };
  try {
    await launch(etcd(), pki, state, log);
    await launch(kubeApiserver(pki), pki, state, log);
    await installCrdsAndWebhooks(loadKubeConfig(), pki, log, capi);
    await launch(kubeControllerManager(pki), pki, state, log);
    await launch(capiManager(pki, capi), pki, state, log);
    await launch(kcpManager(pki, capi), pki, state, log);
    await launch(ipamManager(), pki, state, log);
  } catch (err) {
    log('Control plane failed to start; stopping what was started (logs are kept)');
    await down(() => undefined);
    throw err;
  }
  log(
    `Control plane up in ${((Date.now() - tBuilt) / 1000).toFixed(1)}s` +
      (tBuilt - t0 > 1000 ? ` (plus ${Math.round((tBuilt - t0) / 1000)}s building)` : '') +
      `. export KUBECONFIG=${KUBECONFIG}`,
  );
  return state;
}

/**
 * A recorded plane of the wanted version, with what is down of it restarted in start order; or
 * undefined when etcd or the kube-apiserver does not come back (the caller then starts afresh).
 */
async function recover(state: PlaneState, capi: CapiRelease, log: Log): Promise<PlaneState | undefined> {
  const pki = await ensurePki();
  const dead: Started[] = [];
  for (const c of state.components) {
    if (!isRunning(c) || !(await probe(c.probe, pki)).ok) dead.push(c);
  }
  if (dead.length === 0) {
    log(
      `Control plane with CAPI ${capi.version} already running and healthy (started ${state.startedAt}); reusing it`,
    );
    return state;
  }
  const names = dead.map((c) => c.name).join(', ');
  log(`Control plane with CAPI ${capi.version}: ${names} down; restarting, keeping etcd's data`);
  for (const c of dead) {
    try {
      await relaunch(state, c, pki, capi, log);
    } catch (err) {
      if (c.name !== 'etcd' && c.name !== 'kube-apiserver') throw err;
      log(`  ${c.name} did not come back: ${(err as Error).message}`);
      return undefined;
    }
  }
  log(`Restarted ${names}`);
  return state;
}

/** How each component is started, by name: what `up` started, `relaunch` starts again. */
function specFor(name: string, pki: Pki, capi: CapiRelease): (() => Component) | undefined {
  const specs: Record<string, () => Component> = {
    etcd,
    'kube-apiserver': () => kubeApiserver(pki),
    'kube-controller-manager': () => kubeControllerManager(pki),
    'capi-manager': () => capiManager(pki, capi),
    'kcp-manager': () => kcpManager(pki, capi),
    'ipam-manager': ipamManager,
    [EXTENSION_NAME]: () => extension(pki),
  };
  return Object.hasOwn(specs, name) ? specs[name] : undefined;
}

/** Stops a recorded component (if it still runs) and starts it again in its place in the state. */
async function relaunch(
  state: PlaneState,
  old: Started,
  pki: Pki,
  capi: CapiRelease,
  log: Log,
  { downtimeMs = 0, signal = 'SIGTERM' }: { downtimeMs?: number; signal?: NodeJS.Signals } = {},
): Promise<void> {
  const spec = specFor(old.name, pki, capi);
  if (!spec) throw new Error(`${old.name} cannot be restarted this way`);
  await stop(old, 10_000, signal);
  const at = state.components.indexOf(old);
  state.components.splice(at, 1);
  await writeState(state);
  await new Promise((r) => setTimeout(r, downtimeMs));
  await launch(spec(), pki, state, log);
  // Back in its place: recovery walks the components in start order.
  const started = state.components.pop();
  if (started) state.components.splice(at, 0, started);
  await writeState(state);
}

/**
 * Stops one component of a running plane and starts it again with the same arguments (for
 * reliability tests: a kube-apiserver restart, an IPAM provider outage, our process SIGKILLed).
 */
export async function restart(
  name: string,
  log: Log,
  options: { downtimeMs?: number; signal?: NodeJS.Signals } = {},
): Promise<void> {
  const state = await readState();
  const old = state?.components.find((c) => c.name === name);
  if (!state || !old) throw new Error(`No running component ${name} in the control plane`);
  await relaunch(state, old, await ensurePki(), capiRelease(state.capi), log, options);
}

export async function down(log: Log): Promise<void> {
  const state = await readState();
  for (const c of [...(state?.components ?? [])].reverse()) {
    await stop(c);
    log(`  Stopped ${c.name} (pid ${c.pid})`);
  }
  for (const p of [ETCD_DATA_DIR, STATE_FILE, KUBECONFIG, `${PLANE_DIR}/apiserver`]) {
    await rm(p, { recursive: true, force: true });
  }
  log('Control plane down; its etcd data is wiped');
}

export async function status(log: Log): Promise<boolean> {
  const state = await readState();
  if (!state) {
    log('Control plane is not running (no state in .cache/control-plane)');
    return false;
  }
  const pki = await ensurePki();
  let ok = true;
  for (const c of state.components) {
    const running = isRunning(c);
    const health = running ? await probe(c.probe, pki) : { ok: false, detail: 'process not running' };
    ok &&= health.ok;
    log(
      `${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${health.ok ? 'healthy' : `UNHEALTHY (${health.detail})`}  ${c.log}`,
    );
  }
  return ok;
}
