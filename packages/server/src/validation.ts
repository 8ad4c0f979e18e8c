import type { z } from 'zod'
import { InvalidBodyError } from './errors.js'

/**
 * Parses untrusted input with a schema, or throws `InvalidBodyError` naming the fields at fault
 * (paths and zod's messages, never the offending values).
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what = 'body'): z.output<S> {
  const r = schema.safeParse(input)
  if (r.success) return r.data
  const issues = r.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : what}: ${i.message}`)
    .join('; ')
  throw new InvalidBodyError(`invalid ${what}: ${issues}`)
}
