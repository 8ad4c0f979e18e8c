import { defineConfig } from 'vite'
import { integrity } from './build/web-files.ts'

// A reproducible build: no source maps, no timestamps, content-hashed names, everything local.
export default defineConfig({
  base: '/',
  publicDir: 'public',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  worker: { format: 'es' },
  plugins: [integrity()],
})
