/**
 * The probes over HTTP on ephemeral ports, with a fake operator: liveness and readiness never wait
 * for the informers' first lists, readiness turns 503 `draining` on shutdown while the hook server
 * still answers, and the informers' state shows in /readyz and in a gauge.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import winston from 'winston';
import { Metrics, serveMetrics } from './metrics.js';
import { Lifecycle, serveProbes, type InformerReport, type OperatorReport } from './probes.js';
import { createHookApp, HOOKS_PATH, register } from './server.js';

const LOCAL = { host: '127.0.0.1', port: 0 };
const quiet = winston.createLogger({ silent: true });
const urlOf = (server: http.Server): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const close = (server: http.Server): Promise<void> => new Promise((r) => server.close(() => r()));

const SINCE = '2030-01-01T00:00:00.000Z';
/** An informer as the operator reports it (operator/informer.ts), all of which /readyz shows. */
type InformerStatus = InformerReport & {
  state: 'starting' | 'synced' | 'restarting' | 'stopped';
  since: string;
  lastError?: { message: string; at: string };
};
/** An operator whose first lists never end: a busy API server. */
function listing(): OperatorReport & { statuses: InformerStatus[] } {
  const statuses: InformerStatus[] = [
    { resource: 'clusters.cluster.x-k8s.io', state: 'starting', synced: false, since: SINCE },
    {
      resource: 'ipaddressclaims.ipam.cluster.x-k8s.io',
      state: 'restarting',
      synced: false,
      since: SINCE,
      lastError: { message: 'the server was unable to return a response in the time allotted', at: SINCE },
    },
  ];
  return { leading: false, statuses, informers: () => statuses };
}

async function probe(server: http.Server, path: string): Promise<{ code: number; body: unknown }> {
  const res = await fetch(`${urlOf(server)}${path}`);
  return { code: res.status, body: await res.json() };
}

describe('probes', () => {
  let lifecycle: Lifecycle;
  let probes: http.Server;
  beforeEach(async () => {
    lifecycle = new Lifecycle();
    probes = await serveProbes(LOCAL, lifecycle);
  });
  afterEach(() => close(probes));

  test('liveness answers 200 before the hooks serve and while no informer ever synced', async () => {
    expect(await probe(probes, '/healthz')).toEqual({ code: 200, body: { status: 'ok' } });
    lifecycle.reporting(listing());
    expect(await probe(probes, '/healthz')).toEqual({ code: 200, body: { status: 'ok' } });
  });

  test('readiness is 503 starting until the hook server serves, then 200 though no informer synced', async () => {
    expect(await probe(probes, '/readyz')).toEqual({
      code: 503,
      body: { status: 'starting', informers: [] },
    });
    lifecycle.serving();
    const operator = listing();
    lifecycle.reporting(operator);
    expect(await probe(probes, '/readyz')).toEqual({
      code: 200,
      body: { status: 'ok', leader: false, informers: operator.statuses },
    });
  });

  test('/readyz/informers is 503 until every informer synced, for whoever must wait for the caches', async () => {
    expect((await probe(probes, '/readyz/informers')).code).toBe(503);
    const operator = listing();
    lifecycle.reporting(operator);
    expect(await probe(probes, '/readyz/informers')).toEqual({
      code: 503,
      body: { status: 'syncing', informers: operator.statuses },
    });
    operator.statuses.splice(
      0,
      2,
      ...operator.statuses.map((s) => ({ ...s, state: 'synced' as const, synced: true })),
    );
    expect((await probe(probes, '/readyz/informers')).code).toBe(200);
  });
});

