/** For unit tests of the allocator and the hooks: class `cc`'s control-plane pool in namespace `ns`. */
import type { IPPool } from '../kube/types.js';
import { LABEL_CLUSTER_CLASS, LABEL_ROLE } from '../vip.js';

export const TEST_NS = 'ns';
export const POOL_KIND = { apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2', kind: 'InClusterIPPool' };
export const POOL_REF = { apiGroup: 'ipam.cluster.x-k8s.io', kind: POOL_KIND.kind, name: 'pool' };

/**
 * An InClusterIPPool `pool` over `addresses` (default two); `grace` is its own reuse grace,
 * `free` what its status says is left (default all, when `total` is given), `annotations` e.g. a reserve.
 */
export const testPool = (
  opts: {
    addresses?: string[];
    total?: number;
    free?: number;
    grace?: number;
    annotations?: Record<string, string>;
  } = {},
): IPPool => ({
  apiVersion: POOL_KIND.apiVersion,
  kind: POOL_KIND.kind,
  metadata: {
    name: 'pool',
    namespace: TEST_NS,
    labels: { [LABEL_CLUSTER_CLASS]: 'cc', [LABEL_ROLE]: 'control-plane' },
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  },
  spec: {
    addresses: opts.addresses ?? ['10.0.0.10-10.0.0.11'],
    prefix: 24,
    ...(opts.grace !== undefined ? { addressReuseGracePeriodSeconds: opts.grace } : {}),
  },
  ...(opts.total !== undefined
    ? {
        status: {
          ipAddresses: {
            total: opts.total,
            free: opts.free ?? opts.total,
            used: opts.total - (opts.free ?? opts.total),
          },
        },
      }
    : {}),
});
