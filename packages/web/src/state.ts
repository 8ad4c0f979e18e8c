import { useEffect, useState } from 'preact/hooks'

/** A value the views subscribe to. */
export class Store<T> {
  private listeners = new Set<(v: T) => void>()
  constructor(private value: T) {}
  get(): T {
    return this.value
  }
  set(v: T): void {
    this.value = v
    for (const f of this.listeners) f(v)
  }
  update(f: (v: T) => T): void {
    this.set(f(this.value))
  }
  subscribe(f: (v: T) => void): () => void {
    this.listeners.add(f)
    return () => this.listeners.delete(f)
  }
}

export function useStore<T>(store: Store<T>): T {
  const [v, setV] = useState(store.get())
  useEffect(() => {
    setV(store.get())
    return store.subscribe(setV)
  }, [store])
  return v
}
