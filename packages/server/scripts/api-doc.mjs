// Writes packages/server/API.md from its template and core's endpoint table (`npm run api-doc`,
// which builds core first). test/api-doc.test.ts fails when the checked-in file differs.
import { readFileSync, writeFileSync } from 'node:fs'
import { ENDPOINTS, renderApiDoc } from '@airlock/core'

const dir = new URL('..', import.meta.url)
const template = readFileSync(new URL('API.template.md', dir), 'utf8')
writeFileSync(new URL('API.md', dir), renderApiDoc(ENDPOINTS, template))
