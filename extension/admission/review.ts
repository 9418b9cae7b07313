/**
 * The admission.k8s.io/v1 AdmissionReview our mutating webhook answers (the API server's side of
 * the same HTTPS server, certificate and Service as the hooks). It never denies: `allowed` is always
 * true, and a change is an RFC 6902 JSON patch. A body that is not an AdmissionReview is a 400,
 * which the API server, by the webhook's failurePolicy Ignore, takes as "go on without it".
 */
import type { ClusterPatch } from '../../shared/kube/store.js';
import { withVariables } from '../../shared/kube/store.js';
import type { Cluster } from '../../shared/kube/types.js';
import { object, RequestError, string } from '../validate.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/** The part of an AdmissionReview request the webhook reads. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly operation: string;
  readonly kind?: { group?: string; version?: string; kind?: string };
  readonly namespace?: string;
  readonly dryRun?: boolean;
  /** The object as created (the API server has set its namespace; a generateName has no name yet). */
  readonly object?: unknown;
}

/** The request of an AdmissionReview, validated as far as the webhook relies on it. */
export function admissionRequest(body: unknown): AdmissionRequest {
  const review = object(body, 'review');
  if (review.apiVersion !== ADMISSION_API_VERSION) {
    throw new RequestError(
      'apiVersion',
      `must be ${ADMISSION_API_VERSION}, got ${JSON.stringify(review.apiVersion)}`,
    );
  }
  if (review.kind !== 'AdmissionReview') {
    throw new RequestError('kind', `must be AdmissionReview, got ${JSON.stringify(review.kind)}`);
  }
  const request = object(review.request, 'request');
  string(request.uid, 'request.uid');
  string(request.operation, 'request.operation');
  return request as unknown as AdmissionRequest;
}

/** What one review comes to: the patch (none: as asked), its outcome and why, for the log line. */
export interface Review {
  readonly patch?: JsonPatchOp[];
  readonly outcome: string;
  readonly why: string;
  readonly keys: Record<string, unknown>;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: true;
  readonly patchType?: 'JSONPatch';
  /** Base64 of the JSON patch. */
  readonly patch?: string;
  readonly warnings?: string[];
}

/** The AdmissionReview answering `uid`: allowed, with the patch if any. */
export function reviewResponse(
  uid: string,
  { patch, warnings }: { patch?: readonly JsonPatchOp[]; warnings?: string[] } = {},
): { apiVersion: string; kind: 'AdmissionReview'; response: AdmissionResponse } {
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed: true,
      ...(patch?.length
        ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
        : {}),
      ...(warnings?.length ? { warnings } : {}),
    },
  };
}

export interface JsonPatchOp {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

/**
 * The JSON patch that makes a Cluster being created carry a ClusterPatch: each touched map or list
 * written whole (`add` replaces a member that exists), so the patch holds whatever the object had.
 */
export function jsonPatchOf(cluster: Cluster, patch: ClusterPatch): JsonPatchOp[] {
  const ops: JsonPatchOp[] = [];
  const merged = (from: Record<string, string> | undefined, set: Record<string, string | null>) =>
    Object.fromEntries(
      Object.entries({ ...from, ...set }).filter((e): e is [string, string] => e[1] !== null),
    );
  if (Object.keys(patch.annotations).length) {
    ops.push({
      op: 'add',
      path: '/metadata/annotations',
      value: merged(cluster.metadata.annotations, patch.annotations),
    });
  }
  if (patch.labels && Object.keys(patch.labels).length) {
    ops.push({ op: 'add', path: '/metadata/labels', value: merged(cluster.metadata.labels, patch.labels) });
  }
  if (patch.endpoint) {
    // A spec is always there on a Cluster being created with a topology.
    ops.push({ op: 'add', path: '/spec/controlPlaneEndpoint', value: patch.endpoint });
  }
  if (patch.variables?.length) {
    ops.push({
      op: 'add',
      path: '/spec/topology/variables',
      value: withVariables(cluster.spec?.topology?.variables ?? [], patch.variables),
    });
  }
  return ops;
}
