/**
 * The Runtime SDK protocol as this server speaks it: the timeout CAPI is told in discovery and the
 * handler names. Doctor, the flag table and the hooks read them here.
 */

/** What CAPI is told in discovery; one hook call must finish well inside it. */
export const HOOK_TIMEOUT_SECONDS = 10;
/** What a waiting BeforeClusterCreate call leaves of that timeout for its own writes. */
export const HOOK_MARGIN_MS = 2_000;

/** Discovery names are `<--runtime-extension-name>-<suffix>`. */
export const HANDLER_SUFFIX = {
  beforeClusterCreate: 'before-cluster-create',
  beforeClusterDelete: 'before-cluster-delete',
  generatePatches: 'generate-patches',
  discoverVariables: 'discover-variables',
} as const;

export const handlerName = (prefix: string, suffix: string): string => `${prefix}-${suffix}`;
