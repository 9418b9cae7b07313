/**
 * The `vipAllocator` variable (SETTINGS_VARIABLE): its schema, published by DiscoverVariables; set
 * by Clusters in `spec.topology.variables`; read by GeneratePatches (the announcer's settings),
 * BeforeClusterCreate (`ipFamilies`), the VIP-answering reconciler and doctor (`announce`). CAPI
 * validates values against the schema; what a schema cannot say (a Linux interface name, an image
 * reference) is checked here, and a bad value stops the topology with a message naming the
 * Cluster and the field.
 */
import type { Cluster, JSONSchemaProps, Variable, VariableDefinition } from './kube/types.js';
import { FAMILIES, SETTINGS_VARIABLE } from './vip.js';

/** kube-vip release the profiles run unless the Cluster names another image. */
export const DEFAULT_KUBE_VIP_IMAGE = 'ghcr.io/kube-vip/kube-vip:v1.1.1';

/** kube-vip's lease on the VIP: a hard failure of its holder leaves the VIP dark for about the duration. */
export interface LeaderElection {
  readonly leaseDurationSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly retryPeriodSeconds: number;
}

/**
 * kube-vip's own manifest generator's timings. Measured by test/alive (README: the announcers, run
 * for real): a dead holder's VIP moves in about the lease duration plus the peers' retry jitter,
 * 7-9 s here against 17-20 s at the 15/10/2 CAPV and CAREN write, for one lease renewal a second.
 */
export const DEFAULT_LEADER_ELECTION: LeaderElection = {
  leaseDurationSeconds: 5,
  renewDeadlineSeconds: 3,
  retryPeriodSeconds: 1,
};

export interface VipAllocatorSettings {
  readonly announce: boolean;
  /** Empty: the announcer picks the interface of the default route. */
  readonly interface?: string;
  readonly kubeVipImage: string;
  readonly leaderElection: LeaderElection;
  readonly keepalived: { readonly virtualRouterID?: number; readonly authPass?: string };
}

/** Longest lease timing the schema and the check accept. */
const MAX_LEASE_SECONDS = 300;

const seconds = (description: string, value: number): JSONSchemaProps => ({
  type: 'integer',
  minimum: 1,
  maximum: MAX_LEASE_SECONDS,
  default: value,
  description,
});

const schema: JSONSchemaProps = {
  type: 'object',
  description: 'capi-vip-allocator: how the control-plane VIP is announced on the control-plane nodes.',
  properties: {
    announce: {
      type: 'boolean',
      default: false,
      description:
        'Run a VIP announcer on the control-plane nodes (kube-vip for kubeadm, RKE2 and CK8s; keepalived for k0s).',
    },
    interface: {
      type: 'string',
      description: 'Network interface that carries the VIP; empty lets the announcer use the default route.',
    },
    kubeVipImage: {
      type: 'string',
      default: DEFAULT_KUBE_VIP_IMAGE,
      description: 'kube-vip image for the kubeadm, RKE2 and CK8s profiles.',
    },
    leaderElection: {
      type: 'object',
      description:
        'kube-vip leader election on the VIP (kubeadm, RKE2, CK8s). A killed holder leaves the VIP dark for about leaseDurationSeconds; shorter costs one lease update a retryPeriodSeconds.',
      properties: {
        leaseDurationSeconds: seconds(
          'How long a holder keeps the VIP without renewing.',
          DEFAULT_LEADER_ELECTION.leaseDurationSeconds,
        ),
        renewDeadlineSeconds: seconds(
          'How long the holder retries a renewal before it lets the VIP go; less than leaseDurationSeconds.',
          DEFAULT_LEADER_ELECTION.renewDeadlineSeconds,
        ),
        retryPeriodSeconds: seconds(
          'How often every node tries the lease; renewDeadlineSeconds must exceed 1.2 times this.',
          DEFAULT_LEADER_ELECTION.retryPeriodSeconds,
        ),
      },
    },
    ipFamilies: {
      type: 'array',
      maxItems: 2,
      uniqueItems: true,
      items: { type: 'string', enum: [...FAMILIES] },
      description:
        'One control-plane VIP per family, e.g. [IPv4, IPv6] for a dual-stack pair: the first is the endpoint, the second a SAN and a second announced address.',
    },
    keepalived: {
      type: 'object',
      description: 'k0s control-plane load balancing (keepalived VRRP).',
      properties: {
        virtualRouterID: {
          type: 'integer',
          minimum: 1,
          maximum: 255,
          description:
            'VRRP router id of every instance, unique per layer-2 segment; empty: the VIP address modulo 255, plus one, which differs for any two addresses of a pool of up to 255.',
        },
        authPass: {
          type: 'string',
          maxLength: 8,
          description: 'VRRP password, at most 8 characters; empty: one derived from the Cluster.',
        },
      },
    },
  },
};

export const VARIABLE_DEFINITION: VariableDefinition = {
  name: SETTINGS_VARIABLE,
  required: false,
  schema: { openAPIV3Schema: schema },
};

/** A value the schema let through but a profile cannot use; GeneratePatches answers Failure. */
export class SettingsError extends Error {
  constructor(cluster: string, field: string, problem: string) {
    super(`Cluster ${cluster}: variable ${[SETTINGS_VARIABLE, field].filter(Boolean).join('.')} ${problem}`);
    this.name = 'SettingsError';
  }
}

