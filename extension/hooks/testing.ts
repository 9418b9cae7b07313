/** For the hooks' unit tests: a topology Cluster, and a BeforeClusterCreate on the in-memory store as main.ts wires it. */
import type { Allocator } from '../../shared/allocator/allocator.js';
import type { Cluster } from '../../shared/kube/types.js';
import { ANNOTATION_INGRESS_ENABLED } from '../../shared/vip.js';
import type { FakeRecorder, FakeStore } from '../../shared/testing/fake-store.js';
import winston from 'winston';
import type { CallContext } from '../server.js';
import { beforeClusterCreate } from './before-cluster-create/shell.js';

export const testBeforeClusterCreate = (
  store: FakeStore,
  recorder: FakeRecorder,
  allocator: Allocator,
  allocationWaitMs = 50,
) =>
  beforeClusterCreate({
    allocator,
    recorder,
    patchCluster: (c, p) => store.patchCluster(c, p),
    getClusterClass: (ns, n) => store.getClusterClass(ns, n),
    generatePatchesHandler: 'vip-allocator-generate-patches',
    defaultPort: 6443,
    allocationWaitMs,
  });

/** A v1beta2 topology Cluster of class `cc` in namespace `ns`, created now, ingress off unless asked. */
export const testCluster = (
  name: string,
  opts: { host?: string; annotations?: Record<string, string>; paused?: boolean; variables?: unknown } = {},
): Cluster => ({
  apiVersion: 'cluster.x-k8s.io/v1beta2',
  kind: 'Cluster',
  metadata: {
    name,
    namespace: 'ns',
    creationTimestamp: new Date(),
    annotations: { [ANNOTATION_INGRESS_ENABLED]: 'false', ...opts.annotations },
  },
  spec: {
    ...(opts.paused ? { paused: true } : {}),
    ...(opts.host ? { controlPlaneEndpoint: { host: opts.host, port: 6443 } } : {}),
    topology: {
      classRef: { name: 'cc' },
      version: 'v1.34.0',
      ...(opts.variables ? { variables: [{ name: 'vipAllocator', value: opts.variables }] } : {}),
    },
  },
});

/** A call as the server makes it: CAPI waits 10 s, nobody gives up, nothing is logged. */
export const testCall = (): CallContext => ({
  deadline: Date.now() + 10_000,
  signal: new AbortController().signal,
  log: winston.createLogger({ silent: true }),
});
