// `npm run lint` (a stage of `npm test`): neostandard, TypeScript included. The plugin's PHP
// is not ESLint's business, so only generated and temporary folders are left out.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['build/', 'dist/', 'coverage/', '.tap/', 'tmp/', 'node_modules/', '.ci/']
  }),
  // `void promise;` marks a promise deliberately not awaited (its rejection is handled inside).
  { rules: { 'no-void': ['error', { allowAsStatement: true }] } },
  // Lines of at most 140 characters (a URL may run longer). The tests themselves (*.test.ts) are
  // left out: their long lines are mostly expected rows and messages, read side by side. So are
  // the benchmarks under active work (bench/events, bench/sync).
  {
    files: ['server/**', 'scripts/**', 'bench/seed-users.ts', 'bench/soak/**', 'test/*-helper.ts', 'test/helper.ts', 'test/cookie-jar.ts'],
    rules: { '@stylistic/max-len': ['error', { code: 140, ignoreUrls: true }] },
  },
]
