/**
 * Whether a Cluster's control-plane VIP answers. The signal is CAPI's own: the core Cluster
 * controller probes the workload API server through the Cluster's kubeconfig, whose server is
 * `https://<controlPlaneEndpoint>` (our VIP), with TLS verified against the cluster CA, and reports
 * it as the `RemoteConnectionProbe` condition (in `status.conditions` from CAPI 1.11). So nothing of
 * ours has to reach the workload network, and every announcer and provider is judged alike. A VIP
 * that still does not answer well after the control plane reports initialized is "silent".
 */
import { CLUSTER, typeMeta } from './kube/gvk.js';
import type { Cluster, Condition } from './kube/types.js';
import {
  ANNOTATION_ANSWERING_SINCE,
  ANNOTATION_NOT_ANSWERING_SINCE,
  ANNOTATION_PAUSED,
  ANNOTATION_CONTROL_PLANE_PORT,
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_CONTROL_PLANE_VIP_SECONDARY,
  SETTINGS_VARIABLE,
} from './vip.js';
import { vipAllocatorSettings } from './vip-allocator-variable.js';

export const REMOTE_CONNECTION_PROBE = 'RemoteConnectionProbe';
export const CONTROL_PLANE_INITIALIZED = 'ControlPlaneInitialized';

/**
 * How long after the control plane reports initialized a VIP may stay dark before it is called
 * silent: CAPI marks the probe False only after 50 s of failures (--remote-connection-grace-period)
 * and retries a failed connection every 30 s, so less would flag a VIP that is still coming up.
 */
export const SILENT_AFTER_MS = 3 * 60_000;

export type Answering =
  /** The Cluster has no VIP of ours. */
  | { readonly state: 'none' }
  | { readonly state: 'waiting'; readonly vip: string }
  | {
      readonly state: 'answering';
      readonly vip: string;
      readonly since: string;
      /** From the Cluster's creation (when BeforeClusterCreate gave it the VIP) to the first answer. */
      readonly seconds?: number;
    }
  | { readonly state: 'silent'; readonly vip: string; readonly since: string; readonly message: string };

const condition = (cluster: Cluster, type: string): Condition | undefined =>
  cluster.status?.conditions?.find((c) => c.type === type);

const time = (iso: string | undefined): number => (iso ? Date.parse(iso) : NaN);

/** `host:port` (IPv6 in brackets), with the pair's second address. */
function vipOf(cluster: Cluster): string | undefined {
  const annotations = cluster.metadata.annotations ?? {};
  const host = annotations[ANNOTATION_CONTROL_PLANE_VIP];
  if (!host) return undefined;
  const port =
    annotations[ANNOTATION_CONTROL_PLANE_PORT] ?? String(cluster.spec?.controlPlaneEndpoint?.port ?? '');
  const secondary = annotations[ANNOTATION_CONTROL_PLANE_VIP_SECONDARY];
  return `${host.includes(':') ? `[${host}]` : host}:${port}${secondary ? ` (and ${secondary})` : ''}`;
}

/** Whether the Cluster asked us for an announcer (`vipAllocator.announce`). */
const announced = (cluster: Cluster): boolean => vipAllocatorSettings(cluster)?.announce === true;

export function answering(cluster: Cluster, now: number = Date.now()): Answering {
  const vip = vipOf(cluster);
  if (!vip) return { state: 'none' };
  const probe = condition(cluster, REMOTE_CONNECTION_PROBE);
  if (probe?.status === 'True') {
    const since = probe.lastTransitionTime ?? new Date(now).toISOString();
    const seconds = (time(since) - time(cluster.metadata.creationTimestamp?.toString())) / 1000;
    return { state: 'answering', vip, since, ...(Number.isFinite(seconds) ? { seconds } : {}) };
  }
  const initialized = condition(cluster, CONTROL_PLANE_INITIALIZED);
  const isInitialized =
    initialized?.status === 'True' || cluster.status?.initialization?.controlPlaneInitialized === true;
  // Dark since the later of "initialized" and the probe's last change (a VIP that answered and stopped).
  // (`status.initialization` alone has no time: then the probe's counts.)
  const since = Math.max(
    ...[initialized?.lastTransitionTime, probe?.lastTransitionTime].map(time).filter(Number.isFinite),
  );
  if (!isInitialized || !probe || !Number.isFinite(since) || now - since < SILENT_AFTER_MS) {
    return { state: 'waiting', vip };
  }
  const causes = announced(cluster)
    ? `the announcer on the control-plane nodes is not running (see its pod or service there), announces on ` +
      `another interface than the one that reaches this management cluster (set ${SETTINGS_VARIABLE}.interface), ` +
      `or gratuitous ARP/NDP from the nodes is filtered on the way`
    : `nothing announces it: ${SETTINGS_VARIABLE}.announce is not true and the class brings no announcer ` +
      `(kube-vip, keepalived, a load balancer), or that announcer is down`;
  return {
    state: 'silent',
    vip,
    since: new Date(since).toISOString(),
    message:
      `Control-plane VIP ${vip} does not answer: the control plane reports initialized, but CAPI cannot reach ` +
      `its API server through the VIP (${REMOTE_CONNECTION_PROBE}: ${probe.message ?? probe.reason ?? 'False'}). ` +
      `Likely causes: ${causes}`,
  };
}

