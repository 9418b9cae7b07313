/** For the hooks' unit tests: a BeforeClusterCreate on the in-memory store as main.ts wires it, and a call. */
import type { Allocator } from '../../shared/allocator/allocator.js';
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

/** A call as the server makes it: CAPI waits 10 s, nobody gives up, nothing is logged. */
export const testCall = (): CallContext => ({
  deadline: Date.now() + 10_000,
  signal: new AbortController().signal,
  log: winston.createLogger({ silent: true }),
});
