/**
 * `npm run demo`: the product end to end on the local control plane. Brings up the plane and the
 * extension, applies manifests/examples/, and prints when the Cluster was created, when it got its
 * VIP, and when its InfrastructureCluster was created (and with which endpoint).
 */
import {
  CoreV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  Watch,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { upExtension } from './control-plane/extension.js';
import { KUBECONFIG, ROOT } from './control-plane/paths.js';
import { loadKubeConfig, up } from './control-plane/plane.js';
import { eventually as until } from './fixtures/kube.js';

const NAMESPACE = 'vip-demo';
const EXAMPLES = path.join(ROOT, 'manifests/examples');
const VIP = 'vip.capi.gorizond.io/control-plane-vip';
const log = (message: string): void => void process.stdout.write(`${message}\n`);

interface Obj extends KubernetesObject {
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: {
    controlPlaneEndpoint?: { host?: string; port?: number };
    infrastructureRef?: { kind?: string; name?: string };
  };
}

async function main(): Promise<void> {
  const stderr = (m: string): void => void process.stderr.write(`${m}\n`);
  await up(stderr);
  await upExtension(stderr);
  const kc = loadKubeConfig();
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);

  // A fresh namespace each run, so the timeline starts from nothing.
  await core.deleteNamespace({ name: NAMESPACE }).catch(() => undefined);
  await until(
    'the previous demo namespace to go',
    async () =>
      (await core.readNamespace({ name: NAMESPACE }).then(
        () => false,
        () => true,
      )) || undefined,
  );
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });

  const born = new Map<string, { at: number; endpoint: unknown }>();
  const watch = await new Watch(kc).watch(
    `/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/${NAMESPACE}/dockerclusters`,
    {},
    (type: string, obj: Obj) => {
      if (type === 'ADDED' && !born.has(obj.metadata.name))
        born.set(obj.metadata.name, { at: Date.now(), endpoint: obj.spec?.controlPlaneEndpoint });
    },
    () => undefined,
  );

  const files = (await readdir(EXAMPLES))
    .filter((f) => f.endsWith('.yaml'))
    .sort((a, b) => (a === 'cluster.yaml' ? 1 : b === 'cluster.yaml' ? -1 : a.localeCompare(b)));
  let t0 = 0;
  for (const file of files) {
    for (const doc of loadAllYaml(await readFile(path.join(EXAMPLES, file), 'utf8')) as Obj[]) {
      if (doc.kind === 'Cluster') t0 = Date.now();
      // CAPI's webhook admits Clusters only once their ClusterClass was reconciled.
      await until(`${doc.kind} ${doc.metadata.name} to be admitted`, () => objects.create(doc));
    }
    log(`applied manifests/examples/${file}`);
  }
  const since = (t: number): string => `+${((t - t0) / 1000).toFixed(2)}s`.padStart(8);
  const read = (): Promise<Obj> =>
    objects.read({
      apiVersion: 'cluster.x-k8s.io/v1beta2',
      kind: 'Cluster',
      metadata: { name: 'demo-1', namespace: NAMESPACE },
    }) as Promise<Obj>;

  log('\nTimeline of Cluster vip-demo/demo-1');
  log(`${since(t0)}  Cluster created with no controlPlaneEndpoint`);
  const withVip = await until('the VIP on the Cluster', async () =>
    (await read()).metadata.annotations?.[VIP] ? read() : undefined,
  );
  const vipAt = Date.now();
  const ep = withVip.spec?.controlPlaneEndpoint;
  log(`${since(vipAt)}  Cluster has controlPlaneEndpoint ${ep?.host}:${ep?.port} (annotation ${VIP})`);
  const infra = await until(
    'the InfrastructureCluster',
    async () => (await read()).spec?.infrastructureRef?.name,
  );
  const first = await until('its first version', async () => born.get(infra));
  log(
    `${since(first.at)}  DockerCluster ${infra} created with controlPlaneEndpoint ${JSON.stringify(first.endpoint)}`,
  );
  watch.abort();

  log(`
Look around:
  export KUBECONFIG=${KUBECONFIG}
  kubectl -n ${NAMESPACE} get cluster demo-1 -o jsonpath='{.spec.controlPlaneEndpoint}'
  kubectl -n ${NAMESPACE} get ipaddressclaims,ipaddresses.ipam.cluster.x-k8s.io
  kubectl -n ${NAMESPACE} get dockerclusters -o yaml
  kubectl -n ${NAMESPACE} get events --field-selector reportingComponent=capi-vip-allocator
  kubectl -n ${NAMESPACE} delete cluster demo-1   # the address goes back to the pool
  npm run control-plane -- down`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
