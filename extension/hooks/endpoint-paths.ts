/**
 * Where an InfrastructureClusterTemplate keeps the control-plane endpoint. Every provider read so
 * far (CAPD, Proxmox, vSphere, Metal3, Nutanix, OpenStack) uses the default; the table holds the
 * exceptions and the providers added later. Paths are JSONPath into the template object.
 */
import type { Endpoint } from '../../shared/vip.js';

export interface Target {
  /** A plain JSONPath of member names, e.g. `$.spec.template.spec.controlPlaneEndpoint`. */
  readonly path: string;
  readonly value: (endpoint: Endpoint) => unknown;
  /** Only when this JSONPath finds `true` in the template (e.g. a provider-created load balancer). */
  readonly when?: string;
}

const CONTROL_PLANE_ENDPOINT: Target = {
  path: '$.spec.template.spec.controlPlaneEndpoint',
  // Host and port together: CAPI treats an endpoint without a port as unset, and Proxmox's CEL rejects it.
  value: ({ host, port }) => ({ host, port }),
};

export const DEFAULT_TARGETS: readonly Target[] = [CONTROL_PLANE_ENDPOINT];

export const TARGETS_BY_KIND: Readonly<Record<string, readonly Target[]>> = {
  // The fixed IP the provider-created API load balancer should take, when the class enables one.
  OpenStackClusterTemplate: [
    CONTROL_PLANE_ENDPOINT,
    {
      path: '$.spec.template.spec.apiServerFixedIP',
      value: ({ host }) => host,
      when: '$.spec.template.spec.apiServerLoadBalancer.enabled',
    },
  ],
};

export function targetsFor(kind: string): readonly Target[] {
  return (Object.hasOwn(TARGETS_BY_KIND, kind) ? TARGETS_BY_KIND[kind] : undefined) ?? DEFAULT_TARGETS;
}
