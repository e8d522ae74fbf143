// `npm run lint` (a stage of `npm test`): neostandard, TypeScript included. The plugin's PHP
// is not ESLint's business, so only generated and temporary folders are left out.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['build/', 'dist/', 'coverage/', '.tap/', 'tmp/', 'node_modules/', '.ci/']
  }),
  // `void promise;` marks a promise deliberately not awaited (its rejection is handled inside).
  { rules: { 'no-void': ['error', { allowAsStatement: true }] } }
]
