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
  ANNOTATION_ENABLED,
  ANNOTATION_CONTROL_PLANE_PORT,
  ANNOTATION_CONTROL_PLANE_PREFIX,
  ANNOTATION_CONTROL_PLANE_PREFIX_SECONDARY,
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_CONTROL_PLANE_VIP_SECONDARY,
} from '../../shared/vip.js';
import { ProfileError, type AnnounceInput } from '../profiles/profile.js';
import { profileFor, SUPPORTED_KINDS } from '../profiles/profiles.js';
import { readSettings, VARIABLE } from '../profiles/variable.js';
import type { Handler } from '../server.js';
import { generatePatchesRequest } from '../validate.js';
import { targetsFor, type Endpoint } from './endpoint-paths.js';
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
  readonly endpoint: Endpoint;
  readonly secondary?: string;
  readonly prefix?: number;
  readonly secondaryPrefix?: number;
  readonly kubernetesVersion?: string;
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

const builtinOf = (request: GeneratePatchesRequest): Builtins | undefined =>
  request.variables?.find((v) => v.name === 'builtin')?.value as Builtins | undefined;

function annotationError(cluster: string, key: string, value: string, what: string): Error {
  return new Error(`Annotation ${key} on Cluster ${cluster} is not ${what}: "${value}"`);
}

/** The Cluster's VIP from `builtin.cluster.metadata.annotations`, or undefined when it has none yet. */
export function clusterVip(request: GeneratePatchesRequest, defaultPort: number): ClusterVip | undefined {
  const builtin = builtinOf(request);
  const annotations = builtin?.cluster?.metadata?.annotations ?? {};
  const host = annotations[ANNOTATION_CONTROL_PLANE_VIP];
  if (!host) return undefined;
  const cluster = `${builtin?.cluster?.namespace ?? ''}/${builtin?.cluster?.name ?? ''}`;
  // An IP, or the DNS name of an endpoint set by hand.
  if (!isIP(host) && !HOSTNAME.test(host)) {
    throw annotationError(cluster, ANNOTATION_CONTROL_PLANE_VIP, host, 'an IP address or a DNS name');
  }
  const rawPort = annotations[ANNOTATION_CONTROL_PLANE_PORT];
  const port = Number(rawPort ?? defaultPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw annotationError(cluster, ANNOTATION_CONTROL_PLANE_PORT, rawPort ?? '', 'a port');
  }
  const secondary = annotations[ANNOTATION_CONTROL_PLANE_VIP_SECONDARY];
  if (secondary !== undefined && !isIP(secondary)) {
    throw annotationError(cluster, ANNOTATION_CONTROL_PLANE_VIP_SECONDARY, secondary, 'an IP address');
  }
  // The prefix length of an address's pool, when the annotation gives one.
  const prefixOf = (key: string, address: string): number | undefined => {
    const raw = annotations[key];
    if (raw === undefined) return undefined;
    const prefix = Number(raw);
    if (!(Number.isInteger(prefix) && prefix >= 1 && prefix <= (isIP(address) === 6 ? 128 : 32))) {
      throw annotationError(cluster, key, raw, `a prefix length for ${address}`);
    }
    return prefix;
  };
  const prefix = prefixOf(ANNOTATION_CONTROL_PLANE_PREFIX, host);
  const secondaryPrefix = secondary && prefixOf(ANNOTATION_CONTROL_PLANE_PREFIX_SECONDARY, secondary);
  return {
    cluster,
    endpoint: { host, port },
    ...(secondary ? { secondary } : {}),
    ...(prefix !== undefined ? { prefix } : {}),
    ...(secondaryPrefix ? { secondaryPrefix } : {}),
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
  vip: ClusterVip,
  variables: readonly Variable[],
): Record<string, unknown> | undefined {
  const settings = readSettings(variables.findLast((v) => v.name === VARIABLE)?.value, vip.cluster);
  if (!settings.announce) return undefined;
  const template = `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
  const input: AnnounceInput = { ...vip, template, settings };
  if (!isIP(vip.endpoint.host)) {
    throw new ProfileError(
      input,
      `cannot announce ${vip.endpoint.host}: an announcer needs an IP address, and this hand-set endpoint is a DNS name (set ${VARIABLE}.announce to false)`,
    );
  }
  const profile = profileFor(object.kind);
  if (!profile) {
    throw new ProfileError(
      input,
      `has no VIP announcer profile, and ${VARIABLE}.announce is true: supported control-plane kinds are ` +
        `${SUPPORTED_KINDS.join(', ')} (set ${VARIABLE}.announce to false and announce the VIP yourself)`,
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
  const vip = clusterVip(request, defaultPort);
  if (!vip) return [];
  return request.items.flatMap((item) => {
    const holder = item.holderReference;
    if (holder.kind !== 'Cluster') return [];
    const patch =
      holder.fieldPath === 'spec.infrastructureRef'
        ? endpointPatch(item.object, vip.endpoint)
        : holder.fieldPath === 'spec.controlPlaneRef'
          ? announcePatch(item.object, vip, [...(request.variables ?? []), ...(item.variables ?? [])])
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
