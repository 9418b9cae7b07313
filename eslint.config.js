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
  {
    files: ['shared/**/*.ts'],
    rules: above(['extension', 'operator'], 'shared/ is the bottom layer: move what it needs into shared/.'),
  },
  {
    files: ['operator/**/*.ts'],
    rules: above(['extension'], 'operator/ sits below extension/: move what it needs into shared/.'),
  },
);
