import { describe, expect, it } from 'vitest'
import { utf8 } from '../src/bytes.js'
import { safeFilename } from '../src/filename.js'
import {
  assessRisk,
  assessRiskByName,
  EXECUTABLE_EXTENSIONS,
  MACRO_EXTENSIONS,
  type RiskKind,
  SCRIPT_EXTENSIONS,
} from '../src/risk.js'

// SECURITY-TESTS 29: the risk check judges the name the file is saved under, and knows the
// risky extensions of current Windows, macOS and Linux desktops.

const TEXT = utf8('plain words, nothing to see here\n')
const kinds = (r: { reasons: readonly { kind: RiskKind }[] }) =>
  [...new Set(r.reasons.map((x) => x.kind))].sort()

describe('risky extensions (SECURITY-TESTS 29)', () => {
  const table: [string, RiskKind][] = [
    ...EXECUTABLE_EXTENSIONS.map((e): [string, RiskKind] => [e, 'executable']),
    ...SCRIPT_EXTENSIONS.map((e): [string, RiskKind] => [e, 'script']),
    ...MACRO_EXTENSIONS.map((e): [string, RiskKind] => [e, 'macro-document']),
  ]

  it('lists every extension the issue found missing, each once', () => {
    const added =
      'iso img vhd vhdx one msix appx xll library-ms settingcontent-ms application appref-ms jnlp cjs wsc sct rdp iqy slk mdb accde cab msu diagcab mobileconfig terminal webloc ps1xml psd1 vb ws'.split(
        ' ',
      )
    const all = table.map(([e]) => e)
    for (const e of added) expect(all, e).toContain(e)
    expect(new Set(all).size).toBe(all.length)
  })

  for (const [ext, kind] of table) {
    it(`.${ext} is ${kind}, by name alone and with harmless text content, in any case`, () => {
      for (const name of [`file.${ext}`, `FILE.${ext.toUpperCase()}`, `report.pdf.${ext}`]) {
        expect(kinds(assessRiskByName(name)), name).toEqual([kind])
        expect(
          assessRisk({ name, head: TEXT }).reasons.map((r) => r.kind),
          name,
        ).toContain(kind)
      }
    })
  }

  it('passes ordinary names, and a dot-file (saved without its leading dot, so with no extension)', () => {
    for (const name of [
      'notes.txt',
      'photo.jpg',
      'plan.docx',
      'Meeting 10:30.txt',
      'archive.tar.gz',
      'README',
    ])
      expect(assessRiskByName(name).risky, name).toBe(false)
  })
})

describe('disguised names are judged as saved (SECURITY-TESTS 29)', () => {
  const long = (ext: string) => `${'x'.repeat(196)}.${ext}`
  const table: [string, string, string][] = [
    // [what, name as sent, extension on disk]
    ['trailing dot', 'invoice.hta.', 'hta'],
    ['trailing dots and spaces', 'invoice.hta . .', 'hta'],
    ['trailing space', 'invoice.hta ', 'hta'],
    ['zero-width space inside the extension', 'photo.vb\u200Bs', 'vbs'],
    ['zero-width joiner', 'run.ba\u200Dt', 'bat'],
    ['word joiner', 'setup.ex\u2060e', 'exe'],
    ['byte order mark', 'setup.\uFEFFexe', 'exe'],
    ['ideographic space (U+3000) at the end', 'invoice.hta\u3000', 'hta'],
    ['no-break space at the end', 'invoice.bat\u00A0', 'bat'],
    ['bidi override inside the extension', 'report.ex\u202Ee', 'exe'],
    ['bidi isolate inside the extension', 'report.s\u2066cr', 'scr'],
    ['truncation at 200 bytes cutting into a long extension', long('batch_file_with_a_long_tail'), 'bat'],
    // 65 three-byte characters, `x` and `.vbs` are 200 bytes; the next character does not fit.
    ['truncation of a multi-byte name', `${'\u6587'.repeat(65)}x.vbs${'\u6587'.repeat(20)}`, 'vbs'],
  ]
  for (const [what, name, ext] of table) {
    it(`${what}: ${JSON.stringify(name)} is saved as .${ext} and flagged`, () => {
      const saved = safeFilename(name)
      expect(saved.toLowerCase().endsWith(`.${ext}`), saved).toBe(true)
      const byName = assessRiskByName(name)
      expect(byName.savedName).toBe(saved)
      expect(byName.risky).toBe(true)
      expect(byName.reasons.map((r) => r.detail)).toContain(`.${ext} name`)
      const withContent = assessRisk({ name, head: TEXT })
      expect(withContent.savedName).toBe(saved)
      expect(withContent.reasons.map((r) => r.detail)).toContain(`.${ext} name`)
    })
  }

  it('an NTFS stream suffix: the file Windows would write is judged too', () => {
    for (const name of ['payload.hta:stream', 'payload.exe::$DATA', 'c.js:Zone.Identifier']) {
      const r = assessRiskByName(name)
      expect(r.risky, name).toBe(true)
      // Saved here with the colon replaced, never as a stream.
      expect(r.savedName).not.toContain(':')
    }
  })

  it('a mismatch is judged on the extension on disk', () => {
    // A ".pdf " that is a PNG: saved as .pdf, so it opens in a PDF reader.
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
    expect(kinds(assessRisk({ name: 'contract.pdf\u3000', head: png }))).toEqual(['type-mismatch'])
  })

  it('the name alone never reports a mismatch (no content yet)', () => {
    expect(assessRiskByName('paper.pdf').risky).toBe(false)
  })
})
