// Lint: typescript-eslint's strict type-checked rules, and the layer rules the README's Architecture section states.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Imports of the layers above tokens, upstream and config (README, Architecture), from a folder of src/. */
const upperLayers = ['../http/*', '../cli/*', '../demo/*', '../verify-proxy/*', '../server/*'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test/describe/it return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `const { dropped: _dropped, ...kept } = value` is how a copy without one property is spelled.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
      // `return send(...)` is how handlers leave early after answering; it reads plainly.
      '@typescript-eslint/no-confusing-void-expression': 'off',
    },
  },
  {
    // In tests and the benchmark a wrong `!` throws and fails the run, which is what an assertion would do;
    // `after` hooks guard what a failed `before` may have left unassigned, whatever the declared type says.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-unnecessary-condition': 'off' },
  },
  {
    // README.md includes these verbatim: they read settings from the environment the short way a reader follows.
    files: ['contrib/snippets/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
    },
  },
  {
    files: ['src/tokens/**/*.ts', 'src/upstream/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: upperLayers, message: 'tokens and upstream sit below http, cli, demo, verify-proxy and server: they never import them.' }],
      }],
    },
  },
  {
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: upperLayers, message: 'config sits below http, cli, demo, verify-proxy and server: it never imports them.' },
          { group: ['../tokens/*'], message: 'config is read before tokens exist: it never imports tokens.' },
        ],
      }],
    },
  },
  {
    files: ['src/signer/**/*.ts', 'src/verify/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '^(?!jose$|node:|\\./)', message: 'The SDKs (ecamo/signer, ecamo/verify) depend on jose and node built-ins only.' }],
      }],
    },
  },
  {
    files: ['eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
