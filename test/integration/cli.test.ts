/** The built executable exactly as `npm start` and the image run it (globalSetup built dist/). */
import { execa } from 'execa';

const run = (...args: string[]) =>
  execa(process.execPath, ['--enable-source-maps', 'dist/capi-vip-allocator.mjs', ...args], {
    reject: false,
    timeout: 20_000,
  });

test.each([
  ['--runtime-extension-name=vip.allocator', 'runtime-extension-name', 'DNS-1123'],
  ['--allocation-wait=30s', 'allocation-wait', 'hook timeout'],
  ['--bogus', 'bogus', 'unknown flag'],
])('%s exits 2 naming the flag', async (arg, flag, why) => {
  const { exitCode, stderr } = await run(arg);
  expect(exitCode).toBe(2);
  expect(stderr).toContain(`--${flag}:`);
  expect(stderr).toContain(why);
});

test('--help prints every flag and exits 0', async () => {
  const { exitCode, stdout } = await run('--help');
  expect(exitCode).toBe(0);
  for (const flag of [
    '--enable-runtime-extension',
    '--enable-reconciler',
    '--runtime-extension-port',
    '--cert-dir',
    '--allocation-wait',
  ]) {
    expect(stdout).toContain(flag);
  }
});

test('a missing certificate folder is a clear error, not a stack trace', async () => {
  const { exitCode, stderr } = await run(
    '--cert-dir=/nonexistent',
    '--health-probe-bind-address=0',
    '--metrics-bind-address=0',
    '--kubeconfig=.cache/control-plane/kubeconfig',
  );
  expect(exitCode).toBe(1);
  expect(stderr).toContain('/nonexistent/tls.crt');
  expect(stderr).not.toContain('    at ');
});
