/**
 * `npm run dev`: the extension from source (tsx watch, text logs) against the local control plane,
 * registered with CAPI in place of the built one that `up --extension` starts.
 */
import { execa } from 'execa';
import { EXTENSION_NAME, PLANE_EXTENSION_FLAGS } from './control-plane/components.js';
import { upExtension } from './control-plane/extension.js';
import { HOST, KUBECONFIG, PKI_DIR, PORTS } from './control-plane/paths.js';
import { readState, up, writeState } from './control-plane/plane.js';
import { stop } from './control-plane/processes.js';

const log = (m: string): void => void process.stderr.write(`${m}\n`);

await up(log);
await upExtension(log); // registers the ExtensionConfig at the port we take over below
const state = await readState();
const built = state?.components.find((c) => c.name === EXTENSION_NAME);
if (state && built) {
  await stop(built);
  state.components.splice(state.components.indexOf(built), 1);
  await writeState(state);
}
log('Running extension/main.ts with tsx watch; edit and save to restart it');
await execa(
  'tsx',
  [
    'watch',
    'extension/main.ts',
    '--log-format=text',
    `--kubeconfig=${KUBECONFIG}`,
    `--cert-dir=${PKI_DIR}/extension`,
    `--runtime-extension-port=${PORTS.extension}`,
    `--health-probe-bind-address=${HOST}:${PORTS.extensionProbes}`,
    `--metrics-bind-address=${HOST}:${PORTS.extensionMetrics}`,
    ...PLANE_EXTENSION_FLAGS,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', preferLocal: true },
);
