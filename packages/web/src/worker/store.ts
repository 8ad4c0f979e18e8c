import { NotSetUpError } from '@airlock/core'
import { WebError } from '../errors.ts'

/**
 * This browser's Airlock state in IndexedDB (one database per origin, so per server):
 *  - `wrap`: an AES-GCM key created non-extractable; script can use it but never read it, and it
 *    cannot be copied out of the browser's key store as bytes;
 *  - `device`: the device's private keys, encrypted under `wrap` (age's hybrid post-quantum
 *    identity has no WebCrypto form, so the keys are held as wrapped bytes and unwrapped into the
 *    worker's memory only);
 *  - `account`, `log` (the verified, pinned device log), `uploads` (sends in progress, so a
 *    reload resumes them).
 */

const DB_NAME = 'airlock'
const STORE = 'kv'

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1)
    req.onupgradeneeded = () => req.result.createObjectStore(STORE)
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(new WebError('STORAGE', 'this browser refused local storage (private mode?)'))
  })
}

let db: Promise<IDBDatabase> | null = null
const database = () => {
  db ??= open()
  return db
}

function done<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error ?? new WebError('STORAGE', 'local storage failed'))
  })
}

export async function get<T>(key: string): Promise<T | undefined> {
  const d = await database()
  return (await done(d.transaction(STORE).objectStore(STORE).get(key))) as T | undefined
}

export async function put(key: string, value: unknown): Promise<void> {
  const d = await database()
  const tx = d.transaction(STORE, 'readwrite')
  tx.objectStore(STORE).put(value, key)
  await commit(tx)
}

export async function del(key: string): Promise<void> {
  const d = await database()
  const tx = d.transaction(STORE, 'readwrite')
  tx.objectStore(STORE).delete(key)
  await commit(tx)
}

/** Keys starting with `prefix`, with their values. */
export async function list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
  const d = await database()
  const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`)
  const store = d.transaction(STORE).objectStore(STORE)
  const [keys, values] = await Promise.all([done(store.getAllKeys(range)), done(store.getAll(range))])
  return keys.map((k, i) => ({ key: String(k), value: values[i] as T }))
}

/**
 * Reads `key`, lets `f` decide the new value from the stored one, and writes it, in one
 * transaction (so two tabs cannot interleave). `f` must be synchronous.
 */
export async function update<T>(
  key: string,
  f: (old: T | undefined) => T | undefined,
): Promise<T | undefined> {
  const d = await database()
  const tx = d.transaction(STORE, 'readwrite')
  const store = tx.objectStore(STORE)
  const old = (await done(store.get(key))) as T | undefined
  const next = f(old)
  if (next !== undefined && next !== old) store.put(next, key)
  await commit(tx)
  return next ?? old
}

function commit(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve()
    tx.onerror = () => reject(tx.error ?? new WebError('STORAGE', 'local storage failed'))
    tx.onabort = () => reject(tx.error ?? new WebError('STORAGE', 'local storage failed'))
  })
}

/** Encrypts `text` under the non-extractable wrapping key (made on first use). */
export async function seal(text: string): Promise<{ iv: Uint8Array; data: ArrayBuffer }> {
  let key = await get<CryptoKey>('wrap')
  if (!key) {
    const fresh = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
      'encrypt',
      'decrypt',
    ])
    // Two tabs setting up at once keep one key: the first one stored wins.
    key = (await update<CryptoKey>('wrap', (old) => old ?? fresh))!
  }
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(text))
  return { iv, data }
}

export async function unseal(box: { iv: Uint8Array; data: ArrayBuffer }): Promise<string> {
  const key = await get<CryptoKey>('wrap')
  if (!key) throw new NotSetUpError('this browser has lost its device key')
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(box.iv) }, key, box.data)
  return new TextDecoder().decode(plain)
}

/** Forgets everything (after this device was removed, or on "sign out and forget"). */
export async function clearAll(): Promise<void> {
  const d = await database()
  const tx = d.transaction(STORE, 'readwrite')
  tx.objectStore(STORE).clear()
  await commit(tx)
}
