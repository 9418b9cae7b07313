import { isIPv6 } from 'node:net';
import type { IPAddress, PoolRef } from '../kube/types.js';

/** One spelling per address: IPv6 has many (`fd00::1`, `FD00:0::1`), the URL parser keeps one. */
export function canonicalAddress(address: string): string {
  return isIPv6(address) ? new URL(`http://[${address}]/`).hostname.slice(1, -1) : address;
}

const samePool = (a: PoolRef, b: PoolRef): boolean =>
  a.apiGroup === b.apiGroup && a.kind === b.kind && a.name === b.name;

const sameObject = (a: IPAddress, b: IPAddress): boolean =>
  a.metadata.uid && b.metadata.uid
    ? a.metadata.uid === b.metadata.uid
    : a.metadata.namespace === b.metadata.namespace && a.metadata.name === b.metadata.name;

/**
 * Another live IPAddress of the same pool that holds the same address. IPAM providers pick a free
 * address from an informer cache; the in-cluster provider, while its watch is broken (an API
 * server restart), hands one address to several claims. `addresses` must be a live read taken
 * after `address` was created: of two twins, at least one then sees the other, so yielding on
 * sight never lets both through.
 */
export function twinOf(address: IPAddress, addresses: readonly IPAddress[]): IPAddress | undefined {
  const wanted = canonicalAddress(address.spec.address);
  return addresses.find(
    (other) =>
      !sameObject(other, address) &&
      !other.metadata.deletionTimestamp &&
      samePool(other.spec.poolRef, address.spec.poolRef) &&
      canonicalAddress(other.spec.address) === wanted,
  );
}
