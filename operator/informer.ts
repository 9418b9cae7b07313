import {
  ADD,
  CustomObjectsApi,
  DELETE,
  ERROR,
  ListWatch,
  UPDATE,
  type Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type RequestContext,
} from '@kubernetes/client-node';
import { EventEmitter } from 'node:events';
import { reason } from '../shared/kube/errors.js';
import { longWatch, longWatchParams } from '../shared/kube/long-watch.js';

/** A resource to watch, across all namespaces. */
export interface Resource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

export const InformerEvent = {
  /** An object was added, changed or deleted: `(event, object)`. */
  Object: 'object',
  /** The cache is listed and the watch (re)starts from it. */
  Synced: 'synced',
  /** The watch failed and will be restarted: `(error, delayMs)`. */
  Restarting: 'restarting',
  /** Nothing was heard for the watchdog period: the informer relists. */
  Silent: 'silent',
} as const;

export type InformerState = 'starting' | 'synced' | 'restarting' | 'stopped';

/** An informer as /readyz, the start-up log and the synced gauge show it. */
export interface InformerStatus {
  /** `plural.group`. */
  readonly resource: string;
  readonly state: InformerState;
  /** Listed and watching: the cache is current. */
  readonly synced: boolean;
  /** When it entered its state (ISO 8601): how long a first list or a restart has taken. */
  readonly since: string;
  /** The latest error that restarted it, kept once it synced again: a flapping watch shows. */
  readonly lastError?: { readonly message: string; readonly at: string };
}

export interface InformerOptions {
  /** Relist after this long without any event; watches can stall silently. */
  readonly watchdogMs?: number;
  readonly maxRestartDelayMs?: number;
}

export interface WatchOptions {
  /**
   * Watch PartialObjectMetadata: names, uids, labels, annotations and owners, without spec and
   * status, for a resource whose objects are only looked up (10,000 Clusters then cost a few MiB).
   */
  readonly metadataOnly?: boolean;
  /** What of each object to cache, when a reconciler reads a few fields of spec or status. */
  readonly transform?: (obj: KubernetesObject) => KubernetesObject;
  /** Only objects with these labels: a watch on a rare label costs nothing while none has it. */
  readonly labelSelector?: string;
}

const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

const OBJECT_PHASES = new Set(['ADDED', 'MODIFIED', 'DELETED']);

/** What no reconciler reads and every object carries: managedFields are often half its size. */
function trimmer<T extends KubernetesObject>(options: WatchOptions): (obj: T) => T {
  return (obj) => {
    if (obj.metadata) delete obj.metadata.managedFields;
    return options.transform ? (options.transform(obj) as T) : obj;
  };
}

/** A KubeConfig whose requests ask for `accept`: client-node's Watch and list take no headers of their own. */
function accepting(kc: KubeConfig, accept: string): KubeConfig {
  const config = Object.create(kc) as KubeConfig;
  config.applySecurityAuthentication = async (ctx: RequestContext) => {
    await kc.applySecurityAuthentication(ctx);
    ctx.setHeaderParam('Accept', accept);
  };
  return config;
}

/**
 * client-node's ListWatch on `resource`, trimming every object before it is cached. `onWatching`
 * hears each watch start, when the cache is filled (ListWatch's CONNECT comes before its list),
 * and says whether to watch: a list that ends after a stop must not start a watch nobody stops.
 * `onHeard` hears every event, bookmarks included: the watch is alive.
 */
function listWatch<T extends KubernetesObject>(
  kc: KubeConfig,
  resource: Resource,
  options: WatchOptions,
  onWatching: () => boolean,
  onHeard: () => void,
): ListWatch<T> {
  const { group, version, plural } = resource;
  const trim = trimmer<T>(options);
  const api = (options.metadataOnly ? accepting(kc, METADATA_LIST) : kc).makeApiClient(CustomObjectsApi);
  const watch = longWatch(options.metadataOnly ? accepting(kc, METADATA) : kc);
  const trimming = {
    watch: (
      path: string,
      params: Record<string, string | number | boolean | undefined>,
      callback: (phase: string, obj: T, watchObj?: unknown) => void,
      done: (err: unknown) => void,
    ) => {
      if (!onWatching()) return Promise.resolve(new AbortController());
      return watch.watch(
        path,
        { ...params, ...longWatchParams() },
        // ERROR (a Status, whose code the informer reads) and BOOKMARK events are not objects to trim.
        (phase: string, obj: T) => {
          onHeard();
          callback(phase, OBJECT_PHASES.has(phase) ? trim(obj) : obj);
        },
        done,
      );
    },
  } as unknown as Watch;
  const list = async (): Promise<KubernetesListObject<T>> => {
    const result = (await api.listClusterCustomObject({
      group,
      version,
      plural,
      ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
    })) as KubernetesListObject<T>;
    // An empty PartialObjectMetadataList comes with `items: null`, whatever the type says.
    result.items = ((result.items as T[] | null) ?? []).map(trim);
    return result;
  };
  return new ListWatch<T>(
    `/apis/${group}/${version}/${plural}`,
    trimming,
    list,
    false,
    options.labelSelector,
  );
}

