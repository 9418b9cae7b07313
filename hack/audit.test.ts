import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  auditFiles,
  BENCH_USER,
  componentOf,
  emptyCounts,
  perClusterByComponent,
  planeRequests,
  readAudit,
  requestKey,
  tally,
  topDifferences,
  type AuditEvent,
} from './audit.js';

// User agents as the plane's processes send them (read from a real audit log of the local plane).
const AGENT = {
  capi: 'capi-manager/unknown cluster-api-controller-manager (linux/amd64) cluster.x-k8s.io/unknown',
  kcp: 'kcp-manager/unknown cluster-api-kubeadm-control-plane-manager (linux/amd64) cluster.x-k8s.io/unknown',
  ipam: 'ipam-manager/v0.0.0 (linux/amd64) kubernetes/$Format',
  kcm: 'kube-controller-manager/v1.36.5 (linux/amd64) kubernetes/$Format/generic-garbage-collector',
  // client-node's requests; its watches go out as `undici`.
  node: 'kubernetes-client-javascript/2.0.1',
  apiserver: 'kube-apiserver/v1.36.5 (linux/amd64) kubernetes/$Format',
};

function event(over: Partial<AuditEvent> & { at?: string } = {}): AuditEvent {
  const { at = '2026-11-30T18:54:21.972608Z', ...rest } = over;
  return {
    stage: 'ResponseComplete',
    verb: 'get',
    requestURI: '/apis/cluster.x-k8s.io/v1beta2/namespaces/a/clusters/c',
    user: { username: 'admin' },
    userAgent: AGENT.capi,
    objectRef: { resource: 'clusters' },
    requestReceivedTimestamp: at,
    stageTimestamp: at,
    ...rest,
  };
}
const line = (over: Partial<AuditEvent> & { at?: string } = {}): string =>
  JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'Metadata', ...event(over) });

const T = Date.parse('2026-11-30T18:54:21.972Z');

describe('componentOf', () => {
  it.each([
    [AGENT.capi, 'admin', 'CAPI'],
    [AGENT.kcp, 'admin', 'KCP'],
    [AGENT.ipam, 'admin', 'IPAM'],
    [AGENT.kcm, 'admin', 'KCM'],
    [`${AGENT.kcm.replace('generic-garbage-collector', 'namespace-controller')}`, 'admin', 'KCM'],
    [AGENT.node, 'admin', 'ours'],
    ['undici', 'admin', 'ours'],
    ['undici', BENCH_USER, 'bench'],
    [AGENT.node, BENCH_USER, 'bench'],
    [undefined, BENCH_USER, 'bench'],
    [AGENT.apiserver, 'system:apiserver', 'other'],
    [undefined, 'admin', 'other'],
    [AGENT.node, 'someone-else', 'other'],
  ] as const)('%s as %s is %s', (userAgent, username, component) => {
    expect(componentOf(event({ userAgent, user: { username } }))).toBe(component);
  });
});

describe('requestKey', () => {
  it('names a resource request by verb, resource and subresource', () => {
    expect(
      requestKey(event({ verb: 'patch', objectRef: { resource: 'clusters', subresource: 'status' } })),
    ).toBe('patch clusters/status');
    expect(requestKey(event({ verb: 'list', objectRef: { resource: 'ipaddressclaims' } }))).toBe(
      'list ipaddressclaims',
    );
  });
  it('names a non-resource request by its path, without the query', () => {
    expect(requestKey(event({ objectRef: undefined, requestURI: '/readyz?verbose=1' }))).toBe('get /readyz');
  });
});

