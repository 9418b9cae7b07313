/**
 * Handlers mutate a copy of a template; this turns the difference into an RFC 7386 merge patch
 * (as CAPI's WalkTemplates turns a mutated object into a JSON patch). Arrays are replaced whole,
 * which is what their `listType=atomic` wants: the patch carries the complete new list.
 */
import { isDeepStrictEqual } from 'node:util';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The merge patch that turns `before` into `after`; undefined when they are equal. */
export function diff(before: Json, after: Json): Json | undefined {
  let patch: Json | undefined;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const [a, b] = [before[key], after[key]];
    if (isDeepStrictEqual(a, b)) continue;
    const change = b === undefined ? null : isObject(a) && isObject(b) ? diff(a, b) : b;
    (patch ??= {})[key] = change;
  }
  return patch;
}

/** Runs `mutate` on a deep copy of `object` and returns the merge patch it amounts to. */
export function mutationPatch<T extends object>(object: T, mutate: (draft: T) => void): Json | undefined {
  // Request bodies are plain JSON; a JSON copy keeps them so (structuredClone's objects would come
  // from another realm under jest's VM, which isDeepStrictEqual tells apart).
  const draft = JSON.parse(JSON.stringify(object)) as T;
  mutate(draft);
  return diff(object as Json, draft as Json);
}
