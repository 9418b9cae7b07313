/**
 * One watch on our IPAddressClaims (the role label), shared by every call that waits for a
 * binding: a waiting BeforeClusterCreate call costs no request while it waits, however many wait
 * at once. It caches nothing but the claims it saw change in the last RECENT_MS, which closes the
 * gap between a caller's read and its subscription.
 */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { longWatch, longWatchParams } from './long-watch.js';
import { apiVersion, IP_ADDRESS_CLAIM } from './gvk.js';
import { TtlMap } from '../ttl-map.js';
import type { IPAddressClaim } from './types.js';

const RECENT_MS = 30_000;
const MAX_RESTART_DELAY_MS = 5_000;

type Wake = (claim: IPAddressClaim | undefined) => void;

const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;

export class ClaimWatch {
  readonly #kc: KubeConfig;
  readonly #labelSelector: string;
  readonly #waiters = new Map<string, Set<Wake>>();
  readonly #recent = new TtlMap<string, IPAddressClaim>();
  #resourceVersion?: string;
  #running?: Promise<void>;
  /** The watch is established: a waiter subscribing now hears every later change. */
  #live = false;
  #abort?: AbortController;
  #restarts = 0;
  #stopped = false;

  constructor(kc: KubeConfig, labelSelector: string) {
    this.#kc = kc;
    this.#labelSelector = labelSelector;
  }

  /**
   * The claim once `done` holds for it, or the newest version seen when `timeoutMs` runs out or
   * `signal` aborts. `reread` fetches the claim live: used when the watch (re)starts, since events
   * may be missed then.
   */
  async until(
    claim: IPAddressClaim,
    done: (c: IPAddressClaim) => boolean,
    timeoutMs: number,
    reread: () => Promise<IPAddressClaim | undefined>,
    signal?: AbortSignal,
  ): Promise<IPAddressClaim> {
    const key = keyOf(claim.metadata.namespace, claim.metadata.name);
    const sameClaim = (c: IPAddressClaim | undefined): c is IPAddressClaim =>
      c !== undefined && c.metadata.uid === claim.metadata.uid;
    let latest = claim;
    // A claim bound before the call (an adopted reserve claim, a restart) is not waited for.
    if (done(claim)) return claim;
    const seen = this.#recent.get(key);
    if (sameClaim(seen) && done(seen)) return seen;
    if (timeoutMs <= 0 || signal?.aborted) return latest;

    return new Promise<IPAddressClaim>((resolve) => {
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        this.#waiters.get(key)?.delete(wake);
        if (this.#waiters.get(key)?.size === 0) this.#waiters.delete(key);
        resolve(latest);
      };
      const consider = (c: IPAddressClaim | undefined): void => {
        if (!sameClaim(c)) return;
        latest = c;
        if (done(c)) finish();
      };
      const wake: Wake = (c) => {
        // undefined: the watch restarted and may have missed this claim's change.
        if (c) consider(c);
        else void reread().then(consider, () => undefined);
      };
      const timer = setTimeout(finish, timeoutMs);
      signal?.addEventListener('abort', finish, { once: true });
      let set = this.#waiters.get(key);
      if (!set) this.#waiters.set(key, (set = new Set()));
      set.add(wake);
      // A waiter that subscribed before the watch was established (every waiter of a burst that
      // arrives while the first one starts it) may have read its claim before the watch's starting
      // point: it reads once more when the watch is live, or it waits out its whole timeout.
      const late = !this.#live;
      this.#ensureRunning().then(
        () => late && wake(undefined),
        () => undefined,
      );
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
  }

  #ensureRunning(): Promise<void> {
    // A failed first start is tried again by the next waiter; this one just times out.
    this.#running ??= this.#start().catch((err: unknown) => {
      this.#running = undefined;
      throw err;
    });
    return this.#running;
  }

  /** Lists one claim for a current resourceVersion (no object is held), then watches from it. */
  async #start(): Promise<void> {
    if (!this.#resourceVersion) {
      const list = (await this.#kc.makeApiClient(CustomObjectsApi).listClusterCustomObject({
        group: IP_ADDRESS_CLAIM.group,
        version: IP_ADDRESS_CLAIM.version,
        plural: IP_ADDRESS_CLAIM.plural,
        labelSelector: this.#labelSelector,
        limit: 1,
      })) as { metadata?: { resourceVersion?: string } };
      this.#resourceVersion = list.metadata?.resourceVersion;
    }
    const path = `/apis/${apiVersion(IP_ADDRESS_CLAIM)}/${IP_ADDRESS_CLAIM.plural}`;
    this.#abort = await longWatch(this.#kc).watch(
      path,
      {
        labelSelector: this.#labelSelector,
        ...longWatchParams(),
        ...(this.#resourceVersion ? { resourceVersion: this.#resourceVersion } : {}),
      },
      (type: string, obj: IPAddressClaim & { code?: number }) => this.#event(type, obj),
      (err: unknown) => this.#restart(err),
    );
    this.#live = true;
  }

  #event(type: string, obj: IPAddressClaim & { code?: number }): void {
    this.#restarts = 0;
    if (type === 'ERROR') {
      // 410 Gone: the resourceVersion is too old; start over from a fresh one.
      if (obj.code === 410) this.#resourceVersion = undefined;
      return;
    }
    if (obj.metadata.resourceVersion) this.#resourceVersion = obj.metadata.resourceVersion;
    if (type === 'BOOKMARK') return;
    const key = keyOf(obj.metadata.namespace, obj.metadata.name);
    this.#recent.set(key, obj, RECENT_MS);
    for (const wake of this.#waiters.get(key) ?? []) wake(type === 'DELETED' ? undefined : obj);
  }

  #restart(err: unknown): void {
    this.#live = false;
    if (this.#stopped) return;
    // An ended watch (or one client-node timed out) simply starts again; a failure backs off.
    const failed = err && (err as { name?: unknown }).name !== 'TimeoutError';
    const delay = failed ? Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** this.#restarts++) : 0;
    const status = err as { statusCode?: number; code?: number } | undefined;
    if (status?.statusCode === 410 || status?.code === 410) this.#resourceVersion = undefined;
    // Resumed from the last resourceVersion, the watch replays what it missed. Only when that is
    // gone (410) does every waiter read its claim again: hundreds of waiters in a burst would
    // otherwise cost hundreds of GETs at each routine reconnect.
    const resumed = this.#resourceVersion !== undefined;
    this.#running = new Promise<void>((resolve) => setTimeout(resolve, delay).unref())
      .then(() => this.#start())
      .then(() => {
        if (resumed) return;
        for (const set of this.#waiters.values()) for (const wake of set) wake(undefined);
      });
    this.#running.catch((e: unknown) => this.#restart(e));
  }
}
