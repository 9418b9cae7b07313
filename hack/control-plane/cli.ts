/**
 * `npm run control-plane -- up [--extension] [--node] [--fresh] [--capi <version>] | down [--node] | status | env | build [--capi <version>]`,
 * each with `--name <name>` for a second plane beside the first (its own directory and ports).
 * A real management cluster on loopback: etcd, kube-apiserver, kube-controller-manager,
 * the CAPI manager and the in-cluster IPAM provider, built from pinned Go modules.
 */
import { capiRelease, CAPI_MATRIX, CAPI_VERSION } from '../versions.js';
import { ensureBinaries } from './build.js';
import { KUBECONFIG, PLANE_NAME } from './paths.js';
import { down, downNode, status, up } from './plane.js';

const USAGE =
  'usage: npm run control-plane -- up [--extension] [--node] [--fresh] [--capi <version>] | down [--node] | status | env | build [--capi <version>]\n' +
  `  --capi: one of ${CAPI_MATRIX.join(', ')} (default ${CAPI_VERSION})\n` +
  '  up keeps a running plane and restarts what is down of it; --fresh wipes its etcd and starts over\n' +
  '  --node: a kubelet, containerd, kube-proxy, a scheduler and cert-manager, so Pods and Services run (root);\n' +
  '    down --node removes only the node, leaving nothing of it on the machine\n' +
  '  --name <name>: a second plane beside the first (.cache/control-plane-<name>, every port 100 up)';
const log = (message: string): void => void process.stderr.write(`${message}\n`);

/** `--name x` or `--name=x`: run this CLI again with CONTROL_PLANE_NAME set (paths.ts reads it once). */
async function named(argv: readonly string[]): Promise<number | undefined> {
  const at = argv.findIndex((f) => f === '--name' || f.startsWith('--name='));
  if (at < 0) return undefined;
  const name = argv[at]?.includes('=') ? argv[at]?.split('=')[1] : argv[at + 1];
  const rest = argv.filter((_, i) => i !== at && !(i === at + 1 && !argv[at]?.includes('=')));
  if (!name) {
    log(`--name: a plane name is missing\n${USAGE}`);
    return 2;
  }
  if (PLANE_NAME) {
    if (PLANE_NAME === name) return main(rest);
    log(`--name ${name}: CONTROL_PLANE_NAME already names plane ${PLANE_NAME}`);
    return 2;
  }
  const { execa } = await import('execa');
  const child = await execa(process.execPath, [...process.execArgv, process.argv[1] ?? '', ...rest], {
    env: { CONTROL_PLANE_NAME: name },
    stdio: 'inherit',
    reject: false,
  });
  return child.exitCode ?? 1;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `--capi v1.13.6` or `--capi=v1.13.6`, for up and build.
  const flags = rest.flatMap((f, i) => (rest[i - 1] === '--capi' ? [] : [f]));
  const at = rest.findIndex((f) => f === '--capi' || f.startsWith('--capi='));
  const capi = at < 0 ? CAPI_VERSION : (rest[at]?.split('=')[1] ?? rest[at + 1] ?? '');
  const unknown = flags.filter(
    (f) =>
      !(command === 'up' && (f === '--extension' || f === '--fresh' || f === '--node')) &&
      !(command === 'down' && f === '--node') &&
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
      await up(log, capi, { fresh: flags.includes('--fresh'), node: flags.includes('--node') });
      if (flags.includes('--extension')) {
        const { upExtension } = await import('./extension.js');
        await upExtension(log);
      }
      return 0;
    case 'down':
      await (flags.includes('--node') ? downNode(log) : down(log));
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

const argv = process.argv.slice(2);
named(argv)
  .then((code) => code ?? main(argv))
  .then(
    (code) => process.exit(code),
    (err: unknown) => {
      log(`control-plane: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
