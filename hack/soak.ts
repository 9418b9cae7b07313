/**
 * `npm run soak`: the randomized fleet soak, long (hack/soak/run.ts). Brings up the local plane
 * and its extension (rebuilt from this tree) first, as `npm run demo` does.
 *
 *   SOAK_SEED=<n>        the schedule's seed (default: random; printed, with how to replay it)
 *   SOAK_STEPS=<n>       operations (default 200)
 *   SOAK_SKIP=<a,b>      operation types to leave out (hack/soak/schedule.ts), to look past a known bug
 *   SOAK_BOUND_SECONDS   how long each Cluster has to carry its VIP once faults stop (default 180)
 *   SOAK_NO_WEBHOOK=1    replicas with --endpoint-at-create=false, to tell the webhook's part in a failure
 *
 * Exits 0 when the promise held, 1 with the failure (step, seed) when it did not. Ctrl-C (or
 * SIGTERM) stops after the operation under way and cleans up; a second one exits at once.
 *
 * While it runs, the soak stands in for the plane's extension (hack/soak/faults.ts): `npm run
 * control-plane -- status` shows that process down, and other suites must not run meanwhile.
 */
import { randomInt } from 'node:crypto';
import { upExtension } from './control-plane/extension.js';
import { KUBECONFIG } from './control-plane/paths.js';
import { up } from './control-plane/plane.js';
import { runSoak, SoakFailure } from './soak/run.js';
import { OP_TYPES, type OpType } from './soak/schedule.js';

const log = (m: string): void => void process.stderr.write(`${m}\n`);

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${name}="${raw ?? ''}" is not a whole number`);
  return value;
}

function envSkip(): OpType[] {
  const names = (process.env.SOAK_SKIP ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(OP_TYPES as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`SOAK_SKIP names no operation ${unknown.join(', ')} (known: ${OP_TYPES.join(', ')})`);
  return names as OpType[];
}

async function main(): Promise<void> {
  const options = {
    seed: envNumber('SOAK_SEED', randomInt(2 ** 31)),
    steps: envNumber('SOAK_STEPS', 200),
    skip: envSkip(),
    boundSeconds: envNumber('SOAK_BOUND_SECONDS', 180),
  };
  await up(log);
  await upExtension(log);
  process.env.KUBECONFIG = KUBECONFIG;
  const abort = new AbortController();
  // SIGTERM too (another session's cleanup): the plane's extension is put back and the IPAM provider thawed.
  const stopping = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    log(`soak: ${signal}: stopping after the operation under way (again to exit at once)`);
    abort.abort();
  };
  process.on('SIGINT', stopping);
  process.on('SIGTERM', stopping);
  await runSoak({ ...options, log, signal: abort.signal });
}

main().then(
  // Clients' keep-alive sockets would hold the process open.
  () => process.exit(0),
  (err: unknown) => {
    // A SoakFailure has said what failed and how to replay it.
    if (!(err instanceof SoakFailure)) log(`soak: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
