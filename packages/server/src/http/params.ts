import type { z } from 'zod'
import { NotFoundError } from '../errors.js'

/**
 * The path parameter `name` if `schema` accepts it; else `NOT_FOUND` (or `message`), as for an id
 * that exists nowhere: a malformed id and an unknown one answer alike.
 */
export function pathParam<S extends z.ZodType>(
  params: unknown,
  name: string,
  schema: S,
  message?: string,
): z.output<S> {
  const r = schema.safeParse((params as Record<string, unknown> | undefined)?.[name])
  if (!r.success) throw new NotFoundError(message)
  return r.data
}
