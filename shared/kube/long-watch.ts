/**
 * Watches that stay open for minutes, as client-go's do. client-node ends a watch that has heard
 * nothing for 30 s, so every quiet watch of ours was a new request twice a minute, most of an idle
 * process's CPU. Here the API server ends each watch after 200-260 s (spread, as client-go spreads
 * its 5-10 min, and inside the informers' 5-minute silence watchdog even if no bookmark comes), and
 * bookmarks keep the resourceVersion a restarted watch resumes from current.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';

const WATCH_SECONDS = { min: 200, spread: 60 };
/** The client's own timeout only ends a watch the API server failed to end when asked. */
const CLIENT_TIMEOUT_MS = (WATCH_SECONDS.min + WATCH_SECONDS.spread + 30) * 1000;

/** client-node's Watch, with its timeout past the longest watch we ask for. */
export function longWatch(kc: KubeConfig): Watch {
  const watch = new Watch(kc);
  // client-node 2.x keeps the field private and offers no option for it.
  Object.assign(watch, { requestTimeoutMs: CLIENT_TIMEOUT_MS });
  return watch;
}

/** The query parameters that make a watch long: bookmarks, and the server-side timeout. */
export const longWatchParams = (): { allowWatchBookmarks: true; timeoutSeconds: number } => ({
  allowWatchBookmarks: true,
  timeoutSeconds: WATCH_SECONDS.min + Math.floor(Math.random() * WATCH_SECONDS.spread),
});
