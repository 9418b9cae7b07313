/**
 * The processes the soak runs and hurts: two replicas of our process as a Deployment runs them
 * (`--leader-elect`, `--claim-reserve`) behind one address as a Service puts them, and the IPAM
 * provider frozen in place.
 *
 * The address is the plane's hook port, which its ExtensionConfig already names: a TCP proxy there
 * hands each connection to a live replica (TLS passes through; every replica serves the plane's
 * certificate). The plane's own process stands aside meanwhile, since without `--leader-elect` it
 * would refill reserves beside the leader, and is put back at the end.
 */
import { KubernetesObjectApi, PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import net from 'node:net';
import { HANDLER_SUFFIX } from '../../shared/protocol.js';
import { startAllocator, type AllocatorProcess } from '../fixtures/allocator-process.js';
import { EXTENSION_NAME } from '../control-plane/components.js';
import { EXTENSION_CONFIG } from '../control-plane/extension.js';
import { HOST, PORTS, type Log } from '../control-plane/paths.js';
import { loadKubeConfig, readState, restart } from '../control-plane/plane.js';
import { isRunning, stop } from '../control-plane/processes.js';
import { eventually } from '../fixtures/kube.js';

/** `--reuse-grace` of a replica: the plane's, or quarantine off. */
export type Grace = '15s' | '0s';

/** The grace the plane's own process runs with (PLANE_EXTENSION_FLAGS). */
const PLANE_GRACE: Grace = '15s';

const replicaFlags = (grace: Grace): string[] => [
  '--leader-elect',
  '--claim-reserve',
  `--reuse-grace=${grace}`,
  // Pools hold 198.18.0.0/24, and this machine's default route accepts any TCP connection: a probe
  // would find every address in use.
  '--probe-addresses=none',
  ...(process.env.SOAK_NO_WEBHOOK ? ['--endpoint-at-create=false'] : []),
];

interface Replica {
  proc?: AllocatorProcess;
  grace: Grace;
  /** Output of its earlier lives (each restart is a new process). */
  readonly past: string[];
  /** Its kills and restarts, one after another (a delayed restart may meet a rolling update). */
  lock: Promise<unknown>;
}

interface ExtensionConfig extends KubernetesObject {
  status?: { handlers?: { name: string }[]; conditions?: { type: string; status: string }[] };
}

const DISCOVERY_ANNOTATION = 'capi-vip-allocator.dev/soak-discovery';

/**
 * Makes CAPI discover our handlers again (a changed ExtensionConfig is discovered anew), and waits
 * until it lists BeforeClusterDelete exactly when `grace` registers it.
 */
async function rediscover(grace: Grace): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(loadKubeConfig());
  const config = {
    apiVersion: 'runtime.cluster.x-k8s.io/v1beta2',
    kind: 'ExtensionConfig',
    metadata: { name: EXTENSION_CONFIG },
  };
  await api.patch(
    {
      ...config,
      metadata: { ...config.metadata, annotations: { [DISCOVERY_ANNOTATION]: new Date().toISOString() } },
    },
    undefined,
    undefined,
    undefined,
    undefined,
    PatchStrategy.MergePatch,
  );
  await eventually(
    `CAPI to discover ExtensionConfig ${EXTENSION_CONFIG} with --reuse-grace=${grace}`,
    async () => {
      const status = ((await api.read(config)) as ExtensionConfig).status;
      const discovered = status?.conditions?.some((c) => c.type === 'Discovered' && c.status === 'True');
      const deletes = (status?.handlers ?? []).some((h) =>
        h.name.includes(HANDLER_SUFFIX.beforeClusterDelete),
      );
      return discovered && deletes === (grace !== '0s') ? true : undefined;
    },
    120_000,
  );
}

/** The plane the soak stood in on: when it started, and the pid of the process of ours it stopped. */
interface PlaneMark {
  readonly startedAt: string;
  readonly pid: number;
}

export class Replicas {
  readonly #replicas: Replica[];
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #plane: PlaneMark;
  readonly #log: Log;

  private constructor(replicas: Replica[], plane: PlaneMark, log: Log) {
    this.#replicas = replicas;
    this.#plane = plane;
    this.#log = log;
    this.#server = net.createServer((client) => this.#forward(client));
  }

  /** Stops the plane's process, starts two replicas and the proxy in its place. */
  static async start(log: Log): Promise<Replicas> {
    const state = await readState();
    const plane = state?.components.find((c) => c.name === EXTENSION_NAME);
    if (!state || !plane) {
      throw new Error(
        'The plane runs no extension of ours: run `npm run control-plane -- up --extension` first ' +
          '(the soak stands in for it and puts it back)',
      );
    }
    await stop(plane);
    log(
      `Stopped the plane's ${EXTENSION_NAME} (pid ${plane.pid}); it is restarted at the end. Until then the ` +
        `soak stands in for it on its port and \`status\` shows it down: run no other suite meanwhile`,
    );
    const replicas = new Replicas(
      [PLANE_GRACE, PLANE_GRACE].map((grace) => ({ grace, past: [], lock: Promise.resolve() })),
      { startedAt: state.startedAt, pid: plane.pid },
      log,
    );
    try {
      for (let i = 0; i < 2; i++) await replicas.restart(i);
      await new Promise<void>((resolve, reject) => {
        replicas.#server.once('error', reject);
        replicas.#server.listen(PORTS.extension, HOST, resolve);
      });
    } catch (err) {
      await replicas.stop();
      throw err;
    }
    return replicas;
  }

