import { BlockList, isIPv6 } from 'node:net';
import { GLOBAL_IN_CLUSTER_IP_POOL, IN_CLUSTER_IP_POOL, typeMeta } from '../kube/gvk.js';
import type { IPPool, PoolRef } from '../kube/types.js';
import { LABEL_CLUSTER_CLASS, LABEL_ROLE, type Family, type Role } from '../vip.js';

/**
 * A pool kind to search (`--pool-kinds`); its `apiVersion` gives claims' `poolRef.apiGroup`.
 * Whether it is namespaced comes from API discovery, so any IPAM provider's pools fit.
 */
export interface PoolKind {
  readonly apiVersion: string;
  readonly kind: string;
}

export const DEFAULT_POOL_KINDS: readonly PoolKind[] = [
  typeMeta(IN_CLUSTER_IP_POOL),
  typeMeta(GLOBAL_IN_CLUSTER_IP_POOL),
];

/** A pool found by a search, with the kind it was found as and that kind's scope. */
export interface Candidate {
  readonly pool: IPPool;
  readonly kind: PoolKind;
  readonly namespaced: boolean;
}

/**
 * A label matches when its value is the wanted one, or when it is "true" and the annotation of
 * the same key lists the wanted one (label values cannot hold commas or exceed 63 characters).
 */
export function labelSelects(pool: IPPool, key: string, wanted: string): boolean {
  const value = pool.metadata.labels?.[key];
  if (value === wanted) return true;
  if (value !== 'true') return false;
  const list = pool.metadata.annotations?.[key] ?? '';
  return list.split(',').some((entry) => entry.trim() === wanted);
}

export function poolMatches(pool: IPPool, className: string, role: Role): boolean {
  return labelSelects(pool, LABEL_CLUSTER_CLASS, className) && labelSelects(pool, LABEL_ROLE, role);
}

/** Free addresses by the pool's status; undefined while the provider has not reported yet. */
export function freeAddresses(pool: IPPool): number | undefined {
  return pool.status?.ipAddresses?.free;
}

/** The family of a pool's addresses (its first entry's): pools of one class and role are told apart by it. */
export function poolFamily(pool: IPPool): Family | undefined {
  const first = pool.spec?.addresses?.[0];
  if (!first) return undefined;
  return first.includes(':') ? 'IPv6' : 'IPv4';
}

/**
 * The matching pools (of `family`, when one is asked for) in a deterministic order: namespaced
 * before cluster-wide, then by kind order, then by name; a pool with no free address goes behind.
 */
export function rankPools(
  candidates: readonly Candidate[],
  className: string,
  role: Role,
  kinds: readonly PoolKind[],
  family?: Family,
): Candidate[] {
  const rank = (c: Candidate): [number, number, number] => [
    freeAddresses(c.pool) === 0 ? 1 : 0,
    c.namespaced ? 0 : 1,
    kinds.indexOf(c.kind),
  ];
  return candidates
    .filter((c) => poolMatches(c.pool, className, role) && (!family || poolFamily(c.pool) === family))
    .sort((a, b) => {
      const [ra, rb] = [rank(a), rank(b)];
      for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return (ra[i] ?? 0) - (rb[i] ?? 0);
      return a.pool.metadata.name.localeCompare(b.pool.metadata.name);
    });
}

export const poolRef = (c: Candidate): PoolRef => poolRefOf(c.kind, c.pool.metadata.name);

/** A claim's reference to the pool of this kind and name. */
export function poolRefOf(kind: PoolKind, name: string): PoolRef {
  return { apiGroup: kind.apiVersion.split('/')[0] ?? '', kind: kind.kind, name };
}

/** Whether an address lies in a pool's `addresses` (IPs, CIDRs, `a-b` ranges), ignoring exclusions. */
export function poolContains(pool: IPPool, address: string): boolean {
  const family = isIPv6(address) ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  for (const entry of pool.spec?.addresses ?? []) {
    try {
      if (entry.includes('/')) {
        const [net, bits] = entry.split('/');
        list.addSubnet(net ?? '', Number(bits), family);
      } else if (entry.includes('-')) {
        const [from, to] = entry.split('-');
        list.addRange((from ?? '').trim(), (to ?? '').trim(), family);
      } else {
        list.addAddress(entry.trim(), family);
      }
    } catch {
      // An entry of the other family or malformed: the IPAM provider reports those on the pool.
    }
  }
  try {
    return list.check(address, family);
  } catch {
    return false;
  }
}
