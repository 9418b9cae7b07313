/**
 * capi-vip-allocator: the runtime-extension server (BeforeClusterCreate, GeneratePatches,
 * DiscoverVariables) with its probes and metrics. `npm start` and the container image run this file.
 */
import https from 'node:https';
import type http from 'node:http';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { Operator, OperatorEvent } from '../operator/operator.js';
import { registerClaimOwners } from '../operator/reconcilers/claim-owners.js';
import { registerClaimReserve, type ReservePoolKind } from '../operator/reconcilers/claim-reserve.js';
import { registerInvariants } from '../operator/reconcilers/invariants.js';
import { registerQuarantine } from '../operator/reconcilers/quarantine.js';
import { registerVipAnswering } from '../operator/reconcilers/vip-answering.js';
import { Allocator } from '../shared/allocator/allocator.js';
import type { PoolKind } from '../shared/allocator/pools.js';
import { KubeStore, Objects } from '../shared/allocator/store.js';
import type { ReserveView } from '../shared/reserve.js';
import { FlagError, parseFlags, usage, type Config } from '../shared/config.js';
import { EventRecorder } from '../shared/events.js';
import { addressProber } from '../shared/probe.js';
import { reason } from '../shared/kube/errors.js';
import { loadKubeConfig } from '../shared/kube/kubeconfig.js';
import { createLogger, type Logger } from '../shared/log.js';
import { doctorCommand } from './doctor-cli.js';
import { beforeClusterCreate } from './hooks/before-cluster-create.js';
import { beforeClusterDelete } from './hooks/before-cluster-delete.js';
import { discoverVariables } from './hooks/discover-variables.js';
import { generatePatchesHandler } from './hooks/generate-patches.js';
import { listen } from './listen.js';
import { Metrics, serveMetrics, storeSnapshot } from './metrics.js';
import { nudgeWaitingClusters } from './nudge.js';
import { Lifecycle, serveProbes } from './probes.js';
import { handlerName, HANDLER_SUFFIX, HOOK_TIMEOUT_SECONDS } from '../shared/protocol.js';
import { createHookApp, register } from './server.js';
import { readKeyPair, watchKeyPair } from './tls.js';

/** Aligned with the API server's webhook client, which reuses connections. */
const KEEP_ALIVE_MS = 65_000;

