import { execa, type ResultPromise } from 'execa';
import path from 'node:path';
import { PLANE_EXTENSION_FLAGS } from '../../hack/control-plane/components.js';
import { eventually } from '../../hack/fixtures/kube.js';
import { sample, scrape } from './metrics.js';

let nextPort = 19470;

export interface AllocatorProcess {
  readonly hookPort: number;
  readonly log: () => string;
  metric(name: string): Promise<number | undefined>;
  ready(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Signals the process and resolves with its exit code once it has gone. */
  kill(signal?: NodeJS.Signals): Promise<number | undefined>;
}

/**
 * Another replica of our process (the built dist/, as `npm start` runs it) against the plane,
 * with its own ports, for reconciler and leader-election tests.
 */
export async function startAllocator(args: string[]): Promise<AllocatorProcess> {
  const [hookPort, probePort, metricsPort] = [nextPort++, nextPort++, nextPort++];
  let output = '';
  const child: ResultPromise = execa(
    process.execPath,
    [
      '--enable-source-maps',
      'dist/capi-vip-allocator.mjs',
      `--kubeconfig=${path.resolve('.cache/control-plane/kubeconfig')}`,
      `--cert-dir=${path.resolve('.cache/control-plane/pki/extension')}`,
      `--runtime-extension-port=${hookPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      ...PLANE_EXTENSION_FLAGS,
      ...args,
    ],
    // SIGTERM drains for --shutdown-drain (5s) before exit: execa's SIGKILL after 5 s would cut it,
    // where the kubelet waits the Deployment's 30 s grace period.
    { reject: false, all: true, buffer: false, forceKillAfterDelay: 30_000 },
  );
  child.all?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const get = async (port: number, p: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`http://127.0.0.1:${port}${p}`);
    return { status: res.status, text: await res.text() };
  };
  const proc: AllocatorProcess = {
    hookPort,
    log: () => output,
    async metric(name) {
      return sample(await scrape(metricsPort), name);
    },
    async ready() {
      const { status, text } = await get(probePort, '/readyz');
      return { status, body: JSON.parse(text) as Record<string, unknown> };
    },
    async kill(signal = 'SIGTERM') {
      child.kill(signal);
      return (await child).exitCode;
    },
  };
  await eventually(`the allocator on :${hookPort} to be ready, its caches synced`, async () =>
    (await get(probePort, '/readyz/informers').catch(() => undefined))?.status === 200 ? true : undefined,
  ).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${String(err)}; its output:\n${output.slice(-2000)}`);
  });
  return proc;
}
