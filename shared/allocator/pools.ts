import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import type { PoolKind } from '../kube/gvk.js';
import type { IPPool, PoolRef } from '../kube/types.js';
import { LABEL_CLUSTER_CLASS, LABEL_ROLE, type Family, type Role } from '../vip.js';

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

/**
 * Whether the pool's status says it has nothing to give: 0 free, or less. A pool shrunk below what
 * it handed out reports less than 0 (the in-cluster provider counts the addresses left outside its
 * new range as used), though its range may still hold a free address: `maybeRoom`.
 */
export function saysFull(pool: IPPool): boolean {
  const free = freeAddresses(pool);
  return free !== undefined && free <= 0;
}

/** A shrunk pool (less than 0 free by its status): its range may hold a free address, or none. */
export const maybeRoom = (pool: IPPool): boolean => (freeAddresses(pool) ?? 0) < 0;

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
    // Room (or no status yet) first, then a shrunk pool that may have some, then a full one.
    maybeRoom(c.pool) ? 1 : saysFull(c.pool) ? 2 : 0,
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

/** Consecutive addresses of one family, as numbers: pools are compared without listing them. */
export interface AddressRange {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
}

/** An address as a number, or undefined when it is none (a zone id, too, is none here). */
function addressValue(address: string): { family: Family; value: bigint } | undefined {
  const octets = (dotted: string): bigint =>
    dotted.split('.').reduce((n, octet) => (n << 8n) | BigInt(octet), 0n);
  if (isIPv4(address)) return { family: 'IPv4', value: octets(address) };
  if (!isIPv6(address) || address.includes('%')) return undefined;
  // An embedded IPv4 tail (`::ffff:10.0.0.1`) is the last two groups.
  const text = address.replace(/\d+\.\d+\.\d+\.\d+$/, (v4) =>
    [octets(v4) >> 16n, octets(v4) & 0xffffn].map((group) => group.toString(16)).join(':'),
  );
  const groups = (part = ''): string[] => (part ? part.split(':') : []);
  const [head, tail] = text.split('::');
  const [before, after] = [groups(head), groups(tail)];
  const all = [...before, ...Array<string>(8 - before.length - after.length).fill('0'), ...after];
  return { family: 'IPv6', value: all.reduce((n, group) => (n << 16n) | BigInt(`0x${group}`), 0n) };
}

/** A number back to its address, IPv6 in its short form (Node's own). */
function addressText(family: Family, value: bigint): string {
  if (family === 'IPv4') return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 0xffn).join('.');
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((shift) =>
    ((value >> shift) & 0xffffn).toString(16),
  );
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/**
 * Pool entries as the in-cluster provider reads them: an IP, an `a-b` range or a CIDR (host bits
 * masked). A malformed entry is left out: the IPAM provider reports those on the pool.
 */
function entryRanges(entries: readonly string[]): AddressRange[] {
  return entries.flatMap((entry): AddressRange[] => {
    const [from = '', to, extra] = entry.split('-').map((part) => part.trim());
    const [net = '', bits, rest] = from.split('/');
    const first = addressValue(net);
    if (!first || extra !== undefined || rest !== undefined || (to !== undefined && bits !== undefined))
      return [];
    if (to !== undefined) {
      const last = addressValue(to);
      return last && last.family === first.family && last.value >= first.value
        ? [{ family: first.family, first: first.value, last: last.value }]
        : [];
    }
    if (bits === undefined) return [{ family: first.family, first: first.value, last: first.value }];
    const width = first.family === 'IPv4' ? 32n : 128n;
    if (!/^\d+$/.test(bits) || BigInt(bits) > width) return [];
    const host = (1n << (width - BigInt(bits))) - 1n;
    return [{ family: first.family, first: first.value & ~host, last: first.value | host }];
  });
}

/**
 * The addresses a pool can hand out: its `addresses` less its `excludedAddresses` and its gateway,
 * as the in-cluster provider leaves them out. (Its subnet's network and broadcast addresses,
 * left out unless `allocateReservedIPAddresses`, are counted in: at worst an overlap of two
 * pools on one of those is named too.)
 */
export function poolRanges(pool: IPPool): AddressRange[] {
  const holes = entryRanges([
    ...(pool.spec?.excludedAddresses ?? []),
    ...(pool.spec?.gateway ? [pool.spec.gateway] : []),
  ]);
  return holes.reduce(
    (left, hole) =>
      left.flatMap((r) =>
        r.family !== hole.family || hole.last < r.first || hole.first > r.last
          ? [r]
          : [
              ...(hole.first > r.first ? [{ ...r, last: hole.first - 1n }] : []),
              ...(hole.last < r.last ? [{ ...r, first: hole.last + 1n }] : []),
            ],
      ),
    entryRanges(pool.spec?.addresses ?? []),
  );
}

/** The lowest address two lists of ranges share (IPv4 before IPv6), or undefined when none. */
export function rangesOverlap(a: readonly AddressRange[], b: readonly AddressRange[]): string | undefined {
  let lowest: { family: Family; value: bigint } | undefined;
  for (const x of a) {
    for (const y of b) {
      const first = x.first > y.first ? x.first : y.first;
      if (x.family !== y.family || first > (x.last < y.last ? x.last : y.last)) continue;
      const sooner = !lowest || (lowest.family === x.family ? first < lowest.value : x.family === 'IPv4');
      if (sooner) lowest = { family: x.family, value: first };
    }
  }
  return lowest && addressText(lowest.family, lowest.value);
}

/** Whether an address lies in a pool's `addresses` (IPs, CIDRs, `a-b` ranges), ignoring exclusions. */
export function poolContains(pool: IPPool, address: string): boolean {
  const target = addressValue(address);
  return entryRanges(pool.spec?.addresses ?? []).some(
    (r) => r.family === target?.family && r.first <= target.value && target.value <= r.last,
  );
}
