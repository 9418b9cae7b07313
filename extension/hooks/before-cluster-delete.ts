/**
 * BeforeClusterDelete: before CAPI deletes anything of a Cluster, each claim holding one of its
 * VIPs is taken out of its hands and held in quarantine (shared/quarantine.ts), so the address is
 * not handed out again until neighbours have forgotten the old holder. CAPI calls it for topology
 * Clusters only, and not while one is paused (clusterctl move deletes the source's objects without it).
 */
import type { Allocator } from '../../shared/allocator/allocator.js';
import type { Held } from '../../shared/allocator/claim-quarantine.js';
import { isPaused, ref, topologyClass } from '../../shared/cluster.js';
import type { Recorder } from '../../shared/events.js';
import type { BeforeClusterDeleteRequest, Cluster } from '../../shared/kube/types.js';
import { clusterKeys } from '../../shared/log.js';
import { HANDLER_SUFFIX, HOOK_TIMEOUT_SECONDS } from '../../shared/protocol.js';
import type { Handler, HookResponse } from '../server.js';
import { beforeClusterDeleteRequest } from '../validate.js';

export interface BeforeClusterDeleteDeps {
  readonly allocator: Allocator;
  readonly recorder: Recorder;
  /** --reuse-grace, in seconds (the hook is not registered at 0). */
  readonly reuseGraceSeconds: number;
}

/** What the Cluster's Event says of one held claim. */
export function heldNote(cluster: Cluster, held: Held): string {
  const what = `VIP ${held.address} of Cluster ${ref(cluster)} (IPAddressClaim ${ref(held.claim)}, ${held.claim.spec.poolRef.kind} ${held.claim.spec.poolRef.name})`;
  if (held.seconds === 0) {
    return `${what} is left to the pool's own reuse grace of ${held.providerSeconds}s, which covers ours`;
  }
  const then = held.providerSeconds > 0 ? `, then ${held.providerSeconds}s by the pool's own grace` : '';
  return `${what} is held in quarantine for ${held.seconds}s after the Cluster is gone${then}, so neighbours' ARP/NDP caches forget the old holder before it is handed out again`;
}

export function beforeClusterDelete(deps: BeforeClusterDeleteDeps): Handler<BeforeClusterDeleteRequest> {
  async function handle({ cluster }: BeforeClusterDeleteRequest): Promise<HookResponse> {
    if (!topologyClass(cluster) || isPaused(cluster)) return { status: 'Success', retryAfterSeconds: 0 };
    const held = await deps.allocator.quarantine(cluster, deps.reuseGraceSeconds);
    for (const h of held)
      await deps.recorder.event(cluster, 'Normal', 'VIPQuarantined', heldNote(cluster, h));
    return { status: 'Success', retryAfterSeconds: 0 };
  }

  return {
    hook: 'BeforeClusterDelete',
    suffix: HANDLER_SUFFIX.beforeClusterDelete,
    timeoutSeconds: HOOK_TIMEOUT_SECONDS,
    // While no replica answers, the Cluster's deletion waits (CAPI says "Waiting for
    // BeforeClusterDelete hook") rather than release its VIP unquarantined.
    failurePolicy: 'Fail',
    parse: beforeClusterDeleteRequest,
    handle,
    describe: ({ cluster }) => clusterKeys(cluster),
  };
}
