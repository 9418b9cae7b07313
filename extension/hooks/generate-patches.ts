/**
 * GeneratePatches: the InfrastructureClusterTemplate gets the Cluster's VIP, so the
 * InfrastructureCluster is born with it; with `vipAllocator.announce`, the control-plane template
 * gets the announcer of its profile (../profiles). Runs on every topology reconcile of every
 * Cluster whose class lists this patch: pure computation on the request, no API calls.
 */
import { JSONPath } from 'jsonpath-plus';
import { isIP } from 'node:net';
import { HANDLER_SUFFIX, HOOK_TIMEOUT_SECONDS } from '../../shared/protocol.js';
import type {
  GeneratePatchesRequest,
  GeneratePatchesResponseItem,
  TemplateObject,
  Variable,
} from '../../shared/kube/types.js';
import {
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_ENABLED,
  fromAnnotations,
  SETTINGS_VARIABLE,
  type Endpoint,
  type Vip,
} from '../../shared/vip.js';
import { readSettings, vipAllocatorValue } from '../../shared/vip-allocator-variable.js';
import { ProfileError, type AnnounceInput } from '../profiles/profile.js';
import { profileFor, SUPPORTED_KINDS } from '../profiles/profiles.js';
import type { Handler } from '../server.js';
import { generatePatchesRequest } from '../validate.js';
import { targetsFor } from './endpoint-paths.js';
import { mutationPatch } from './merge-patch.js';

interface Builtins {
  cluster?: {
    name?: string;
    namespace?: string;
    uid?: string;
    metadata?: { annotations?: Record<string, string> };
    topology?: { version?: string };
  };
  controlPlane?: { version?: string };
}

/** What GeneratePatches knows of the Cluster: from `builtin`, where BeforeClusterCreate put it. */
export interface ClusterVip {
  /** `namespace/name`, for messages. */
  readonly cluster: string;
  readonly vip: Vip;
  readonly kubernetesVersion?: string;
}

const builtinOf = (request: GeneratePatchesRequest): Builtins | undefined =>
  request.variables?.find((v) => v.name === 'builtin')?.value as Builtins | undefined;

/** The Cluster's VIP from `builtin.cluster.metadata.annotations`, or undefined when it has none yet. */
export function clusterVip(request: GeneratePatchesRequest, defaultPort: number): ClusterVip | undefined {
  const builtin = builtinOf(request);
  const cluster = `${builtin?.cluster?.namespace ?? ''}/${builtin?.cluster?.name ?? ''}`;
  const vip = fromAnnotations(builtin?.cluster?.metadata?.annotations ?? {}, cluster, defaultPort);
  if (!vip) return undefined;
  return {
    cluster,
    vip,
    kubernetesVersion: builtin?.controlPlane?.version ?? builtin?.cluster?.topology?.version,
  };
}

const read = (object: TemplateObject, path: string): unknown =>
  JSONPath({ path, json: object, eval: false, wrap: false });

/** A JSON merge patch setting each endpoint target of an InfrastructureClusterTemplate. */
export function endpointPatch(
  object: TemplateObject,
  endpoint: Endpoint,
): Record<string, unknown> | undefined {
  return mutationPatch(object, (draft) => {
    for (const target of targetsFor(object.kind)) {
      if (target.when && read(object, target.when) !== true) continue;
      const keys = JSONPath.toPathArray(target.path).slice(1);
      let node = draft as unknown as Record<string, unknown>;
      keys.slice(0, -1).forEach((key) => (node = (node[key] ??= {}) as Record<string, unknown>));
      node[keys.at(-1) ?? ''] = target.value(endpoint);
    }
  });
}

