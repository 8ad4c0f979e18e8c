import { createHash } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import type { Plugin } from 'vite'

/**
 * Build steps that make the served app checkable:
 *  - Subresource Integrity (sha384) on every script and stylesheet that index.html loads;
 *  - `web-files.json`: every file of the build with its SHA-256, and the bundle hash over that list
 *    (what `airlock verify-web` recomputes from what a server really serves).
 */

export const WEB_FILES = 'web-files.json'

const sri = (data: string | Uint8Array) => `sha384-${createHash('sha384').update(data).digest('base64')}`

export function integrity(): Plugin {
  return {
    name: 'airlock-integrity',
    enforce: 'post',
    apply: 'build',
    generateBundle(_opts, bundle) {
      const html = bundle['index.html']
      if (html?.type !== 'asset') this.error('index.html missing from the bundle')
      const source = (name: string): string | Uint8Array => {
        const f = bundle[name.replace(/^\//, '')]
        if (!f) this.error(`index.html references ${name}, which is not in the bundle`)
        return f.type === 'chunk' ? f.code : f.source
      }
      let text = String(html.source)
      text = text.replace(
        /<(script|link)\b([^>]*?)\s(src|href)="([^"]+)"([^>]*)>/g,
        (tag, el, pre, attr, url, post) => {
          if (el === 'link' && !/rel="(stylesheet|modulepreload)"/.test(tag)) return tag
          if (/\bintegrity=/.test(tag)) return tag
          return `<${el}${pre} ${attr}="${url}" integrity="${sri(source(url))}"${post}>`
        },
      )
      if (/<script(?![^>]*\bsrc=)[^>]*>/.test(text)) this.error('inline scripts are not allowed (CSP)')
      html.source = text
    },
    async writeBundle(opts) {
      const dir = opts.dir!
      const files = await listFiles(dir)
      const list = await Promise.all(
        files
          .filter((f) => f !== WEB_FILES)
          .map(async (f) => ({
            path: `/${f}`,
            sha256: createHash('sha256')
              .update(await readFile(join(dir, f)))
              .digest('hex'),
          })),
      )
      list.sort((a, b) => (a.path < b.path ? -1 : 1))
      await writeFile(
        join(dir, WEB_FILES),
        `${JSON.stringify({ v: 1, bundle: bundleHash(list), files: list }, null, 1)}\n`,
      )
    },
  }
}

/** The bundle hash: SHA-256 over `<sha256>  <path>\n` lines sorted by path (as `sha256sum` prints). */
export function bundleHash(list: readonly { path: string; sha256: string }[]): string {
  const h = createHash('sha256')
  for (const f of list) h.update(`${f.sha256}  ${f.path}\n`)
  return h.digest('hex')
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
  }
  return out.sort()
}
