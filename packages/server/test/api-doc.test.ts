import { readFile } from 'node:fs/promises'
import { ENDPOINTS, renderApiDoc } from '@airlock/core'
import { expect, it } from 'vitest'

const DIR = new URL('..', import.meta.url)

it('API.md is what the endpoint table and API.template.md generate', async () => {
  const template = await readFile(new URL('API.template.md', DIR), 'utf8')
  const checkedIn = await readFile(new URL('API.md', DIR), 'utf8')
  expect(
    checkedIn,
    'packages/server/API.md is out of date: edit packages/server/API.template.md or ' +
      'packages/core/src/endpoints.ts, never API.md itself, then run `npm run api-doc` and commit API.md',
  ).toBe(renderApiDoc(ENDPOINTS, template))
})
