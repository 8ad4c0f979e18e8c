import { execFile, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type Browser, chromium } from 'playwright-core'
import QRCode from 'qrcode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertBuilt,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../../test-support/harness.js'
import {
  CHROMIUM_ARGS,
  CHROMIUM_PATH,
  confirmOnBoth,
  createAccount,
  type Device,
  item,
  launch,
  openDevice,
  sendFiles,
  sendNote,
  startLinking,
} from './harness.js'

// Linking by scanning the QR code with a camera (Chromium's fake camera plays a video of the code
// the new browser shows), and "Export everything" opened with the standard age CLI.

const run = promisify(execFile)
let server: ServerProcess
let dir: string
let camBrowser: Browser
let browser: Browser
let a: Device
const PASS = 'correct horse battery staple'

beforeAll(async () => {
  assertBuilt()
  dir = await tempDir('airlock-web-export-')
  server = await startServer(join(dir, 'data'))
  camBrowser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      ...CHROMIUM_ARGS,
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${join(dir, 'qr.y4m')}`,
    ],
  })
  browser = await launch()
  a = await openDevice(camBrowser, server.url)
  await createAccount(a.page, server.setupCode!, 'frank')
})

afterAll(async () => {
  await camBrowser?.close()
  await browser?.close()
  await server?.stop()
  await removeDir(dir)
})

/** A one-frame Y4M video (what Chromium's fake camera plays) of `text` as a QR code. */
async function qrVideo(path: string, text: string): Promise<void> {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'L' })
  const n = qr.modules.size
  const scale = Math.floor(440 / (n + 8))
  const size = 480
  const y = new Uint8Array(size * size).fill(235)
  const off = Math.floor((size - n * scale) / 2)
  for (let r = 0; r < n; r++)
    for (let c = 0; c < n; c++)
      if (qr.modules.get(r, c))
        for (let dy = 0; dy < scale; dy++)
          y.fill(
            16,
            (off + r * scale + dy) * size + off + c * scale,
            (off + r * scale + dy) * size + off + (c + 1) * scale,
          )
  const chroma = new Uint8Array((size / 2) * (size / 2) * 2).fill(128)
  await writeFile(
    path,
    Buffer.concat([Buffer.from(`YUV4MPEG2 W${size} H${size} F10:1 Ip A1:1 C420jpeg\nFRAME\n`), y, chroma]),
  )
}

describe('QR linking and export', () => {
  it('links a new browser by scanning its QR code with the camera', async () => {
    const b = await openDevice(browser, server.url)
    await startLinking(b.page, 'Scanned browser')
    await b.page.getByText('Cannot scan? Show the link').click()
    const link = (await b.page.getByTestId('link-url').textContent())!.trim()
    expect(link).toContain(`${server.url}/link#`)
    await qrVideo(join(dir, 'qr.y4m'), link)
    await a.page.goto(`${server.url}/#devices`)
    await a.page.getByRole('button', { name: 'Scan QR code' }).click()
    await confirmOnBoth(a.page, b.page)
    await b.page.getByLabel('Note', { exact: true }).waitFor({ timeout: 30_000 })
    await a.page.locator('li.device', { hasText: 'Scanned browser' }).waitFor()
    await b.context.close()
  })

  it('exports every item as passphrase-encrypted age files that the age CLI opens', async () => {
    await a.page.goto(`${server.url}/#timeline`)
    const files = { 'one.bin': randomBytes(70_000), 'two.txt': Buffer.from('plain text file\n') }
    await sendNote(a.page, 'exported note')
    await sendFiles(
      a.page,
      Object.entries(files).map(([name, buffer]) => ({ name, mimeType: 'application/octet-stream', buffer })),
    )
    for (const name of Object.keys(files)) await item(a.page, name).waitFor({ timeout: 30_000 })
    await a.page.goto(`${server.url}/#settings`)
    await a.page.getByLabel('Passphrase', { exact: true }).fill(PASS)
    await a.page.getByLabel('Passphrase again').fill(PASS)
    const download = a.page.waitForEvent('download', { timeout: 120_000 })
    await a.page.getByRole('button', { name: 'Export' }).click()
    const d = await download
    expect(d.suggestedFilename()).toMatch(/^airlock-export-\d{4}-\d{2}-\d{2}\.tar$/)
    const out = join(dir, 'export')
    await mkdir(out)
    await run('tar', ['-xf', (await d.path())!, '-C', out])
    const { stdout } = await run('ls', [out])
    const names = stdout.trim().split('\n').sort()
    expect(names).toHaveLength(3)
    expect(names).toContain('one.bin.age')
    expect(names).toContain('two.txt.age')
    expect(names.filter((n) => n.startsWith('note-') && n.endsWith('.txt.age'))).toHaveLength(1)
    for (const [name, data] of [
      ...Object.entries(files),
      [
        names.find((n) => n.startsWith('note-'))!.replace(/\.age$/, ''),
        Buffer.from('exported note'),
      ] as const,
    ]) {
      const target = join(out, `${name}.out`)
      // The age CLI asks for the passphrase on a terminal; `script` gives it one.
      const r = spawnSync(
        'script',
        ['-qec', `age -d -o '${target}' '${join(out, `${name}.age`)}'`, '/dev/null'],
        {
          input: `${PASS}\n`,
        },
      )
      expect(r.status, String(r.stdout)).toBe(0)
      expect(Buffer.compare(await readFile(target), data)).toBe(0)
    }
  })
})
