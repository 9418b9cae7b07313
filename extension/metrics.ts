import express from 'express';
import http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { poolFamily } from '../shared/allocator/pools.js';
import type { PoolKind } from '../shared/kube/gvk.js';
import type { Store } from '../shared/kube/store.js';
import type { ListenAddress } from '../shared/config.js';
import { isFreeReserve } from '../shared/allocator/reserve.js';
import { LABEL_ROLE } from '../shared/vip.js';
import { listen } from './listen.js';
import type { InformerReport } from './probes.js';
import type { ServerObserver } from './server.js';

/** How often the event loop's delay is sampled for the nodejs_eventloop_lag metrics. */
const EVENT_LOOP_SAMPLE_MS = 100;

/** What the pool and claim gauges show, read when Prometheus scrapes (not on the hook path). */
export interface Snapshot {
  pools: {
    kind: string;
    namespace: string;
    name: string;
    /** The pool's role label, and the family of its addresses. */
    role: string;
    family: string;
    free?: number;
    used?: number;
    total?: number;
  }[];
  claims: { bound: number; pending: number };
}

/**
 * Under Prometheus' default 10 s scrape timeout: a busy API server (slow, or answering 429) leaves
 * the pool and claim gauges out of that scrape, not the whole scrape unanswered, so the informer
 * and hook metrics still show what it does to this process.
 */
const SNAPSHOT_TIMEOUT_MS = 5_000;

/** The snapshot, or undefined when it failed or took longer than SNAPSHOT_TIMEOUT_MS. */
function snapshotWithin(snapshot: () => Promise<Snapshot>): Promise<Snapshot | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), SNAPSHOT_TIMEOUT_MS);
    timer.unref();
    void snapshot()
      .then(resolve, () => resolve(undefined))
      .finally(() => clearTimeout(timer));
  });
}

