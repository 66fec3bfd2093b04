// ESLint flat config: typescript-eslint's type-aware rules on src/ and test/, and the
// layering of src/ (scripts/eslint/layers.js) on src/ and dev/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import layers from './scripts/eslint/layers.js';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.tools/**',
      'wasm/**',
      'coverage/**',
      'examples/quickstart/demo/**',
      'bench/.peer/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked.map((c) => ({ ...c, files: ['**/*.ts'] })),
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['{src,dev}/**/*.{ts,mts,cts,js,mjs,cjs}'],
    plugins: { mcpgate: layers },
    rules: { 'mcpgate/layers': ['error', { root: import.meta.dirname }] },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  prettier,
);
