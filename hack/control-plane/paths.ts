import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export type Log = (message: string) => void;

/** The repository root: the nearest folder up from the working directory with our package.json. */
function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'capi-vip-allocator'
    ) {
      return dir;
    }
    if (path.dirname(dir) === dir) throw new Error(`No capi-vip-allocator checkout above ${start}`);
  }
}

export const ROOT = findRoot(process.cwd());
export const CACHE_DIR = path.join(ROOT, '.cache');
/**
 * A second plane beside the first (`npm run control-plane -- up --name target`, e.g. the target of
 * clusterctl move): its own directory, and every port 100 up. The CLI sets this for its child.
 */
export const PLANE_NAME = process.env.CONTROL_PLANE_NAME ?? '';
if (PLANE_NAME && !/^[a-z0-9][-a-z0-9]{0,19}$/.test(PLANE_NAME)) {
  throw new Error(`plane name "${PLANE_NAME}" must be a short DNS label (lowercase letters, digits, "-")`);
}
export const planeDir = (name: string): string =>
  path.join(CACHE_DIR, name ? `control-plane-${name}` : 'control-plane');
export const PLANE_DIR = planeDir(PLANE_NAME);
export const PKI_DIR = path.join(PLANE_DIR, 'pki');
export const LOG_DIR = path.join(PLANE_DIR, 'logs');
export const STATE_FILE = path.join(PLANE_DIR, 'state.json');
export const KUBECONFIG = path.join(PLANE_DIR, 'kubeconfig');
/** The one file `npm run build` writes and `npm start`, the image and the plane run. */
export const BUNDLE = path.join(ROOT, 'dist/capi-vip-allocator.mjs');

const PORT_OFFSET = PLANE_NAME ? 100 : 0;

/** Every port the plane listens on, all on 127.0.0.1, chosen away from the usual defaults. */
const BASE_PORTS = {
  etcdClient: 23790,
  etcdPeer: 23800,
  apiserver: 16443,
  controllerManager: 20257,
  capiWebhook: 19443,
  capiHealth: 19440,
  capiDiagnostics: 19441,
  kcpWebhook: 19444,
  kcpHealth: 19445,
  kcpDiagnostics: 19446,
  ipamHealth: 19450,
  ipamMetrics: 19451,
  extension: 19460,
  extensionProbes: 19461,
  extensionMetrics: 19462,
  // The node (`up --node`), clear of the test replicas' ports (19470 up, hack/fixtures/allocator-process.ts).
  certManagerHealth: 19600,
  containerdMetrics: 19601,
  kubeletHealthz: 19602,
  kubelet: 19603,
  kubeProxyHealthz: 19604,
  kubeProxyMetrics: 19605,
  scheduler: 19606,
  serviceHosts: 19607,
} as const;

export const PORTS = Object.fromEntries(
  Object.entries(BASE_PORTS).map(([k, port]) => [k, port + PORT_OFFSET]),
) as { readonly [K in keyof typeof BASE_PORTS]: number };

export const HOST = '127.0.0.1';
