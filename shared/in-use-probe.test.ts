import { createServer, type AddressInfo } from 'node:net';
import { addressProber, arpAnswered, inCidr, inScope, ndpAnswered } from './in-use-probe.js';

describe('inCidr and inScope: only the addresses --probe-addresses names are ever sent a packet', () => {
  test.each([
    ['198.18.0.130', '198.18.0.0/24', true],
    ['198.18.1.1', '198.18.0.0/24', false],
    ['10.0.0.1', '0.0.0.0/0', true],
    ['fd00:198:18::130', 'fd00:198:18::/64', true],
    ['fd00:198:19::130', 'fd00:198:18::/64', false],
    ['fd00::1', 'fd00:198:18::/64', false],
    ['198.18.0.1', 'fd00:198:18::/64', false],
    ['::1', '::1/128', true],
  ])('%s in %s: %s', (address, cidr, expected) => {
    expect(inCidr(address, cidr)).toBe(expected);
  });
  test('all, none, a list', () => {
    expect(inScope('all', '10.0.0.1')).toBe(true);
    expect(inScope('none', '10.0.0.1')).toBe(false);
    expect(inScope(['192.0.2.0/24', '198.18.0.0/24'], '198.18.0.7')).toBe(true);
    expect(inScope(['192.0.2.0/24'], '198.18.0.7')).toBe(false);
  });
});

test('the ARP table: a complete entry with a MAC answers, an incomplete one does not', () => {
  const table = [
    'IP address       HW type     Flags       HW address            Mask     Device',
    '198.18.0.130     0x1         0x2         52:54:00:12:34:56     *        cva-br0',
    '198.18.0.131     0x1         0x0         00:00:00:00:00:00     *        cva-br0',
  ].join('\n');
  expect(arpAnswered(table, '198.18.0.130')).toBe('52:54:00:12:34:56');
  expect(arpAnswered(table, '198.18.0.131')).toBeUndefined();
  expect(arpAnswered(table, '198.18.0.132')).toBeUndefined();
});

test('the NDP table (ip -6 neigh): a link-layer address answers, FAILED and INCOMPLETE do not', () => {
  expect(ndpAnswered('fd00:198:18::130 dev cva-br0 lladdr 52:54:00:12:34:56 REACHABLE\n')).toBe(
    '52:54:00:12:34:56',
  );
  expect(ndpAnswered('fd00:198:18::131 dev cva-br0 FAILED\n')).toBeUndefined();
  expect(ndpAnswered('fd00:198:18::131 dev cva-br0 INCOMPLETE\n')).toBeUndefined();
  expect(ndpAnswered('')).toBeUndefined();
});

describe('addressProber on this host', () => {
  /** A port nothing listens on (a host's RST on lo), and one that accepts while `body` runs. */
  async function withPort(body: (open: number, closed: number) => Promise<void>): Promise<void> {
    const listen = async () => {
      const server = createServer().listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      return server;
    };
    const gone = await listen();
    const closed = (gone.address() as AddressInfo).port;
    await new Promise((r) => gone.close(r));
    const server = await listen();
    try {
      await body((server.address() as AddressInfo).port, closed);
    } finally {
      server.close();
    }
  }
  const probeWith = (neighbour?: (address: string) => Promise<string | undefined>) => {
    const probe = addressProber(300, ['127.0.0.0/8'], neighbour);
    if (!probe) throw new Error('a scope of CIDRs has a prober');
    return probe;
  };
  /** A neighbour table that resolves the address only from the `from`-th look on. */
  const resolvesFrom = (from: number) => {
    let looks = 0;
    return async () => (++looks >= from ? '52:54:00:12:34:56' : undefined);
  };

  test('an accepted connection answers, and is not filtered', () =>
    withPort(async (open) => {
      const result = await probeWith()('127.0.0.1', open);
      expect(result).toEqual({ answered: true, how: `TCP ${open} accepted a connection` });
      expect(result).not.toHaveProperty('filtered');
    }));

  test("a refusal alone answers but is filtered: a host's RST and a firewall's REJECT look alike", () =>
    withPort(async (_, closed) => {
      // lo keeps no neighbour entries: the kernel's own table gives the refusal nothing to go with.
      expect(await probeWith()('127.0.0.1', closed)).toEqual({
        answered: true,
        filtered: true,
        how: expect.stringMatching(new RegExp(`^TCP ${closed} refused: .*firewall's REJECT`)),
      });
    }));

  test('a refusal with a neighbour entry resolved after the SYN is a host: not filtered', () =>
    withPort(async (_, closed) => {
      expect(await probeWith(resolvesFrom(2))('127.0.0.1', closed)).toEqual({
        answered: true,
        filtered: false,
        how: `a host refused TCP ${closed} (its RST); ARP: 52:54:00:12:34:56 answers for it`,
      });
    }));

  test('a refusal with an entry resolved before the SYN (maybe stale) is still filtered', () =>
    withPort(async (_, closed) => {
      expect(await probeWith(resolvesFrom(1))('127.0.0.1', closed)).toMatchObject({
        answered: true,
        filtered: true,
      });
    }));

  test('an address out of scope is never probed', async () => {
    const looked: string[] = [];
    const neighbour = async (address: string) => void looked.push(address);
    expect(await probeWith(neighbour)('198.18.0.1', 6443)).toEqual({ answered: false, how: 'not probed' });
    expect(looked).toEqual([]);
  });
});