export async function run(config: Config, log: Logger): Promise<() => Promise<void>> {
  const kc = loadKubeConfig(config.kubeconfig);
  const store = new KubeStore(kc);
  const reserve: { view?: ReserveView } = {};
  const metrics = new Metrics(() => storeSnapshot(store, config.poolKinds));
  const allocator = new Allocator(store, {
    poolKinds: config.poolKinds,
    defaultPort: config.defaultPort,
    prober: addressProber(config.probeTimeoutMs, config.probeAddresses),
    // The reserve's cache starts with the operator, after the hooks, and readiness does not wait
    // for its list: until then it shows no claim. A Cluster's adopted claim is still found by a
    // live read; a free one is not adopted, and the Cluster claims from its pool as without a reserve.
    reserve: config.claimReserve
      ? {
          free: (namespace, pool) => reserve.view?.free(namespace, pool) ?? [],
          adopted: (namespace, cluster, role) => reserve.view?.adopted(namespace, cluster, role) ?? [],
        }
      : undefined,
  });
  const recorder = new EventRecorder(kc, (err) =>
    log.warn('Could not record an Event', { error: reason(err) }),
  );
  const lifecycle = new Lifecycle();
  const servers: http.Server[] = [];

  // Before any API call: a slow start (a busy API server, a large fleet) must not leave liveness
  // unanswered, or a kubelet restarts every replica when the fleet is busiest.
  if (config.healthProbeBindAddress.port !== 0) {
    servers.push(await serveProbes(config.healthProbeBindAddress, lifecycle));
    log.info('Serving probes', { port: config.healthProbeBindAddress.port });
  }
  if (config.metricsBindAddress.port !== 0) {
    servers.push(await serveMetrics(metrics, config.metricsBindAddress));
    log.info('Serving metrics', { port: config.metricsBindAddress.port });
  }

  let hooks: http.Server | undefined;
  if (config.enableRuntimeExtension) {
    const name = config.runtimeExtensionName;
    const handlers = [
      register(
        beforeClusterCreate({
          allocator,
          recorder,
          patchCluster: (cluster, patch) => store.patchCluster(cluster, patch),
          getClusterClass: (namespace, n) => store.getClusterClass(namespace, n),
          generatePatchesHandler: handlerName(name, HANDLER_SUFFIX.generatePatches),
          defaultPort: config.defaultPort,
          allocationWaitMs: config.allocationWaitMs,
          observe: (slot, result) =>
            metrics.allocations.inc({ role: slot.role, family: slot.family ?? 'any', result }),
          observeTimeToVip: (seconds) => metrics.timeToVip.observe(seconds),
        }),
      ),
      register(
        generatePatchesHandler({
          defaultPort: config.defaultPort,
          topologyExists: async (namespace, n) => {
            const spec = (await store.getCluster(namespace, n))?.spec;
            return Boolean(spec?.infrastructureRef?.name || spec?.controlPlaneRef?.name);
          },
        }),
      ),
      register(discoverVariables),
      // At --reuse-grace=0 a deleted Cluster's claims go with it, as without this product.
      ...(config.reuseGraceMs > 0
        ? [
            register(
              beforeClusterDelete({ allocator, recorder, reuseGraceSeconds: config.reuseGraceMs / 1000 }),
            ),
          ]
        : []),
    ];
    const pair = readKeyPair(config.certDir);
    const server = https.createServer(
      { ...pair, minVersion: 'TLSv1.2' },
      createHookApp(name, handlers, log, metrics),
    );
    server.keepAliveTimeout = KEEP_ALIVE_MS;
    server.headersTimeout = KEEP_ALIVE_MS + 1_000;
    const stopWatching = watchKeyPair(
      config.certDir,
      pair,
      (next) => {
        server.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
        log.info('Reloaded the serving certificate', { certDir: config.certDir });
      },
      (err) =>
        log.error('Serving certificate not reloaded; keeping the current one', {
          certDir: config.certDir,
          error: reason(err),
        }),
      config.certPollIntervalMs,
    );
    server.on('close', stopWatching);
    const at = await listen(server, { host: undefined, port: config.runtimeExtensionPort });
    log.info('Serving runtime-extension hooks', {
      port: at.port,
      handlers: handlers.map((h) => handlerName(name, h.suffix)),
    });
    hooks = server;
    // Clusters that waited out an outage of every replica come back now, not after CAPI's backoff.
    void nudgeWaitingClusters(store).then(
      (count) => count > 0 && log.info('Nudged Clusters waiting for their topology', { count }),
      (err: unknown) => log.warn('Could not nudge waiting Clusters', { error: reason(err) }),
    );
  }

  lifecycle.serving();

  // Always: held claims are released whatever the grace is now, and the invariants are audited.
  const operator = await buildOperator(config, kc, store, allocator, recorder, metrics, log, reserve);
  lifecycle.reporting(operator);
  metrics.reportInformers(() => operator.informers());
  const waiting = setInterval(
    () =>
      log.info('Waiting for the first lists', {
        informers: operator.informers().filter((i) => !i.synced),
      }),
    10_000,
  );
  // Not awaited: the hooks are served meanwhile, and a signal may stop the process first.
  void operator
    .start()
    .then(() =>
      log.info('Reconciler started', {
        leaderElect: config.leaderElect,
        claimOwners: config.enableReconciler,
        vipAnswering: config.reportVipAnswering,
        reuseGraceSeconds: config.reuseGraceMs / 1000,
        auditIntervalSeconds: config.auditIntervalMs / 1000,
        claimReserve: config.claimReserve,
      }),
    )
    .finally(() => clearInterval(waiting));

  return async () => {
    clearInterval(waiting);
    // Readiness off first; the Lease is released meanwhile, so another replica leads while this
    // one still answers hooks.
    await Promise.all([lifecycle.drain(hooks, config.shutdownDrainMs), operator.stop()]);
    // After the hook server: a call in flight may be waiting on the store's claim watch.
    store.close();
    // Probes and metrics: no answer of theirs is waited for once the hooks are closed.
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  };
}

