/**
 * Risky files, flagged before they can be saved: programs, scripts, macro-enabled documents,
 * and files whose content does not match their name. Content is judged by its first bytes, not by
 * what the sender called it (SECURITY-TESTS.md 21).
 */

export interface Risk {
  kind: 'executable' | 'script' | 'macro' | 'mismatch'
  /** One sentence for the warning. */
  reason: string
}

const EXECUTABLE_EXT = new Set(
  'exe dll com scr msi msix msp cpl sys drv ocx pif appx appxbundle apk ipa app dmg pkg deb rpm run elf so dylib jar class'.split(
    ' ',
  ),
)
const SCRIPT_EXT = new Set(
  'bat cmd ps1 psm1 psd1 vbs vbe js mjs jse wsf wsh hta html htm xhtml shtml svg svgz mht mhtml xml desktop sh bash zsh csh ksh command py pyw pl rb php lnk reg scf url inf iso img vhd vhdx chm msc'.split(
    ' ',
  ),
)
const MACRO_EXT = new Set('docm dotm xlsm xltm xlam ppam pptm potm ppsm sldm'.split(' '))

/** What the first bytes of a file say it is, when that is recognisable. */
function sniff(head: Uint8Array): { type: string; risky?: Risk['kind'] } | null {
  const starts = (...b: number[]) => b.every((x, i) => head[i] === x)
  const ascii = (s: string, at = 0) => [...s].every((c, i) => head[at + i] === c.charCodeAt(0))
  if (starts(0x4d, 0x5a)) return { type: 'Windows program', risky: 'executable' }
  if (starts(0x7f, 0x45, 0x4c, 0x46)) return { type: 'Linux program', risky: 'executable' }
  if (starts(0xcf, 0xfa, 0xed, 0xfe) || starts(0xce, 0xfa, 0xed, 0xfe) || starts(0xca, 0xfe, 0xba, 0xbe))
    return { type: 'macOS program', risky: 'executable' }
  if (ascii('#!')) return { type: 'script', risky: 'script' }
  if (starts(0xd0, 0xcf, 0x11, 0xe0))
    return { type: 'legacy Office document (may contain macros)', risky: 'macro' }
  if (ascii('%PDF-')) return { type: 'pdf' }
  if (starts(0x89, 0x50, 0x4e, 0x47)) return { type: 'png' }
  if (starts(0xff, 0xd8, 0xff)) return { type: 'jpeg' }
  if (ascii('GIF8')) return { type: 'gif' }
  if (ascii('RIFF') && ascii('WEBP', 8)) return { type: 'webp' }
  if (ascii('PK')) {
    const text = new TextDecoder('latin1').decode(head)
    if (text.includes('vbaProject.bin')) return { type: 'Office document with macros', risky: 'macro' }
    return { type: 'zip' }
  }
  return null
}

const TYPE_EXT: Record<string, string[]> = {
  pdf: ['pdf'],
  png: ['png'],
  jpeg: ['jpg', 'jpeg', 'jfif'],
  gif: ['gif'],
  webp: ['webp'],
  zip: [
    'zip',
    'docx',
    'xlsx',
    'pptx',
    'odt',
    'ods',
    'odp',
    'epub',
    'jar',
    'apk',
    'xpi',
    'whl',
    'nupkg',
    'kmz',
    '3mf',
  ],
}

function extension(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? ''
  const dot = base.lastIndexOf('.')
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : ''
}

/** A warning from the name alone (shown in the timeline before download). */
export function riskByName(name: string): Risk | null {
  const ext = extension(name)
  if (EXECUTABLE_EXT.has(ext))
    return { kind: 'executable', reason: `“.${ext}” files are programs that can run on your computer.` }
  if (SCRIPT_EXT.has(ext))
    return { kind: 'script', reason: `“.${ext}” files can run commands on your computer.` }
  if (MACRO_EXT.has(ext))
    return { kind: 'macro', reason: `“.${ext}” documents can contain macros that run code.` }
  return null
}

/** The warning for a received file from its name and its first bytes (up to 4 KiB). */
export function riskOf(name: string, head: Uint8Array): Risk | null {
  const byName = riskByName(name)
  const found = sniff(head)
  if (found?.risky) {
    if (byName) return byName
    return { kind: found.risky, reason: `This file is a ${found.type}, whatever its name says.` }
  }
  if (byName) return byName
  const ext = extension(name)
  if (found && ext && !TYPE_EXT[found.type]?.includes(ext))
    return { kind: 'mismatch', reason: `This file is a ${found.type}, but its name ends in “.${ext}”.` }
  return null
}
