/**
 * Every install path renders objects the real API server accepts (server-side dry-run, with CAPI's
 * webhooks and every CRD installed), and every rendered Deployment's args parse with the built program.
 */
import {
  CoreV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { binaryPath } from '../../hack/control-plane/build.js';
import { deploymentEnv, literalEnv } from '../../hack/control-plane/components.js';
import { kustomize, RELEASE_FILE, renderRelease } from '../../hack/release.js';
import { PINS } from '../../hack/versions.js';
import { kube } from '../../hack/fixtures/kube.js';

const { kc } = kube();
const objects = KubernetesObjectApi.makeApiClient(kc);
const core = kc.makeApiClient(CoreV1Api);

interface Rendered extends KubernetesObject {
  spec?: {
    template?: { spec?: { containers?: { args?: string[]; env?: { name: string; value?: string }[] }[] } };
  };
}

const parse = (text: string): Rendered[] => (loadAllYaml(text) as Rendered[]).filter((o) => o?.kind);

async function helm(namespace: string, ...sets: string[]): Promise<Rendered[]> {
  const chart = path.resolve('manifests/helm/capi-vip-allocator');
  const args = [
    'template',
    'vip',
    chart,
    '-n',
    namespace,
    '--kube-version',
    '1.36.5',
    ...sets.flatMap((s) => ['--set', s]),
  ];
  return parse((await execa(binaryPath(PINS.helm, 'helm'), args)).stdout);
}

async function ensureNamespace(name: string): Promise<void> {
  await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
}

/** Server-side apply with dryRun=All: admission, schema and CAPI's webhooks judge every object. */
async function dryRun(rendered: Rendered[]): Promise<string[]> {
  const namespaces = new Set(
    rendered.map((o) => o.metadata?.namespace).filter((n): n is string => Boolean(n)),
  );
  for (const ns of namespaces) await ensureNamespace(ns);
  const refused: string[] = [];
  for (const item of rendered) {
    // The plane's own ExtensionConfig and Cluster-endpoint webhook (npm run control-plane -- up
    // --extension) hold these names; a fresh install would not meet them, so the dry-run uses others.
    const obj =
      item.kind === 'ExtensionConfig' || item.kind === 'MutatingWebhookConfiguration'
        ? { ...item, metadata: { ...item.metadata, name: `${item.metadata?.name}-install-test` } }
        : item;
    try {
      await objects.patch(
        obj,
        undefined,
        'All',
        'capi-vip-allocator-tests',
        true,
        PatchStrategy.ServerSideApply,
      );
    } catch (err) {
      refused.push(`${obj.kind} ${obj.metadata?.name}: ${(err as { body?: string }).body ?? String(err)}`);
    }
  }
  return refused;
}

/**
 * The Deployment's args and environment, given to the built program with --help: exit 0 means node
 * took the options and every flag parsed. The local plane runs our process with the same environment.
 */
async function argsParse(rendered: Rendered[]): Promise<void> {
  const container = rendered.find((o) => o.kind === 'Deployment')?.spec?.template?.spec?.containers?.[0];
  const args = container?.args ?? [];
  expect(args.length).toBeGreaterThan(3);
  const env = literalEnv(container?.env);
  expect(env).toEqual(deploymentEnv());
  expect(Object.keys(env).sort()).toEqual(['MALLOC_ARENA_MAX', 'NODE_OPTIONS']);
  const { exitCode, stderr } = await execa(
    process.execPath,
    ['dist/capi-vip-allocator.mjs', ...args, '--help'],
    {
      reject: false,
      env,
    },
  );
  expect({ exitCode, stderr }).toEqual({ exitCode: 0, stderr: '' });
}

const kinds = (rendered: Rendered[]): string[] => rendered.map((o) => o.kind ?? '').sort();

test('the kustomize base has every object and the API server accepts them', async () => {
  const rendered = parse(await kustomize('base'));
  expect(kinds(rendered)).toEqual(
    [
      'Certificate',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'ExtensionConfig',
      'Issuer',
      'MutatingWebhookConfiguration',
      'Namespace',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'Service',
      'ServiceAccount',
    ].sort(),
  );
  const extensionConfig = rendered.find((o) => o.kind === 'ExtensionConfig');
  expect(extensionConfig?.metadata?.namespace).toBeUndefined();
  expect(await dryRun(rendered)).toEqual([]);
  await argsParse(rendered);
});

test('the release file is the rendered base, and the API server accepts it', async () => {
  const committed = readFileSync(RELEASE_FILE, 'utf8');
  expect(committed).toBe(await renderRelease()); // else: npm run release-manifests
  expect(await dryRun(parse(committed))).toEqual([]);
});

test('the optional ServiceMonitor is accepted', async () => {
  expect(await dryRun(parse(await kustomize('prometheus')))).toEqual([]);
});

test('the Helm chart with default values', async () => {
  const rendered = await helm('vip-helm-default');
  expect(kinds(rendered)).toContain('ExtensionConfig');
  expect(await dryRun(rendered)).toEqual([]);
  await argsParse(rendered);
});

test('the Helm chart without the Cluster-endpoint webhook', async () => {
  const rendered = await helm('vip-helm-no-webhook', 'endpointAtCreate=false');
  expect(kinds(rendered)).not.toContain('MutatingWebhookConfiguration');
  const args = rendered.find((o) => o.kind === 'Deployment')?.spec?.template?.spec?.containers?.[0]?.args;
  expect(args).toContain('--endpoint-at-create=false');
  await argsParse(rendered);
});

test('the Helm chart with every option turned', async () => {
  const rendered = await helm(
    'vip-helm-custom',
    'replicaCount=3',
    'reconciler.enabled=true',
    'reconciler.deleteOrphanClaims=true',
    'reconciler.orphanClaimGrace=30m',
    'leaderElectLeaseDuration=20s',
    'allocationWait=3s',
    'defaultPort=7443',
    'logFormat=text',
    'poolKinds={InClusterIPPool.v1alpha2.ipam.cluster.x-k8s.io}',
    'tls.source=secret',
    'tls.secretName=my-cert',
    'metrics.serviceMonitor.enabled=true',
    'networkPolicy.enabled=false',
    'runtimeExtension.name=vips',
    'runtimeExtension.extensionConfigName=vips',
    'runtimeExtension.namespaceSelector.matchLabels.vip=enabled',
  );
  expect(kinds(rendered)).toContain('ServiceMonitor');
  expect(kinds(rendered)).toContain('MutatingWebhookConfiguration');
  expect(kinds(rendered)).not.toContain('Certificate');
  expect(kinds(rendered)).not.toContain('NetworkPolicy');
  expect(await dryRun(rendered)).toEqual([]);
  await argsParse(rendered);
});

test('the image runs the same executable as npm start', () => {
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
  expect(dockerfile).toContain('ENTRYPOINT ["node", "--enable-source-maps", "dist/capi-vip-allocator.mjs"]');
  expect(pkg.scripts.start).toBe('node --enable-source-maps dist/capi-vip-allocator.mjs');
  expect(existsSync('dist/capi-vip-allocator.mjs')).toBe(true);
  // One bundled file: the runtime stage copies dist/ and no node_modules.
  expect(dockerfile).not.toMatch(/COPY --from=build \S*node_modules/);
});
