import { EventEmitter } from 'node:events';

/** What a reconcile asks of the queue when it succeeds: nothing, or to look again later. */
export type ReconcileResult = undefined | { requeueAfterMs: number };

export interface QueueOptions {
  readonly concurrency?: number;
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export const QueueEvent = {
  Failed: 'failed',
  Done: 'done',
} as const;

/**
 * A work queue keyed by namespace/name, like client-go's: a key waiting is not added twice, a key
 * is never reconciled twice at once (an add while it runs runs it once more afterwards), failures
 * back off exponentially per key, and a success can ask to be looked at again later.
 */
export class WorkQueue extends EventEmitter {
  readonly #work: (key: string) => Promise<ReconcileResult>;
  readonly #concurrency: number;
  readonly #base: number;
  readonly #max: number;
  readonly #ready: string[] = [];
  readonly #queued = new Set<string>();
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #failures = new Map<string, number>();
  #running = false;

  constructor(work: (key: string) => Promise<ReconcileResult>, options: QueueOptions = {}) {
    super();
    this.#work = work;
    this.#concurrency = options.concurrency ?? 4;
    this.#base = options.baseBackoffMs ?? 500;
    this.#max = options.maxBackoffMs ?? 60_000;
  }

  /** Adds a key now, or after `delayMs` (the earliest pending delay wins). */
  add(key: string, delayMs = 0): void {
    if (delayMs > 0) {
      const at = Date.now() + delayMs;
      const existing = this.#timers.get(key);
      if (existing && existing.at <= at) return;
      if (existing) clearTimeout(existing.timer);
      const timer = setTimeout(() => {
        this.#timers.delete(key);
        this.add(key);
      }, delayMs);
      timer.unref();
      this.#timers.set(key, { at, timer });
      return;
    }
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#ready.push(key);
    this.#pump();
  }

  start(): void {
    this.#running = true;
    this.#pump();
  }

  /** Stops taking keys at once; reconciles already running finish on their own. */
  stop(): void {
    this.#running = false;
  }

  #pump(): void {
    while (this.#running && this.#active.size < this.#concurrency && this.#ready.length > 0) {
      const key = this.#ready.shift() as string;
      this.#queued.delete(key);
      this.#active.add(key);
      void this.#run(key);
    }
  }

  async #run(key: string): Promise<void> {
    try {
      const result = await this.#work(key);
      this.#failures.delete(key);
      this.emit(QueueEvent.Done, key);
      if (result) this.add(key, result.requeueAfterMs);
    } catch (err) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      const delay = Math.min(this.#max, this.#base * 2 ** (failures - 1));
      this.emit(QueueEvent.Failed, key, err, delay);
      this.add(key, delay);
    } finally {
      this.#active.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
    }
  }
}
