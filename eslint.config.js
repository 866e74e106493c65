import neostandard from 'neostandard'

const FRAMEWORKS = ['fastify', 'fastify-plugin', 'express', 'http-proxy-middleware', 'http-proxy', 'undici', 'ws']

export default [
  ...neostandard({ ts: true, ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '.tap/**'] }),
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error'
    }
  },
  {
    // Decide in the core, apply in the adapter: the core imports no framework and no network module.
    files: ['packages/core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [...FRAMEWORKS, 'node:http', 'node:https', 'node:net', 'node:tls', 'http', 'https', 'net', 'tls', 'node:timers', 'timers']
          .map(name => ({ name, message: 'packages/core is framework-free and does no I/O: do it in an adapter.' })),
        patterns: [{ group: ['@fastify/*'], message: 'packages/core is framework-free.' }]
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'The core has no timers: read time from the injected now().' },
        { name: 'setInterval', message: 'The core has no timers: read time from the injected now().' }]
    }
  },
  {
    // Adapters use the core's public entry point, never its files.
    files: ['packages/fastify/src/**/*.ts', 'packages/express/src/**/*.ts', 'examples/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@stickyroute/*/src/*', '**/packages/*/src/*'], message: 'Import the package entry point (@stickyroute/core), not its sources.' }] }]
    }
  }
]