/** Our own registry, prefix `capi_vip_allocator_`, plus the process defaults. */
export class Metrics implements ServerObserver {
  readonly registry = new Registry();
  readonly #hookDuration = new Histogram({
    name: 'capi_vip_allocator_hook_duration_seconds',
    help: 'Time to answer a runtime-extension hook call, by hook and outcome',
    labelNames: ['hook', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly allocations = new Counter({
    name: 'capi_vip_allocator_allocations_total',
    help: 'VIPs written to Clusters, and allocation attempts that had to wait, by role, family and result',
    labelNames: ['role', 'family', 'result'] as const,
    registers: [this.registry],
  });

  readonly leader = new Gauge({
    name: 'capi_vip_allocator_leader',
    help: "1 while this replica holds the operator's Lease (or runs without leader election)",
    registers: [this.registry],
  });
  readonly orphanClaims = new Gauge({
    name: 'capi_vip_allocator_orphan_claims',
    help: 'Claims of ours whose Cluster has not appeared within --orphan-claim-grace',
    registers: [this.registry],
  });
  readonly claimsAdopted = new Counter({
    name: 'capi_vip_allocator_claims_adopted_total',
    help: 'Owner-less claims given their Cluster as owner by the legacy reconciler',
    registers: [this.registry],
  });

  readonly timeToVip = new Histogram({
    name: 'capi_vip_allocator_time_to_vip_seconds',
    help: "Time from a Cluster's creation to its control-plane VIP being written to it",
    buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly timeToVipAnswering = new Histogram({
    name: 'capi_vip_allocator_time_to_vip_answering_seconds',
    help: "Time from a Cluster's creation to CAPI first reaching its API server through the VIP (RemoteConnectionProbe)",
    buckets: [30, 60, 120, 180, 300, 600, 900, 1800, 3600],
    registers: [this.registry],
  });

  readonly vipsNotAnswering = new Gauge({
    name: 'capi_vip_allocator_vips_not_answering',
    help: 'Clusters whose control plane reports initialized while their VIP does not answer',
    registers: [this.registry],
  });

  readonly vipsQuarantined = new Gauge({
    name: 'capi_vip_allocator_vips_quarantined',
    help: "Claims holding a deleted Cluster's VIP out of its pool until --reuse-grace has passed",
    registers: [this.registry],
  });

  readonly reserveReady = new Gauge({
    name: 'capi_vip_allocator_reserve_ready',
    help: 'Reserve claims bound and free to adopt, over every pool that keeps a reserve (--claim-reserve)',
    registers: [this.registry],
  });

  readonly invariantViolations = new Gauge({
    name: 'capi_vip_allocator_invariant_violations',
    help: 'Standing violations of the fleet invariants by kind: duplicate (an address carried by two Clusters), unbacked (a VIP no live IPAddress of its claim holds), leaked (a claim of ours whose Cluster is gone, not held); the leader audits',
    labelNames: ['kind'],
    registers: [this.registry],
  });

  readonly vipsReleased = new Counter({
    name: 'capi_vip_allocator_vips_released_total',
    help: 'Held VIPs given back to their pool, by how: grace (it passed) or early (the claim deleted by hand)',
    labelNames: ['how'],
    registers: [this.registry],
  });

  #informers: () => readonly InformerReport[] = () => [];
  readonly #informerSynced: Gauge<'resource'> = new Gauge({
    name: 'capi_vip_allocator_informer_synced',
    help: "1 while an informer's cache is listed and watched, 0 during its first list or a restart; no probe waits for it",
    labelNames: ['resource'] as const,
    registers: [this.registry],
    // Read at scrape time: the informers' own state, never a copy that could drift from /readyz.
    collect: () => {
      // Two reconcilers may each watch a resource (one for metadata only): 1 once both are synced.
      const synced = new Map<string, boolean>();
      for (const i of this.#informers()) synced.set(i.resource, (synced.get(i.resource) ?? true) && i.synced);
      this.#informerSynced.reset();
      for (const [resource, ok] of synced) this.#informerSynced.set({ resource }, ok ? 1 : 0);
    },
  });

  constructor(snapshot?: () => Promise<Snapshot>) {
    collectDefaultMetrics({
      register: this.registry,
      prefix: 'capi_vip_allocator_',
      // prom-client samples the event loop's delay every 10 ms by default: 100 wake-ups a second,
      // measured as about 45 % of an idle process's CPU. Every 100 ms still sees any lag that matters.
      eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    });
    if (!snapshot) return;
    // One API read per scrape, shared by both gauges.
    let pending: Promise<Snapshot | undefined> | undefined;
    const read = (): Promise<Snapshot | undefined> => {
      pending ??= snapshotWithin(snapshot).finally(() =>
        setTimeout(() => (pending = undefined), 1000).unref(),
      );
      return pending;
    };
    new Gauge({
      name: 'capi_vip_allocator_pool_addresses',
      help: 'Addresses of each pool by state, from the pool status',
      labelNames: ['kind', 'namespace', 'pool', 'role', 'family', 'state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const p of (await read())?.pools ?? []) {
          for (const state of ['free', 'used', 'total'] as const) {
            const value = p[state];
            if (value !== undefined)
              this.set(
                { kind: p.kind, namespace: p.namespace, pool: p.name, role: p.role, family: p.family, state },
                value,
              );
          }
        }
      },
    });
    new Gauge({
      name: 'capi_vip_allocator_claims',
      help: 'Claims of ours by state (bound to an address, or pending)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const claims = (await read())?.claims;
        this.reset();
        if (!claims) return;
        this.set({ state: 'bound' }, claims.bound);
        this.set({ state: 'pending' }, claims.pending);
      },
    });
  }

  /** The operator's informers, for the synced gauge, once it is built (after the metrics serve). */
  reportInformers(informers: () => readonly InformerReport[]): void {
    this.#informers = informers;
  }

  hookAnswered(hook: string, outcome: string, seconds: number): void {
    this.#hookDuration.observe({ hook, outcome }, seconds);
  }
}

/** The pool and claim gauges' reading, through the store (one list per pool kind, one of our claims). */
export async function storeSnapshot(store: Store, poolKinds: readonly PoolKind[]): Promise<Snapshot> {
  const [pools, claims] = await Promise.all([
    Promise.all(poolKinds.map(async (kind) => ({ kind, list: await store.listPools(kind, '') }))),
    store.listClaims({ labelled: true }),
  ]);
  // A reserve's free claims are counted by capi_vip_allocator_reserve_ready, not as Clusters' claims.
  const clusters = claims.filter((c) => !isFreeReserve(c));
  const bound = clusters.filter((c) => c.status?.addressRef?.name).length;
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
    claims: { bound, pending: clusters.length - bound },
  };
}

/** GET /metrics on its own plain-HTTP listener. */
export async function serveMetrics(metrics: Metrics, at: ListenAddress): Promise<http.Server> {
  const app = express();
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  const server = http.createServer(app);
  await listen(server, at);
  return server;
}
