import { safeFilename } from './filename.js'

/**
 * Risky received files: executables, scripts, macro-enabled documents, and files whose content
 * is not what their name says. Detection reads content (magic bytes), never trusts the name or
 * the declared type alone: a manifest's name and type were chosen by the sending device, and a
 * file that is signed is not therefore safe to open. Pure and synchronous; callers pass the first
 * and last bytes of the file (a ZIP's list of names sits at its end).
 *
 * Names are judged as they land on disk: the name a file is saved under is `safeFilename` of the
 * name sent, which drops trailing dots and spaces (also U+3000 and NBSP), zero-width and bidi
 * characters and cuts long names, so `invoice.hta ` or `photo.vb\u200Bs` is an `.hta` or `.vbs` on
 * disk. Every client passes the name as sent and gets the judgement of the saved name.
 */

export type RiskKind = 'executable' | 'script' | 'macro-document' | 'type-mismatch'

export interface RiskReason {
  readonly kind: RiskKind
  /** For people: what was found, e.g. `Windows executable content`. Never file content. */
  readonly detail: string
}

export interface RiskReport {
  readonly risky: boolean
  /** The name the file is saved under (`safeFilename` of the last component of the name sent). */
  readonly savedName: string
  /** The content family detected from magic bytes, or null if none is known. */
  readonly detected: ContentFamily | null
  readonly reasons: readonly RiskReason[]
}

export type ContentFamily =
  | 'elf'
  | 'windows-executable'
  | 'mach-o'
  | 'script'
  | 'pdf'
  | 'zip'
  | 'ole'
  | 'png'
  | 'jpeg'
  | 'gif'
  | 'webp'

/** How many bytes from the start and the end of a file {@link assessRisk} looks at. */
export const RISK_SAMPLE_BYTES = 64 * 1024

/**
 * Extensions that run code when opened, by what they are. Programs and installers; disk images
 * and packages that mount or install with a double click (and carry files past the mark of the
 * web); Excel add-ins (DLLs); ClickOnce; cabinet and update packages; macOS profiles.
 */
export const EXECUTABLE_EXTENSIONS: readonly string[] = (
  'exe dll scr com msi msp cpl sys drv ocx pif lnk app apk appimage deb rpm dmg pkg jar class ' +
  'iso img vhd vhdx msix appx xll application appref-ms cab msu diagcab mobileconfig'
).split(' ')
/**
 * Scripts, and text files that point a program at something to run: shell and Windows scripts,
 * PowerShell data and format files, Windows Script components and scriptlets, shortcuts and
 * search connectors (`.url .library-ms .settingcontent-ms .webloc`), Java Web Start, remote
 * desktop and Excel web-query files, macOS Terminal files.
 */
export const SCRIPT_EXTENSIONS: readonly string[] = (
  'bat cmd ps1 psm1 vbs vbe js jse mjs wsf wsh hta html htm xhtml shtml svg svgz mht mhtml desktop url ' +
  'scf inf chm msc sh bash zsh fish py pyw pl rb php reg scpt applescript command ' +
  'cjs wsc sct ps1xml psd1 vb ws jnlp rdp iqy slk library-ms settingcontent-ms terminal webloc'
).split(' ')
/** Documents that carry macros or embedded programs (OneNote, Access). */
export const MACRO_EXTENSIONS: readonly string[] =
  'docm dotm xlsm xltm xlsb xlam pptm potm ppsm ppam sldm one mdb accde'.split(' ')

const EXECUTABLE_EXT = new Set(EXECUTABLE_EXTENSIONS)
const SCRIPT_EXT = new Set(SCRIPT_EXTENSIONS)
const MACRO_EXT = new Set(MACRO_EXTENSIONS)

/** What each extension's content should look like; unlisted extensions are not checked. */
const EXPECTED: Record<string, readonly (ContentFamily | 'text')[]> = {
  pdf: ['pdf'],
  png: ['png'],
  jpg: ['jpeg'],
  jpeg: ['jpeg'],
  gif: ['gif'],
  webp: ['webp'],
  zip: ['zip'],
  docx: ['zip'],
  xlsx: ['zip'],
  pptx: ['zip'],
  odt: ['zip'],
  ods: ['zip'],
  doc: ['ole'],
  xls: ['ole'],
  ppt: ['ole'],
  txt: ['text'],
  csv: ['text'],
  md: ['text'],
}

const enc = new TextEncoder()

function startsWith(b: Uint8Array, sig: readonly number[], at = 0): boolean {
  return b.length >= at + sig.length && sig.every((x, i) => b[at + i] === x)
}

function contains(b: Uint8Array, needle: string): boolean {
  const n = enc.encode(needle)
  outer: for (let i = 0; i + n.length <= b.length; i++) {
    for (let j = 0; j < n.length; j++) if (b[i + j] !== n[j]) continue outer
    return true
  }
  return false
}

