import type { Manifest } from './manifest.js'

/**
 * Filenames come from manifests, which another device wrote; on a receiving machine they must
 * never name a path outside the folder chosen for them, overwrite anything, hide their real
 * extension, or smuggle terminal escapes.
 */

// C0/C1 controls and DEL; bidi embeddings, overrides and isolates; zero-width characters.
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g
// Separators on any platform and characters Windows refuses.
const FORBIDDEN = /[/\\:*?"<>|]/g
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i
const MAX_BYTES = 200

/**
 * Turns an untrusted filename into one safe path component for any of Windows, macOS and Linux:
 * NFC-normalised; controls, bidi and zero-width characters removed; separators, drive colons and
 * Windows-forbidden characters replaced by `_`; leading dots and trailing dots/spaces dropped
 * (no hidden files, no `..`); reserved device names prefixed; at most 200 UTF-8 bytes, keeping
 * the extension. Never throws: a name with nothing left becomes `unnamed`.
 */
export function safeFilename(name: string): string {
  let s = name.normalize('NFC').replace(INVISIBLE, '').replace(FORBIDDEN, '_')
  s = s.replace(/^[\s.]+/, '').replace(/[\s.]+$/, '')
  if (RESERVED.test(s)) s = `_${s}`
  s = truncateUtf8(s, MAX_BYTES)
  return s.length === 0 ? 'unnamed' : s
}

/** The key under which two names collide on a case-insensitive, normalising file system. */
export function collisionKey(name: string): string {
  return name.normalize('NFC').toLowerCase()
}

/**
 * Picks `name`, or `name (2).ext`, `name (3).ext`, … — the first candidate for which `taken`
 * (compared with {@link collisionKey}) is false, so nothing is ever overwritten, also on
 * case-insensitive file systems. `name` must already be safe.
 */
export function unusedName(name: string, taken: (key: string) => boolean): string {
  if (!taken(collisionKey(name))) return name
  const dot = name.lastIndexOf('.')
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
  for (let i = 2; ; i++) {
    const candidate = truncateUtf8(`${stem} (${i})`, MAX_BYTES - utf8Length(ext)) + ext
    if (!taken(collisionKey(candidate))) return candidate
  }
}

/**
 * Makes untrusted text safe to print on a terminal or in a log: control, bidi and zero-width
 * characters become visible `\u{…}` escapes, so no escape sequence reaches the terminal.
 */
export function printable(text: string): string {
  return text.replace(INVISIBLE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`)
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length
}

/** Shortens to at most `max` UTF-8 bytes, cutting the stem and keeping a short extension. */
function truncateUtf8(s: string, max: number): string {
  if (utf8Length(s) <= max) return s
  const dot = s.lastIndexOf('.')
  const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : ''
  let stem = ext ? s.slice(0, dot) : s
  const budget = max - utf8Length(ext)
  // Cut by code points so no surrogate pair is split.
  const points = [...stem]
  while (points.length > 0 && utf8Length(points.join('')) > budget) points.pop()
  stem = points.join('').replace(/[\s.]+$/, '')
  return stem + ext
}

/**
 * The name an item is saved (or shared) under, before sanitising: its file name, `unnamed` for a
 * file without one, and `note-<local date and time>.txt` for a note.
 */
export function itemFileName(m: Pick<Manifest, 'kind' | 'filename' | 'created'>): string {
  if (m.kind === 'note') {
    const d = new Date(m.created)
    const p = (x: number) => String(x).padStart(2, '0')
    const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`
    return `note-${stamp}.txt`
  }
  return m.filename || 'unnamed'
}
