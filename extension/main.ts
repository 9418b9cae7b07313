/**
 * capi-vip-allocator: the runtime-extension server (BeforeClusterCreate, GeneratePatches,
 * DiscoverVariables) with its probes and metrics. `npm start` and the container image run this file.
 */
import { KubeConfig } from '@kubernetes/client-node';
import express from 'express';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Operator, OperatorEvent } from '../operator/operator.js';
import { registerClaimOwners } from '../operator/reconcilers/claim-owners.js';
import { Allocator } from '../shared/allocator/allocator.js';
import { poolFamily } from '../shared/allocator/pools.js';
import { KubeStore } from '../shared/allocator/store.js';
import { LABEL_ROLE } from '../shared/vip.js';
import { FlagError, parseFlags, usage, type Config, type ListenAddress } from '../shared/config.js';
import { EventRecorder } from '../shared/events.js';
import { diagnose, renderTable } from '../shared/doctor.js';
import { reason } from '../shared/kube/errors.js';
import { createLogger, type Logger } from '../shared/log.js';
import { beforeClusterCreate } from './hooks/before-cluster-create.js';
import { discoverVariables } from './hooks/discover-variables.js';
import { nudgeWaitingClusters } from './nudge.js';
import { generatePatchesHandler } from './hooks/generate-patches.js';
import { Metrics } from './metrics.js';
import { SUPPORTED_KINDS } from './profiles/profiles.js';
import { createHookApp, register } from './server.js';
import { readKeyPair, watchKeyPair } from './tls.js';

/** Aligned with the API server's webhook client, which reuses connections. */
const KEEP_ALIVE_MS = 65_000;

function listen(server: http.Server, at: ListenAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve(server.address() as AddressInfo));
  });
}

function loadKubeConfig(config: Config): KubeConfig {
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  return kc;
}

