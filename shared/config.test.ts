import { FlagError, parseFlags, usage } from './config.js';

describe('parseFlags', () => {
  test("defaults are the original product's", () => {
    expect(parseFlags([])).toMatchObject({
      enableRuntimeExtension: true,
      enableReconciler: false,
      runtimeExtensionPort: 9443,
      runtimeExtensionName: 'vip-allocator',
      leaderElect: false,
      defaultPort: 6443,
      allocationWaitMs: 1000,
      logFormat: 'json',
      metricsBindAddress: { host: undefined, port: 8080 },
      shutdownDrainMs: 5000,
    });
  });
  test('accepts --flag=value, --flag value and bare booleans', () => {
    const c = parseFlags([
      '--runtime-extension-port',
      '10443',
      '--enable-runtime-extension=false',
      '--leader-elect',
      '--delete-orphan-claims',
      '--allocation-wait=1500ms',
      '--shutdown-drain',
      '0',
    ]);
    expect(c).toMatchObject({
      runtimeExtensionPort: 10443,
      enableRuntimeExtension: false,
      leaderElect: true,
      deleteOrphanClaims: true,
      allocationWaitMs: 1500,
      shutdownDrainMs: 0,
    });
  });
  test.each([
    [['--runtime-extension-name=vip.allocator'], 'runtime-extension-name'],
    [['--runtime-extension-name=VIP'], 'runtime-extension-name'],
    [['--runtime-extension-port=70000'], 'runtime-extension-port'],
    [['--allocation-wait=9s'], 'allocation-wait'],
    [['--allocation-wait=soon'], 'allocation-wait'],
    [['--log-format=xml'], 'log-format'],
    [['--enable-reconciler=maybe'], 'enable-reconciler'],
    [['--metrics-bind-address=8080'], 'metrics-bind-address'],
    [['--no-such-flag'], 'no-such-flag'],
    [['--kubeconfig'], 'kubeconfig'],
    [['--pool-kinds=inclusterippool'], 'pool-kinds'],
    [['--shutdown-drain=5'], 'shutdown-drain'],
    [['--shutdown-drain=-1s'], 'shutdown-drain'],
  ])('%j is refused naming --%s', (argv, flag) => {
    expect(() => parseFlags(argv)).toThrow(FlagError);
    expect(() => parseFlags(argv)).toThrow(`--${flag}:`);
  });
  test('--shutdown-drain says what a duration looks like', () => {
    expect(() => parseFlags(['--shutdown-drain=soon'])).toThrow(
      '--shutdown-drain: "soon" is not a duration such as 500ms, 5s or 1m',
    );
  });
  test('--pool-kinds takes Kind.version.group entries in order', () => {
    expect(
      parseFlags([
        '--pool-kinds=MetalIPPool.v1beta1.ipam.metal3.io, InClusterIPPool.v1alpha2.ipam.cluster.x-k8s.io',
      ]).poolKinds,
    ).toEqual([
      { kind: 'MetalIPPool', apiVersion: 'ipam.metal3.io/v1beta1' },
      { kind: 'InClusterIPPool', apiVersion: 'ipam.cluster.x-k8s.io/v1alpha2' },
    ]);
  });
  test('--reuse-grace above 0 turns quarantine on; 0 turns it off', () => {
    expect(parseFlags([])).toMatchObject({ reuseGraceMs: 300_000, quarantine: true });
    expect(parseFlags(['--reuse-grace=0'])).toMatchObject({ reuseGraceMs: 0, quarantine: false });
  });
  test('usage lists every flag', () => {
    expect(usage()).toContain('--allocation-wait');
    expect(usage()).toContain('--runtime-extension-name');
  });
});
