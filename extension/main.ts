/**
 * capi-vip-allocator's composition root: the one file that sees both sides of the process, the
 * operator (operator/) and the runtime-extension hook server with its probes and metrics
 * (extension/), and wires them over shared/. `npm start` and the container image run this file.
 */
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
import type { PoolKind } from '../shared/kube/gvk.js';
import { KubeStore, Objects } from '../shared/kube/store.js';
import { FlagError, parseFlags, usage, type Config } from '../shared/config.js';
import { EventRecorder } from '../shared/events.js';
import { addressProber } from '../shared/in-use-probe.js';
import { reason } from '../shared/kube/errors.js';
import { loadKubeConfig } from '../shared/kube/kubeconfig.js';
import { createLogger, type Logger } from '../shared/log.js';
import { CLUSTER_ENDPOINT_PATH, clusterEndpointWebhook } from './admission/cluster-endpoint/shell.js';
import { doctorCommand } from './doctor-cli.js';
import { beforeClusterCreate } from './hooks/before-cluster-create/shell.js';
import { beforeClusterDelete } from './hooks/before-cluster-delete.js';
import { discoverVariables } from './hooks/discover-variables.js';
import { generatePatchesHandler } from './hooks/generate-patches.js';
import { Metrics, serveMetrics, storeSnapshot } from './metrics.js';
import { nudgeWhileWaiting } from './nudge.js';
import { Lifecycle, serveProbes } from './probes.js';
import { handlerName, HANDLER_SUFFIX, HOOK_TIMEOUT_SECONDS } from '../shared/protocol.js';
import { createHookApp, register, serveHooks } from './server.js';

export async function run(config: Config, log: Logger): Promise<() => Promise<void>> {
  const kc = loadKubeConfig(config.kubeconfig);
  const store = new KubeStore(kc);
  const metrics = new Metrics(() => storeSnapshot(store, config.poolKinds));
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

  // The operator first, so that the allocator gets the reserve's view at construction. It starts
  // after the hooks serve, and readiness does not wait for its lists: until the reserve's is in, it
  // shows no claim. A Cluster's adopted claim is still found by a live read; a free one is not
  // adopted, and the Cluster claims from its pool as without a reserve.
  const identity = `${hostname()}-${randomBytes(4).toString('hex')}`;
  const operator = newOperator(config, kc, identity, metrics, log);
  const reserve = config.claimReserve
    ? registerClaimReserve(operator, {
        store,
        recorder,
        kinds: await reservePoolKinds(kc, config.poolKinds, log),
        onReady: (count) => metrics.reserveReady.set(count),
      })
    : undefined;
  const allocator = new Allocator(store, {
    poolKinds: config.poolKinds,
    defaultPort: config.defaultPort,
    prober: addressProber(config.probeTimeoutMs, config.probeAddresses),
    reserve: reserve?.view,
    watched: reserve?.watched,
  });
  registerReconcilers(operator, config, { allocator, store, recorder, metrics, log });
  log.info('Operator built', { identity });
  lifecycle.reporting(operator);
  metrics.reportInformers(() => operator.informers());

  const hooks = config.enableRuntimeExtension
    ? await serveHookHandlers(config, { allocator, store, recorder, metrics, log })
    : undefined;
  lifecycle.serving();
  // Clusters that waited out an outage of every replica come back now, not after CAPI's backoff.
  const nudging = new AbortController();
  if (hooks) {
    void nudgeWhileWaiting(store, {
      signal: nudging.signal,
      onRound: (round, count) => log.info('Nudged Clusters waiting for their topology', { round, count }),
      onError: (round, err) => log.warn('Could not nudge waiting Clusters', { round, error: reason(err) }),
    });
  }

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
      log.info('Operator started', {
        leaderElect: config.leaderElect,
        legacyReconciler: config.enableReconciler,
        vipAnswering: config.reportVipAnswering,
        reuseGraceSeconds: config.reuseGraceMs / 1000,
        auditIntervalSeconds: config.auditIntervalMs / 1000,
        claimReserve: config.claimReserve,
      }),
    )
    .finally(() => clearInterval(waiting));

  return async () => {
    clearInterval(waiting);
    nudging.abort();
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

/** What the reconcilers and the hooks are given. */
interface Parts {
  readonly allocator: Allocator;
  readonly store: KubeStore;
  readonly recorder: EventRecorder;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/** The hooks the flags ask for, served over HTTPS once this resolves. */
async function serveHookHandlers(
  config: Config,
  { allocator, store, recorder, metrics, log }: Parts,
): Promise<http.Server> {
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
    // Without quarantine a deleted Cluster's claims go with it, as without this product.
    ...(config.quarantine
      ? [
          register(
            beforeClusterDelete({ allocator, recorder, reuseGraceSeconds: config.reuseGraceMs / 1000 }),
          ),
        ]
      : []),
  ];
  // Served whatever the flags: the API server may call it wherever it is installed; off, it changes nothing.
  const clusterEndpoint = {
    name: 'ClusterEndpointAdmission',
    path: CLUSTER_ENDPOINT_PATH,
    review: clusterEndpointWebhook({
      allocator,
      getClusterClass: (namespace, n) => store.getClusterClass(namespace, n),
      generatePatchesHandler: handlerName(name, HANDLER_SUFFIX.generatePatches),
      defaultPort: config.defaultPort,
      enabled: config.endpointAtCreate && config.claimReserve,
      observe: (slot, result) =>
        metrics.allocations.inc({ role: slot.role, family: slot.family ?? 'any', result }),
      observeTimeToVip: (seconds) => metrics.timeToVip.observe(seconds),
    }),
  };
  const server = await serveHooks(
    createHookApp(name, handlers, log, metrics, [clusterEndpoint]),
    {
      port: config.runtimeExtensionPort,
      certDir: config.certDir,
      certPollIntervalMs: config.certPollIntervalMs,
    },
    log,
  );
  log.info('Serving runtime-extension hooks', {
    port: config.runtimeExtensionPort,
    handlers: handlers.map((h) => handlerName(name, h.suffix)),
  });
  return server;
}

/** One operator (not started) for every reconciler: one Lease, one set of watches. */
function newOperator(
  config: Config,
  kc: KubeConfig,
  identity: string,
  metrics: Metrics,
  log: Logger,
): Operator {
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
  return operator;
}

/**
 * The reconcilers the flags ask for besides the reserve's, which the allocator is built on: the
 * legacy reconciler (claim owners) only with --enable-reconciler, quarantine always.
 */
function registerReconcilers(
  operator: Operator,
  config: Config,
  { allocator, store, recorder, metrics, log }: Parts,
): void {
  if (config.enableReconciler) {
    registerClaimOwners(operator, {
      allocator,
      store,
      recorder,
      orphanGraceMs: config.orphanClaimGraceMs,
      deleteOrphans: config.deleteOrphanClaims,
      onOwnerSet: () => metrics.claimsAdopted.inc(),
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
  // Always: held claims are released whatever the grace is now.
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
