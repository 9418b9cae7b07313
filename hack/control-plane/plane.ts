import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { ensureBinaries, ensurePins } from './build.js';
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
} from './components.js';
import { capiRelease, CAPI_VERSION, PINS, type CapiRelease } from '../versions.js';
import { installCrdsAndWebhooks } from './crds.js';
import { buildImages, PAUSE_TAR } from '../image.js';
import { HOST, KUBECONFIG, LOG_DIR, PLANE_DIR, PORTS, STATE_FILE, type Log } from './paths.js';
import {
  applyNodeRbac,
  certManager,
  containerd,
  ensureNodePki,
  importImage,
  kubelet,
  kubeProxy,
  kubeScheduler,
  BRIDGE,
  NODE_NAME,
  nodeUnavailable,
  serviceHosts,
  setupNetwork,
  teardownNode,
} from './node.js';
import { ensurePki, kubeconfig, type Pki } from './pki.js';
import { isRunning, probe, start, stop, waitReady, type Component, type Started } from './processes.js';

export interface PlaneState {
  readonly startedAt: string;
  /** The CAPI release running (`up --capi`); absent in states written before the matrix. */
  readonly capi?: string;
  readonly components: Started[];
  /** The plane has a node (`up --node`). */
  node?: boolean;
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
  { fresh = false, node = false }: { fresh?: boolean; node?: boolean } = {},
): Promise<PlaneState> {
  const capi = capiRelease(capiVersion);
  if (node) {
    const why = await nodeUnavailable();
    if (why) throw new Error(`up --node: ${why}`);
    await ensurePins(log, [PINS.kubernetesNode, PINS.certManagerController], 'the node');
  }
  const existing = await readState();
  const running = existing?.capi ?? CAPI_VERSION;
  if (existing && !fresh && running === capi.version) {
    const recovered = await recover(existing, capi, log);
    if (recovered) {
      if (node) await upNode(recovered, capi, log);
      return recovered;
    }
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
    if (node) {
      await setupNetwork(log);
      state.node = true;
      await writeState(state);
    }
    await launch(etcd(), pki, state, log);
    await launch(kubeApiserver(pki, node), pki, state, log);
    await installCrdsAndWebhooks(loadKubeConfig(), pki, log, capi);
    await launch(kubeControllerManager(pki, node), pki, state, log);
    await launch(capiManager(pki, capi), pki, state, log);
    await launch(kcpManager(pki, capi), pki, state, log);
    await launch(ipamManager(), pki, state, log);
    if (node) await upNode(state, capi, log);
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

type Spec = () => Component | Promise<Component>;

/** How each component is started, by name: what `up` started, `relaunch` starts again. */
function specFor(state: PlaneState, name: string, pki: Pki, capi: CapiRelease): Spec | undefined {
  const node = Boolean(state.node);
  const specs: Record<string, Spec> = {
    etcd,
    'kube-apiserver': () => kubeApiserver(pki, node),
    'kube-controller-manager': () => kubeControllerManager(pki, node),
    'capi-manager': () => capiManager(pki, capi),
    'kcp-manager': () => kcpManager(pki, capi),
    'ipam-manager': ipamManager,
    [EXTENSION_NAME]: () => extension(pki),
    containerd,
    kubelet: () => kubelet(pki),
    'kube-proxy': kubeProxy,
    'kube-scheduler': () => kubeScheduler(pki),
    'cert-manager': certManager,
    'service-hosts': () => serviceHosts(KUBECONFIG),
  };
  return Object.hasOwn(specs, name) ? specs[name] : undefined;
}

/**
 * Adds the node to a running plane (or keeps the one it has): the API server and the
 * controller-manager restart with the node's arguments (etcd's data stays), then containerd,
 * kubelet, kube-proxy, the scheduler, cert-manager and the Service names on the host.
 */
async function upNode(state: PlaneState, capi: CapiRelease, log: Log): Promise<void> {
  const pki = await ensurePki();
  // Idempotent: a node kept across `up` has its network checked again.
  await setupNetwork(log);
  if (!state.node) {
    log('Adding the node: the API server and controller-manager restart with its arguments');
    state.node = true;
    await writeState(state);
    for (const name of ['kube-apiserver', 'kube-controller-manager']) {
      const c = state.components.find((x) => x.name === name);
      if (c) await relaunch(state, c, pki, capi, log);
    }
  }
  await ensureNodePki(pki);
  await applyNodeRbac(KubernetesObjectApi.makeApiClient(loadKubeConfig()));
  // The sandbox image must be in containerd before any Pod; `npm run image` makes it (cached).
  if (!existsSync(PAUSE_TAR)) await buildImages(log);
  const want: Spec[] = [
    containerd,
    async () => {
      await importImage(PAUSE_TAR);
      return kubelet(pki);
    },
    kubeProxy,
    () => kubeScheduler(pki),
    certManager,
    () => serviceHosts(KUBECONFIG),
  ];
  for (const spec of want) {
    const component = await spec();
    if (state.components.some((c) => c.name === component.name)) continue;
    await launch(component, pki, state, log);
  }
  log(`Node ${NODE_NAME} up: Pods on ${BRIDGE}, Services resolvable on the host`);
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
  const spec = specFor(state, old.name, pki, capi);
  if (!spec) throw new Error(`${old.name} cannot be restarted this way`);
  await stop(old, 10_000, signal);
  const at = state.components.indexOf(old);
  state.components.splice(at, 1);
  await writeState(state);
  await new Promise((r) => setTimeout(r, downtimeMs));
  await launch(await spec(), pki, state, log);
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

/** The node's processes, in start order. */
const NODE_COMPONENTS = [
  'containerd',
  'kubelet',
  'kube-proxy',
  'kube-scheduler',
  'cert-manager',
  'service-hosts',
];

/**
 * Takes the node out of a running plane (`down --node`): its processes stopped, everything it left
 * on the machine removed, its Node object deleted, and the API server and controller-manager back
 * to their arguments without it (etcd's data stays).
 */
export async function downNode(log: Log): Promise<void> {
  if (!(await readState())?.node) {
    log('The plane has no node');
    return;
  }
  for (const name of [...NODE_COMPONENTS].reverse()) await stopComponent(name, log);
  await teardownNode(log);
  const state = await readState();
  if (!state) return;
  state.node = false;
  await writeState(state);
  const pki = await ensurePki();
  const capi = capiRelease(state.capi);
  for (const name of ['kube-apiserver', 'kube-controller-manager']) {
    const c = state.components.find((x) => x.name === name);
    if (c) await relaunch(state, c, pki, capi, log);
  }
  await KubernetesObjectApi.makeApiClient(loadKubeConfig())
    .delete({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAME } })
    .catch(() => undefined);
  log(`Node ${NODE_NAME} removed`);
}

/** Stops one component and forgets it (the install suites stop the host's extension for the Pods'). */
export async function stopComponent(name: string, log: Log): Promise<void> {
  const state = await readState();
  const c = state?.components.find((x) => x.name === name);
  if (!state || !c) return;
  await stop(c);
  state.components.splice(state.components.indexOf(c), 1);
  await writeState(state);
  log(`  Stopped ${c.name} (pid ${c.pid})`);
}

export async function down(log: Log): Promise<void> {
  const state = await readState();
  for (const c of [...(state?.components ?? [])].reverse()) {
    await stop(c);
    log(`  Stopped ${c.name} (pid ${c.pid})`);
  }
  if (state?.node) await teardownNode(log);
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
