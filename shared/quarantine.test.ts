import type { IPAddressClaim, IPPool } from './kube/types.js';
import { clusterGone, holdSeconds, releaseAction } from './quarantine.js';
import {
  ANNOTATION_QUARANTINE_CLUSTER_UID,
  ANNOTATION_QUARANTINE_SECONDS,
  ANNOTATION_QUARANTINED_UNTIL,
  LABEL_QUARANTINE,
} from './vip.js';

const NOW = new Date('2026-11-30T12:00:00Z');

const held = (annotations: Record<string, string>): IPAddressClaim => ({
  apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
  kind: 'IPAddressClaim',
  metadata: {
    name: 'vip-cp-c1',
    namespace: 'ns',
    labels: { [LABEL_QUARANTINE]: 'held' },
    annotations: { [ANNOTATION_QUARANTINE_CLUSTER_UID]: 'uid-1', ...annotations },
  },
  spec: {
    clusterName: 'c1',
    poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'p' },
  },
});

const pool = (grace?: number): IPPool => ({
  apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2',
  kind: 'InClusterIPPool',
  metadata: { name: 'p' },
  spec: {
    addresses: ['10.0.0.0/24'],
    ...(grace !== undefined ? { addressReuseGracePeriodSeconds: grace } : {}),
  },
});

describe('holdSeconds: ours, less what the pool holds on its own (never both)', () => {
  test.each([
    [300, undefined, 300],
    [300, 0, 300],
    [300, 120, 180],
    [300, 300, 0],
    [300, 900, 0],
    [0.4, undefined, 1],
  ])('--reuse-grace %ss, pool grace %s: held %ss', (ours, theirs, expected) => {
    expect(holdSeconds(ours, pool(theirs))).toBe(expected);
  });
});

describe('releaseAction', () => {
  const seconds = { [ANNOTATION_QUARANTINE_SECONDS]: '300' };
  test('the Cluster is still being deleted: look again later, the grace has not started', () => {
    expect(releaseAction(held(seconds), false, NOW, 300)).toEqual({ kind: 'wait', requeueAfterMs: 10_000 });
  });
  test('the Cluster is gone: the grace starts now', () => {
    expect(releaseAction(held(seconds), true, NOW, 300)).toEqual({
      kind: 'start',
      until: new Date('2026-11-30T12:05:00Z'),
      requeueAfterMs: 300_000,
    });
  });
  test('started: held until then, whatever the Cluster does', () => {
    const claim = held({ ...seconds, [ANNOTATION_QUARANTINED_UNTIL]: '2026-11-30T12:01:00Z' });
    expect(releaseAction(claim, false, NOW, 300)).toMatchObject({ kind: 'hold', requeueAfterMs: 60_000 });
  });
  test('over: released', () => {
    const claim = held({ ...seconds, [ANNOTATION_QUARANTINED_UNTIL]: '2026-11-30T11:59:59Z' });
    expect(releaseAction(claim, true, NOW, 300)).toEqual({ kind: 'release' });
  });
  test('--reuse-grace turned to 0: a claim held under an earlier grace is released once its Cluster is gone', () => {
    const started = held({ ...seconds, [ANNOTATION_QUARANTINED_UNTIL]: '2026-11-30T12:04:00Z' });
    expect(releaseAction(started, true, NOW, 0)).toEqual({ kind: 'release' });
    expect(releaseAction(held(seconds), true, NOW, 0)).toEqual({ kind: 'release' });
    // Its Cluster still being deleted: its announcer may still hold the address.
    expect(releaseAction(held(seconds), false, NOW, 0)).toEqual({ kind: 'wait', requeueAfterMs: 10_000 });
  });
  test('an unreadable until is taken as not started', () => {
    const claim = held({ ...seconds, [ANNOTATION_QUARANTINED_UNTIL]: 'soon' });
    expect(releaseAction(claim, true, NOW, 300).kind).toBe('start');
  });
});

test('a Cluster of the same name but another uid is not the one that held the address', () => {
  const claim = held({});
  const cluster = (uid: string) => ({
    apiVersion: 'cluster.x-k8s.io/v1beta2' as const,
    kind: 'Cluster' as const,
    metadata: { name: 'c1', namespace: 'ns', uid },
  });
  expect(clusterGone(claim, undefined)).toBe(true);
  expect(clusterGone(claim, cluster('uid-1'))).toBe(false);
  expect(clusterGone(claim, cluster('uid-2'))).toBe(true);
});
