/**
 * The operator: a small Kopf-like layer, always on, that runs every reconciler of
 * operator/reconcilers/ (the legacy reconciler among them only with --enable-reconciler). Declare
 * what a reconciler reacts to and what it does; informers, the work queue, backoff, resync and
 * leader election live here.
 *
 *   const op = new Operator(kc, { leader });
 *   const clusters = op.watch<Cluster>(CLUSTERS);
 *   op.reconciler('claim-owners', reconcile)
 *     .on(claims, (claim) => [keyOf(claim)])
 *     .on(clusters, (cluster) => claimKeysOf(cluster));
 *   await op.start();
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { EventEmitter } from 'node:events';
import {
  InformerEvent,
  ResilientInformer,
  type InformerOptions,
  type InformerStatus,
  type Resource,
  type WatchOptions,
} from './informer.js';
import { LeaderElector, LeaderEvent, type LeaderOptions } from './leader.js';
import { QueueEvent, WorkQueue, type ReconcileResult } from './queue.js';

export type { ReconcileResult } from './queue.js';

export interface OperatorOptions {
  /** Only the Lease holder reconciles; without it this process always does. */
  readonly leader?: LeaderOptions;
  /** Every key is reconciled again this often, whatever the watches said. */
  readonly resyncMs?: number;
  readonly informer?: InformerOptions;
}

export const OperatorEvent = {
  ...QueueEvent,
  Leading: 'leading',
  NotLeading: 'not-leading',
  InformerRestarting: 'informer-restarting',
  LeaderError: 'leader-error',
} as const;

export const keyOf = (obj: KubernetesObject): string =>
  `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/**
 * Keys a reconciler counts (orphan claims, silent VIPs) for a gauge: `mark(key, true|false)` as
 * each is reconciled, and `onCount` hears the new size whenever it changes.
 */
export function countedKeys(onCount?: (count: number) => void): (key: string, counted: boolean) => void {
  const keys = new Set<string>();
  return (key, counted) => {
    const before = keys.size;
    if (counted) keys.add(key);
    else keys.delete(key);
    if (keys.size !== before) onCount?.(keys.size);
  };
}

class Reconciler {
  readonly queue: WorkQueue;
  readonly #triggers: {
    informer: ResilientInformer<KubernetesObject>;
    keys: (obj: KubernetesObject) => string[];
  }[] = [];

  constructor(reconcile: (key: string) => Promise<ReconcileResult>) {
    this.queue = new WorkQueue(reconcile);
  }

  /** Reconcile the keys `keys` maps each added, changed or deleted object of `informer` to. */
  on<T extends KubernetesObject>(informer: ResilientInformer<T>, keys: (obj: T) => string[]): this {
    const trigger = {
      informer: informer as unknown as ResilientInformer<KubernetesObject>,
      keys: keys as (obj: KubernetesObject) => string[],
    };
    this.#triggers.push(trigger);
    informer.on(InformerEvent.Object, (_verb: string, obj: T) => keys(obj).forEach((k) => this.queue.add(k)));
    return this;
  }

  resync(): void {
    for (const { informer, keys } of this.#triggers)
      for (const obj of informer.list()) keys(obj).forEach((k) => this.queue.add(k));
  }
}

export class Operator extends EventEmitter {
  readonly #kc: KubeConfig;
  readonly #options: OperatorOptions;
  readonly #informers: ResilientInformer<KubernetesObject>[] = [];
  readonly #reconcilers: Reconciler[] = [];
  readonly #leader?: LeaderElector;
  #resync?: NodeJS.Timeout;
  #stopped = false;

  constructor(kc: KubeConfig, options: OperatorOptions = {}) {
    super();
    this.#kc = kc;
    this.#options = options;
    if (options.leader) this.#leader = new LeaderElector(kc, options.leader);
  }

  watch<T extends KubernetesObject>(resource: Resource, options: WatchOptions = {}): ResilientInformer<T> {
    const informer = new ResilientInformer<T>(this.#kc, resource, { ...this.#options.informer, ...options });
    informer.on(InformerEvent.Restarting, (err: unknown, delay: number) =>
      this.emit(OperatorEvent.InformerRestarting, resource, err, delay),
    );
    informer.on(InformerEvent.Silent, () =>
      this.emit(
        OperatorEvent.InformerRestarting,
        resource,
        new Error('no events for the watchdog period'),
        0,
      ),
    );
    this.#informers.push(informer);
    return informer;
  }

  reconciler(name: string, reconcile: (key: string) => Promise<ReconcileResult>): Reconciler {
    const r = new Reconciler(reconcile);
    r.queue.on(QueueEvent.Failed, (key: string, err: unknown, delay: number) =>
      this.emit(QueueEvent.Failed, name, key, err, delay),
    );
    r.queue.on(QueueEvent.Done, (key: string) => this.emit(QueueEvent.Done, name, key));
    this.#reconcilers.push(r);
    return r;
  }

  get leading(): boolean {
    return this.#leader ? this.#leader.leading : true;
  }

  /** For /readyz, the start-up log and the synced gauge: reported, never waited for. */
  informers(): InformerStatus[] {
    return this.#informers.map((i) => i.status());
  }

  async start(): Promise<void> {
    // Caches fill on every replica, so a new leader starts from warm caches.
    await Promise.all(this.#informers.map((i) => i.start()));
    // Stopped during a slow first list (SIGTERM at start-up): no Lease to take, no queue to run.
    if (this.#stopped) return;
    const lead = (): void => {
      for (const r of this.#reconcilers) {
        r.resync();
        r.queue.start();
      }
      this.emit(OperatorEvent.Leading);
    };
    if (this.#leader) {
      this.#leader.on(LeaderEvent.Started, lead);
      this.#leader.on(LeaderEvent.Stopped, () => {
        for (const r of this.#reconcilers) r.queue.stop();
        this.emit(OperatorEvent.NotLeading);
      });
      this.#leader.on(LeaderEvent.Error, (err: unknown) => this.emit(OperatorEvent.LeaderError, err));
      this.#leader.start();
    } else {
      lead();
    }
    this.#resync = setInterval(
      () => {
        if (this.leading) for (const r of this.#reconcilers) r.resync();
      },
      this.#options.resyncMs ?? 5 * 60_000,
    );
    this.#resync.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#resync);
    for (const r of this.#reconcilers) r.queue.stop();
    await this.#leader?.stop();
    await Promise.all(this.#informers.map((i) => i.stop()));
  }
}
