/** Section 4 of the bench: resident memory of the floor and of a legacy-reconciler replica (the hook server's: main.ts). */
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { isNotFound } from '../../shared/kube/errors.js';
import { deploymentEnv } from '../control-plane/components.js';
import { BUNDLE, KUBECONFIG } from '../control-plane/paths.js';
import { log, sleep } from './common.js';
import { freshNamespace, kc } from './stage.js';

export const CACHED_OBJECTS = 10_000;

export function rssMiB(pid: number): number {
  const line =
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number(line.replace(/\D/g, '')) / 1024;
}

/** A process of the bundle with the given flags, its probes on 127.0.0.1:19490; resolves once it is ready. */
async function replica(flags: string[]): Promise<{ child: ReturnType<typeof execa> }> {
  const child = execa(
    process.execPath,
    [
      '--enable-source-maps',
      BUNDLE,
      `--kubeconfig=${KUBECONFIG}`,
      '--health-probe-bind-address=127.0.0.1:19490',
      '--metrics-bind-address=0',
      ...flags,
    ],
    { reject: false, stdout: 'ignore', stderr: 'ignore', env: deploymentEnv() },
  );
  while (
    !(await fetch('http://127.0.0.1:19490/readyz/informers').then(
      (r) => r.ok,
      () => false,
    ))
  )
    await sleep(200);
  await sleep(5_000);
  // Wrapped: execa's process is a promise, and an async function would wait for it to end.
  return { child };
}

/**
 * 4. The floor (the bundle with hooks and reconciler off: Node, client library, express, probes),
 * then a reconciler replica idle and with CACHED_OBJECTS Clusters and claims in its caches.
 */
export async function memory(): Promise<{ floor: number; idle: number; loaded: number }> {
  const ns = 'vip-bench-memory';
  await freshNamespace(ns);
  const { child: bare } = await replica(['--enable-runtime-extension=false', '--report-vip-answering=false']);
  const floor = rssMiB(bare.pid ?? 0);
  bare.kill('SIGKILL');
  await bare;
  const { child } = await replica(['--enable-runtime-extension=false', '--enable-reconciler']);
  const idle = rssMiB(child.pid ?? 0);
  const objects = KubernetesObjectApi.makeApiClient(kc());
  const BATCH = 100;
  for (let i = 0; i < CACHED_OBJECTS; i += BATCH) {
    if (i % 1000 === 0) log(`  ${i}/${CACHED_OBJECTS} Clusters and claims created`);
    await Promise.all(
      Array.from({ length: Math.min(BATCH, CACHED_OBJECTS - i) }, async (_, j) => {
        const name = `m-${i + j}`;
        const cluster = await objects.create({
          apiVersion: 'cluster.x-k8s.io/v1beta2',
          kind: 'Cluster',
          // Paused: CAPI leaves them be, so 10,000 of them do not load the 2 cores meanwhile.
          metadata: { name, namespace: ns, annotations: { 'cluster.x-k8s.io/paused': 'true' } },
          spec: {
            infrastructureRef: { apiGroup: 'infrastructure.cluster.x-k8s.io', kind: 'DockerCluster', name },
          },
        });
        await objects.create({
          apiVersion: 'ipam.cluster.x-k8s.io/v1beta2',
          kind: 'IPAddressClaim',
          metadata: {
            name: `vip-cp-${name}`,
            namespace: ns,
            labels: { 'vip.capi.gorizond.io/role': 'control-plane' },
            ownerReferences: [
              {
                apiVersion: 'cluster.x-k8s.io/v1beta2',
                kind: 'Cluster',
                name,
                uid: (cluster as KubernetesObject).metadata?.uid ?? '',
              },
            ],
          },
          spec: {
            clusterName: name,
            poolRef: { apiGroup: 'ipam.cluster.x-k8s.io', kind: 'InClusterIPPool', name: 'none' },
          },
        });
      }),
    );
  }
  await sleep(15_000);
  const loaded = rssMiB(child.pid ?? 0);
  child.kill('SIGKILL');
  await child;
  // CAPI gives even a paused Cluster its finalizer, and never removes it while it is paused: take
  // it off (nothing of theirs exists), or the namespace would never finish deleting. Delete them
  // first: CAPI puts back a finalizer taken off a live Cluster, and the API server refuses new
  // finalizers on one being deleted.
  await kc().makeApiClient(CustomObjectsApi).deleteCollectionNamespacedCustomObject({
    group: 'cluster.x-k8s.io',
    version: 'v1beta2',
    namespace: ns,
    plural: 'clusters',
  });
  for (let i = 0; i < CACHED_OBJECTS; i += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, CACHED_OBJECTS - i) }, (_, j) =>
        objects
          .patch(
            {
              apiVersion: 'cluster.x-k8s.io/v1beta2',
              kind: 'Cluster',
              metadata: { name: `m-${i + j}`, namespace: ns, finalizers: null },
            } as unknown as KubernetesObject,
            undefined,
            undefined,
            'capi-vip-allocator-bench',
            undefined,
            PatchStrategy.MergePatch,
          )
          // One that never had the finalizer is gone already.
          .catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          }),
      ),
    );
  }
  await kc().makeApiClient(CoreV1Api).deleteNamespace({ name: ns });
  return { floor, idle, loaded };
}
