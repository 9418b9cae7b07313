/**
 * K0sControlPlaneTemplate (k0smotron, controlplane.cluster.x-k8s.io v1beta1/v1beta2): k0s' own
 * control-plane load balancing, keepalived VRRP with the VIP, which k0s configures and runs
 * itself. `k0sConfigSpec.k0s` is free-form, so parents are created as needed. k0smotron writes the
 * endpoint host to `api.externalAddress`; the VIP (and the dual-stack pair's second address) go to
 * `api.sans` so the certificate is right whatever the class sets there.
 */
import { createHash } from 'node:crypto';
import {
  addresses,
  appendMissing,
  hostBits,
  listAt,
  objectAt,
  ProfileError,
  type Profile,
} from './profile.js';

/**
 * Defaults unique per Cluster rather than k0s' fixed router id 51 and a shared password: two
 * Clusters on one layer-2 segment with the same id would fight over their VIPs.
 */
export function keepalivedDefaults(cluster: string): { virtualRouterID: number; authPass: string } {
  const digest = createHash('sha256').update(cluster).digest();
  return { virtualRouterID: (digest.readUInt8(0) % 255) + 1, authPass: digest.toString('hex').slice(0, 8) };
}

export const k0s: Profile = {
  announcer: 'k0s control-plane load balancing (keepalived VRRP)',
  announce(template, input) {
    const config = objectAt(template, 'spec', 'template', 'spec', 'k0sConfigSpec', 'k0s');
    config.apiVersion ??= 'k0s.k0sproject.io/v1beta1';
    config.kind ??= 'ClusterConfig';
    const spec = objectAt(config, 'spec');
    const network = objectAt(spec, 'network');
    if ((network.controlPlaneLoadBalancing as { enabled?: boolean } | undefined)?.enabled) {
      throw new ProfileError(
        input,
        'already enables k0s spec.network.controlPlaneLoadBalancing: remove it from the class, or set vipAllocator.announce to false to keep your own',
      );
    }
    const { keepalived, interface: iface } = input.settings;
    const defaults = keepalivedDefaults(input.cluster);
    network.controlPlaneLoadBalancing = {
      enabled: true,
      type: 'Keepalived',
      keepalived: {
        vrrpInstances: [
          {
            // k0s wants the interface's prefix, which is the pool's; a hand-set VIP gets a host route.
            virtualIPs: addresses(input).map((a) => `${a}/${input.prefix ?? hostBits(a)}`),
            authPass: keepalived.authPass ?? defaults.authPass,
            virtualRouterID: keepalived.virtualRouterID ?? defaults.virtualRouterID,
            ...(iface ? { interface: iface } : {}),
          },
        ],
      },
    };
    appendMissing(listAt(objectAt(spec, 'api'), 'sans'), addresses(input));
  },
};