describe('tally', () => {
  it('counts the requests received within the window, by component and by verb and resource', () => {
    const counts = emptyCounts();
    tally(counts, line({ at: '2026-11-30T18:54:21.000Z' }), T, T + 1000); // before
    tally(counts, line(), T, T + 1000);
    tally(counts, line({ userAgent: AGENT.node, verb: 'create' }), T, T + 1000);
    tally(counts, line({ user: { username: BENCH_USER } }), T, T + 1000);
    tally(counts, line({ at: '2026-11-30T18:54:23.000Z' }), T, T + 1000); // after
    expect(counts.total).toBe(3);
    expect(Object.fromEntries(counts.byComponent)).toEqual({ CAPI: 1, ours: 1, bench: 1 });
    expect(counts.byKey.get('ours create clusters')).toBe(1);
    expect(planeRequests(counts)).toBe(2);
    expect(perClusterByComponent(counts, 2).get('CAPI')).toBe(0.5);
    expect(perClusterByComponent(counts, 2).get('KCP')).toBe(0);
  });

  it('counts each request once: start-of-response stages are skipped', () => {
    const counts = emptyCounts();
    tally(counts, line({ stage: 'RequestReceived' }), T, T + 1000);
    tally(counts, line({ stage: 'ResponseStarted', verb: 'watch' }), T, T + 1000);
    tally(counts, line({ stage: 'ResponseComplete', verb: 'watch' }), T, T + 1000);
    tally(counts, line({ stage: 'Panic' }), T, T + 1000);
    expect(counts.total).toBe(2);
  });

  it('falls back to the stage timestamp, and counts what is not an audit event as malformed', () => {
    const counts = emptyCounts();
    tally(counts, line({ requestReceivedTimestamp: undefined }), T, T + 1000);
    tally(counts, '{"kind":"Event","verb":"get"', T, T + 1000);
    tally(counts, '42', T, T + 1000);
    tally(counts, '', T, T + 1000);
    expect(counts.total).toBe(1);
    expect(counts.malformed).toBe(2);
  });
});

describe('readAudit', () => {
  let dir = '';
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'audit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the log and its rotated backups, skipping a backup last written before the window', async () => {
    const log = path.join(dir, 'kube-apiserver-audit.log');
    const old = path.join(dir, 'kube-apiserver-audit-2026-11-30T18-00-00.000.log');
    const backup = path.join(dir, 'kube-apiserver-audit-2026-11-30T18-54-21.500.log');
    await writeFile(old, `${line({ at: '2026-11-30T18:54:21.990Z' })}\n`);
    await utimes(old, new Date(T - 60_000), new Date(T - 60_000));
    await writeFile(backup, `${line({ userAgent: AGENT.ipam })}\n${line({ userAgent: AGENT.kcp })}\n`);
    await writeFile(
      log,
      `${line({ at: '2026-11-30T18:54:22.100Z' })}\n${line({ at: '2026-11-30T18:59:00Z' })}\n`,
    );
    await writeFile(path.join(dir, 'kube-apiserver.log'), 'not an audit log\n');
    expect((await auditFiles(log, T)).map((f) => path.basename(f))).toEqual([
      'kube-apiserver-audit-2026-11-30T18-54-21.500.log',
      'kube-apiserver-audit.log',
    ]);
    const counts = await readAudit(log, T, T + 1000);
    expect(Object.fromEntries(counts.byComponent)).toEqual({ IPAM: 1, KCP: 1, CAPI: 1 });
    expect(counts.malformed).toBe(0);
  });

  it('reads nothing from a missing log', async () => {
    expect((await readAudit(path.join(dir, 'none.log'), 0, Date.now())).total).toBe(0);
  });
});

describe('topDifferences', () => {
  it('orders rows by how much ours and the floor differ, either way', () => {
    const ours = emptyCounts();
    const floor = emptyCounts();
    ours.byKey
      .set('CAPI patch clusters/status', 100)
      .set('ours get ipaddresses', 40)
      .set('KCP get secrets', 5);
    floor.byKey.set('CAPI patch clusters/status', 90).set('KCM list pods', 60);
    expect(topDifferences(ours, floor, 3)).toEqual([
      { key: 'KCM list pods', ours: 0, floor: 60 },
      { key: 'ours get ipaddresses', ours: 40, floor: 0 },
      { key: 'CAPI patch clusters/status', ours: 100, floor: 90 },
    ]);
  });
});
