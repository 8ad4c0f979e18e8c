import { open } from 'node:fs/promises'
import { assessRisk, printable, RISK_SAMPLE_BYTES, type RiskReport } from '@airlock/core'
import type { Output } from './output.js'

/**
 * Risky received files (SECURITY-TESTS 21): core's `assessRisk` over the first and last bytes of
 * a saved file. The file is kept (it verified, and it is what the sender sent), but the person is
 * told, and scripts see `risk` in the JSON output. Nothing is ever opened or extracted.
 */
export async function checkRisk(path: string, name: string): Promise<RiskReport> {
  const fh = await open(path, 'r')
  try {
    const size = (await fh.stat()).size
    const head = new Uint8Array(Math.min(size, RISK_SAMPLE_BYTES))
    await fh.read(head, 0, head.length, 0)
    const tail = new Uint8Array(Math.min(size, RISK_SAMPLE_BYTES))
    await fh.read(tail, 0, tail.length, size - tail.length)
    return assessRisk({ name, head, tail })
  } finally {
    await fh.close()
  }
}

/** The JSON form of a report (null when nothing was found), and a warning line for people. */
export function reportRisk(out: Output, name: string, risk: RiskReport) {
  if (!risk.risky) return null
  const why = risk.reasons.map((r) => `${r.kind} (${r.detail})`).join(', ')
  out.warn(
    `WARNING: ${printable(name)} looks risky: ${why}. Do not open it unless you expected exactly this.`,
  )
  return { reasons: risk.reasons.map((r) => ({ kind: r.kind, detail: r.detail })) }
}
