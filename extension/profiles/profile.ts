/**
 * What every control-plane profile is given and what it does: mutate the control-plane template
 * of a Cluster so that its nodes announce the VIP. The mutation is turned into a merge patch by
 * the caller (see ../hooks/merge-patch.ts), so profiles read as "set X on this template".
 */
import { isIPv6 } from 'node:net';
import type { VipAllocatorSettings } from '../../shared/vip-allocator-variable.js';
import { SETTINGS_VARIABLE, type Vip } from '../../shared/vip.js';

export interface AnnounceInput {
  /** `namespace/name` of the Cluster, for messages. */
  readonly cluster: string;
  /** `Kind namespace/name` of the control-plane template, for messages. */
  readonly template: string;
  readonly vip: Vip;
  readonly settings: VipAllocatorSettings;
  /** `builtin.controlPlane.version`, e.g. `v1.34.0`. */
  readonly kubernetesVersion?: string;
}

export interface Profile {
  /** What runs on the nodes, for messages and the README. */
  readonly announcer: string;
  /** Mutates the template object in place; throws ProfileError for a class it cannot serve. */
  readonly announce: (template: Record<string, unknown>, input: AnnounceInput) => void;
}

/** A class the profile cannot serve as it is (e.g. it already ships an announcer). */
export class ProfileError extends Error {
  constructor(input: AnnounceInput, problem: string) {
    super(`Cluster ${input.cluster}: ${input.template} ${problem}`);
    this.name = 'ProfileError';
  }
}

/** Every address the announcer carries: the VIP, then the dual-stack pair's second one. */
export const addresses = (input: AnnounceInput): string[] =>
  [input.vip.host, input.vip.secondary].filter((a): a is string => Boolean(a));

/** Host prefix length of an address: 32 or 128. */
export const hostBits = (address: string): number => (isIPv6(address) ? 128 : 32);

type Json = Record<string, unknown>;

/** The object at `keys` under `root`, created (with its parents) when missing. */
export function objectAt(root: Json, ...keys: string[]): Json {
  let node = root;
  for (const key of keys) {
    const next = node[key];
    node =
      typeof next === 'object' && next !== null && !Array.isArray(next) ? (next as Json) : (node[key] = {});
  }
  return node;
}

/** The array at `parent[key]`, created when missing: lists with `minItems: 1` are only ever written whole. */
export function listAt<T>(parent: Json, key: string): T[] {
  const list = parent[key];
  if (Array.isArray(list)) return list as T[];
  const created: T[] = [];
  parent[key] = created;
  return created;
}

/** Appends the values the list lacks. */
export function appendMissing(list: unknown[], values: readonly string[]): void {
  for (const v of values) if (!list.includes(v)) list.push(v);
}

/** Adds a file entry; a class that already writes that path gets a message, not a rejected object. */
export function addFile(
  files: { path?: string }[],
  file: { path: string } & Json,
  input: AnnounceInput,
): void {
  if (files.some((f) => f.path === file.path)) {
    throw new ProfileError(
      input,
      `already writes ${file.path}: remove that file from the class, or set ${SETTINGS_VARIABLE}.announce to false to keep your own announcer`,
    );
  }
  files.push(file);
}
