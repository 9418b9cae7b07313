import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ServerObserver } from './server.js';

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
    help: 'VIPs written to Clusters, and allocation attempts that had to wait, by role and result',
    labelNames: ['role', 'result'] as const,
    registers: [this.registry],
  });

  readonly leader = new Gauge({
    name: 'capi_vip_allocator_leader',
    help: '1 while this replica holds the reconciler Lease (or runs without leader election)',
    registers: [this.registry],
  });
  readonly orphanClaims = new Gauge({
    name: 'capi_vip_allocator_orphan_claims',
    help: 'Claims of ours whose Cluster has not appeared within --orphan-claim-grace',
    registers: [this.registry],
  });
  readonly claimsAdopted = new Counter({
    name: 'capi_vip_allocator_claims_adopted_total',
    help: 'Owner-less claims given their Cluster as owner by the reconciler',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'capi_vip_allocator_' });
  }

  hookAnswered(hook: string, outcome: string, seconds: number): void {
    this.#hookDuration.observe({ hook, outcome }, seconds);
  }
}
