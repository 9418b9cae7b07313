/**
 * Bad input: property-based fuzzing of every hook endpoint of a replica of our process, plaintext
 * on the TLS port, and certificates replaced on disk.
 */
import fc from 'fast-check';
import { execa } from 'execa';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startAllocator, type AllocatorProcess } from '../../hack/fixtures/allocator-process.js';
import { HOOKS } from '../../hack/fixtures/hooks.js';
import { eventually } from '../../hack/fixtures/kube.js';

const API = 'hooks.runtime.cluster.x-k8s.io/v1alpha1';
const ENDPOINTS = [
  'discovery',
  'beforeclustercreate/vip-allocator-before-cluster-create',
  'generatepatches/vip-allocator-generate-patches',
  'discovervariables/vip-allocator-discover-variables',
];
let replica: AllocatorProcess;
let certDir: string;
let agent: https.Agent;

beforeAll(async () => {
  certDir = await mkdtemp(path.join(os.tmpdir(), 'vip-certs-'));
  await cp(path.resolve('.cache/control-plane/pki/extension'), certDir, { recursive: true });
  replica = await startAllocator([`--cert-dir=${certDir}`, '--cert-poll-interval=300ms']);
  agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
});
afterAll(async () => {
  agent.destroy();
  await replica.kill('SIGKILL');
});

interface Reply {
  code: number;
  json: Record<string, unknown>;
}

function send(endpoint: string, body: Buffer, contentType: string | undefined): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `https://127.0.0.1:${replica.hookPort}${HOOKS}/${endpoint}`,
      { method: 'POST', agent, headers: contentType ? { 'content-type': contentType } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({
              code: res.statusCode ?? 0,
              json: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>,
            });
          } catch (err) {
            reject(
              new Error(`not JSON (${res.statusCode}): ${Buffer.concat(chunks).toString().slice(0, 200)}`, {
                cause: err,
              }),
            );
          }
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Every answer is a 4xx JSON error naming the problem, or a well-formed hook response. */
function wellFormed(reply: Reply): boolean {
  if (reply.code >= 400 && reply.code < 500)
    return reply.json.status === 'Failure' && typeof reply.json.message === 'string';
  return (
    reply.code === 200 &&
    reply.json.apiVersion === API &&
    String(reply.json.kind).endsWith('Response') &&
    ['Success', 'Failure'].includes(String(reply.json.status))
  );
}

const cluster = fc.record(
  {
    apiVersion: fc.constantFrom('cluster.x-k8s.io/v1beta2', 'cluster.x-k8s.io/v1beta1', 'v1', 42),
    kind: fc.constantFrom('Cluster', 'Machine', null),
    metadata: fc.record(
      { name: fc.oneof(fc.string(), fc.integer()), namespace: fc.oneof(fc.string(), fc.constant(undefined)) },
      { requiredKeys: [] },
    ),
    spec: fc.oneof(
      fc.anything(),
      fc.record({
        topology: fc.record(
          { classRef: fc.record({ name: fc.string() }), class: fc.string() },
          { requiredKeys: [] },
        ),
      }),
    ),
  },
  { requiredKeys: [] },
);

/** Requests shaped almost like CAPI's, with fields dropped, mistyped or swapped. */
const nearlyValid = fc.record(
  {
    apiVersion: fc.constantFrom(API, 'hooks.runtime.cluster.x-k8s.io/v1alpha2', '', 7),
    kind: fc.constantFrom(
      'DiscoveryRequest',
      'BeforeClusterCreateRequest',
      'GeneratePatchesRequest',
      'DiscoverVariablesRequest',
      'Nope',
    ),
    cluster,
    items: fc.oneof(fc.array(fc.anything(), { maxLength: 4 }), fc.anything()),
    variables: fc.oneof(
      fc.array(fc.record({ name: fc.string(), value: fc.anything() }, { requiredKeys: [] })),
      fc.anything(),
    ),
    settings: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.anything()),
  },
  { requiredKeys: [] },
);

const deep = fc.integer({ min: 1, max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n));
const body = fc.oneof(
  { weight: 4, arbitrary: nearlyValid.map((v) => Buffer.from(JSON.stringify(v))) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) }, // invalid UTF-8 too
  { weight: 1, arbitrary: deep.map((s) => Buffer.from(s)) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1, max: 200_000 })
      .map((n) =>
        Buffer.from(
          JSON.stringify({ apiVersion: API, kind: 'GeneratePatchesRequest', items: [], pad: 'x'.repeat(n) }),
        ),
      ),
  },
);
const contentType = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/xml',
  'application/json; charset=latin1',
);

test('10,000 generated bodies: every answer is a JSON 4xx or a valid hook response, and the process stays up', async () => {
  const rssBefore = await replica.metric('capi_vip_allocator_process_resident_memory_bytes');
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ENDPOINTS), body, contentType, async (endpoint, payload, type) => {
      const reply = await send(endpoint, payload, type);
      if (!wellFormed(reply)) throw new Error(`${reply.code} ${JSON.stringify(reply.json).slice(0, 300)}`);
    }),
    { numRuns: 10_000 },
  );
  expect((await replica.ready()).status).toBe(200);
  expect(replica.log()).not.toMatch(/Unhandled rejection|Hook server error| {4}at /);
  const rssAfter = await replica.metric('capi_vip_allocator_process_resident_memory_bytes');
  // Bounded: a leak of even 20 KiB per request would show as 200 MiB here.
  expect((rssAfter ?? 0) - (rssBefore ?? 0)).toBeLessThan(150 * 2 ** 20);
});

test('plaintext HTTP on the hook port is refused', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const req = http.request(
      `http://127.0.0.1:${replica.hookPort}${HOOKS}/discovery`,
      { method: 'POST' },
      (res) => resolve(`HTTP ${res.statusCode}`),
    );
    req.on('error', (err) => resolve(`error ${err.message}`));
    req.end('{}');
  });
  expect(outcome).not.toMatch(/^HTTP 2/);
});

function servedFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port: replica.hookPort, rejectUnauthorized: false },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

test('a certificate replaced on disk is served without a restart; a broken one keeps the old and says why', async () => {
  const before = await servedFingerprint();
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=rotated',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    path.join(certDir, 'tls.key.new'),
    '-out',
    path.join(certDir, 'tls.crt.new'),
  ]);
  // Key first, then certificate, as a Secret update lands: the half-written state must not be served.
  await writeFile(path.join(certDir, 'tls.key'), await readFile(path.join(certDir, 'tls.key.new')));
  await writeFile(path.join(certDir, 'tls.crt'), await readFile(path.join(certDir, 'tls.crt.new')));
  const rotated = await eventually('the new certificate to be served', async () => {
    const now = await servedFingerprint();
    return now !== before ? now : undefined;
  });

  await writeFile(path.join(certDir, 'tls.crt'), 'not a certificate');
  await eventually('the reload failure to be logged', async () =>
    replica.log().includes('Serving certificate not reloaded') ? true : undefined,
  );
  expect(await servedFingerprint()).toBe(rotated);
  expect((await replica.ready()).status).toBe(200);
});
