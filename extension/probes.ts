import express from 'express';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ListenAddress } from '../shared/config.js';
import { listen } from './listen.js';

/**
 * An informer's cache as the probes and the synced gauge read it. Declared here, so extension/
 * needs no import of operator/ (its InformerStatus is one); /readyz shows all the operator reports.
 */
export interface InformerReport {
  /** `plural.group`. */
  readonly resource: string;
  /** Listed and watching: the cache is current. */
  readonly synced: boolean;
}

/** The operator as /readyz shows it. */
export interface OperatorReport {
  readonly leading: boolean;
  informers(): readonly InformerReport[];
}

export type Phase = 'starting' | 'ready' | 'draining';

/**
 * Where this replica stands. Ready means hooks can be answered: the hook server listens with its
 * certificate loaded. The informers' first lists are reported, never waited for: the hooks read
 * the API server directly, and a busy one must not keep every replica out of the Service.
 */
export class Lifecycle {
  #phase: Phase = 'starting';
  #operator?: OperatorReport;

  get phase(): Phase {
    return this.#phase;
  }

  get operator(): OperatorReport | undefined {
    return this.#operator;
  }

  /** The hook server listens with its certificate (or this replica serves no hooks). */
  serving(): void {
    if (this.#phase === 'starting') this.#phase = 'ready';
  }

  /** The operator is built (after the probes serve): its informers and leadership show in /readyz. */
  reporting(operator: OperatorReport): void {
    this.#operator = operator;
  }

  /**
   * Readiness off at once; `hooks` goes on answering for `drainMs` while this replica leaves the
   * Service's endpoints, each answer closing its connection so that the API server's next call
   * opens one to another replica; then it closes once the calls in flight are answered.
   */
  async drain(hooks: http.Server | undefined, drainMs: number): Promise<void> {
    this.#phase = 'draining';
    if (!hooks) return;
    // Before the hook app's own listener, which may answer before returning.
    hooks.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) =>
      res.setHeader('Connection', 'close'),
    );
    await sleep(drainMs);
    await new Promise<void>((resolve) => hooks.close(() => resolve()));
  }
}

/**
 * /healthz answers whenever the event loop does: nothing it could wait for (a cache, the API
 * server) is a reason to restart the process. /readyz: 200 while the lifecycle is ready, 503
 * `starting` or `draining` otherwise, with the leadership and every informer's state.
 */
export async function serveProbes(at: ListenAddress, lifecycle: Lifecycle): Promise<http.Server> {
  const probes = express();
  probes.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  probes.get('/readyz', (_req, res) => {
    const { phase, operator } = lifecycle;
    res.status(phase === 'ready' ? 200 : 503).json({
      status: phase === 'ready' ? 'ok' : phase,
      leader: operator?.leading,
      informers: operator?.informers() ?? [],
    });
  });
  // The caches apart, as controller-runtime serves one check under /readyz/<name>: never part of
  // readiness, for whoever must wait for them (the local plane, the tests, the bench).
  probes.get('/readyz/informers', (_req, res) => {
    const informers = lifecycle.operator?.informers() ?? [];
    const ok = lifecycle.operator !== undefined && informers.every((i) => i.synced);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'syncing', informers });
  });
  const server = http.createServer(probes);
  await listen(server, at);
  return server;
}
