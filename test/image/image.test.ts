/**
 * The image (built from the Dockerfile by `npm run image`'s code, cached) runs as the Deployment
 * runs it: its securityContext as docker flags, its args and env, the serving certificate and a
 * kubeconfig on read-only mounts. It serves probes, metrics and hooks, and SIGTERM ends it cleanly.
 *
 * Beside the plane's own replica it leads nothing: it elects in a namespace of its own whose Lease
 * another holder keeps, so its reconcilers never run (only its hooks, which CAPI does not call).
 */
import { CoordinationV1Api, loadAllYaml, V1MicroTime, type V1Deployment } from '@kubernetes/client-node';
import { copyFile, chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { docker, ensureDocker, stopDocker } from '../../hack/docker.js';
import { ensureImages, type Images } from '../../hack/image.js';
import { KUBECONFIG, PKI_DIR, ROOT } from '../../hack/control-plane/paths.js';
import { createNamespace, deleteNamespace, eventually, kube } from '../../hack/fixtures/kube.js';
import { callHook, HOOKS } from '../../hack/fixtures/hooks.js';

const say = (m: string): void => void process.stderr.write(`${m}\n`);

// Docker needs root and dockerd here; without them this suite says why in one line and skips.
let startedDocker = false;
const unavailable = await ensureDocker().then(
  ({ started }) => void (startedDocker = started),
  (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0],
);
if (unavailable) say(`test/image skipped: Docker cannot start here: ${unavailable}`);

const deployment = (
  loadAllYaml(
    await readFile(path.join(ROOT, 'manifests/base/namespaced/deployment.yaml'), 'utf8'),
  ) as (V1Deployment & {
    kind?: string;
  })[]
).find((d) => d.kind === 'Deployment');
const pod = deployment?.spec?.template.spec;
const container = pod?.containers[0];

/** The pod's and the container's securityContext as `docker run` flags. */
function securityFlags(): string[] {
  const podSc = pod?.securityContext ?? {};
  const sc = container?.securityContext ?? {};
  const user = sc.runAsUser ?? podSc.runAsUser;
  const group = sc.runAsGroup ?? podSc.runAsGroup;
  return [
    ...(user !== undefined ? ['--user', `${user}:${group ?? user}`] : []),
    ...(sc.readOnlyRootFilesystem ? ['--read-only'] : []),
    ...(sc.capabilities?.drop ?? []).flatMap((c) => ['--cap-drop', c]),
    ...(sc.allowPrivilegeEscalation === false ? ['--security-opt', 'no-new-privileges'] : []),
    // seccompProfile RuntimeDefault is docker's default profile.
  ];
}

/** Ports nothing listens on now, on every interface (the Deployment binds `:port`). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

const suite = unavailable ? describe.skip : describe;

suite('the image, as the Deployment runs it', () => {
  const name = `capi-vip-allocator-image-test-${randomBytes(3).toString('hex')}`;
  let images: Images;
  let ns: string;
  let dir: string;
  let hookPort: number;
  let probePort: number;
  let metricsPort: number;

  const logs = async (): Promise<string> => {
    const r = await docker(['logs', '--tail', '40', name], { reject: false, all: true });
    return String(r.all ?? '');
  };
  const get = async (port: number, p: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`http://127.0.0.1:${port}${p}`);
    return { status: res.status, text: await res.text() };
  };
  const inspect = async (field: string): Promise<string> =>
    String((await docker(['inspect', '-f', `{{${field}}}`, name])).stdout).trim();

  beforeAll(async () => {
    // The same code as `npm run image`: rebuilt only when the Dockerfile, the lockfile or a
    // source it copies changed.
    const started = Date.now();
    images = await ensureImages((m) => say(`[image] ${m}`));
    say(`[image] ${images.image} ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    // Its Lease, held by someone else for an hour: this replica follows and never reconciles.
    ns = await createNamespace('image-test');
    const now = new V1MicroTime(Date.now());
    await kube()
      .kc.makeApiClient(CoordinationV1Api)
      .createNamespacedLease({
        namespace: ns,
        body: {
          metadata: { name: 'capi-vip-allocator', namespace: ns },
          spec: {
            holderIdentity: 'image-test-holder',
            leaseDurationSeconds: 3600,
            acquireTime: now,
            renewTime: now,
          },
        },
      });

    // What the pod mounts, readable by its user as a Secret volume is (0644), mounted read-only.
    dir = await mkdtemp(path.join(os.tmpdir(), 'capi-vip-allocator-image-'));
    await mkdir(path.join(dir, 'certs'));
    for (const f of ['tls.crt', 'tls.key']) {
      await copyFile(path.join(PKI_DIR, 'extension', f), path.join(dir, 'certs', f));
      await chmod(path.join(dir, 'certs', f), 0o644);
    }
    await copyFile(KUBECONFIG, path.join(dir, 'kubeconfig'));
    await chmod(path.join(dir, 'kubeconfig'), 0o644);
    await chmod(dir, 0o755);

    [hookPort = 0, probePort = 0, metricsPort = 0] = await freePorts(3);
    const certMount = container?.volumeMounts?.find((m) => m.name === 'cert')?.mountPath ?? '';
    const kubeconfig = '/etc/capi-vip-allocator/kubeconfig';
    // The Deployment's args, with only the ports moved, and a kubeconfig in place of in-cluster config.
    const args = (container?.args ?? []).map((a) =>
      a.startsWith('--runtime-extension-port=')
        ? `--runtime-extension-port=${hookPort}`
        : a.startsWith('--health-probe-bind-address=')
          ? `--health-probe-bind-address=:${probePort}`
          : a.startsWith('--metrics-bind-address=')
            ? `--metrics-bind-address=:${metricsPort}`
            : a,
    );
    expect(args).toContain(`--cert-dir=${certMount}`);
    expect(args).toContain('--leader-elect');
    // Literal values as written; the downward API's namespace is the test's.
    const env = (container?.env ?? []).flatMap((e) => {
      if (e.value !== undefined) return ['--env', `${e.name}=${e.value}`];
      if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') return ['--env', `${e.name}=${ns}`];
      throw new Error(`env ${e.name}: no stand-in for ${JSON.stringify(e.valueFrom)}`);
    });
    await docker([
      'run',
      '--detach',
      '--name',
      name,
      ...securityFlags(),
      '--network',
      'host',
      '--volume',
      `${path.join(dir, 'certs')}:${certMount}:ro`,
      '--volume',
      `${path.join(dir, 'kubeconfig')}:${kubeconfig}:ro`,
      ...env,
      images.image,
      ...args,
      `--kubeconfig=${kubeconfig}`,
    ]);
    await eventually(
      'the container to be ready',
      async () =>
        (await get(probePort, '/readyz').catch(() => undefined))?.status === 200 ? true : undefined,
      90_000,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; its log:\n${await logs()}`);
    });
  }, 30 * 60_000);

  afterAll(async () => {
    await docker(['rm', '--force', name], { reject: false });
    if (ns) await deleteNamespace(ns);
    if (dir) await rm(dir, { recursive: true, force: true });
    if (startedDocker) await stopDocker();
  });

  test('runs the Deployment securityContext: UID 65532, no capabilities, no new privileges, read-only root', async () => {
    expect(securityFlags()).toEqual([
      '--user',
      '65532:65532',
      '--read-only',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
    ]);
    const pid = await inspect('.State.Pid');
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const field = (key: string): string[] =>
      (new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/);
    expect(field('Uid')).toEqual(['65532', '65532', '65532', '65532']);
    expect(field('Gid')).toEqual(['65532', '65532', '65532', '65532']);
    expect(field('CapEff')).toEqual(['0000000000000000']);
    expect(field('NoNewPrivs')).toEqual(['1']);
    expect((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')).toContain(
      'dist/capi-vip-allocator.mjs',
    );
    expect(await inspect('.HostConfig.ReadonlyRootfs')).toBe('true');
  });

  test('/healthz, /readyz and /metrics answer 200; it follows, never leads', async () => {
    expect((await get(probePort, '/healthz')).status).toBe(200);
    const ready = await get(probePort, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({ status: 'ok', leader: false });
    const metrics = await get(metricsPort, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^capi_vip_allocator_leader 0$/m);
  });

  test('answers a hook over HTTPS with the mounted certificate', async () => {
    const { code, body } = await callHook(
      `https://127.0.0.1:${hookPort}${HOOKS}/discovervariables/vip-allocator-discover-variables`,
      JSON.stringify({
        apiVersion: 'hooks.runtime.cluster.x-k8s.io/v1alpha1',
        kind: 'DiscoverVariablesRequest',
        settings: {},
      }),
    );
    expect(code).toBe(200);
    expect(body).toMatchObject({ kind: 'DiscoverVariablesResponse', status: 'Success' });
    expect((body.variables as { name: string }[]).map((v) => v.name)).toEqual(['vipAllocator']);
  });

  test('docker stop (SIGTERM) ends it with code 0 within the grace period', async () => {
    const grace = pod?.terminationGracePeriodSeconds ?? 30;
    const started = Date.now();
    await docker(['stop', '--time', String(grace), name]);
    const took = Date.now() - started;
    const log = await logs();
    expect({
      exitCode: await inspect('.State.ExitCode'),
      oomKilled: await inspect('.State.OOMKilled'),
    }).toEqual({
      exitCode: '0',
      oomKilled: 'false',
    });
    expect(took).toBeLessThan(grace * 1000);
    expect(log).toMatch(/Shutting down/);
  });
});
