/**
 * GeneratePatches: the InfrastructureClusterTemplate is patched with the Cluster's VIP, so the
 * InfrastructureCluster is born with it. Runs on every topology reconcile of every Cluster whose
 * class lists this patch: pure computation on the request, no API calls.
 */
import { JSONPath } from 'jsonpath-plus';
import { isIP } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { HOOK_TIMEOUT_SECONDS } from '../../shared/config.js';
import type {
  GeneratePatchesRequest,
  GeneratePatchesResponseItem,
  TemplateObject,
} from '../../shared/kube/types.js';
import { ANNOTATION_CONTROL_PLANE_PORT, ANNOTATION_CONTROL_PLANE_VIP } from '../../shared/vip.js';
import type { Handler } from '../server.js';
import { generatePatchesRequest } from '../validate.js';
import { targetsFor, type Endpoint } from './endpoint-paths.js';

interface Builtins {
  cluster?: { name?: string; namespace?: string; metadata?: { annotations?: Record<string, string> } };
}

/** The Cluster's VIP from `builtin.cluster.metadata.annotations`, or undefined when it has none yet. */
export function clusterEndpoint(request: GeneratePatchesRequest, defaultPort: number): Endpoint | undefined {
  const builtin = request.variables?.find((v) => v.name === 'builtin')?.value as Builtins | undefined;
  const annotations = builtin?.cluster?.metadata?.annotations ?? {};
  const host = annotations[ANNOTATION_CONTROL_PLANE_VIP];
  if (!host) return undefined;
  const cluster = `${builtin?.cluster?.namespace}/${builtin?.cluster?.name}`;
  if (!isIP(host))
    throw new Error(
      `Annotation ${ANNOTATION_CONTROL_PLANE_VIP} on Cluster ${cluster} is not an IP address: "${host}"`,
    );
  const port = Number(annotations[ANNOTATION_CONTROL_PLANE_PORT] ?? defaultPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(
      `Annotation ${ANNOTATION_CONTROL_PLANE_PORT} on Cluster ${cluster} is not a port: "${annotations[ANNOTATION_CONTROL_PLANE_PORT]}"`,
    );
  }
  return { host, port };
}

const read = (object: TemplateObject, path: string): unknown =>
  JSONPath({ path, json: object, eval: false, wrap: false });

/** A JSON merge patch setting each target that differs; undefined when the template is already right. */
export function endpointPatch(
  object: TemplateObject,
  endpoint: Endpoint,
): Record<string, unknown> | undefined {
  let patch: Record<string, unknown> | undefined;
  for (const target of targetsFor(object.kind)) {
    if (target.when && read(object, target.when) !== true) continue;
    const desired = target.value(endpoint);
    if (isDeepStrictEqual(read(object, target.path), desired)) continue;
    patch ??= {};
    const keys = JSONPath.toPathArray(target.path).slice(1);
    let node = patch;
    keys.slice(0, -1).forEach((key) => (node = (node[key] ??= {}) as Record<string, unknown>));
    node[keys.at(-1) ?? ''] = desired;
  }
  return patch;
}

export function generatePatches(
  request: GeneratePatchesRequest,
  defaultPort: number,
): GeneratePatchesResponseItem[] {
  const endpoint = clusterEndpoint(request, defaultPort);
  if (!endpoint) return [];
  return request.items.flatMap((item) => {
    const holder = item.holderReference;
    if (holder.kind !== 'Cluster' || holder.fieldPath !== 'spec.infrastructureRef') return [];
    const patch = endpointPatch(item.object, endpoint);
    if (!patch) return [];
    return [
      {
        uid: item.uid,
        patchType: 'JSONMergePatch' as const,
        patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      },
    ];
  });
}

export function generatePatchesHandler(defaultPort: number): Handler<GeneratePatchesRequest> {
  return {
    hook: 'GeneratePatches',
    suffix: 'generate-patches',
    timeoutSeconds: HOOK_TIMEOUT_SECONDS,
    parse: generatePatchesRequest,
    logLevel: 'debug',
    handle: async (request) => ({ status: 'Success', items: generatePatches(request, defaultPort) }),
    describe: (request) => {
      const cluster = request.items[0]?.holderReference;
      return cluster?.kind === 'Cluster'
        ? { Cluster: { name: cluster.name, namespace: cluster.namespace }, namespace: cluster.namespace }
        : {};
    },
  };
}