/** The reconcilers the flags ask for, on one operator (not started): one Lease, one set of watches. */
async function buildOperator(
  config: Config,
  kc: KubeConfig,
  store: KubeStore,
  allocator: Allocator,
  recorder: EventRecorder,
  metrics: Metrics,
  log: Logger,
  reserve: { view?: ReserveView },
): Promise<Operator> {
  const identity = `${hostname()}-${randomBytes(4).toString('hex')}`;
  const operator = new Operator(kc, {
    leader: config.leaderElect
      ? {
          namespace: config.leaderElectionNamespace,
          name: 'capi-vip-allocator',
          identity,
          leaseDurationMs: config.leaderElectLeaseDurationMs,
        }
      : undefined,
  });
  if (config.enableReconciler) {
    registerClaimOwners(operator, {
      allocator,
      store,
      recorder,
      orphanGraceMs: config.orphanClaimGraceMs,
      deleteOrphans: config.deleteOrphanClaims,
      onAdopted: () => metrics.claimsAdopted.inc(),
      onOrphans: (n) => metrics.orphanClaims.set(n),
    });
  }
  if (config.reportVipAnswering) {
    registerVipAnswering(operator, {
      store,
      recorder,
      onAnswering: (seconds) => metrics.timeToVipAnswering.observe(seconds),
      onSilent: (count) => metrics.vipsNotAnswering.set(count),
    });
  }
  registerQuarantine(operator, {
    store,
    recorder,
    graceSeconds: config.reuseGraceMs / 1000,
    onHeld: (count) => metrics.vipsQuarantined.set(count),
    onReleased: (claim, how) => {
      metrics.vipsReleased.inc({ how });
      log.info(
        how === 'grace' ? 'Released a held VIP: its quarantine is over' : 'A held VIP was released by hand',
        {
          IPAddressClaim: { name: claim.metadata.name, namespace: claim.metadata.namespace },
          namespace: claim.metadata.namespace,
        },
      );
    },
  });
  if (config.auditIntervalMs > 0) {
    registerInvariants(operator, {
      store,
      recorder,
      intervalMs: config.auditIntervalMs,
      poolKinds: config.poolKinds,
      leakGraceMs: config.orphanClaimGraceMs,
      onViolations: (counts) => {
        for (const [kind, count] of Object.entries(counts)) metrics.invariantViolations.set({ kind }, count);
      },
    });
  }
  if (config.claimReserve) {
    reserve.view = registerClaimReserve(operator, {
      store,
      recorder,
      kinds: await reservePoolKinds(kc, config.poolKinds, log),
      onReady: (count) => metrics.reserveReady.set(count),
    });
  }
  operator.on(OperatorEvent.Leading, () => {
    metrics.leader.set(1);
    log.info('Reconciling: this replica leads', { identity });
  });
  operator.on(OperatorEvent.NotLeading, () => {
    metrics.leader.set(0);
    // Only the leader counts the reserve and the violations.
    metrics.reserveReady.set(0);
    metrics.invariantViolations.reset();
    log.info('Stopped reconciling: the Lease is lost', { identity });
  });
  operator.on(OperatorEvent.Failed, (name: string, key: string, err: unknown, delay: number) =>
    log.warn('Reconcile failed; retrying', {
      reconciler: name,
      claim: key,
      error: reason(err),
      retryInMs: delay,
    }),
  );
  operator.on(OperatorEvent.InformerRestarting, (resource: { plural: string }, err: unknown, delay: number) =>
    log.warn('Watch restarting', {
      resource: resource.plural,
      error: err ? reason(err) : undefined,
      retryInMs: delay,
    }),
  );
  operator.on(OperatorEvent.LeaderError, (err: unknown) =>
    log.warn('Leader election error', { error: reason(err) }),
  );
  log.info('Operator built', { identity });
  return operator;
}

/** The configured pool kinds the API serves, with the resource a reserve's informer watches. */
async function reservePoolKinds(
  kc: KubeConfig,
  kinds: readonly PoolKind[],
  log: Logger,
): Promise<ReservePoolKind[]> {
  const api = kc.makeApiClient(Objects);
  const served: ReservePoolKind[] = [];
  for (const kind of kinds) {
    // Looked up once at start: a pool kind installed later gets a reserve after a restart.
    const found = await api.discovered(kind.apiVersion, kind.kind).catch((err: unknown) => {
      log.warn('Pool kind not discovered: no reserve is kept for it', {
        kind: kind.kind,
        error: reason(err),
      });
      return undefined;
    });
    if (!found) {
      log.info('Pool kind not served: no reserve is kept for it', {
        kind: kind.kind,
        apiVersion: kind.apiVersion,
      });
      continue;
    }
    const [group = '', version = ''] = kind.apiVersion.split('/');
    served.push({ kind, resource: { group, version, plural: found.name } });
  }
  return served;
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'doctor') process.exit(await doctorCommand(argv.slice(1)));
  let config: Config;
  try {
    config = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`capi-vip-allocator: ${err.message}\n\n${usage()}`);
    process.exit(2);
  }
  if (config.help) {
    process.stdout.write(usage());
    return;
  }
  const log = createLogger(config.logLevel, config.logFormat);
  process.on('unhandledRejection', (err) => log.error('Unhandled rejection', { error: reason(err) }));
  // Handled from the start: a signal during a slow start-up stops the process once it is up.
  const running = run(config, log);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('Shutting down', { signal, drainSeconds: config.shutdownDrainMs / 1000 });
    // A call in flight when the drain ends is one CAPI waits for at most its timeout: a stuck one
    // cannot hold the pod past that, well within its termination grace period.
    setTimeout(() => process.exit(0), config.shutdownDrainMs + HOOK_TIMEOUT_SECONDS * 1000).unref();
    void running.then((stop) => stop()).then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await running;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`capi-vip-allocator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