  /** Hands a connection to a live replica, trying the others when one refuses; none: it is closed. */
  #forward(client: net.Socket): void {
    this.#track(client);
    const ports = this.#replicas
      .flatMap((r) => (r.proc ? [r.proc.hookPort] : []))
      .sort(() => Math.random() - 0.5);
    const attempt = (): void => {
      const port = ports.shift();
      if (port === undefined) {
        client.destroy();
        return;
      }
      const upstream = this.#track(net.connect({ host: HOST, port }));
      upstream.once('error', attempt);
      upstream.once('connect', () => {
        upstream.removeListener('error', attempt);
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream).pipe(client);
      });
    };
    attempt();
  }

  #track(socket: net.Socket): net.Socket {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    return socket;
  }

  /**
   * Why the plane is no longer the one the soak stands in on, if it is not: the plane is shared
   * (`npm test` elsewhere brings it up, repairs it or takes it down), and a soak on a plane changed
   * under it proves nothing about the product.
   */
  async planeChanged(): Promise<string | undefined> {
    // A state file caught half written reads as nothing: the next look tells.
    const state = await readState().catch(() => null);
    if (state === null) return undefined;
    if (!state) return 'the plane was taken down';
    if (state.startedAt !== this.#plane.startedAt)
      return `the plane was started afresh at ${state.startedAt}`;
    const ours = state.components.find((c) => c.name === EXTENSION_NAME);
    return ours && ours.pid !== this.#plane.pid && isRunning(ours)
      ? `the plane's ${EXTENSION_NAME} was started again (pid ${ours.pid}) in the replicas' place`
      : undefined;
  }

  /** Indexes of the replicas running. */
  get live(): number[] {
    return this.#replicas.flatMap((r, i) => (r.proc ? [i] : []));
  }

  get grace(): Grace {
    return this.#replicas[0]?.grace ?? PLANE_GRACE;
  }

  /** Runs `work` on the replica once what was asked of it before is done. */
  #serial(replica: Replica, work: () => Promise<void>): Promise<void> {
    const run = replica.lock.then(work);
    replica.lock = run.catch(() => undefined);
    return run;
  }

  async kill(index: number, signal: NodeJS.Signals): Promise<void> {
    const replica = this.#replicas[index];
    if (!replica) return;
    await this.#serial(replica, async () => {
      const proc = replica.proc;
      if (!proc) return;
      replica.proc = undefined;
      await proc.kill(signal);
      replica.past.push(proc.log());
    });
  }

  /** Starts the replica again (a new process, new ports) with its grace; a running one is left be. */
  async restart(index: number): Promise<void> {
    const replica = this.#replicas[index];
    if (!replica) return;
    await this.#serial(replica, async () => {
      replica.proc ??= await startAllocator(replicaFlags(replica.grace));
    });
  }

  /**
   * A rolling update to another `--reuse-grace`: each replica stopped and started with it in turn,
   * then CAPI discovers the handlers that grace serves (BeforeClusterDelete only above 0).
   */
  async roll(grace: Grace): Promise<void> {
    for (const [i, replica] of this.#replicas.entries()) {
      // Set first: a delayed restart that comes in between starts it with the new grace too.
      replica.grace = grace;
      await this.kill(i, 'SIGTERM');
      await this.restart(i);
    }
    await rediscover(grace);
  }

  /** Every replica's output over all its lives, for a look after a failure. */
  output(): string[] {
    return this.#replicas.map((r) => [...r.past, r.proc?.log() ?? ''].join('\n'));
  }

  /**
   * Stops the replicas and the proxy, and puts the plane's process back, discovered again (unless
   * another process changed the plane meanwhile: the plane is then that process's to mend).
   */
  async stop(): Promise<void> {
    // SIGTERM: the leader gives its Lease back, as a rollout would.
    await Promise.all(this.live.map((i) => this.kill(i, 'SIGTERM')));
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
    if (await this.planeChanged()) return;
    await restart(EXTENSION_NAME, this.#log);
    await rediscover(PLANE_GRACE);
  }
}

/**
 * Freezes the IPAM provider (SIGSTOP) for `ms`, as a provider on a stalled node is: its health port
 * stays open and answers nothing. SIGCONT follows in every case, even when this process exits.
 */
export async function pauseIpam(ms: number): Promise<void> {
  const ipam = (await readState())?.components.find((c) => c.name === 'ipam-manager');
  if (!ipam || !isRunning(ipam)) throw new Error('The plane runs no IPAM provider to pause');
  const resume = (): void => {
    if (isRunning(ipam)) process.kill(ipam.pid, 'SIGCONT');
  };
  process.once('exit', resume);
  process.kill(ipam.pid, 'SIGSTOP');
  try {
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    resume();
    process.removeListener('exit', resume);
  }
}
