/**
 * `npm run test:matrix`: the compatibility suite (test/compat) once per older CAPI release of the
 * matrix; `npm test` runs it (with everything else) on the default one. Each run swaps the local
 * plane to that release (`up --capi`), building it the first time.
 */
import { execa } from 'execa';
import { CAPI_MATRIX, CAPI_VERSION } from './versions.js';

const log = (message: string): void => void process.stderr.write(`${message}\n`);

async function main(): Promise<number> {
  const versions = CAPI_MATRIX.filter((v) => v !== CAPI_VERSION);
  const failed: string[] = [];
  for (const [i, version] of versions.entries()) {
    log(`\n[${i + 1}/${versions.length}] test/compat against CAPI ${version}`);
    const run = await execa(
      process.execPath,
      ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js', 'test/compat'],
      { env: { CAPI_VERSION: version, KEEP_CONTROL_PLANE: '1' }, stdio: 'inherit', reject: false },
    );
    if (run.exitCode !== 0) failed.push(version);
  }
  // Like npm test's teardown: the plane goes unless asked to stay.
  if (!process.env.KEEP_CONTROL_PLANE) {
    await execa('npx', ['tsx', 'hack/control-plane/cli.ts', 'down'], { stdio: 'inherit', reject: false });
  }
  log(
    failed.length
      ? `\ntest/compat failed against CAPI ${failed.join(', ')}`
      : `\ntest/compat passed against CAPI ${versions.join(', ')} (and ${CAPI_VERSION} in npm test)`,
  );
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`test:matrix: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
