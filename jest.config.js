// ts-jest's ESM preset runs under `node --experimental-vm-modules` so the ESM-only
// @kubernetes/client-node 2.x loads; the mapper strips NodeNext's `.js` suffixes.
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/.cache/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/.cache/'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.tsx?$': [
      'ts-jest',
      {
        useESM: true,
        tsconfig: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2023',
          isolatedModules: true,
          verbatimModuleSyntax: false,
        },
      },
    ],
  },
  // The real control plane comes up once per run (or an existing, healthy one is reused).
  globalSetup: '<rootDir>/test/global-setup.js',
  globalTeardown: '<rootDir>/test/global-teardown.js',
  // Generous: a loaded 2-core CI machine stretches every CAPI round; a test that truly hangs still ends.
  testTimeout: 300_000,
  maxWorkers: 1,
};
