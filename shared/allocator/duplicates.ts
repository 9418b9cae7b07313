import { createHash } from 'node:crypto';
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
 * The label value our bound IPAddresses carry under LABEL_ADDRESS_KEY: one per pool and address,
 * so the duplicate check reads only the addresses that could be twins, not the fleet's.
 */
export function addressKey(address: IPAddress): string {
  const { apiGroup, kind, name } = address.spec.poolRef;
  return createHash('sha256')
    .update(`${apiGroup}/${kind}/${name}/${canonicalAddress(address.spec.address)}`)
    .digest('hex')
    .slice(0, 40);
}

/**
 * Another live IPAddress of the same pool that holds the same address. IPAM providers pick a free
 * address from an informer cache; the in-cluster provider, while its watch is broken (an API
 * server restart), hands one address to several claims. `addresses` must be a live read of the
 * addresses labelled with `address`'s key, taken after `address` was labelled: of two twins, at
 * least one then sees the other, so yielding on sight never lets both through.
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
