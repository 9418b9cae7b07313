import { KubeConfig } from '@kubernetes/client-node';
import { longWatch, longWatchParams } from './long-watch.js';

describe('long watches', () => {
  it('ask for bookmarks and a server-side end spread over 200-260 s', () => {
    const timeouts = Array.from({ length: 200 }, () => longWatchParams()).map((p) => {
      expect(p.allowWatchBookmarks).toBe(true);
      return p.timeoutSeconds;
    });
    expect(Math.min(...timeouts)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...timeouts)).toBeLessThan(260);
    expect(new Set(timeouts).size).toBeGreaterThan(10);
  });

  it("outlast them on the client: client-node's own timeout is past the longest", () => {
    const watch = longWatch(new KubeConfig()) as unknown as { requestTimeoutMs: number };
    expect(watch.requestTimeoutMs).toBeGreaterThan(260_000);
  });
});
