/**
 * The bench's client and stage: its own kubeconfig (so the audit log tells its requests from the
 * plane's), fresh namespaces, and a namespace staged with the CAPD class, pools and the watches
 * that time each Cluster's VIP and InfrastructureCluster.
 */
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ANNOTATION_RESERVE } from '../../shared/vip.js';
import { BENCH_USER } from '../audit.js';
import { HOST, PLANE_DIR, PORTS } from '../control-plane/paths.js';
import { ensurePki, issue, kubeconfig } from '../control-plane/pki.js';
import { clusterClass, inClusterIPPool, topologyCluster, vipLabels } from '../fixtures/fixtures.js';
import { FirstVersions } from '../fixtures/vip.js';
import { sleep } from './common.js';

/** The bench's own kubeconfig (client certificate BENCH_USER): the audit log tells its requests from ours. */
export const BENCH_KUBECONFIG = path.join(PLANE_DIR, 'bench.kubeconfig');
export function kc(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(BENCH_KUBECONFIG);
  return config;
}

export async function writeBenchKubeconfig(): Promise<void> {
  const pki = await ensurePki();
  const bench = await issue(
    'bench',
    { commonName: BENCH_USER, organization: 'system:masters', usage: 'client' },
    pki.ca,
  );
  const server = `https://${HOST}:${PORTS.apiserver}`;
  await writeFile(BENCH_KUBECONFIG, await kubeconfig('capi-vip-allocator-bench', server, pki.ca, bench), {
    mode: 0o600,
  });
}

export async function freshNamespace(name: string): Promise<void> {
  const core = kc().makeApiClient(CoreV1Api);
  await core.deleteNamespace({ name }).catch(() => undefined);
  while (
    await core.readNamespace({ name }).then(
      () => true,
      () => false,
    )
  )
    await sleep(250);
  await core.createNamespace({ body: { metadata: { name } } });
}

/**
 * A namespace with the CAPD class and a pool (and an ingress pool when `ingressCidr` is given), and
 * a watch recording each DockerCluster's birth. Without `cidr`, the class does not use us at all
 * (no pool, no patch of ours): the CAPI-only floor.
 */
export async function stage(
  namespace: string,
  { cidr, ingressCidr, reserve }: { cidr?: string; ingressCidr?: string; reserve?: number },
) {
  await freshNamespace(namespace);
  const objects = KubernetesObjectApi.makeApiClient(kc());
  const ingressLabels = { ...vipLabels('bench'), 'vip.capi.gorizond.io/role': 'ingress' };
  for (const o of [
    ...clusterClass('capd', namespace, 'bench', cidr ? {} : { vipPatch: false }),
    ...(cidr
      ? [
          inClusterIPPool(namespace, 'bench', [cidr], {
            labels: vipLabels('bench'),
            ...(reserve ? { annotations: { [ANNOTATION_RESERVE]: String(reserve) } } : {}),
          }),
        ]
      : []),
    ...(ingressCidr
      ? [inClusterIPPool(namespace, 'bench-ingress', [ingressCidr], { labels: ingressLabels })]
      : []),
  ]) {
    await objects.create(o);
  }
  // Resumes after a dropped watch, so no birth is missed (hack/fixtures/vip.ts).
  const firsts = await FirstVersions.start('capd', namespace);
  /** When a Cluster's DockerCluster first appeared, and the host it was born with. */
  const born = (cluster: string): { at: number; host?: string } | undefined => {
    for (const [name, obj] of firsts.first) {
      if (obj.metadata.labels?.['cluster.x-k8s.io/cluster-name'] !== cluster) continue;
      const spec = obj.spec as { controlPlaneEndpoint?: { host?: string } } | undefined;
      return { at: firsts.at.get(name) ?? 0, host: spec?.controlPlaneEndpoint?.host };
    }
    return undefined;
  };
  const create = async (name: string, endpoint?: { host: string; port: number }): Promise<number> => {
    const cluster = topologyCluster(namespace, name, 'bench');
    if (endpoint) cluster.spec = { ...cluster.spec, controlPlaneEndpoint: endpoint };
    for (let tries = 0; ; tries++) {
      try {
        await objects.create(cluster);
        return Date.now();
      } catch (err) {
        if (tries > 200) throw err;
        await sleep(100); // the class is not reconciled yet
      }
    }
  };
  // The Cluster versions that first carried each VIP, by watch: polling with GETs would load the
  // API server the run measures.
  const clusters = { apiVersion: 'cluster.x-k8s.io/v1beta2', kind: 'Cluster', plural: 'clusters' };
  const annotated = (key: string) => (o: { metadata: { annotations?: Record<string, string> } }) =>
    Boolean(o.metadata.annotations?.[key]);
  const vips = await FirstVersions.start('capd', namespace, clusters, annotated(VIP));
  const ingressVips = await FirstVersions.start('capd', namespace, clusters, annotated(INGRESS_VIP));
  const stop = (): void => [firsts, vips, ingressVips].forEach((w) => w.stop());
  /** When the Cluster first carried `key`, and its value then. */
  const seen = (name: string, key: string): { at: number; value: string } | undefined => {
    const w = key === VIP ? vips : ingressVips;
    const value = w.first.get(name)?.metadata.annotations?.[key];
    return value ? { at: w.at.get(name) ?? 0, value } : undefined;
  };
  return { objects, born, firsts, create, seen, stop };
}

export const VIP = 'vip.capi.gorizond.io/control-plane-vip';
export const INGRESS_VIP = 'vip.capi.gorizond.io/ingress-vip';
