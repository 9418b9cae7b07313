import { FakeStore } from '../shared/testing/fake-store.js';
import { testCluster } from '../shared/testing/cluster.js';
import { ANNOTATION_NUDGED } from '../shared/vip.js';
import { NUDGE_AGAIN_AFTER_MS, nudgeWhileWaiting } from './nudge.js';

const waitingCluster = (name: string) => testCluster(name);
const born = (name: string) => {
  const c = testCluster(name);
  return {
    ...c,
    spec: {
      ...c.spec,
      infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerCluster', name },
    },
  };
};

function storeWith(...clusters: ReturnType<typeof testCluster>[]): FakeStore {
  const store = new FakeStore();
  for (const c of clusters) store.clusters.set(`ns/${c.metadata.name}`, c);
  return store;
}

test('the pauses cover about two minutes, past a readiness period and a proxy sync', () => {
  const total = NUDGE_AGAIN_AFTER_MS.reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThanOrEqual(120_000);
  expect(NUDGE_AGAIN_AFTER_MS[0]).toBeLessThanOrEqual(2_000);
});

test('touches only the waiting Clusters, again while they wait, and stops once none does', async () => {
  const store = storeWith(waitingCluster('a'), waitingCluster('b'), born('c'));
  const rounds: [number, number][] = [];
  await nudgeWhileWaiting(store, {
    signal: new AbortController().signal,
    onRound: (round, count) => rounds.push([round, count]),
    onError: (_, err) => {
      throw err;
    },
    // CAPI's topology reaches `a` after the second touch, `b` after the third.
    pause: async () => {
      const n = rounds.length;
      if (n === 2) store.clusters.set('ns/a', born('a'));
      if (n === 3) store.clusters.set('ns/b', born('b'));
    },
  });
  expect(rounds).toEqual([
    [0, 2],
    [1, 2],
    [2, 1],
  ]);
  expect(store.patches.map((p) => p.cluster)).toEqual(['ns/a', 'ns/b', 'ns/a', 'ns/b', 'ns/b']);
  expect(store.patches[0]?.patch.annotations?.[ANNOTATION_NUDGED]).toMatch(/^\d{4}-/);
});

test('a failed round is reported and the next one still runs; the pauses bound the rounds', async () => {
  const store = storeWith(waitingCluster('a'));
  const list = store.listClusters.bind(store);
  let calls = 0;
  store.listClusters = async (...args) => {
    if (calls++ === 0) throw new Error('the API server is busy');
    return list(...args);
  };
  const errors: number[] = [];
  const rounds: number[] = [];
  await nudgeWhileWaiting(store, {
    signal: new AbortController().signal,
    pauses: [1, 1, 1],
    pause: async () => undefined,
    onRound: (round) => rounds.push(round),
    onError: (round) => errors.push(round),
  });
  expect(errors).toEqual([0]);
  expect(rounds).toEqual([1, 2, 3]);
});

test('stops when the process shuts down', async () => {
  const store = storeWith(waitingCluster('a'));
  const stop = new AbortController();
  const rounds: number[] = [];
  const done = nudgeWhileWaiting(store, {
    signal: stop.signal,
    onRound: (round) => rounds.push(round),
    onError: () => undefined,
  });
  await new Promise((r) => setImmediate(r));
  stop.abort();
  await done;
  expect(rounds).toEqual([0]);
});