// IFNAMSIZ is 16 with the NUL; the kernel refuses "/", ":" (aliases) and whitespace (dev_valid_name).
const INTERFACE = /^[^/:\s]{1,15}$/;
// [registry[:port]/]path[:tag][@digest], lower-case path: the distribution reference grammar, loosely.
const IMAGE =
  /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The variable as it was set, unchecked: a class may declare `vipAllocator` itself, with a schema
 * of its own, so a field is trusted only once read (readSettings, or the reader's own check).
 */
export type VipAllocatorValue = {
  readonly [field in keyof VipAllocatorSettings | 'ipFamilies']?: unknown;
};

/** The variable's value among `variables`, the last one winning (GeneratePatches lists an item's after the request's). */
export const vipAllocatorValue = (variables: readonly Variable[] | undefined): unknown =>
  variables?.findLast((v) => v.name === SETTINGS_VARIABLE)?.value;

/** The Cluster's `vipAllocator` value, or undefined when it sets none. */
export function vipAllocatorSettings(cluster: Cluster): VipAllocatorValue | undefined {
  const value = cluster.spec?.topology?.variables?.find((v) => v.name === SETTINGS_VARIABLE)?.value;
  return typeof value === 'object' && value !== null ? value : undefined;
}

/** The Cluster's `vipAllocator` value, with defaults; `cluster` (`ns/name`) names it in errors. */
export function readSettings(value: unknown, cluster: string): VipAllocatorSettings {
  if (value === undefined || value === null)
    return {
      announce: false,
      kubeVipImage: DEFAULT_KUBE_VIP_IMAGE,
      leaderElection: DEFAULT_LEADER_ELECTION,
      keepalived: {},
    };
  if (!isObject(value)) throw new SettingsError(cluster, '', 'must be an object');
  const iface = value.interface;
  if (iface !== undefined && iface !== '' && (typeof iface !== 'string' || !INTERFACE.test(iface))) {
    throw new SettingsError(
      cluster,
      'interface',
      `${JSON.stringify(iface)} is not a Linux interface name (1-15 characters, no "/", ":" or whitespace)`,
    );
  }
  const image = value.kubeVipImage ?? DEFAULT_KUBE_VIP_IMAGE;
  if (typeof image !== 'string' || !IMAGE.test(image)) {
    throw new SettingsError(cluster, 'kubeVipImage', `${JSON.stringify(image)} is not an image reference`);
  }
  const keepalived = isObject(value.keepalived) ? value.keepalived : {};
  const id = keepalived.virtualRouterID;
  if (id !== undefined && !(Number.isInteger(id) && (id as number) >= 1 && (id as number) <= 255)) {
    throw new SettingsError(cluster, 'keepalived.virtualRouterID', `${JSON.stringify(id)} is not 1-255`);
  }
  const pass = keepalived.authPass;
  if (pass !== undefined && (typeof pass !== 'string' || pass.length > 8)) {
    throw new SettingsError(cluster, 'keepalived.authPass', 'must be a string of at most 8 characters');
  }
  return {
    announce: value.announce === true,
    ...(iface ? { interface: iface } : {}),
    kubeVipImage: image,
    leaderElection: readLeaderElection(value.leaderElection, cluster),
    keepalived: {
      ...(id !== undefined ? { virtualRouterID: id as number } : {}),
      ...(pass ? { authPass: pass } : {}),
    },
  };
}

/**
 * client-go's leader election (which kube-vip runs) refuses to start unless the lease outlasts the
 * renew deadline and the deadline exceeds 1.2 retry periods (its jitter): caught here, on the Cluster.
 */
function readLeaderElection(value: unknown, cluster: string): LeaderElection {
  const given = isObject(value) ? value : {};
  const read = (key: keyof LeaderElection): number => {
    const v = given[key] ?? DEFAULT_LEADER_ELECTION[key];
    if (!(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_LEASE_SECONDS)) {
      throw new SettingsError(
        cluster,
        `leaderElection.${key}`,
        `${JSON.stringify(v)} is not 1-${MAX_LEASE_SECONDS} seconds`,
      );
    }
    return v as number;
  };
  const election = {
    leaseDurationSeconds: read('leaseDurationSeconds'),
    renewDeadlineSeconds: read('renewDeadlineSeconds'),
    retryPeriodSeconds: read('retryPeriodSeconds'),
  };
  if (election.renewDeadlineSeconds >= election.leaseDurationSeconds) {
    throw new SettingsError(
      cluster,
      'leaderElection.renewDeadlineSeconds',
      `(${election.renewDeadlineSeconds}) must be less than leaseDurationSeconds (${election.leaseDurationSeconds})`,
    );
  }
  if (election.renewDeadlineSeconds <= 1.2 * election.retryPeriodSeconds) {
    throw new SettingsError(
      cluster,
      'leaderElection.renewDeadlineSeconds',
      `(${election.renewDeadlineSeconds}) must exceed 1.2 × retryPeriodSeconds (${election.retryPeriodSeconds})`,
    );
  }
  return election;
}
