import { utf8 } from './bytes.js'
import { InvalidInputError } from './errors.js'

/** A JSON value restricted to what canonical encoding supports: no floats, no undefined. */
export type Canonical = string | number | boolean | null | Canonical[] | { [key: string]: Canonical }

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, integers only (safe
 * range), strings as `JSON.stringify` writes them. The same value always yields the same bytes, so
 * signatures and hashes over it are well defined. Throws `InvalidInputError` for floats,
 * non-safe integers, `undefined` or other non-JSON values.
 */
export function canonicalJson(value: Canonical): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value)
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new InvalidInputError('canonical JSON allows safe integers only')
    return String(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort()
    const parts: string[] = []
    for (const k of keys) {
      const v = value[k]
      if (v === undefined) throw new InvalidInputError('canonical JSON does not allow undefined')
      parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`)
    }
    return `{${parts.join(',')}}`
  }
  throw new InvalidInputError('value is not canonical JSON')
}

/** UTF-8 bytes of {@link canonicalJson}, prefixed by a domain-separation context line. */
export function canonicalBytes(context: string, value: Canonical): Uint8Array {
  return utf8(`${context}\n${canonicalJson(value)}`)
}
