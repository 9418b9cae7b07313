import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const PRODUCT = ['shared/**/*.ts', 'operator/**/*.ts', 'extension/**/*.ts'];
/** Beside the product's code, never built into it. */
const TESTS = ['**/*.test.ts', '**/testing.ts', 'shared/testing/**'];
/** The composition root: the one file that sees both operator/ and extension/. */
const ROOT = 'extension/main.ts';

/** `no-restricted-imports` of folders, each with why it is refused. */
const refuse = (...rules) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: rules.flatMap(({ folders, why }) =>
        folders.map((folder) => ({ group: [`**/${folder}/**`, `${folder}/**`], message: why })),
      ),
    },
  ],
});
const SIBLINGS =
  'operator/ and extension/ are siblings over shared/; only extension/main.ts wires both: move what both need into shared/.';
const TOOLING = {
  folders: ['hack', 'test'],
  why: 'the product is built without hack/ and test/: move what it needs into shared/.',
};
/**
 * Who may import whom (like CAPI's .import-restrictions): shared/ is the bottom layer; operator/
 * and extension/ are siblings over it, and only the composition root sees both. Tests beside the
 * code keep to their folder's layer; the product's code imports nothing from hack/ or test/ either.
 */
const LAYERS = [
  {
    files: ['shared/**/*.ts'],
    refused: [
      {
        folders: ['extension', 'operator'],
        why: 'shared/ is the bottom layer: move what it needs into shared/.',
      },
    ],
  },
  { files: ['operator/**/*.ts'], refused: [{ folders: ['extension'], why: SIBLINGS }] },
  { files: ['extension/**/*.ts'], ignores: [ROOT], refused: [{ folders: ['operator'], why: SIBLINGS }] },
  { files: [ROOT], refused: [] },
].flatMap(({ files, ignores = [], refused }) => [
  ...(refused.length > 0 ? [{ files, ignores, rules: refuse(...refused) }] : []),
  // The later entry wins for the product's files: its list is the whole of theirs.
  { files, ignores: [...ignores, ...TESTS], rules: refuse(...refused, TOOLING) },
]);

export default tseslint.config(
  { ignores: ['dist/', '.cache/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: { globals: globals.node },
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
  ...tseslint.configs.strictTypeChecked.map((config) => ({ ...config, files: PRODUCT, ignores: TESTS })),
  {
    files: PRODUCT,
    ignores: TESTS,
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
  ...LAYERS,
);
