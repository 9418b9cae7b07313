import { ClaimQuarantine } from './claim-quarantine.js';
import { claimName, newClaim, type Slot } from './claims.js';
import { PoolKinds } from './pool-kinds.js';
import { adoptionMeta } from './reserve.js';
import type { Cluster, IPAddressClaim, IPPool } from '../kube/types.js';
import { testCluster } from '../testing/cluster.js';
import { POOL_KIND, POOL_REF, TEST_NS, testPool } from '../testing/pool.js';
import { FakeStore } from '../testing/fake-store.js';
import { ANNOTATION_QUARANTINED_UNTIL, LABEL_ADDRESS_IN_USE, LABEL_QUARANTINE } from '../vip.js';

const NS = TEST_NS;
const CP: Slot = { role: 'control-plane' };

let store: FakeStore;
let quarantine: ClaimQuarantine;

const pool = (grace?: number): IPPool => testPool({ addresses: ['10.0.0.10-10.0.0.19'], grace });

/** The Cluster's claim for the slot as BeforeClusterCreate makes it, bound to `address` when given. */
const claimFor = async (cluster: Cluster, address?: string, attempt = 0): Promise<IPAddressClaim> => {
  const made = (await store.createClaim(newClaim(cluster, CP, POOL_REF, attempt))) as IPAddressClaim;
  if (address) store.bind(made, address);
  return stored(made.metadata.name);
};
const stored = (name: string) => store.claims.get(`${NS}/${name}`) as IPAddressClaim;

beforeEach(() => {
  store = new FakeStore([POOL_KIND]);
  // Only the slot's first name: claims under other names are found by the Cluster's label.
  quarantine = new ClaimQuarantine(store, new PoolKinds(store, [POOL_KIND]), (cluster, slot) =>
    store.getClaim(cluster.metadata.namespace, claimName(slot, cluster.metadata.name)),
  );
});

describe('ClaimQuarantine.hold: a deleted Cluster keeps its addresses out of its pools', () => {
  test('each bound claim it owns, by name or by its label, loses its owner and is held', async () => {
    store.addPool(POOL_KIND, pool());
    const cluster = store.addCluster(testCluster('c1'));
    await claimFor(cluster, '10.0.0.10');
    const [adopted] = await store.fillReserve(NS, POOL_REF, 'control-plane', '10.0.0.11');
    await store.patchClaim(adopted as IPAddressClaim, adoptionMeta(cluster, 'control-plane', new Date()));

    const held = await quarantine.hold(cluster, 300);
    expect(held.map((h) => [h.claim.metadata.name, h.address, h.seconds, h.providerSeconds])).toEqual([
      ['vip-cp-c1', '10.0.0.10', 300, 0],
      [adopted?.metadata.name, '10.0.0.11', 300, 0],
    ]);
    for (const name of ['vip-cp-c1', adopted?.metadata.name ?? '']) {
      expect(stored(name).metadata.labels?.[LABEL_QUARANTINE]).toBe('held');
      expect(stored(name).metadata.ownerReferences).toEqual([]);
    }
  });

  test("the pool's own grace is taken off ours, and one that covers ours leaves the claim to it", async () => {
    store.addPool(POOL_KIND, pool(120));
    const cluster = store.addCluster(testCluster('c1'));
    await claimFor(cluster, '10.0.0.10');
    expect(await quarantine.hold(cluster, 300)).toMatchObject([{ seconds: 180, providerSeconds: 120 }]);

    const other = store.addCluster(testCluster('c2'));
    await claimFor(other, '10.0.0.11');
    expect(await quarantine.hold(other, 100)).toMatchObject([{ seconds: 0, providerSeconds: 120 }]);
    expect(stored('vip-cp-c2').metadata.labels?.[LABEL_QUARANTINE]).toBeUndefined();
    expect(stored('vip-cp-c2').metadata.ownerReferences).toHaveLength(1);
  });

  test("no claim is held that was never bound, is another Cluster's, or was found in use", async () => {
    store.addPool(POOL_KIND, pool());
    const cluster = store.addCluster(testCluster('c1'));
    await claimFor(cluster);
    const inUse = await claimFor(cluster, '10.0.0.11', 1);
    await store.patchClaim(inUse, { labels: { [LABEL_ADDRESS_IN_USE]: 'true' } });
    // A newer Cluster of the name owns this one: the Cluster being deleted does not.
    const foreign = await claimFor(store.addCluster(testCluster('c1')), '10.0.0.12', 2);

    expect(await quarantine.hold(cluster, 300)).toEqual([]);
    for (const c of ['vip-cp-c1', inUse.metadata.name, foreign.metadata.name])
      expect(stored(c).metadata.labels?.[LABEL_QUARANTINE]).toBeUndefined();
  });
});

test("ClaimQuarantine.heldOn: the pool's held claims, soonest released first", async () => {
  store.addPool(POOL_KIND, pool());
  for (const [name, until] of [
    ['later', '2026-11-30T12:10:00.000Z'],
    ['waiting', undefined],
    ['sooner', '2026-11-30T12:05:00.000Z'],
  ] as const) {
    const cluster = store.addCluster(testCluster(name));
    await claimFor(cluster, '10.0.0.10');
    await quarantine.hold(cluster, 300);
    if (until) {
      await store.patchClaim(stored(`vip-cp-${name}`), {
        annotations: { [ANNOTATION_QUARANTINED_UNTIL]: until },
      });
    }
  }
  // A claim its Cluster still holds is not among them.
  await claimFor(store.addCluster(testCluster('live')), '10.0.0.13');
  const names = (await quarantine.heldOn(POOL_REF, NS)).map((c) => c.metadata.name);
  expect(names).toEqual(['vip-cp-sooner', 'vip-cp-later', 'vip-cp-waiting']);
});
