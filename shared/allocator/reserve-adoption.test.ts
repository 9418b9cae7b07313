import { Allocator } from './allocator.js';
import { newClaim } from './claims.js';
import { adoptionMeta } from './reserve.js';
import type { Cluster, IPAddressClaim, IPPool } from '../kube/types.js';
import { testCluster } from '../testing/cluster.js';
import { FakeStore } from '../testing/fake-store.js';
import { POOL_KIND, POOL_REF, TEST_NS, testPool } from '../testing/pool.js';
import { ANNOTATION_RESERVE, LABEL_CLUSTER_NAME } from '../vip.js';

const NS = TEST_NS;

let store: FakeStore;
let allocator: Allocator;

/** A pool of two addresses for class `cc`'s control planes, keeping a reserve of two. */
const reservePool = (): IPPool => testPool({ total: 2, annotations: { [ANNOTATION_RESERVE]: '2' } });

const topologyCluster = (name: string): Cluster => store.addCluster(testCluster(name));
const fillReserve = (...addresses: string[]): Promise<IPAddressClaim[]> =>
  store.fillReserve(NS, POOL_REF, 'control-plane', ...addresses);
const claim = (name: string) => store.claims.get(`${NS}/${name}`) as IPAddressClaim;

beforeEach(() => {
  store = new FakeStore([POOL_KIND]);
  store.addPool(POOL_KIND, reservePool());
  allocator = new Allocator(store, { poolKinds: [POOL_KIND], reserve: store.reserveView() });
});

describe('Adopting from a reserve of pre-bound claims (--claim-reserve)', () => {
  test('calls at once adopt different claims, and one Cluster never two', async () => {
    await fillReserve('10.0.0.10', '10.0.0.11');
    const [c1, c2] = [topologyCluster('c1'), topologyCluster('c2')];
    store.resetCalls();
    const got = await Promise.all(
      [c1, c1, c2].map((c) => allocator.allocate(c, 'cc', { role: 'control-plane' })),
    );
    const addresses = got.map((a) => (a.state === 'allocated' ? a.address : a.state));
    expect(addresses[0]).toBe(addresses[1]);
    expect(new Set(addresses).size).toBe(2);
    expect(store.calls.get('createClaim')).toBeUndefined();
  });

  test('an adoption the cache does not show yet (another replica, a moment ago): found live, no second', async () => {
    const [theirs] = await fillReserve('10.0.0.10', '10.0.0.11');
    const cluster = topologyCluster('c1');
    await store.patchClaim(theirs as IPAddressClaim, adoptionMeta(cluster, 'control-plane', new Date()));
    const view = store.reserveView();
    allocator = new Allocator(store, {
      poolKinds: [POOL_KIND],
      reserve: { free: (ns, p) => view.free(ns, p), adopted: () => [] },
    });
    expect(await allocator.allocate(cluster, 'cc', { role: 'control-plane' })).toMatchObject({
      state: 'allocated',
      address: '10.0.0.10',
    });
    expect(store.calls.get('patchClaim')).toBe(1);
  });

  test('a claim waiting on a full pool whose reserve holds a bound claim: given back, then adopted', async () => {
    const cluster = topologyCluster('c1');
    await store.createClaim(newClaim(cluster, { role: 'control-plane' }, POOL_REF));
    await fillReserve('10.0.0.11');
    (store.pools.get(POOL_KIND.kind)?.[0] as IPPool).status = { ipAddresses: { total: 2, free: 0, used: 2 } };
    expect(await allocator.allocate(cluster, 'cc', { role: 'control-plane' })).toMatchObject({
      state: 'pending',
      reason: 'releasing',
    });
    expect(store.claims.has(`${NS}/vip-cp-c1`)).toBe(false);
    expect(await allocator.allocate(cluster, 'cc', { role: 'control-plane' })).toMatchObject({
      state: 'allocated',
      address: '10.0.0.11',
    });
  });

  test('a claim waiting on another, full pool while the reserve holds a bound claim: given back, then adopted', async () => {
    // The reserve took the last free addresses of its pool while the Cluster claimed from another
    // matching pool, which a second Cluster then filled (the soak's CI seed, 2026-12-07).
    const other = {
      ...testPool({ total: 1, free: 0 }),
      metadata: { ...reservePool().metadata, name: 'other' },
    };
    delete other.metadata.annotations;
    store.addPool(POOL_KIND, other);
    const cluster = topologyCluster('c1');
    await store.createClaim(newClaim(cluster, { role: 'control-plane' }, { ...POOL_REF, name: 'other' }));
    await fillReserve('10.0.0.11');
    (store.pools.get(POOL_KIND.kind)?.[0] as IPPool).status = { ipAddresses: { total: 2, free: 0, used: 2 } };
    expect(await allocator.allocate(cluster, 'cc', { role: 'control-plane' })).toMatchObject({
      state: 'pending',
      reason: 'releasing',
    });
    expect(await allocator.allocate(cluster, 'cc', { role: 'control-plane' })).toMatchObject({
      state: 'allocated',
      address: '10.0.0.11',
    });
  });

  test('a claim another replica adopted first (409): another is taken', async () => {
    const [a, b] = await fillReserve('10.0.0.10', '10.0.0.11');
    const cluster = topologyCluster('c1');
    // This replica's cache still shows both free when the other replica's write lands on `a`.
    const shown = structuredClone([a, b]) as IPAddressClaim[];
    allocator = new Allocator(store, {
      poolKinds: [POOL_KIND],
      reserve: { free: () => shown, adopted: () => [] },
    });
    await store.patchClaim(
      a as IPAddressClaim,
      adoptionMeta(topologyCluster('other'), 'control-plane', new Date()),
    );
    const got = await allocator.allocate(cluster, 'cc', { role: 'control-plane' });
    expect(got).toMatchObject({ state: 'allocated', address: '10.0.0.11' });
    expect(claim(a?.metadata.name ?? '').metadata.labels?.[LABEL_CLUSTER_NAME]).toBe('other');
  });
});

