import type { z } from 'zod'
import { NotFoundError } from '../errors.js'

/**
 * Path parameter `name` of an endpoint of core's table, parsed by the table's schema for it; else
 * `NOT_FOUND` (or `message`), as for an id that exists nowhere: a malformed id and an unknown one
 * answer alike. One parameter at a time, so a route checks each where its order of checks says.
 */
export function paramOf<S extends z.ZodObject, K extends keyof S['shape'] & string>(
  e: { readonly params: S },
  name: K,
  params: unknown,
  message?: string,
): z.output<S['shape'][K]> {
  const schema = e.params.shape[name] as z.ZodType
  const r = schema.safeParse((params as Record<string, unknown> | undefined)?.[name])
  if (!r.success) throw new NotFoundError(message)
  return r.data as z.output<S['shape'][K]>
}
