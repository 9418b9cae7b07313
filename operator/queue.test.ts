import { QueueEvent, WorkQueue } from './queue.js';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  test('a key added many times while waiting is reconciled once', async () => {
    const seen: string[] = [];
    const q = new WorkQueue(async (k) => void seen.push(k));
    for (let i = 0; i < 5; i++) q.add('ns/a');
    q.add('ns/b');
    q.start();
    await tick(10);
    expect(seen.sort()).toEqual(['ns/a', 'ns/b']);
  });

  test('a key is never reconciled twice at once; an add while it runs runs it once more after', async () => {
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    let release!: () => void;
    const q = new WorkQueue(async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (calls === 1) await new Promise<void>((r) => (release = r));
      running--;
      return undefined;
    });
    q.start();
    q.add('k');
    await tick();
    q.add('k');
    q.add('k');
    release();
    await tick(10);
    expect(maxRunning).toBe(1);
    expect(calls).toBe(2);
  });

  test('failures back off exponentially, per key', async () => {
    const delays: number[] = [];
    let calls = 0;
    const q = new WorkQueue(
      async () => {
        if (++calls < 3) throw new Error('boom');
        return undefined;
      },
      { baseBackoffMs: 5, maxBackoffMs: 100 },
    );
    q.on(QueueEvent.Failed, (_key: string, _err: unknown, delay: number) => delays.push(delay));
    q.start();
    q.add('k');
    await tick(60);
    expect(delays).toEqual([5, 10]);
    expect(calls).toBe(3);
  });

  test('a success can ask to be looked at again; stop() takes no more keys', async () => {
    let calls = 0;
    const q = new WorkQueue(async () => (++calls === 1 ? { requeueAfterMs: 5 } : undefined));
    q.start();
    q.add('k');
    await tick(30);
    expect(calls).toBe(2);
    q.stop();
    q.add('k');
    await tick(10);
    expect(calls).toBe(2);
  });
});
