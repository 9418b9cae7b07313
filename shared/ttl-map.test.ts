import { TtlMap } from './ttl-map.js';

describe('TtlMap', () => {
  test('an entry is read until it expires, and the next write drops expired ones', () => {
    const map = new TtlMap<string, number>();
    map.set('gone', 1, 0);
    map.set('kept', 2, 60_000);
    expect(map.get('gone')).toBeUndefined();
    expect(map.get('kept')).toBe(2);
    map.set('old', 3, 0);
    map.set('new', 4, 60_000);
    // 'old' sat behind the live 'kept', so it is only dropped when read.
    expect(map.size).toBe(3);
    expect(map.get('old')).toBeUndefined();
    expect(map.size).toBe(2);
  });

  test('a rewrite moves the key to the back with its new TTL; delete removes it', () => {
    const map = new TtlMap<string, string>();
    map.set('a', 'first', 0);
    map.set('a', 'second', 60_000);
    expect(map.get('a')).toBe('second');
    map.delete('a');
    expect(map.get('a')).toBeUndefined();
    expect(map.size).toBe(0);
  });
});
