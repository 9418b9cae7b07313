import { Allocator, MAX_FILTERED, MAX_IN_USE } from '../../../shared/allocator/allocator.js';
import type { Cluster, ClusterClass, IPAddress, IPAddressClaim, IPPool } from '../../../shared/kube/types.js';
import { FakeRecorder, FakeStore } from '../../../shared/testing/fake-store.js';
import {
  ANNOTATION_CONTROL_PLANE_VIP,
  ANNOTATION_ENABLED,
  ANNOTATION_INGRESS_ENABLED,
  LABEL_CLUSTER_CLASS,
  LABEL_ROLE,
} from '../../../shared/vip.js';
import type { Prober } from '../../../shared/in-use-probe.js';
import { testCluster } from '../../../shared/testing/cluster.js';
import { testBeforeClusterCreate, testCall } from '../testing.js';
import { RETRY } from './decide.js';
import type { beforeClusterCreate } from './shell.js';

/**
 * The shell against the in-memory store: what a call answers, what it writes, which Events it
 * records and what it costs in store calls, for the table's paths (decide.test.ts runs the rows
 * themselves) and the races only I/O has (a claim bound or deleted mid-wait, a refused write, a call
 * given up, the background write after the call).
 */
describe("the hook's I/O paths: answers, writes, Events and store calls against the in-memory store", () => {
  const NS = 'ns';
  const POOL_KIND = { apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2', kind: 'InClusterIPPool' };
  let store: FakeStore;
  let recorder: FakeRecorder;

  const pool = (
    name: string,
    addresses: string[],
    opts: { role?: string; free?: number; total?: number } = {},
  ): IPPool => ({
    apiVersion: POOL_KIND.apiVersion,
    kind: POOL_KIND.kind,
    metadata: {
      name,
      namespace: NS,
      labels: { [LABEL_CLUSTER_CLASS]: 'cc', [LABEL_ROLE]: opts.role ?? 'control-plane' },
    },
    spec: { addresses, prefix: 24 },
    status: { ipAddresses: { total: opts.total ?? 10, free: opts.free ?? 10, used: 0 } },
  });
  const clusterClass = (ourPatch: boolean): ClusterClass => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'ClusterClass',
    metadata: { name: 'cc', namespace: NS },
    spec: {
      patches: ourPatch
        ? [{ name: 'vip', external: { generatePatchesExtension: 'vip-allocator-generate-patches.x' } }]
        : [],
    },
  });
  const topologyCluster = (name: string, opts: Parameters<typeof testCluster>[1] = {}): Cluster =>
    store.addCluster(testCluster(name, opts));
  let hook: ReturnType<typeof beforeClusterCreate>;
  const call = (cluster: Cluster) =>
    hook.handle(
      {
        apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
        kind: 'BeforeClusterCreateRequest',
        cluster: structuredClone(cluster),
      },
      testCall(),
    );

  /** A pool handing out its addresses in turn, and the hook with this prober. */
  const probing = (prober: Prober): void => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    let next = 10;
    store.bindOnCreate = () => `10.0.0.${next++}`;
    hook = testBeforeClusterCreate(store, recorder, new Allocator(store, { poolKinds: [POOL_KIND], prober }));
  };

  beforeEach(() => {
    store = new FakeStore([POOL_KIND]);
    recorder = new FakeRecorder();
    store.addClass(clusterClass(true));
    hook = testBeforeClusterCreate(store, recorder, new Allocator(store, { poolKinds: [POOL_KIND] }));
  });

  test('a VIP is claimed, written, and the next call (CAPI reading it back) is Success', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.bindOnCreate = () => '10.0.0.10';
    const cluster = topologyCluster('c1');
    expect(await call(cluster)).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.patched });
    expect(store.patches[0]?.patch).toMatchObject({
      endpoint: { host: '10.0.0.10', port: 6443 },
      annotations: { [ANNOTATION_CONTROL_PLANE_VIP]: '10.0.0.10' },
    });
    expect(recorder.reasons()).toEqual(['VIPAllocated']);
    store.resetCalls();
    const written = store.clusters.get(`${NS}/c1`) as Cluster;
    expect(await call(written)).toEqual({ status: 'Success', retryAfterSeconds: 0 });
    // The fast path reads nothing: the Cluster it is shown carries its VIP.
    expect(store.requests).toBe(0);
  });

  test('not a topology Cluster, or enabled "false": Success, untouched', async () => {
    const plain: Cluster = {
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'p', namespace: NS },
    };
    const optedOut = topologyCluster('o', { annotations: { [ANNOTATION_ENABLED]: 'false' } });
    for (const c of [plain, optedOut]) {
      expect(await call(c)).toEqual({ status: 'Success', retryAfterSeconds: 0 });
    }
    expect(store.requests).toBe(0);
    expect(store.patches).toEqual([]);
  });

  test('a hand-set host is kept, published, and warned about inside a pool', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    const response = await call(topologyCluster('c1', { host: '10.0.0.15' }));
    expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.patched });
    expect(store.claims.size).toBe(0);
    expect(store.patches[0]?.patch.annotations[ANNOTATION_CONTROL_PLANE_VIP]).toBe('10.0.0.15');
    expect(recorder.reasons()).toEqual(['ManualVIPInPool']);
  });

  test('no matching pool, class lists our patch: blocked, naming where it looked', async () => {
    const response = await call(topologyCluster('c1'));
    expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.noPool });
    expect(response.message).toMatch(
      /^No IP pool for ClusterClass cc and role control-plane: searched InClusterIPPool in namespace ns/,
    );
    expect(recorder.reasons()).toEqual(['VIPPoolNotFound']);
  });

  test('no matching pool, class without our patch: Success, not ours', async () => {
    store.addClass(clusterClass(false));
    expect(await call(topologyCluster('c1'))).toEqual({ status: 'Success', retryAfterSeconds: 0 });
    expect(recorder.events).toEqual([]);
  });

  test('pool exhausted: retry every 5 s naming the pool, VIPPoolExhausted', async () => {
    store.addPool(POOL_KIND, pool('full', ['10.0.0.10'], { free: 0, total: 1 }));
    const response = await call(topologyCluster('c1'));
    expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.exhausted });
    expect(response.message).toContain('pool full has no free address (0 of 1)');
    expect(recorder.reasons()).toEqual(['VIPPoolExhausted']);
  });

  test.each([
    ['0 free', 0],
    // Shrunk below what it handed out: the in-cluster provider reports total - used, less than 0.
    ['less than 0 free (shrunk)', -5],
  ])(
    'a claim waiting on a full pool (%s) is given back when another matching pool has room',
    async (_, free) => {
      store.addPool(POOL_KIND, pool('a-full', ['10.0.0.10'], { free, total: 1 }));
      const cluster = topologyCluster('c1');
      await call(cluster);
      expect(store.claims.get(`${NS}/vip-cp-c1`)?.spec.poolRef.name).toBe('a-full');
      store.addPool(POOL_KIND, pool('b-roomy', ['10.0.1.10-10.0.1.20']));
      const response = await call(cluster);
      expect(response).toMatchObject({ retryAfterSeconds: RETRY.releasing });
      expect(store.claims.size).toBe(0);
      store.bindOnCreate = () => '10.0.1.10';
      await call(cluster);
      expect(store.claims.get(`${NS}/vip-cp-c1`)?.spec.poolRef.name).toBe('b-roomy');
    },
  );

  test('a claim waiting on a pool with 0 free tries a shrunk one, which may have room in its range', async () => {
    store.addPool(POOL_KIND, pool('a-full', ['10.0.0.10'], { free: 0, total: 1 }));
    const cluster = topologyCluster('c1');
    await call(cluster);
    store.addPool(POOL_KIND, pool('b-shrunk', ['10.0.1.10-10.0.1.11'], { free: -3, total: 2 }));
    expect(await call(cluster)).toMatchObject({
      retryAfterSeconds: RETRY.releasing,
      message: expect.stringContaining('b-shrunk (shrunk, it may have room in its range)'),
    });
    store.bindOnCreate = () => '10.0.1.10';
    await call(cluster);
    expect(store.claims.get(`${NS}/vip-cp-c1`)?.spec.poolRef.name).toBe('b-shrunk');
  });

  test('a dual-stack pair with a family without a pool: retry naming it, nothing claimed', async () => {
    store.addPool(POOL_KIND, pool('v4', ['10.0.0.10-10.0.0.20']));
    const response = await call(topologyCluster('c1', { variables: { ipFamilies: ['IPv4', 'IPv6'] } }));
    expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.noPool });
    expect(response.message).toContain('no pool serves IPv6');
    expect(store.claims.size).toBe(0);
  });

  test('bad ipFamilies: Failure naming the Cluster and the field, VIPInvalidRequest', async () => {
    const response = await call(topologyCluster('c1', { variables: { ipFamilies: ['IPv5'] } }));
    expect(response.status).toBe('Failure');
    expect(response.message).toContain('Cluster ns/c1: variable vipAllocator.ipFamilies');
    expect(recorder.reasons()).toEqual(['VIPInvalidRequest']);
  });

  test('a paused Cluster (clusterctl move): retry, nothing claimed or written, no request', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.resetCalls();
    const response = await call(topologyCluster('c1', { paused: true }));
    expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.paused });
    expect(response.message).toContain('nothing is claimed until it is unpaused');
    expect(store.requests).toBe(0);
    expect(store.claims.size).toBe(0);
  });

  test('an address another IPAddress of the pool holds: the claim is given back, VIPDuplicateAddress', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.bindOnCreate = () => '10.0.0.10';
    await call(topologyCluster('first'));
    const response = await call(topologyCluster('second'));
    expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.duplicate });
    expect(response.message).toContain('which IPAddress ns/vip-cp-first of InClusterIPPool pool also holds');
    expect(store.claims.has(`${NS}/vip-cp-second`)).toBe(false);
    expect(recorder.reasons()).toContain('VIPDuplicateAddress');
    expect(store.patches.map((p) => p.cluster)).toEqual([`${NS}/first`]);
  });

  test.each([
    ['another pool of the namespace', { pool: 'team-template' }],
    // A team template's pool copied into another namespace keeps its name: still another pool.
    ['a pool of the same name in another namespace', { namespace: 'team-b' }],
  ])(
    'an address an IPAddress of %s holds (two pools over one range): the claim keeps it out, the next is claimed',
    async (_, copy: { pool?: string; namespace?: string }) => {
      store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
      const first = topologyCluster('first');
      store.bindOnCreate = () => '10.0.0.10';
      await call(first);
      const theirs = store.addresses.get(`${NS}/vip-cp-first`) as IPAddress;
      if (copy.pool) theirs.spec.poolRef = { ...theirs.spec.poolRef, name: copy.pool };
      if (copy.namespace) {
        store.addresses.delete(`${NS}/vip-cp-first`);
        theirs.metadata.namespace = copy.namespace;
        store.addresses.set(`${copy.namespace}/vip-cp-first`, theirs);
      }
      const second = topologyCluster('second');
      const response = await call(second);
      expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.duplicate });
      expect(response.message).toContain(
        `which IPAddress ${copy.namespace ?? NS}/vip-cp-first of InClusterIPPool ${copy.pool ?? 'pool'} also holds: the pools overlap`,
      );
      expect(recorder.reasons()).toContain('VIPDuplicateAddress');
      // Kept, so its pool does not hand the address out again; the next call claims the next address.
      expect(
        store.claims.get(`${NS}/vip-cp-second`)?.metadata.labels?.['vip.capi.gorizond.io/address-in-use'],
      ).toBe('duplicate');
      store.bindOnCreate = () => '10.0.0.11';
      expect(await call(second)).toMatchObject({ retryAfterSeconds: RETRY.patched });
      expect(store.clusters.get(`${NS}/second`)?.spec?.controlPlaneEndpoint?.host).toBe('10.0.0.11');
      expect(store.patches.map((p) => p.patch.endpoint?.host)).toEqual(['10.0.0.10', '10.0.0.11']);
    },
  );

  test('an address another Cluster carries though no IPAddress holds it any more (its pool deleted by force): kept out, the next claimed', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.bindOnCreate = () => '10.0.0.10';
    await call(topologyCluster('first'));
    // The pool was deleted by force and made again: the IPAddress went, the Cluster keeps its VIP.
    store.addresses.delete(`${NS}/vip-cp-first`);
    const second = topologyCluster('second');
    const response = await call(second);
    expect(response).toMatchObject({ retryAfterSeconds: RETRY.duplicate });
    expect(response.message).toContain('which Cluster ns/first, which no IPAddress backs');
    store.bindOnCreate = () => '10.0.0.11';
    await call(second);
    expect(store.clusters.get(`${NS}/second`)?.spec?.controlPlaneEndpoint?.host).toBe('10.0.0.11');
  });

  test('a twin seen after the Cluster was given the address (another replica wrote it): the Cluster keeps it', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.bindOnCreate = () => '10.0.0.10';
    const c1 = topologyCluster('c1');
    const stale = structuredClone(c1);
    await call(c1);
    // A later twin appears; CAPI's copy is stale (no VIP), but the live Cluster carries it.
    const twin = await store.createClaim({
      ...(store.claims.get(`${NS}/vip-cp-c1`) as IPAddressClaim),
      metadata: { name: 'vip-cp-x', namespace: NS },
    });
    store.bind(twin as IPAddressClaim, '10.0.0.10');
    const labels = store.addresses.get(`${NS}/vip-cp-c1`)?.metadata.labels;
    const twinAddress = store.addresses.get(`${NS}/vip-cp-x`);
    if (twinAddress && labels) twinAddress.metadata.labels = labels;
    // Another replica, without this one's memory, is called with the stale copy.
    hook = testBeforeClusterCreate(store, recorder, new Allocator(store, { poolKinds: [POOL_KIND] }));
    expect(await call(stale)).toMatchObject({ status: 'Success' });
    expect(recorder.reasons()).not.toContain('VIPDuplicateAddress');
    expect(store.claims.has(`${NS}/vip-cp-c1`)).toBe(true);
    expect(store.clusters.get(`${NS}/c1`)?.spec?.controlPlaneEndpoint?.host).toBe('10.0.0.10');
  });

  test('a claim whose pool was deleted: given back (VIPPoolGone), and claimed from the pool that serves the Cluster now', async () => {
    store.addPool(POOL_KIND, pool('old', ['10.0.0.10-10.0.0.20']));
    const cluster = topologyCluster('c1');
    expect(await call(cluster)).toMatchObject({ retryAfterSeconds: RETRY.binding });
    store.pools.set(POOL_KIND.kind, []);
    store.addPool(POOL_KIND, pool('new', ['10.0.1.10-10.0.1.20']));
    // A later call, once the first call's watch gave up (a restart, or another replica).
    hook = testBeforeClusterCreate(store, recorder, new Allocator(store, { poolKinds: [POOL_KIND] }));
    const gone = await call(cluster);
    expect(gone).toMatchObject({ retryAfterSeconds: RETRY['pool-gone'] });
    expect(gone.message).toContain('InClusterIPPool old of IPAddressClaim ns/vip-cp-c1 is gone');
    expect(recorder.reasons()).toContain('VIPPoolGone');
    expect(store.claims.has(`${NS}/vip-cp-c1`)).toBe(false);
    store.bindOnCreate = () => '10.0.1.10';
    expect(await call(cluster)).toMatchObject({ retryAfterSeconds: RETRY.patched });
    expect(store.claims.get(`${NS}/vip-cp-c1`)?.spec.poolRef.name).toBe('new');
  });

  test('a claim deleted while the call waited for it to bind is not published', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    const cluster = topologyCluster('c1');
    const answer = call(cluster);
    await new Promise((r) => setTimeout(r, 10));
    const claim = store.claims.get(`${NS}/vip-cp-c1`) as IPAddressClaim;
    claim.metadata.deletionTimestamp = new Date();
    store.bind(claim, '10.0.0.10');
    expect((await answer).message).toContain('Waiting for IPAddressClaim ns/vip-cp-c1 to be released');
    expect(store.patches).toEqual([]);
  });

  test('a claim given back from a full pool that the provider bound a moment before is kept and published', async () => {
    store.addPool(POOL_KIND, pool('full', ['10.0.0.10-10.0.0.20'], { free: 0 }));
    const cluster = topologyCluster('c1');
    expect(await call(cluster)).toMatchObject({ retryAfterSeconds: RETRY.exhausted });
    store.addPool(POOL_KIND, pool('roomy', ['10.0.1.10-10.0.1.20'], { free: 5 }));
    // The give-back deletes the claim only as it was read: bound meanwhile, it is another version.
    const remove = store.deleteClaim.bind(store);
    store.deleteClaim = async (c, o) => {
      store.bind(store.claims.get(`${NS}/vip-cp-c1`) as IPAddressClaim, '10.0.0.10');
      return remove(c, o);
    };
    expect(await call(cluster)).toMatchObject({ retryAfterSeconds: RETRY.binding });
    expect(store.claims.get(`${NS}/vip-cp-c1`)?.status?.addressRef?.name).toBe('vip-cp-c1');
    // The call keeps watching its claim and writes the VIP itself.
    for (let i = 0; i < 50 && store.patches.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(store.clusters.get(`${NS}/c1`)?.spec?.controlPlaneEndpoint?.host).toBe('10.0.0.10');
  });

  test('the Cluster carries another endpoint by the time the VIP is written: nothing written over it, the claim given back', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.bindOnCreate = () => '10.0.0.10';
    const cluster = structuredClone(topologyCluster('c1'));
    // Another replica (or a person) wrote 10.0.0.99 after CAPI read the Cluster.
    const live = store.clusters.get(`${NS}/c1`) as Cluster;
    live.spec = { ...live.spec, controlPlaneEndpoint: { host: '10.0.0.99', port: 6443 } };
    const response = await call(cluster);
    expect(response).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY.patched });
    expect(response.message).toContain('carries endpoint 10.0.0.99 already');
    expect(live.spec.controlPlaneEndpoint?.host).toBe('10.0.0.99');
    expect(store.claims.has(`${NS}/vip-cp-c1`)).toBe(false);
    expect(recorder.reasons()).toContain('VIPWriteRefused');
  });

  test('a Cluster deleted and created again under its name: the old call writes nothing on the new one', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.bindOnCreate = () => '10.0.0.10';
    const old = topologyCluster('c1');
    store.clusters.delete(`${NS}/c1`);
    const fresh = topologyCluster('c1');
    expect(fresh.metadata.uid).not.toBe(old.metadata.uid);
    const response = await call(old);
    expect(response.message).toContain('was deleted and created again under its name');
    expect(
      store.clusters.get(`${NS}/c1`)?.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP],
    ).toBeUndefined();
  });

  test('a call CAPI gave up on writes nothing', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.bindOnCreate = () => '10.0.0.10';
    const given = new AbortController();
    given.abort();
    await hook.handle(
      {
        apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
        kind: 'BeforeClusterCreateRequest',
        cluster: structuredClone(topologyCluster('c1')),
      },
      { ...testCall(), signal: given.signal },
    );
    expect(store.patches).toEqual([]);
  });

  test('an ingress address something answers on: the next ingress claim is made and its VIP written after the control-plane VIP', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    store.addPool(POOL_KIND, pool('ingress', ['10.0.1.10-10.0.1.20'], { role: 'ingress' }));
    store.bindOnCreate = (c) =>
      c.spec.poolRef.name === 'ingress' ? `10.0.1.${10 + store.claims.size}` : '10.0.0.10';
    hook = testBeforeClusterCreate(
      store,
      recorder,
      new Allocator(store, {
        poolKinds: [POOL_KIND],
        prober: async (address) =>
          address === '10.0.1.12'
            ? { answered: true, how: 'TCP 443 accepted a connection' }
            : { answered: false, how: 'no answer' },
      }),
    );
    const cluster = topologyCluster('c1', { annotations: { [ANNOTATION_INGRESS_ENABLED]: 'true' } });
    await call(cluster);
    expect(
      store.claims.get(`${NS}/vip-ingress-c1`)?.metadata.labels?.['vip.capi.gorizond.io/address-in-use'],
    ).toBe('true');
    // CAPI reads the control-plane VIP back; the ingress VIP comes from the slot's next name.
    for (let i = 0; i < 3; i++) await call(store.clusters.get(`${NS}/c1`) as Cluster);
    expect(store.claims.has(`${NS}/vip-ingress-c1-2`)).toBe(true);
    expect(store.clusters.get(`${NS}/c1`)?.metadata.annotations?.['vip.capi.gorizond.io/ingress-vip']).toBe(
      store.addresses.get(`${NS}/vip-ingress-c1-2`)?.spec.address,
    );
  });

  test('three addresses in a row only refused the probe: the Cluster is told the probe may be filtered, nothing more is burned', async () => {
    probing(async () => ({ answered: true, filtered: true, how: 'refused TCP 6443' }));
    const cluster = topologyCluster('c1');
    for (let i = 0; i < MAX_FILTERED - 1; i++) await call(cluster);
    const told = await call(cluster);
    expect(told).toMatchObject({ retryAfterSeconds: RETRY['probe-filtered'] });
    expect(told.message).toContain('the probe may be filtered');
    expect(told.message).toContain('--probe-addresses=none');
    expect(recorder.reasons()).toContain('VIPProbeFiltered');
    // Asked again, it burns no further address.
    await call(cluster);
    expect(store.claims.size).toBe(MAX_FILTERED);
  });

  test('an address something already answers on: its claim keeps it out of circulation, VIPAddressInUse, the next is claimed', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    let next = 10;
    store.bindOnCreate = () => `10.0.0.${next++}`;
    const probed: string[] = [];
    hook = testBeforeClusterCreate(
      store,
      recorder,
      new Allocator(store, {
        poolKinds: [POOL_KIND],
        prober: async (address, port) => {
          probed.push(`${address}:${port}`);
          return address === '10.0.0.10'
            ? { answered: true, how: 'a host refused TCP 6443 (its RST)' }
            : { answered: false, how: 'no answer' };
        },
      }),
    );
    const cluster = topologyCluster('c1');
    const first = await call(cluster);
    expect(first).toMatchObject({ status: 'Success', retryAfterSeconds: RETRY['in-use'] });
    expect(first.message).toContain(
      'handed out 10.0.0.10, and something already answers on it (a host refused TCP 6443',
    );
    expect(recorder.reasons()).toContain('VIPAddressInUse');
    const held = store.claims.get(`${NS}/vip-cp-c1`);
    expect(held?.metadata.labels?.['vip.capi.gorizond.io/address-in-use']).toBe('true');
    expect(held?.metadata.ownerReferences?.map((o) => o.name)).toEqual(['c1']);
    expect(await call(cluster)).toMatchObject({ retryAfterSeconds: RETRY.patched });
    expect(store.claims.get(`${NS}/vip-cp-c1-2`)?.status?.addressRef?.name).toBe('vip-cp-c1-2');
    expect(store.clusters.get(`${NS}/c1`)?.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP]).toBe(
      '10.0.0.11',
    );
    expect(probed).toEqual(['10.0.0.10:6443', '10.0.0.11:6443']);
  });

  test(`${MAX_IN_USE} addresses in use in a row: the Cluster stops claiming and says what to do`, async () => {
    probing(async () => ({ answered: true, how: 'TCP 6443 accepted a connection' }));
    const cluster = topologyCluster('c1');
    for (let i = 0; i <= MAX_IN_USE; i++) await call(cluster);
    const last = await call(cluster);
    expect(last).toMatchObject({ retryAfterSeconds: RETRY['all-in-use'] });
    expect(last.message).toContain(
      `${MAX_IN_USE + 1} addresses InClusterIPPool pool handed out already answer`,
    );
    expect(store.claims.size).toBe(MAX_IN_USE + 1);
  });

  test('a Cluster that carries its VIP and has no ingress claim reads it once, then never again', async () => {
    const cluster = topologyCluster('c1', {
      host: '10.0.0.10',
      annotations: { [ANNOTATION_CONTROL_PLANE_VIP]: '10.0.0.10', [ANNOTATION_INGRESS_ENABLED]: 'true' },
    });
    cluster.metadata.uid = 'uid-c1';
    store.resetCalls();
    expect(await call(cluster)).toEqual({ status: 'Success', retryAfterSeconds: 0 });
    expect(store.requests).toBe(1);
    expect(await call(cluster)).toEqual({ status: 'Success', retryAfterSeconds: 0 });
    expect(store.requests).toBe(1);
  });

  test("a call CAPI has given up on stops waiting: a bind after that is the next call's", async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    hook = testBeforeClusterCreate(store, recorder, new Allocator(store, { poolKinds: [POOL_KIND] }), 5_000);
    const giveUp = new AbortController();
    const answer = hook.handle(
      {
        apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
        kind: 'BeforeClusterCreateRequest',
        cluster: structuredClone(topologyCluster('c1')),
      },
      { ...testCall(), signal: giveUp.signal },
    );
    await new Promise((r) => setTimeout(r, 20));
    giveUp.abort();
    // Within the 5 s it would have waited; the call has answered by now, so it is not its VIP.
    await new Promise((r) => setTimeout(r, 20));
    store.bind(store.claims.get(`${NS}/vip-cp-c1`) as IPAddressClaim, '10.0.0.10');
    expect(await answer).toMatchObject({ retryAfterSeconds: RETRY.binding });
    // The claim is still watched past the call: the bind is written for CAPI's next call.
    await new Promise((r) => setTimeout(r, 20));
    expect(store.clusters.get(`${NS}/c1`)?.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP]).toBe(
      '10.0.0.10',
    );
  });

  test('waiting for the binding costs no store call, and a bind during the wait is taken at once', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    const cluster = topologyCluster('c1');
    const answer = call(cluster);
    await new Promise((r) => setTimeout(r, 10));
    const claim = store.claims.get(`${NS}/vip-cp-c1`) as IPAddressClaim;
    const before = store.requests;
    store.bind(claim, '10.0.0.11');
    expect(await answer).toMatchObject({ retryAfterSeconds: RETRY.patched });
    // After the bind: read the address, label it, list its twins and the Clusters carrying it, write
    // the Cluster, read the class.
    expect(store.requests - before).toBeLessThanOrEqual(6);
  });

  test('a claim that binds after the call gets its VIP written at once, and calls meanwhile cost nothing', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    const cluster = topologyCluster('late');
    // As CAPI's cache shows it until it sees the write.
    const stale = structuredClone(cluster);
    expect(await call(stale)).toMatchObject({ retryAfterSeconds: RETRY.binding });
    store.resetCalls();
    expect((await call(stale)).message).toContain('Waiting for InClusterIPPool pool to bind');
    expect(store.requests).toBe(0);
    store.bind(store.claims.get(`${NS}/vip-cp-late`) as IPAddressClaim, '10.0.0.12');
    await new Promise((r) => setTimeout(r, 20));
    expect(store.clusters.get(`${NS}/late`)?.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP]).toBe(
      '10.0.0.12',
    );
    // CAPI's cache may still show the Cluster without it: answered from memory, no second write.
    expect((await call(stale)).message).toContain('Control-plane VIP 10.0.0.12 written');
    expect(store.patches).toHaveLength(1);
  });

  test('a Cluster of a burst (its claim binds after the call, no ingress pool) costs each read once', async () => {
    store.addPool(POOL_KIND, pool('pool', ['10.0.0.10-10.0.0.20']));
    const cluster = topologyCluster('burst', { annotations: { [ANNOTATION_INGRESS_ENABLED]: 'true' } });
    store.resetCalls();
    expect(await call(structuredClone(cluster))).toMatchObject({ retryAfterSeconds: RETRY.binding });
    store.bind(store.claims.get(`${NS}/vip-cp-burst`) as IPAddressClaim, '10.0.0.13');
    await new Promise((r) => setTimeout(r, 20));
    expect(store.clusters.get(`${NS}/burst`)?.metadata.annotations?.[ANNOTATION_CONTROL_PLANE_VIP]).toBe(
      '10.0.0.13',
    );
    // Each claim is read once (both absent), the address once before the claim is made (none left
    // over) and once bound; the background write reads nothing the call already knew.
    expect(Object.fromEntries(store.calls)).toEqual({
      getClaim: 2, // control-plane and ingress, both absent
      listPools: 3, // control-plane and ingress searches, the pool's free count while binding
      getAddress: 2, // none left over under the claim's name; the bound one
      createClaim: 1,
      labelAddress: 1, // the duplicate check's key
      listAddresses: 1, // its twins
      listClusters: 1, // Clusters carrying it (by label)
      getClusterClass: 1,
      patchCluster: 1,
    });
  });
});
