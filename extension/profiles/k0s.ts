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

/** k0s refuses control-plane load balancing on a single node (`k0s controller --single`). */
const SINGLE = '--single';

/** A password per Cluster rather than one shared by every Cluster on the segment. */
export const authPassFor = (cluster: string): string =>
  createHash('sha256').update(cluster).digest('hex').slice(0, 8);

/**
 * The VRRP router id of a VIP: its address modulo 255, plus one. Two Clusters on one segment
 * with the same id fight over their VIPs; ids taken from the addresses differ for any two
 * addresses of a pool of up to 255 consecutive ones, and they never change, since the VIP does
 * not. VRRP's ids are per family (RFC 5798: IPv4 and IPv6 virtual routers have their own MACs),
 * so each instance of a dual-stack pair takes its own address's.
 */
export function virtualRouterIdFor(address: string): number {
  return (low32(address) % 255) + 1;
}

/** The last 32 bits of an IPv4 or IPv6 address (`::` expanded, a dotted tail read as IPv4). */
function low32(address: string): number {
  const last = address.split(':').at(-1) ?? '';
  if (last.includes('.')) return last.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const [head = '', tail] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].slice(-2).reduce((n, group) => n * 65536 + parseInt(group, 16), 0);
}

export const k0s: Profile = {
  announcer: 'k0s control-plane load balancing (keepalived VRRP)',
  announce(template, input) {
    const configSpec = objectAt(template, 'spec', 'template', 'spec', 'k0sConfigSpec');
    const args = configSpec.args;
    if (Array.isArray(args) && args.includes(SINGLE)) {
      throw new ProfileError(
        input,
        `runs k0s with ${SINGLE} (spec.template.spec.k0sConfigSpec.args), and k0s refuses control-plane load balancing on a single node: remove ${SINGLE}, or set vipAllocator.announce to false`,
      );
    }
    const config = objectAt(configSpec, 'k0s');
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
    // keepalived drops an address of the other family than its instance, and k0s wants each with
    // its interface's prefix (its pool's; a hand-set VIP gets a host route): one instance per address.
    const prefixes = [input.vip.prefix, input.vip.secondaryPrefix];
    network.controlPlaneLoadBalancing = {
      enabled: true,
      type: 'Keepalived',
      keepalived: {
        vrrpInstances: addresses(input).map((address, i) => ({
          virtualIPs: [`${address}/${prefixes[i] ?? hostBits(address)}`],
          authPass: keepalived.authPass ?? authPassFor(input.cluster),
          virtualRouterID: keepalived.virtualRouterID ?? virtualRouterIdFor(address),
          ...(iface ? { interface: iface } : {}),
        })),
      },
    };
    appendMissing(listAt(objectAt(spec, 'api'), 'sans'), addresses(input));
  },
};