export async function run(config: Config, log: Logger): Promise<() => Promise<void>> {
  const kc = loadKubeConfig(config);
  const store = new KubeStore(kc);
  const metrics = new Metrics(async () => {
    const [pools, claims] = await Promise.all([
      Promise.all(config.poolKinds.map(async (kind) => ({ kind, list: await store.listPools(kind, '') }))),
      store.listClaims({ labelled: true }),
    ]);
    const bound = claims.filter((c) => c.status?.addressRef?.name).length;
    return {
      pools: pools.flatMap(({ kind, list }) =>
        (list?.pools ?? []).map((p) => ({
          kind: kind.kind,
          namespace: p.metadata.namespace ?? '',
          name: p.metadata.name,
          role: p.metadata.labels?.[LABEL_ROLE] ?? '',
          family: poolFamily(p) ?? '',
          ...p.status?.ipAddresses,
        })),
      ),
      claims: { bound, pending: claims.length - bound },
    };
  });
  const allocator = new Allocator(store, { poolKinds: config.poolKinds });
  const recorder = new EventRecorder(kc, (err) =>
    log.warn('Could not record an Event', { error: reason(err) }),
  );
  const servers: http.Server[] = [];
  let ready = false;

  if (config.enableRuntimeExtension) {
    const name = config.runtimeExtensionName;
    const handlers = [
      register(
        beforeClusterCreate({
          allocator,
          recorder,
          patchCluster: (cluster, patch) => store.patchCluster(cluster, patch),
          getClusterClass: (namespace, n) => store.getClusterClass(namespace, n),
          generatePatchesHandler: `${name}-generate-patches`,
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
      handlers: handlers.map((h) => `${name}-${h.suffix}`),
    });
    servers.push(server);
    // Clusters that waited out an outage of every replica come back now, not after CAPI's backoff.
    void nudgeWaitingClusters(store).then(
      (count) => count > 0 && log.info('Nudged Clusters waiting for their topology', { count }),
      (err: unknown) => log.warn('Could not nudge waiting Clusters', { error: reason(err) }),
    );
  }

  const operator = config.enableReconciler
    ? await startReconciler(config, kc, store, allocator, recorder, metrics, log)
    : undefined;

  if (config.healthProbeBindAddress.port !== 0) {
    const probes = express();
    probes.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
    // Not ready until the informers first synced; a later watch restart shows here but keeps the
    // replica ready, so hooks go on being served while the watch reconnects.
    probes.get('/readyz', (_req, res) => {
      const ok = ready && (!operator || operator.everSynced);
      res.status(ok ? 200 : 503).json({
        status: ok ? 'ok' : 'starting',
        leader: operator?.leading,
        informers: operator?.informers() ?? [],
      });
    });
    const at = await listen(http.createServer(probes), config.healthProbeBindAddress);
    log.info('Serving probes', { port: at.port });
  }
  if (config.metricsBindAddress.port !== 0) {
    const app = express();
    app.get('/metrics', async (_req, res) => {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
    const server = http.createServer(app);
    const at = await listen(server, config.metricsBindAddress);
    servers.push(server);
    log.info('Serving metrics', { port: at.port });
  }
  ready = true;

  return async () => {
    ready = false;
    // Release the Lease first, so another replica takes over while this one drains its hooks.
    await operator?.stop();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };
}

async function startReconciler(
  config: Config,
  kc: KubeConfig,
  store: KubeStore,
  allocator: Allocator,
  recorder: EventRecorder,
  metrics: Metrics,
  log: Logger,
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
  registerClaimOwners(operator, {
    allocator,
    store,
    recorder,
    orphanGraceMs: config.orphanClaimGraceMs,
    deleteOrphans: config.deleteOrphanClaims,
    onAdopted: () => metrics.claimsAdopted.inc(),
    onOrphans: (n) => metrics.orphanClaims.set(n),
  });
  operator.on(OperatorEvent.Leading, () => {
    metrics.leader.set(1);
    log.info('Reconciling: this replica leads', { identity });
  });
  operator.on(OperatorEvent.NotLeading, () => {
    metrics.leader.set(0);
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
  await operator.start();
  log.info('Reconciler started', { leaderElect: config.leaderElect, identity });
  return operator;
}

const DOCTOR_USAGE = `Usage: capi-vip-allocator doctor [flags]

Checks the management cluster of the current kubeconfig and exits 1 when something is wrong.

Flags:
  -o, --output table|json         (default table)
  --kubeconfig FILE               (default: KUBECONFIG, then in-cluster)
  --namespace NS                  only ClusterClasses, Clusters and claims in NS (default: all)
  --extension-config NAME         our ExtensionConfig (default vip-allocator)
  --runtime-extension-name NAME   handler prefix (default vip-allocator)
  --pool-kinds LIST               as for the server
  --cert-warn-days N              a certificate expiring sooner is a problem (default 14)
`;

async function doctor(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        output: { type: 'string', short: 'o', default: 'table' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'extension-config': { type: 'string', default: 'vip-allocator' },
        'runtime-extension-name': { type: 'string', default: 'vip-allocator' },
        'pool-kinds': { type: 'string' },
        'cert-warn-days': { type: 'string', default: '14' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    process.stderr.write(`capi-vip-allocator doctor: ${(err as Error).message}\n\n${DOCTOR_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(DOCTOR_USAGE);
    return 0;
  }
  if (values.output !== 'table' && values.output !== 'json') {
    process.stderr.write(`capi-vip-allocator doctor: --output: "${values.output}" is not table or json\n`);
    return 2;
  }
  const server = parseFlags([
    ...(values['pool-kinds'] ? [`--pool-kinds=${values['pool-kinds']}`] : []),
    ...(values.kubeconfig ? [`--kubeconfig=${values.kubeconfig}`] : []),
  ]);
  const findings = await diagnose(loadKubeConfig(server), {
    extensionConfig: values['extension-config'],
    handlerPrefix: values['runtime-extension-name'],
    namespace: values.namespace,
    poolKinds: server.poolKinds,
    certWarnDays: Number(values['cert-warn-days']),
    announcerKinds: SUPPORTED_KINDS,
  });
  process.stdout.write(
    values.output === 'json' ? `${JSON.stringify({ findings }, null, 2)}\n` : renderTable(findings),
  );
  return findings.every((f) => f.ok) ? 0 : 1;
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'doctor') process.exit(await doctor(argv.slice(1)));
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
  const stop = await run(config, log);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('Shutting down', { signal });
    // In-flight hook calls finish; a stuck one cannot hold the pod past its grace period.
    setTimeout(() => process.exit(0), 15_000).unref();
    void stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`capi-vip-allocator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
