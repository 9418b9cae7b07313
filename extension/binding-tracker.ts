/**
 * What BeforeClusterCreate remembers between CAPI's calls for a Cluster (by uid), so calls while
 * nothing can have changed for it cost no API request:
 *  - a claim still binding, watched past its call until it binds (then its VIP is written);
 *  - a VIP just written, while CAPI's cache catches up with the write;
 *  - a Cluster that carries its VIP and has no ingress claim waiting (the ingress VIP never comes).
 */
import type { Logger } from '../shared/log.js';
import { reason } from '../shared/kube/errors.js';
import { TtlMap } from '../shared/ttl-map.js';

/** How long a claim still binding is watched after the call returns. */
export const COMPLETION_WAIT_MS = 120_000;
/** How long a written VIP answers CAPI's calls from memory while CAPI's cache catches up. */
export const WRITTEN_MEMO_MS = 30_000;
/** How long "no ingress claim waits" is kept: CAPI calls the hook only until the topology exists. */
export const NO_INGRESS_MEMO_MS = 10 * 60_000;

/** The binds the provider's rate is read from, and how long after the last one it still holds. */
const RATE_SAMPLES = 20;
const RATE_STALE_MS = 15_000;

/** Where a Cluster waits on the IPAM provider. */
export interface Queue {
  /** How many Clusters' claims are binding now. */
  readonly waiting: number;
  /** How many of those were claimed before this Cluster's (undefined: it is not binding). */
  readonly ahead?: number;
  /** The provider's recent rate, from the last binds of ours (undefined: too few, or too long ago). */
  readonly bindsPerSecond?: number;
}

export class BindingTracker {
  readonly #answered = new TtlMap<string, string>();
  // In claim order, which is the order the provider's work queue takes them in.
  readonly #binding = new Set<string>();
  readonly #noIngress = new TtlMap<string, true>();
  readonly #binds: number[] = [];

  /** The answer memory gives for this Cluster, if any. */
  memo(uid: string | undefined): string | undefined {
    return uid ? this.#answered.get(uid) : undefined;
  }

  /** Where this Cluster waits (just-written VIPs and expired memos do not wait). */
  queue(uid: string | undefined, now = Date.now()): Queue {
    let ahead: number | undefined;
    if (uid && this.#binding.has(uid)) {
      ahead = 0;
      for (const other of this.#binding) {
        if (other === uid) break;
        ahead++;
      }
    }
    const first = this.#binds[0];
    const last = this.#binds.at(-1);
    const rate =
      first !== undefined &&
      last !== undefined &&
      this.#binds.length >= 3 &&
      now - last < RATE_STALE_MS &&
      last > first
        ? ((this.#binds.length - 1) * 1000) / (last - first)
        : undefined;
    return {
      waiting: this.#binding.size,
      ...(ahead !== undefined ? { ahead } : {}),
      ...(rate !== undefined ? { bindsPerSecond: rate } : {}),
    };
  }

  /** A VIP was written: CAPI's calls answer `message` until its cache shows the write. */
  written(uid: string | undefined, message: string, now = Date.now()): void {
    if (!uid) return;
    if (this.#binding.delete(uid)) {
      this.#binds.push(now);
      if (this.#binds.length > RATE_SAMPLES) this.#binds.shift();
    }
    this.#answered.set(uid, message, WRITTEN_MEMO_MS);
  }

  /** Whether this Cluster is known to have no ingress claim waiting. */
  noIngress(uid: string | undefined): boolean {
    return uid ? this.#noIngress.get(uid) === true : false;
  }

  rememberNoIngress(uid: string | undefined): void {
    if (uid) this.#noIngress.set(uid, true, NO_INGRESS_MEMO_MS);
  }

  /**
   * Answers `message` for this Cluster while `complete` waits for its claims (at most
   * COMPLETION_WAIT_MS). `complete` resolves true once it wrote the VIP (it calls `written`);
   * otherwise, or when it fails, the next call takes the full path again. One watch per Cluster.
   */
  track(uid: string | undefined, message: string, complete: () => Promise<boolean>, log: Logger): void {
    if (!uid || this.#answered.get(uid)) return;
    this.#answered.set(uid, message, COMPLETION_WAIT_MS);
    this.#binding.add(uid);
    void complete().then(
      (done) => done || this.#forget(uid),
      (err: unknown) => {
        log.warn('Could not write a VIP that bound after its call; the next call tries again', {
          error: reason(err),
        });
        this.#forget(uid);
      },
    );
  }

  #forget(uid: string): void {
    this.#binding.delete(uid);
    this.#answered.delete(uid);
  }
}