describe("Adopting in a Cluster's create (the admission webhook: no uid yet)", () => {
  /** The Cluster as the API server shows it to admission: not created, so no uid. */
  const admitted = (name: string): Cluster => {
    const c = testCluster(name);
    return { ...c, metadata: { ...c.metadata, uid: undefined } };
  };

  test('adopts a bound claim without an owner, and claims nothing from the pool itself', async () => {
    await fillReserve('10.0.0.10');
    store.resetCalls();
    const got = await allocator.adoptAtCreate(admitted('c1'), 'cc', { role: 'control-plane' });
    expect(got).toMatchObject({ state: 'allocated', address: '10.0.0.10' });
    const adopted = got?.state === 'allocated' ? claim(got.claim.metadata.name) : undefined;
    expect(adopted?.metadata.labels?.[LABEL_CLUSTER_NAME]).toBe('c1');
    expect(adopted?.metadata.ownerReferences ?? []).toEqual([]);
    expect(store.calls.get('createClaim')).toBeUndefined();
  });

  test('an empty reserve: nothing adopted, nothing read past the pools', async () => {
    store.resetCalls();
    expect(await allocator.adoptAtCreate(admitted('c1'), 'cc', { role: 'control-plane' })).toBeUndefined();
    expect(store.calls.get('getClaim')).toBeUndefined();
    expect(store.calls.get('createClaim')).toBeUndefined();
  });

  test('a retried create of the name finds its claim again, renewed; one another Cluster owns is not taken', async () => {
    await fillReserve('10.0.0.10', '10.0.0.11');
    const first = await allocator.adoptAtCreate(admitted('c1'), 'cc', { role: 'control-plane' });
    const again = await allocator.adoptAtCreate(admitted('c1'), 'cc', { role: 'control-plane' });
    expect(again).toMatchObject({ state: 'allocated' });
    expect(first?.state === 'allocated' && again?.state === 'allocated' && again.address).toBe(
      first?.state === 'allocated' && first.address,
    );
    // Once a Cluster of the name owns it, a create of that name (refused anyway) adopts nothing of it.
    const owner = topologyCluster('c1');
    await allocator.allocate(owner, 'cc', { role: 'control-plane' });
    const third = await allocator.adoptAtCreate(admitted('c1'), 'cc', { role: 'control-plane' });
    expect(third).toBeUndefined();
  });
});
