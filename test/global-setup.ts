import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { KUBECONFIG } from '../hack/control-plane/paths.js';
import { readState, healthy, up } from '../hack/control-plane/plane.js';

const log = (message: string): void => void process.stderr.write(`${message}\n`);

async function reachable(kubeconfig: string): Promise<boolean> {
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    await kc.makeApiClient(VersionApi).getCode();
    return true;
  } catch {
    return false;
  }
}

/** Brings the real control plane up once per run, or uses the one KUBECONFIG names when healthy. */
export default async function globalSetup(): Promise<void> {
  const given = process.env.KUBECONFIG;
  if (given && given !== KUBECONFIG && (await reachable(given))) {
    log(`\nUsing the cluster in KUBECONFIG=${given}`);
    return;
  }
  const wasRunning = await healthy(await readState());
  await up(log);
  // Only a plane this run started is taken down by globalTeardown.
  (globalThis as { startedPlane?: boolean }).startedPlane = !wasRunning;
  process.env.KUBECONFIG = KUBECONFIG;
}
