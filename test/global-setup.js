// Plain JS: jest imports globalSetup natively, outside ts-jest's module mapping. It drives the
// same CLI users run, so the tests prove `npm run control-plane` itself.
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { execa } from 'execa';
import path from 'node:path';

export const PLANE_KUBECONFIG = path.resolve('.cache/control-plane/kubeconfig');
export const controlPlane = (args, options = {}) =>
  execa('npx', ['tsx', 'hack/control-plane/cli.ts', ...args], { stderr: 'inherit', ...options });

async function reachable(kubeconfig) {
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    await kc.makeApiClient(VersionApi).getCode();
    return true;
  } catch {
    return false;
  }
}

/**
 * Brings the real control plane and our extension up once per run, or uses the cluster KUBECONFIG
 * names when it answers (it must then run CAPI, the IPAM provider and the extension itself).
 */
export default async function globalSetup() {
  const given = process.env.KUBECONFIG;
  if (given && path.resolve(given) !== PLANE_KUBECONFIG && (await reachable(given))) {
    process.stderr.write(`\nUsing the cluster in KUBECONFIG=${given}\n`);
    return;
  }
  // A suite run against the extension installed on the plane's node (test/install/pods runs one
  // this way): the host's process is not started, so only the Pods answer CAPI.
  if (process.env.E2E_EXTENSION === 'installed') {
    process.env.KUBECONFIG = PLANE_KUBECONFIG;
    return;
  }
  const wasRunning = (await controlPlane(['status'], { reject: false, stderr: 'ignore' })).exitCode === 0;
  process.stderr.write('\n');
  // The extension is always rebuilt and restarted, so the suites test the code in the tree.
  // `npm run test:matrix` sets CAPI_VERSION: the plane swaps to that release first.
  const capi = process.env.CAPI_VERSION ? ['--capi', process.env.CAPI_VERSION] : [];
  await controlPlane(['up', '--extension', ...capi]);
  // Only a plane this run started is taken down by globalTeardown.
  globalThis.startedPlane = !wasRunning;
  process.env.KUBECONFIG = PLANE_KUBECONFIG;
}
