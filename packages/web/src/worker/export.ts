import {
  collisionKey,
  concatBytes,
  encryptStreamWithPassphrase,
  InvalidInputError,
  safeFilename,
  unusedName,
  utf8,
} from '@airlock/core'
import type { Items } from './items.ts'
import * as opfs from './opfs.ts'

/**
 * "Export everything": every verified item of the timeline as a standard age file encrypted to a
 * passphrase (age scrypt, as `airlock export --passphrase`), collected in one tar archive so the
 * browser saves a single file. `tar xf export.tar && age -d file.age > file` restores each one.
 */

const BLOCK = 512
const TAR_NAME = 'pt-export.tar'
const PART_NAME = 'pt-export-part'

export async function exportAll(
  items: Items,
  passphrase: string,
  progress: (done: number, total: number) => void,
  signal: AbortSignal,
): Promise<File> {
  if (passphrase.length < 8) throw new InvalidInputError('choose a passphrase of at least 8 characters')
  const list = items.verified()
  const total = list.reduce((n, i) => n + i.size, 0)
  const taken = new Set<string>()
  const root = await navigator.storage.getDirectory()
  const access = await (await root.getFileHandle(TAR_NAME, { create: true })).createSyncAccessHandle()
  let at = 0
  const write = (b: Uint8Array) => {
    let off = 0
    while (off < b.length) off += access.write(b.subarray(off), { at: at + off })
    at += b.length
  }
  let done = 0
  try {
    access.truncate(0)
    for (const item of list) {
      if (signal.aborted) throw signal.reason
      const base =
        item.kind === 'note'
          ? `note-${new Date(item.created).toISOString().slice(0, 19).replace(/:/g, '-')}.txt`
          : item.name
      const name = unusedName(`${safeFilename(base)}.age`, (k) => taken.has(k))
      taken.add(collisionKey(name))
      const { file } = await items.download(item.itemId, () => {}, signal)
      try {
        const encrypted = await encryptStreamWithPassphrase(passphrase, file.stream())
        const size = await opfs.writeFile(PART_NAME, encrypted, undefined, signal)
        for (const h of headers(name, size, item.created)) write(h)
        const reader = (await opfs.readFile(PART_NAME)).stream().getReader()
        for (;;) {
          const { done: end, value } = await reader.read()
          if (end) break
          write(value)
        }
        if (size % BLOCK) write(new Uint8Array(BLOCK - (size % BLOCK)))
      } finally {
        await opfs.removeFile(`pt-${item.itemId}`)
        await opfs.removeFile(PART_NAME)
      }
      done += item.size
      progress(done, total)
    }
    write(new Uint8Array(BLOCK * 2))
    access.flush()
  } finally {
    access.close()
  }
  return opfs.readFile(TAR_NAME)
}

/** A ustar header, with a PAX header before it for a name over 99 bytes or a size of 8 GiB or more. */
function headers(name: string, size: number, mtimeMs: number): Uint8Array[] {
  const nameBytes = utf8(name)
  const mtime = Math.floor(mtimeMs / 1000)
  const records: Uint8Array[] = []
  if (nameBytes.length >= 100) records.push(paxRecord('path', name))
  const bigSize = size > 0o77777777777
  if (bigSize) records.push(paxRecord('size', String(size)))
  const main = header(nameBytes.slice(0, 99), bigSize ? 0 : size, mtime, '0')
  if (records.length === 0) return [main]
  const pax = concatBytes(...records)
  const pad = (BLOCK - (pax.length % BLOCK)) % BLOCK
  return [header(utf8('PaxHeader'), pax.length, mtime, 'x'), pax, new Uint8Array(pad), main]
}

function paxRecord(key: string, value: string): Uint8Array {
  const body = ` ${key}=${value}\n`
  const bodyLen = utf8(body).length
  let len = bodyLen + 1
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen
  return utf8(`${len}${body}`)
}

function header(name: Uint8Array, size: number, mtime: number, type: string): Uint8Array {
  const h = new Uint8Array(BLOCK)
  const put = (s: string | Uint8Array, at: number) => h.set(typeof s === 'string' ? utf8(s) : s, at)
  const octal = (n: number, width: number) => `${n.toString(8).padStart(width - 1, '0')}\0`
  put(name.slice(0, 100), 0)
  put(octal(0o600, 8), 100)
  put(octal(0, 8), 108)
  put(octal(0, 8), 116)
  put(octal(size, 12), 124)
  put(octal(mtime, 12), 136)
  put('        ', 148)
  put(type, 156)
  put('ustar\x0000', 257)
  let sum = 0
  for (const b of h) sum += b
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148)
  return h
}
