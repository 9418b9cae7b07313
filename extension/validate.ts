import {
  HOOKS_API_VERSION,
  type BeforeClusterCreateRequest,
  type BeforeClusterDeleteRequest,
  type Cluster,
  type DiscoverVariablesRequest,
  type GeneratePatchesRequest,
} from '../shared/kube/types.js';

/** A hook request that does not have the shape CAPI sends; answered 400 naming the field. */
export class RequestError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'RequestError';
  }
}

type Json = Record<string, unknown>;

export function object(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestError(
      field,
      value === undefined ? 'missing' : `must be an object, got ${kindOf(value)}`,
    );
  }
  return value as Json;
}

export function string(value: unknown, field: string, { empty = false } = {}): string {
  if (typeof value !== 'string' || (value === '' && !empty)) {
    throw new RequestError(
      field,
      value === undefined
        ? 'missing'
        : value === ''
          ? 'must not be empty'
          : `must be ${empty ? 'a' : 'a non-empty'} string, got ${kindOf(value)}`,
    );
  }
  return value;
}

function array(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value))
    throw new RequestError(field, value === undefined ? 'missing' : `must be an array, got ${kindOf(value)}`);
  return value;
}

function optional<T>(value: unknown, check: (v: unknown) => T): T | undefined {
  return value === undefined || value === null ? undefined : check(value);
}

function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function typeMeta(body: Json, kind: string): void {
  if (body.apiVersion !== HOOKS_API_VERSION) {
    throw new RequestError(
      'apiVersion',
      `must be ${HOOKS_API_VERSION}, got ${JSON.stringify(body.apiVersion)}`,
    );
  }
  if (body.kind !== kind) throw new RequestError('kind', `must be ${kind}, got ${JSON.stringify(body.kind)}`);
}

function stringMap(value: unknown, field: string): Record<string, string> {
  const map = object(value, field);
  // Label and annotation values may be empty (CAPI's own `topology.cluster.x-k8s.io/owned: ""`).
  for (const [k, v] of Object.entries(map)) string(v, `${field}.${k}`, { empty: true });
  return map as Record<string, string>;
}

export function discoveryRequest(body: unknown): void {
  typeMeta(object(body, 'request'), 'DiscoveryRequest');
}

const CLUSTER_VERSIONS = ['cluster.x-k8s.io/v1beta2', 'cluster.x-k8s.io/v1beta1'];

/**
 * The Cluster in a hook request, as each CAPI release sends it (the one place request shapes differ):
 * - v1.13 and later: `cluster.x-k8s.io/v1beta2`, `spec.topology.classRef`;
 * - v1.11 and v1.12: converted to v1beta1 (`spec.topology.class`) by the generated conversion, which
 *   leaves TypeMeta out, so `apiVersion` and `kind` are absent on the wire (test/compat proves both).
 */
export function cluster(value: unknown, field: string): Cluster {
  const c = object(value, field);
  if (c.apiVersion !== undefined && !CLUSTER_VERSIONS.includes(c.apiVersion as string)) {
    throw new RequestError(
      `${field}.apiVersion`,
      `must be one of ${CLUSTER_VERSIONS.join(', ')} (or absent, as CAPI < 1.13 sends it), got ${JSON.stringify(c.apiVersion)}`,
    );
  }
  if (c.kind !== undefined && c.kind !== 'Cluster')
    throw new RequestError(`${field}.kind`, `must be Cluster, got ${JSON.stringify(c.kind)}`);
  // What the older managers converted to; Events and owner references need both fields.
  c.apiVersion ??= 'cluster.x-k8s.io/v1beta1';
  c.kind ??= 'Cluster';
  const meta = object(c.metadata, `${field}.metadata`);
  string(meta.name, `${field}.metadata.name`);
  string(meta.namespace, `${field}.metadata.namespace`);
  optional(meta.annotations, (v) => stringMap(v, `${field}.metadata.annotations`));
  optional(meta.labels, (v) => stringMap(v, `${field}.metadata.labels`));
  const spec = optional(c.spec, (v) => object(v, `${field}.spec`));
  const endpoint = optional(spec?.controlPlaneEndpoint, (v) =>
    object(v, `${field}.spec.controlPlaneEndpoint`),
  );
  optional(endpoint?.host, (v) =>
    typeof v === 'string' ? v : string(v, `${field}.spec.controlPlaneEndpoint.host`),
  );
  if (endpoint?.port !== undefined && !(Number.isInteger(endpoint.port) && (endpoint.port as number) >= 0)) {
    throw new RequestError(
      `${field}.spec.controlPlaneEndpoint.port`,
      `must be a non-negative integer, got ${JSON.stringify(endpoint.port)}`,
    );
  }
  const topology = optional(spec?.topology, (v) => object(v, `${field}.spec.topology`));
  if (topology) {
    const classRef = optional(topology.classRef, (v) => object(v, `${field}.spec.topology.classRef`));
    if (classRef) string(classRef.name, `${field}.spec.topology.classRef.name`);
    else
      string(
        topology.class,
        `${field}.spec.topology.classRef.name (v1beta2) or ${field}.spec.topology.class (v1beta1)`,
      );
  }
  return c as unknown as Cluster;
}

/** BeforeClusterCreate and BeforeClusterDelete requests have one shape: settings and the Cluster. */
function clusterRequest<R extends BeforeClusterCreateRequest | BeforeClusterDeleteRequest>(
  body: unknown,
  kind: R['kind'],
): R {
  const req = object(body, 'request');
  typeMeta(req, kind);
  optional(req.settings, (v) => stringMap(v, 'settings'));
  cluster(req.cluster, 'cluster');
  return req as unknown as R;
}

export const beforeClusterCreateRequest = (body: unknown): BeforeClusterCreateRequest =>
  clusterRequest(body, 'BeforeClusterCreateRequest');

export const beforeClusterDeleteRequest = (body: unknown): BeforeClusterDeleteRequest =>
  clusterRequest(body, 'BeforeClusterDeleteRequest');

export function generatePatchesRequest(body: unknown): GeneratePatchesRequest {
  const req = object(body, 'request');
  typeMeta(req, 'GeneratePatchesRequest');
  optional(req.settings, (v) => stringMap(v, 'settings'));
  const variables = (value: unknown, field: string): void => {
    array(value, field).forEach((v, i) => string(object(v, `${field}[${i}]`).name, `${field}[${i}].name`));
  };
  optional(req.variables, (v) => variables(v, 'variables'));
  array(req.items, 'items').forEach((value, i) => {
    const field = `items[${i}]`;
    const item = object(value, field);
    string(item.uid, `${field}.uid`);
    const holder = object(item.holderReference, `${field}.holderReference`);
    for (const key of ['apiVersion', 'kind', 'name', 'fieldPath'])
      string(holder[key], `${field}.holderReference.${key}`);
    const obj = object(item.object, `${field}.object`);
    string(obj.apiVersion, `${field}.object.apiVersion`);
    string(obj.kind, `${field}.object.kind`);
    optional(item.variables, (v) => variables(v, `${field}.variables`));
  });
  return req as unknown as GeneratePatchesRequest;
}

export function discoverVariablesRequest(body: unknown): DiscoverVariablesRequest {
  const req = object(body, 'request');
  typeMeta(req, 'DiscoverVariablesRequest');
  optional(req.settings, (v) => stringMap(v, 'settings'));
  return req as unknown as DiscoverVariablesRequest;
}