describe('drain', () => {
  /** A hook that answers `slowMs` after it is called: a call in flight when the drain ends. */
  const slowMs = 400;
  const app = createHookApp(
    'x',
    [
      register({
        hook: 'BeforeClusterCreate',
        suffix: 'beforeclustercreate',
        timeoutSeconds: 10,
        parse: (body) => body,
        handle: async () => {
          await sleep(slowMs);
          return { status: 'Success', retryAfterSeconds: 0 };
        },
      }),
    ],
    quiet,
  );
  let lifecycle: Lifecycle;
  let probes: http.Server;
  let hooks: http.Server;
  let base: string;
  beforeEach(async () => {
    lifecycle = new Lifecycle();
    probes = await serveProbes(LOCAL, lifecycle);
    hooks = http.createServer(app);
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    base = `${urlOf(hooks)}${HOOKS_PATH}`;
  });
  afterEach(async () => {
    hooks.closeAllConnections();
    if (hooks.listening) await close(hooks);
    await close(probes);
  });
  const call = (path: string, body: unknown): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
  const discover = (): Promise<Response> =>
    call('/discovery', { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'DiscoveryRequest' });

  test('readiness turns 503 draining at once, hooks are answered through the window, then the server closes', async () => {
    lifecycle.serving();
    lifecycle.reporting(listing());
    expect((await probe(probes, '/readyz')).code).toBe(200);

    const drained = lifecycle.drain(hooks, 200);
    expect(await probe(probes, '/readyz')).toMatchObject({ code: 503, body: { status: 'draining' } });
    expect((await probe(probes, '/healthz')).code).toBe(200);
    const discovery = await discover();
    expect(discovery.status).toBe(200);
    expect(await discovery.json()).toMatchObject({ kind: 'DiscoveryResponse', status: 'Success' });
    // The API server's next call opens a connection, which the Service gives another replica.
    expect(discovery.headers.get('connection')).toBe('close');

    // Still answered when the window ends under it: the server closes once it is.
    const inFlight = call('/beforeclustercreate/x-beforeclustercreate', {});
    await drained;
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    expect(await answered.json()).toMatchObject({ kind: 'BeforeClusterCreateResponse', status: 'Success' });
    expect(hooks.listening).toBe(false);
    await expect(discover()).rejects.toThrow();
    // Never ready again once draining.
    lifecycle.serving();
    expect((await probe(probes, '/readyz')).code).toBe(503);
  });

  test('without a hook server, draining only turns readiness off', async () => {
    lifecycle.serving();
    await lifecycle.drain(undefined, 60_000);
    expect(await probe(probes, '/readyz')).toMatchObject({ code: 503, body: { status: 'draining' } });
  });
});

describe('capi_vip_allocator_informer_synced', () => {
  const samples = async (server: http.Server): Promise<string[]> =>
    (await (await fetch(`${urlOf(server)}/metrics`)).text())
      .split('\n')
      .filter((line) => line.startsWith('capi_vip_allocator_informer_synced{'));

  let metrics: Metrics;
  let server: http.Server;
  beforeEach(async () => {
    // The pool and claim reading of a busy API server: 429.
    metrics = new Metrics(() => Promise.reject(new Error('Too Many Requests')));
    server = await serveMetrics(metrics, LOCAL);
  });
  afterEach(() => close(server));

  test('a scrape is answered when the API server does not answer the pool and claim reading', async () => {
    metrics.reportInformers(() => listing().informers());
    const res = await fetch(`${urlOf(server)}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('capi_vip_allocator_informer_synced{resource="clusters.cluster.x-k8s.io"} 0');
    expect(text).not.toMatch(/^capi_vip_allocator_(pool_addresses|claims)\{/m);
  });

  test('1 for a synced informer and 0 for one listing, read at each scrape; none before the operator', async () => {
    expect(await samples(server)).toEqual([]);

    const operator = listing();
    metrics.reportInformers(() => operator.informers());
    expect(await samples(server)).toEqual([
      'capi_vip_allocator_informer_synced{resource="clusters.cluster.x-k8s.io"} 0',
      'capi_vip_allocator_informer_synced{resource="ipaddressclaims.ipam.cluster.x-k8s.io"} 0',
    ]);

    operator.statuses.splice(0, 1, {
      resource: 'clusters.cluster.x-k8s.io',
      state: 'synced',
      synced: true,
      since: SINCE,
    });
    expect(await samples(server)).toEqual([
      'capi_vip_allocator_informer_synced{resource="clusters.cluster.x-k8s.io"} 1',
      'capi_vip_allocator_informer_synced{resource="ipaddressclaims.ipam.cluster.x-k8s.io"} 0',
    ]);

    // A second informer of a resource (another reconciler's) still listing: not synced yet.
    operator.statuses.push({
      resource: 'clusters.cluster.x-k8s.io',
      state: 'starting',
      synced: false,
      since: SINCE,
    });
    expect(await samples(server)).toContain(
      'capi_vip_allocator_informer_synced{resource="clusters.cluster.x-k8s.io"} 0',
    );
  });
});
