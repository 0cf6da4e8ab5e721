// ESLint for the page's own modules (static/js) and their tests (tests/js); vendored libraries are not ours to lint.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['static/vendor/**', 'node_modules/**', '.venv/**'] },
  js.configs.recommended,
  {
    files: ['static/js/**/*.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.browser } },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-restricted-properties': ['error',
        { property: 'innerHTML', message: 'Build DOM with createElement/textContent: names are hostile.' },
        { property: 'outerHTML', message: 'Build DOM with createElement/textContent: names are hostile.' }],
      'no-restricted-syntax': ['error',
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: 'Never insert HTML built from data.' }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    files: ['tests/js/**/*.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
  },
];
