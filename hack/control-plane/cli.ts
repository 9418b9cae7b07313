/**
 * `npm run control-plane -- up [--extension] [--fresh] [--capi <version>] | down | status | env | build [--capi <version>]`
 * A real management cluster on loopback: etcd, kube-apiserver, kube-controller-manager,
 * the CAPI manager and the in-cluster IPAM provider, built from pinned Go modules.
 */
import { capiRelease, CAPI_MATRIX, CAPI_VERSION } from '../versions.js';
import { ensureBinaries } from './build.js';
import { KUBECONFIG } from './paths.js';
import { down, status, up } from './plane.js';

const USAGE =
  'usage: npm run control-plane -- up [--extension] [--fresh] [--capi <version>] | down | status | env | build [--capi <version>]\n' +
  `  --capi: one of ${CAPI_MATRIX.join(', ')} (default ${CAPI_VERSION})\n` +
  '  up keeps a running plane and restarts what is down of it; --fresh wipes its etcd and starts over';
const log = (message: string): void => void process.stderr.write(`${message}\n`);

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `--capi v1.13.6` or `--capi=v1.13.6`, for up and build.
  const flags = rest.flatMap((f, i) => (rest[i - 1] === '--capi' ? [] : [f]));
  const at = rest.findIndex((f) => f === '--capi' || f.startsWith('--capi='));
  const capi = at < 0 ? CAPI_VERSION : (rest[at]?.split('=')[1] ?? rest[at + 1] ?? '');
  const unknown = flags.filter(
    (f) =>
      !(command === 'up' && (f === '--extension' || f === '--fresh')) &&
      !((command === 'up' || command === 'build') && (f === '--capi' || f.startsWith('--capi='))),
  );
  if (unknown.length > 0) {
    log(`unknown flag for '${command}': ${unknown.join(' ')}\n${USAGE}`);
    return 2;
  }
  try {
    capiRelease(capi);
  } catch (err) {
    log(`--capi: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  switch (command) {
    case 'up':
      await up(log, capi, { fresh: flags.includes('--fresh') });
      if (flags.includes('--extension')) {
        const { upExtension } = await import('./extension.js');
        await upExtension(log);
      }
      return 0;
    case 'down':
      await down(log);
      return 0;
    case 'status':
      return (await status(log)) ? 0 : 1;
    case 'build':
      await ensureBinaries(log, capiRelease(capi));
      return 0;
    case 'env':
      process.stdout.write(`export KUBECONFIG=${KUBECONFIG}\n`);
      return 0;
    default:
      log(command ? `unknown command '${command}'\n${USAGE}` : USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`control-plane: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
