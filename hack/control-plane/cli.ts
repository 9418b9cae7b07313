/**
 * `npm run control-plane -- up [--extension] | down | status | env | build`
 * A real management cluster on loopback: etcd, kube-apiserver, kube-controller-manager,
 * the CAPI manager and the in-cluster IPAM provider, built from pinned Go modules.
 */
import { ensureBinaries } from './build.js';
import { KUBECONFIG } from './paths.js';
import { down, status, up } from './plane.js';

const USAGE = 'usage: npm run control-plane -- up [--extension] | down | status | env | build';
const log = (message: string): void => void process.stderr.write(`${message}\n`);

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...flags] = argv;
  const unknown = flags.filter((f) => !(command === 'up' && f === '--extension'));
  if (unknown.length > 0) {
    log(`unknown flag for '${command}': ${unknown.join(' ')}\n${USAGE}`);
    return 2;
  }
  switch (command) {
    case 'up':
      await up(log);
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
      await ensureBinaries(log);
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
