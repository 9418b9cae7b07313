import {
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject,
  type V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import https from 'node:https';
import { CLUSTER_ENDPOINT_PATH } from '../../extension/admission/cluster-endpoint/shell.js';
import { HOOKS_API_VERSION } from '../../shared/kube/types.js';
import { EXTENSION_NAME, extension } from './components.js';
import { HOST, PORTS, ROOT, type Log } from './paths.js';
import { base64, ensurePki } from './pki.js';
import { launch, loadKubeConfig, readState, stopComponent, writeState } from './plane.js';
import { stop } from './processes.js';

/** The ExtensionConfig name: handlers register as `<handler>.vip-allocator`. */
export const EXTENSION_CONFIG = 'vip-allocator';

/** The MutatingWebhookConfiguration that sets a new Cluster's endpoint in its create (as installed). */
export const CLUSTER_ENDPOINT_WEBHOOK = 'capi-vip-allocator-cluster-endpoint';

/**
 * The installed webhook (manifests/base, so its rules and policies are written once), called at our
 * host process's URL with the plane's CA instead of through the Service with cert-manager's.
 */
async function clusterEndpointWebhook(caBundle: string): Promise<V1MutatingWebhookConfiguration> {
  const [installed] = loadAllYaml(
    await readFile(path.join(ROOT, 'manifests/base/mutatingwebhookconfiguration.yaml'), 'utf8'),
  ) as V1MutatingWebhookConfiguration[];
  if (!installed?.webhooks?.length)
    throw new Error('manifests/base/mutatingwebhookconfiguration.yaml: no webhook');
  return {
    ...installed,
    metadata: { name: CLUSTER_ENDPOINT_WEBHOOK },
    webhooks: installed.webhooks.map((w) => ({
      ...w,
      clientConfig: { url: `https://${HOST}:${PORTS.extension}${CLUSTER_ENDPOINT_PATH}`, caBundle },
    })),
  };
}

interface ExtensionConfig extends KubernetesObject {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: {
    clientConfig: { url: string; caBundle: string };
    namespaceSelector: Record<string, never>;
  };
  status?: {
    handlers?: { name: string }[];
    conditions?: { type: string; status: string; message?: string }[];
  };
}

const RESTARTED_AT = 'capi-vip-allocator.dev/restarted-at';

/** The handler names our running process serves, from its own discovery endpoint. */
function servedHandlers(caFile: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `https://${HOST}:${PORTS.extension}/${HOOKS_API_VERSION}/discovery`,
      { method: 'POST', ca: readFileSync(caFile), headers: { 'content-type': 'application/json' } },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => {
          try {
            resolve(
              ((JSON.parse(data) as { handlers?: { name: string }[] }).handlers ?? []).map((h) => h.name),
            );
          } catch (err) {
            reject(
              new Error(`Discovery of our own process answered ${res.statusCode}: ${data.slice(0, 200)}`, {
                cause: err,
              }),
            );
          }
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ apiVersion: HOOKS_API_VERSION, kind: 'DiscoveryRequest' }));
  });
}

/**
 * Builds and starts our process against the running plane and registers it with CAPI (its
 * ExtensionConfig) and with the API server (the cluster-endpoint MutatingWebhookConfiguration).
 */
export async function upExtension(log: Log): Promise<void> {
  const state = await readState();
  if (!state) throw new Error('The control plane is not running: run `npm run control-plane -- up` first');
  const pki = await ensurePki();
  // Always the current code: rebuilt and restarted (a few seconds), unlike the plane itself.
  const existing = state.components.find((c) => c.name === EXTENSION_NAME);
  if (existing) {
    await stop(existing);
    state.components.splice(state.components.indexOf(existing), 1);
    await writeState(state);
  }
  log('Building the extension (npm run build)');
  await execa('npm', ['run', 'build'], { cwd: ROOT });
  await launch(extension(pki), pki, state, log);

  const client = KubernetesObjectApi.makeApiClient(loadKubeConfig());
  const serving = await servedHandlers(pki.ca.cert);
  const caBundle = await base64(pki.ca.cert);
  const config: ExtensionConfig = {
    apiVersion: 'runtime.cluster.x-k8s.io/v1beta2',
    kind: 'ExtensionConfig',
    // A changed object makes CAPI discover again: the rebuilt process may serve other handlers.
    metadata: { name: EXTENSION_CONFIG, annotations: { [RESTARTED_AT]: new Date().toISOString() } },
    spec: {
      clientConfig: { url: `https://${HOST}:${PORTS.extension}`, caBundle },
      // Nothing defaults the selector without CAPI's webhooks, and a nil one matches no namespace.
      namespaceSelector: {},
    },
  };
  await client.patch(
    config,
    undefined,
    undefined,
    'capi-vip-allocator-control-plane',
    true,
    PatchStrategy.ServerSideApply,
  );
  await client.patch(
    await clusterEndpointWebhook(caBundle),
    undefined,
    undefined,
    'capi-vip-allocator-control-plane',
    true,
    PatchStrategy.ServerSideApply,
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    const current = (await client.read(
      config as KubernetesObject & { metadata: { name: string } },
    )) as ExtensionConfig;
    const discovered = current.status?.conditions?.find((c) => c.type === 'Discovered');
    const known = new Set((current.status?.handlers ?? []).map((h) => h.name.split('.')[0]));
    if (discovered?.status === 'True' && serving.every((h) => known.has(h))) {
      log(`  CAPI discovered ${[...known].join(', ')}`);
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `CAPI did not discover ExtensionConfig ${EXTENSION_CONFIG} within 60s: ${discovered?.message ?? 'no Discovered condition'}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Stops our host process and removes its ExtensionConfig and MutatingWebhookConfiguration, so that
 * only an installed extension (the Pods on the plane's node) answers CAPI and the API server, and an
 * install meets neither name taken; `upExtension` brings all three back.
 */
export async function downExtension(log: Log): Promise<void> {
  await stopComponent(EXTENSION_NAME, log);
  const client = KubernetesObjectApi.makeApiClient(loadKubeConfig());
  for (const registration of [
    {
      apiVersion: 'runtime.cluster.x-k8s.io/v1beta2',
      kind: 'ExtensionConfig',
      metadata: { name: EXTENSION_CONFIG },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: CLUSTER_ENDPOINT_WEBHOOK },
    },
  ]) {
    await client.delete(registration).catch((err: unknown) => {
      if ((err as { code?: number }).code !== 404) throw err;
    });
  }
}
