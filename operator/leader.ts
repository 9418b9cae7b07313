import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { EventEmitter } from 'node:events';
import { isConflict, isNotFound } from '../shared/kube/errors.js';

export interface LeaderOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** How long a Lease holds without renewal; the others wait this long before taking over. */
  readonly leaseDurationMs: number;
}

export const LeaderEvent = {
  Started: 'started',
  Stopped: 'stopped',
  Error: 'error',
} as const;

/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing ratios (renew
 * deadline 2/3 of the lease, retry every 2/15): every write is guarded by the Lease's
 * resourceVersion, and a leader that cannot renew within the deadline stops leading at once.
 */
export class LeaderElector extends EventEmitter {
  readonly #api: CoordinationV1Api;
  readonly #opts: LeaderOptions;
  readonly #renewDeadlineMs: number;
  readonly #retryMs: number;
  #leading = false;
  #lastRenew = 0;
  #timer?: NodeJS.Timeout;
  #stopped = true;

  constructor(kc: KubeConfig, options: LeaderOptions) {
    super();
    this.#api = kc.makeApiClient(CoordinationV1Api);
    this.#opts = options;
    this.#renewDeadlineMs = (options.leaseDurationMs * 2) / 3;
    this.#retryMs = Math.max(200, (options.leaseDurationMs * 2) / 15);
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#stopped = false;
    void this.#tick();
  }

  /** Stops trying and, when leading, releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (!this.#leading) return;
    this.#lose();
    try {
      const lease = await this.#api.readNamespacedLease({
        name: this.#opts.name,
        namespace: this.#opts.namespace,
      });
      if (lease.spec?.holderIdentity === this.#opts.identity) {
        lease.spec.holderIdentity = undefined;
        lease.spec.leaseDurationSeconds = 1;
        await this.#api.replaceNamespacedLease({
          name: this.#opts.name,
          namespace: this.#opts.namespace,
          body: lease,
        });
      }
    } catch (err) {
      this.emit(LeaderEvent.Error, err);
    }
  }

  async #tick(): Promise<void> {
    try {
      if (await this.#tryAcquireOrRenew()) {
        this.#lastRenew = Date.now();
        if (!this.#leading) {
          this.#leading = true;
          this.emit(LeaderEvent.Started);
        }
      } else if (this.#leading) {
        this.#lose();
      }
    } catch (err) {
      this.emit(LeaderEvent.Error, err);
    }
    if (this.#leading && Date.now() - this.#lastRenew > this.#renewDeadlineMs) this.#lose();
    if (!this.#stopped) {
      this.#timer = setTimeout(() => void this.#tick(), this.#retryMs);
      this.#timer.unref();
    }
  }

  #lose(): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.emit(LeaderEvent.Stopped);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity } = this.#opts;
    const now = new V1MicroTime(Date.now());
    const durationSeconds = Math.ceil(this.#opts.leaseDurationMs / 1000);
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.#api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (e) {
        if (isConflict(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewed = spec.renewTime ? new Date(spec.renewTime).getTime() : 0;
    const expired = renewed + (spec.leaseDurationSeconds ?? durationSeconds) * 1000 < Date.now();
    if (holder && holder !== identity && !expired) return false;
    lease.spec = Object.assign(spec, {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: now,
      ...(holder === identity
        ? {}
        : { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
    });
    try {
      // replace carries metadata.resourceVersion: a concurrent writer makes this a 409.
      await this.#api.replaceNamespacedLease({ name, namespace, body: lease });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