/** The content family of a file from its first bytes, or null. */
export function detectContent(head: Uint8Array): ContentFamily | null {
  if (startsWith(head, [0x7f, 0x45, 0x4c, 0x46])) return 'elf'
  if (startsWith(head, [0x4d, 0x5a])) return 'windows-executable'
  for (const m of [
    [0xfe, 0xed, 0xfa, 0xce],
    [0xfe, 0xed, 0xfa, 0xcf],
    [0xce, 0xfa, 0xed, 0xfe],
    [0xcf, 0xfa, 0xed, 0xfe],
    [0xca, 0xfe, 0xba, 0xbe],
  ])
    if (startsWith(head, m)) return 'mach-o'
  if (startsWith(head, [0x23, 0x21])) return 'script'
  if (startsWith(head, [0x25, 0x50, 0x44, 0x46])) return 'pdf'
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04]) || startsWith(head, [0x50, 0x4b, 0x05, 0x06])) return 'zip'
  if (startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return 'ole'
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47])) return 'png'
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'jpeg'
  if (startsWith(head, [0x47, 0x49, 0x46, 0x38])) return 'gif'
  if (startsWith(head, [0x52, 0x49, 0x46, 0x46]) && startsWith(head, [0x57, 0x45, 0x42, 0x50], 8))
    return 'webp'
  return null
}

function looksLikeText(head: Uint8Array): boolean {
  for (const b of head.subarray(0, 4096)) if (b === 0 || (b < 0x09 && b !== 0x1b)) return false
  return true
}

/**
 * Every name a received file can go by: the name it is saved under (`safeFilename` of the last
 * component of the name sent, which the extension on disk comes from) and, for a name with a
 * colon, the file an NTFS volume would write (`x.hta:s` is the stream `s` of the file `x.hta`;
 * `safeFilename` makes the colon `_`, but a copy made by another tool may not).
 */
function namesOf(name: string): { saved: string; all: string[] } {
  const base = name.split(/[/\\]/).pop() ?? ''
  const saved = safeFilename(base)
  const all = [saved]
  const colon = base.indexOf(':')
  if (colon > 0) all.push(safeFilename(base.slice(0, colon)))
  return { saved, all }
}

function extensionsOf(name: string): string[] {
  return name.toLowerCase().split('.').slice(1)
}

function nameReasons(names: readonly string[], add: (kind: RiskKind, detail: string) => void): void {
  for (const n of names) {
    for (const e of extensionsOf(n)) {
      if (EXECUTABLE_EXT.has(e)) add('executable', `.${e} name`)
      if (SCRIPT_EXT.has(e)) add('script', `.${e} name`)
      if (MACRO_EXT.has(e)) add('macro-document', `.${e} name`)
    }
  }
}

function collector(): { reasons: RiskReason[]; add: (kind: RiskKind, detail: string) => void } {
  const reasons: RiskReason[] = []
  const add = (kind: RiskKind, detail: string) => {
    if (!reasons.some((r) => r.kind === kind && r.detail === detail)) reasons.push({ kind, detail })
  }
  return { reasons, add }
}

/**
 * Assesses a received file from its name as sent and its first and last bytes (up to
 * {@link RISK_SAMPLE_BYTES} each; pass the same bytes twice for a small file). Never throws.
 * The name is judged as it is saved (`savedName`, see the module comment) and, with an NTFS
 * `:stream` suffix, as the file Windows would write; every extension counts
 * (`report.pdf.exe` is an executable). Content counts more than names: an executable or macro
 * project is flagged whatever the file is called. A name/content mismatch is judged on the
 * saved name's last extension, the one that decides what opens the file.
 */
export function assessRisk(input: { name: string; head: Uint8Array; tail?: Uint8Array }): RiskReport {
  const { reasons, add } = collector()
  const names = namesOf(input.name)
  const last = extensionsOf(names.saved).at(-1) ?? ''
  const detected = detectContent(input.head)
  const tail = input.tail ?? input.head

  if (detected === 'elf' || detected === 'windows-executable' || detected === 'mach-o')
    add('executable', `${detected} content`)
  if (detected === 'script') add('script', 'script content (#!)')
  nameReasons(names.all, add)
  if (detected === 'zip' && (contains(input.head, 'vbaProject.bin') || contains(tail, 'vbaProject.bin')))
    add('macro-document', 'Office document with a macro project')
  if (
    detected === 'ole' &&
    (contains(input.head, 'VBA') || contains(tail, 'VBA') || contains(tail, 'Macros'))
  )
    add('macro-document', 'legacy Office document with macros')

  const expected = EXPECTED[last]
  if (expected) {
    const actual = detected ?? (looksLikeText(input.head) ? 'text' : null)
    if (actual === null || !expected.includes(actual))
      add('type-mismatch', `.${last} name but ${detected ?? actual ?? 'unrecognised binary'} content`)
  }
  return { risky: reasons.length > 0, savedName: names.saved, detected, reasons }
}

/**
 * The risk of a file from its name alone, before any byte of it is downloaded (for listing
 * items): the same names as {@link assessRisk} judges, with no content and so no mismatch.
 * Never throws.
 */
export function assessRiskByName(name: string): RiskReport {
  const { reasons, add } = collector()
  const names = namesOf(name)
  nameReasons(names.all, add)
  return { risky: reasons.length > 0, savedName: names.saved, detected: null, reasons }
}