/**
 * What `answering` reads of a Cluster, and nothing else: what a watch keeps of each Cluster, so
 * 10,000 Clusters cost a few MiB.
 */
export function answeringView(cluster: Cluster): Cluster {
  const keep = new Set([REMOTE_CONNECTION_PROBE, CONTROL_PLANE_INITIALIZED]);
  const { name, namespace, uid, resourceVersion, creationTimestamp, deletionTimestamp, annotations } =
    cluster.metadata;
  const ours = Object.fromEntries(
    Object.entries(annotations ?? {}).filter(
      ([key]) => key.startsWith('vip.capi.gorizond.io/') || key === ANNOTATION_PAUSED,
    ),
  );
  const settings = vipAllocatorSettings(cluster);
  const paused = cluster.spec?.paused;
  return {
    // A list's items carry no apiVersion and kind; Events about the Cluster need them.
    ...(typeMeta(CLUSTER) as Pick<Cluster, 'apiVersion' | 'kind'>),
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      creationTimestamp,
      deletionTimestamp,
      annotations: ours,
    },
    spec: {
      ...(paused ? { paused } : {}),
      ...(settings ? { topology: { variables: [{ name: SETTINGS_VARIABLE, value: settings }] } } : {}),
    },
    status: {
      conditions: (cluster.status?.conditions ?? []).filter((c) => keep.has(c.type)),
      ...(cluster.status?.initialization ? { initialization: cluster.status.initialization } : {}),
    },
  };
}

/** What to write for a Cluster's VIP now: only at the transitions, so once per Cluster. */
export interface AnsweringAction {
  readonly annotations?: Record<string, string | null>;
  readonly event?: { readonly type: 'Normal' | 'Warning'; readonly reason: string; readonly note: string };
  /** The first answer: seconds from the Cluster's creation, for time_to_vip_answering. */
  readonly firstAnswerSeconds?: number;
  /** When to look again (a VIP may turn silent with time alone). */
  readonly requeueAfterMs?: number;
  readonly silent: boolean;
}

export function answeringAction(cluster: Cluster, now: number = Date.now()): AnsweringAction {
  const state = answering(cluster, now);
  const annotations = cluster.metadata.annotations ?? {};
  const recorded = annotations[ANNOTATION_ANSWERING_SINCE];
  const dark = annotations[ANNOTATION_NOT_ANSWERING_SINCE];
  switch (state.state) {
    case 'none':
      return { silent: false };
    case 'waiting':
      return { silent: false, requeueAfterMs: SILENT_AFTER_MS };
    case 'answering':
      if (recorded && !dark) return { silent: false };
      return {
        silent: false,
        annotations: {
          [ANNOTATION_ANSWERING_SINCE]: recorded ?? state.since,
          [ANNOTATION_NOT_ANSWERING_SINCE]: null,
        },
        ...(!recorded && state.seconds !== undefined ? { firstAnswerSeconds: state.seconds } : {}),
        event: {
          type: 'Normal',
          reason: 'VIPAnswering',
          note: recorded
            ? `Control-plane VIP ${state.vip} answers again (${REMOTE_CONNECTION_PROBE} since ${state.since})`
            : `Control-plane VIP ${state.vip} answers: CAPI reached the API server through it at ${state.since}` +
              (state.seconds !== undefined
                ? `, ${Math.round(state.seconds)} s after the Cluster was created`
                : ''),
        },
      };
    case 'silent':
      if (dark) return { silent: true };
      return {
        silent: true,
        annotations: { [ANNOTATION_NOT_ANSWERING_SINCE]: state.since },
        event: { type: 'Warning', reason: 'VIPNotAnswering', note: state.message },
      };
  }
}