/** The control-plane template's announcer, when the Cluster asks for one. */
export function announcePatch(
  object: TemplateObject,
  known: ClusterVip,
  variables: readonly Variable[],
): Record<string, unknown> | undefined {
  const settings = readSettings(vipAllocatorValue(variables), known.cluster);
  if (!settings.announce) return undefined;
  const template = `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
  const input: AnnounceInput = { ...known, template, settings };
  if (!isIP(known.vip.host)) {
    throw new ProfileError(
      input,
      `cannot announce ${known.vip.host}: an announcer needs an IP address, and this hand-set endpoint is a DNS name (set ${SETTINGS_VARIABLE}.announce to false)`,
    );
  }
  const profile = profileFor(object.kind);
  if (!profile) {
    throw new ProfileError(
      input,
      `has no VIP announcer profile, and ${SETTINGS_VARIABLE}.announce is true: supported control-plane kinds are ` +
        `${SUPPORTED_KINDS.join(', ')} (set ${SETTINGS_VARIABLE}.announce to false and announce the VIP yourself)`,
    );
  }
  return mutationPatch(object as unknown as Record<string, unknown>, (draft) =>
    profile.announce(draft, input),
  );
}

export function generatePatches(
  request: GeneratePatchesRequest,
  defaultPort: number,
): GeneratePatchesResponseItem[] {
  const known = clusterVip(request, defaultPort);
  if (!known) return [];
  return request.items.flatMap((item) => {
    const holder = item.holderReference;
    if (holder.kind !== 'Cluster') return [];
    const patch =
      holder.fieldPath === 'spec.infrastructureRef'
        ? endpointPatch(item.object, known.vip)
        : holder.fieldPath === 'spec.controlPlaneRef'
          ? announcePatch(item.object, known, [...(request.variables ?? []), ...(item.variables ?? [])])
          : undefined;
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

/**
 * The Cluster a request is about when it carries no VIP yet and has not opted out: CAPI skipped
 * our BeforeClusterCreate (its failurePolicy is Ignore) or has not read the VIP back.
 */
export function withoutVip(
  request: GeneratePatchesRequest,
): { namespace: string; name: string; uid: string } | undefined {
  const cluster = builtinOf(request)?.cluster;
  const annotations = cluster?.metadata?.annotations ?? {};
  if (annotations[ANNOTATION_CONTROL_PLANE_VIP] || annotations[ANNOTATION_ENABLED] === 'false')
    return undefined;
  return { namespace: cluster?.namespace ?? '', name: cluster?.name ?? '', uid: cluster?.uid ?? '' };
}

export interface GeneratePatchesDeps {
  readonly defaultPort: number;
  /** Whether the Cluster's topology objects exist already (read live; CAPI's builtins do not say). */
  readonly topologyExists: (namespace: string, name: string) => Promise<boolean>;
}

const ESTABLISHED_CAP = 10_000;

export function generatePatchesHandler(deps: GeneratePatchesDeps): Handler<GeneratePatchesRequest> {
  // Clusters created before their class used us (or before hand-set endpoints were published) have
  // no VIP annotation and never will: once seen with a topology, they are passed without a read.
  const established = new Set<string>();
  return {
    hook: 'GeneratePatches',
    suffix: HANDLER_SUFFIX.generatePatches,
    timeoutSeconds: HOOK_TIMEOUT_SECONDS,
    parse: generatePatchesRequest,
    logLevel: 'debug',
    handle: async (request) => {
      const waiting = withoutVip(request);
      if (waiting && !established.has(waiting.uid)) {
        if (!(await deps.topologyExists(waiting.namespace, waiting.name))) {
          // Never let a Cluster of our class be born without its VIP.
          throw new Error(
            `Cluster ${waiting.namespace}/${waiting.name} has no control-plane VIP yet: its topology waits for ` +
              `BeforeClusterCreate to give it one (if this stays, see the Cluster's Events and the extension's log)`,
          );
        }
        // Bounded: past the cap it starts over, and each such Cluster costs one read again.
        if (established.size >= ESTABLISHED_CAP) established.clear();
        established.add(waiting.uid);
      }
      return { status: 'Success', items: generatePatches(request, deps.defaultPort) };
    },
    describe: (request) => {
      const cluster = request.items[0]?.holderReference;
      return cluster?.kind === 'Cluster'
        ? { Cluster: { name: cluster.name, namespace: cluster.namespace }, namespace: cluster.namespace }
        : {};
    },
  };
}
