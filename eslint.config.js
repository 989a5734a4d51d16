import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'data/**', 'coverage/**', '.tap/**'] }),
  {
    rules: {
      '@stylistic/max-len': ['error', { code: 100, ignoreUrls: true }]
    }
  }
]
