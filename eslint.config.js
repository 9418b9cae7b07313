import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Layers import downwards only: shared/ ← operator/ ← extension/ (like CAPI's .import-restrictions). */
const above = (layers, why) => ({
  'no-restricted-imports': [
    'error',
    { patterns: layers.map((layer) => ({ group: [`**/${layer}/**`, `${layer}/**`], message: why })) },
  ],
});

export default tseslint.config(
  { ignores: ['dist/', '.cache/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  // Type-aware: a promise nobody awaits loses its error; a switch over a union must name every case.
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
    },
  },
  // The product's own code (not its tests, not hack/) meets typescript-eslint's strictest set.
  ...tseslint.configs.strictTypeChecked.map((config) => ({
    ...config,
    files: ['shared/**/*.ts', 'operator/**/*.ts', 'extension/**/*.ts'],
    ignores: ['**/*.test.ts', '**/testing.ts', 'shared/testing/**'],
  })),
  {
    files: ['shared/**/*.ts', 'operator/**/*.ts', 'extension/**/*.ts'],
    ignores: ['**/*.test.ts', '**/testing.ts', 'shared/testing/**'],
    rules: {
      // Numbers read well in messages; `undefined` does not, and stays refused.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowAny: false, allowBoolean: false, allowNullish: false, allowRegExp: false },
      ],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // client-node's models are classes its serializer fills from plain objects, as its own docs do.
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: above(['extension', 'operator'], 'shared/ is the bottom layer: move what it needs into shared/.'),
  },
  {
    files: ['operator/**/*.ts'],
    rules: above(['extension'], 'operator/ sits below extension/: move what it needs into shared/.'),
  },
);
