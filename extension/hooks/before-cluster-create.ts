/**
 * BeforeClusterCreate: give the Cluster its control-plane VIP before CAPI creates any topology
 * object. The request carries a copy of the Cluster, so the VIP is written through the API and
 * the hook asks to be called again; it answers Success only once the Cluster it is shown already
 * carries the VIP, so the rest of that reconcile (patches, builtins) sees it.
 */
import { isIP } from 'node:net';
import { ClaimConflictError, isPaused, ref, type Allocator } from '../../shared/allocator/allocator.js';
import { poolContains } from '../../shared/allocator/pools.js';
import type { ClusterPatch } from '../../shared/allocator/store.js';
import { HOOK_TIMEOUT_SECONDS } from '../../shared/config.js';
import type { Recorder } from '../../shared/events.js';
import type { BeforeClusterCreateRequest, Cluster, ClusterClass } from '../../shared/kube/types.js';
import { clusterKeys } from '../../shared/log.js';
import {
  ANNOTATION_CONTROL_PLANE_PORT,
  ANNOTATION_CONTROL_PLANE_PREFIX,
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_ENABLED,
  LEGACY_VIP_VARIABLE,
} from '../../shared/vip.js';
import type { Handler, HookResponse } from '../server.js';
import { beforeClusterCreateRequest } from '../validate.js';

const ROLE = 'control-plane';

/** Seconds CAPI waits before calling again. Small: since v1.12 CAPI caches the answer that long. */
export const RETRY = {
  patched: 1,
  binding: 1,
  duplicate: 1,
  releasing: 1,
  paused: 5,
  exhausted: 5,
  noPool: 10,
} as const;

export interface BeforeClusterCreateDeps {
  readonly allocator: Allocator;
  readonly recorder: Recorder;
  readonly patchCluster: (cluster: Cluster, patch: ClusterPatch) => Promise<void>;
  readonly getClusterClass: (namespace: string, name: string) => Promise<ClusterClass | undefined>;
  /** `<handler>.` prefix a ClusterClass's external patch uses for our GeneratePatches handler. */
  readonly generatePatchesHandler: string;
  readonly defaultPort: number;
  readonly allocationWaitMs: number;
  /** Counts each allocation outcome (metrics). */
  readonly observe?: (result: string) => void;
  /** Seconds from the Cluster's creation to its VIP being written (metrics). */
  readonly observeTimeToVip?: (seconds: number) => void;
}

const success = (message?: string): HookResponse => ({
  status: 'Success',
  retryAfterSeconds: 0,
  ...(message ? { message } : {}),
});
const retry = (seconds: number, message: string): HookResponse => ({
  status: 'Success',
  retryAfterSeconds: seconds,
  message,
});

/** The ClusterClass name and namespace from a v1beta2 (`classRef`) or v1beta1 (`class`) Cluster. */
export function topologyClass(cluster: Cluster): { name: string; namespace: string } | undefined {
  const t = cluster.spec?.topology;
  const name = t?.classRef?.name ?? t?.class;
  if (!name) return undefined;
  return { name, namespace: t?.classRef?.namespace ?? t?.classNamespace ?? cluster.metadata.namespace };
}

function referencesHandler(cc: ClusterClass | undefined, handler: string): boolean {
  return (cc?.spec?.patches ?? []).some((p) =>
    p.external?.generatePatchesExtension?.startsWith(`${handler}.`),
  );
}

