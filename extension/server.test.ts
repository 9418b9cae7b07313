/**
 * The hook app in process (no TLS, no plane): what CAPI gets for discovery, an unknown path, a body
 * that is not JSON or too large, a body that fails validation (by failure policy), and a handler
 * that throws. test/integration/hook-server.test.ts runs the same app as the real process serves it.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import winston from 'winston';
import { createHookApp, register, type Handler } from './server.js';
import { RequestError } from './validate.js';

const HOOKS = '/hooks.runtime.cluster.x-k8s.io/v1alpha1';
const quiet = winston.createLogger({ silent: true });

const handler = (
  hook: Handler['hook'],
  failurePolicy: 'Fail' | 'Ignore',
  handle: Handler['handle'],
): Handler => ({
  hook,
  suffix: hook.toLowerCase(),
  timeoutSeconds: 10,
  failurePolicy,
  parse: (body) => {
    if (!(body as { cluster?: unknown }).cluster) throw new RequestError('cluster', 'missing');
    return body;
  },
  handle,
});

let server: Server;
let base: string;

beforeAll(async () => {
  const app = createHookApp(
    'x',
    [
      register(
        handler('BeforeClusterCreate', 'Ignore', async () => ({ status: 'Success', retryAfterSeconds: 0 })),
      ),
      register(
        handler('GeneratePatches', 'Fail', async () => {
          throw new Error('boom: Cluster ns/c1');
        }),
      ),
    ],
    quiet,
  );
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}${HOOKS}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const post = async (path: string, body: string, type?: string) => {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    // Bytes: a string body would make fetch state text/plain, and CAPI states no type at all.
    body: new TextEncoder().encode(body),
    headers: type ? { 'content-type': type } : {},
  });
  return { code: res.status, body: (await res.json()) as Record<string, unknown> };
};

test('discovery lists every registered handler with its policy', async () => {
  const { code, body } = await post(
    '/discovery',
    JSON.stringify({ apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'DiscoveryRequest' }),
  );
  expect(code).toBe(200);
  expect(
    (body.handlers as { name: string; failurePolicy: string }[]).map((h) => [h.name, h.failurePolicy]),
  ).toEqual([
    ['x-beforeclustercreate', 'Ignore'],
    ['x-generatepatches', 'Fail'],
  ]);
});

const CREATE = '/beforeclustercreate/x-beforeclustercreate';
test.each([
  {
    what: 'an unknown path',
    path: '/beforeclustercreate/nope',
    body: '{}',
    code: 404,
    message: 'No handler at',
  },
  { what: 'a body that is not JSON', path: CREATE, body: '{', code: 400, message: 'not valid JSON' },
  {
    what: 'a stated non-JSON type',
    path: CREATE,
    body: '{}',
    type: 'text/plain',
    code: 400,
    message: 'Content-Type must be application/json',
  },
  {
    what: 'a body over 8 MiB',
    path: CREATE,
    body: `"${'a'.repeat(9 * 1024 * 1024)}"`,
    code: 413,
    message: 'over 8mb',
  },
  {
    what: 'an invalid body for an Ignore handler',
    path: CREATE,
    body: '{}',
    code: 400,
    message: 'Invalid request: cluster: missing',
  },
])('$what: HTTP $code', async ({ path, body, type, code, message }) => {
  expect(await post(path, body, type)).toEqual({
    code,
    body: expect.objectContaining({ status: 'Failure', message: expect.stringContaining(message) }),
  });
});

test('an invalid body for a Fail handler: HTTP 200 Failure naming the field, so CAPI shows it', async () => {
  expect(await post('/generatepatches/x-generatepatches', '{}')).toEqual({
    code: 200,
    body: expect.objectContaining({
      kind: 'GeneratePatchesResponse',
      status: 'Failure',
      message: 'Invalid request: cluster: missing',
    }),
  });
});

test('a handler that throws: HTTP 200 Failure with its message, never a stack trace', async () => {
  expect(await post('/generatepatches/x-generatepatches', JSON.stringify({ cluster: {} }))).toEqual({
    code: 200,
    body: {
      apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
      kind: 'GeneratePatchesResponse',
      status: 'Failure',
      message: 'boom: Cluster ns/c1',
    },
  });
});
