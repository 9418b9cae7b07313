import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Operator } from '../operator/operator.js';
import type { ListenAddress } from '../shared/config.js';
import { listen } from './listen.js';

/**
 * /healthz, and /readyz: not ready until `ready()` and the reconciler's informers first synced. A
 * later watch restart shows there but keeps the replica ready, so hooks go on being served while
 * the watch reconnects.
 */
export function serveProbes(
  at: ListenAddress,
  ready: () => boolean,
  operator: Operator | undefined,
): Promise<AddressInfo> {
  const probes = express();
  probes.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  probes.get('/readyz', (_req, res) => {
    const ok = ready() && (!operator || operator.everSynced);
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ok' : 'starting',
      leader: operator?.leading,
      informers: operator?.informers() ?? [],
    });
  });
  return listen(http.createServer(probes), at);
}
