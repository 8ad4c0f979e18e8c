/**
 * The CLI package's directory (holding package.json). This module sits directly in `dist/`, and
 * so does the one-file build `dist/airlock.js` it is bundled into, so one level up is right in
 * both.
 */
export const CLI_ROOT = new URL('../', import.meta.url)
