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

export class BindingTracker {
  readonly #answered = new TtlMap<string, string>();
  readonly #binding = new Set<string>();
  readonly #noIngress = new TtlMap<string, true>();

  /** The answer memory gives for this Cluster, if any. */
  memo(uid: string | undefined): string | undefined {
    return uid ? this.#answered.get(uid) : undefined;
  }

  /** How many Clusters wait on the IPAM provider now (just-written VIPs and expired memos are not). */
  get binding(): number {
    return this.#binding.size;
  }

  /** A VIP was written: CAPI's calls answer `message` until its cache shows the write. */
  written(uid: string | undefined, message: string): void {
    if (!uid) return;
    this.#binding.delete(uid);
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
