/**
 * Never publish an address something already answers on, proven on the lab's network namespaces
 * (./lab.ts): a "host" on the segment holds addresses of the pool, as a VIP set by hand long ago
 * would. Our extension (the plane's, probing only the lab's networks: --probe-addresses) is on the
 * same bridge. One held address answers TCP with a RST; one is on a host whose replies to us are
 * dropped (a firewall), so only its ARP answer gives it away. The Cluster gets the next address,
 * and the claims that found the others keep them out of the pool.
 */
import { execa } from 'execa';
import { clusterClass, inClusterIPPool, vipLabels } from '../../hack/fixtures/fixtures.js';
import { createNamespace, deleteNamespace, events, eventually, kube } from '../../hack/fixtures/kube.js';
import { createCluster, readClaim, VIP_ANNOTATION, waitForTopology } from '../../hack/fixtures/vip.js';
import { Lab, labUnavailable } from './lab.js';

const unavailable = await labUnavailable();
if (unavailable) process.stderr.write(`test/alive skipped: ${unavailable}\n`);
const suite = unavailable ? describe.skip : describe;

/** Past the announcer suite's slices of the lab's pools (.100–.129). */
const V4 = ['198.18.0.130', '198.18.0.131', '198.18.0.132'];
const V6 = ['fd00:198:18::130', 'fd00:198:18::131'];
/** The host's address on the lab's bridge, where our extension's probes come from. */
const HOST_V4 = '198.18.0.1';
const IN_USE = 'vip.capi.gorizond.io/address-in-use';

suite('an address already in use is never published', () => {
  let lab: Lab;
  let ns: string;

  beforeAll(async () => {
    lab = await Lab.create(1);
    const [node] = lab.nodes;
    if (!node) throw new Error('the lab has no node');
    const inNode = (...args: string[]) => execa('ip', ['-n', node.netns, ...args]);
    // .130 and fd00:198:18::130: a host that answers (nothing listens: its kernel sends a RST).
    await inNode('addr', 'add', `${V4[0]}/24`, 'dev', 'eth0');
    await inNode('-6', 'addr', 'add', `${V6[0]}/64`, 'dev', 'eth0', 'nodad');
    // .131: a host whose replies to us are dropped, as a firewall would; it still answers ARP.
    await inNode('addr', 'add', `${V4[1]}/24`, 'dev', 'eth0');
    await inNode('route', 'add', 'blackhole', `${HOST_V4}/32`, 'table', '100');
    await inNode('rule', 'add', 'from', V4[1] ?? '', 'lookup', '100');
    ns = await createNamespace('in-use');
    for (const o of [
      ...clusterClass('capd', ns, 'busy', { discover: true }),
      inClusterIPPool(ns, 'v4', [`${V4[0]}-${V4[2]}`], { labels: vipLabels('busy') }),
      (() => {
        const v6 = inClusterIPPool(ns, 'v6', [`${V6[0]}-${V6[1]}`], { labels: vipLabels('busy') });
        return { ...v6, spec: { ...v6.spec, prefix: 64 } };
      })(),
    ]) {
      await kube().objects.create(o);
    }
  }, 300_000);

  afterAll(async () => {
    await lab?.destroy();
    if (ns) await deleteNamespace(ns);
  });

  test('IPv4: the refused address and the one only ARP gives away are skipped; the Cluster gets the third', async () => {
    await createCluster(ns, 'four', 'busy', undefined, {
      variables: [{ name: 'vipAllocator', value: { ipFamilies: ['IPv4'] } }],
    });
    const cluster = await waitForTopology(ns, 'four', 90_000);
    expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toBe(V4[2]);
    const [first, second, third] = await Promise.all(
      ['vip-cp-four', 'vip-cp-four-2', 'vip-cp-four-3'].map((n) => readClaim(ns, n)),
    );
    expect(first?.metadata.annotations?.[IN_USE]).toMatch(/^198\.18\.0\.130: a host refused TCP 6443/);
    expect(second?.metadata.annotations?.[IN_USE]).toMatch(
      /^198\.18\.0\.131: ARP: [0-9a-f:]{17} answers for it/,
    );
    // Kept, owned by the Cluster (they go with it), so the pool cannot hand those addresses out again.
    for (const held of [first, second])
      expect(held?.metadata.ownerReferences?.map((o) => o.name)).toEqual(['four']);
    expect(third?.metadata.labels?.[IN_USE]).toBeUndefined();
    const notes = (await events(ns)).filter((e) => e.reason === 'VIPAddressInUse').map((e) => e.note ?? '');
    expect(notes).toContainEqual(
      expect.stringContaining('handed out 198.18.0.130, and something already answers'),
    );
    expect(notes).toContainEqual(
      expect.stringContaining('handed out 198.18.0.131, and something already answers'),
    );
  }, 120_000);

  test('IPv6: the address a host holds is skipped; the Cluster gets the next', async () => {
    await createCluster(ns, 'six', 'busy', undefined, {
      variables: [{ name: 'vipAllocator', value: { ipFamilies: ['IPv6'] } }],
    });
    const cluster = await eventually('Cluster six to get its VIP', async () => {
      const c = await waitForTopology(ns, 'six', 90_000);
      return c.metadata.annotations?.[VIP_ANNOTATION] ? c : undefined;
    });
    expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toBe(V6[1]);
    expect((await readClaim(ns, 'vip-cp-six'))?.metadata.annotations?.[IN_USE]).toMatch(
      /^fd00:198:18::130: a host refused TCP 6443/,
    );
  }, 120_000);
});
