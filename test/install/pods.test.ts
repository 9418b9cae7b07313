/**
 * Run as users run it: the image, in Pods of the Deployment the install manifests make, behind
 * their Service, with cert-manager's Certificate and the CA CAPI injects; the host's CAPI manager
 * calls the Pods through the Service. On the plane's node (`npm run control-plane -- up --node`).
 * The plane's own host process is stopped for the suite, so only the Pods can answer CAPI, and
 * started again after it.
 */
import { DiscoveryV1Api, PatchStrategy } from '@kubernetes/client-node';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binaryPath, moduleDir } from '../../hack/control-plane/build.js';
import { downExtension } from '../../hack/control-plane/extension.js';
import {
  BRIDGE,
  importImage,
  kubectl,
  kubectlOk,
  NODE_NAME,
  nodeUnavailable,
  SERVICE_CIDR,
} from '../../hack/control-plane/node.js';
import { clusterClass, inClusterIPPool, vipLabels, type Obj } from '../../hack/fixtures/fixtures.js';
import {
  createNamespace,
  deleteNamespace,
  eventually,
  kube,
  readOrUndefined,
} from '../../hack/fixtures/kube.js';
import {
  createCluster,
  deleteCluster,
  untilTopologySays,
  VIP_ANNOTATION,
  waitForTopology,
} from '../../hack/fixtures/vip.js';
import { buildImages, IMAGE, IMAGE_TAR, VERSION } from '../../hack/image.js';
import {
  DEPLOYMENT,
  installedPods,
  leaseHolder,
  rolledOut,
  rolloutRestart,
  runSuitesAgainstPods,
} from '../../hack/fixtures/extension.js';
import { controlPlane } from '../../hack/fixtures/control-plane.js';
import { discover } from '../../hack/fixtures/hooks.js';
import { sample, scrape } from '../../hack/fixtures/metrics.js';
import { CAPI_VERSION, capiRelease, PINS } from '../../hack/versions.js';
import { KUBECONFIG as PLANE_KUBECONFIG } from '../../hack/control-plane/paths.js';

const unavailable = await nodeUnavailable();
if (unavailable) process.stderr.write(`test/install/pods skipped: ${unavailable}\n`);
const suite = unavailable ? describe.skip : describe;

const SYSTEM = 'capi-vip-allocator-system';
const SERVICE = 'capi-vip-allocator-webhook-service';
/** The name CAPI calls: service-hosts keeps it in /etc/hosts, as cluster DNS would resolve it. */
const SERVICE_HOST = `${SERVICE}.${SYSTEM}.svc`;
const RELEASE = path.resolve('manifests/release/capi-vip-allocator.yaml');
const CHART = path.resolve('manifests/helm/capi-vip-allocator');
const log = (m: string): void => void process.stderr.write(`${m}\n`);
const { objects } = kube();

const helm = (...args: string[]) =>
  execa(binaryPath(PINS.helm, 'helm'), args, { env: { KUBECONFIG: PLANE_KUBECONFIG }, reject: false });

