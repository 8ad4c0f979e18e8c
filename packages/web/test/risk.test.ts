import { describe, expect, it } from 'vitest'
import { riskByName, riskOf } from '../src/risk.ts'

// SECURITY-TESTS 21: risky content is flagged on receive, judged from the content, not the name.

const bytes = (...b: number[]) => new Uint8Array([...b, ...new Array(64).fill(0)])
const ascii = (s: string) => new TextEncoder().encode(s)

describe('risky files', () => {
  it.each([
    ['Windows program named as a photo', 'holiday.jpg', bytes(0x4d, 0x5a, 0x90, 0), 'executable'],
    ['Linux program with no extension', 'readme', bytes(0x7f, 0x45, 0x4c, 0x46), 'executable'],
    ['macOS program named as text', 'notes.txt', bytes(0xcf, 0xfa, 0xed, 0xfe), 'executable'],
    ['script named as a document', 'invoice.pdf', ascii('#!/bin/sh\nrm -rf ~\n'), 'script'],
    [
      'legacy Office file with a VBA project',
      'budget.xls',
      new Uint8Array([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, ...ascii('....VBA....')]),
      'macro',
    ],
    ['script hidden behind a trailing dot', 'run.bat.', ascii('@echo off\r\n'), 'script'],
    ['HTML page (runs script when opened)', 'invoice.html', ascii('<html><script>'), 'script'],
    ['Office file with a VBA project', 'report.docx', ascii('PK\x03\x04....word/vbaProject.bin'), 'macro'],
    ['PDF that calls itself a picture', 'scan.png', ascii('%PDF-1.7\n'), 'mismatch'],
    ['PNG that calls itself a PDF', 'contract.pdf', bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a), 'mismatch'],
  ])('%s', (_what, name, head, kind) => {
    expect(riskOf(name, head)?.kind).toBe(kind)
  })

  it.each([
    ['photo.jpg', bytes(0xff, 0xd8, 0xff, 0xe0)],
    ['scan.PDF', ascii('%PDF-1.4')],
    ['archive.zip', ascii('PK\x03\x04')],
    ['report.docx', ascii('PK\x03\x04word/document.xml')],
    ['data.csv', ascii('a,b,c\n1,2,3\n')],
    ['random.bin', bytes(1, 2, 3, 4)],
  ])('%s is not flagged', (name, head) => {
    expect(riskOf(name, head)).toBeNull()
  })

  it.each([
    'setup.exe',
    'run.BAT',
    'x.ps1',
    'macro.xlsm',
    'a.tar.gz.scr',
    'Install.msi',
    'link.lnk',
    'run.bat\u200b',
    'page.svg',
  ])('%s is flagged by its name before download', (name) => {
    expect(riskByName(name)).not.toBeNull()
  })

  it('does not treat a dot-file or a name without extension as an extension', () => {
    expect(riskByName('.exe')).toBeNull()
    expect(riskByName('exe')).toBeNull()
  })
})
