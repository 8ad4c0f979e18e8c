import { playwright } from '@vitest/browser-playwright'
import { defineConfig } from 'vitest/config'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.mjs'

// Core's tests run twice: in Node and in Debian's Chromium, which proves core needs no Node API.
// Tests that drive processes, files or the `age` CLI live beside the Node-only code.
const chromium = playwright({
  launchOptions: {
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS],
  },
})

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'core',
          include: ['packages/core/test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'core-browser',
          include: ['packages/core/test/**/*.test.ts'],
          testTimeout: 120_000,
          browser: {
            enabled: true,
            headless: true,
            provider: chromium,
            instances: [{ browser: 'chromium' }],
            screenshotFailures: false,
          },
        },
      },
      {
        test: {
          name: 'node',
          include: [
            'packages/core/node/**/*.test.ts',
            'packages/server/**/*.test.ts',
            'packages/cli/**/*.test.ts',
            'packages/web/test/**/*.test.ts',
            'bench/**/*.test.mjs',
          ],
          exclude: ['**/node_modules/**', '**/dist/**'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
