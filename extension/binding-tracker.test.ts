import winston from 'winston';
import { BindingTracker } from './binding-tracker.js';

const log = winston.createLogger({ silent: true });
const never = (): Promise<boolean> => new Promise(() => undefined);

describe('BindingTracker', () => {
  test('a Cluster binding is answered from memory, with its place in claim order', () => {
    const tracker = new BindingTracker();
    for (const uid of ['a', 'b', 'c']) tracker.track(uid, `waiting ${uid}`, never, log);
    expect(tracker.memo('b')).toBe('waiting b');
    expect(tracker.queue('c')).toEqual({ waiting: 3, ahead: 2 });
    expect(tracker.queue('x')).toEqual({ waiting: 3 });
  });

  test('the provider’s rate is read from the last binds, and forgotten when they are old', () => {
    const tracker = new BindingTracker();
    for (const uid of ['a', 'b', 'c', 'd']) tracker.track(uid, 'waiting', never, log);
    tracker.written('a', 'written', 10_000);
    tracker.written('b', 'written', 10_500);
    tracker.written('c', 'written', 11_000);
    // Three binds over one second: 2 per second.
    expect(tracker.queue('d', 11_000)).toEqual({ waiting: 1, ahead: 0, bindsPerSecond: 2 });
    expect(tracker.memo('a')).toBe('written');
    expect(tracker.queue('d', 60_000).bindsPerSecond).toBeUndefined();
  });

  test('a watch that ends without a bind lets the next call take the full path', async () => {
    const tracker = new BindingTracker();
    tracker.track('a', 'waiting', () => Promise.resolve(false), log);
    await new Promise((r) => setImmediate(r));
    expect(tracker.memo('a')).toBeUndefined();
    expect(tracker.queue('a')).toEqual({ waiting: 0 });
  });
});
