// `dist/airlock.js`: the CLI and its dependencies as one file, which Node loads in a third of the
// time it takes to resolve and read the ~250 modules of `dist/bin.js` (every command starts faster;
// see "Performance" in the README). Built from tsc's output, so the code is the same.
import { defineConfig } from 'rolldown'

export default defineConfig({
  input: new URL('dist/bin.js', import.meta.url).pathname,
  platform: 'node',
  output: {
    file: new URL('dist/airlock.js', import.meta.url).pathname,
    format: 'esm',
    codeSplitting: false,
  },
})
