/**
 * Our hook server over HTTPS, as started by `npm run control-plane -- up --extension`, against
 * the real API server and IPAM provider; CAPI stays out of it (the Cluster here is no topology
 * Cluster in the API, so CAPI never calls the hook for it).
 */
import type https from 'node:https';
import { callHook, HOOKS, type Answer } from '../../hack/fixtures/hooks.js';
import { inClusterIPPool, vipLabels } from '../../hack/fixtures/fixtures.js';
import { createNamespace, deleteNamespace, eventually, kube } from '../../hack/fixtures/kube.js';
import { readCluster, VIP_ANNOTATION } from '../../hack/fixtures/vip.js';

const BASE = `https://127.0.0.1:19460${HOOKS}`;

const post = (hook: string, body: unknown, options?: https.RequestOptions) =>
  callHook(`${BASE}/${hook}`, JSON.stringify(body), options);

test('discovery advertises the four handlers within CAPI limits', async () => {
  const { code, body } = await post('discovery', {
    apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
    kind: 'DiscoveryRequest',
  });
  expect(code).toBe(200);
  expect(body).toMatchObject({ kind: 'DiscoveryResponse', status: 'Success' });
  expect(body.handlers).toEqual([
    {
      name: 'vip-allocator-before-cluster-create',
      requestHook: { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', hook: 'BeforeClusterCreate' },
      timeoutSeconds: 10,
      // Called for every topology Cluster: an outage of ours must not stop other classes (README).
      failurePolicy: 'Ignore',
    },
    {
      name: 'vip-allocator-generate-patches',
      requestHook: { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', hook: 'GeneratePatches' },
      timeoutSeconds: 10,
      failurePolicy: 'Fail',
    },
    {
      name: 'vip-allocator-discover-variables',
      requestHook: { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', hook: 'DiscoverVariables' },
      timeoutSeconds: 10,
      failurePolicy: 'Fail',
    },
    {
      name: 'vip-allocator-before-cluster-delete',
      requestHook: { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', hook: 'BeforeClusterDelete' },
      timeoutSeconds: 10,
      // A deletion waits for a replica rather than hand its VIP back unquarantined (README).
      failurePolicy: 'Fail',
    },
  ]);
});

test('DiscoverVariables publishes vipAllocator', async () => {
  const { code, body } = await post('discovervariables/vip-allocator-discover-variables', {
    apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
    kind: 'DiscoverVariablesRequest',
    settings: {},
  });
  expect(code).toBe(200);
  expect(body).toMatchObject({
    kind: 'DiscoverVariablesResponse',
    status: 'Success',
    variables: [{ name: 'vipAllocator', required: false, schema: { openAPIV3Schema: { type: 'object' } } }],
  });
});

describe('bad requests get a JSON error naming the problem', () => {
  const hook = 'beforeclustercreate/vip-allocator-before-cluster-create';
  test.each<[string, () => Promise<Answer>, number, string]>([
    ['wrong method', () => post(hook, {}, { method: 'GET' }), 400, 'hooks take POST'],
    [
      'wrong content type',
      () => post(hook, {}, { headers: { 'content-type': 'text/plain' } }),
      400,
      'Content-Type must be application/json',
    ],
    ['malformed JSON', () => callHook(`${BASE}/${hook}`, '{"apiVersion":'), 400, 'not valid JSON'],
    [
      'missing field',
      () =>
        post(hook, {
          apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
          kind: 'BeforeClusterCreateRequest',
        }),
      400,
      'cluster: missing',
    ],
    [
      'wrong kind',
      () => post(hook, { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'Nope' }),
      400,
      'kind: must be BeforeClusterCreateRequest',
    ],
    [
      'mistyped field',
      () =>
        post('generatepatches/vip-allocator-generate-patches', {
          apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
          kind: 'GeneratePatchesRequest',
          items: {},
        }),
      // A Fail handler answers 200 Failure, so CAPI shows the message on the Cluster.
      200,
      'Invalid request: items: must be an array',
    ],
    [
      'body over the limit',
      () => callHook(`${BASE}/${hook}`, Buffer.alloc(9 * 1024 * 1024, 32)),
      413,
      'over 8mb',
    ],
    ['unknown handler', () => post('beforeclustercreate/someone-else', {}), 404, 'No handler'],
  ])('%s', async (_what, send, code, message) => {
    const answer = await send();
    expect(answer.code).toBe(code);
    expect(answer.type).toContain('application/json');
    expect(answer.body.message).toContain(message);
  });

  test('TLS below 1.2 is refused', async () => {
    await expect(post('discovery', {}, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).rejects.toThrow();
  });
});

describe('BeforeClusterCreate with a v1beta1 Cluster (CAPI 1.11-1.12)', () => {
  let ns: string;
  beforeAll(async () => {
    ns = await createNamespace('hooks');
    const { objects } = kube();
    await objects.create(inClusterIPPool(ns, 'pool', ['10.80.0.7'], { labels: vipLabels('legacy') }));
    // A Cluster without topology in the API, so CAPI never calls the hook for it; the request below
    // describes it as the topology Cluster CAPI 1.11 would have sent.
    await objects.create({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'old', namespace: ns },
      spec: {
        infrastructureRef: {
          apiGroup: 'infrastructure.cluster.x-k8s.io',
          kind: 'DockerCluster',
          name: 'old',
        },
      },
    });
  });
  afterAll(() => deleteNamespace(ns));

  test('claims, waits for the binding, patches the Cluster, then answers Success once it carries the VIP', async () => {
    const stored = await readCluster(ns, 'old');
    const request = (annotations?: Record<string, string>, endpoint?: object) => ({
      apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
      kind: 'BeforeClusterCreateRequest',
      cluster: {
        apiVersion: 'cluster.x-k8s.io/v1beta1',
        kind: 'Cluster',
        metadata: { name: 'old', namespace: ns, uid: stored?.metadata.uid, annotations },
        spec: {
          topology: { class: 'legacy', version: 'v1.30.0' },
          ...(endpoint ? { controlPlaneEndpoint: endpoint } : {}),
        },
      },
    });
    const hook = 'beforeclustercreate/vip-allocator-before-cluster-create';
    const first = await eventually('the claim to bind within one call', async () => {
      const answer = await post(hook, request());
      return (answer.body.message as string).includes('written to the Cluster') ? answer : undefined;
    });
    expect(first.body).toMatchObject({
      kind: 'BeforeClusterCreateResponse',
      status: 'Success',
      retryAfterSeconds: 1,
    });

    const patched = await readCluster(ns, 'old');
    expect(patched?.spec?.controlPlaneEndpoint).toEqual({ host: '10.80.0.7', port: 6443 });
    expect(patched?.metadata.annotations?.[VIP_ANNOTATION]).toBe('10.80.0.7');

    const last = await post(
      hook,
      request({ [VIP_ANNOTATION]: '10.80.0.7' }, { host: '10.80.0.7', port: 6443 }),
    );
    expect(last.body).toMatchObject({ status: 'Success', retryAfterSeconds: 0 });
  });
});
