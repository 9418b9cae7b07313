/**
 * The admission side of the hook app in process (no TLS, no plane): an AdmissionReview answered
 * allowed with its uid and a base64 JSON patch, a webhook that throws still allows the create, and
 * a body that is not an AdmissionReview is a 400 (the API server's failurePolicy Ignore goes on).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import winston from 'winston';
import { testCluster } from '../../shared/testing/cluster.js';
import { createHookApp } from '../server.js';
import { jsonPatchOf } from './review.js';

const quiet = winston.createLogger({ silent: true });
let server: Server;
let base: string;

beforeAll(async () => {
  const app = createHookApp('x', [], quiet, undefined, [
    {
      name: 'Patching',
      path: '/patching',
      review: async () => ({
        patch: [{ op: 'add', path: '/spec/controlPlaneEndpoint', value: { host: '10.0.0.5', port: 6443 } }],
        outcome: 'endpoint',
        why: 'test',
        keys: {},
      }),
    },
    {
      name: 'Throwing',
      path: '/throwing',
      review: () => Promise.reject(new Error('boom')),
    },
  ]);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const review = (request: Record<string, unknown>) =>
  JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
const post = async (path: string, body: string) => {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    body: new TextEncoder().encode(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

test('answered allowed, with the uid and the patch in base64', async () => {
  const { status, body } = await post('/patching', review({ uid: 'u1', operation: 'CREATE' }));
  expect(status).toBe(200);
  const response = body.response as { uid: string; allowed: boolean; patchType: string; patch: string };
  expect(response).toMatchObject({ uid: 'u1', allowed: true, patchType: 'JSONPatch' });
  expect(JSON.parse(Buffer.from(response.patch, 'base64').toString())).toEqual([
    { op: 'add', path: '/spec/controlPlaneEndpoint', value: { host: '10.0.0.5', port: 6443 } },
  ]);
});

test('a webhook that fails still allows the create, unchanged', async () => {
  const { status, body } = await post('/throwing', review({ uid: 'u2', operation: 'CREATE' }));
  expect(status).toBe(200);
  expect(body).toEqual({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: 'u2', allowed: true },
  });
});

test.each([
  [
    'not an AdmissionReview',
    JSON.stringify({ apiVersion: 'v1', kind: 'Status' }),
    /apiVersion: must be admission.k8s.io\/v1/,
  ],
  ['no uid', review({ operation: 'CREATE' }), /request.uid: missing/],
])('%s: 400 naming the field', async (_, body, message) => {
  const { status, body: answer } = await post('/patching', body);
  expect(status).toBe(400);
  expect(String(answer.message)).toMatch(message);
});

test('jsonPatchOf: whole maps and lists, keeping what the Cluster had', () => {
  const cluster = testCluster('c1', { variables: { ipFamilies: ['IPv4'] } });
  const ops = jsonPatchOf(cluster, {
    endpoint: { host: '10.0.0.5', port: 6443 },
    annotations: { a: 'b', gone: null },
    labels: { l: '' },
    variables: [{ name: 'clusterVip', value: '10.0.0.5' }],
  });
  expect(ops).toEqual([
    { op: 'add', path: '/metadata/annotations', value: { ...cluster.metadata.annotations, a: 'b' } },
    { op: 'add', path: '/metadata/labels', value: { l: '' } },
    { op: 'add', path: '/spec/controlPlaneEndpoint', value: { host: '10.0.0.5', port: 6443 } },
    {
      op: 'add',
      path: '/spec/topology/variables',
      value: [
        { name: 'vipAllocator', value: { ipFamilies: ['IPv4'] } },
        { name: 'clusterVip', value: '10.0.0.5' },
      ],
    },
  ]);
});
