import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { collisionKey, printable, safeFilename, unusedName } from '../src/filename.js'

// SECURITY-TESTS 19: hostile filenames from manifests.
function isSafe(s: string): boolean {
  return (
    s.length > 0 &&
    !/[/\\:*?"<>|\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(s) &&
    !s.startsWith('.') &&
    !/[ .]$/.test(s) &&
    new TextEncoder().encode(s).length <= 200 &&
    !/^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i.test(s)
  )
}

describe('safeFilename', () => {
  const table: [string, string][] = [
    ['../../etc/passwd', '_.._etc_passwd'],
    ['/etc/shadow', '_etc_shadow'],
    ['..\\..\\Windows\\system32', '_.._Windows_system32'],
    ['C:\\boot.ini', 'C__boot.ini'],
    ['a\u0000b.txt', 'ab.txt'],
    ['\u001b[31mred\u001b[0m.txt', '[31mred[0m.txt'],
    ['invoice\u202Egpj.exe', 'invoicegpj.exe'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['com1.tar.gz', '_com1.tar.gz'],
    ['..', 'unnamed'],
    ['.bashrc', 'bashrc'],
    ['report. ', 'report'],
    ['', 'unnamed'],
    ['caf\u0065\u0301.txt', 'caf\u00e9.txt'],
    ['zero\u200bwidth', 'zerowidth'],
  ]
  for (const [input, want] of table) {
    it(`makes ${JSON.stringify(input)} safe`, () => {
      expect(safeFilename(input)).toBe(want)
    })
  }

  it('keeps the extension of over-long names within 200 bytes', () => {
    const s = safeFilename(`${'é'.repeat(300)}.pdf`)
    expect(s.endsWith('.pdf')).toBe(true)
    expect(new TextEncoder().encode(s).length).toBeLessThanOrEqual(200)
    const emoji = safeFilename('😀'.repeat(100))
    expect(emoji).toBe('😀'.repeat(50))
  })

  it('always yields one safe path component', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        const out = safeFilename(s)
        expect(isSafe(out), JSON.stringify(out)).toBe(true)
        expect(safeFilename(out)).toBe(out)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('unusedName', () => {
  it('never reuses a name, ignoring case and normalisation', () => {
    const taken = new Set(['report.pdf', 'report (2).pdf'].map(collisionKey))
    expect(unusedName('Report.PDF', (k) => taken.has(k))).toBe('Report (3).PDF')
    const nfd = new Set([collisionKey('cafe\u0301')])
    expect(unusedName('caf\u00e9', (k) => nfd.has(k))).toBe('caf\u00e9 (2)')
    expect(unusedName('fresh.txt', () => false)).toBe('fresh.txt')
  })
})

describe('printable', () => {
  it('escapes terminal control sequences and bidi overrides', () => {
    expect(printable('a\u001b[2Jb\u202e')).toBe('a\\u{1b}[2Jb\\u{202e}')
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/.test(printable(s))).toBe(false)
      }),
    )
  })
})
