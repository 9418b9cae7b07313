import { createServer, type AddressInfo } from 'node:net';
import { addressProber, arpAnswered, inCidr, inScope, ndpAnswered } from './probe.js';

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
  test('a listening port answers (accepted), a closed one too (the RST of a host that holds the address)', async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    const probe = addressProber(300, ['127.0.0.0/8']);
    if (!probe) throw new Error('a scope of CIDRs has a prober');
    try {
      expect(await probe('127.0.0.1', port)).toEqual({
        answered: true,
        how: `TCP ${port} accepted a connection`,
      });
    } finally {
      server.close();
    }
    expect(await probe('127.0.0.1', port)).toEqual({
      answered: true,
      how: `a host refused TCP ${port} (its RST)`,
    });
  });
});
