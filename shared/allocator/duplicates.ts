import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { Cluster, IPAddress } from '../kube/types.js';
import { CARRIES_LABEL_PREFIX, LABEL_ADDRESS_KEY, VIP_ANNOTATIONS } from '../vip.js';

/** One spelling per address: IPv6 has many (`fd00::1`, `FD00:0::1`), the URL parser keeps one. */
export function canonicalAddress(address: string): string {
  return isIPv6(address) ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

const sameObject = (a: IPAddress, b: IPAddress): boolean =>
  a.metadata.uid && b.metadata.uid
    ? a.metadata.uid === b.metadata.uid
    : a.metadata.namespace === b.metadata.namespace && a.metadata.name === b.metadata.name;

/**
 * The label value our bound IPAddresses carry under LABEL_ADDRESS_KEY: one per address, whatever
 * the pool (two pools over one range hand out the same addresses), so the duplicate check reads
 * only the addresses that could be twins, not the fleet's.
 */
export function addressKey(address: IPAddress): string {
  return keyOf(address.spec.address);
}

/** Whether the IPAddress carries its address key already (the duplicate check's label). */
export const isKeyed = (address: IPAddress): boolean =>
  address.metadata.labels?.[LABEL_ADDRESS_KEY] === addressKey(address);

/** The key of an address in any spelling. */
export const keyOf = (address: string): string =>
  createHash('sha256').update(canonicalAddress(address)).digest('hex').slice(0, 40);

/** The label a Cluster carrying `address` wears (see CARRIES_LABEL_PREFIX). */
export const carriesLabel = (address: string): string => `${CARRIES_LABEL_PREFIX}${keyOf(address)}`;

/**
 * Another IPAddress that holds the same address, from any pool. IPAM providers pick a free address
 * from an informer cache; the in-cluster provider, while its watch is broken (an API server
 * restart), hands one address to several claims, and two pools over one range each hand it out.
 * One being deleted still holds it until its finalizer goes. `addresses` must be a live read of the
 * addresses labelled with `address`'s key, taken after `address` was labelled: of two twins, at
 * least one then sees the other, so yielding on sight never lets both through.
 */
export function twinOf(address: IPAddress, addresses: readonly IPAddress[]): IPAddress | undefined {
  const wanted = canonicalAddress(address.spec.address);
  return addresses.find(
    (other) => !sameObject(other, address) && canonicalAddress(other.spec.address) === wanted,
  );
}

/** Whether the Cluster carries `address` as one of its VIPs (control plane, its pair's second, ingress). */
export function carries(cluster: Cluster, address: string): boolean {
  const wanted = canonicalAddress(address);
  const annotations = cluster.metadata.annotations ?? {};
  return VIP_ANNOTATIONS.some(
    (key) => annotations[key] !== undefined && canonicalAddress(annotations[key]) === wanted,
  );
}
