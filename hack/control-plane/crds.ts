import {
  ApiextensionsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { crdSources, type CapiRelease } from '../versions.js';
import { moduleDir } from './build.js';
import { HOST, PORTS, ROOT, type Log } from './paths.js';
import { base64, type Pki } from './pki.js';

const FIELD_MANAGER = 'capi-vip-allocator-control-plane';
const CAPI_WEBHOOK_URL = `https://${HOST}:${PORTS.capiWebhook}`;

/** The webhook configurations of each manager the plane runs, as their releases name them. */
const webhooks = (capi: CapiRelease) => [
  { file: capi.coreWebhooks, prefix: 'capi-', url: CAPI_WEBHOOK_URL },
  {
    file: 'controlplane/kubeadm/config/webhook/manifests.yaml',
    prefix: 'capi-kubeadm-control-plane-',
    url: `https://${HOST}:${PORTS.kcpWebhook}`,
  },
];

async function readYamlDir(dir: string, only?: readonly string[]): Promise<KubernetesObject[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml') && (!only || only.includes(f))).sort();
  const docs = await Promise.all(
    files.map(async (f) => loadAllYaml(await readFile(path.join(dir, f), 'utf8'))),
  );
  return docs.flat().filter((d): d is KubernetesObject => Boolean(d && typeof d === 'object' && 'kind' in d));
}

/** The same rewrite envtest does: CAPI's webhook Service becomes a loopback URL with our CA. */
function loopbackClientConfig(
  servicePath: string,
  caBundle: string,
  base = CAPI_WEBHOOK_URL,
): { url: string; caBundle: string } {
  return { url: `${base}${servicePath}`, caBundle };
}

async function serverSideApply(client: KubernetesObjectApi, obj: KubernetesObject): Promise<void> {
  await client.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

async function waitEstablished(api: ApiextensionsV1Api, names: readonly string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline)
        throw new Error(`CustomResourceDefinition ${name} is not Established after 60s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Installs every CRD from the pinned modules' caches with the contract labels their releases add,
 * and registers CAPI's conversion, defaulting and validating webhooks on loopback.
 */
export async function installCrdsAndWebhooks(
  kc: KubeConfig,
  pki: Pki,
  log: Log,
  capi: CapiRelease,
): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const caBundle = await base64(pki.ca.cert);
  const names: string[] = [];
  for (const source of crdSources(capi)) {
    const root = source.pin ? await moduleDir(source.pin) : ROOT;
    for (const dir of source.dirs) {
      for (const doc of await readYamlDir(path.join(root, dir), source.only)) {
        if (doc.kind !== 'CustomResourceDefinition') continue;
        const crd = doc as V1CustomResourceDefinition;
        crd.metadata = { ...crd.metadata, labels: { ...crd.metadata?.labels, ...source.contractLabels } };
        if (source.capiConversion && crd.spec.versions.length > 1) {
          crd.spec.conversion = {
            strategy: 'Webhook',
            webhook: {
              conversionReviewVersions: ['v1'],
              clientConfig: loopbackClientConfig('/convert', caBundle),
            },
          };
        }
        await serverSideApply(client, crd);
        names.push(crd.metadata.name ?? '');
      }
    }
  }
  await waitEstablished(kc.makeApiClient(ApiextensionsV1Api), names);
  log(`  Installed ${names.length} CRDs`);

  for (const { file, prefix, url } of webhooks(capi)) {
    const configs = loadAllYaml(await readFile(path.join(await moduleDir(capi.pin), file), 'utf8'));
    for (const config of configs as WebhookConfiguration[]) {
      if (!config?.kind) continue;
      // The releases prefix the names; keep that so the objects look like a real install.
      config.metadata = { ...config.metadata, name: `${prefix}${config.metadata?.name ?? ''}` };
      for (const hook of config.webhooks ?? []) {
        hook.clientConfig = loopbackClientConfig(hook.clientConfig.service?.path ?? '/', caBundle, url);
      }
      await serverSideApply(client, config);
    }
    log(`  Registered ${file.split('/config/')[0]} webhooks at ${url}`);
  }
}

interface WebhookConfiguration extends KubernetesObject {
  webhooks?: { clientConfig: { service?: { path?: string }; url?: string; caBundle?: string } }[];
}
