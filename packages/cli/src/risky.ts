import { open } from 'node:fs/promises'
import { basename } from 'node:path'
import { assessRisk, assessRiskByName, printable, RISK_SAMPLE_BYTES, type RiskReport } from '@airlock/core'
import type { Output } from './output.js'

/**
 * Risky received files (SECURITY-TESTS 21, 29): core's `assessRisk` over the name a file was sent
 * under (core judges the name it is saved under) and the first and last bytes of the saved file.
 * The file is kept (it verified, and it is what the sender sent), but the person is told, and
 * scripts see `risk` in the JSON output. Nothing is ever opened or extracted. Every path that
 * writes a received file (get, watch, open-link, export --decrypted) calls this.
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

/** The JSON form of a report: null when nothing was found. */
export function riskJson(risk: RiskReport): { reasons: { kind: string; detail: string }[] } | null {
  if (!risk.risky) return null
  return { reasons: risk.reasons.map((r) => ({ kind: r.kind, detail: r.detail })) }
}

/** The risk of a listed file from its name alone (nothing downloaded yet), in JSON form. */
export function riskByName(name: string): ReturnType<typeof riskJson> {
  return riskJson(assessRiskByName(name))
}

/**
 * The JSON form of the report of the file saved at `path`, and a warning line for people that
 * names the file as it is on disk.
 */
export function reportRisk(out: Output, path: string, risk: RiskReport) {
  if (!risk.risky) return null
  const why = risk.reasons.map((r) => `${r.kind} (${r.detail})`).join(', ')
  out.warn(
    `WARNING: ${printable(basename(path))} looks risky: ${why}. Do not open it unless you expected exactly this.`,
  )
  return riskJson(risk)
}
