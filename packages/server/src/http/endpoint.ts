import { ENDPOINTS, type EndpointName } from '@airlock/core'
import type { FastifyInstance, RouteHandlerMethod } from 'fastify'
import type { z } from 'zod'
import { parseInput } from '../validation.js'

/**
 * Routes are declared by core's endpoint table (`ENDPOINTS`): its method and path, and the zod
 * schemas that parse its inputs, so the server, both clients and API.md cannot drift apart.
 */

/** Registers `handler` at the method and path the endpoint table gives `name`. */
export function on(
  app: FastifyInstance,
  name: EndpointName,
  handler: RouteHandlerMethod,
  opts: { bodyLimit?: number } = {},
): void {
  const e = ENDPOINTS[name]
  app.route({ ...opts, method: e.method, url: e.path, handler })
}

/** The endpoint's JSON body, parsed by its schema (`INVALID_BODY` naming the fields at fault). */
export function bodyOf<S extends z.ZodType>(e: { readonly request: S }, raw: unknown): z.output<S> {
  return parseInput(e.request, raw)
}

/** The endpoint's query string, parsed by its schema (`INVALID_BODY` naming the fields at fault). */
export function queryOf<S extends z.ZodType>(e: { readonly query: S }, raw: unknown): z.output<S> {
  return parseInput(e.query, raw, 'query')
}
