/**
 * Parses a `Range` header for a resource of `size` bytes (RFC 9110 §14): one range of the
 * `bytes` unit as an inclusive `{start, end}`, `null` to serve the whole resource (no header,
 * another unit, several ranges, or a malformed header — all of which may be ignored), or
 * `'unsatisfiable'` (416) when the range starts past the end.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'unsatisfiable' {
  if (header === undefined) return null
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim())
  if (!m) return null
  const [, a, b] = m as unknown as [string, string, string]
  if (a === '' && b === '') return null
  if (a === '') {
    const n = Number(b)
    if (n === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
  if (b !== '' && Number(b) < start) return null
  if (start >= size) return 'unsatisfiable'
  return { start, end }
}
