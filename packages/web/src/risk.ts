import { assessRisk, assessRiskByName, type RiskReport } from '@airlock/core'

/**
 * The web app's words for core's risk assessment (SECURITY-TESTS 21, 29): programs, scripts,
 * macro-enabled documents, and content that does not match the name. Core judges the name the
 * file is saved under (`safeFilename`), so a trailing dot or an invisible character cannot hide
 * an extension; this file only words its report.
 */

export interface Risk {
  kind: 'executable' | 'script' | 'macro' | 'mismatch'
  /** One sentence for the warning. */
  reason: string
}

const FAMILY: Record<string, string> = {
  elf: 'Linux program',
  'windows-executable': 'Windows program',
  'mach-o': 'macOS program',
  script: 'script',
  ole: 'legacy Office document',
  zip: 'zip archive',
}

function sentence(report: RiskReport): Risk | null {
  const reasons = report.reasons
  // Content outranks names: say what the file is when its bytes tell.
  const r = reasons.find((x) => !x.detail.endsWith(' name')) ?? reasons[0]
  if (!r) return null
  const ext = /^\.(\S+) name/.exec(r.detail)?.[1]
  const what = report.detected ? (FAMILY[report.detected] ?? report.detected) : null
  switch (r.kind) {
    case 'executable':
      return ext
        ? { kind: 'executable', reason: `“.${ext}” files are programs that can run on your computer.` }
        : { kind: 'executable', reason: `This file is a ${what ?? 'program'}, whatever its name says.` }
    case 'script':
      return ext
        ? { kind: 'script', reason: `“.${ext}” files can run commands on your computer.` }
        : { kind: 'script', reason: 'This file is a script that can run commands, whatever its name says.' }
    case 'macro-document':
      return { kind: 'macro', reason: 'This document can contain macros that run code.' }
    case 'type-mismatch':
      return {
        kind: 'mismatch',
        reason: `This file's content (${what ?? 'unrecognised'}) does not match its name.`,
      }
  }
}

/** A warning from the name alone (shown in the timeline before download). */
export function riskByName(name: string): Risk | null {
  return sentence(assessRiskByName(name))
}

/** The warning for a received file from its name and its first and last bytes. */
export function riskOf(name: string, head: Uint8Array, tail?: Uint8Array): Risk | null {
  return sentence(assessRisk({ name, head, ...(tail ? { tail } : {}) }))
}
