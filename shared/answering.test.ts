import { answering, answeringAction, answeringView, SILENT_AFTER_MS } from './answering.js';
import type { Cluster, Condition } from './kube/types.js';

const CREATED = '2026-01-01T00:00:00Z';
const at = (seconds: number): string => new Date(Date.parse(CREATED) + seconds * 1000).toISOString();
const NOW = Date.parse(CREATED) + 3600_000;

function cluster(
  conditions: Condition[],
  { annotations = {}, announce = true }: { annotations?: Record<string, string>; announce?: boolean } = {},
): Cluster {
  return {
    apiVersion: 'cluster.x-k8s.io/v1beta2',
    kind: 'Cluster',
    metadata: {
      name: 'c1',
      namespace: 'ns',
      uid: 'u1',
      creationTimestamp: CREATED as unknown as Date,
      annotations: {
        'vip.capi.gorizond.io/control-plane-vip': '198.18.0.100',
        'vip.capi.gorizond.io/control-plane-port': '6443',
        ...annotations,
      },
    },
    spec: {
      topology: { classRef: { name: 'cc' }, variables: [{ name: 'vipAllocator', value: { announce } }] },
    },
    status: { conditions },
  };
}

const probe = (status: Condition['status'], seconds: number, message?: string): Condition => ({
  type: 'RemoteConnectionProbe',
  status,
  lastTransitionTime: at(seconds),
  ...(message ? { message } : {}),
});
const initialized = (seconds: number): Condition => ({
  type: 'ControlPlaneInitialized',
  status: 'True',
  lastTransitionTime: at(seconds),
});
const darkSince = 3600 - SILENT_AFTER_MS / 1000;

// The "When the VIP answers" table (docs/user-guide/announcers.md), row by row.
test.each([
  ['no VIP of ours', { ...cluster([]), metadata: { name: 'c1', namespace: 'ns' } }, 'none'],
  [
    'control plane not up yet',
    cluster([probe('False', 10, 'Remote connection not established yet')]),
    'waiting',
  ],
  ['CAPI reached the API server through the VIP', cluster([probe('True', 95)]), 'answering'],
  [
    'initialized, dark for less than the grace',
    cluster([initialized(darkSince + 1), probe('False', 10)]),
    'waiting',
  ],
  ['initialized, dark for the grace', cluster([initialized(darkSince), probe('False', 10)]), 'silent'],
  ['answered, then dark for the grace', cluster([initialized(100), probe('False', darkSince)]), 'silent'],
])('%s: %s', (_, given, state) => {
  expect(answering(given, NOW).state).toBe(state);
});

test('time to answering counts from the Cluster’s creation', () => {
  expect(answering(cluster([probe('True', 95)]), NOW)).toEqual({
    state: 'answering',
    vip: '198.18.0.100:6443',
    since: at(95),
    seconds: 95,
  });
});

test('a silent VIP names the likely causes, by whether we announce it', () => {
  const dark = [initialized(100), probe('False', 100, 'Remote connection probe failed')];
  const ours = answering(cluster(dark), NOW);
  expect(ours).toMatchObject({ state: 'silent', since: at(100) });
  expect(ours.state === 'silent' && ours.message).toContain(
    'Control-plane VIP 198.18.0.100:6443 does not answer: the control plane reports initialized, but CAPI cannot reach its API server through the VIP (RemoteConnectionProbe: Remote connection probe failed)',
  );
  expect(ours.state === 'silent' && ours.message).toContain('vipAllocator.interface');
  const theirs = answering(cluster(dark, { announce: false }), NOW);
  expect(theirs.state === 'silent' && theirs.message).toContain('vipAllocator.announce is not true');
});

describe('answeringAction: writes only at the transitions', () => {
  test('the first answer: annotation, Event with the time, the metric', () => {
    expect(answeringAction(cluster([probe('True', 95)]), NOW)).toEqual({
      silent: false,
      annotations: {
        'vip.capi.gorizond.io/answering-since': at(95),
        'vip.capi.gorizond.io/not-answering-since': null,
      },
      firstAnswerSeconds: 95,
      event: {
        type: 'Normal',
        reason: 'VIPAnswering',
        note: `Control-plane VIP 198.18.0.100:6443 answers: CAPI reached the API server through it at ${at(95)}, 95 s after the Cluster was created`,
      },
    });
  });
  test('recorded already: nothing', () => {
    const recorded = cluster([probe('True', 95)], {
      annotations: { 'vip.capi.gorizond.io/answering-since': at(95) },
    });
    expect(answeringAction(recorded, NOW)).toEqual({ silent: false });
  });
  test('dark: one Warning and the annotation; then nothing until it answers again', () => {
    const dark = [initialized(100), probe('False', 100)];
    const first = answeringAction(cluster(dark), NOW);
    expect(first).toMatchObject({
      silent: true,
      annotations: { 'vip.capi.gorizond.io/not-answering-since': at(100) },
      event: { type: 'Warning', reason: 'VIPNotAnswering' },
    });
    const marked = { 'vip.capi.gorizond.io/not-answering-since': at(100) };
    expect(answeringAction(cluster(dark, { annotations: marked }), NOW)).toEqual({ silent: true });
    const back = answeringAction(
      cluster([probe('True', 3500)], {
        annotations: { ...marked, 'vip.capi.gorizond.io/answering-since': at(95) },
      }),
      NOW,
    );
    expect(back).toMatchObject({
      annotations: {
        'vip.capi.gorizond.io/answering-since': at(95),
        'vip.capi.gorizond.io/not-answering-since': null,
      },
      event: { reason: 'VIPAnswering', note: expect.stringContaining('answers again') },
    });
    expect(back.firstAnswerSeconds).toBeUndefined();
  });
  test('waiting: look again when it could turn silent', () => {
    expect(answeringAction(cluster([probe('False', 10)]), NOW)).toEqual({
      silent: false,
      requeueAfterMs: SILENT_AFTER_MS,
    });
  });
});

test('the watch keeps only what the decision reads', () => {
  const full = cluster([initialized(100), probe('True', 95), { type: 'Available', status: 'False' }], {
    annotations: { 'cluster.x-k8s.io/paused': '', 'kubectl.kubernetes.io/last-applied-configuration': '{…}' },
  });
  const view = answeringView(full);
  expect(view.status?.conditions?.map((c) => c.type)).toEqual([
    'ControlPlaneInitialized',
    'RemoteConnectionProbe',
  ]);
  expect(Object.keys(view.metadata.annotations ?? {}).sort()).toEqual([
    'cluster.x-k8s.io/paused',
    'vip.capi.gorizond.io/control-plane-port',
    'vip.capi.gorizond.io/control-plane-vip',
  ]);
  expect(answering(view, NOW)).toEqual(answering(full, NOW));
});