async function must(result: Promise<{ exitCode?: number; stdout: string; stderr: string }>, what: string) {
  const r = await result;
  if (r.exitCode !== 0) throw new Error(`${what} failed (${r.exitCode}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

interface ExtensionConfig extends Obj {
  spec?: { clientConfig?: { caBundle?: string; service?: { name: string; namespace: string } } };
  status?: {
    handlers?: { name: string }[];
    conditions?: { type: string; status: string; message?: string }[];
  };
}

/** CAPI discovered our handlers through the Service, with the CA it injected from the Secret. */
async function discovered(): Promise<ExtensionConfig> {
  return eventually(
    'CAPI to discover the handlers through the Service',
    async () => {
      const ec = await readOrUndefined<ExtensionConfig>({
        apiVersion: 'runtime.cluster.x-k8s.io/v1beta2',
        kind: 'ExtensionConfig',
        metadata: { name: 'vip-allocator' },
      });
      const ok = ec?.status?.conditions?.find((c) => c.type === 'Discovered')?.status === 'True';
      return ok && ec?.spec?.clientConfig?.caBundle && (ec.status?.handlers?.length ?? 0) >= 3
        ? ec
        : undefined;
    },
    180_000,
  );
}

/** The JSON lines of our log (each from its first `{`: `kubectl logs --prefix` puts the Pod first). */
const jsonLines = (log: string): Record<string, unknown>[] =>
  log.split('\n').flatMap((l) => {
    try {
      return [JSON.parse(l.slice(l.indexOf('{'))) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

/** A namespace with a pool and a class our hooks serve; the Clusters it makes get their VIP from us. */
async function tenant(prefix: string, range: string): Promise<string> {
  const ns = await createNamespace(prefix);
  for (const o of [
    ...clusterClass('capd', ns, 'onprem'),
    inClusterIPPool(ns, 'vips', [range], { labels: vipLabels('onprem') }),
  ]) {
    await objects.create(o);
  }
  return ns;
}

async function vipOf(ns: string, name: string): Promise<string> {
  await createCluster(ns, name, 'onprem');
  const cluster = await waitForTopology(ns, name);
  const vip = cluster.metadata.annotations?.[VIP_ANNOTATION] ?? '';
  expect(cluster.spec?.controlPlaneEndpoint).toEqual({ host: vip, port: 6443 });
  return vip;
}

suite('installed as users install it, on a real node', () => {
  beforeAll(async () => {
    // Adds the node to the running plane (built once, cached); keeps it when already there.
    await controlPlane(['up', '--node']);
    await buildImages(log);
    await importImage(IMAGE_TAR);
    // Only the Pods may answer CAPI from here on.
    await downExtension(log);
  }, 3_600_000);

  afterAll(async () => {
    await kubectl('delete', '-f', RELEASE, '--ignore-not-found', '--wait=false');
    await helm('uninstall', 'vip', '-n', 'capi-vip-allocator-helm', '--wait');
    await kubectl('uncordon', NODE_NAME);
    // The host's process again, for the suites after this one.
    await controlPlane(['up', '--extension']);
  }, 600_000);

  describe('kubectl apply of the release YAML, unchanged', () => {
    let ns: string;
    beforeAll(async () => {
      // The image the release YAML names is the one built here.
      expect(readFileSync(RELEASE, 'utf8')).toContain(`image: ${IMAGE}`);
      await kubectlOk('apply', '-f', RELEASE);
      ns = await tenant('install-yaml', '10.26.0.10-10.26.0.13');
    }, 600_000);
    afterAll(() => deleteNamespace(ns));

    test('cert-manager issues the Certificate, the Deployment rolls out, CAPI discovers through the Service', async () => {
      await kubectlOk(
        'wait',
        '--for=condition=Ready',
        'certificate/capi-vip-allocator-serving-cert',
        '-n',
        SYSTEM,
        '--timeout=120s',
      );
      await rolledOut(SYSTEM);
      const ec = await discovered();
      expect(ec.spec?.clientConfig?.service).toMatchObject({
        name: 'capi-vip-allocator-webhook-service',
        namespace: SYSTEM,
      });
      // Every container runs as the Deployment says: UID 65532, read-only root, nothing more.
      const pods = await installedPods(SYSTEM);
      expect(pods).toHaveLength(2);
      const uid = await kubectlOk('exec', '-n', SYSTEM, pods[0]?.name ?? '', '--', 'id', '-u');
      expect(uid.trim()).toBe('65532');
    });

    test('a Cluster gets its VIP from the Pods', async () => {
      const vip = await vipOf(ns, 'alpha');
      expect(vip).toMatch(/^10\.26\.0\.1[0-3]$/);
      const logs = await kubectlOk(
        'logs',
        '-n',
        SYSTEM,
        '-l',
        'app.kubernetes.io/name=capi-vip-allocator',
        '--tail=-1',
        '--prefix',
      );
      // CAPI called a Pod: its log has the hook's line for this Cluster (CAPI's log conventions).
      expect(jsonLines(logs)).toContainEqual(
        expect.objectContaining({
          hook: 'BeforeClusterCreate',
          outcome: 'Success',
          Cluster: { name: 'alpha', namespace: ns },
        }),
      );
    });

    test('a rollout restart: each old replica leaves the Service before it stops answering, and no hook call through the Service fails', async () => {
      const ec = await discovered();
      const tls = {
        ca: Buffer.from(ec.spec?.clientConfig?.caBundle ?? '', 'base64'),
        servername: SERVICE_HOST,
      };
      const old = (await installedPods(SYSTEM)).filter((p) => p.ip);
      // Per old replica: when the Service's EndpointSlice stopped offering it, and when it stopped answering.
      const left = new Map<string, number>();
      const stopped = new Map<string, number>();
      const failures: string[] = [];
      let calls = 0;
      let watching = true;
      const every100ms = async (step: () => Promise<void>) => {
        while (watching) {
          await step();
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      const watchers = [
        every100ms(async () => {
          calls++;
          await discover(`https://${SERVICE_HOST}:443`, tls).then(
            (a) => void (a.code === 200 || failures.push(`HTTP ${a.code}`)),
            (e: Error) => void failures.push(e.message),
          );
        }),
        every100ms(async () => {
          const slices = await kube()
            .kc.makeApiClient(DiscoveryV1Api)
            .listNamespacedEndpointSlice({
              namespace: SYSTEM,
              labelSelector: `kubernetes.io/service-name=${SERVICE}`,
            });
          const offered = new Set(
            slices.items.flatMap((s) =>
              (s.endpoints ?? []).filter((e) => e.conditions?.ready).flatMap((e) => e.addresses),
            ),
          );
          for (const p of old)
            if (!offered.has(p.ip ?? '') && !left.has(p.name)) left.set(p.name, Date.now());
        }),
        ...old.map((p) =>
          every100ms(async () => {
            if (stopped.has(p.name)) return;
            await discover(`https://${p.ip}:9443`, tls).catch(() => void stopped.set(p.name, Date.now()));
          }),
        ),
      ];
      try {
        await rolloutRestart(SYSTEM);
        await eventually(
          'every old replica to stop answering',
          async () => (old.every((p) => stopped.has(p.name)) ? true : undefined),
          120_000,
        );
      } finally {
        watching = false;
        await Promise.all(watchers);
      }
      for (const p of old) {
        expect({
          pod: p.name,
          leftFirst: (left.get(p.name) ?? Infinity) < (stopped.get(p.name) ?? 0),
        }).toEqual({
          pod: p.name,
          leftFirst: true,
        });
      }
      expect(failures).toEqual([]);
      expect(calls).toBeGreaterThan(20);
    });

    test('RBAC without list on Clusters: the replicas stay live and Ready, say which cache waits and why; a Cluster of ours says it, other classes are created; allowed again, the cache catches up', async () => {
      const clusters = 'clusters.cluster.x-k8s.io';
      for (const o of clusterClass('capd', ns, 'bystander', { vipPatch: false })) await objects.create(o);
      // The first rule is Clusters' (get, list, watch, patch).
      await kubectlOk(
        'patch',
        'clusterrole',
        DEPLOYMENT,
        '--type=json',
        '-p',
        JSON.stringify([
          { op: 'test', path: '/rules/0/resources', value: ['clusters'] },
          { op: 'replace', path: '/rules/0/verbs', value: ['get', 'patch'] },
        ]),
      );
      try {
        // Readiness does not wait for a cache, so the rollout completes.
        await rolloutRestart(SYSTEM);
        // Past the liveness probe's whole budget (10 s delay, three misses 10 s apart).
        await new Promise((r) => setTimeout(r, 45_000));
        const pods = await installedPods(SYSTEM);
        expect(pods.map((p) => ({ ready: p.ready, restarts: p.restarts }))).toEqual([
          { ready: true, restarts: 0 },
          { ready: true, restarts: 0 },
        ]);
        for (const p of pods) {
          const informers = await fetch(`http://${p.ip}:8081/readyz/informers`);
          expect(informers.status).toBe(503);
          const metrics = await scrape(p.metricsPort ?? 8080, p.ip);
          expect(sample(metrics, 'capi_vip_allocator_informer_synced', { resource: clusters })).toBe(0);
          // One line names the cache and why: the API server's Forbidden for the list.
          const log = await kubectlOk('logs', '-n', SYSTEM, p.name);
          expect(jsonLines(log)).toContainEqual(
            expect.objectContaining({
              level: 'warn',
              msg: 'Watch restarting',
              resource: 'clusters',
              error: expect.stringMatching(/cannot list resource "clusters"/),
            }),
          );
        }
        // The hook lists Clusters too (the address another Cluster carries): a Cluster of ours waits,
        // and CAPI shows why on it; a class that does not use us is not held up.
        await createCluster(ns, 'delta', 'onprem');
        await untilTopologySays(ns, 'delta', 'cannot list resource "clusters"');
        await createCluster(ns, 'bystander-1', 'bystander');
        expect(
          (await waitForTopology(ns, 'bystander-1')).metadata.annotations?.[VIP_ANNOTATION],
        ).toBeUndefined();
      } finally {
        await kubectlOk('apply', '-f', RELEASE);
      }
      // Allowed again: the informer lists on its next retry (30 s apart at most), without a restart.
      for (const p of await installedPods(SYSTEM)) {
        await eventually(
          `${p.name}'s Cluster cache to be listed`,
          async () => ((await fetch(`http://${p.ip}:8081/readyz/informers`)).ok ? true : undefined),
          90_000,
        );
      }
      expect((await installedPods(SYSTEM)).map((p) => p.restarts)).toEqual([0, 0]);
    }, 400_000);

    test('the leader Pod deleted: the other takes the Lease, and the next Cluster gets another address', async () => {
      const holder = await eventually('a Lease holder', async () => (await leaseHolder(SYSTEM)) || undefined);
      const leaderPod = (await installedPods(SYSTEM))
        .map((p) => p.name)
        .find((p) => holder.startsWith(`${p}-`));
      expect(leaderPod).toBeDefined();
      await kubectlOk('delete', 'pod', '-n', SYSTEM, leaderPod ?? '', '--wait=false');
      const beta = vipOf(ns, 'beta');
      const next = await eventually(
        'another replica to take the Lease',
        async () => {
          const h = await leaseHolder(SYSTEM);
          return h && !h.startsWith(leaderPod ?? '') ? h : undefined;
        },
        120_000,
      );
      expect(next).not.toContain(leaderPod);
      const [first, second] = [
        (
          await readOrUndefined<Obj & { metadata: { annotations?: Record<string, string> } }>({
            apiVersion: 'cluster.x-k8s.io/v1beta2',
            kind: 'Cluster',
            metadata: { name: 'alpha', namespace: ns },
          })
        )?.metadata.annotations?.[VIP_ANNOTATION],
        await beta,
      ];
      expect(second).toMatch(/^10\.26\.0\.1[0-3]$/);
      expect(second).not.toBe(first);
      await rolledOut(SYSTEM);
    });

    test('draining the node: the PodDisruptionBudget keeps one replica answering', async () => {
      const drain = await kubectl(
        'drain',
        NODE_NAME,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--timeout=40s',
        '--pod-selector=app.kubernetes.io/name=capi-vip-allocator',
      );
      try {
        // One node: the evicted replica cannot be placed again, so the budget refuses the second.
        expect(drain.exitCode).not.toBe(0);
        expect(`${drain.stderr}${drain.stdout}`).toContain('disruption budget');
        const running = await installedPods(SYSTEM);
        expect(running.length).toBeGreaterThanOrEqual(1);
        expect(await vipOf(ns, 'gamma')).toMatch(/^10\.26\.0\.1[0-3]$/);
      } finally {
        await kubectlOk('uncordon', NODE_NAME);
      }
      await rolledOut(SYSTEM);
    });

    test('no replica behind the Service: doctor names it, and Clusters of classes that do not use us are still created', async () => {
      await kubectlOk('scale', 'deployment/capi-vip-allocator', '-n', SYSTEM, '--replicas=0');
      try {
        await eventually('the replicas to go', async () =>
          (await installedPods(SYSTEM)).length === 0 ? true : undefined,
        );
        const doctor = await execa(
          process.execPath,
          [
            'dist/capi-vip-allocator.mjs',
            'doctor',
            `--kubeconfig=${PLANE_KUBECONFIG}`,
            `--namespace=${ns}`,
            '-o',
            'json',
          ],
          { reject: false },
        );
        const findings = (
          JSON.parse(doctor.stdout) as { findings: { check: string; ok: boolean; detail: string }[] }
        ).findings;
        expect(findings).toContainEqual(
          expect.objectContaining({
            check: 'service',
            ok: false,
            detail: expect.stringContaining('no ready endpoint'),
          }),
        );
        for (const o of clusterClass('capd', ns, 'plain', { vipPatch: false })) await objects.create(o);
        await createCluster(ns, 'plain-1', 'plain');
        // BeforeClusterCreate's failurePolicy is Ignore: CAPI goes on without us.
        const cluster = await waitForTopology(ns, 'plain-1');
        expect(cluster.metadata.annotations?.[VIP_ANNOTATION]).toBeUndefined();
      } finally {
        await kubectlOk('scale', 'deployment/capi-vip-allocator', '-n', SYSTEM, '--replicas=2');
      }
      await rolledOut(SYSTEM);
    });

    test('kubectl delete of the release YAML removes it; Clusters keep their endpoint', async () => {
      // Every Cluster the describe made, whichever of its tests ran.
      for (const c of (await objects.list('cluster.x-k8s.io/v1beta2', 'Cluster', ns)).items) {
        await deleteCluster(ns, c.metadata?.name ?? '');
      }
      await kubectlOk('delete', '-f', RELEASE, '--wait=true', '--timeout=180s');
      expect((await kubectl('get', 'namespace', SYSTEM)).exitCode).not.toBe(0);
    });
  });

  describe('helm install, upgrade and uninstall of the chart', () => {
    const release = 'capi-vip-allocator-helm';
    let ns: string;
    beforeAll(async () => {
      await must(
        helm(
          'install',
          'vip',
          CHART,
          '-n',
          release,
          '--create-namespace',
          // The plane's own grace (PLANE_EXTENSION_FLAGS), which the quarantine suite is written for.
          '--set',
          'reuseGrace=15s',
          '--wait',
          '--timeout',
          '5m',
        ),
        'helm install',
      );
      ns = await tenant('install-helm', '10.26.1.10-10.26.1.13');
    }, 600_000);
    afterAll(() => deleteNamespace(ns));

    test("installed: CAPI discovers the chart's Pods, and a Cluster gets its VIP", async () => {
      await discovered();
      expect(await vipOf(ns, 'alpha')).toMatch(/^10\.26\.1\.1[0-3]$/);
    });

    test("the end-to-end suites pass against the chart's Pods: addresses, quarantine, outage, the answering signal", async () => {
      await runSuitesAgainstPods(release, [
        'test/e2e/addresses.test.ts',
        'test/e2e/quarantine.test.ts',
        'test/compat/outage.test.ts',
      ]);
      // The answering signal alone of the announcer suite: CAPI reaches a lab's API server through its VIP.
      await runSuitesAgainstPods(
        release,
        ['test/alive/announcers.test.ts'],
        'CAPI reaches the API server through the VIP',
      );
    }, 1_800_000);

    test('helm upgrade rolls the Pods; the VIP stays, the next Cluster gets its own', async () => {
      await must(
        helm(
          'upgrade',
          'vip',
          CHART,
          '-n',
          release,
          '--reuse-values',
          '--set',
          'logLevel=debug',
          '--wait',
          '--timeout',
          '5m',
        ),
        'helm upgrade',
      );
      await rolledOut(release);
      await discovered();
      expect(await vipOf(ns, 'beta')).toMatch(/^10\.26\.1\.1[0-3]$/);
    });

    test('helm uninstall after the Clusters go leaves no claim behind', async () => {
      for (const c of ['alpha', 'beta']) await deleteCluster(ns, c);
      await eventually('the claims to go with their Clusters', async () => {
        const claims = await objects.list('ipam.cluster.x-k8s.io/v1beta2', 'IPAddressClaim', ns);
        return claims.items.length === 0 ? true : undefined;
      });
      await must(helm('uninstall', 'vip', '-n', release, '--wait'), 'helm uninstall');
      expect((await kubectl('get', 'extensionconfig', 'vip-allocator')).exitCode).not.toBe(0);
    });
  });

  describe('clusterctl init --runtime-extension from a local provider repository', () => {
    let ns: string;
    let config: string;
    const clusterctl = (...args: string[]) =>
      execa(binaryPath(capiRelease().pin, 'clusterctl'), [...args, '--config', config], {
        env: { KUBECONFIG: PLANE_KUBECONFIG, CLUSTERCTL_DISABLE_VERSIONCHECK: 'true' },
        reject: false,
      });
    beforeAll(async () => {
      // clusterctl's provider contract: {basepath}/{provider-label}/{version}/{components, metadata}.
      const repo = await mkdtemp(path.join(tmpdir(), 'clusterctl-repo-'));
      const ours = path.join(repo, 'runtime-extension-capi-vip-allocator', `v${VERSION}`);
      const core = path.join(repo, 'cluster-api', CAPI_VERSION);
      await mkdir(ours, { recursive: true });
      await mkdir(core, { recursive: true });
      await copyFile(RELEASE, path.join(ours, 'runtime-extension-components.yaml'));
      await copyFile(path.resolve('metadata.yaml'), path.join(ours, 'metadata.yaml'));
      await copyFile(
        path.join(await moduleDir(capiRelease().pin), 'metadata.yaml'),
        path.join(core, 'metadata.yaml'),
      );
      config = path.join(repo, 'clusterctl.yaml');
      await writeFile(
        config,
        [
          'providers:',
          '  - name: cluster-api',
          '    type: CoreProvider',
          `    url: file://${core}/core-components.yaml`,
          '  - name: capi-vip-allocator',
          '    type: RuntimeExtensionProvider',
          `    url: file://${ours}/runtime-extension-components.yaml`,
          '',
        ].join('\n'),
      );
      // The plane's CAPI as `clusterctl init` would have recorded it: the inventory's core provider.
      await kubectlOk(
        'apply',
        '-f',
        path.join(await moduleDir(capiRelease().pin), 'cmd/clusterctl/config/manifest/clusterctl-api.yaml'),
      );
      await kubectl('create', 'namespace', 'capi-system');
      await objects.patch(
        {
          apiVersion: 'clusterctl.cluster.x-k8s.io/v1alpha3',
          kind: 'Provider',
          metadata: {
            name: 'cluster-api',
            namespace: 'capi-system',
            labels: { 'clusterctl.cluster.x-k8s.io': '', 'cluster.x-k8s.io/provider': 'cluster-api' },
          },
          providerName: 'cluster-api',
          type: 'CoreProvider',
          version: CAPI_VERSION,
        } as Obj,
        undefined,
        undefined,
        'capi-vip-allocator-tests',
        true,
        PatchStrategy.ServerSideApply,
      );
      ns = await tenant('install-clusterctl', '10.26.2.10-10.26.2.13');
    }, 600_000);
    afterAll(async () => {
      await deleteNamespace(ns);
      // The inventory goes too: with it, `clusterctl move` (test/move) would look for the core
      // provider on its target plane, which has none.
      await kubectl('delete', 'namespace', 'capi-system', '--ignore-not-found', '--wait=true');
      await kubectl('delete', 'crd', 'providers.clusterctl.cluster.x-k8s.io', '--ignore-not-found');
    }, 300_000);

    test('installs the release YAML: cert-manager is found working, CAPI discovers the Pods, a Cluster gets its VIP', async () => {
      const init = await clusterctl('init', '--runtime-extension', `capi-vip-allocator:v${VERSION}`);
      expect(init.exitCode).toBe(0);
      expect(init.stderr + init.stdout).toContain(
        'Skipping installing cert-manager as it is already installed',
      );
      await rolledOut(SYSTEM);
      await discovered();
      expect(await vipOf(ns, 'alpha')).toMatch(/^10\.26\.2\.1[0-3]$/);
    });

    test('clusterctl delete removes the provider and its namespace', async () => {
      await deleteCluster(ns, 'alpha');
      const del = await clusterctl(
        'delete',
        '--runtime-extension',
        'capi-vip-allocator',
        '--include-namespace',
      );
      expect(del.exitCode).toBe(0);
      await eventually('the provider namespace to go', async () =>
        (await kubectl('get', 'namespace', SYSTEM)).exitCode !== 0 ? true : undefined,
      );
    });
  });

  test('down --node leaves no container, mount, iptables chain, cgroup, route or hosts entry behind', async () => {
    await controlPlane(['down', '--node']);
    const sh = (cmd: string, ...args: string[]) => execa(cmd, args, { reject: false });
    expect((await sh('ip', 'link', 'show', BRIDGE)).exitCode).not.toBe(0);
    expect((await sh('ip', 'route', 'show', SERVICE_CIDR)).stdout).toBe('');
    for (const tool of ['iptables-save', 'ip6tables-save']) {
      expect((await sh(tool)).stdout).not.toMatch(/KUBE-|CVA-NODE/);
    }
    const mounts = await readFile('/proc/self/mounts', 'utf8');
    expect(mounts).not.toMatch(
      /\/var\/lib\/kubelet|control-plane\/node|\/run\/netns\/cni-|\.cache\/docker\/exec/,
    );
    for (const controller of await readdir('/sys/fs/cgroup')) {
      expect(existsSync(path.join('/sys/fs/cgroup', controller, 'kubepods'))).toBe(false);
    }
    expect(await readFile('/etc/hosts', 'utf8')).not.toContain('capi-vip-allocator local plane Services');
    expect((await sh('pgrep', '-f', 'containerd-shim|/kubelet |kube-proxy')).stdout).toBe('');
    expect((await kubectl('get', 'node', NODE_NAME)).exitCode).not.toBe(0);
  });
});
