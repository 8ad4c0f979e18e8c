import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { utf8 } from '../src/bytes.js'
import { assessRisk, detectContent } from '../src/risk.js'

// SECURITY-TESTS 21: risky content is flagged from content, not only from the name.

const bytes = (...b: number[]) => new Uint8Array([...b, ...new Array(64).fill(0x41)])
const MZ = bytes(0x4d, 0x5a, 0x90, 0)
const ELF = bytes(0x7f, 0x45, 0x4c, 0x46)
const PDF = utf8('%PDF-1.7\n%âãÏÓ\n')
const ZIP = bytes(0x50, 0x4b, 0x03, 0x04)
const kinds = (r: ReturnType<typeof assessRisk>) => [...new Set(r.reasons.map((x) => x.kind))].sort()

describe('risky files (SECURITY-TESTS 21)', () => {
  it('flags executables by content whatever their name', () => {
    expect(kinds(assessRisk({ name: 'invoice.pdf', head: MZ }))).toEqual(['executable', 'type-mismatch'])
    expect(kinds(assessRisk({ name: 'notes', head: ELF }))).toEqual(['executable'])
    expect(assessRisk({ name: 'x', head: bytes(0xcf, 0xfa, 0xed, 0xfe) }).detected).toBe('mach-o')
  })

  it('flags executable, script and macro names, also behind a second extension', () => {
    expect(kinds(assessRisk({ name: 'report.pdf.exe', head: MZ }))).toEqual(['executable'])
    expect(kinds(assessRisk({ name: 'run.PS1', head: utf8('Write-Host hi') }))).toEqual(['script'])
    expect(kinds(assessRisk({ name: 'budget.xlsm', head: ZIP }))).toEqual(['macro-document'])
    expect(kinds(assessRisk({ name: 'deploy', head: utf8('#!/bin/sh\nrm -rf /') }))).toEqual(['script'])
  })

  it('finds a macro project in an Office document called .docx (in the ZIP directory at its end)', () => {
    const tail = utf8('....word/vbaProject.bin....PK\u0005\u0006')
    expect(kinds(assessRisk({ name: 'letter.docx', head: ZIP, tail }))).toEqual(['macro-document'])
    expect(assessRisk({ name: 'letter.docx', head: ZIP, tail: utf8('word/document.xml') }).risky).toBe(false)
    const ole = bytes(0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1)
    expect(kinds(assessRisk({ name: 'old.doc', head: ole, tail: utf8('_VBA_PROJECT') }))).toEqual([
      'macro-document',
    ])
  })

  it('flags a name that lies about its type, and passes honest files', () => {
    expect(kinds(assessRisk({ name: 'photo.jpg', head: PDF }))).toEqual(['type-mismatch'])
    expect(kinds(assessRisk({ name: 'readme.txt', head: ZIP }))).toEqual(['type-mismatch'])
    expect(assessRisk({ name: 'paper.pdf', head: PDF }).risky).toBe(false)
    expect(assessRisk({ name: 'photo.JPG', head: bytes(0xff, 0xd8, 0xff, 0xe0) }).risky).toBe(false)
    expect(assessRisk({ name: 'notes.txt', head: utf8('plain words\n') }).risky).toBe(false)
    expect(assessRisk({ name: 'data.bin', head: new Uint8Array([1, 2, 3]) }).risky).toBe(false)
    expect(detectContent(new Uint8Array(0))).toBeNull()
  })

  it('never throws, for any name and bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }),
        (name, head, tail) => {
          const r = assessRisk({ name, head, tail })
          expect(r.risky).toBe(r.reasons.length > 0)
        },
      ),
    )
  })
})