/**
 * client-node's informer made to survive: it stops on any error but 410 Gone, so it is restarted
 * with backoff; and a silence watchdog relists, since a watch can hang without an error.
 */
export class ResilientInformer<T extends KubernetesObject> extends EventEmitter {
  readonly resource: Resource;
  readonly #informer: ListWatch<T>;
  readonly #watchdogMs: number;
  readonly #maxDelay: number;
  #state: InformerState = 'stopped';
  #since = Date.now();
  #lastError?: { message: string; at: string };
  #lastHeard = 0;
  #restarts = 0;
  #watchdog?: NodeJS.Timeout;
  #retry?: NodeJS.Timeout;

  constructor(kc: KubeConfig, resource: Resource, options: InformerOptions & WatchOptions = {}) {
    super();
    this.resource = resource;
    this.#watchdogMs = options.watchdogMs ?? 5 * 60_000;
    this.#maxDelay = options.maxRestartDelayMs ?? 30_000;
    this.#informer = listWatch<T>(
      kc,
      resource,
      options,
      () => {
        if (this.#state === 'stopped') return false;
        this.#heard();
        this.#restarts = 0;
        this.#enter('synced');
        this.emit(InformerEvent.Synced);
        return true;
      },
      () => this.#heard(),
    );
    for (const verb of [ADD, UPDATE, DELETE] as const) {
      this.#informer.on(verb, (obj) => this.emit(InformerEvent.Object, verb, obj));
    }
    this.#informer.on(ERROR, (err: unknown) => this.#restart(err));
  }

  status(): InformerStatus {
    return {
      resource: `${this.resource.plural}.${this.resource.group}`,
      state: this.#state,
      synced: this.#state === 'synced',
      since: new Date(this.#since).toISOString(),
      ...(this.#lastError ? { lastError: this.#lastError } : {}),
    };
  }

  list(): readonly T[] {
    return this.#informer.list();
  }

  get(namespace: string, name: string): T | undefined {
    return this.#informer.get(name, namespace);
  }

  async start(): Promise<void> {
    this.#enter('starting');
    this.#heard();
    this.#watchdog = setInterval(
      () => {
        if (this.#state === 'synced' && Date.now() - this.#lastHeard > this.#watchdogMs) {
          this.emit(InformerEvent.Silent);
          this.#restart(undefined);
        }
      },
      Math.min(this.#watchdogMs, 30_000),
    );
    this.#watchdog.unref();
    await this.#informer.start().catch((err: unknown) => this.#restart(err));
  }

  async stop(): Promise<void> {
    this.#enter('stopped');
    clearInterval(this.#watchdog);
    clearTimeout(this.#retry);
    await this.#informer.stop();
  }

  #enter(state: InformerState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#since = Date.now();
  }

  #heard(): void {
    this.#lastHeard = Date.now();
  }

  #restart(err: unknown): void {
    if (this.#state === 'stopped' || this.#retry) return;
    this.#enter('restarting');
    // Only the watchdog restarts without an error.
    this.#lastError = {
      message: err === undefined ? 'no events for the watchdog period' : reason(err),
      at: new Date().toISOString(),
    };
    const delay = Math.min(this.#maxDelay, 500 * 2 ** this.#restarts++);
    this.emit(InformerEvent.Restarting, err, delay);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#state === 'stopped') return;
      this.#heard();
      void this.#informer
        .stop()
        .then(() => this.#informer.start())
        .catch((e: unknown) => this.#restart(e));
    }, delay);
    this.#retry.unref();
  }
}