export function beforeClusterCreate(deps: BeforeClusterCreateDeps): Handler<BeforeClusterCreateRequest> {
  const { allocator, recorder } = deps;
  const warn = (cluster: Cluster, reason: string, note: string): Promise<void> =>
    recorder.event(cluster, 'Warning', reason, note);

  /**
   * Writes the endpoint and the annotations GeneratePatches reads (the Cluster itself is never a
   * patch item) in one patch; a class declaring the original's `clusterVip` variable gets it set too,
   * so its inline patches render the VIP on the first reconcile.
   */
  function publish(
    cluster: Cluster,
    cc: ClusterClass | undefined,
    host: string,
    port: number,
    prefix?: number,
  ) {
    const legacy = cc?.spec?.variables?.some((v) => v.name === LEGACY_VIP_VARIABLE);
    return deps.patchCluster(cluster, {
      host,
      port,
      annotations: {
        [ANNOTATION_CONTROL_PLANE_VIP]: host,
        [ANNOTATION_CONTROL_PLANE_PORT]: String(port),
        ...(prefix ? { [ANNOTATION_CONTROL_PLANE_PREFIX]: String(prefix) } : {}),
      },
      ...(legacy ? { variable: { name: LEGACY_VIP_VARIABLE, value: host } } : {}),
    });
  }

  async function handle({ cluster }: BeforeClusterCreateRequest): Promise<HookResponse> {
    const cls = topologyClass(cluster);
    if (!cls || cluster.metadata.annotations?.[ANNOTATION_ENABLED] === 'false') return success();

    const host = cluster.spec?.controlPlaneEndpoint?.host || undefined;
    const vip = cluster.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP];
    if (host && host === vip) return success();

    const claim = await allocator.existingClaim(cluster, ROLE);
    if (host && !claim) {
      // The user chose the endpoint: theirs to keep, but say so when it sits inside a pool we hand out.
      const { ranked } = await allocator.search(cluster.metadata.namespace, cls.name, ROLE);
      const inside = ranked.find((c) => poolContains(c.pool, host));
      if (inside) {
        await warn(
          cluster,
          'ManualVIPInPool',
          `spec.controlPlaneEndpoint.host ${host} was set by hand and lies inside ${inside.kind.kind} ` +
            `${inside.pool.metadata.name}, which may hand the same address to another Cluster`,
        );
      }
      // A class that uses our patch gets a hand-set address published like a VIP of ours, so the
      // InfrastructureCluster and the announcer are born with it; nothing is claimed. A DNS name
      // cannot be announced: the Cluster controller copies it to the InfrastructureCluster later.
      if (!isIP(host)) return success();
      const cc = await deps.getClusterClass(cls.namespace, cls.name);
      if (!referencesHandler(cc, deps.generatePatchesHandler)) return success();
      const port = cluster.spec?.controlPlaneEndpoint?.port || deps.defaultPort;
      await publish(cluster, cc, host, port);
      return retry(
        RETRY.patched,
        `Hand-set endpoint ${host}:${port} published for the class's patches; waiting for CAPI to read it back`,
      );
    }

    let allocation;
    try {
      allocation = await allocator.allocate(cluster, cls.name, ROLE, deps.allocationWaitMs, claim);
    } catch (err) {
      if (!(err instanceof ClaimConflictError)) throw err;
      deps.observe?.('conflict');
      await warn(cluster, 'VIPClaimConflict', err.message);
      return { status: 'Failure', message: err.message };
    }

    deps.observe?.(allocation.state === 'pending' ? allocation.reason : allocation.state);
    switch (allocation.state) {
      case 'allocated': {
        const port = cluster.spec?.controlPlaneEndpoint?.port || deps.defaultPort;
        const cc = await deps.getClusterClass(cls.namespace, cls.name);
        await publish(cluster, cc, allocation.address, port, allocation.prefix);
        const created = cluster.metadata.creationTimestamp;
        if (created) deps.observeTimeToVip?.((Date.now() - new Date(created).getTime()) / 1000);
        await recorder.event(
          cluster,
          'Normal',
          'VIPAllocated',
          `Control-plane VIP ${allocation.address}:${port} from IPAddressClaim ${ref(allocation.claim)}`,
        );
        return retry(
          RETRY.patched,
          `Control-plane VIP ${allocation.address} written to the Cluster; waiting for CAPI to read it back`,
        );
      }
      case 'no-pool': {
        // Without a matching pool and without our patch in its class, this Cluster is simply not ours.
        if (
          !referencesHandler(await deps.getClusterClass(cls.namespace, cls.name), deps.generatePatchesHandler)
        ) {
          return success();
        }
        await warn(cluster, 'VIPPoolNotFound', allocation.message);
        return retry(RETRY.noPool, allocation.message);
      }
      case 'pending': {
        if (allocation.reason === 'exhausted') await warn(cluster, 'VIPPoolExhausted', allocation.message);
        else if (allocation.reason === 'duplicate')
          await warn(cluster, 'VIPDuplicateAddress', allocation.message);
        else await recorder.event(cluster, 'Normal', 'VIPPending', allocation.message);
        return retry(isPaused(cluster) ? RETRY.paused : RETRY[allocation.reason], allocation.message);
      }
    }
  }

  return {
    hook: 'BeforeClusterCreate',
    suffix: 'before-cluster-create',
    timeoutSeconds: HOOK_TIMEOUT_SECONDS,
    parse: beforeClusterCreateRequest,
    handle,
    describe: ({ cluster }) => clusterKeys(cluster),
  };
}
