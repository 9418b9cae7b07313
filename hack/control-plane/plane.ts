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
import { capiRelease, CAPI_VERSION } from '../versions.js';
import { installCrdsAndWebhooks } from './crds.js';
import { HOST, KUBECONFIG, LOG_DIR, PLANE_DIR, PORTS, STATE_FILE, type Log } from './paths.js';
import { base64, ensurePki, type Pki } from './pki.js';
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
  // JSON is valid YAML, and every client reads it.
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'capi-vip-allocator-local',
        cluster: {
          server: `https://${HOST}:${PORTS.apiserver}`,
          'certificate-authority-data': await base64(pki.ca.cert),
        },
      },
    ],
    users: [
      {
        name: 'admin',
        user: {
          'client-certificate-data': await base64(pki.admin.cert),
          'client-key-data': await base64(pki.admin.key),
        },
      },
    ],
    contexts: [
      { name: 'capi-vip-allocator-local', context: { cluster: 'capi-vip-allocator-local', user: 'admin' } },
    ],
    'current-context': 'capi-vip-allocator-local',
  };
  await writeFile(KUBECONFIG, JSON.stringify(config, null, 2), { mode: 0o600 });
}

export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

/** Every recorded component is alive and its probe answers. */
export async function healthy(state: PlaneState | undefined): Promise<boolean> {
  if (!state) return false;
  const pki = await ensurePki();
  for (const c of state.components) {
    if (!isRunning(c) || !(await probe(c.probe, pki)).ok) return false;
  }
  return true;
}

/** Starts a component, records it in the state and waits until it is ready. */
export async function launch(component: Component, pki: Pki, state: PlaneState, log: Log): Promise<void> {
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
 * Builds (once), starts and waits for the whole plane with CAPI `capiVersion`; reuses a running,
 * healthy one of that version. Another version is swapped out whole: etcd is wiped, so its CRDs,
 * webhooks and objects go with it.
 */
export async function up(log: Log, capiVersion: string = CAPI_VERSION): Promise<PlaneState> {
  const capi = capiRelease(capiVersion);
  const existing = await readState();
  const running = existing?.capi ?? CAPI_VERSION;
  if (running === capi.version && (await healthy(existing))) {
    log(
      `Control plane with CAPI ${running} already running and healthy (started ${existing?.startedAt}); reusing it`,
    );
    return existing as PlaneState;
  }
  if (existing) {
    log(
      running !== capi.version
        ? `Control plane runs CAPI ${running}: stopping it to start CAPI ${capi.version}`
        : 'Control plane state found but not healthy: stopping what is left of it first',
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
 * Stops one component of a running plane and starts it again with the same arguments (for
 * reliability tests: a kube-apiserver restart, an IPAM provider outage, our process SIGKILLed).
 */
export async function restart(
  name: string,
  log: Log,
  { downtimeMs = 0, signal = 'SIGTERM' }: { downtimeMs?: number; signal?: NodeJS.Signals } = {},
): Promise<void> {
  const state = await readState();
  const old = state?.components.find((c) => c.name === name);
  if (!state || !old) throw new Error(`No running component ${name} in the control plane`);
  const pki = await ensurePki();
  const capi = capiRelease(state.capi);
  const specs: Record<string, () => Component> = {
    etcd,
    'kube-apiserver': () => kubeApiserver(pki),
    'kube-controller-manager': () => kubeControllerManager(pki),
    'capi-manager': () => capiManager(pki, capi),
    'kcp-manager': () => kcpManager(pki, capi),
    'ipam-manager': ipamManager,
    [EXTENSION_NAME]: () => extension(pki),
  };
  const spec = specs[name];
  if (!spec) throw new Error(`${name} cannot be restarted this way`);
  await stop(old, 10_000, signal);
  state.components.splice(state.components.indexOf(old), 1);
  await writeState(state);
  await new Promise((r) => setTimeout(r, downtimeMs));
  await launch(spec(), pki, state, log);
}

/** Stops exactly the processes `up` recorded (by pid) and removes their state; logs stay. */
export async function down(log: Log): Promise<void> {
  const state = await readState();
  for (const c of [...(state?.components ?? [])].reverse()) {
    await stop(c);
    log(`  Stopped ${c.name} (pid ${c.pid})`);
  }
  for (const p of [ETCD_DATA_DIR, STATE_FILE, KUBECONFIG, `${PLANE_DIR}/apiserver`]) {
    await rm(p, { recursive: true, force: true });
  }
  log('Control plane down');
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
