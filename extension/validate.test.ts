import {
  beforeClusterCreateRequest,
  beforeClusterDeleteRequest,
  generatePatchesRequest,
  RequestError,
} from './validate.js';

const cluster = (spec: Record<string, unknown>, apiVersion = 'cluster.x-k8s.io/v1beta2') => ({
  apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
  kind: 'BeforeClusterCreateRequest',
  cluster: { apiVersion, kind: 'Cluster', metadata: { name: 'c1', namespace: 'ns' }, spec },
});

describe('beforeClusterCreateRequest', () => {
  test('accepts a v1beta2 Cluster (classRef) and a v1beta1 Cluster (class)', () => {
    expect(() =>
      beforeClusterCreateRequest(cluster({ topology: { classRef: { name: 'a' }, version: 'v1.34.0' } })),
    ).not.toThrow();
    expect(() =>
      beforeClusterCreateRequest(
        cluster({ topology: { class: 'a', version: 'v1.34.0' } }, 'cluster.x-k8s.io/v1beta1'),
      ),
    ).not.toThrow();
  });
  test('accepts the v1beta1 Cluster CAPI 1.11 and 1.12 send: no apiVersion or kind on the wire', () => {
    const request = cluster({ topology: { class: 'a', version: 'v1.34.0' } });
    const { apiVersion: _a, kind: _k, ...bare } = request.cluster; // eslint-disable-line @typescript-eslint/no-unused-vars
    expect(() => beforeClusterCreateRequest({ ...request, cluster: bare })).not.toThrow();
  });
  test('accepts empty label and annotation values, as CAPI itself sets them (topology.cluster.x-k8s.io/owned: "")', () => {
    const request = cluster({ topology: { classRef: { name: 'a' }, version: 'v1.34.0' } });
    const labelled = {
      ...request,
      cluster: {
        ...request.cluster,
        metadata: {
          ...request.cluster.metadata,
          labels: { 'topology.cluster.x-k8s.io/owned': '' },
          annotations: { a: '' },
        },
      },
    };
    expect(() => beforeClusterCreateRequest(labelled)).not.toThrow();
    expect(() =>
      beforeClusterDeleteRequest({ ...labelled, kind: 'BeforeClusterDeleteRequest' }),
    ).not.toThrow();
  });
  test.each([
    [null, 'request: must be an object, got null'],
    [{ ...cluster({}), apiVersion: 'v1' }, 'apiVersion: must be hooks.runtime.cluster.x-k8s.io/v1alpha1'],
    [{ ...cluster({}), kind: 'GeneratePatchesRequest' }, 'kind: must be BeforeClusterCreateRequest'],
    [{ ...cluster({}), cluster: undefined }, 'cluster: missing'],
    [cluster({}, 'cluster.x-k8s.io/v1alpha4'), 'cluster.apiVersion: must be one of'],
    [
      cluster({ topology: { version: 'v1' } }),
      'cluster.spec.topology.classRef.name (v1beta2) or cluster.spec.topology.class (v1beta1): missing',
    ],
    [
      cluster({ controlPlaneEndpoint: { port: 'x' } }),
      'cluster.spec.controlPlaneEndpoint.port: must be a non-negative integer',
    ],
    [
      {
        ...cluster({}),
        cluster: { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', metadata: { name: 'c1' } },
      },
      'cluster.metadata.namespace: missing',
    ],
  ])('%j → %s', (body, message) => {
    expect(() => beforeClusterCreateRequest(body)).toThrow(RequestError);
    expect(() => beforeClusterCreateRequest(body)).toThrow(message);
  });
});

describe('generatePatchesRequest', () => {
  const base = { apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1', kind: 'GeneratePatchesRequest' };
  test('accepts an empty item list', () => {
    expect(() => generatePatchesRequest({ ...base, items: [] })).not.toThrow();
  });
  test('names the first bad field of an item', () => {
    const item = {
      uid: 'u',
      holderReference: { apiVersion: 'v', kind: 'Cluster', name: 'c' },
      object: { apiVersion: 'v', kind: 'K' },
    };
    expect(() => generatePatchesRequest({ ...base, items: [item] })).toThrow(
      'items[0].holderReference.fieldPath: missing',
    );
    expect(() => generatePatchesRequest({ ...base, items: 'x' })).toThrow(
      'items: must be an array, got string',
    );
  });
});
